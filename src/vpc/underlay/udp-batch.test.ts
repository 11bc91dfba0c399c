import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { BatchUdp } from './udp-batch.js';

const bind = (s: ReturnType<typeof createSocket>): Promise<number> => new Promise((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));

test('batched UDP on loopback: every datagram arrives once, intact, with its source; the batch path is the one used', async () => {
  const rxSock = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  const txSock = createSocket({ type: 'udp4', sendBufferSize: 8 * 1024 * 1024 });
  try {
    const seen = new Map<number, number>();
    let bad = 0;
    let batches = 0;
    let from = '';
    const rx = new BatchUdp(
      rxSock,
      (d, addr, port) => {
        // The view is only valid during the call: check it now.
        const n = d.readUInt32BE(0);
        if (d.length !== 1000 || d[999] !== (n & 0xff)) bad++;
        seen.set(n, (seen.get(n) ?? 0) + 1);
        from = `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}:${port}`;
      },
      () => batches++,
    );
    const port = await bind(rxSock);
    const txPort = await bind(txSock);
    const tx = new BatchUdp(txSock, () => undefined);
    assert.equal(rx.batched, true, 'the native addon (native/gcm) provides sendmmsg/recvmmsg: run `nitride setup`');
    assert.equal(tx.batched, true);
    const N = 3000;
    for (let start = 0; start < N; start += 500) {
      const ds: Buffer[] = [];
      for (let i = start; i < start + 500; i++) {
        const d = Buffer.alloc(1000, i & 0xff);
        d.writeUInt32BE(i, 0);
        ds.push(d);
      }
      tx.sendMany(ds, port, '127.0.0.1');
      await new Promise((r) => setImmediate(r));
    }
    const end = Date.now() + 5000;
    while (seen.size < N && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.size, N, `all ${N} datagrams arrived (fallback sends ${tx.fallbackSends})`);
    assert.ok([...seen.values()].every((c) => c === 1), 'none twice');
    assert.equal(bad, 0);
    assert.equal(from, `127.0.0.1:${txPort}`);
    assert.ok(batches < N / 4, `datagrams were read in batches (${batches} wakeups for ${N})`);
  } finally {
    rxSock.close();
    txSock.close();
  }
});
