import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { waitFor } from '../../lib/wait.js';
import { DnsForwarder, parseUpstream } from './forwarder.js';
import { buildQuery, questionSectionEnd, TYPE_A } from './protocol/message.js';

test('parseUpstream: ip[:port], nothing else', () => {
  assert.deepEqual(parseUpstream('10.0.0.53'), { host: '10.0.0.53', port: 53 });
  assert.deepEqual(parseUpstream('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
  for (const bad of ['resolver.example', '10.0.0.256', '10.0.0.1:0', '10.0.0.1:70000', '']) assert.throws(() => parseUpstream(bad), /upstream/);
});

test('a fresh id on the wire, the answer matched by id and question, mismatches dropped, the table bounded, close answers the rest', async () => {
  const peer = createSocket('udp4');
  const seen: Buffer[] = [];
  peer.on('message', (m, r) => {
    seen.push(m);
    const name = m.subarray(12).toString('latin1');
    const reply = Buffer.from(m);
    reply.writeUInt16BE(0x8180, 2);
    if (name.includes('wrongid')) reply.writeUInt16BE((m.readUInt16BE(0) + 1) & 0xffff, 0);
    if (name.includes('wrongq')) reply[13] = 0x7a; // another question than the one asked
    if (!name.includes('silent')) peer.send(reply, r.port, r.address);
  });
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  const f = new DnsForwarder({ host: '127.0.0.1', port: peer.address().port }, { timeoutMs: 300, maxPending: 2 });
  try {
    await f.ready;
    const fwd = (name: string): { sent: boolean; answer: Promise<Buffer | undefined> } => {
      const q = buildQuery(0x4444, name, TYPE_A);
      let sent = false;
      const answer = new Promise<Buffer | undefined>((resolve) => {
        sent = f.forward(q, questionSectionEnd(q), resolve);
      });
      return { sent, answer };
    };
    const ok = fwd('example.com');
    const a = await ok.answer;
    assert.ok(a);
    assert.notEqual(seen[0]?.readUInt16BE(0), undefined);
    assert.equal(a.readUInt16BE(0), seen[0]?.readUInt16BE(0), 'the answer carries the id sent upstream (the resolver puts the client\'s back)');
    // A wrong id or another question is not an answer: the query times out instead.
    assert.equal(await fwd('wrongid.example').answer, undefined);
    assert.equal(await fwd('wrongq.example').answer, undefined);
    assert.equal(f.unmatched, 2);
    assert.equal(f.timeouts, 2);
    // Two may wait at once; the third is refused; close() answers the waiting ones (undefined).
    const s1 = fwd('silent.example');
    const s2 = fwd('silent.example');
    assert.equal(s1.sent && s2.sent, true);
    assert.equal(fwd('silent.example').sent, false);
    assert.equal(f.pendingCount, 2);
    await waitFor('both silent queries upstream', () => seen.length >= 5, 2000, 10);
    assert.ok(seen.some((m) => m.readUInt16BE(0) !== 0x4444), 'the ids on the wire are the forwarder\'s own, not the client\'s');
    f.close();
    assert.equal(await s1.answer, undefined);
    assert.equal(await s2.answer, undefined);
    assert.equal(f.pendingCount, 0);
  } finally {
    f.close();
    peer.close();
  }
});
