// The image cache: reproducible builds, "present" on a second call, corrupt caches
// detected and rebuilt, missing images reported, concurrent builders.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ensureImage, loadImage, verifyImageFiles, type ImageManifest } from '../../src/image/build.js';
import { isNitrideError } from '../../src/lib/errors.js';
import { distEntry } from '../../src/lib/paths.js';

const dirs: string[] = [];
function tempCache(): string {
  const d = mkdtempSync(join(tmpdir(), 'nitride-imgcache-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sayInto(lines: string[]): (l: string) => void {
  return (l) => lines.push(l);
}

test('two builds into two caches give identical bytes; a second call says present', async () => {
  const a = tempCache();
  const b = tempCache();
  const linesA: string[] = [];
  const t0 = Date.now();
  const ma = await ensureImage({ cacheDir: a, say: sayInto(linesA) });
  const buildMs = Date.now() - t0;
  const mb = await ensureImage({ cacheDir: b, say: () => undefined });
  process.stderr.write(`[image-build] build took ${buildMs} ms; ${linesA.join(' | ')}\n`);

  assert.equal(ma.version, mb.version);
  assert.equal(ma.kernel.sha256, mb.kernel.sha256);
  assert.equal(ma.initrd.sha256, mb.initrd.sha256);
  assert.ok(readFileSync(ma.initrd.path).equals(readFileSync(mb.initrd.path)));
  assert.equal(ma.kernel.format, 'pvh-vmlinux');
  assert.equal(ma.dir, join(a, 'nitride-minimal', ma.version));
  assert.ok(existsSync(join(ma.dir, 'vmlinux')) && existsSync(join(ma.dir, 'initrd.img')) && existsSync(join(ma.dir, 'manifest.json')));
  assert.match(ma.kernelVersion, /-cloud-amd64$/);
  assert.ok(ma.cmdline.includes('console=ttyS0'));

  const again: string[] = [];
  const mc = await ensureImage({ cacheDir: a, say: sayInto(again) });
  assert.equal(mc.builtAt, ma.builtAt, 'not rebuilt');
  assert.ok(again.some((l) => l.startsWith('present')), again.join('\n'));
  assert.deepEqual(loadImage(a), mc);
  // No temporary directories or lock left behind.
  assert.deepEqual(readdirSync(join(a, 'nitride-minimal')), [ma.version]);
});

test('an empty cache gives ImageNotFound', () => {
  const c = tempCache();
  assert.throws(() => loadImage(c), (e: unknown) => isNitrideError(e) && e.code === 'ImageNotFound' && /nitride image build/.test(e.message));
});

test('a corrupted initrd or a missing kernel is detected, reported and rebuilt', async () => {
  const c = tempCache();
  const m = await ensureImage({ cacheDir: c });

  // Flip one byte of the initrd.
  const bytes = readFileSync(m.initrd.path);
  bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
  writeFileSync(m.initrd.path, bytes);
  assert.throws(() => loadImage(c), (e: unknown) => isNitrideError(e) && e.code === 'ImageCorrupt' && e.context['part'] === 'initrd');
  assert.throws(() => verifyImageFiles(m), { code: 'ImageCorrupt' });
  const lines: string[] = [];
  const fixed = await ensureImage({ cacheDir: c, say: sayInto(lines) });
  assert.ok(lines.some((l) => /unusable and will be rebuilt: ImageCorrupt/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('built ')), lines.join('\n'));
  assert.equal(fixed.initrd.sha256, m.initrd.sha256, 'the rebuild reproduces the same initrd');
  loadImage(c);

  // Remove the kernel.
  unlinkSync(fixed.kernel.path);
  assert.throws(() => loadImage(c), (e: unknown) => isNitrideError(e) && e.code === 'ImageCorrupt' && e.context['part'] === 'kernel');
  const lines2: string[] = [];
  await ensureImage({ cacheDir: c, say: sayInto(lines2) });
  assert.ok(lines2.some((l) => /missing/.test(l)), lines2.join('\n'));
  loadImage(c);

  // A garbage manifest.
  writeFileSync(join(fixed.dir, 'manifest.json'), '{"name":');
  assert.throws(() => loadImage(c), { code: 'ImageCorrupt' });
  await ensureImage({ cacheDir: c });
  loadImage(c);
});

test('--force rebuilds a present image', async () => {
  const c = tempCache();
  const m1 = await ensureImage({ cacheDir: c });
  const lines: string[] = [];
  const m2 = await ensureImage({ cacheDir: c, force: true, say: sayInto(lines) });
  assert.ok(lines.some((l) => l.startsWith('built ')));
  assert.equal(m2.initrd.sha256, m1.initrd.sha256);
  assert.notEqual(m2.builtAt, m1.builtAt);
});

test('the bzImage fallback builds and verifies', async () => {
  const c = tempCache();
  const m = await ensureImage({ cacheDir: c, kernelFormat: 'bzimage' });
  assert.equal(m.kernel.format, 'bzimage');
  assert.ok(m.kernel.path.endsWith('/vmlinuz'));
  assert.deepEqual(loadImage(c, { kernelFormat: 'bzimage' }), m);
});

test('concurrent builders in separate processes agree and leave one clean image', async () => {
  const c = tempCache();
  const script = `
    const { ensureImage } = await import(${JSON.stringify(pathToFileURL(distEntry('image/build.js')).href)});
    const m = await ensureImage({ cacheDir: process.argv[1], say: (l) => process.stderr.write(l + '\\n') });
    process.stdout.write(JSON.stringify(m));
  `;
  const runOne = (): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, c], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
  const results = await Promise.all([runOne(), runOne(), runOne()]);
  const manifests = results.map((r) => {
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as ImageManifest;
  });
  const first = manifests[0]!;
  for (const m of manifests) {
    assert.equal(m.version, first.version);
    assert.equal(m.initrd.sha256, first.initrd.sha256);
  }
  // Exactly one process built it; the others waited or found it present.
  const builders = results.filter((r) => /^built /m.test(r.err)).length;
  assert.equal(builders, 1, results.map((r) => r.err).join('\n---\n'));
  assert.deepEqual(readdirSync(join(c, 'nitride-minimal')), [first.version]);
  verifyImageFiles(loadImage(c));
});

test('a build keeps the two most recent other versions and removes older ones', async () => {
  const c = tempCache();
  const root = join(c, 'nitride-minimal');
  mkdirSync(root, { recursive: true });
  const now = Date.now() / 1000;
  for (const [i, n] of ['aaaa', 'bbbb', 'cccc', 'dddd'].entries()) {
    mkdirSync(join(root, n));
    writeFileSync(join(root, n, 'manifest.json'), '{}');
    utimesSync(join(root, n), now - 1000 * (i + 1), now - 1000 * (i + 1));
  }
  const lines: string[] = [];
  const m = await ensureImage({ cacheDir: c, say: sayInto(lines) });
  assert.deepEqual(readdirSync(root).sort(), ['aaaa', 'bbbb', m.version].sort());
  assert.ok(lines.some((l) => l === 'removed the old version dddd from the cache'), lines.join('\n'));
});

test('nitride image build / show / bad arguments through the CLI', () => {
  const c = tempCache();
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [distEntry('cli/main.js'), 'image', ...args], { encoding: 'utf8', env: { ...process.env, NITRIDE_IMAGE_CACHE: c } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const missing = cli('show');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /No nitride-minimal image is built .* run `nitride image build`/);

  const built = cli('build');
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stderr, /\[image\] built nitride-minimal /);
  const dir = built.stdout.trim();
  assert.ok(dir.startsWith(join(c, 'nitride-minimal')));

  const again = cli('build');
  assert.equal(again.status, 0);
  assert.match(again.stderr, /\[image\] present \(/);

  const shown = cli('show');
  assert.equal(shown.status, 0, shown.stderr);
  const m = JSON.parse(shown.stdout) as ImageManifest;
  assert.equal(m.dir, dir);
  assert.equal(m.name, 'nitride-minimal');

  assert.equal(cli('build', '--frobnicate').status, 2);
  assert.equal(cli('nonsense').status, 2);
  assert.equal(cli('check', '--runs', 'zero').status, 2);
});
