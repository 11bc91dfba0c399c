// The channel's error: a peer's refusal as it came over the wire (code, kind, message and
// context kept, the component added), or the channel's own failure (not running, exited,
// timed out, cancelled).
import { NitrideError, type ErrorKind } from '../errors.js';
import { ERROR_KINDS, type WireError } from './envelope.js';

export class ChannelError extends NitrideError {}

/** 'hypervisor' → 'Hypervisor', 'ebs' → 'EBSCard', 'vpc' → 'VPCCard', 'successor' → 'Successor'. */
export function componentTitle(name: string): string {
  return name === 'ebs' || name === 'vpc' ? `${name.toUpperCase()}Card` : `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

/** A refusal from the peer, with the peer's component name in its context. */
export function fromWireError(err: WireError | undefined, component: string): ChannelError {
  const e = err ?? { code: `${componentTitle(component)}Error`, kind: 'internal', message: `The ${component} component refused the request.` };
  const kind: ErrorKind = ERROR_KINDS.find((k) => k === e.kind) ?? 'internal';
  return new ChannelError(String(e.code), kind, String(e.message), { ...(e.context ?? {}), component });
}
