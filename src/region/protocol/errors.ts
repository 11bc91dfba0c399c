// Ec2Error: the one error the region's wire layer throws for bad requests. Its `code` is the
// code EC2 puts on the wire (InvalidParameterValue, InvalidInstanceID.Malformed, AuthFailure, …)
// and `httpStatus` the status EC2 answers with. The server maps any other NitrideError to
// InternalError/500 at its edge (renderEc2Error in ec2-responses.ts writes the body).

import { NitrideError, type ErrorKind } from '../../lib/errors.js';

/** HTTP status EC2 uses for a given error code (400 for everything not listed). */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  AuthFailure: 401,
  MissingAuthenticationToken: 403,
  IncompleteSignature: 400,
  SignatureDoesNotMatch: 403,
  RequestExpired: 400,
  InvalidClientTokenId: 403,
  OptInRequired: 403,
  UnauthorizedOperation: 403,
  Blocked: 403,
  DryRunOperation: 412,
  InternalError: 500,
  InternalFailure: 500,
  ServiceUnavailable: 503,
  Unavailable: 503,
  RequestLimitExceeded: 503,
  InsufficientInstanceCapacity: 500,
};

function kindOf(code: string): ErrorKind {
  if (code.endsWith('.NotFound') || code === 'InvalidAction') return code === 'InvalidAction' ? 'invalid' : 'not-found';
  switch (code) {
    case 'AuthFailure':
    case 'MissingAuthenticationToken':
    case 'IncompleteSignature':
    case 'SignatureDoesNotMatch':
    case 'RequestExpired':
    case 'InvalidClientTokenId':
    case 'UnauthorizedOperation':
    case 'OptInRequired':
    case 'Blocked':
      return 'denied';
    case 'IncorrectInstanceState':
    case 'IncorrectState':
    case 'IdempotentParameterMismatch':
    case 'DryRunOperation':
      return 'conflict';
    case 'InsufficientInstanceCapacity':
    case 'ServiceUnavailable':
    case 'Unavailable':
    case 'RequestLimitExceeded':
      return 'unavailable';
    case 'InternalError':
    case 'InternalFailure':
      return 'internal';
    default:
      return 'invalid';
  }
}

/** The HTTP status EC2 answers with for `code`. */
export function ec2HttpStatus(code: string): number {
  return STATUS_BY_CODE[code] ?? 400;
}

export class Ec2Error extends NitrideError {
  readonly httpStatus: number;

  constructor(code: string, message: string, opts: { httpStatus?: number; context?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, kindOf(code), message, opts.context ?? {}, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.httpStatus = opts.httpStatus ?? ec2HttpStatus(code);
  }
}

export function isEc2Error(e: unknown): e is Ec2Error {
  return e instanceof Ec2Error;
}

/** EC2's answer to a permitted DryRun request (HTTP 412). */
export function dryRunOperation(): Ec2Error {
  return new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
}

/** EC2's answer to a DryRun (or real) request the caller is not allowed to make (HTTP 403). */
export function unauthorizedOperation(message = 'You are not authorized to perform this operation.'): Ec2Error {
  return new Ec2Error('UnauthorizedOperation', message);
}
