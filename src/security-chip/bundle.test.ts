import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MANIFEST_FILE, SIGNATURE_FILE, buildBundle, generateReleaseKey, releaseKeyDigest, signBundle, verifyBundle, writeReleaseKey } from './bundle.js';
import { SecurityChipError } from './errors.js';

let dir: string;
const key = generateReleaseKey();
const otherKey = generateReleaseKey();

function code(c: string, file?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof SecurityChipError, String(e));
    assert.equal(e.code, c, e.message);
    if (file !== undefined) {
      assert.equal(e.context['file'], file);
      assert.ok(e.message.includes(file), e.message);
    }
    return true;
  };
}

async function makeBundle(): Promise<string> {
  const b = join(dir, 'bundle');
  mkdirSync(join(b, 'src', 'ebs'), { recursive: true });
  writeFileSync(join(b, 'src', 'ebs', 'main.js'), 'console.log("ebs card");\n');
  writeFileSync(join(b, 'src', 'ebs', 'xts.js'), 'export {};\n');
  writeFileSync(join(b, 'README'), 'card\n');
  await signBundle(b, key.privateKeyPem, { name: 'ebs-card', version: '1.2.3', createdAt: '2026-11-28T20:00:00.000Z' });
  return b;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nitride-bundle-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('signed bundles', () => {
  it('signs a manifest of every file (sorted, sha384, size) and verifies it', async () => {
    const b = await makeBundle();
    const m = JSON.parse(readFileSync(join(b, MANIFEST_FILE), 'utf8')) as { files: { path: string; size: number }[] };
    assert.deepEqual(m.files.map((f) => f.path), ['README', 'src/ebs/main.js', 'src/ebs/xts.js']);
    const v = await verifyBundle(b, key.publicKeyPem, { expectName: 'ebs-card' });
    assert.equal(v.manifest.name, 'ebs-card');
    assert.equal(v.manifest.version, '1.2.3');
    assert.match(v.digest, /^[0-9a-f]{96}$/);
    assert.equal(v.releaseKeyDigest, releaseKeyDigest(key.publicKeyPem));
    // Same content, same time: same digest (the measurement is reproducible).
    assert.equal((await verifyBundle(b, key.publicKeyPem)).digest, v.digest);
  });

  it('names the changed file', async () => {
    const b = await makeBundle();
    writeFileSync(join(b, 'src', 'ebs', 'xts.js'), 'export const backdoor = 1;\n');
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleFileMismatch', 'src/ebs/xts.js'));
  });

  it('names a same-size change too (hash, not just size)', async () => {
    const b = await makeBundle();
    writeFileSync(join(b, 'README'), 'cARD\n');
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleFileMismatch', 'README'));
  });

  it('names a missing file and an extra file', async () => {
    const b = await makeBundle();
    unlinkSync(join(b, 'src', 'ebs', 'main.js'));
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleFileMissing', 'src/ebs/main.js'));
    const c = join(dir, 'c');
    mkdirSync(c);
    writeFileSync(join(c, 'a.js'), 'a');
    await signBundle(c, key.privateKeyPem, { name: 'vpc-card', version: '1' });
    writeFileSync(join(c, 'preload.js'), 'evil');
    await assert.rejects(verifyBundle(c, key.publicKeyPem), code('BundleExtraFile', 'preload.js'));
  });

  it('refuses a symlink in place of a file or anywhere in the bundle', async () => {
    const b = await makeBundle();
    unlinkSync(join(b, 'README'));
    symlinkSync('/etc/hostname', join(b, 'README'));
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleFileMismatch', 'README'));
  });

  it('refuses an edited manifest, a bad signature, a wrong key, an unsigned bundle and a non-Ed25519 key', async () => {
    const b = await makeBundle();
    await assert.rejects(verifyBundle(b, otherKey.publicKeyPem), code('BundleSignatureInvalid'));
    const manifest = readFileSync(join(b, MANIFEST_FILE), 'utf8');
    writeFileSync(join(b, MANIFEST_FILE), manifest.replace('1.2.3', '1.2.4'));
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleSignatureInvalid'));
    writeFileSync(join(b, MANIFEST_FILE), manifest);
    await verifyBundle(b, key.publicKeyPem);
    writeFileSync(join(b, SIGNATURE_FILE), `${Buffer.alloc(64, 1).toString('base64')}\n`);
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleSignatureInvalid'));
    writeFileSync(join(b, SIGNATURE_FILE), 'not base64!\n');
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleSignatureInvalid'));
    unlinkSync(join(b, SIGNATURE_FILE));
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleFileMissing'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await assert.rejects(verifyBundle(b, ec), code('ReleaseKeyInvalid'));
    await assert.rejects(verifyBundle(b, 'garbage'), code('ReleaseKeyInvalid'));
  });

  it('refuses a bundle of another component', async () => {
    const b = await makeBundle();
    await assert.rejects(verifyBundle(b, key.publicKeyPem, { expectName: 'hypervisor' }), code('BundleWrongComponent'));
  });

  it('refuses a signed manifest that names a path outside the bundle', async () => {
    // Forge a manifest with '../' signed by the real key: parseManifest must still refuse it.
    const b = await makeBundle();
    const { sign } = await import('node:crypto');
    const m = JSON.parse(readFileSync(join(b, MANIFEST_FILE), 'utf8')) as { files: { path: string }[] };
    (m.files[0] as { path: string }).path = '../outside';
    const bytes = Buffer.from(JSON.stringify(m));
    writeFileSync(join(b, MANIFEST_FILE), bytes);
    writeFileSync(join(b, SIGNATURE_FILE), sign(null, Buffer.concat([Buffer.from('nitride-bundle-manifest-v1\0', 'latin1'), bytes]), key.privateKeyPem).toString('base64'));
    await assert.rejects(verifyBundle(b, key.publicKeyPem), code('BundleManifestInvalid'));
  });

  it('builds a bundle from paths under a root, and writes the release key 0600', async () => {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'dist', 'src', 'vpc'), { recursive: true });
    mkdirSync(join(root, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(root, 'dist', 'src', 'vpc', 'main.js'), 'vpc');
    writeFileSync(join(root, 'node_modules', 'x', 'index.js'), 'x');
    writeFileSync(join(root, 'package.json'), '{}');
    symlinkSync('/etc', join(root, 'dist', 'src', 'link'));
    const keys = writeReleaseKey(join(dir, 'keys'));
    assert.equal(statSync(keys.privateKeyPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700);
    assert.throws(() => writeReleaseKey(join(dir, 'keys')), /EEXIST/);
    const priv = readFileSync(keys.privateKeyPath, 'utf8');
    const out = join(dir, 'out');
    const v = await buildBundle({ name: 'vpc-card', version: '0.1.0', root, from: ['dist/src', 'node_modules/x', 'package.json'], out }, priv);
    assert.deepEqual(v.manifest.files.map((f) => f.path), ['dist/src/vpc/main.js', 'node_modules/x/index.js', 'package.json']);
    await verifyBundle(out, readFileSync(keys.publicKeyPath, 'utf8'), { expectName: 'vpc-card' });
    await assert.rejects(buildBundle({ name: 'vpc-card', version: '0.1.0', root, from: ['dist'], out }, priv), /not empty/);
    await assert.rejects(buildBundle({ name: 'vpc-card', version: '0.1.0', root, from: ['../x'], out: join(dir, 'o2') }, priv), /not inside/);
  });
});
