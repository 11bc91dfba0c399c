import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteQueue } from './byte-queue.js';

test('ByteQueue: peek/take across chunk boundaries, takeInto and skip', () => {
  const q = new ByteQueue();
  q.push(Buffer.from([1, 2, 3]));
  q.push(Buffer.from([]));
  q.push(Buffer.from([4, 5]));
  q.push(Buffer.from([6, 7, 8, 9]));
  assert.equal(q.length, 9);
  assert.deepEqual([...q.peek(2)], [1, 2]);
  assert.deepEqual([...q.take(4)], [1, 2, 3, 4]);
  const dst = Buffer.alloc(6, 0xff);
  assert.equal(q.takeInto(dst, 1, 3), 3);
  assert.deepEqual([...dst], [0xff, 5, 6, 7, 0xff, 0xff]);
  assert.equal(q.skip(10), 2);
  assert.equal(q.length, 0);
  assert.throws(() => q.peek(1), RangeError);
});
