// KMS at the region's front door (src/region/api/json-door.ts authenticates with SigV4
// service 'kms', throttles, audits and answers): what is KMS's own — its names, its error
// envelope, and what its audit records leave out.
//
// Audit: a refused authentication and every read-only operation are one "complete" record
// (written before the answer leaves); a mutating operation gets a "request" record before it
// acts and an "outcome" record after. No record ever holds Plaintext, CiphertextBlob or a
// grant token (handleKmsRequest leaves them out; the trail's redact() is a second net).
import type { AuthzPrincipal, ConditionContext } from '../iam/policy.js';
import { auditMembersOf, type JsonCallResult } from '../lib/json-protocol.js';
import { handleKmsRequest, kmsOperationInfo } from './api.js';
import { kmsErrorBody } from './errors.js';
import type { Kms } from './kms.js';
import { KMS_REGION } from './model.js';

/** Request members no KMS audit record holds. */
const SECRET_MEMBERS: readonly string[] = ['Plaintext', 'CiphertextBlob', 'GrantTokens', 'GrantToken'];

/** KMS as the JSON 1.1 front door serves it (the door's JsonService). */
export function kmsJsonService(kms: Kms) {
  return {
    signingName: 'kms',
    awsRegion: KMS_REGION,
    eventSource: 'kms.amazonaws.com',
    resourceType: 'AWS::KMS::Key',
    operationInfo: kmsOperationInfo,
    errorBody: (code: string, message: string): string => kmsErrorBody(code, message),
    throttled: { code: 'ThrottlingException', message: 'Rate exceeded' },
    requestParameters: (body: Buffer): Record<string, unknown> | null => auditMembersOf(body, SECRET_MEMBERS),
    call: (principal: AuthzPrincipal, target: string, body: Buffer, ctx: { readonly requestId: string; readonly context: ConditionContext }): Promise<JsonCallResult> => handleKmsRequest(kms, principal, target, body, ctx),
  };
}
