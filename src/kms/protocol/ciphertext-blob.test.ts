import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { KmsError } from '../errors.js';
import { openBlob, sealBlob } from '../envelope.js';
import { BLOB_MAGIC, decodeBlob, encodeBlob, encodeBlobHeader, encodeEncryptionContext } from './ciphertext-blob.js';

const invalidCiphertext = (e: unknown): boolean => e instanceof KmsError && e.code === 'InvalidCiphertextException';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

describe('ciphertext blob format', () => {
  it('lays out magic, version, key id, material version, IV, ciphertext and tag as documented', () => {
    const iv = Buffer.alloc(12, 7);
    const h = encodeBlobHeader({ keyId: KEY_ID, materialVersion: 0x01020304, iv });
    assert.deepEqual(h.subarray(0, 4), BLOB_MAGIC);
    assert.equal(h[4], 1);
    assert.equal(h[5], 36);
    assert.equal(h.toString('ascii', 6, 42), KEY_ID);
    assert.deepEqual([...h.subarray(42, 46)], [1, 2, 3, 4]);
    assert.deepEqual(h.subarray(46, 58), iv);
    assert.equal(h.length, 58);
    const blob = encodeBlob(h, Buffer.from('abc'), Buffer.alloc(16, 9));
    const p = decodeBlob(blob);
    assert.equal(p.keyId, KEY_ID);
    assert.equal(p.materialVersion, 0x01020304);
    assert.deepEqual(p.iv, iv);
    assert.deepEqual(p.ciphertext, Buffer.from('abc'));
    assert.deepEqual(p.tag, Buffer.alloc(16, 9));
    assert.deepEqual(p.header, h);
  });

  it('rejects anything that is not a v1 blob with InvalidCiphertextException', () => {
    const good = encodeBlob(encodeBlobHeader({ keyId: KEY_ID, materialVersion: 1, iv: Buffer.alloc(12) }), Buffer.alloc(0), Buffer.alloc(16));
    assert.throws(() => decodeBlob(Buffer.alloc(0)), invalidCiphertext);
    assert.throws(() => decodeBlob(Buffer.from('NKMX' + 'x'.repeat(80))), invalidCiphertext);
    const v2 = Buffer.from(good);
    v2[4] = 2;
    assert.throws(() => decodeBlob(v2), invalidCiphertext);
    const zeroLen = Buffer.from(good);
    zeroLen[5] = 0;
    assert.throws(() => decodeBlob(zeroLen), invalidCiphertext);
    const zeroVersion = Buffer.from(good);
    zeroVersion.writeUInt32BE(0, 42);
    assert.throws(() => decodeBlob(zeroVersion), invalidCiphertext);
    assert.throws(() => decodeBlob(good.subarray(0, good.length - 1)), invalidCiphertext);
    // every truncation and random bytes: only clean errors
    for (let n = 0; n < good.length; n++) assert.throws(() => decodeBlob(good.subarray(0, n)), invalidCiphertext);
    for (let i = 0; i < 500; i++) {
      const r = randomBytes(i % 120);
      try {
        decodeBlob(r);
      } catch (e) {
        assert.ok(invalidCiphertext(e));
      }
    }
  });

  it('encodes encryption contexts canonically (order-independent, length-prefixed)', () => {
    assert.deepEqual(encodeEncryptionContext({ b: '2', a: '1' }), encodeEncryptionContext({ a: '1', b: '2' }));
    assert.deepEqual(encodeEncryptionContext(undefined), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(encodeEncryptionContext({}), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(encodeEncryptionContext({ a: 'b' }), Buffer.from([0, 0, 0, 1, 0, 1, 0x61, 0, 1, 0x62]));
    // no ambiguity between {ab: c} and {a: bc}
    assert.notDeepEqual(encodeEncryptionContext({ ab: 'c' }), encodeEncryptionContext({ a: 'bc' }));
  });

  it('seals and opens with AES-256-GCM; the header, the context and the key are all authenticated', () => {
    const m = randomBytes(32);
    const pt = Buffer.from('the data key');
    const blob = sealBlob(m, KEY_ID, 3, pt, { vol: 'vol-1' });
    const p = decodeBlob(blob);
    assert.equal(p.materialVersion, 3);
    assert.deepEqual(openBlob(m, p, { vol: 'vol-1' }), pt);
    assert.ok(!blob.includes(pt), 'the plaintext does not appear in the blob');
    assert.throws(() => openBlob(m, p, { vol: 'vol-2' }), invalidCiphertext);
    assert.throws(() => openBlob(m, p, undefined), invalidCiphertext);
    assert.throws(() => openBlob(randomBytes(32), p, { vol: 'vol-1' }), invalidCiphertext);
    for (const i of [4, 10, 42, 45, 50, blob.length - 20, blob.length - 1]) {
      const t = Buffer.from(blob);
      t[i] = (t[i] ?? 0) ^ 1;
      let parsed;
      try {
        parsed = decodeBlob(t);
      } catch (e) {
        assert.ok(invalidCiphertext(e));
        continue;
      }
      assert.throws(() => openBlob(m, parsed, { vol: 'vol-1' }), invalidCiphertext, `flipping byte ${i}`);
    }
    // two seals of the same plaintext differ (fresh IV)
    assert.notDeepEqual(sealBlob(m, KEY_ID, 3, pt, undefined), sealBlob(m, KEY_ID, 3, pt, undefined));
  });
});
