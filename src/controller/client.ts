// The region's side of the controller channel: enrolment of a new host, and a client that
// sends signed commands over mTLS. The region (and tests) use only this file.
import { createHash, randomUUID } from 'node:crypto';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { generateKeyPair, issueCert, type CaMaterial } from '../lib/pki/pki.js';
import { ControllerError } from './errors.js';
import { ROLE_REGION, type CommandType, type ControllerReply, type ParamsOf, type ResultOf } from './protocol/commands.js';

export { ROLE_OPERATOR, ROLE_REGION } from './protocol/commands.js';
export type { CommandType, ControllerReply, ParamsOf, ResultOf } from './protocol/commands.js';
export type { CaMaterial } from '../lib/pki/pki.js';
import { buildCommand, type CommandEnvelope } from './signing.js';

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  readonly peerFingerprint: string | undefined;
}

const RETRYABLE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

function postOnce(opts: RequestOptions, body: Buffer, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ ...opts, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const sock = res.socket as TLSSocket;
      let peerFingerprint: string | undefined;
      try {
        const pc = sock.getPeerCertificate(true);
        if (pc?.raw) peerFingerprint = createHash('sha256').update(pc.raw).digest('hex');
      } catch {
        peerFingerprint = undefined;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text === '' ? null : (JSON.parse(text) as unknown);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, peerFingerprint });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

function replyError(body: unknown, status: number): ControllerError {
  const err = (body as { error?: { code?: unknown; kind?: unknown; message?: unknown; context?: unknown } } | null)?.error;
  const kinds = ['invalid', 'not-found', 'conflict', 'denied', 'unavailable', 'internal'] as const;
  const kind = kinds.find((k) => k === err?.kind) ?? 'internal';
  return new ControllerError(
    typeof err?.code === 'string' ? err.code : 'ControllerError',
    kind,
    typeof err?.message === 'string' ? err.message : `The controller answered HTTP ${status}.`,
    { status, ...(typeof err?.context === 'object' && err.context !== null ? (err.context as Record<string, unknown>) : {}) },
  );
}

/** A fresh P-384 client key and a certificate for it from the region CA; the role goes in the OU. */
export async function createClientCredential(ca: CaMaterial, o: { commonName: string; role?: string; days?: number }): Promise<{ certPem: string; keyPem: string }> {
  const k = generateKeyPair();
  const certPem = await issueCert(ca, { subjectPublicKeyPem: k.publicKeyPem, commonName: o.commonName, organizationalUnit: o.role ?? ROLE_REGION, usage: 'client', days: o.days ?? 365 });
  return { certPem, keyPem: k.keyPem };
}

export interface EnrollOptions {
  readonly address: string;
  readonly port: number;
  /** The host's enrolment token (from `nitride host enroll-token` or $NITRIDE_HOME/host/enroll-token). */
  readonly token: string;
  /** The region CA that issues the host certificate. */
  readonly ca: CaMaterial;
  /** A host id to give the host; default: the host's own. */
  readonly hostId?: string;
  /** When given, the bootstrap certificate must have this sha256 fingerprint (pinning). */
  readonly bootstrapFingerprint?: string;
  /** Validity of the host certificate (default 365 days). */
  readonly days?: number;
  readonly timeoutMs?: number;
}

export interface EnrollResult {
  readonly hostId: string;
  readonly certPem: string;
  readonly fingerprint: string;
}

/**
 * Enrols a host: asks its controller for a CSR (proving the token), issues a server
 * certificate for the host's key with the region CA, and hands it back. After this the
 * controller serves mTLS only and accepts clients whose certificates the same CA issued.
 */
export async function enrollHost(o: EnrollOptions): Promise<EnrollResult> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const post = async (opts: RequestOptions, body: Buffer, ms: number): Promise<HttpResult> => {
    try {
      return await postOnce(opts, body, ms);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      throw new ControllerError('ControllerUnreachable', 'unavailable', `The controller at ${o.address}:${o.port} could not be reached for enrolment.`, { code }, { cause: e });
    }
  };
  const base: RequestOptions = { host: o.address, port: o.port, agent: false, rejectUnauthorized: false, minVersion: 'TLSv1.3' };
  const begin = await post({ ...base, path: '/v1/enroll' }, Buffer.from(JSON.stringify({ token: o.token, ...(o.hostId !== undefined ? { hostId: o.hostId } : {}) })), timeoutMs);
  if (begin.status !== 200) throw replyError(begin.body, begin.status);
  const r = (begin.body as { result?: { hostId?: unknown; csrPem?: unknown; bootstrapFingerprint?: unknown } }).result;
  if (typeof r?.hostId !== 'string' || typeof r.csrPem !== 'string' || typeof r.bootstrapFingerprint !== 'string') {
    throw new ControllerError('EnrollmentFailed', 'internal', 'The controller answered /v1/enroll without hostId, csrPem and bootstrapFingerprint.');
  }
  if (r.bootstrapFingerprint !== begin.peerFingerprint) {
    throw new ControllerError('EnrollmentFailed', 'denied', "The controller's TLS certificate is not the bootstrap certificate it names.", { served: begin.peerFingerprint ?? null, named: r.bootstrapFingerprint });
  }
  if (o.bootstrapFingerprint !== undefined && o.bootstrapFingerprint.toLowerCase().replace(/:/g, '') !== r.bootstrapFingerprint) {
    throw new ControllerError('EnrollmentFailed', 'denied', "The controller's bootstrap certificate does not match the pinned fingerprint.", { pinned: o.bootstrapFingerprint, served: r.bootstrapFingerprint });
  }
  const certPem = await issueCert(o.ca, {
    csrPem: r.csrPem,
    commonName: r.hostId,
    usage: 'server',
    dnsNames: [r.hostId, ...(isIP(o.address) ? [] : [o.address])],
    ipAddresses: isIP(o.address) ? [o.address] : [],
    days: o.days ?? 365,
  });
  const done = await post({ ...base, path: '/v1/enroll/complete' }, Buffer.from(JSON.stringify({ token: o.token, certPem, caPem: o.ca.certPem })), timeoutMs);
  if (done.status !== 200) throw replyError(done.body, done.status);
  const fp = (done.body as { result?: { fingerprint?: unknown } }).result?.fingerprint;
  return { hostId: r.hostId, certPem, fingerprint: typeof fp === 'string' ? fp : '' };
}

export interface ControllerClientOptions {
  readonly address: string;
  readonly port: number;
  /** The region CA certificate (trust anchor for the host certificate). */
  readonly caPem: string;
  /** This client's certificate (OU nitride-region or nitride-operator) and P-384 key. */
  readonly certPem: string;
  readonly keyPem: string;
  /** When given, the host certificate must name this host id (else: must match address). */
  readonly hostId?: string;
  readonly timeoutMs?: number;
  /** Resends after a transport failure (the controller answers a resent id from its reply cache). Default 3. */
  readonly retries?: number;
}

export interface SendOptions {
  readonly id?: string;
  readonly timeoutMs?: number;
}

export class ControllerClient {
  private readonly agent: Agent;

  constructor(private readonly o: ControllerClientOptions) {
    const hostId = o.hostId;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: o.caPem,
      cert: o.certPem,
      key: o.keyPem,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: (host: string, cert: PeerCertificate) => checkServerIdentity(hostId ?? host, cert),
    });
  }

  /**
   * Sends one signed command and returns its result, typed by the command contract
   * (src/controller/protocol/commands.ts); throws a ControllerError with the controller's code.
   */
  send<T extends CommandType>(type: T, params: ParamsOf<T>, opts: SendOptions = {}): Promise<ResultOf<T>> {
    return this.sendUntyped(type, params, opts) as Promise<ResultOf<T>>;
  }

  /** Sends any command type and params as they are (tests of refusals; relays): the controller parses them. */
  async sendUntyped(type: string, params: unknown, opts: SendOptions = {}): Promise<unknown> {
    const envelope = buildCommand(type, params, this.o.keyPem, { id: opts.id ?? randomUUID() });
    const reply = await this.sendEnvelope(envelope, opts.timeoutMs);
    if (reply.body === null || typeof reply.body !== 'object' || !('ok' in reply.body)) {
      throw new ControllerError('ControllerBadReply', 'internal', `The controller answered HTTP ${reply.status} without a reply object.`, { status: reply.status });
    }
    const r = reply.body as ControllerReply;
    if (!r.ok) throw replyError(r, reply.status);
    return r.result;
  }

  /** Sends a prepared envelope (retrying transport failures with the same id). */
  async sendEnvelope(envelope: CommandEnvelope, timeoutMs?: number): Promise<HttpResult> {
    return this.postRaw(JSON.stringify(envelope), timeoutMs, this.o.retries ?? 3);
  }

  /** Posts any body to /v1/command; for tests of malformed input. */
  async postRaw(body: string | Buffer, timeoutMs?: number, retries = 0): Promise<HttpResult> {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    for (let attempt = 0; ; attempt++) {
      try {
        return await postOnce({ host: this.o.address, port: this.o.port, path: '/v1/command', agent: this.agent }, buf, timeoutMs ?? this.o.timeoutMs ?? 200_000);
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (attempt >= retries || !RETRYABLE.has(code)) {
          throw new ControllerError('ControllerUnreachable', 'unavailable', `The controller at ${this.o.address}:${this.o.port} could not be reached.`, { code }, { cause: e });
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
