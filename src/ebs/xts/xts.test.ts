import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../lib/paths.js';
import { loadNativeXts } from './native.js';
import { createXtsCipher, parseXtsKey, XTS_SECTOR_SIZE, type XtsImpl } from './xts.js';

interface Vector {
  name: string;
  key1: string;
  key2: string;
  dataUnitSequenceNumber: number;
  plaintext: string;
  ciphertext: string;
}

const fixture = JSON.parse(readFileSync(join(projectRoot(), 'src', 'ebs', 'xts', 'fixtures', 'ieee1619-xts-aes256.json'), 'utf8')) as { vectors: Vector[] };

function plaintextOf(v: Vector): Buffer {
  if (v.plaintext === 'pattern:00..ff x2') return Buffer.from(Array.from({ length: 512 }, (_, i) => i & 0xff));
  return Buffer.from(v.plaintext, 'hex');
}

test('the native addon is built (nitride setup builds it)', () => {
  assert.ok(loadNativeXts(), 'native/xts/build/Release/nitride_xts.node is missing');
});

for (const impl of ['native', 'node'] as XtsImpl[]) {
  for (const v of fixture.vectors) {
    test(`${impl}: ${v.name}`, () => {
      const key = Buffer.from(v.key1 + v.key2, 'hex');
      const pt = plaintextOf(v);
      const c = createXtsCipher(key, impl, pt.length);
      const buf = Buffer.from(pt);
      c.encrypt(buf, 0, buf.length, v.dataUnitSequenceNumber * 512);
      assert.equal(buf.toString('hex'), v.ciphertext);
      c.decrypt(buf, 0, buf.length, v.dataUnitSequenceNumber * 512);
      assert.ok(buf.equals(pt));
      c.destroy();
    });
  }
}

test('native and node agree on 4096-byte sectors at large offsets, in place with an offset', () => {
  const key = randomBytes(64);
  const n = createXtsCipher(key, 'native');
  const j = createXtsCipher(key, 'node');
  const data = randomBytes(5 * XTS_SECTOR_SIZE);
  const a = Buffer.concat([Buffer.alloc(7), data]);
  const b = Buffer.from(a);
  const pos = 2 ** 40 + 4096 * 3;
  n.encrypt(a, 7, data.length, pos);
  j.encrypt(b, 7, data.length, pos);
  assert.ok(a.equals(b));
  assert.ok(!a.subarray(7).equals(data));
  j.decrypt(a, 7, data.length, pos);
  assert.ok(a.subarray(7).equals(data));
});

test('an all-zero ciphertext sector decrypts to zeros (the never-written marker)', () => {
  for (const impl of ['native', 'node'] as XtsImpl[]) {
    const c = createXtsCipher(randomBytes(64), impl);
    const z = Buffer.alloc(2 * XTS_SECTOR_SIZE);
    c.decrypt(z, 0, z.length, 0);
    assert.ok(z.equals(Buffer.alloc(z.length)), impl);
  }
});

test('keys: 64 raw bytes or 128 hex; equal halves and wrong lengths refused; destroy forgets', () => {
  const raw = randomBytes(64);
  assert.ok(parseXtsKey(raw).equals(raw));
  assert.ok(parseXtsKey(Buffer.from(`${raw.toString('hex')}\n`)).equals(raw));
  assert.throws(() => parseXtsKey(Buffer.alloc(32)), { code: 'EBS_BAD_KEY' });
  const half = randomBytes(32);
  assert.throws(() => createXtsCipher(Buffer.concat([half, half])), { code: 'EBS_BAD_KEY' });
  for (const impl of ['native', 'node'] as XtsImpl[]) {
    const c = createXtsCipher(raw, impl);
    c.destroy();
    assert.throws(() => c.encrypt(Buffer.alloc(4096), 0, 4096, 0));
  }
});

test('an independent XTS (python3 cryptography) decrypts our sectors: aes-xts-plain64 layout', () => {
  const key = randomBytes(64);
  const c = createXtsCipher(key, 'auto');
  const pt = randomBytes(3 * XTS_SECTOR_SIZE);
  const ct = Buffer.from(pt);
  const pos = 123 * XTS_SECTOR_SIZE;
  c.encrypt(ct, 0, ct.length, pos);
  const script = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(sys.argv[1]); pos = int(sys.argv[2]); ct = sys.stdin.buffer.read()
out = b''
for i in range(0, len(ct), 4096):
    tweak = ((pos + i) // 512).to_bytes(16, 'little')
    d = Cipher(algorithms.AES(key), modes.XTS(tweak)).decryptor()
    out += d.update(ct[i:i+4096]) + d.finalize()
sys.stdout.buffer.write(out)
`;
  const r = spawnSync('python3', ['-c', script, key.toString('hex'), String(pos)], { input: ct });
  assert.equal(r.status, 0, `python3 cryptography failed: ${r.stderr?.toString()}`);
  assert.ok(r.stdout.equals(pt));
});
