import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './token-bucket.js';

test('take spends the burst, then refills at the rate', () => {
  const b = new TokenBucket(10, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(50), false, 'half a token after 50 ms');
  assert.equal(b.take(100), true, 'one token after 100 ms');
  assert.equal(b.full(100), false);
  assert.equal(b.full(1000), true, 'full again, never above the burst');
  assert.deepEqual([b.take(1000), b.take(1000), b.take(1000), b.take(1000)], [true, true, true, false]);
});

test('reserve owes tokens, answers the wait, and never owes more than maxWait', () => {
  const b = new TokenBucket(10, 2, 0);
  assert.equal(b.reserve(0, 1000), 0);
  assert.equal(b.reserve(0, 1000), 0);
  assert.equal(b.reserve(0, 1000), 100, 'the third token is paid in 100 ms');
  assert.equal(b.reserve(0, 1000), 200);
  for (let i = 0; i < 50; i++) b.reserve(0, 1000);
  assert.equal(b.reserve(0, 1000), 1000, 'the debt stops at maxWait');
  assert.equal(b.reserve(2000, 1000), 0, 'paid off after 2 s');
});
