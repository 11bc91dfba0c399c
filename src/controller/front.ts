// The controller's only door: one listening TCP socket (127.0.0.1 by default) whose
// connections are handed to the current TLS server. Before enrolment that is a server with the
// self-signed bootstrap certificate that only accepts /v1/enroll*; after it an mTLS server
// (TLS 1.3, client certificate required and checked against the region's CA) that accepts
// signed commands on POST /v1/command and hands them to the dispatcher. The controller never
// opens a connection. During a live update of the controller the listening socket moves to
// the successor (releaseListener / adoptListener) and a successor holds the connections it
// accepts until it is activated.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isNitrideError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { certMatches, createCsr, fingerprint, publicKeyOf } from '../lib/pki/pki.js';
import { principalRecord, type DispatchResult, type Principal, type Source } from './dispatcher.js';
import { ControllerError, httpStatusFor, toReplyError } from './errors.js';
import { initHost, saveEnrolment, type HostIdentity } from './host-state.js';

const MAX_BODY = 1024 * 1024;
const HOST_ID = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export interface HostFrontOptions {
  readonly home: string;
  readonly address: string;
  readonly log: Logger;
  readonly identity: () => HostIdentity;
  readonly setIdentity: (id: HostIdentity) => void;
  readonly audit: (event: Record<string, unknown>) => void;
  /** Runs one signed command (the dispatcher: verify, audit, execute). */
  readonly dispatch: (raw: unknown, jsonError: boolean, who: Principal, source: Source) => Promise<DispatchResult>;
  /** After a command's reply has been written (a controller live update retires then). */
  readonly afterReply: () => void;
  /** The host is enrolled now: runtime.json must say so. */
  readonly onEnrolled: () => void;
}

export class HostFront {
  private listener: NetServer | undefined;
  private tlsServer: HttpsServer;
  private connections = new Set<Socket>(); // accepted sockets of the current TLS server
  /** false in a successor until it takes over: accepted sockets wait in pendingSockets. */
  private active: boolean;
  private pendingSockets: Socket[] = [];
  private portNumber = 0;
  private pendingHostId: string | undefined;

  constructor(
    private readonly o: HostFrontOptions,
    opts: { readonly hold: boolean },
  ) {
    this.active = !opts.hold;
    this.tlsServer = this.makeTlsServer();
  }

  get port(): number {
    return this.portNumber;
  }

  /** Listens on `port` (0: any) at the controller's address. */
  async listen(port: number): Promise<number> {
    const listener = createNetServer({ pauseOnConnect: false }, (sock: Socket) => this.onSocket(sock));
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port, host: this.o.address, exclusive: true }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const addr = listener.address();
    this.portNumber = typeof addr === 'object' && addr !== null ? addr.port : port;
    return this.portNumber;
  }

  /** A successor: serves on the listening socket its predecessor handed over. */
  adoptListener(server: NetServer, fallbackPort: number): number {
    server.on('connection', (sock: Socket) => this.onSocket(sock));
    this.listener = server;
    const addr = server.address();
    this.portNumber = typeof addr === 'object' && addr !== null ? addr.port : fallbackPort;
    return this.portNumber;
  }

  /** The listening socket, no longer ours once sent (the caller closes its copy); undefined when none. */
  releaseListener(): NetServer | undefined {
    const l = this.listener;
    this.listener = undefined;
    return l;
  }

  /** Ends every accepted connection. */
  dropConnections(): void {
    for (const sock of this.connections) sock.destroy();
  }

  /** A successor takes over: the connections it held are served now. */
  activate(): void {
    this.active = true;
    const held = this.pendingSockets;
    this.pendingSockets = [];
    for (const sock of held) this.onSocket(sock);
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => (this.listener ? this.listener.close(() => r()) : r()));
    this.dropConnections();
    await closed;
  }

  /** An accepted connection: to whichever TLS server is current (bootstrap or mTLS); held while a successor waits to take over. */
  private onSocket(sock: Socket): void {
    if (!this.active) {
      this.pendingSockets.push(sock);
      return;
    }
    const gen = this.connections;
    gen.add(sock);
    sock.once('close', () => gen.delete(sock));
    this.tlsServer.emit('connection', sock);
  }

  private makeTlsServer(): HttpsServer {
    const e = this.o.identity().enrolment;
    const server = e
      ? createHttpsServer(
          // rejectUnauthorized is false only so that a refused client can be audited: Node's own
          // rejection destroys the socket silently. Every unauthorized socket is destroyed below in
          // the first 'secureConnection' listener, before HTTP reads a byte, and principalOf()
          // checks socket.authorized again for every request.
          { key: this.o.identity().keyPem, cert: e.certPem, ca: e.caPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' },
          (req, res) => void this.onCommandRequest(req, res),
        )
      : createHttpsServer({ key: this.o.identity().keyPem, cert: this.o.identity().bootstrapCertPem, minVersion: 'TLSv1.3' }, (req, res) => void this.onEnrolRequest(req, res));
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    if (e) {
      server.prependListener('secureConnection', (sock: TLSSocket) => {
        if (sock.authorized) return;
        const offered = offeredFingerprint(sock);
        const source = { address: sock.remoteAddress, port: sock.remotePort };
        sock.destroy();
        this.auditTlsRefusal({
          type: 'tls.refused',
          source,
          error: offered === null ? 'ClientCertificateRequired' : 'ClientCertificateUntrusted',
          reason: String(sock.authorizationError ?? 'no client certificate').slice(0, 200),
          offeredCertFingerprint: offered,
        });
      });
    }
    server.on('tlsClientError', (err: Error & { code?: string }, sock: TLSSocket) => {
      // Refused at the TLS layer (no client certificate, a certificate from another CA, …).
      const offered = offeredFingerprint(sock);
      if (err.code === 'ECONNRESET' && offered === null && sock.bytesRead === 0) return; // a bare TCP probe that sent nothing
      this.auditTlsRefusal({
        type: 'tls.refused',
        source: { address: sock.remoteAddress, port: sock.remotePort },
        error: err.code ?? 'TLSError',
        reason: err.message.slice(0, 200),
        offeredCertFingerprint: offered,
      });
    });
    return server;
  }

  // Unauthenticated peers can cause tls.refused records at will; each is an fsync. A token
  // bucket (burst 50, 20 per second) bounds that; what it drops is counted, and the count is
  // written with the next record that passes, so the log still says how many there were.
  private tlsBucket = { tokens: 50, at: Date.now(), dropped: 0 };

  private auditTlsRefusal(event: Record<string, unknown>): void {
    const b = this.tlsBucket;
    const now = Date.now();
    b.tokens = Math.min(50, b.tokens + ((now - b.at) / 1000) * 20);
    b.at = now;
    if (b.tokens < 1) {
      b.dropped++;
      return;
    }
    b.tokens--;
    const dropped = b.dropped;
    b.dropped = 0;
    this.o.audit(dropped > 0 ? { ...event, previouslyUnrecorded: dropped } : event);
  }

  private source(req: IncomingMessage): Source {
    return { address: req.socket.remoteAddress, port: req.socket.remotePort };
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw new ControllerError('RequestTooLarge', 'invalid', `The request body exceeds ${MAX_BODY} bytes.`);
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  private send(res: ServerResponse, status: number, body: unknown): Promise<void> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
      res.end(data, () => resolve());
    });
  }

  private principalOf(req: IncomingMessage): Principal | undefined {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) return undefined;
    const pc = sock.getPeerCertificate(true);
    if (!pc || !pc.raw) return undefined;
    const x = new X509Certificate(pc.raw);
    const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
    return {
      commonName: first(pc.subject?.CN),
      role: first(pc.subject?.OU),
      fingerprint: createHash('sha256').update(pc.raw).digest('hex'),
      publicKey: x.publicKey,
    };
  }

  private async onCommandRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = this.source(req);
    try {
      const who = this.principalOf(req);
      if (!who) throw new ControllerError('ClientCertificateRequired', 'denied', 'A client certificate issued by the region CA is required.');
      if (req.method !== 'POST' || req.url !== '/v1/command') {
        this.o.audit({ type: 'request.refused', method: req.method ?? null, path: (req.url ?? '').slice(0, 200), principal: principalRecord(who), source });
        await this.send(res, 404, { v: 1, id: '', ok: false, error: { code: 'NotFound', kind: 'not-found', message: 'The only endpoint is POST /v1/command.' } });
        return;
      }
      const body = await this.readBody(req);
      let raw: unknown;
      let jsonError = false;
      try {
        raw = JSON.parse(body.toString('utf8'));
      } catch {
        jsonError = true;
      }
      const { status, reply } = await this.o.dispatch(raw, jsonError, who, source);
      await this.send(res, status, reply);
      this.o.afterReply();
    } catch (e) {
      let err = toReplyError(e);
      try {
        this.o.audit({ type: 'request.refused', error: err.code, source });
      } catch (auditErr) {
        // The audit log cannot be written (disk full, I/O error): nothing was executed, since
        // every command is appended before it runs; refuse and say why.
        this.o.log.error('the audit log cannot be written', { error: (auditErr as Error).message });
        err = { code: 'AuditUnavailable', kind: 'unavailable', message: 'The host audit log cannot be written; no command is executed until it can.' };
      }
      if (!res.headersSent) await this.send(res, httpStatusFor(err.kind), { v: 1, id: '', ok: false, error: err });
      else res.destroy();
    }
  }

  private checkToken(given: unknown): boolean {
    const want = this.o.identity().token;
    if (typeof given !== 'string' || want === undefined) return false;
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(want).digest();
    return timingSafeEqual(a, b);
  }

  private async onEnrolRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = this.source(req);
    const path = req.url ?? '';
    try {
      if (req.method !== 'POST' || (path !== '/v1/enroll' && path !== '/v1/enroll/complete')) {
        throw new ControllerError('NotEnrolled', 'unavailable', 'This host is not enrolled yet; only POST /v1/enroll and /v1/enroll/complete are served.');
      }
      let body: Record<string, unknown>;
      try {
        const v = JSON.parse((await this.readBody(req)).toString('utf8')) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        body = v as Record<string, unknown>;
      } catch (e) {
        if (isNitrideError(e)) throw e;
        throw new ControllerError('MalformedRequest', 'invalid', 'The enrolment request must be a JSON object.');
      }
      if (!this.checkToken(body['token'])) throw new ControllerError('EnrollmentTokenInvalid', 'denied', 'The enrolment token is wrong.');
      if (path === '/v1/enroll') {
        const hostId = body['hostId'] ?? this.o.identity().hostId;
        if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) throw new ControllerError('InvalidParameter', 'invalid', 'hostId must be lowercase letters, digits, dots and dashes (at most 63).');
        this.pendingHostId = hostId;
        const csrPem = await createCsr(this.o.identity().keyPem, hostId);
        const bootstrapFingerprint = fingerprint(this.o.identity().bootstrapCertPem);
        this.o.audit({ type: 'enroll.begin', hostId, source, outcome: 'csr-issued' });
        await this.send(res, 200, { v: 1, ok: true, result: { hostId, csrPem, bootstrapFingerprint } });
        return;
      }
      // /v1/enroll/complete
      const certPem = body['certPem'];
      const caPem = body['caPem'];
      const hostId = this.pendingHostId;
      if (hostId === undefined) throw new ControllerError('EnrollmentNotStarted', 'conflict', 'Call POST /v1/enroll first.');
      if (typeof certPem !== 'string' || typeof caPem !== 'string') throw new ControllerError('InvalidParameter', 'invalid', 'certPem and caPem must be PEM strings.');
      let caIsCa = false;
      try {
        caIsCa = new X509Certificate(caPem).ca;
      } catch {
        caIsCa = false;
      }
      if (!caIsCa) throw new ControllerError('InvalidParameter', 'invalid', 'caPem is not a CA certificate.');
      if (!certMatches(certPem, caPem, publicKeyOf(this.o.identity().keyPem))) {
        throw new ControllerError('CertificateMismatch', 'invalid', "certPem is not a currently valid certificate for this host's key signed by caPem.");
      }
      const cn = new X509Certificate(certPem).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
      if (cn !== hostId) throw new ControllerError('CertificateMismatch', 'invalid', `The certificate's CN must be the host id ${hostId}.`, { cn: cn ?? null });
      saveEnrolment(this.o.home, { hostId, certPem, caPem });
      this.o.setIdentity(await initHost(this.o.home, { bootstrapIps: [this.o.address] }));
      const fp = fingerprint(certPem);
      this.o.audit({ type: 'enroll.complete', hostId, source, certFingerprint: fp, caFingerprint: fingerprint(caPem) });
      // Swap to the mTLS server: new connections go to it from now on; this reply still
      // travels on the bootstrap connection, which is closed after it.
      const oldConnections = this.connections;
      this.connections = new Set();
      this.tlsServer = this.makeTlsServer();
      this.o.onEnrolled();
      await this.send(res, 200, { v: 1, ok: true, result: { hostId, fingerprint: fp } });
      for (const s of oldConnections) s.destroy();
      this.o.log.info('enrolled; serving mTLS', { hostId });
    } catch (e) {
      const err = toReplyError(e);
      this.o.audit({ type: 'enroll.refused', path: path.slice(0, 200), source, error: err.code });
      await this.send(res, httpStatusFor(err.kind), { v: 1, ok: false, error: err });
    }
  }
}

/** sha256 of the certificate a client offered (hex), or null when it offered none. */
function offeredFingerprint(sock: TLSSocket): string | null {
  try {
    const pc = sock.getPeerCertificate(true);
    return pc && pc.raw ? createHash('sha256').update(pc.raw).digest('hex') : null;
  } catch {
    return null;
  }
}
