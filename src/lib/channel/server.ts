// The receiving end of a channel, the one entry-point loop of every forked component: each
// request is parsed by the component's contract parser and handed to its handler; the
// result (or the error, as a WireError) goes back under the request's id, with a handle
// beside it when the handler returns withHandle(). Events go out with emit().
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { sendOn, type Port } from './client.js';
import { CHANNEL_VERSION, requestIdOf, toWireError, type ReplyMessage } from './envelope.js';

/** A result that carries a handle beside it (a live update moves sockets this way). */
export class WithHandle<R = unknown> {
  constructor(
    readonly result: R,
    readonly handle: unknown,
  ) {}
}

export function withHandle<R>(result: R, handle: unknown): WithHandle<R> {
  return new WithHandle(result, handle);
}

export interface ServeOptions<Req> {
  /** Checks a raw message and returns the typed request; throws (a NitrideError) to refuse it. */
  readonly parse: (raw: unknown) => Req;
  /** Runs one request; `received` is the handle that came beside it (undefined if none). */
  readonly handle: (req: Req, received: unknown) => Promise<unknown> | unknown;
  /** Runs before each request is handled (e.g. waits for the component to be ready). */
  readonly before?: () => Promise<unknown>;
  /** Called when a request is refused while a handle came beside it (the handler never saw it). */
  readonly onRefusedHandle?: (handle: unknown) => void;
  readonly log?: Logger;
  /** Close this process's copy of a handle once it has been sent beside a reply (a relay that forwards handles it received). */
  readonly closeSentHandles?: boolean;
}

export interface ChannelServer {
  /** Sends an unsolicited event: `{ v: 1, event, …fields }`. */
  emit(event: string, fields?: Record<string, unknown>): void;
  /** Sends a message as-is (events typed by the component). */
  post(message: unknown): void;
  close(): void;
}

function closeHandle(h: unknown): void {
  (h as { close?: () => void } | undefined)?.close?.();
}

/** Serves requests on `port` (in a forked component: `process`). */
export function serveChannel<Req>(port: Port, o: ServeOptions<Req>): ChannelServer {
  const post = (message: unknown, handle?: unknown): void =>
    sendOn(port, message, handle, (err) => {
      if (o.closeSentHandles === true && handle !== undefined && handle !== null) closeHandle(handle);
      if (err && port.connected) o.log?.warn('could not send on the IPC channel', { error: describeError(err) });
    });
  const listener = (raw: unknown, received: unknown): void => {
    void (async () => {
      const id = requestIdOf(raw) ?? -1;
      let req: Req;
      try {
        req = o.parse(raw);
      } catch (e) {
        if (received !== undefined && received !== null) (o.onRefusedHandle ?? closeHandle)(received);
        post({ v: CHANNEL_VERSION, id, ok: false, error: toWireError(e) } satisfies ReplyMessage);
        return;
      }
      try {
        await o.before?.();
        const result = await o.handle(req, received ?? undefined);
        if (result instanceof WithHandle) post({ v: CHANNEL_VERSION, id, ok: true, result: result.result ?? null } satisfies ReplyMessage, result.handle);
        else post({ v: CHANNEL_VERSION, id, ok: true, result: result ?? null } satisfies ReplyMessage);
      } catch (e) {
        post({ v: CHANNEL_VERSION, id, ok: false, error: toWireError(e) } satisfies ReplyMessage);
      }
    })();
  };
  port.on('message', listener);
  return {
    emit: (event, fields = {}) => post({ ...fields, v: CHANNEL_VERSION, event }),
    post: (message) => post(message),
    close: () => port.off('message', listener),
  };
}
