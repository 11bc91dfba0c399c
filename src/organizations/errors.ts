// Organizations' errors (botocore's organizations model, JSON 1.1: every exception is HTTP 400
// except ServiceException, 500). `code` goes on the wire as `__type`; InvalidInputException
// and ConstraintViolationException carry a Reason.
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export type OrganizationsErrorCode =
  | 'AccessDeniedException'
  | 'AccountNotFoundException'
  | 'AccountAlreadyClosedException'
  | 'ConstraintViolationException'
  | 'CreateAccountStatusNotFoundException'
  | 'InvalidInputException'
  | 'SerializationException'
  | 'UnknownOperationException'
  | 'ServiceException';

const KIND: Record<OrganizationsErrorCode, ErrorKind> = {
  AccessDeniedException: 'denied',
  AccountNotFoundException: 'not-found',
  AccountAlreadyClosedException: 'conflict',
  ConstraintViolationException: 'conflict',
  CreateAccountStatusNotFoundException: 'not-found',
  InvalidInputException: 'invalid',
  SerializationException: 'invalid',
  UnknownOperationException: 'invalid',
  ServiceException: 'internal',
};

export class OrganizationsError extends NitrideError {
  declare readonly code: OrganizationsErrorCode;

  constructor(
    code: OrganizationsErrorCode,
    message: string,
    context: Record<string, unknown> = {},
    /** InvalidInputException's or ConstraintViolationException's Reason. */
    readonly reason?: string,
  ) {
    super(code, KIND[code], message, context);
  }

  get httpStatus(): number {
    return this.code === 'ServiceException' ? 500 : 400;
  }

  /** The JSON error document: {"__type", "Message", "Reason"?}. */
  body(): string {
    return JSON.stringify({ __type: this.code, Message: this.message, ...(this.reason !== undefined ? { Reason: this.reason } : {}) });
  }
}

export const invalidInput = (reason: string, message: string): OrganizationsError => new OrganizationsError('InvalidInputException', message, {}, reason);
