// The sending end of a channel: numbers each request, matches the reply by id, times out,
// cancels (AbortSignal), fails every waiting request when the peer goes away, and passes a
// handle (net.Server, net.Socket or a raw libuv handle) beside a request or takes the one
// that came beside a reply. Typed by the component's contract: the params and the result
// of each operation come from the same declaration the receiving end parses with.
import { CHANNEL_VERSION, isEventMessage, isReplyMessage, type EventMessage, type OpOf, type ParamsOf, type ResultOf } from './envelope.js';
import { ChannelError, componentTitle, fromWireError } from './errors.js';

/** What a channel runs over: a forked ChildProcess, or `process` in the forked child. */
export interface Port {
  readonly connected: boolean;
  on(event: 'message', listener: (message: unknown, handle: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown, handle: unknown) => void): unknown;
}

/** Sends one message on a port, a handle beside it if given; `done` learns whether it left. */
export function sendOn(port: Port, message: unknown, handle: unknown, done: (err: Error | null) => void): void {
  const p = port as unknown as { send?: (m: unknown, h?: unknown, o?: unknown, cb?: (e: Error | null) => void) => boolean };
  if (!port.connected || typeof p.send !== 'function') {
    done(new Error('the channel is closed'));
    return;
  }
  try {
    if (handle !== undefined && handle !== null) p.send(message, handle, { keepOpen: false }, done);
    else p.send(message, undefined, undefined, done);
  } catch (e) {
    done(e instanceof Error ? e : new Error(String(e)));
  }
}

export interface RequestOptions {
  /** 0: no time limit. */
  readonly timeoutMs?: number;
  /** A handle sent beside the request; the sender's own copy is closed once it has left. */
  readonly handle?: unknown;
  readonly signal?: AbortSignal;
}

export interface ClientOptions {
  /** The peer's name ('hypervisor', 'ebs', 'vpc', 'underlay', 'successor'): error codes and messages name it. */
  readonly component: string;
  readonly onEvent?: (e: EventMessage) => void;
  /** Default time limit of a request (default 30 s). */
  readonly timeoutMs?: number;
}

interface Pending {
  resolve(v: { result: unknown; handle: unknown }): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
  op: string;
  cleanup(): void;
}

export class ChannelClient<C> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedBy: ChannelError | undefined;
  private readonly listener = (m: unknown, handle: unknown): void => this.onMessage(m, handle);

  constructor(
    readonly port: Port,
    private readonly o: ClientOptions,
  ) {
    port.on('message', this.listener);
  }

  get component(): string {
    return this.o.component;
  }

  /** Sends one request and resolves with its result; rejects with the peer's error. */
  async request<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, timeoutOrOptions?: number | RequestOptions): Promise<ResultOf<C, O>> {
    const opts = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : (timeoutOrOptions ?? {});
    return (await this.requestWithHandle(op, params, opts)).result;
  }

  /** As request(), and also resolves with the handle that came beside the reply (undefined when none did). */
  requestWithHandle<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, opts: RequestOptions = {}): Promise<{ result: ResultOf<C, O>; handle: unknown }> {
    return this.send(op, params, opts) as Promise<{ result: ResultOf<C, O>; handle: unknown }>;
  }

  /** Sends an operation by name without its contract's types (relays and tests of malformed input). */
  requestUntyped(op: string, params: unknown, opts: RequestOptions = {}): Promise<{ result: unknown; handle: unknown }> {
    return this.send(op, params, opts);
  }

  /** Sends any value as-is (tests use it for malformed requests). */
  sendRaw(msg: unknown): void {
    sendOn(this.port, msg, undefined, () => undefined);
  }

  /** How many requests wait for a reply. */
  get waiting(): number {
    return this.pending.size;
  }

  /** The peer has gone (exited, disconnected): every waiting request fails with `why`, later ones at once. */
  close(why?: ChannelError): void {
    const T = componentTitle(this.o.component);
    this.port.off('message', this.listener);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(why ?? new ChannelError(`${T}Unavailable`, 'unavailable', `The ${this.o.component} component exited before it answered.`, { op: p.op }));
    }
    this.closedBy = why ?? new ChannelError(`${T}Unavailable`, 'unavailable', `The ${this.o.component} component is not running.`, {});
  }

  private send(op: string, params: unknown, opts: RequestOptions): Promise<{ result: unknown; handle: unknown }> {
    const T = componentTitle(this.o.component);
    const handle = opts.handle;
    if (this.closedBy !== undefined || !this.port.connected) {
      return Promise.reject(new ChannelError(`${T}Unavailable`, 'unavailable', `The ${this.o.component} component is not running.`, { op }));
    }
    if (opts.signal?.aborted === true) return Promise.reject(new ChannelError('RequestCancelled', 'unavailable', `The request ${op} to the ${this.o.component} component was cancelled.`, { op }));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        if (timer) clearTimeout(timer);
        reject(new ChannelError('RequestCancelled', 'unavailable', `The request ${op} to the ${this.o.component} component was cancelled.`, { op }));
      };
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              if (!this.pending.delete(id)) return;
              cleanup();
              reject(new ChannelError(`${T}Timeout`, 'unavailable', `The ${this.o.component} component did not answer ${op} within ${timeoutMs} ms.`, { op, timeoutMs }));
            }, timeoutMs)
          : undefined;
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, timer, op, cleanup });
      sendOn(this.port, { v: CHANNEL_VERSION, id, op, params }, handle, (err) => {
        // A forwarded handle is the sender's own copy: close it once it has left.
        if (!err && handle !== undefined && handle !== null) (handle as { close?: () => void }).close?.();
        if (err && this.pending.delete(id)) {
          cleanup();
          reject(new ChannelError(`${T}Unavailable`, 'unavailable', `The request could not be sent to the ${this.o.component} component.`, { op }, { cause: err }));
        }
      });
    });
  }

  private onMessage(m: unknown, handle: unknown): void {
    if (isEventMessage(m)) {
      this.o.onEvent?.(m);
      return;
    }
    if (!isReplyMessage(m)) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.cleanup();
    if (m.ok) p.resolve({ result: m.result, handle: handle ?? undefined });
    else p.reject(fromWireError(m.error, this.o.component));
  }
}
