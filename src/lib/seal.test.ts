import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSealKeyPair, openSealed, sealTo } from './seal.js';

test('seal: round trip, wrong recipient, tampering and wrong aad are refused', () => {
  const card = generateSealKeyPair();
  const other = generateSealKeyPair();
  const secret = Buffer.from('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
  const aad = Buffer.from('vol-0123456789abcdef0');
  const blob = sealTo(card.publicKey, secret, aad);
  assert.equal(blob.length, 1 + 32 + 12 + secret.length + 16);
  assert.equal(blob.indexOf(secret), -1);
  assert.deepEqual(openSealed(card, blob, aad), secret);
  assert.throws(() => openSealed(other, blob, aad), { code: 'SEAL_OPEN_FAILED' });
  assert.throws(() => openSealed(card, blob, Buffer.from('vol-other')), { code: 'SEAL_OPEN_FAILED' });
  for (const i of [0, 5, 40, blob.length - 1]) {
    const t = Buffer.from(blob);
    t[i] = t[i]! ^ 1;
    assert.throws(() => openSealed(card, t, aad), (e: { code?: string }) => e.code === 'SEAL_OPEN_FAILED' || e.code === 'SEAL_MALFORMED');
  }
  assert.throws(() => openSealed(card, blob.subarray(0, 20), aad), { code: 'SEAL_MALFORMED' });
  // two seals of the same secret differ (fresh ephemeral key and nonce)
  assert.notDeepEqual(sealTo(card.publicKey, secret, aad), blob);
});
