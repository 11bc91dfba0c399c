// The controller's error base and its one mapping to the wire (HTTP status + reply error).
// Pure: no I/O, so the protocol layer may use it.
import type { WireError } from '../lib/channel/envelope.js';
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export class ControllerError extends NitrideError {}

/** An error as a reply carries it: the one wire error of src/lib/channel/envelope.ts. */
export type ReplyError = WireError;

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  denied: 403,
  'not-found': 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** The HTTP status for an error kind (unknown kinds are 500). */
export function httpStatusFor(kind: string): number {
  return STATUS[kind as ErrorKind] ?? 500;
}

/** Any thrown value as a reply error. Internal details of non-Nitride errors are not sent. */
export function toReplyError(e: unknown): ReplyError {
  if (e instanceof NitrideError) {
    const ctx = Object.keys(e.context).length > 0 ? { context: e.context } : {};
    return { code: e.code, kind: e.kind, message: e.message, ...ctx };
  }
  return { code: 'InternalError', kind: 'internal', message: 'The controller failed while handling the command.' };
}
