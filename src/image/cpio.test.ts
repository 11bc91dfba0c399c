import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNewc, type CpioEntry } from './cpio.js';

const entries: CpioEntry[] = [
  { type: 'file', path: 'etc/hello', mode: 0o640, data: Buffer.from('hello\n') },
  { type: 'dir', path: 'etc', mode: 0o755 },
  { type: 'symlink', path: 'etc/link', target: 'hello' },
  { type: 'file', path: 'odd', mode: 0o755, data: Buffer.from('abcde') },
  { type: 'char', path: 'null', mode: 0o666, major: 1, minor: 3 },
];

test('GNU cpio lists and extracts what encodeNewc wrote', () => {
  const archive = encodeNewc(entries);
  assert.equal(archive.length % 4, 0);
  const list = spawnSync('cpio', ['-t', '--quiet'], { input: archive, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  // Sorted by path, parents first.
  assert.deepEqual(list.stdout.trim().split('\n'), ['etc', 'etc/hello', 'etc/link', 'null', 'odd']);

  const dir = mkdtempSync(join(tmpdir(), 'nitride-cpio-'));
  try {
    // Devices need root to create; extract everything but the device node.
    const r = spawnSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '-f', 'null'], { input: archive, cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'etc/hello'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(dir, 'odd'), 'utf8'), 'abcde');
    assert.equal(readlinkSync(join(dir, 'etc/link')), 'hello');
    assert.equal(lstatSync(join(dir, 'etc/hello')).mode & 0o777, 0o640);
    assert.equal(lstatSync(join(dir, 'odd')).mode & 0o777, 0o755);
    const verbose = spawnSync('cpio', ['-t', '-v', '--quiet'], { input: archive, encoding: 'utf8' });
    assert.match(verbose.stdout, /^crw-rw-rw- .* 1,\s+3 .* null$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same entries in any order give the same bytes', () => {
  const a = encodeNewc(entries);
  const b = encodeNewc([...entries].reverse());
  assert.ok(a.equals(b));
  assert.equal(a.subarray(0, 6).toString('ascii'), '070701');
  assert.ok(a.includes(Buffer.from('TRAILER!!!\0')));
});

test('mtime and owners are fixed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-cpio-'));
  try {
    const path = join(dir, 'a.cpio');
    writeFileSync(path, encodeNewc(entries, { mtime: 1_000_000_000 }));
    const r = spawnSync('cpio', ['-t', '-v', '--quiet', '-F', path], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    assert.equal(r.status, 0, r.stderr);
    for (const line of r.stdout.trim().split('\n')) assert.match(line, / root +root .*Sep  9  2001 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad entries are refused with clear errors', () => {
  assert.throws(() => encodeNewc([{ type: 'dir', path: '/abs', mode: 0o755 }]), { code: 'CpioBadPath' });
  assert.throws(() => encodeNewc([{ type: 'dir', path: 'a/../b', mode: 0o755 }]), { code: 'CpioBadPath' });
  assert.throws(
    () =>
      encodeNewc([
        { type: 'dir', path: 'a', mode: 0o755 },
        { type: 'dir', path: 'a', mode: 0o700 },
      ]),
    { code: 'CpioDuplicate' },
  );
  assert.throws(() => encodeNewc([{ type: 'file', path: 'x/y', mode: 0o644, data: Buffer.alloc(1) }]), { code: 'CpioMissingParent' });
});
