// The region's front door for the JSON 1.1 services (KMS, Organizations): one path for what
// they do alike, after the body has been read (bounded, server.ts):
//   1. authenticate: SigV4 through IAM's keys, scoped to this region and the service, with
//      `host` and `x-amz-target` among the signed headers (the operation is named by a header:
//      an unsigned one would let a captured DescribeKey be replayed as DisableKey); a failure is
//      answered in the JSON services' words (jsonAuthError) and audited with the key presented;
//   2. the per-principal throttle, with the service's own code;
//   3. the call: a read-only operation is one audit record written before the answer leaves; a
//      mutating one gets a request record before it acts and an outcome record after.
// Each service (src/kms/http.ts, src/organizations/http.ts) says what differs: its names, its
// error envelope, what its audit records leave out and its handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecorder } from '../../audit/recorder.js';
import type { AuditEvent, AuditOutcome, AuditUserIdentity } from '../../audit/trail.js';
import { authenticate, presentedAccessKeyId, sigV4RequestOf, type Authenticated } from '../../iam/authenticate.js';
import { auditIdentity, type AccessKeyLookup, type Iam } from '../../iam/iam.js';
import type { AuthzPrincipal, ConditionContext } from '../../iam/policy.js';
import { EXPIRED_TOKEN_MESSAGE, isSigV4Error, type SigV4Error } from '../../iam/sigv4/index.js';
import { JSON_1_1_CONTENT_TYPE, targetOf, type JsonCallResult } from '../../lib/json-protocol.js';
import { createLogger } from '../../lib/log.js';

const log = createLogger('region.json-door');

/** What one JSON 1.1 service tells the door. */
export interface JsonService {
  /** SigV4 signing name ('kms', 'organizations'). */
  readonly signingName: string;
  readonly awsRegion: string;
  /** The audit records' eventSource ('kms.amazonaws.com'). */
  readonly eventSource: string;
  /** The audit records' resource type ('AWS::KMS::Key'). */
  readonly resourceType: string;
  operationInfo(target: string): { operation: string; readOnly: boolean };
  /** The service's error envelope; `extra` members go beside __type and the message. */
  errorBody(code: string, message: string, extra?: Record<string, string>): string;
  /** The per-principal throttle's answer. */
  readonly throttled: { readonly code: string; readonly message: string; readonly extra?: Record<string, string> };
  /** The request record's parameters, before a mutating call acts. */
  requestParameters(body: Buffer): Record<string, unknown> | null;
  /** Runs one authenticated call (the service authorizes it). */
  call(principal: AuthzPrincipal, target: string, body: Buffer, ctx: { readonly requestId: string; readonly context: ConditionContext }): Promise<JsonCallResult>;
}

export interface JsonDoorDeps {
  readonly iam: Iam;
  readonly trail: AuditRecorder;
  /** The per-principal throttle: false refuses the request with the service's throttling code. */
  readonly admit?: (key: AccessKeyLookup) => boolean;
}

export interface JsonRequestMeta {
  readonly requestId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** Headers the JSON services require among the signed ones, besides 'host'. */
export const JSON_SIGNED_HEADERS: readonly string[] = ['x-amz-target'];

const INVALID_TOKEN = 'The security token included in the request is invalid.';

/** The JSON services' answer to a failed SigV4 check (KMS's words; Organizations answers alike). */
export function jsonAuthError(e: SigV4Error): { code: string; message: string; status: number } {
  switch (e.reason) {
    case 'missing':
      return { code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token', status: 400 };
    case 'malformed':
      return { code: 'IncompleteSignatureException', message: e.message, status: 400 };
    case 'unknown-key':
      return { code: 'UnrecognizedClientException', message: INVALID_TOKEN, status: 400 };
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

/** Serves one request of a JSON 1.1 service whose body has been read. Resolves after the answer is sent. */
export async function serveJsonService(svc: JsonService, deps: JsonDoorDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, meta: JsonRequestMeta): Promise<void> {
  const send = (status: number, text: string): void => {
    res.writeHead(status, { 'content-type': JSON_1_1_CONTENT_TYPE, 'x-amzn-requestid': meta.requestId, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const target = targetOf(req.headers) ?? '';
  const { operation, readOnly } = svc.operationInfo(target);
  const base = (identity: AuditUserIdentity): AuditEvent => ({
    eventSource: svc.eventSource,
    eventName: operation,
    awsRegion: svc.awsRegion,
    sourceIPAddress: meta.sourceIp,
    ...(meta.userAgent !== undefined ? { userAgent: meta.userAgent } : {}),
    requestID: meta.requestId,
    readOnly,
    userIdentity: identity,
  });

  const sigReq = sigV4RequestOf(req, body);
  let auth: Authenticated;
  try {
    auth = await authenticate(deps.iam, sigReq, { now: new Date(), service: svc.signingName, region: svc.awsRegion, requiredSignedHeaders: JSON_SIGNED_HEADERS });
  } catch (e) {
    const w = isSigV4Error(e) ? jsonAuthError(e) : { code: 'UnrecognizedClientException', message: INVALID_TOKEN, status: 400 };
    if (!isSigV4Error(e)) log.error('authentication failed unexpectedly', { requestId: meta.requestId, service: svc.signingName, error: String(e) });
    await deps.trail.record({ ...base(auditIdentity(undefined, presentedAccessKeyId(sigReq))), errorCode: w.code, errorMessage: w.message });
    send(w.status, svc.errorBody(w.code, w.message));
    return;
  }
  const { key } = auth;
  const identity = auditIdentity(key.principal, key.accessKeyId);
  if (deps.admit && !deps.admit(key)) {
    const t = svc.throttled;
    await deps.trail.record({ ...base(identity), errorCode: t.code, errorMessage: t.message });
    send(400, svc.errorBody(t.code, t.message, t.extra));
    return;
  }

  const ctx = { requestId: meta.requestId, context: { 'aws:SourceIp': meta.sourceIp, 'aws:RequestedRegion': auth.identity.region, 'aws:PrincipalAccount': key.accountId } };
  const outcome = (r: JsonCallResult): AuditOutcome => ({
    responseElements: r.responseElements,
    resources: r.resources.map((ARN) => ({ ARN, type: svc.resourceType })),
    ...(r.errorCode ? { errorCode: r.errorCode, errorMessage: r.errorMessage ?? '' } : {}),
  });
  if (readOnly) {
    const r = await svc.call(key.principal, target, body, ctx);
    await deps.trail.record({ ...base(identity), requestParameters: r.requestParameters, ...outcome(r) });
    send(r.status, r.body);
    return;
  }
  const handle = await deps.trail.begin({ ...base(identity), requestParameters: svc.requestParameters(body) });
  const r = await svc.call(key.principal, target, body, ctx);
  await handle.complete(outcome(r));
  send(r.status, r.body);
}
