// Key material against real peers: OpenSSH's ssh-keygen reads every private key CreateKeyPair
// returns and computes the public key; openssl computes EC2's RSA fingerprints (SHA-1 of the
// PKCS#8 DER private key, MD5 of the DER public key); ssh-keygen -l computes the Ed25519 one;
// PuTTY's puttygen reads the .ppk files. Every tool is required: a missing one fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ec2Error } from '../protocol/errors.js';
import { openSshLine } from '../protocol/ssh-keys.js';
import { createKeyMaterial, importKeyMaterial, type KeyFormat, type KeyType } from './key-material.js';

/** Runs a required tool; a missing tool or a failure fails the test with its output. */
function run(cmd: string, args: readonly string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...(input !== undefined ? { input } : {}) });
  if (r.error) throw new Error(`${cmd} is required by this test and could not run (${r.error.message}); install it (openssh-client, openssl, putty-tools: nitride setup)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const dir = mkdtempSync(join(tmpdir(), 'nitride-keys-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string): string {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, content, { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}
const keyPart = (line: string): string => line.trim().split(/\s+/).slice(0, 2).join(' ');

/** openssl's `dgst -c` digest of a file, "aa:bb:…". */
const dgst = (alg: 'sha1' | 'md5', path: string): string => /= ([0-9a-f:]+)\s*$/.exec(run('openssl', ['dgst', `-${alg}`, '-c', path]))![1]!;

/** EC2's fingerprint of a key it created, by openssl: SHA-1 of the PKCS#8 DER private key. */
function opensslCreatedRsaFingerprint(privPem: string): string {
  const der = join(dir, `der${n++}`);
  run('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', privPem, '-outform', 'DER', '-out', der]);
  return dgst('sha1', der);
}

/** ssh-keygen -l's SHA-256 fingerprint ("SHA256:…", base64 without padding). */
function sshKeygenSha256(path: string): string {
  const m = /^\d+ SHA256:([A-Za-z0-9+/]+) /.exec(run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path]));
  assert.ok(m, 'ssh-keygen -l printed a SHA256 fingerprint');
  return m[1]!;
}

for (const [type, format] of [['rsa', 'pem'], ['ed25519', 'pem'], ['rsa', 'ppk'], ['ed25519', 'ppk']] as [KeyType, KeyFormat][]) {
  test(`CreateKeyPair ${type}/${format}: real tools read the private key, derive the same public key and EC2's fingerprint`, async () => {
    const m = await createKeyMaterial(type, format, 'my-key');
    assert.equal(m.keyType, type);
    assert.match(m.publicKey, type === 'rsa' ? /^ssh-rsa AAAAB3NzaC1yc2E\S+ my-key$/ : /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ my-key$/);
    let pemPath: string;
    if (format === 'ppk') {
      assert.match(m.keyMaterial, new RegExp(`^PuTTY-User-Key-File-2: ${type === 'rsa' ? 'ssh-rsa' : 'ssh-ed25519'}\nEncryption: none\nComment: my-key\n`));
      const ppk = file(m.keyMaterial);
      // puttygen writes the public key and (after checking the MAC) the private key in OpenSSH's forms.
      const pubOut = join(dir, `pub${n++}`);
      run('puttygen', [ppk, '-O', 'public-openssh', '-o', pubOut]);
      assert.equal(keyPart(readFileSync(pubOut, 'utf8')), keyPart(m.publicKey));
      const puttyFp = /SHA256:([A-Za-z0-9+/]+)/.exec(run('puttygen', [ppk, '-O', 'fingerprint']))?.[1];
      assert.ok(puttyFp, 'puttygen prints a SHA256 fingerprint');
      if (type === 'ed25519') assert.equal(m.fingerprint, `${puttyFp}=`);
      pemPath = join(dir, `priv${n++}`);
      run('puttygen', [ppk, '-O', type === 'rsa' ? 'private-openssh' : 'private-openssh-new', '-o', pemPath]);
      // The MAC covers the file's contents: one changed character and puttygen refuses the private key.
      const bad = file(m.keyMaterial.replace(/Comment: my-key/, 'Comment: my-kez'));
      const r = spawnSync('puttygen', [bad, '-O', 'private-openssh-new', '-o', join(dir, `bad${n++}`)], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, 'puttygen refuses a .ppk whose MAC does not match');
      assert.match(r.stderr, /MAC failed/);
    } else {
      assert.match(m.keyMaterial, type === 'rsa' ? /^-----BEGIN RSA PRIVATE KEY-----\n/ : /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
      pemPath = file(m.keyMaterial);
    }
    // ssh-keygen derives the public key from the private key: it is the one EC2 keeps.
    assert.equal(keyPart(run('ssh-keygen', ['-y', '-f', pemPath])), keyPart(m.publicKey));
    if (type === 'rsa') {
      assert.match(m.fingerprint, /^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
      assert.equal(m.fingerprint, opensslCreatedRsaFingerprint(pemPath));
      assert.match(run('openssl', ['rsa', '-in', pemPath, '-noout', '-text']), /Private-Key: \(2048 bit, 2 primes\)/);
    } else {
      // EC2: base64 SHA-256 with its '=' padding; ssh-keygen prints it as SHA256:… without.
      assert.equal(m.fingerprint, `${sshKeygenSha256(pemPath)}=`);
      assert.equal(m.fingerprint.length, 44);
    }
  });
}

test("ImportKeyPair: ssh-keygen's RSA key in every format EC2 takes gives the MD5 of the DER public key", () => {
  const k = join(dir, `id_rsa${n++}`);
  run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 'user@laptop', '-f', k]);
  const pubLine = readFileSync(`${k}.pub`, 'utf8');
  // openssl: the DER SubjectPublicKeyInfo and its MD5
  const spkiPem = run('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', `${k}.pub`]);
  const der = join(dir, `spki${n++}`);
  run('openssl', ['pkey', '-pubin', '-in', file(spkiPem), '-outform', 'DER', '-out', der]);
  const expected = dgst('md5', der);
  assert.match(expected, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);

  const forms: [string, Buffer][] = [
    ['OpenSSH line', Buffer.from(pubLine)],
    ['RFC 4716', Buffer.from(run('ssh-keygen', ['-e', '-f', `${k}.pub`]))],
    ['PEM SubjectPublicKeyInfo', Buffer.from(spkiPem)],
    ['PEM PKCS#1', Buffer.from(run('ssh-keygen', ['-e', '-m', 'PEM', '-f', `${k}.pub`]))],
    ['base64 DER', Buffer.from(readFileSync(der).toString('base64'))],
    ['raw DER', readFileSync(der)],
  ];
  for (const [what, material] of forms) {
    const m = importKeyMaterial(material, 'imported');
    assert.equal(m.keyType, 'rsa', what);
    assert.equal(m.fingerprint, expected, what);
    assert.equal(keyPart(m.publicKey), keyPart(pubLine), what);
  }
  assert.equal(importKeyMaterial(Buffer.from(pubLine), 'imported').publicKey, pubLine.trim(), 'the comment is kept');
  assert.equal(importKeyMaterial(readFileSync(der), 'imported').publicKey, `${keyPart(pubLine)} imported`, 'no comment: the key name');
});

test("ImportKeyPair: ssh-keygen's Ed25519 key gives ssh-keygen -l's SHA-256, padded", () => {
  const k = join(dir, `id_ed25519${n++}`);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'user@laptop', '-f', k]);
  const pubLine = readFileSync(`${k}.pub`, 'utf8');
  const expected = `${sshKeygenSha256(`${k}.pub`)}=`;
  for (const material of [Buffer.from(pubLine), Buffer.from(run('ssh-keygen', ['-e', '-f', `${k}.pub`]))]) {
    const m = importKeyMaterial(material, 'imported');
    assert.equal(m.keyType, 'ed25519');
    assert.equal(m.fingerprint, expected);
    assert.equal(keyPart(m.publicKey), keyPart(pubLine));
  }
  assert.equal(importKeyMaterial(Buffer.from(pubLine), 'imported').publicKey, pubLine.trim());
});

test('ImportKeyPair: what EC2 refuses is InvalidKeyPair.Format', () => {
  const refused = (what: string, material: Buffer): void =>
    assert.throws(() => importKeyMaterial(material, 'k'), (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format', what);
  const ec = join(dir, `id_ecdsa${n++}`);
  run('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ec]);
  refused('ECDSA', readFileSync(`${ec}.pub`));
  refused('a private key', readFileSync(ec));
  const ed = join(dir, `id_ed${n++}`);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ed]);
  refused('an OpenSSH private key', readFileSync(ed));
  const small = generateKeyPairSync('rsa', { modulusLength: 768 }).publicKey.export({ format: 'jwk' });
  refused('RSA 768', Buffer.from(openSshLine({ type: 'rsa', e: Buffer.from(small.e!, 'base64url'), n: Buffer.from(small.n!, 'base64url') })));
  refused('garbage', Buffer.from('hello world'));
  refused('empty', Buffer.from('  \n'));
  refused('truncated', Buffer.from(readFileSync(`${ed}.pub`, 'utf8').slice(0, 40)));
});

test('fuzz: ImportKeyPair material, mutated and random, gives a key or InvalidKeyPair.Format, nothing else', () => {
  // A seeded generator (xorshift32): a failure names its seed and is reproducible.
  let seed = 0x4b455953;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const ed = join(dir, `fuzz_ed${n++}`);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ed]);
  const rsa = join(dir, `fuzz_rsa${n++}`);
  run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', rsa]);
  const seeds = [readFileSync(`${ed}.pub`), readFileSync(`${rsa}.pub`), Buffer.from(run('ssh-keygen', ['-e', '-f', `${rsa}.pub`])), Buffer.from(run('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', `${rsa}.pub`]))];
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const start = seed;
    const base = Buffer.from(seeds[rnd(seeds.length)]!);
    let input: Buffer;
    switch (rnd(4)) {
      case 0: // flip bytes
        input = base;
        for (let k = 0, m = 1 + rnd(4); k < m; k++) input[rnd(input.length)] = rnd(256);
        break;
      case 1: // truncate
        input = base.subarray(0, rnd(base.length));
        break;
      case 2: // random bytes
        input = Buffer.from(Array.from({ length: rnd(300) }, () => rnd(256)));
        break;
      default: // a valid prefix with a mutated base64 blob inside
        input = Buffer.from(base.toString('latin1').replace(/AAAA[A-Za-z0-9+/]{8}/, (s) => s.slice(0, 4) + Buffer.from([rnd(256), rnd(256), rnd(256)]).toString('base64') + s.slice(8)), 'latin1');
    }
    try {
      importKeyMaterial(input, 'k');
      accepted++;
    } catch (e) {
      assert.ok(e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format', `seed ${start}: ${String(e)} for ${JSON.stringify(input.toString('latin1'))}`);
    }
  }
  assert.ok(accepted > 0, 'some mutations still parse (comment bytes, for example)');
});
