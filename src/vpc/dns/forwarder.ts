// Forwards the questions the VPC resolver does not answer itself to the one upstream resolver
// the operator configured (NITRIDE_DNS_UPSTREAM=ip[:port]), over UDP. Each forwarded query
// gets a fresh random id on the wire; the answer is matched by that id and by its question
// section (byte for byte as sent), and only from the upstream's address (the socket is
// connected to it, so the kernel drops anything else). The pending table is bounded, and an
// unanswered query ends after a timeout: the caller answers SERVFAIL.
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { VpcError } from '../errors.js';
import { isIp } from '../protocol/addr.js';
import { DNS_HEADER_LEN, DNS_PORT, questionSectionEnd } from './protocol/message.js';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** `ip[:port]` → the upstream; throws on anything else. */
export function parseUpstream(s: string): Upstream {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[2] === undefined ? DNS_PORT : Number(m[2]);
  if (!m || !isIp(m[1] as string) || port < 1 || port > 65535) {
    throw new VpcError('InvalidParameterValue', 'invalid', 'The DNS upstream must be an IPv4 address with an optional port (ip[:port]).', { upstream: s });
  }
  return { host: m[1] as string, port };
}

export interface ForwarderOptions {
  readonly timeoutMs?: number;
  /** Queries waiting for the upstream at once; more are refused (SERVFAIL) until some end. */
  readonly maxPending?: number;
}

interface Pending {
  readonly question: Buffer;
  readonly reply: (answer: Buffer | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

export class DnsForwarder {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private connected = false;
  private closed = false;
  /** Settles once the socket is connected to the upstream (forward() refuses before). */
  readonly ready: Promise<void>;
  /** Answers that matched no pending query (late, spoofed or for a question not asked). */
  unmatched = 0;
  timeouts = 0;

  constructor(readonly upstream: Upstream, o: ForwarderOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 2_000;
    this.maxPending = o.maxPending ?? 1_024;
    this.socket = createSocket('udp4');
    this.socket.on('error', () => undefined);
    this.socket.on('message', (m) => this.onAnswer(m));
    this.ready = new Promise((resolve) => {
      this.socket.connect(upstream.port, upstream.host, () => {
        this.connected = true;
        resolve();
      });
    });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Sends `query` (whose question section ends at `questionEnd`) upstream. `reply` gets the
   * answer with the upstream's id, or undefined on a timeout. false: not sent (table full,
   * or the socket is not connected yet or closed); `reply` is never called.
   */
  forward(query: Buffer, questionEnd: number, reply: (answer: Buffer | undefined) => void): boolean {
    if (this.closed || !this.connected || this.pending.size >= this.maxPending) return false;
    let id = randomInt(0, 65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    const timer = setTimeout(() => {
      if (this.pending.get(id)?.timer !== timer) return;
      this.pending.delete(id);
      this.timeouts++;
      reply(undefined);
    }, this.timeoutMs);
    timer.unref();
    this.pending.set(id, { question: Buffer.from(query.subarray(DNS_HEADER_LEN, questionEnd)), reply, timer });
    this.socket.send(out);
    return true;
  }

  private onAnswer(m: Buffer): void {
    if (m.length < DNS_HEADER_LEN || (m.readUInt16BE(2) & 0x8000) === 0) {
      this.unmatched++;
      return;
    }
    const id = m.readUInt16BE(0);
    const p = this.pending.get(id);
    let question: Buffer | undefined;
    try {
      question = p ? m.subarray(DNS_HEADER_LEN, questionSectionEnd(m)) : undefined;
    } catch {
      question = undefined;
    }
    if (!p || !question || !question.equals(p.question)) {
      this.unmatched++;
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.reply(m);
  }

  /** Stops forwarding; every query still waiting gets its reply(undefined) (SERVFAIL) now. */
  close(): void {
    this.closed = true;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reply(undefined);
    }
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
