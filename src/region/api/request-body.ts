// Reading a request body at the front door, bounded, in a way that lets every client see
// the answer:
//
//   readRequestBody(req, { maxBytes }) → { kind: 'body', body } | { kind: 'too-large', drained } | { kind: 'aborted', received }
//
// A body over maxBytes (announced by Content-Length or found while reading) is not kept: the
// rest is read and thrown away (up to maxDrainBytes, for at most maxDrainMs) so that the 413
// the caller sends next is read by the client. Closing a socket with unread bytes in it
// makes the kernel answer with a reset, and the client then sees ECONNRESET instead of the
// 413 (and an SDK retries). When the drain limit is reached, `drained` is false and the
// caller closes the connection after its answer.
// A client that goes away before the body is complete is 'aborted': the caller logs it once,
// at debug level, and answers nothing (there is nobody to answer).
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { readonly kind: 'body'; readonly body: Buffer }
  | { readonly kind: 'too-large'; readonly drained: boolean }
  | { readonly kind: 'aborted'; readonly received: number };

export interface BodyLimits {
  readonly maxBytes: number;
  /** How much of an oversized body is read and discarded before the connection is closed. */
  readonly maxDrainBytes?: number;
  /** How long an oversized body may keep arriving before the connection is closed. */
  readonly maxDrainMs?: number;
}

export const DEFAULT_MAX_DRAIN_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_DRAIN_MS = 5_000;

export function readRequestBody(req: IncomingMessage, limits: BodyLimits): Promise<BodyResult> {
  const maxDrain = limits.maxDrainBytes ?? DEFAULT_MAX_DRAIN_BYTES;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let tooLarge = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: BodyResult): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      // Any later error on this request (the socket closing under it) is expected and has been accounted for.
      req.on('error', () => undefined);
      if (r.kind === 'too-large' && !r.drained) req.resume();
      resolve(r);
    };
    const overflow = (): void => {
      tooLarge = true;
      chunks.length = 0;
      timer = setTimeout(() => finish({ kind: 'too-large', drained: false }), limits.maxDrainMs ?? DEFAULT_MAX_DRAIN_MS);
      timer.unref();
    };
    const onData = (c: Buffer): void => {
      received += c.length;
      if (tooLarge) {
        if (received - limits.maxBytes > maxDrain) finish({ kind: 'too-large', drained: false });
        return;
      }
      if (received > limits.maxBytes) {
        overflow();
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => finish(tooLarge ? { kind: 'too-large', drained: true } : { kind: 'body', body: Buffer.concat(chunks) });
    // 'close' before 'end': the client went away mid-body (node also emits an 'aborted' error).
    const onClose = (): void => finish({ kind: 'aborted', received });
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > limits.maxBytes) overflow();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', () => finish({ kind: 'aborted', received }));
  });
}
