// The card's TCP responder driven segment by segment: handshake, retransmitted SYN,
// out-of-order and duplicate data, FIN both ways, RST, and retransmission of lost data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../lib/wait.js';
import { ipToInt } from '../protocol/addr.js';
import { buildTcp, parseTcp, seqAdd, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../protocol/tcp.js';
import { TcpEndpoint } from './tcp.js';

const CLIENT = ipToInt('10.0.0.5');
const SERVER = ipToInt('169.254.169.254');

function setup() {
  const out: TcpSegment[] = [];
  const received: string[] = [];
  let closed = 0;
  const ep = new TcpEndpoint({
    localIp: SERVER,
    localPort: 80,
    mss: 64,
    send: (_ip, seg) => out.push(parseTcp(seg, 0, seg.length, SERVER, CLIENT)),
    accept: (conn) => ({
      onData: (d) => {
        received.push(d.toString());
        if (received.join('').includes('\n')) {
          conn.write(Buffer.from(`${'r'.repeat(150)}-response`));
          conn.end();
        }
      },
      onPeerClosed: () => void closed++,
    }),
  });
  const seg = (seq: number, ack: number, flags: number, data = '') => {
    const b = buildTcp(CLIENT, SERVER, { srcPort: 5000, dstPort: 80, seq, ack, flags, window: 65535 }, Buffer.from(data));
    ep.input(CLIENT, parseTcp(b, 0, b.length, CLIENT, SERVER));
  };
  return { ep, out, received, seg, closedCount: () => closed };
}

test('handshake (SYN retransmitted), out-of-order and overlapping data, response in MSS pieces, FIN exchange', () => {
  const { ep, out, received, seg } = setup();
  const isn = 1000;
  seg(isn, 0, TCP_SYN);
  seg(isn, 0, TCP_SYN); // retransmitted: the same SYN-ACK again, one connection
  assert.equal(out.length, 2);
  assert.equal(out[0]?.flags, TCP_SYN | TCP_ACK);
  assert.equal(out[1]?.seq, out[0]?.seq);
  assert.equal(ep.connectionCount, 1);
  const iss = out[0]?.seq as number;
  const base = isn + 1;
  seg(base, iss + 1, TCP_ACK);
  out.length = 0;
  // "GET /\n" sent as "GE", "T /\n" — the second first (out of order), then an overlapping retransmit.
  seg(base + 2, iss + 1, TCP_ACK, 'T /\n');
  assert.equal(received.length, 0);
  assert.equal(out.at(-1)?.ack, base, 'duplicate ACK for the hole');
  seg(base, iss + 1, TCP_ACK, 'GE');
  assert.equal(received.join(''), 'GET /\n');
  seg(base, iss + 1, TCP_ACK, 'GET'); // old data again: acknowledged, not delivered twice
  assert.equal(received.join(''), 'GET /\n');
  const data = out.filter((s) => s.payload.length > 0);
  assert.ok(data.every((s) => s.payload.length <= 64), 'segments respect the MSS');
  const body = Buffer.concat(data.map((s) => s.payload)).toString();
  assert.equal(body, `${'r'.repeat(150)}-response`);
  assert.ok(data.length >= 3);
  const fin = out.find((s) => s.flags & TCP_FIN);
  assert.ok(fin, 'FIN after the response');
  const end = seqAdd(fin.seq, 1);
  seg(base + 6, end, TCP_ACK | TCP_FIN);
  assert.equal(ep.connectionCount, 0, 'both FINs acknowledged: gone');
  assert.equal(out.at(-1)?.flags, TCP_ACK);
  ep.close();
});

test('RST ends a connection; segments for unknown connections get RST; lost data is retransmitted', async () => {
  const { ep, out, seg } = setup();
  seg(1, 0, TCP_SYN);
  const iss = out[0]?.seq as number;
  seg(2, iss + 1, TCP_RST);
  assert.equal(ep.connectionCount, 0);
  out.length = 0;
  seg(5, 77, TCP_ACK, 'x');
  assert.equal(out[0]?.flags, TCP_RST);
  assert.equal(out[0]?.seq, 77);
  // New connection; the client never acknowledges the response: it comes again.
  out.length = 0;
  seg(100, 0, TCP_SYN);
  const iss2 = out[0]?.seq as number;
  seg(101, iss2 + 1, TCP_ACK, 'hi\n');
  const firstCount = out.filter((s) => s.payload.length > 0).length;
  const again = await waitFor('the response to be retransmitted after the timeout', () => {
    const n = out.filter((s) => s.payload.length > 0).length;
    return n > firstCount ? n : undefined;
  }, 10_000, 20);
  assert.equal(out.filter((s) => s.payload.length > 0).at(-1 - (again - firstCount - 1))?.seq, iss2 + 1, 'go-back-N from the first unacknowledged byte');
  ep.close();
});
