// The one message envelope of every process boundary on a host (controller ↔ hypervisor,
// EBS card, VPC card, underlay bridge; controller ↔ its successor during a live update).
// Pure: shapes, the contract types that tie an operation to its params and result, and the
// conversions of an error to and from the wire. No I/O here.
//
//   request:  { v: 1, id, op, params }                     (a handle may ride beside it)
//   reply:    { v: 1, id, ok: true, result } | { v: 1, id, ok: false, error: WireError }
//   event:    { v: 1, event, … }                            (unsolicited)
import { describeError, isNitrideError } from '../errors.js';

export const CHANNEL_VERSION = 1;

export interface WireError {
  readonly code: string;
  readonly kind: string;
  readonly message: string;
  readonly context?: Record<string, unknown>;
}

/** One operation of a contract: what the sender passes and what the receiver answers with. */
export interface Operation<P, R> {
  readonly params: P;
  readonly result: R;
}

/**
 * A component's contract: operation name → Operation<params, result>. Written once, in the
 * component's protocol/ folder, next to the parser that checks the params where they arrive.
 */
export type Contract = { readonly [op: string]: Operation<unknown, unknown> };

export type OpOf<C> = Extract<keyof C, string>;
export type ParamsOf<C, O extends keyof C> = C[O] extends Operation<infer P, unknown> ? P : never;
export type ResultOf<C, O extends keyof C> = C[O] extends Operation<unknown, infer R> ? R : never;

/** The request a parser returns: the op and its params, typed together. */
export type RequestOf<C> = { [O in OpOf<C>]: { readonly op: O; readonly params: ParamsOf<C, O> } }[OpOf<C>];

/**
 * A reply. The id is a number on the host's IPC channels; the controller's mTLS command path
 * (src/controller/protocol/commands.ts) answers its signed commands in the same shape, with
 * the command's uuid as the id.
 */
export type ReplyMessage<Id extends number | string = number> =
  | { readonly v: 1; readonly id: Id; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly id: Id; readonly ok: false; readonly error: WireError };

export interface EventMessage {
  readonly v: 1;
  readonly event: string;
  readonly [k: string]: unknown;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The request id, if any, so that even a malformed request can be answered. */
export function requestIdOf(raw: unknown): number | undefined {
  return isObject(raw) && typeof raw['id'] === 'number' && Number.isSafeInteger(raw['id']) ? raw['id'] : undefined;
}

export function isEventMessage(m: unknown): m is EventMessage {
  return isObject(m) && typeof m['event'] === 'string';
}

export function isReplyMessage(m: unknown): m is ReplyMessage {
  return isObject(m) && typeof m['id'] === 'number' && typeof m['ok'] === 'boolean' && m['event'] === undefined;
}

/** Any thrown value as a wire error: a NitrideError keeps its code, kind and context; anything else is internal. */
export function toWireError(e: unknown): WireError {
  if (isNitrideError(e)) return { code: e.code, kind: e.kind, message: e.message, context: e.context };
  return { code: 'InternalError', kind: 'internal', message: describeError(e) };
}

export const ERROR_KINDS = ['invalid', 'not-found', 'conflict', 'denied', 'unavailable', 'internal'] as const;
