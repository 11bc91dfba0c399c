// The VPC card's error base. Codec failures are 'invalid' (a malformed frame from a guest);
// control-API misuse is 'invalid', 'not-found' or 'conflict'.
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export class VpcError extends NitrideError {
  constructor(code: string, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, kind, message, context, options);
  }
}

/** A malformed frame or message: thrown by the pure codecs, counted and dropped by the card. */
export function malformed(what: string, context: Record<string, unknown> = {}): VpcError {
  return new VpcError('MalformedFrame', 'invalid', `The ${what} is malformed.`, context);
}
