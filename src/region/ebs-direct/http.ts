// The EBS direct APIs at the region's front door (rest-json, SigV4 service name `ebs`). The
// front door calls serveEbsDirect() for every request under /snapshots, after reading the
// (bounded) body. Steps, as for EC2 and KMS: match the route; authenticate (SigV4 against
// IAM's keys; UNSIGNED-PAYLOAD is accepted only for PutSnapshotBlock, whose body the signed
// x-amz-Checksum header covers instead); parse into a typed request; authorize
// (`ebs:<Operation>` on arn:aws:ec2:local-1::snapshot/<id>); write the audit record (a
// mutating call: before it acts, and its outcome after); act; answer.
// Audit records never hold block data or block tokens.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecorder } from '../../audit/recorder.js';
import type { AuditEvent, AuditUserIdentity } from '../../audit/trail.js';
import { authenticate, presentedAccessKeyId } from '../../iam/authenticate.js';
import { auditIdentity, type AccessKeyLookup, type Iam } from '../../iam/iam.js';
import { EXPIRED_TOKEN_MESSAGE, isSigV4Error, type SigV4Error } from '../../iam/sigv4/index.js';
import { describeError, isNitrideError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { REGION_NAME } from '../ec2/model.js';
import type { Caller } from '../ec2/instances.js';
import { EbsDirectError, isEbsDirectError } from '../protocol/ebs-direct/errors.js';
import { auditParameters, parseEbsRequest, type EbsRequest } from '../protocol/ebs-direct/requests.js';
import {
  renderCompleteSnapshot,
  renderEbsError,
  renderGetSnapshotBlock,
  renderListChangedBlocks,
  renderListSnapshotBlocks,
  renderPutSnapshotBlock,
  renderStartSnapshot,
  type EbsReply,
} from '../protocol/ebs-direct/responses.js';
import { EBS_READ_ONLY, matchEbsRoute } from '../protocol/ebs-direct/routes.js';
import type { EbsDirectService } from './service.js';

const log = createLogger('region.ebs-direct.http');

export interface EbsDirectFrontDeps {
  readonly iam: Iam;
  readonly trail: AuditRecorder;
  /** The per-principal throttle: false refuses the request (RequestThrottledException). */
  readonly admit?: (key: AccessKeyLookup) => boolean;
  readonly service: EbsDirectService;
}

export interface EbsRequestMeta {
  readonly requestId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** The EBS direct APIs' answer to a failed SigV4 check (the rest-json services' common errors). */
export function ebsAuthError(e: SigV4Error): { code: 'MissingAuthenticationTokenException' | 'UnrecognizedClientException' | 'InvalidSignatureException' | 'IncompleteSignatureException' | 'ExpiredTokenException'; message: string; status: number } {
  switch (e.reason) {
    case 'missing':
      return { code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token', status: 403 };
    case 'malformed':
      return { code: 'IncompleteSignatureException', message: e.message, status: 403 };
    case 'unknown-key':
      return { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.', status: 403 };
    case 'expired':
      return { code: 'InvalidSignatureException', message: 'Signature expired or not yet valid.', status: 403 };
    case 'expired-token':
      return { code: 'ExpiredTokenException', message: EXPIRED_TOKEN_MESSAGE, status: 403 };
    default:
      return { code: 'InvalidSignatureException', message: e.message, status: 403 };
  }
}

const snapshotArn = (id: string): string => `arn:aws:ec2:${REGION_NAME}::snapshot/${id}`;

function resourceOf(r: EbsRequest): string[] {
  switch (r.operation) {
    case 'StartSnapshot':
      return [snapshotArn('*'), ...(r.parentSnapshotId !== undefined ? [snapshotArn(r.parentSnapshotId)] : [])];
    case 'ListChangedBlocks':
      return [snapshotArn(r.secondSnapshotId), ...(r.firstSnapshotId !== undefined ? [snapshotArn(r.firstSnapshotId)] : [])];
    default:
      return [snapshotArn(r.snapshotId)];
  }
}

function send(res: ServerResponse, requestId: string, r: EbsReply): void {
  res.writeHead(r.status, { ...r.headers, 'x-amzn-requestid': requestId, 'content-length': r.body.length });
  res.end(r.body);
}

/** Any error as the EBS direct APIs answer it; internal failures are logged, never described on the wire. */
export function ebsErrorReply(e: unknown, requestId: string): EbsReply {
  if (isEbsDirectError(e)) {
    if (e.code === 'InternalServerException') log.error('internal error', { requestId, error: describeError(e.cause ?? e) });
    return renderEbsError(e.code, e.message, e.reason);
  }
  if (isNitrideError(e) && e.kind === 'invalid') return renderEbsError('ValidationException', e.message, 'INVALID_PARAMETER_VALUE');
  log.error('internal error', { requestId, error: describeError(e) });
  return renderEbsError('InternalServerException', 'An internal error has occurred.');
}

async function execute(svc: EbsDirectService, caller: Caller, r: EbsRequest): Promise<{ reply: EbsReply; summary: Record<string, unknown> }> {
  switch (r.operation) {
    case 'StartSnapshot': {
      const s = await svc.start(caller, r);
      return { reply: renderStartSnapshot(s), summary: { snapshotId: s.snapshotId, status: s.status } };
    }
    case 'PutSnapshotBlock': {
      const checksum = await svc.putBlock(caller, r);
      return { reply: renderPutSnapshotBlock(checksum), summary: { checksum } };
    }
    case 'CompleteSnapshot': {
      const status = await svc.complete(caller, r);
      return { reply: renderCompleteSnapshot(status), summary: { status } };
    }
    case 'ListSnapshotBlocks': {
      const p = await svc.listBlocks(caller, r);
      return { reply: renderListSnapshotBlocks(p), summary: { blocks: p.blocks.length } };
    }
    case 'ListChangedBlocks': {
      const p = await svc.listChanged(caller, r);
      return { reply: renderListChangedBlocks(p), summary: { changedBlocks: p.blocks.length } };
    }
    case 'GetSnapshotBlock': {
      const b = await svc.getBlock(caller, r);
      return { reply: renderGetSnapshotBlock(b.data, b.checksum), summary: { dataLength: b.data.length } };
    }
  }
}

/** Serves one EBS direct API request whose body has been read. Resolves after the answer is sent. */
export async function serveEbsDirect(deps: EbsDirectFrontDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, meta: EbsRequestMeta): Promise<void> {
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  const path = qi < 0 ? url : url.slice(0, qi);
  const query = qi < 0 ? '' : url.slice(qi + 1);
  const route = matchEbsRoute(req.method ?? 'GET', path);
  const operation = route?.operation ?? 'Unknown';
  const readOnly = route ? EBS_READ_ONLY[route.operation] : false;
  const base = (identity: AuditUserIdentity): AuditEvent => ({
    eventSource: 'ebs.amazonaws.com',
    eventName: operation,
    awsRegion: REGION_NAME,
    sourceIPAddress: meta.sourceIp,
    ...(meta.userAgent !== undefined ? { userAgent: meta.userAgent } : {}),
    requestID: meta.requestId,
    readOnly,
    userIdentity: identity,
  });

  // authentication first: nothing about the API is told to an unauthenticated caller
  const sigReq = { method: req.method ?? 'GET', path, query, headers: req.headersDistinct as Record<string, string[]>, body };
  let key: AccessKeyLookup;
  try {
    ({ key } = await authenticate(deps.iam, sigReq, { now: new Date(), region: REGION_NAME, service: 'ebs', allowUnsignedPayload: operation === 'PutSnapshotBlock' }));
  } catch (e) {
    const w = isSigV4Error(e) ? ebsAuthError(e) : { code: 'UnrecognizedClientException' as const, message: 'The security token included in the request is invalid.', status: 403 };
    if (!isSigV4Error(e)) log.error('authentication failed unexpectedly', { requestId: meta.requestId, error: describeError(e) });
    await deps.trail.record({ ...base(auditIdentity(undefined, presentedAccessKeyId(sigReq))), errorCode: w.code, errorMessage: w.message });
    send(res, meta.requestId, renderEbsError(w.code, w.message, undefined, w.status));
    return;
  }
  const identity = auditIdentity(key.principal, key.accessKeyId);
  const caller: Caller = { accountId: key.accountId, arn: identity.arn ?? '' };

  const refuse = async (e: unknown, params: Record<string, unknown> | null, resources: readonly string[]): Promise<void> => {
    const reply = ebsErrorReply(e, meta.requestId);
    const code = reply.headers['x-amzn-errortype'] ?? 'InternalServerException';
    await deps.trail.record({
      ...base(identity),
      ...(params ? { requestParameters: params } : {}),
      resources: resources.map((ARN) => ({ ARN, type: 'AWS::EC2::Snapshot' })),
      errorCode: code,
      errorMessage: e instanceof Error ? e.message : String(e),
    });
    send(res, meta.requestId, reply);
  };

  if (deps.admit && !deps.admit(key)) {
    await refuse(new EbsDirectError('RequestThrottledException', 'Rate exceeded', { reason: 'ACCOUNT_THROTTLED' }), null, []);
    return;
  }
  if (!route) {
    const reply = renderEbsError('UnknownOperationException', `No EBS direct API operation is ${req.method ?? ''} ${path.slice(0, 128)}.`, undefined, 404);
    await deps.trail.record({ ...base(identity), errorCode: 'UnknownOperationException', errorMessage: 'Unknown operation.' });
    send(res, meta.requestId, reply);
    return;
  }
  let r: EbsRequest;
  try {
    r = parseEbsRequest(route, query, req.headers, body);
  } catch (e) {
    await refuse(e, null, []);
    return;
  }
  const params = auditParameters(r);
  const resources = resourceOf(r);
  const decision = await deps.iam.authorize({
    principal: key.principal,
    action: `ebs:${r.operation}`,
    resources: resources.map((arn) => ({ arn })),
    context: { 'aws:SourceIp': meta.sourceIp, 'aws:RequestedRegion': REGION_NAME, 'aws:PrincipalAccount': key.accountId },
  });
  if (decision.decision !== 'allow') {
    await refuse(new EbsDirectError('AccessDeniedException', `User: ${caller.arn} is not authorized to perform: ebs:${r.operation}`, { reason: 'UNAUTHORIZED_ACCOUNT' }), params, resources);
    return;
  }

  if (readOnly) {
    // a read's only effect is its answer: the record is durable before the answer leaves
    let out;
    try {
      out = await execute(deps.service, caller, r);
    } catch (e) {
      await refuse(e, params, resources);
      return;
    }
    await deps.trail.record({ ...base(identity), requestParameters: params, responseElements: out.summary, resources: resources.map((ARN) => ({ ARN, type: 'AWS::EC2::Snapshot' })) });
    send(res, meta.requestId, out.reply);
    return;
  }
  const handle = await deps.trail.begin({ ...base(identity), requestParameters: params, resources: resources.map((ARN) => ({ ARN, type: 'AWS::EC2::Snapshot' })) });
  try {
    const out = await execute(deps.service, caller, r);
    await handle.complete({ responseElements: out.summary });
    send(res, meta.requestId, out.reply);
  } catch (e) {
    const reply = ebsErrorReply(e, meta.requestId);
    await handle.complete({ errorCode: reply.headers['x-amzn-errortype'] ?? 'InternalServerException', errorMessage: e instanceof Error ? e.message : String(e) });
    send(res, meta.requestId, reply);
  }
}
