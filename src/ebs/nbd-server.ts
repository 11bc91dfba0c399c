// The NBD server: fixed-newstyle handshake and the transmission phase over unix sockets
// (and, for the standalone server, TCP on 127.0.0.1). It does sockets and dispatch only;
// bytes are parsed and built by ./protocol and the data work is BlockDevice's.
//
// Requests are pipelined: every request is started as soon as it is parsed and its reply
// is sent when it completes, in any order. Replies written in one tick go out in one
// writev (cork/uncork). The socket is paused while too many requests or bytes are in flight.
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { createServer, Socket, type Server } from 'node:net';
import { describeError } from '../lib/errors.js';
import type { BlockDevice } from './block-device.js';
import { EbsError, nbdErrnoOf } from './errors.js';
import { ByteQueue } from './protocol/byte-queue.js';
import * as C from './protocol/constants.js';
import {
  CLIENT_FLAGS_SIZE,
  decodeClientFlags,
  decodeInfoRequest,
  decodeMetaContextRequest,
  decodeOptionHeader,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoDescription,
  encodeInfoExport,
  encodeInfoName,
  encodeMetaContext,
  encodeOptionError,
  encodeOptionReply,
  encodeServerEntry,
  encodeServerGreeting,
  OPTION_HEADER_SIZE,
} from './protocol/handshake.js';
import {
  decodeRequestHeader,
  encodeBlockStatus,
  encodeSimpleReply,
  encodeStructuredError,
  encodeStructuredNone,
  OFFSET_DATA_PREFIX,
  writeOffsetDataPrefix,
  writeSimpleReplyHeader,
  type BlockStatusExtent,
  type RequestHeader,
} from './protocol/transmission.js';

export interface NbdExport {
  /** The name clients ask for; the empty name also selects the server's first export. */
  readonly name: string;
  readonly description?: string;
  readonly device: BlockDevice;
}

export interface NbdServerOptions {
  readonly exports: readonly NbdExport[];
  /** Handshake must finish within this many ms (default 30 s). */
  readonly handshakeTimeoutMs?: number;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

const BASE_ALLOCATION_ID = 1;
const MAX_UNIX_PATH = 107;
const MIN_BLOCK = 1;
const PREFERRED_BLOCK = 4096;
const MAX_INFLIGHT = 64;
const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
const KNOWN_CMD_FLAGS =
  C.NBD_CMD_FLAG_FUA | C.NBD_CMD_FLAG_NO_HOLE | C.NBD_CMD_FLAG_DF | C.NBD_CMD_FLAG_REQ_ONE | C.NBD_CMD_FLAG_FAST_ZERO;

export function transmissionFlags(device: BlockDevice): number {
  let f =
    C.NBD_FLAG_HAS_FLAGS |
    C.NBD_FLAG_SEND_FLUSH |
    C.NBD_FLAG_SEND_FUA |
    C.NBD_FLAG_SEND_TRIM |
    C.NBD_FLAG_SEND_WRITE_ZEROES |
    C.NBD_FLAG_SEND_DF |
    C.NBD_FLAG_CAN_MULTI_CONN |
    C.NBD_FLAG_SEND_FAST_ZERO;
  if (device.readOnly) f |= C.NBD_FLAG_READ_ONLY;
  return f;
}

type Phase = 'flags' | 'option-header' | 'option-data' | 'request' | 'payload' | 'discard' | 'closed';
type LivePhase = Exclude<Phase, 'closed'>;
const LIVE_PHASES: readonly LivePhase[] = ['flags', 'option-header', 'option-data', 'request', 'payload', 'discard'];

/**
 * Everything a connection has negotiated and read but not yet acted on, at a request boundary
 * (nothing in flight, every reply written): what a successor process needs to go on serving
 * the same socket without a new handshake (live update of the card). Plain JSON; no key.
 */
export interface NbdConnectionState {
  readonly v: 1;
  readonly phase: LivePhase;
  /** The export chosen by GO / EXPORT_NAME (transmission phase), else null. */
  readonly exportName: string | null;
  readonly noZeroes: boolean;
  readonly structured: boolean;
  /** The export base:allocation was selected for, or null. */
  readonly metaExport: string | null;
  readonly optHeader: { readonly option: number; readonly length: number };
  /** A write whose header was read and whose payload is being read ('payload'), or one being discarded. */
  readonly pending: RequestHeader | null;
  /** The part of that write's payload already read (base64). */
  readonly payloadBase64: string;
  readonly discardLeft: number;
  /** Bytes read from the socket and not parsed yet (base64); the successor parses them first. */
  readonly unreadBase64: string;
}

/** The libuv handle under a net.Socket (what Node's IPC sends as 'net.Native'). */
interface RawHandle {
  readStop?(): number;
  readStart?(): number;
  reading?: boolean;
}
const rawOf = (s: Socket): RawHandle | undefined => (s as unknown as { _handle?: RawHandle | null })._handle ?? undefined;

export function isNbdConnectionState(v: unknown): v is NbdConnectionState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    s['v'] === 1 &&
    LIVE_PHASES.includes(s['phase'] as LivePhase) &&
    (s['exportName'] === null || typeof s['exportName'] === 'string') &&
    typeof s['noZeroes'] === 'boolean' &&
    typeof s['structured'] === 'boolean' &&
    (s['metaExport'] === null || typeof s['metaExport'] === 'string') &&
    typeof s['optHeader'] === 'object' &&
    s['optHeader'] !== null &&
    (s['pending'] === null || typeof s['pending'] === 'object') &&
    typeof s['payloadBase64'] === 'string' &&
    typeof s['discardLeft'] === 'number' &&
    typeof s['unreadBase64'] === 'string'
  );
}

class NbdConnection {
  private readonly q = new ByteQueue();
  private phase: Phase = 'flags';
  private noZeroes = false;
  private structured = false;
  private metaExport: string | null = null; // export name base:allocation was selected for
  private optHeader = { option: 0, length: 0 };
  private exp: NbdExport | null = null;
  private pending: RequestHeader | null = null;
  private payload: Buffer | null = null;
  private payloadFilled = 0;
  private discardLeft = 0;
  private inflight = 0;
  private inflightBytes = 0;
  private paused = false;
  private corked = false;
  private disconnecting = false;
  /** Live update: reading stopped; what was read but not parsed waits in `unread`. */
  private frozen = false;
  private held: Buffer[] = [];
  private late = false;
  /** Live update: the socket went to another process; nothing here may touch it again. */
  private handedOver = false;
  private readonly idle: Array<() => void> = [];
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly onDataFn = (chunk: Buffer): void => this.onData(chunk);
  private readonly onErrorFn = (): void => this.close('socket error');
  private readonly onCloseFn = (): void => this.close('peer closed');

  /** With `adopted`, the socket comes from a predecessor process in that state: no greeting, no new handshake. */
  constructor(
    private readonly server: NbdServer,
    readonly socket: Socket,
    private readonly handshakeTimeoutMs: number,
    adopted?: NbdConnectionState,
  ) {
    socket.setNoDelay?.(true);
    if (adopted) this.restore(adopted);
    if (this.phase !== 'request' && this.phase !== 'payload' && this.phase !== 'discard') {
      this.handshakeTimer = setTimeout(() => this.close('handshake timeout'), handshakeTimeoutMs);
      this.handshakeTimer.unref();
    }
    socket.on('data', this.onDataFn);
    socket.on('error', this.onErrorFn);
    socket.on('close', this.onCloseFn);
    if (!adopted) this.send(encodeServerGreeting(C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES));
  }

  private restore(st: NbdConnectionState): void {
    this.phase = st.phase;
    this.noZeroes = st.noZeroes;
    this.structured = st.structured;
    this.metaExport = st.metaExport;
    this.optHeader = { option: st.optHeader.option, length: st.optHeader.length };
    if (st.exportName !== null) {
      const exp = this.server.find(st.exportName);
      if (!exp) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A handed-over connection names an export this server does not have.', { export: st.exportName });
      this.exp = exp;
    } else if (st.phase === 'request' || st.phase === 'payload' || st.phase === 'discard') {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A handed-over connection in transmission has no export.');
    }
    this.pending = st.pending ? { ...st.pending } : null;
    if (st.phase === 'payload') {
      const h = this.pending;
      const have = Buffer.from(st.payloadBase64, 'base64');
      if (!h || h.length > C.MAX_PAYLOAD || have.length > h.length) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A handed-over connection has an inconsistent write payload.');
      this.payload = Buffer.allocUnsafe(h.length);
      have.copy(this.payload, 0);
      this.payloadFilled = have.length;
    }
    this.discardLeft = st.discardLeft;
    const unread = Buffer.from(st.unreadBase64, 'base64');
    if (unread.length > 0) this.q.push(unread);
  }

  /** Adopted connection: parse what the predecessor had read, then read on. */
  resumeAdopted(): void {
    if (this.phase === 'closed') return;
    try {
      this.pump();
    } catch (e) {
      this.server.log('nbd.connection.error', { error: describeError(e) });
      this.close('internal error');
      return;
    }
    if (!this.paused) this.socket.resume();
  }

  /** (A method, so that TypeScript does not narrow the phase across the awaits above its callers.) */
  private isClosed(): boolean {
    return this.phase === 'closed';
  }

  /**
   * Live update, step 1: stop reading (what the kernel holds stays there for the successor;
   * what Node already read is kept), let every in-flight request finish and its reply leave
   * the process. Resolves true at a request boundary with nothing owed to the client; false if
   * the replies could not be written in time (the connection is then not handed over).
   */
  async freeze(deadlineMs: number): Promise<boolean> {
    if (this.phase === 'closed') return false;
    this.frozen = true;
    const s = this.socket;
    s.pause();
    const h = rawOf(s);
    if (h?.readStop) {
      h.readStop();
      h.reading = false;
    }
    // what Node read but has not emitted yet: exported as unread bytes, or emitted by thaw()'s resume()
    this.held = [...(s as unknown as { readableBuffer: Iterable<Buffer> }).readableBuffer];
    await this.drained();
    const until = Date.now() + deadlineMs;
    while ((this.corked || s.writableLength > 0) && Date.now() < until && !s.destroyed) await new Promise((r) => setImmediate(r));
    return !this.isClosed() && !s.destroyed && !this.corked && s.writableLength === 0 && !this.disconnecting && !this.late;
  }

  /** Undoes freeze() (the hand-over failed before the socket left): read on here. */
  thaw(): void {
    if (!this.frozen || this.handedOver || this.phase === 'closed') return;
    this.frozen = false;
    this.held = [];
    if (this.late) return this.close('data arrived while frozen');
    this.resumeAdopted(); // parses what is queued; resume() emits what the stream still holds
    // The stream still counts the read that freeze() stopped as pending, so it will not ask the
    // handle to read again by itself: restart it as net.Socket's own _read would.
    const h = rawOf(this.socket);
    if (h?.readStart && !h.reading && !this.isClosed() && !this.paused) {
      h.reading = true;
      h.readStart();
    }
  }

  /** The negotiated state and the unparsed bytes, for a successor (after freeze()). */
  exportState(): NbdConnectionState {
    const unread = Buffer.concat([this.q.peek(this.q.length), ...this.held]);
    return {
      v: 1,
      phase: this.phase as LivePhase,
      exportName: this.exp ? this.exp.name : null,
      noZeroes: this.noZeroes,
      structured: this.structured,
      metaExport: this.metaExport,
      optHeader: { ...this.optHeader },
      pending: this.pending ? { ...this.pending } : null,
      payloadBase64: this.phase === 'payload' && this.payload ? this.payload.subarray(0, this.payloadFilled).toString('base64') : '',
      discardLeft: this.discardLeft,
      unreadBase64: unread.toString('base64'),
    };
  }

  /**
   * Live update, step 2: the raw socket handle to send to the successor. From now on this
   * process never reads, writes or shuts the socket down; it only closes its own descriptor
   * (releaseHandedOver()).
   */
  handOver(): unknown {
    const h = rawOf(this.socket);
    if (!h) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'The connection has no socket handle to hand over.');
    this.handedOver = true;
    this.phase = 'closed';
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.socket.off('data', this.onDataFn);
    this.socket.off('close', this.onCloseFn);
    this.socket.off('error', this.onErrorFn);
    this.socket.on('error', () => undefined);
    this.server.forget(this);
    return h;
  }

  /** Closes this process's descriptor of a handed-over socket: no FIN, the successor owns the connection. */
  releaseHandedOver(): void {
    if (this.handedOver && !this.socket.destroyed) this.socket.destroy();
  }

  private send(b: Buffer): void {
    if (this.phase === 'closed' || this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      // Uncork after every request of this event-loop turn has replied: one writev for all.
      setImmediate(() => {
        this.corked = false;
        if (!this.socket.destroyed) this.socket.uncork();
      });
    }
    this.socket.write(b);
  }

  close(why: string): void {
    if (this.phase === 'closed' || this.handedOver) return;
    this.phase = 'closed';
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.server.log('nbd.connection.closed', { why });
    if (!this.socket.destroyed) this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.server.forget(this);
  }

  /** Resolves when no request is in flight. */
  drained(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.frozen) {
      this.late = true; // a paused stream emits nothing; should it, the connection cannot be handed over
      return;
    }
    this.q.push(chunk);
    try {
      this.pump();
    } catch (e) {
      this.server.log('nbd.connection.error', { error: describeError(e) });
      this.close('internal error');
    }
  }

  private pump(): void {
    for (;;) {
      if (this.frozen) return;
      switch (this.phase) {
        case 'closed':
          return;
        case 'flags': {
          if (this.q.length < CLIENT_FLAGS_SIZE) return;
          const flags = decodeClientFlags(this.q.take(CLIENT_FLAGS_SIZE));
          if ((flags & ~(C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES)) !== 0) return this.close('unknown client flags');
          this.noZeroes = (flags & C.NBD_FLAG_C_NO_ZEROES) !== 0;
          this.phase = 'option-header';
          break;
        }
        case 'option-header': {
          if (this.q.length < OPTION_HEADER_SIZE) return;
          const h = decodeOptionHeader(this.q.take(OPTION_HEADER_SIZE));
          if (!h.magicOk) return this.close('bad option magic');
          this.optHeader = { option: h.option, length: h.length };
          if (h.length > C.MAX_OPTION_LENGTH) {
            // Unreasonable: the spec lets the server close rather than read it all.
            this.send(encodeOptionError(h.option, C.NBD_REP_ERR_TOO_BIG, 'option data too long'));
            return this.close('option too long');
          }
          this.phase = 'option-data';
          break;
        }
        case 'option-data': {
          if (this.q.length < this.optHeader.length) return;
          const data = this.q.take(this.optHeader.length);
          this.phase = 'option-header';
          this.handleOption(this.optHeader.option, data);
          break;
        }
        case 'request': {
          if (this.disconnecting) return;
          if (this.q.length < C.NBD_REQUEST_HEADER_SIZE) return;
          const h = decodeRequestHeader(this.q.take(C.NBD_REQUEST_HEADER_SIZE));
          if (!h.magicOk) return this.close('bad request magic');
          if (h.type === C.NBD_CMD_WRITE) {
            if (h.length > C.MAX_PAYLOAD) {
              this.pending = h;
              this.discardLeft = h.length;
              this.phase = 'discard';
              break;
            }
            this.pending = h;
            this.payload = Buffer.allocUnsafe(h.length);
            this.payloadFilled = 0;
            this.phase = 'payload';
            break;
          }
          this.start(h, null);
          break;
        }
        case 'payload': {
          const p = this.payload as Buffer;
          this.payloadFilled += this.q.takeInto(p, this.payloadFilled, p.length - this.payloadFilled);
          if (this.payloadFilled < p.length) return;
          const h = this.pending as RequestHeader;
          this.pending = null;
          this.payload = null;
          this.phase = 'request';
          this.start(h, p);
          break;
        }
        case 'discard': {
          this.discardLeft -= this.q.skip(this.discardLeft);
          if (this.discardLeft > 0) return;
          const h = this.pending as RequestHeader;
          this.pending = null;
          this.phase = 'request';
          this.replyError(h, C.NBD_EOVERFLOW, 'write payload larger than the maximum block size');
          break;
        }
      }
    }
  }

  // ---- handshake -------------------------------------------------------------------

  private reply(option: number, type: number, payload?: Buffer): void {
    this.send(encodeOptionReply(option, type, payload));
  }

  private handleOption(option: number, data: Buffer): void {
    const exports = this.server.exports;
    switch (option) {
      case C.NBD_OPT_EXPORT_NAME: {
        const name = data.toString('utf8');
        const exp = this.server.find(name);
        if (!exp) return this.close('unknown export (EXPORT_NAME)');
        this.send(encodeExportNameReply(exp.device.size(), transmissionFlags(exp.device), this.noZeroes));
        return this.enterTransmission(exp);
      }
      case C.NBD_OPT_ABORT:
        this.reply(option, C.NBD_REP_ACK);
        return this.close('client aborted');
      case C.NBD_OPT_LIST:
        if (data.length !== 0) return this.reply(option, C.NBD_REP_ERR_INVALID);
        for (const e of exports) this.reply(option, C.NBD_REP_SERVER, encodeServerEntry(e.name, e.description));
        return this.reply(option, C.NBD_REP_ACK);
      case C.NBD_OPT_INFO:
      case C.NBD_OPT_GO: {
        const r = decodeInfoRequest(data);
        if (!r.ok) return this.send(encodeOptionError(option, C.NBD_REP_ERR_INVALID, r.reason));
        const exp = this.server.find(r.value.name);
        if (!exp) return this.send(encodeOptionError(option, C.NBD_REP_ERR_UNKNOWN, 'no such export'));
        const d = exp.device;
        this.reply(option, C.NBD_REP_INFO, encodeInfoExport(d.size(), transmissionFlags(d)));
        for (const t of new Set(r.value.infos)) {
          if (t === C.NBD_INFO_NAME) this.reply(option, C.NBD_REP_INFO, encodeInfoName(exp.name));
          else if (t === C.NBD_INFO_DESCRIPTION && exp.description) this.reply(option, C.NBD_REP_INFO, encodeInfoDescription(exp.description));
        }
        this.reply(option, C.NBD_REP_INFO, encodeInfoBlockSize(MIN_BLOCK, PREFERRED_BLOCK, C.MAX_PAYLOAD));
        this.reply(option, C.NBD_REP_ACK);
        if (option === C.NBD_OPT_GO) this.enterTransmission(exp);
        return;
      }
      case C.NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.reply(option, C.NBD_REP_ERR_INVALID);
        this.structured = true;
        return this.reply(option, C.NBD_REP_ACK);
      case C.NBD_OPT_LIST_META_CONTEXT:
      case C.NBD_OPT_SET_META_CONTEXT: {
        const set = option === C.NBD_OPT_SET_META_CONTEXT;
        if (!this.structured) return this.send(encodeOptionError(option, C.NBD_REP_ERR_INVALID, 'negotiate structured replies first'));
        const r = decodeMetaContextRequest(data);
        if (!r.ok) return this.send(encodeOptionError(option, C.NBD_REP_ERR_INVALID, r.reason));
        if (!this.server.find(r.value.name)) return this.send(encodeOptionError(option, C.NBD_REP_ERR_UNKNOWN, 'no such export'));
        const wanted =
          r.value.queries.length === 0
            ? !set // LIST with no query lists everything; SET with none selects nothing
            : r.value.queries.some((q) => q === C.BASE_ALLOCATION || (!set && q === 'base:'));
        if (set) this.metaExport = wanted ? r.value.name : null;
        if (wanted) this.reply(option, C.NBD_REP_META_CONTEXT, encodeMetaContext(set ? BASE_ALLOCATION_ID : 0, C.BASE_ALLOCATION));
        return this.reply(option, C.NBD_REP_ACK);
      }
      case C.NBD_OPT_STARTTLS:
        return this.send(encodeOptionError(option, C.NBD_REP_ERR_POLICY, 'TLS is not offered on local sockets'));
      default:
        return this.send(encodeOptionError(option, C.NBD_REP_ERR_UNSUP, 'option not supported'));
    }
  }

  private enterTransmission(exp: NbdExport): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.exp = exp;
    if (this.metaExport !== null && this.server.find(this.metaExport) !== exp) this.metaExport = null;
    this.phase = 'request';
    this.server.log('nbd.connection.transmission', { export: exp.name, structured: this.structured });
  }

  // ---- transmission ----------------------------------------------------------------

  private replyError(h: RequestHeader, errno: number, message: string): void {
    if (this.structured) this.send(encodeStructuredError(h.cookieHi, h.cookieLo, errno, message));
    else this.send(encodeSimpleReply(errno, h.cookieHi, h.cookieLo));
  }

  private start(h: RequestHeader, payload: Buffer | null): void {
    if (h.type === C.NBD_CMD_DISC) {
      this.disconnecting = true;
      void this.drained()
        .then(() => this.exp?.device.flush())
        .catch(() => undefined)
        .finally(() => this.close('client disconnected'));
      return;
    }
    this.inflight++;
    const bytes = h.type === C.NBD_CMD_READ || h.type === C.NBD_CMD_WRITE ? h.length : 0;
    this.inflightBytes += bytes;
    if (!this.paused && (this.inflight >= MAX_INFLIGHT || this.inflightBytes >= MAX_INFLIGHT_BYTES)) {
      this.paused = true;
      this.socket.pause();
    }
    this.execute(h, payload).then(
      () => this.finish(bytes),
      (e: unknown) => {
        if (this.phase !== 'closed') this.replyError(h, nbdErrnoOf(e), e instanceof Error ? e.message : 'I/O error');
        this.finish(bytes);
      },
    );
  }

  private finish(bytes: number): void {
    this.inflight--;
    this.inflightBytes -= bytes;
    if (this.paused && this.inflight < MAX_INFLIGHT / 2 && this.inflightBytes < MAX_INFLIGHT_BYTES / 2) {
      this.paused = false;
      if (this.phase !== 'closed' && !this.frozen) this.socket.resume();
    }
    if (this.inflight === 0) for (const r of this.idle.splice(0)) r();
  }

  private ok(h: RequestHeader): void {
    this.send(encodeSimpleReply(0, h.cookieHi, h.cookieLo));
  }

  private async execute(h: RequestHeader, payload: Buffer | null): Promise<void> {
    const exp = this.exp as NbdExport;
    const dev = exp.device;
    if ((h.flags & ~KNOWN_CMD_FLAGS) !== 0) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'Unknown command flags.', { flags: h.flags });
    const fua = (h.flags & C.NBD_CMD_FLAG_FUA) !== 0;
    switch (h.type) {
      case C.NBD_CMD_READ: {
        if (h.length > C.MAX_PAYLOAD) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'Read larger than the maximum block size.');
        if (h.offset + h.length > dev.size()) throw new EbsError('EBS_OUT_OF_RANGE', 'invalid', 'Read past the end of the export.');
        if (this.structured) {
          if (h.length === 0) return this.send(encodeStructuredNone(h.cookieHi, h.cookieLo));
          const b = Buffer.allocUnsafe(OFFSET_DATA_PREFIX + h.length);
          await dev.read(b, OFFSET_DATA_PREFIX, h.length, h.offset);
          writeOffsetDataPrefix(b, 0, h.cookieHi, h.cookieLo, h.offset, h.length, true);
          return this.send(b);
        }
        const b = Buffer.allocUnsafe(C.NBD_SIMPLE_REPLY_HEADER_SIZE + h.length);
        await dev.read(b, C.NBD_SIMPLE_REPLY_HEADER_SIZE, h.length, h.offset);
        writeSimpleReplyHeader(b, 0, 0, h.cookieHi, h.cookieLo);
        return this.send(b);
      }
      case C.NBD_CMD_WRITE: {
        const data = payload as Buffer;
        await dev.write(data, 0, data.length, h.offset, fua);
        return this.ok(h);
      }
      case C.NBD_CMD_FLUSH:
        await dev.flush();
        return this.ok(h);
      case C.NBD_CMD_TRIM:
        await dev.trim(h.offset, h.length, fua);
        return this.ok(h);
      case C.NBD_CMD_WRITE_ZEROES:
        await dev.writeZeroes(h.offset, h.length, {
          fua,
          noHole: (h.flags & C.NBD_CMD_FLAG_NO_HOLE) !== 0,
          fastOnly: (h.flags & C.NBD_CMD_FLAG_FAST_ZERO) !== 0,
        });
        return this.ok(h);
      case C.NBD_CMD_BLOCK_STATUS: {
        if (!this.structured || this.metaExport === null) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'No metadata context was negotiated.');
        if (h.offset + h.length > dev.size()) throw new EbsError('EBS_OUT_OF_RANGE', 'invalid', 'Block status past the end of the export.');
        if (h.length === 0) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'Block status of zero bytes.');
        let extents: BlockStatusExtent[] = (await dev.allocation(h.offset, h.length)).map((e) => ({
          length: e.length,
          flags: e.hole ? C.NBD_STATE_HOLE | C.NBD_STATE_ZERO : 0,
        }));
        if ((h.flags & C.NBD_CMD_FLAG_REQ_ONE) !== 0) extents = extents.slice(0, 1);
        return this.send(encodeBlockStatus(h.cookieHi, h.cookieLo, BASE_ALLOCATION_ID, extents, true));
      }
      case C.NBD_CMD_CACHE:
      case C.NBD_CMD_RESIZE:
      default:
        throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'Unsupported command.', { type: h.type });
    }
  }
}

/** A frozen connection of this server, ready to be handed to a successor process. */
export interface FrozenNbdConnection {
  /** This server's id for the connection (for handOver()). */
  readonly cid: number;
  readonly state: NbdConnectionState;
}

export class NbdServer {
  readonly exports: readonly NbdExport[];
  private readonly connections = new Set<NbdConnection>();
  private readonly frozen = new Map<number, NbdConnection>();
  private readonly handed: NbdConnection[] = [];
  private adopted: NbdConnection[] = [];
  private nextCid = 1;
  private readonly listeners: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly opts: NbdServerOptions;
  private closing = false;

  constructor(opts: NbdServerOptions) {
    if (opts.exports.length === 0) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'An NBD server needs at least one export.');
    this.exports = opts.exports;
    this.opts = opts;
  }

  log(event: string, fields: Record<string, unknown>): void {
    this.opts.log?.(event, fields);
  }

  find(name: string): NbdExport | undefined {
    if (name === '') return this.exports[0];
    return this.exports.find((e) => e.name === name);
  }

  forget(c: NbdConnection): void {
    this.connections.delete(c);
  }

  // ---- live update (the card hands its live connections to a successor process) ----

  /**
   * Freezes every connection at a request boundary: reading stops, in-flight requests finish
   * and their replies leave this process. Returns each frozen connection's state. A connection
   * that is disconnecting or cannot write its replies in time is left out (a later close()
   * ends it and the client reconnects).
   */
  async freezeConnections(deadlineMs = 2_000): Promise<FrozenNbdConnection[]> {
    const all = [...this.connections];
    const ok = await Promise.all(all.map((c) => c.freeze(deadlineMs)));
    const out: FrozenNbdConnection[] = [];
    all.forEach((c, i) => {
      if (!ok[i]) {
        c.close('could not be frozen for a hand-over'); // the client reconnects (and resends what was unanswered)
        return;
      }
      const cid = this.nextCid++;
      this.frozen.set(cid, c);
      out.push({ cid, state: c.exportState() });
    });
    return out;
  }

  /** The raw handle of a frozen connection, to send over IPC; the connection is no longer this server's. */
  handOver(cid: number): unknown {
    const c = this.frozen.get(cid);
    if (!c) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'No frozen connection with this id.', { cid });
    this.frozen.delete(cid);
    const h = c.handOver();
    this.handed.push(c);
    return h;
  }

  /** Undoes freezeConnections() for every connection not handed over: they read on here. */
  thawConnections(): number {
    const all = [...this.frozen.values()];
    this.frozen.clear();
    for (const c of all) c.thaw();
    return all.length;
  }

  /** Closes this process's descriptors of handed-over sockets (no FIN: the successor serves them). */
  releaseHandedOver(): number {
    const all = this.handed.splice(0);
    for (const c of all) c.releaseHandedOver();
    return all.length;
  }

  /**
   * Takes over a connection a predecessor process froze: the raw socket handle and its state.
   * Nothing is read until resumeAdopted(), so no request runs here while the predecessor might
   * still be finishing one.
   */
  adoptConnection(handle: unknown, state: NbdConnectionState): void {
    if (this.closing) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'The server is closing.');
    const sock = new Socket({ handle, readable: true, writable: true, pauseOnCreate: true } as unknown as ConstructorParameters<typeof Socket>[0]);
    let c: NbdConnection;
    try {
      c = new NbdConnection(this, sock, this.opts.handshakeTimeoutMs ?? 30_000, state);
    } catch (e) {
      sock.destroy();
      throw e;
    }
    this.connections.add(c);
    this.adopted.push(c);
  }

  /** Starts serving every adopted connection (bytes the predecessor had read are parsed first). */
  resumeAdopted(): number {
    const all = this.adopted;
    this.adopted = [];
    for (const c of all) c.resumeAdopted();
    return all.length;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private makeServer(): Server {
    const s = createServer({ noDelay: true }, (sock) => {
      if (this.closing) {
        sock.destroy();
        return;
      }
      this.connections.add(new NbdConnection(this, sock, this.opts.handshakeTimeoutMs ?? 30_000));
    });
    this.listeners.push(s);
    return s;
  }

  /**
   * Listen on a unix socket that only the owner can use (mode 0600). Replaces a stale socket file.
   * The kernel's sockaddr_un holds 107 bytes of path (libuv would silently bind a truncated
   * name). A longer path — an instance directory under a long NITRIDE_HOME — is bound through a
   * short private symlink to its directory (/tmp/nitride-nbd-XXXXXX/d → dirname(path)), so the
   * socket file is created at `path` itself; QEMU reaches it by its name relative to its
   * instance directory.
   */
  async listenUnix(path: string): Promise<void> {
    let bindPath = path;
    let tmp: string | undefined;
    if (Buffer.byteLength(path) > MAX_UNIX_PATH) {
      tmp = mkdtempSync(join(tmpdir(), 'nitride-nbd-'));
      // a relative path is the process's working directory's (it may not search that directory's ancestors)
      symlinkSync(isAbsolute(path) ? dirname(path) : join('/proc', String(process.pid), 'cwd', dirname(path)), join(tmp, 'd'));
      bindPath = join(tmp, 'd', basename(path));
      if (Buffer.byteLength(bindPath) > MAX_UNIX_PATH) {
        rmSync(tmp, { recursive: true, force: true });
        throw new EbsError('EBS_BAD_REQUEST', 'invalid', `A unix socket name is at most ${MAX_UNIX_PATH} bytes.`, { path, bytes: Buffer.byteLength(path) });
      }
    }
    rmSync(path, { force: true });
    const s = this.makeServer();
    const old = process.umask(0o177);
    try {
      await new Promise<void>((res, rej) => {
        s.once('error', rej);
        s.listen(bindPath, () => {
          s.off('error', rej);
          res();
        });
      });
    } finally {
      process.umask(old);
      if (tmp) rmSync(tmp, { recursive: true, force: true }); // the link only; the socket stays at `path`
    }
    chmodSync(path, 0o600);
    this.unixPaths.push(path);
  }

  /** Listen on TCP, loopback only; returns the port (pass 0 for any free one). */
  async listenTcp(port: number, host = '127.0.0.1'): Promise<number> {
    if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'The NBD server listens on loopback only.', { host });
    }
    const s = this.makeServer();
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.listen(port, host, () => {
        s.off('error', rej);
        res();
      });
    });
    const a = s.address();
    return typeof a === 'object' && a ? a.port : port;
  }

  /**
   * Stop accepting, let in-flight requests finish (their replies are sent), then close
   * every connection. Devices are not closed here (their owner does that).
   */
  /**
   * Stops accepting connections; the live ones keep being served. With keepSocketFiles,
   * a later close() leaves the socket paths alone: by then they may belong to a successor
   * (a live update renames the successor's socket onto the same path).
   */
  stopListening(opts: { keepSocketFiles?: boolean } = {}): void {
    if (opts.keepSocketFiles) this.unixPaths.length = 0;
    for (const s of this.listeners) s.close(() => undefined);
  }

  /**
   * Stops listening, answers what is in flight, ends every connection, then waits for the
   * listeners to finish closing. (A net.Server's close callback fires only after all of its
   * connections have ended, so it must be awaited last, or a connected client such as QEMU
   * would keep close() waiting forever.)
   */
  async close(): Promise<void> {
    this.closing = true;
    // A second close() of a listener answers ERR_SERVER_NOT_RUNNING through the callback: also done.
    const stopped = this.listeners.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const p of this.unixPaths) rmSync(p, { force: true });
    const conns = [...this.connections];
    await Promise.all(conns.map((c) => c.drained()));
    for (const c of conns) c.close('server closing');
    await Promise.all(stopped);
  }
}
