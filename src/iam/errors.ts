// IAM's errors. `code` is the IAM error code that goes on the wire unchanged
// (NoSuchEntity, EntityAlreadyExists, MalformedPolicyDocument, …); api.ts maps it to
// IAM's error XML and HTTP status in one place.
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export type IamErrorCode =
  | 'NoSuchEntity'
  | 'EntityAlreadyExists'
  | 'MalformedPolicyDocument'
  | 'ValidationError'
  | 'LimitExceeded'
  | 'DeleteConflict'
  | 'AccessDenied'
  | 'InvalidAction'
  | 'MissingParameter'
  | 'InvalidParameterValue'
  | 'ServiceFailure';

const KIND: Record<IamErrorCode, ErrorKind> = {
  NoSuchEntity: 'not-found',
  EntityAlreadyExists: 'conflict',
  MalformedPolicyDocument: 'invalid',
  ValidationError: 'invalid',
  LimitExceeded: 'conflict',
  DeleteConflict: 'conflict',
  AccessDenied: 'denied',
  InvalidAction: 'invalid',
  MissingParameter: 'invalid',
  InvalidParameterValue: 'invalid',
  ServiceFailure: 'internal',
};

/** HTTP status IAM answers each error with (botocore's iam model). */
export const IAM_ERROR_STATUS: Record<IamErrorCode, number> = {
  NoSuchEntity: 404,
  EntityAlreadyExists: 409,
  MalformedPolicyDocument: 400,
  ValidationError: 400,
  LimitExceeded: 409,
  DeleteConflict: 409,
  AccessDenied: 403,
  InvalidAction: 400,
  MissingParameter: 400,
  InvalidParameterValue: 400,
  ServiceFailure: 500,
};

export class IamError extends NitrideError {
  declare readonly code: IamErrorCode;

  constructor(code: IamErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, KIND[code], message, context, options);
  }
}
