// STS's errors: `code` goes on the wire unchanged; api.ts maps it to STS's error XML (the
// Query protocol's ErrorResponse, in STS's namespace) and HTTP status in one place.
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export type StsErrorCode = 'AccessDenied' | 'ValidationError' | 'InvalidAction' | 'ServiceFailure';

const KIND: Record<StsErrorCode, ErrorKind> = {
  AccessDenied: 'denied',
  ValidationError: 'invalid',
  InvalidAction: 'invalid',
  ServiceFailure: 'internal',
};

/** The status STS answers each error with. */
export const STS_ERROR_STATUS: Record<StsErrorCode, number> = {
  AccessDenied: 403,
  ValidationError: 400,
  InvalidAction: 400,
  ServiceFailure: 500,
};

export class StsError extends NitrideError {
  declare readonly code: StsErrorCode;

  constructor(code: StsErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(code, KIND[code], message, context);
  }
}
