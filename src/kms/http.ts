// KMS at the region's front door: authenticate (SigV4, service 'kms'), audit, call
// handleKmsRequest, answer. The front door calls serveKms() for every request kmsRoute()
// accepts, after reading the (bounded) body and before parsing any form.
//
// Audit: a refused authentication and every read-only operation are one "complete" record
// (written before the answer leaves); a mutating operation gets a "request" record before it
// acts and an "outcome" record after. No record ever holds Plaintext, CiphertextBlob or a
// grant token (handleKmsRequest leaves them out; the trail's redact() is a second net).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecorder } from '../audit/recorder.js';
import type { AuditEvent, AuditUserIdentity } from '../audit/trail.js';
import { authenticate, presentedAccessKeyId, sigV4RequestOf } from '../iam/authenticate.js';
import { auditIdentity, type AccessKeyLookup, type Iam } from '../iam/iam.js';
import { EXPIRED_TOKEN_MESSAGE, isSigV4Error, type SigV4Error } from '../iam/sigv4/index.js';
import { createLogger } from '../lib/log.js';
import { KMS_CONTENT_TYPE, handleKmsRequest, kmsOperationInfo } from './api.js';
import { kmsErrorBody } from './errors.js';
import type { Kms } from './kms.js';
import { KMS_REGION } from './model.js';

const log = createLogger('kms.http');

export interface KmsFrontDeps {
  readonly iam: Iam;
  readonly trail: AuditRecorder;
  /** The per-principal throttle: false refuses the request (ThrottlingException). */
  readonly admit?: (key: AccessKeyLookup) => boolean;
  readonly kms: Kms;
}

export interface KmsRequestMeta {
  readonly requestId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/**
 * Headers KMS requires among the signed ones, besides 'host': the operation is named by
 * X-Amz-Target, so an unsigned target would let a captured DescribeKey be replayed as
 * DisableKey. (Content-Type is not required: KMS reads the body as JSON whatever it says.)
 */
export const KMS_SIGNED_HEADERS: readonly string[] = ['x-amz-target'];

/** KMS's answer to a failed SigV4 check. */
export function kmsAuthError(e: SigV4Error): { code: string; message: string; status: number } {
  switch (e.reason) {
    case 'missing':
      return { code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token', status: 400 };
    case 'malformed':
      return { code: 'IncompleteSignatureException', message: e.message, status: 400 };
    case 'unknown-key':
      return { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', status: 400 };
    case 'expired':
      return { code: 'InvalidSignatureException', message: 'Signature expired or not yet valid.', status: 400 };
    case 'expired-token':
      return { code: 'ExpiredTokenException', message: EXPIRED_TOKEN_MESSAGE, status: 400 };
    case 'scope':
      return { code: 'InvalidSignatureException', message: e.message, status: 400 };
    default:
      return {
        code: 'InvalidSignatureException',
        message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
        status: 400,
      };
  }
}

function send(res: ServerResponse, requestId: string, status: number, body: string): void {
  res.writeHead(status, { 'content-type': KMS_CONTENT_TYPE, 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Serves one KMS request whose body has been read. Resolves after the answer is sent. */
export async function serveKms(deps: KmsFrontDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, meta: KmsRequestMeta): Promise<void> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const { operation, readOnly } = kmsOperationInfo(target);
  const base = (identity: AuditUserIdentity): AuditEvent => ({
    eventSource: 'kms.amazonaws.com',
    eventName: operation,
    awsRegion: KMS_REGION,
    sourceIPAddress: meta.sourceIp,
    ...(meta.userAgent !== undefined ? { userAgent: meta.userAgent } : {}),
    requestID: meta.requestId,
    readOnly,
    userIdentity: identity,
  });

  const sigReq = sigV4RequestOf(req, body);
  let key: AccessKeyLookup;
  try {
    ({ key } = await authenticate(deps.iam, sigReq, { now: new Date(), service: 'kms', region: KMS_REGION, requiredSignedHeaders: KMS_SIGNED_HEADERS }));
  } catch (e) {
    const w = isSigV4Error(e) ? kmsAuthError(e) : { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', status: 400 };
    if (!isSigV4Error(e)) log.error('authentication failed unexpectedly', { requestId: meta.requestId, error: String(e) });
    await deps.trail.record({ ...base(auditIdentity(undefined, presentedAccessKeyId(sigReq))), errorCode: w.code, errorMessage: w.message });
    send(res, meta.requestId, w.status, kmsErrorBody(w.code, w.message));
    return;
  }
  const identity = auditIdentity(key.principal, key.accessKeyId);
  if (deps.admit && !deps.admit(key)) {
    await deps.trail.record({ ...base(identity), errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' });
    send(res, meta.requestId, 400, kmsErrorBody('ThrottlingException', 'Rate exceeded'));
    return;
  }
  const ctx = { requestId: meta.requestId, context: { 'aws:SourceIp': meta.sourceIp, 'aws:RequestedRegion': KMS_REGION, 'aws:PrincipalAccount': key.accountId } };
  const resourcesOf = (arns: readonly string[]) => arns.map((ARN) => ({ ARN, type: 'AWS::KMS::Key' }));

  if (readOnly) {
    const r = await handleKmsRequest(deps.kms, key.principal, target, body, ctx);
    await deps.trail.record({
      ...base(identity),
      requestParameters: r.requestParameters,
      responseElements: r.responseElements,
      resources: resourcesOf(r.resources),
      ...(r.errorCode ? { errorCode: r.errorCode, errorMessage: r.errorMessage ?? '' } : {}),
    });
    send(res, meta.requestId, r.status, r.body);
    return;
  }
  const handle = await deps.trail.begin({ ...base(identity), requestParameters: requestParametersFor(body) });
  const r = await handleKmsRequest(deps.kms, key.principal, target, body, ctx);
  await handle.complete({
    responseElements: r.responseElements,
    resources: resourcesOf(r.resources),
    ...(r.errorCode ? { errorCode: r.errorCode, errorMessage: r.errorMessage ?? '' } : {}),
  });
  send(res, meta.requestId, r.status, r.body);
}

/** The request record's parameters, before the call (same filtering as handleKmsRequest's). */
function requestParametersFor(body: Buffer): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'Plaintext' || k === 'CiphertextBlob' || k === 'GrantTokens' || k === 'GrantToken') continue;
      out[k.charAt(0).toLowerCase() + k.slice(1)] = x;
    }
    return out;
  } catch {
    return null;
  }
}
