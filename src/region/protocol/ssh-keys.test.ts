// The SSH encodings against their specs' own examples (RFC 4251 §5 mpints, RFC 4716 §3.6
// continued headers) and round trips; real peers (ssh-keygen, puttygen) read what these
// write in src/region/ec2/key-material.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Ec2Error } from './errors.js';
import { SshReader, SshWriter, openSshLine, parseOpenSshLine, parsePublicBlob, parseRfc4716, publicBlob, type SshPublicKey } from './ssh-keys.js';

test('mpint and string encodings are RFC 4251 §5’s examples', () => {
  const hex = (b: Buffer): string => b.toString('hex');
  assert.equal(hex(new SshWriter().mpint(Buffer.alloc(0)).bytes()), '00000000');
  assert.equal(hex(new SshWriter().mpint(Buffer.from('09a378f9b2e332a7', 'hex')).bytes()), '0000000809a378f9b2e332a7');
  assert.equal(hex(new SshWriter().mpint(Buffer.from('80', 'hex')).bytes()), '000000020080');
  // leading zero bytes of an unsigned value are not part of the mpint
  assert.equal(hex(new SshWriter().mpint(Buffer.from('000080', 'hex')).bytes()), '000000020080');
  assert.equal(hex(new SshWriter().string('testing').bytes()), '0000000774657374696e67');
  const r = new SshReader(Buffer.from('000000020080', 'hex'));
  assert.equal(hex(r.mpint()), '80');
  assert.ok(r.done);
  assert.throws(() => new SshReader(Buffer.from('00000001ff', 'hex')).mpint(), (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format');
  assert.throws(() => new SshReader(Buffer.from('0000000501', 'hex')).string(), (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format');
});

test('public key blobs and OpenSSH lines round-trip; wrong types and trailing bytes are InvalidKeyPair.Format', () => {
  const rsaJwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  const rsa: SshPublicKey = { type: 'rsa', e: Buffer.from(rsaJwk.e!, 'base64url'), n: Buffer.from(rsaJwk.n!, 'base64url') };
  const ed: SshPublicKey = { type: 'ed25519', key: Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url') };
  for (const k of [rsa, ed]) {
    assert.deepEqual(parsePublicBlob(publicBlob(k)), k);
    const line = openSshLine(k, 'me@host with spaces');
    assert.deepEqual(parseOpenSshLine(`  ${line}\n`), { key: k, comment: 'me@host with spaces' });
    assert.deepEqual(parseOpenSshLine(openSshLine(k)), { key: k, comment: '' });
  }
  const fmt = (fn: () => unknown): void => assert.throws(fn, (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format');
  fmt(() => parsePublicBlob(Buffer.concat([publicBlob(ed), Buffer.from([0])])));
  fmt(() => parsePublicBlob(new SshWriter().string('ssh-dss').string('x').bytes()));
  fmt(() => parsePublicBlob(new SshWriter().string('ssh-ed25519').string(Buffer.alloc(31)).bytes()));
  fmt(() => parseOpenSshLine(`ssh-rsa ${publicBlob(ed).toString('base64')}`)); // the line's type must be the blob's
  fmt(() => parseOpenSshLine('ssh-ed25519 not*base64'));
  fmt(() => parseOpenSshLine('ssh-ed25519'));
});

test('RFC 4716 files: headers (continued with a backslash, quoted comments) then the key', () => {
  const ed: SshPublicKey = { type: 'ed25519', key: Buffer.alloc(32, 7) };
  const b64 = publicBlob(ed).toString('base64');
  const file = [
    '---- BEGIN SSH2 PUBLIC KEY ----',
    'Subject: me',
    'Comment: "1024-bit rsa, created by me@example.com Mon Jan 15 \\',
    '08:31:24 2001"',
    b64.slice(0, 20),
    b64.slice(20),
    '---- END SSH2 PUBLIC KEY ----',
    '',
  ].join('\r\n');
  assert.deepEqual(parseRfc4716(file), { key: ed, comment: '1024-bit rsa, created by me@example.com Mon Jan 15 08:31:24 2001' });
  assert.throws(() => parseRfc4716(file.replace('---- END SSH2 PUBLIC KEY ----', '')), (e: unknown) => e instanceof Ec2Error && e.code === 'InvalidKeyPair.Format');
});
