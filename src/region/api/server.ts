// The region's front door on http://127.0.0.1:${NITRIDE_API_PORT}/, or https:// with a server
// certificate (FrontDoor.tls; plain HTTP only on loopback, see listen()). Every request goes
// through the same steps, in this order:
//   0. admission (admission.ts): connection and header limits, the body's bound (small until
//      the headers present a known key), refusals counted instead of written one by one;
//   1. read the body (bounded) and parse the form;
//   2. authenticate: SigV4 (header or presigned query), secret looked up through IAM, then
//      the per-principal throttle (throttle.ts);
//   3. parse the action into a typed request (EC2) or hand it to IAM's Query API;
//   4. authorize with IAM policies (explicit deny > allow > implicit deny); DryRun stops here;
//   5. write the audit record (fsynced) — before any effect;
//   6. execute, render, and record the outcome.
// A failure at any step is audited too and answered in the protocol's own error shape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import type { AuditRecorder } from '../../audit/recorder.js';
import type { AuditEvent, AuditTrail, AuditUserIdentity } from '../../audit/trail.js';
import type { Iam } from '../../iam/iam.js';
import { handleIamRequest, iamErrorXml, iamRequestInfo } from '../../iam/api.js';
import { handleStsRequest, isStsAction, stsErrorXml } from '../../sts/api.js';
import { isSigV4Error, type SigV4Identity } from '../../iam/sigv4/index.js';
import { authenticate, presentedAccessKeyId } from '../../iam/authenticate.js';
import { auditIdentity, type AccessKeyLookup } from '../../iam/iam.js';
import { describeError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { newRequestId } from '../ids.js';
import { requestParams, type FlatParams } from '../protocol/query.js';
import { EC2_MUTATING_ACTIONS, isEc2Action, parseEc2Request, type Ec2Request } from '../protocol/ec2/requests/index.js';
import { EC2_CONTENT_TYPE, renderEc2Error, renderEc2Response } from '../protocol/ec2/responses/index.js';
import { Ec2Error, ec2WireError, isEc2Error } from '../protocol/errors.js';
import { REGION_NAME } from '../ec2/model.js';
import type { Caller } from '../ec2/instances.js';
import { ec2Resources, handleEc2, responseSummary, type Ec2Services } from './actions/index.js';
import { KMS_CONTENT_TYPE, kmsRoute } from '../../kms/api.js';
import { kmsErrorBody } from '../../kms/errors.js';
import { renderEbsError } from '../protocol/ebs-direct/responses.js';
import { readRequestBody } from './request-body.js';
import { kmsJsonService } from '../../kms/http.js';
import type { Kms } from '../../kms/kms.js';
import { serveEbsDirect } from '../ebs-direct/http.js';
import type { EbsDirectService } from '../ebs-direct/service.js';
import { isEbsDirectPath } from '../protocol/ebs-direct/routes.js';
import { organizationsRoute } from '../../organizations/api.js';
import { organizationsJsonService } from '../../organizations/http.js';
import { serveJsonService } from './json-door.js';
import type { Organization } from '../../organizations/organization.js';
import { Admission } from './admission.js';
import { apiLimits, type ApiLimits } from './limits.js';

const log = createLogger('region.api');

export interface FrontDoor {
  readonly iam: Iam;
  readonly trail: AuditTrail;
  readonly ec2: Ec2Services;
  readonly kms: Kms;
  /** The EBS direct APIs (rest-json under /snapshots); absent: those paths go to the Query APIs. */
  readonly ebsDirect?: EbsDirectService;
  /** The region's organization (Organizations' account operations, JSON 1.1); absent: not served. */
  readonly organization?: Organization;
  /** The front door's limits (default: apiLimits(), the defaults with NITRIDE_API_* applied). */
  readonly limits?: ApiLimits;
  /** Serve HTTPS with this certificate chain and key (PEM); absent: plain HTTP, loopback only. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
}

/** Whether HOST names only this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Before authentication, at most this much of an oversized body is read and discarded for its 413. */
const PRE_AUTH_DRAIN_BYTES = 64 * 1024;
const PRE_AUTH_DRAIN_MS = 1_000;

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const paramsObject = (flat: FlatParams): Record<string, string> => {
  const o: Record<string, string> = {};
  for (const [k, v] of flat) if (k !== 'Action' && k !== 'Version' && !k.startsWith('X-Amz-')) o[k] = v;
  return o;
};

export class RegionApi {
  readonly server: Server;
  readonly admission: Admission;
  /** Whether the front door speaks HTTPS. */
  readonly tls: boolean;
  /** The front door's collaborators, auditing through the admission's refusal ledger. */
  private readonly fd: Omit<FrontDoor, 'trail'> & { readonly trail: AuditRecorder };

  constructor(front: FrontDoor) {
    this.admission = new Admission(front.limits ?? apiLimits(), front.trail, front.iam);
    this.fd = { ...front, trail: this.admission.refusals };
    this.tls = front.tls !== undefined;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((e: unknown) => {
        log.error('unhandled error in the front door', { error: describeError(e) });
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': EC2_CONTENT_TYPE });
          res.end(renderEc2Error(newRequestId(), 'InternalError', 'An internal error has occurred').body);
        }
      });
    };
    // https.Server is an http.Server over TLS: the same request handling and admission limits.
    this.server = front.tls
      ? (createHttpsServer({ ...this.admission.serverOptions(), cert: front.tls.certPem, key: front.tls.keyPem, minVersion: 'TLSv1.2' }, onRequest) as unknown as Server)
      : createServer(this.admission.serverOptions(), onRequest);
    this.admission.attach(this.server);
  }

  /** Listens on HOST:PORT; refuses a non-loopback HOST without TLS (credentials and secrets would cross the network in clear). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    if (!this.tls && !isLoopbackHost(host)) {
      return Promise.reject(new Error(`The region API serves plain HTTP only on loopback; refusing to listen on ${host} without TLS (set NITRIDE_API_TLS=1 or pass --tls).`));
    }
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.admission.close();
  }

  private send(res: ServerResponse, requestId: string, r: Reply): void {
    res.writeHead(r.status, { 'content-type': r.contentType, 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(r.body) });
    res.end(r.body);
  }

  /**
   * 413 in the shape of the service the request was for, with Connection: close. The body was
   * read and discarded first (readRequestBody), so the client reads this answer instead of a
   * reset; when it was too long even to discard, the socket is closed once the answer is out.
   */
  private async refuseTooLarge(req: IncomingMessage, res: ServerResponse, requestId: string, path: string, base: (src: string, name: string, ro: boolean) => Omit<AuditEvent, 'userIdentity'>, drained: boolean, limit: number): Promise<void> {
    const message = `Request body larger than ${limit} bytes.`;
    const ebs = this.fd.ebsDirect !== undefined && isEbsDirectPath(path);
    const kms = !ebs && kmsRoute(req.headers);
    const code = ebs || kms ? 'ValidationException' : 'RequestEntityTooLarge';
    await this.fd.trail.record({ ...base(ebs ? 'ebs.amazonaws.com' : kms ? 'kms.amazonaws.com' : 'ec2.amazonaws.com', 'Unknown', false), userIdentity: { type: 'Unknown' }, errorCode: code, errorMessage: message });
    res.shouldKeepAlive = false;
    if (!drained) res.on('finish', () => req.socket.destroySoon());
    if (ebs) {
      const r = renderEbsError('ValidationException', message, undefined, 413);
      res.writeHead(r.status, { ...r.headers, 'x-amzn-requestid': requestId, 'content-length': r.body.length, connection: 'close' });
      res.end(r.body);
    } else if (kms) {
      const body = kmsErrorBody(code, message);
      res.writeHead(413, { 'content-type': KMS_CONTENT_TYPE, 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    } else {
      const r = renderEc2Error(requestId, code, message, 413);
      res.writeHead(r.status, { 'content-type': EC2_CONTENT_TYPE, 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(r.body), connection: 'close' });
      res.end(r.body);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    const sourceIp = req.socket.remoteAddress ?? '';
    const userAgent = typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined;
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query = qi < 0 ? '' : url.slice(qi + 1);

    const base = (eventSource: string, eventName: string, readOnly: boolean): Omit<AuditEvent, 'userIdentity'> => ({
      eventSource,
      eventName,
      awsRegion: REGION_NAME,
      sourceIPAddress: sourceIp,
      ...(userAgent !== undefined ? { userAgent } : {}),
      requestID: requestId,
      readOnly,
    });

    // The body's bound is small until the headers present an active key with a fresh date
    // (admission.ts); an oversized body is drained (less of it before authentication) so the
    // 413 reaches the client before the connection closes.
    const bodyLimit = await this.admission.bodyLimit(req);
    const trusted = bodyLimit >= this.admission.limits.maxBodyBytes;
    const read = await readRequestBody(req, { maxBytes: bodyLimit, ...(trusted ? {} : { maxDrainBytes: PRE_AUTH_DRAIN_BYTES, maxDrainMs: PRE_AUTH_DRAIN_MS }) });
    if (read.kind === 'aborted') {
      // The client went away mid-body: nobody to answer, nothing to audit, not an error of ours.
      log.debug('client closed the connection before sending the whole request body', { requestId, sourceIp, received: read.received });
      return;
    }
    if (read.kind === 'too-large') {
      await this.refuseTooLarge(req, res, requestId, path, base, read.drained, bodyLimit);
      return;
    }
    const body = read.body;

    // The EBS direct APIs (rest-json, SigV4 service 'ebs', paths under /snapshots) likewise.
    if (this.fd.ebsDirect && isEbsDirectPath(path)) {
      await serveEbsDirect({ iam: this.fd.iam, trail: this.fd.trail, service: this.fd.ebsDirect, admit: (k) => this.admission.throttle.admit(k) }, req, res, body, { requestId, sourceIp, ...(userAgent !== undefined ? { userAgent } : {}) });
      return;
    }

    // The JSON 1.1 services (json-door.ts): authenticated, throttled, audited and answered alike.
    const jsonDoor = { iam: this.fd.iam, trail: this.fd.trail, admit: (k: AccessKeyLookup) => this.admission.throttle.admit(k) };
    const meta = { requestId, sourceIp, ...(userAgent !== undefined ? { userAgent } : {}) };
    // Organizations (JSON 1.1, X-Amz-Target: AWSOrganizationsV20161128.*): the operator's accounts.
    if (this.fd.organization && organizationsRoute(req.headers)) {
      await serveJsonService(organizationsJsonService(this.fd.organization, this.fd.iam), jsonDoor, req, res, body, meta);
      return;
    }

    // KMS (JSON 1.1, X-Amz-Target: TrentService.*) authenticates, audits and answers in its own shapes.
    if (kmsRoute(req.headers)) {
      await serveJsonService(kmsJsonService(this.fd.kms), jsonDoor, req, res, body, meta);
      return;
    }

    // 1. parameters: the query string and the form body together (a presigned GET carries them in
    //    the query, a POST in its body); every one is signed, so none may be left unread.
    let flat: FlatParams;
    try {
      flat = requestParams(query, body);
    } catch (e) {
      const err = isEc2Error(e) ? e : new Ec2Error('MalformedQueryString', 'The request could not be parsed.', { cause: e });
      await this.fd.trail.record({ ...base('ec2.amazonaws.com', 'Unknown', false), userIdentity: { type: 'Unknown' }, errorCode: err.code, errorMessage: err.message });
      this.send(res, requestId, { contentType: EC2_CONTENT_TYPE, ...renderEc2Error(requestId, err.code, err.message, err.httpStatus) });
      return;
    }
    const action = flat.get('Action') ?? '';
    const iamInfo = iamRequestInfo(flat);
    // IAM's and STS's actions go to them; so does an unknown action signed for one of them (which then names it unknown).
    const signedFor = isEc2Action(action) ? undefined : /Credential=[^/]+\/[^/]+\/[^/]+\/(iam|sts)\//.exec(String(req.headers['authorization'] ?? ''))?.[1];
    const isSts = !iamInfo.known && (isStsAction(action) || signedFor === 'sts');
    const isIam = !isSts && (iamInfo.known || signedFor === 'iam');
    const eventSource = isIam ? 'iam.amazonaws.com' : isSts ? 'sts.amazonaws.com' : 'ec2.amazonaws.com';
    const readOnly = isIam ? iamInfo.readOnly : isSts ? true : /^(Describe|Get|List)/.test(action);

    const fail = async (e: unknown, identity: AuditUserIdentity, resources: readonly string[] = []): Promise<void> => {
      let code: string;
      let message: string;
      let status: number;
      if (isSigV4Error(e)) {
        ({ code, status } = isIam || isSts ? e.iamWire() : { code: e.code, status: e.httpStatus });
        // EC2 answers an expired session as it does an expired signature (RequestExpired), in those words.
        message = e.reason === 'expired-token' && !isIam && !isSts ? 'Request has expired.' : e.message;
      } else {
        const w = ec2WireError(e);
        ({ code, message, status } = w);
        if (w.internal) log.error('internal error', { requestId, action, error: describeError(e) });
      }
      await this.fd.trail.record({
        ...base(eventSource, action || 'Unknown', readOnly),
        userIdentity: identity,
        requestParameters: paramsObject(flat),
        resources: resources.map((ARN) => ({ ARN, type: 'AWS::EC2::Instance' })),
        errorCode: code,
        errorMessage: message,
      });
      if (isIam) this.send(res, requestId, { status, contentType: 'text/xml', body: iamErrorXml(code, message, requestId) });
      else if (isSts) this.send(res, requestId, { status, contentType: 'text/xml', body: stsErrorXml(code, message, requestId) });
      else this.send(res, requestId, { contentType: EC2_CONTENT_TYPE, ...renderEc2Error(requestId, code, message, status) });
    };

    // 2. authentication
    const sigReq = { method: req.method ?? 'POST', path, query, headers: req.headersDistinct as Record<string, string[]>, body };
    let key: AccessKeyLookup;
    let ident: SigV4Identity;
    try {
      // The scope must name this region and the service that answers (AWS's rule): a request
      // signed for another region or service is refused before its signature is computed.
      ({ key, identity: ident } = await authenticate(this.fd.iam, sigReq, { now: new Date(), region: REGION_NAME, service: isIam ? 'iam' : isSts ? 'sts' : 'ec2' }));
    } catch (e) {
      await fail(e, auditIdentity(undefined, presentedAccessKeyId(sigReq)));
      return;
    }
    const identity = auditIdentity(key.principal, key.accessKeyId);
    const caller: Caller = { accountId: key.accountId, arn: identity.arn ?? '' };
    const condition = { 'aws:SourceIp': sourceIp, 'aws:RequestedRegion': ident.region, 'aws:PrincipalAccount': key.accountId };
    if (!this.admission.throttle.admit(key)) {
      await fail(isIam || isSts ? new Ec2Error('Throttling', 'Rate exceeded', { httpStatus: 400 }) : new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.'), identity);
      return;
    }

    // IAM's and STS's Query APIs (STS: GetCallerIdentity, GetSessionToken, AssumeRole) authorize
    // and answer in their own shapes; the audit record is begun before and completed after.
    if (isIam || isSts) {
      const handle = await this.fd.trail.begin({ ...base(eventSource, action, readOnly), userIdentity: identity, requestParameters: paramsObject(flat) });
      const ctx = { requestId, context: condition };
      const r = isIam ? await handleIamRequest(this.fd.iam, key.principal, flat, ctx) : await handleStsRequest(this.fd.iam, key.principal, flat, ctx);
      await handle.complete({
        ...(r.errorCode ? { errorCode: r.errorCode } : {}),
        ...(r.errorMessage ? { errorMessage: r.errorMessage } : {}),
        ...(r.responseElements ? { responseElements: r.responseElements } : {}),
        // STS addresses only roles; IAM users and roles.
        resources: r.resources.map((ARN) => ({ ARN, type: isSts || ARN.includes(':role/') ? 'AWS::IAM::Role' : 'AWS::IAM::User' })),
      });
      this.send(res, requestId, { status: r.status, contentType: 'text/xml', body: r.body });
      return;
    }

    // 3. the typed EC2 request
    let ec2req: Ec2Request;
    try {
      ec2req = parseEc2Request(flat);
    } catch (e) {
      await fail(e, identity);
      return;
    }

    // 4. authorization
    const resources = ec2Resources(this.fd.ec2, caller, ec2req);
    const resourceArns = resources.map((r) => r.arn);
    const decision = await this.fd.iam.authorize({ principal: key.principal, action: `ec2:${ec2req.action}`, resources, context: condition });
    if (decision.decision !== 'allow') {
      await fail(new Ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.', { context: { reason: decision.reason } }), identity, resourceArns);
      return;
    }
    if (ec2req.dryRun) {
      await fail(new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.'), identity, resourceArns);
      return;
    }

    // 5 + 6. audit before effect, then act.
    const mutating = EC2_MUTATING_ACTIONS.has(ec2req.action);
    const event: AuditEvent = {
      ...base(eventSource, ec2req.action, !mutating),
      userIdentity: identity,
      requestParameters: paramsObject(flat),
      resources: resourceArns.map((ARN) => ({ ARN, type: 'AWS::EC2::Instance' })),
    };
    if (!mutating) {
      // A read's only effect is its answer: the record is durable before the answer leaves.
      let response;
      try {
        response = await handleEc2(this.fd.ec2, caller, ec2req);
      } catch (e) {
        await fail(e, identity, resourceArns);
        return;
      }
      await this.fd.trail.record(event);
      this.send(res, requestId, { status: 200, contentType: EC2_CONTENT_TYPE, body: renderEc2Response(requestId, response) });
      return;
    }
    const handle = await this.fd.trail.begin(event);
    try {
      const response = await handleEc2(this.fd.ec2, caller, ec2req);
      const body2 = renderEc2Response(requestId, response);
      await handle.complete({ responseElements: responseSummary(response) });
      this.send(res, requestId, { status: 200, contentType: EC2_CONTENT_TYPE, body: body2 });
    } catch (e) {
      const w = ec2WireError(e);
      await handle.complete({ errorCode: w.code, errorMessage: e instanceof Error ? e.message : String(e) });
      if (w.internal) log.error('internal error', { requestId, action, error: describeError(e) });
      this.send(res, requestId, { contentType: EC2_CONTENT_TYPE, ...renderEc2Error(requestId, w.code, w.message, w.status) });
    }
  }
}
