import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedQueue } from './keyed-queue.js';

test('KeyedQueue: one key in order, past a failure; other keys side by side', async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const a1 = q.run('a', async () => { await gate; log.push('a1'); });
  const a2 = q.run('a', async () => { log.push('a2'); throw new Error('boom'); });
  const a3 = q.run('a', async () => { log.push('a3'); return 3; });
  const b1 = q.run('b', async () => { log.push('b1'); });
  await b1;
  assert.deepEqual(log, ['b1'], 'b does not wait for a');
  release();
  await a1;
  await assert.rejects(a2, /boom/);
  assert.equal(await a3, 3);
  assert.deepEqual(log, ['b1', 'a1', 'a2', 'a3']);
});
