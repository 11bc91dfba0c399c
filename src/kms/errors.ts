// KMS errors: a KmsError carries the KMS exception name as its stable `code`. The one edge
// mapping to the wire (JSON 1.1: {"__type": code, "message": …} and an HTTP status) is
// kmsErrorBody() / kmsErrorStatus().
//
// Status: real KMS answers every client error with HTTP 400 (SDK traces read "Status Code:
// 400; Error Code: NotFoundException"), whatever httpError the Smithy model annotates, and
// 500/503 for its server faults. The SDKs and botocore pick the exception from __type, so the
// status only has to be in the right class.
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export type KmsErrorCode =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'DisabledException'
  | 'IncorrectKeyException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidGrantIdException'
  | 'InvalidGrantTokenException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'KMSInternalException'
  | 'KMSInvalidStateException'
  | 'LimitExceededException'
  | 'MalformedPolicyDocumentException'
  | 'NotFoundException'
  | 'TagException'
  | 'UnsupportedOperationException'
  | 'ValidationException'
  | 'SerializationException'
  | 'UnknownOperationException'
  | 'DryRunOperationException'
  // authentication, answered before any KMS logic runs
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException'
  | 'IncompleteSignatureException'
  | 'MissingAuthenticationTokenException'
  | 'RequestExpired';

const KIND: Readonly<Record<KmsErrorCode, ErrorKind>> = {
  AccessDeniedException: 'denied',
  AlreadyExistsException: 'conflict',
  DisabledException: 'conflict',
  IncorrectKeyException: 'invalid',
  InvalidAliasNameException: 'invalid',
  InvalidArnException: 'invalid',
  InvalidCiphertextException: 'invalid',
  InvalidGrantIdException: 'invalid',
  InvalidGrantTokenException: 'invalid',
  InvalidKeyUsageException: 'invalid',
  InvalidMarkerException: 'invalid',
  KMSInternalException: 'internal',
  KMSInvalidStateException: 'conflict',
  LimitExceededException: 'conflict',
  MalformedPolicyDocumentException: 'invalid',
  NotFoundException: 'not-found',
  TagException: 'invalid',
  UnsupportedOperationException: 'invalid',
  ValidationException: 'invalid',
  SerializationException: 'invalid',
  UnknownOperationException: 'invalid',
  DryRunOperationException: 'conflict',
  UnrecognizedClientException: 'denied',
  InvalidSignatureException: 'denied',
  IncompleteSignatureException: 'invalid',
  MissingAuthenticationTokenException: 'denied',
  RequestExpired: 'denied',
};

export class KmsError extends NitrideError {
  declare readonly code: KmsErrorCode;

  constructor(code: KmsErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, KIND[code], message, context, options);
  }
}

export function isKmsError(e: unknown): e is KmsError {
  return e instanceof KmsError;
}

/** The HTTP status KMS answers an exception with. */
export function kmsErrorStatus(code: string): number {
  switch (code) {
    case 'KMSInternalException':
    case 'KeyUnavailableException':
      return 500;
    case 'DependencyTimeoutException':
      return 503;
    case 'DryRunOperationException':
      return 412;
    default:
      return 400;
  }
}

/** A KMS JSON 1.1 error body: {"__type":"NotFoundException","message":"…"}. */
export function kmsErrorBody(code: string, message: string): string {
  return JSON.stringify({ __type: code, message });
}

export const validation = (message: string, context: Record<string, unknown> = {}): KmsError => new KmsError('ValidationException', message, context);
