// Organizations at the region's front door: authenticate (SigV4 through IAM's keys), audit,
// call handleOrganizationsRequest, answer. The front door calls serveOrganizations() for every
// request organizationsRoute() accepts, after reading the (bounded) body.
//
// Audit: a refused authentication and every read-only operation are one record written before
// the answer leaves; CreateAccount and CloseAccount get a request record before they act and an
// outcome record after. No record holds an email or the new account's secret key.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecorder } from '../audit/recorder.js';
import type { AuditEvent, AuditUserIdentity } from '../audit/trail.js';
import { authenticate, presentedAccessKeyId, sigV4RequestOf } from '../iam/authenticate.js';
import { auditIdentity, type AccessKeyLookup, type Iam } from '../iam/iam.js';
import { isSigV4Error } from '../iam/sigv4/index.js';
import { kmsAuthError } from '../kms/http.js';
import { handleOrganizationsRequest, organizationsOperationInfo, ORGANIZATIONS_CONTENT_TYPE } from './api.js';
import type { Organization } from './organization.js';

export interface OrganizationsFrontDeps {
  readonly iam: Iam;
  readonly trail: AuditRecorder;
  /** The front door's per-principal throttle; false: answer TooManyRequestsException. */
  readonly admit?: (key: AccessKeyLookup) => boolean;
  readonly organization: Organization;
}

export interface OrganizationsRequestMeta {
  readonly requestId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

function send(res: ServerResponse, requestId: string, status: number, body: string): void {
  res.writeHead(status, { 'content-type': ORGANIZATIONS_CONTENT_TYPE, 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The request's members for the audit record written before the call (no Email). */
function requestParametersFor(body: Buffer): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (k !== 'Email') out[k.charAt(0).toLowerCase() + k.slice(1)] = x;
    return out;
  } catch {
    return null;
  }
}

/** Serves one Organizations request whose body has been read. Resolves after the answer is sent. */
export async function serveOrganizations(deps: OrganizationsFrontDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, meta: OrganizationsRequestMeta): Promise<void> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const { operation, readOnly } = organizationsOperationInfo(target);
  const base = (identity: AuditUserIdentity): AuditEvent => ({
    eventSource: 'organizations.amazonaws.com',
    eventName: operation,
    awsRegion: deps.organization.awsRegion,
    sourceIPAddress: meta.sourceIp,
    ...(meta.userAgent !== undefined ? { userAgent: meta.userAgent } : {}),
    requestID: meta.requestId,
    readOnly,
    userIdentity: identity,
  });
  const sigReq = sigV4RequestOf(req, body);
  let auth;
  try {
    auth = await authenticate(deps.iam, sigReq, { now: new Date(), service: 'organizations', region: deps.organization.awsRegion });
  } catch (e) {
    // JSON-protocol services answer authentication failures alike (KMS's mapping).
    const w = isSigV4Error(e) ? kmsAuthError(e) : { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', status: 400 };
    await deps.trail.record({ ...base(auditIdentity(undefined, presentedAccessKeyId(sigReq))), errorCode: w.code, errorMessage: w.message });
    send(res, meta.requestId, w.status, JSON.stringify({ __type: w.code, Message: w.message }));
    return;
  }
  const { key } = auth;
  const identity = auditIdentity(key.principal, key.accessKeyId);
  // The operation is named by a header: a signature that does not cover it (or the host) could be replayed as another operation.
  const unsigned = ['host', 'x-amz-target'].find((h) => !auth.identity.signedHeaders.includes(h));
  if (unsigned !== undefined) {
    const message = `'${unsigned === 'host' ? 'Host' : 'X-Amz-Target'}' must be a 'SignedHeader' in the AWS Authorization.`;
    await deps.trail.record({ ...base(identity), errorCode: 'InvalidSignatureException', errorMessage: message });
    send(res, meta.requestId, 400, JSON.stringify({ __type: 'InvalidSignatureException', Message: message }));
    return;
  }
  // The per-principal throttle, with Organizations' own code (counted, like every throttle answer).
  if (deps.admit && !deps.admit(key)) {
    const message = 'You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later.';
    await deps.trail.record({ ...base(identity), errorCode: 'TooManyRequestsException', errorMessage: message });
    send(res, meta.requestId, 400, JSON.stringify({ __type: 'TooManyRequestsException', Message: message, Type: 'AccountThrottling' }));
    return;
  }
  const ctx = { context: { 'aws:SourceIp': meta.sourceIp, 'aws:RequestedRegion': auth.identity.region, 'aws:PrincipalAccount': key.accountId } };
  const outcome = (r: Awaited<ReturnType<typeof handleOrganizationsRequest>>) => ({
    responseElements: r.responseElements,
    resources: r.resources.map((ARN) => ({ ARN, type: 'AWS::Organizations::Account' })),
    ...(r.errorCode ? { errorCode: r.errorCode, errorMessage: r.errorMessage ?? '' } : {}),
  });
  if (readOnly) {
    const r = await handleOrganizationsRequest(deps.organization, deps.iam, key.principal, target, body, ctx);
    await deps.trail.record({ ...base(identity), requestParameters: r.requestParameters, ...outcome(r) });
    send(res, meta.requestId, r.status, r.body);
    return;
  }
  const handle = await deps.trail.begin({ ...base(identity), requestParameters: requestParametersFor(body) });
  const r = await handleOrganizationsRequest(deps.organization, deps.iam, key.principal, target, body, ctx);
  await handle.complete(outcome(r));
  send(res, meta.requestId, r.status, r.body);
}
