// SigV4Error: every way a signature check fails, with the code EC2 answers with
// (`code`, `httpStatus`) and a stable `reason` other APIs can map to their own codes
// (IAM's Query API says InvalidClientTokenId / SignatureDoesNotMatch where EC2 says AuthFailure).
//
//   reason          EC2 code                     HTTP
//   missing         MissingAuthenticationToken   403
//   malformed       IncompleteSignature          400
//   unknown-key     AuthFailure                  401
//   bad-signature   AuthFailure                  401
//   scope           SignatureDoesNotMatch        403   (credential scope date/region/service wrong; the
//                                                      message says which, in AWS's words)
//   payload         AuthFailure                  401   (x-amz-content-sha256 does not match the body)
//   expired         RequestExpired               400   (clock skew > 15 min, or presigned URL expired)
//   expired-token   RequestExpired               400   (session credentials past their Expiration; IAM and
//                                                      STS say ExpiredToken 403, the JSON services
//                                                      ExpiredTokenException)

import { NitrideError } from '../../lib/errors.js';

export type SigV4FailureReason = 'missing' | 'malformed' | 'unknown-key' | 'bad-signature' | 'scope' | 'payload' | 'expired' | 'expired-token';

const EC2: Readonly<Record<SigV4FailureReason, { code: string; status: number }>> = {
  missing: { code: 'MissingAuthenticationToken', status: 403 },
  malformed: { code: 'IncompleteSignature', status: 400 },
  'unknown-key': { code: 'AuthFailure', status: 401 },
  'bad-signature': { code: 'AuthFailure', status: 401 },
  scope: { code: 'SignatureDoesNotMatch', status: 403 },
  payload: { code: 'AuthFailure', status: 401 },
  expired: { code: 'RequestExpired', status: 400 },
  'expired-token': { code: 'RequestExpired', status: 400 },
};

const IAM: Readonly<Record<SigV4FailureReason, { code: string; status: number }>> = {
  missing: { code: 'MissingAuthenticationToken', status: 403 },
  malformed: { code: 'IncompleteSignature', status: 400 },
  'unknown-key': { code: 'InvalidClientTokenId', status: 403 },
  'bad-signature': { code: 'SignatureDoesNotMatch', status: 403 },
  scope: { code: 'SignatureDoesNotMatch', status: 403 },
  payload: { code: 'SignatureDoesNotMatch', status: 403 },
  expired: { code: 'RequestExpired', status: 400 },
  'expired-token': { code: 'ExpiredToken', status: 403 },
};

/** The message EC2 uses for AuthFailure; deliberately the same for unknown keys and bad signatures. */
export const AUTH_FAILURE_MESSAGE = 'AWS was not able to validate the provided access credentials';

/** What IAM, STS and the JSON services say of session credentials past their Expiration. */
export const EXPIRED_TOKEN_MESSAGE = 'The security token included in the request is expired';

export class SigV4Error extends NitrideError {
  readonly reason: SigV4FailureReason;
  readonly httpStatus: number;

  constructor(reason: SigV4FailureReason, message: string, context: Record<string, unknown> = {}) {
    const wire = EC2[reason];
    super(wire.code, reason === 'missing' || reason === 'malformed' ? 'invalid' : 'denied', message, { ...context, reason });
    this.reason = reason;
    this.httpStatus = wire.status;
  }

  /** The code and status IAM's Query API uses for this failure. */
  iamWire(): { code: string; status: number } {
    return IAM[this.reason];
  }
}

export function isSigV4Error(e: unknown): e is SigV4Error {
  return e instanceof SigV4Error;
}
