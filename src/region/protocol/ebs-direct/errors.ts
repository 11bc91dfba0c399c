// EbsDirectError: the one error the EBS direct API's wire layer throws. Its `code` is the
// exception name botocore's `ebs` model (2019-11-02) puts on the wire (ValidationException,
// ResourceNotFoundException, …), `reason` the model's Reason enum value when the shape has one,
// and `httpStatus` the status the model gives the exception.
import { NitrideError, type ErrorKind } from '../../../lib/errors.js';

export type EbsDirectErrorCode =
  | 'ValidationException'
  | 'ResourceNotFoundException'
  | 'AccessDeniedException'
  | 'ConflictException'
  | 'RequestThrottledException'
  | 'ServiceQuotaExceededException'
  | 'ConcurrentLimitExceededException'
  | 'InternalServerException';

export type ValidationReason =
  | 'INVALID_CUSTOMER_KEY'
  | 'INVALID_PAGE_TOKEN'
  | 'INVALID_BLOCK_TOKEN'
  | 'INVALID_GRANT_TOKEN'
  | 'INVALID_SNAPSHOT_ID'
  | 'UNRELATED_SNAPSHOTS'
  | 'INVALID_BLOCK'
  | 'INVALID_CONTENT_ENCODING'
  | 'INVALID_TAG'
  | 'INVALID_DEPENDENCY_REQUEST'
  | 'INVALID_PARAMETER_VALUE'
  | 'INVALID_VOLUME_SIZE'
  | 'CONFLICTING_BLOCK_UPDATE'
  | 'INVALID_IMAGE_ID'
  | 'WRITE_REQUEST_TIMEOUT';

/** The model's httpStatusCode per exception. */
export const EBS_ERROR_STATUS: Readonly<Record<EbsDirectErrorCode, number>> = {
  ValidationException: 400,
  ResourceNotFoundException: 404,
  AccessDeniedException: 403,
  ConflictException: 409,
  RequestThrottledException: 400,
  ServiceQuotaExceededException: 402,
  ConcurrentLimitExceededException: 400,
  InternalServerException: 500,
};

const KIND: Readonly<Record<EbsDirectErrorCode, ErrorKind>> = {
  ValidationException: 'invalid',
  ResourceNotFoundException: 'not-found',
  AccessDeniedException: 'denied',
  ConflictException: 'conflict',
  RequestThrottledException: 'unavailable',
  ServiceQuotaExceededException: 'unavailable',
  ConcurrentLimitExceededException: 'unavailable',
  InternalServerException: 'internal',
};

export class EbsDirectError extends NitrideError {
  declare readonly code: EbsDirectErrorCode;
  readonly reason: string | undefined;
  readonly httpStatus: number;

  constructor(code: EbsDirectErrorCode, message: string, o: { reason?: string; context?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, KIND[code], message, { ...(o.context ?? {}), ...(o.reason !== undefined ? { reason: o.reason } : {}) }, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.reason = o.reason;
    this.httpStatus = EBS_ERROR_STATUS[code];
  }
}

export const isEbsDirectError = (e: unknown): e is EbsDirectError => e instanceof EbsDirectError;

export const validation = (reason: ValidationReason, message: string, context?: Record<string, unknown>): EbsDirectError =>
  new EbsDirectError('ValidationException', message, { reason, ...(context ? { context } : {}) });

export const snapshotNotFound = (snapshotId: string): EbsDirectError =>
  new EbsDirectError('ResourceNotFoundException', `The snapshot '${snapshotId}' does not exist.`, { reason: 'SNAPSHOT_NOT_FOUND', context: { snapshotId } });
