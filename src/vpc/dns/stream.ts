// DNS over TCP (RFC 1035 §4.2.2, RFC 7766) on the card's own TCP (src/vpc/imds/tcp.ts): each
// message behind a two-byte length, several per connection, answered in whatever order they
// complete (the ids tell them apart). The connection ends after the guest's FIN once every
// answer has been written. Pure: the resolver answers, the connection carries bytes.
import type { ConnHandler, TcpConnection } from '../imds/tcp.js';

/** Questions one connection may have waiting on the upstream at once; more are dropped. */
const MAX_OUTSTANDING = 16;

export function dnsStreamSession(conn: TcpConnection, answer: (query: Buffer, reply: (msg: Buffer) => void) => boolean): ConnHandler {
  let buf: Buffer = Buffer.alloc(0);
  let outstanding = 0;
  let peerClosed = false;
  const maybeEnd = (): void => {
    if (peerClosed && outstanding === 0) conn.end();
  };
  return {
    onData: (d) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const q = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (outstanding >= MAX_OUTSTANDING) continue;
        outstanding++;
        let done = false;
        const taken = answer(q, (msg) => {
          if (done) return;
          done = true;
          outstanding--;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(msg.length, 0);
          conn.write(Buffer.concat([head, msg]));
          maybeEnd();
        });
        if (!taken && !done) {
          done = true;
          outstanding--;
        }
      }
    },
    onPeerClosed: () => {
      if (peerClosed) return;
      peerClosed = true;
      maybeEnd();
    },
  };
}
