// The host controller: the host's only door. One listening TCP socket (127.0.0.1 by
// default) whose connections are handed to the current TLS server: before enrolment a
// server with the self-signed bootstrap certificate that only accepts /v1/enroll*, after it
// an mTLS server (TLS 1.3, client certificate required and checked against the region's CA)
// that accepts signed commands on /v1/command. The controller never opens a connection.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import type { TLSSocket } from 'node:tls';
import { AuditChain, readChain } from '../audit/chain.js';
import type { HypervisorEvent } from '../hypervisor/protocol/messages.js';
import { isNitrideError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { certMatches, createCsr, fingerprint, publicKeyOf } from '../lib/pki/pki.js';
import { Dispatcher, principalRecord, type Principal, type Source } from './dispatcher.js';
import { ControllerError, httpStatusFor, toReplyError } from './errors.js';
import { currentFingerprint, hostPaths, initHost, saveEnrolment, writeRuntime, type HostIdentity } from './host-state.js';
import type { ControllerCommandBody, HostUpdateParams } from './protocol/commands.js';
import { ComponentSupervisor, type ComponentChannel } from './supervisor.js';
import { VpcHost, type UnderlayState } from './vpc-host.js';
import { isVpcCommandType, type VpcCommandBody } from './protocol/vpc-commands.js';
import { attachInstanceStore, executeEbs, openRootVolume, releaseInstanceStore, restartEbsCard, type EbsContext } from '../ebs/card/ebs-commands.js';
import { bundleEntry, HostSecurityChip } from './attest.js';
import type { ComponentName } from '../security-chip/pcr.js';
import type { VerifiedBundle } from '../security-chip/bundle.js';
import { qemuBinary } from '../hypervisor/qemu-process.js';

export interface ControllerOptions {
  readonly home: string;
  readonly port: number;
  readonly listen?: string;
  readonly hypervisorEntry?: string;
  readonly log: Logger;
  /** Signed bundles (DIR/<component>) and the release key they must verify with: see src/controller/attest.ts. */
  readonly bundlesDir?: string;
  readonly releasePubKeyPem?: string;
  /** The file releasePubKeyPem came from (a controller live update starts its successor with it). */
  readonly releasePubKeyPath?: string;
  /**
   * Started by a running controller to replace it (host.update {component: 'controller'}): measure
   * and prepare, then take the components, the listening socket and the audit log over from the
   * parent through the IPC channel (see takeover messages below). Never listens by itself.
   */
  readonly takeover?: boolean;
}

/** The IPC messages between a controller and its successor during a live update of the controller. */
interface SuccessorRequest {
  readonly v: 1;
  readonly id: number;
  readonly op: 'takeover.hypervisor' | 'takeover.relay' | 'takeover.underlay' | 'takeover.listener' | 'takeover.activate' | 'takeover.abort';
  readonly params: Record<string, unknown>;
}

const MAX_BODY = 1024 * 1024;
const HOST_ID = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export class Controller {
  private identity!: HostIdentity;
  private audit: AuditChain | undefined;
  /** Records written before the audit log is open (a successor controller before it takes over) or after it was handed on. */
  private auditQueue: Record<string, unknown>[] = [];
  private dispatcher!: Dispatcher;
  private vpc!: VpcHost;
  private supervisor!: ComponentSupervisor;
  private ebs!: ComponentSupervisor;
  private chip!: HostSecurityChip;
  /** The EBS card's entry point (a live update forks the next card from its bundle). */
  private ebsEntry = '';
  /** One host.update at a time. */
  private updating: string | undefined;
  private listener: NetServer | undefined;
  private tlsServer: HttpsServer | undefined;
  private connections = new Set<Socket>(); // accepted sockets of the current TLS server
  /** false in a successor until it takes over: accepted sockets wait in pendingSockets. */
  private active = true;
  private pendingSockets: Socket[] = [];
  /** Set by a controller live update: after the reply to host.update, hand everything to this successor and exit. */
  private successor: { proc: ChildProcess; request: (op: SuccessorRequest['op'], params: Record<string, unknown>, handle?: unknown, timeoutMs?: number) => Promise<{ result: unknown; handle: unknown }> } | undefined;
  private retireAfterReply = false;
  private retiredResolve: (code: number) => void = () => undefined;
  /** Resolves with an exit code when this process has handed over to a successor (or a successor gave up): main exits then. */
  readonly retired: Promise<number> = new Promise<number>((r) => (this.retiredResolve = r));
  private port = 0;
  private readonly started = Date.now();
  private readonly address: string;

  constructor(private readonly o: ControllerOptions) {
    this.address = o.listen ?? '127.0.0.1';
  }

  get listeningPort(): number {
    return this.port;
  }

  async start(): Promise<void> {
    const paths = hostPaths(this.o.home);
    this.identity = await initHost(this.o.home, { bootstrapIps: [this.address] });
    if (this.o.takeover === true) this.active = false;
    else this.openAudit();
    this.auditAppend({
      type: 'controller.start',
      pid: process.pid,
      hostId: this.identity.hostId,
      enrolled: this.identity.enrolment !== undefined,
      ...(this.o.takeover === true ? { takeover: true, from: process.ppid } : {}),
    });

    // Measured start (src/controller/attest.ts): verify every bundle (signed mode) and extend
    // the PCRs before any component is forked; a bundle that fails stops the start here.
    let qemuPath: string | undefined;
    try {
      qemuPath = qemuBinary();
    } catch {
      qemuPath = undefined;
    }
    try {
      this.chip = await HostSecurityChip.measuredStart({
        hostConfig: { address: this.address, port: this.o.port },
        ...(qemuPath !== undefined ? { qemuPath } : {}),
        ...(this.o.bundlesDir !== undefined ? { bundlesDir: this.o.bundlesDir } : {}),
        ...(this.o.releasePubKeyPem !== undefined ? { releasePubKeyPem: this.o.releasePubKeyPem } : {}),
        recordPath: join(paths.dir, 'components.json'),
      });
    } catch (e) {
      const err = toReplyError(e);
      this.auditAppend({ type: 'controller.refused-start', error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null });
      this.audit?.close();
      throw e;
    }
    this.auditAppend({ type: 'security-chip.measured', mode: this.chip.mode, pcrs: this.chip.status()['pcrs'] });

    // The VPC card: guest NICs, switch, DHCP, IMDS, security groups (src/controller/vpc-host.ts).
    this.vpc = new VpcHost({
      home: this.o.home,
      log: this.o.log.child('vpc'),
      entry: this.chip.entryFor('vpc-card'),
      onEvent: (e) => this.o.log.info('vpc card event', { ...e }),
      onLifecycle: (e) => this.auditAppend({ type: `component.${String(e['event'])}`, component: 'vpc', ...e }),
      hostId: () => this.identity.hostId,
      listenAddress: this.address,
    });
    this.vpc.start();

    this.supervisor = new ComponentSupervisor({
      name: 'hypervisor',
      entry: this.o.hypervisorEntry ?? this.chip.entryFor('hypervisor'),
      args: ['--state-dir', paths.hypervisorDir],
      log: this.o.log.child('supervisor'),
      onEvent: (e) => this.onHypervisorEvent(e as unknown as HypervisorEvent),
      onLifecycle: (e) => this.auditAppend({ type: `component.${e.event}`, component: 'hypervisor', ...e }),
    });
    // A successor starts the hypervisor only once its predecessor's has exited (two would fight over the guests).
    if (this.o.takeover !== true) this.supervisor.start();

    // The EBS card: volumes as encrypted NBD exports (src/ebs/card/ebs-commands.ts drives it).
    this.ebsEntry = this.chip.entryFor('ebs-card');
    this.ebs = this.makeEbsCard();
    this.ebs.start();

    this.tlsServer = this.makeTlsServer();
    if (this.o.takeover === true) {
      await this.awaitTakeover();
      return;
    }
    const listener = createNetServer({ pauseOnConnect: false }, (sock: Socket) => this.onSocket(sock));
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port: this.o.port, host: this.address, exclusive: true }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const addr = listener.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : this.o.port;
    this.writeRuntime();
    this.o.log.info('controller listening', { address: this.address, port: this.port, hostId: this.identity.hostId, enrolled: this.identity.enrolment !== undefined });
  }

  /** Opens the audit log (verifying its chain), the dispatcher over it, and writes what was queued. */
  private openAudit(): void {
    const paths = hostPaths(this.o.home);
    this.audit = new AuditChain(paths.audit);
    this.dispatcher = new Dispatcher(this.audit, (c) => this.execute(c));
    for (const r of readChain(paths.audit)) {
      const ev = r.event as { type?: string; id?: string; digest?: string };
      if (ev.type === 'command.accepted' && ev.id && ev.digest) this.dispatcher.remember(ev.id, ev.digest, Date.parse(r.time));
    }
    const queued = this.auditQueue;
    this.auditQueue = [];
    for (const ev of queued) this.audit.append(ev);
  }

  private auditAppend(event: Record<string, unknown>): void {
    if (this.audit) this.audit.append(event);
    else if (this.successor === undefined) this.auditQueue.push(event);
    else this.o.log.info('after the hand-over, not audited here', { ...event });
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
    this.tlsServer?.emit('connection', sock);
  }

  private writeRuntime(): void {
    writeRuntime(this.o.home, {
      port: this.port,
      address: this.address,
      pid: process.pid,
      hostId: this.identity.hostId,
      fingerprint: currentFingerprint(this.identity),
      enrolled: this.identity.enrolment !== undefined,
    });
  }

  private makeTlsServer(): HttpsServer {
    const e = this.identity.enrolment;
    const server = e
      ? createHttpsServer(
          // rejectUnauthorized is false only so that a refused client can be audited: Node's own
          // rejection destroys the socket silently. Every unauthorized socket is destroyed below in
          // the first 'secureConnection' listener, before HTTP reads a byte, and principalOf()
          // checks socket.authorized again for every request.
          { key: this.identity.keyPem, cert: e.certPem, ca: e.caPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' },
          (req, res) => void this.onCommandRequest(req, res),
        )
      : createHttpsServer({ key: this.identity.keyPem, cert: this.identity.bootstrapCertPem, minVersion: 'TLSv1.3' }, (req, res) => void this.onEnrolRequest(req, res));
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    if (e) {
      server.prependListener('secureConnection', (sock: TLSSocket) => {
        if (sock.authorized) return;
        let offered: string | null = null;
        try {
          const pc = sock.getPeerCertificate(true);
          if (pc && pc.raw) offered = createHash('sha256').update(pc.raw).digest('hex');
        } catch {
          offered = null;
        }
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
      let offered: string | null = null;
      try {
        const pc = sock.getPeerCertificate(true);
        if (pc && pc.raw) offered = createHash('sha256').update(pc.raw).digest('hex');
      } catch {
        offered = null;
      }
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
    this.auditAppend(dropped > 0 ? { ...event, previouslyUnrecorded: dropped } : event);
  }

  private onHypervisorEvent(e: HypervisorEvent): void {
    if (e.event === 'audit') {
      this.auditAppend({ type: 'hypervisor.audit', record: e.record });
    } else {
      this.o.log.info('hypervisor event', { ...e });
    }
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
        this.auditAppend({ type: 'request.refused', method: req.method ?? null, path: (req.url ?? '').slice(0, 200), principal: principalRecord(who), source });
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
      const { status, reply } = await this.dispatcher.dispatch(raw, jsonError, who, source);
      await this.send(res, status, reply);
      if (this.retireAfterReply) {
        this.retireAfterReply = false;
        void this.retire();
      }
    } catch (e) {
      let err = toReplyError(e);
      try {
        this.auditAppend({ type: 'request.refused', error: err.code, source });
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
    const want = this.identity.token;
    if (typeof given !== 'string' || want === undefined) return false;
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(want).digest();
    return timingSafeEqual(a, b);
  }

  private pendingHostId: string | undefined;

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
        const hostId = body['hostId'] ?? this.identity.hostId;
        if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) throw new ControllerError('InvalidParameter', 'invalid', 'hostId must be lowercase letters, digits, dots and dashes (at most 63).');
        this.pendingHostId = hostId;
        const csrPem = await createCsr(this.identity.keyPem, hostId);
        const bootstrapFingerprint = fingerprint(this.identity.bootstrapCertPem);
        this.auditAppend({ type: 'enroll.begin', hostId, source, outcome: 'csr-issued' });
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
      if (!certMatches(certPem, caPem, publicKeyOf(this.identity.keyPem))) {
        throw new ControllerError('CertificateMismatch', 'invalid', "certPem is not a currently valid certificate for this host's key signed by caPem.");
      }
      const cn = new X509Certificate(certPem).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
      if (cn !== hostId) throw new ControllerError('CertificateMismatch', 'invalid', `The certificate's CN must be the host id ${hostId}.`, { cn: cn ?? null });
      saveEnrolment(this.o.home, { hostId, certPem, caPem });
      this.identity = await initHost(this.o.home, { bootstrapIps: [this.address] });
      const fp = fingerprint(certPem);
      this.auditAppend({ type: 'enroll.complete', hostId, source, certFingerprint: fp, caFingerprint: fingerprint(caPem) });
      // Swap to the mTLS server: new connections go to it from now on; this reply still
      // travels on the bootstrap connection, which is closed after it.
      const oldConnections = this.connections;
      this.connections = new Set();
      this.tlsServer = this.makeTlsServer();
      this.writeRuntime();
      await this.send(res, 200, { v: 1, ok: true, result: { hostId, fingerprint: fp } });
      for (const s of oldConnections) s.destroy();
      this.o.log.info('enrolled; serving mTLS', { hostId });
    } catch (e) {
      const err = toReplyError(e);
      this.auditAppend({ type: 'enroll.refused', path: path.slice(0, 200), source, error: err.code });
      await this.send(res, httpStatusFor(err.kind), { v: 1, ok: false, error: err });
    }
  }

  private async execute(c: ControllerCommandBody): Promise<unknown> {
    const sup = this.supervisor;
    if (isVpcCommandType(c.type)) return this.vpc.execute(c as VpcCommandBody);
    switch (c.type) {
      case 'host.status':
        return this.hostStatus();
      case 'host.attest':
        return this.chip.attest(this.identity, c.params, await this.ebsCardPublicKey());
      case 'host.update':
        return c.params.component === 'controller' ? this.updateController(c.params) : this.updateComponent(c.params as HostUpdateParams & { component: 'hypervisor' | 'ebs' | 'vpc' });
      case 'host.restart-component':
        if (c.params.component === 'vpc') return this.vpc.liveUpdate(); // hands the guests' sockets over
        return c.params.component === 'ebs' ? restartEbsCard(this.ebsContext()) : sup.restart();
      case 'ebs.info':
      case 'volume.attach':
      case 'volume.detach':
      case 'volume.delete':
      case 'snapshot.create':
      case 'snapshot.delete':
      case 'volume.from-snapshot':
      case 'snapshot.copy':
        return executeEbs(this.ebsContext(), c);
      case 'instance.start':
        if (c.params.spec.image) await this.chip.measureGuestImage(c.params.spec.image); // PCR 6, first use of the image
        {
          // an EBS root volume: the card serves it before QEMU starts (QEMU opens it at launch)
          const root = c.params.spec.bootDisk ? await openRootVolume(this.ebsContext(), c.params.spec.instanceId, c.params.spec.bootDisk.volumeId, c.params.rootVolume) : undefined;
          const started = await sup.request('instance.start', { spec: c.params.spec }, 180_000).catch(async (e: unknown) => {
            await root?.undo();
            throw e;
          });
          // a `d` type's local NVMe disk: a fresh key in the EBS card, never stored
          await attachInstanceStore(this.ebsContext(), c.params.spec.instanceId, c.params.spec.instanceType);
          return started;
        }
      case 'instance.stop': {
        const stopped = (await sup.request('instance.stop', c.params, (c.params.deadlineMs ?? 60_000) + 60_000)) as { instanceType?: string };
        await releaseInstanceStore(this.ebsContext(), c.params.instanceId, stopped.instanceType ?? '');
        return stopped;
      }
      case 'instance.terminate': {
        const gone = (await sup.request(c.type, c.params, 120_000)) as { instanceType?: string };
        await releaseInstanceStore(this.ebsContext(), c.params.instanceId, gone.instanceType ?? '');
        return gone;
      }
      case 'instance.reboot':
        return sup.request(c.type, c.params, 120_000);
      case 'instance.describe':
      case 'instance.list':
      case 'instance.console':
      case 'instance.qmp':
      case 'instance.tpm-ekpub':
        return sup.request(c.type, c.params, 30_000);
    }
  }

  /**
   * host.update (issue 6 item 6): a live update of one component to a signed bundle, or a
   * rollback to the bundle it ran before. The dispatcher has already written command.accepted
   * to the audit log. Order: verify the bundle with the host's release key (refused: the
   * running version stays, nothing is measured) → extend the component's PCR with the new
   * measurement → start the new version through the component's live hand-over path (EBS card:
   * sealed keys and exports move to a new card; VPC card: every ENI's sockets move; hypervisor:
   * the new process re-adopts the running guests) → retire the old one → record it.
   */
  private async updateComponent(p: HostUpdateParams & { component: 'hypervisor' | 'ebs' | 'vpc' }): Promise<Record<string, unknown>> {
    const name: Exclude<ComponentName, 'controller'> = p.component === 'ebs' ? 'ebs-card' : p.component === 'vpc' ? 'vpc-card' : 'hypervisor';
    const kind: 'update' | 'rollback' = p.rollback === true ? 'rollback' : 'update';
    if (this.updating !== undefined) {
      throw new ControllerError('UpdateInProgress', 'conflict', `An update of the ${this.updating} component is running; try again when it has finished.`, { component: this.updating });
    }
    this.updating = p.component;
    const t0 = performance.now();
    try {
      let dir = p.bundle;
      if (kind === 'rollback') {
        this.chip.requireSignedMode(); // dev mode: UpdateNeedsSignedMode
        const prev = this.chip.previousBundle(name);
        if (prev === undefined) throw new ControllerError('NoPreviousBundle', 'not-found', `The ${p.component} component has not been updated; there is no earlier bundle to roll back to.`, { component: p.component });
        dir = prev.dir;
      }
      const old = this.chip.currentBundle(name);
      let next: VerifiedBundle;
      try {
        next = await this.chip.verifyUpdate(name, dir as string);
      } catch (e) {
        const err = toReplyError(e);
        this.auditAppend({ type: 'component.update-refused', component: p.component, kind, bundle: dir ?? null, error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null, running: old?.manifest.version ?? null });
        throw e;
      }
      const event = this.chip.measureUpdate(next, kind);
      this.auditAppend({ type: 'component.update-measured', component: p.component, kind, bundle: next.dir, version: next.manifest.version, digest: next.digest, pcr: event.pcrIndex, from: old ? { version: old.manifest.version, digest: old.digest } : null });
      const entry = bundleEntry(next);
      let detail: unknown;
      try {
        detail = await this.startVersion(p.component, entry);
      } catch (e) {
        this.chip.measureStillRunning(name);
        const err = toReplyError(e);
        this.auditAppend({ type: 'component.update-failed', component: p.component, kind, version: next.manifest.version, error: err.code, message: err.message, running: old?.manifest.version ?? null });
        throw e;
      }
      this.chip.commitUpdate(next, kind);
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.auditAppend({ type: 'component.updated', component: p.component, kind, version: next.manifest.version, digest: next.digest, from: old ? { version: old.manifest.version, digest: old.digest } : null, ms });
      this.o.log.info('component updated', { component: p.component, kind, version: next.manifest.version, ms });
      return {
        component: p.component,
        kind,
        previous: old ? { version: old.manifest.version, digest: old.digest, dir: old.dir } : null,
        current: { version: next.manifest.version, digest: next.digest, dir: next.dir },
        measurement: event,
        totalMs: ms,
        handover: detail,
      };
    } finally {
      this.updating = undefined;
    }
  }

  // ------------------------------------------------------------ live update of the controller
  //
  // The old controller (this process, on host.update {component: 'controller'}):
  //   1. verifies the new controller bundle and measures it (PCR 1), records it as current;
  //   2. forks the successor from the bundle (--takeover, detached): it verifies and measures
  //      every bundle (measured start, from the record), starts an EBS card and a VPC card that
  //      serve nothing yet, holds its audit log closed and answers takeover.ready;
  //   3. stops its hypervisor (QEMU keeps running) and has the successor start one, which
  //      re-adopts every guest;
  //   4. hands the EBS card and the VPC card over with their own live paths, the successor's
  //      fresh card as the target (requests and socket handles relayed through the successor);
  //   5. answers host.update, then hands the listening socket over, closes its connections and
  //      its audit log, lets the successor open the log and serve (takeover.activate), and exits.
  // A failure up to step 4 aborts: the successor ends and this controller carries on.

  private async updateController(p: HostUpdateParams): Promise<Record<string, unknown>> {
    const kind: 'update' | 'rollback' = p.rollback === true ? 'rollback' : 'update';
    if (this.updating !== undefined) throw new ControllerError('UpdateInProgress', 'conflict', `An update of the ${this.updating} component is running; try again when it has finished.`, { component: this.updating });
    this.updating = 'controller';
    const t0 = performance.now();
    try {
      let dir = p.bundle;
      if (kind === 'rollback') {
        this.chip.requireSignedMode(); // dev mode: UpdateNeedsSignedMode
        const prev = this.chip.previousBundle('controller');
        if (prev === undefined) throw new ControllerError('NoPreviousBundle', 'not-found', 'The controller has not been updated; there is no earlier bundle to roll back to.', { component: 'controller' });
        dir = prev.dir;
      }
      const old = this.chip.currentBundle('controller');
      let next: VerifiedBundle;
      try {
        next = await this.chip.verifyUpdate('controller', dir as string);
        if (!next.manifest.files.some((f) => f.path === 'dist/src/controller/main.js')) {
          throw new ControllerError('BundleEntryMissing', 'invalid', 'The controller bundle has no entry point dist/src/controller/main.js.', { bundle: next.dir, file: 'dist/src/controller/main.js' });
        }
        if (this.o.bundlesDir === undefined || this.o.releasePubKeyPath === undefined) {
          throw new ControllerError('UpdateNeedsSignedMode', 'conflict', 'This controller was not started with --bundles and --release-pubkey files; it cannot start a successor.', {});
        }
      } catch (e) {
        const err = toReplyError(e);
        this.auditAppend({ type: 'component.update-refused', component: 'controller', kind, bundle: dir ?? null, error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null, running: old?.manifest.version ?? null });
        throw e;
      }
      const event = this.chip.measureUpdate(next, kind);
      this.auditAppend({ type: 'component.update-measured', component: 'controller', kind, bundle: next.dir, version: next.manifest.version, digest: next.digest, pcr: event.pcrIndex, from: old ? { version: old.manifest.version, digest: old.digest } : null });
      const recordBefore = this.chip.recordSnapshot();
      this.chip.commitUpdate(next, kind); // the successor's measured start reads it: it measures `next` as the controller
      let handover: Record<string, unknown>;
      try {
        handover = await this.handToSuccessor(bundleEntry(next));
      } catch (e) {
        this.chip.restoreRecord(recordBefore, old);
        this.chip.measureStillRunning('controller');
        const err = toReplyError(e);
        this.auditAppend({ type: 'component.update-failed', component: 'controller', kind, version: next.manifest.version, error: err.code, message: err.message, running: old?.manifest.version ?? null });
        throw e;
      }
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.auditAppend({ type: 'component.updated', component: 'controller', kind, version: next.manifest.version, digest: next.digest, from: old ? { version: old.manifest.version, digest: old.digest } : null, ms, successorPid: this.successor?.proc.pid ?? null });
      this.retireAfterReply = true;
      return {
        component: 'controller',
        kind,
        previous: old ? { version: old.manifest.version, digest: old.digest, dir: old.dir } : null,
        current: { version: next.manifest.version, digest: next.digest, dir: next.dir },
        measurement: event,
        totalMs: ms,
        handover,
      };
    } finally {
      this.updating = undefined;
    }
  }

  /** Steps 2–4: the successor measured and ready, the hypervisor and the cards moved to it. */
  private async handToSuccessor(entry: string): Promise<Record<string, unknown>> {
    const args = ['--home', this.o.home, '--port', String(this.o.port), '--listen', this.address, '--bundles', this.o.bundlesDir as string, '--release-pubkey', this.o.releasePubKeyPath as string, '--takeover'];
    const proc = fork(entry, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, serialization: 'json' });
    let nextId = 1;
    const pending = new Map<number, { resolve: (v: { result: unknown; handle: unknown }) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
    let ready: (v: Record<string, unknown>) => void = () => undefined;
    let failed: (e: unknown) => void = () => undefined;
    const readyP = new Promise<Record<string, unknown>>((res, rej) => {
      ready = res;
      failed = rej;
    });
    proc.on('message', (m: { id?: number; event?: string; ok?: boolean; result?: unknown; error?: { code?: string; kind?: string; message?: string } }, handle: unknown) => {
      if (m.event === 'takeover.ready') return ready(m as Record<string, unknown>);
      if (m.event === 'takeover.failed') return failed(new ControllerError('SuccessorFailed', 'internal', `The new controller could not start: ${String(m.error?.message ?? '')}`, { code: m.error?.code ?? null }));
      const p = typeof m.id === 'number' ? pending.get(m.id) : undefined;
      if (!p) return;
      pending.delete(m.id as number);
      clearTimeout(p.timer);
      if (m.ok) p.resolve({ result: m.result, handle });
      else {
        const kinds = ['invalid', 'not-found', 'conflict', 'denied', 'unavailable', 'internal'] as const;
        p.reject(new ControllerError(String(m.error?.code ?? 'SuccessorError'), kinds.find((k) => k === m.error?.kind) ?? 'internal', String(m.error?.message ?? 'The new controller refused the request.'), { component: 'controller' }));
      }
    });
    const onExit = (code: number | null, signal: string | null): void => {
      failed(new ControllerError('SuccessorFailed', 'internal', `The new controller exited (${String(code ?? signal)}) before it was ready.`, { code, signal }));
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new ControllerError('SuccessorFailed', 'internal', 'The new controller exited.', { code, signal }));
        pending.delete(id);
      }
    };
    proc.on('exit', onExit);
    const request = (op: SuccessorRequest['op'], params: Record<string, unknown>, handle?: unknown, timeoutMs = 30_000): Promise<{ result: unknown; handle: unknown }> =>
      new Promise((resolve, reject) => {
        if (!proc.connected) return reject(new ControllerError('SuccessorFailed', 'internal', 'The new controller is not connected.', { op }));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new ControllerError('SuccessorTimeout', 'unavailable', `The new controller did not answer ${op} within ${timeoutMs} ms.`, { op }));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        const msg: SuccessorRequest = { v: 1, id, op, params };
        const sent = (err: Error | null): void => {
          if (handle !== undefined && !err) (handle as { close?: () => void }).close?.();
          if (err) {
            clearTimeout(timer);
            pending.delete(id);
            reject(new ControllerError('SuccessorFailed', 'internal', `The request could not be sent to the new controller: ${err.message}`, { op }));
          }
        };
        if (handle !== undefined) proc.send(msg, handle as never, { keepOpen: false }, sent);
        else proc.send(msg, sent);
      });
    this.successor = { proc, request };
    const abort = async (): Promise<void> => {
      this.successor = undefined;
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        await request('takeover.abort', {}, undefined, 10_000).catch(() => undefined);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      }
    };
    const t0 = performance.now();
    let hypervisorMoved = false;
    try {
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new ControllerError('SuccessorTimeout', 'unavailable', 'The new controller was not ready within 60 s.', {})), 60_000).unref());
      const r = await Promise.race([readyP, timeout]);
      const readyMs = Math.round(performance.now() - t0);
      // 3. the hypervisor: ours exits (QEMU keeps running); the successor's re-adopts the guests
      const t1 = performance.now();
      await this.supervisor.stop();
      hypervisorMoved = true;
      const hv = (await request('takeover.hypervisor', {}, undefined, 60_000)).result as { pid?: number; guests?: number };
      const hypervisorMs = Math.round(performance.now() - t1);
      // 4. the cards, each through its own live path, to the successor's fresh card
      const relay = (component: 'ebs' | 'vpc', pid: unknown): ComponentChannel => ({
        pid: typeof pid === 'number' ? pid : undefined,
        request: (op, params, handle, timeoutMs = 30_000) => request('takeover.relay', { component, op, params, timeoutMs }, handle, timeoutMs + 5_000).then((x) => x.result),
        requestHandle: (op, params, timeoutMs = 30_000) => request('takeover.relay', { component, op, params, timeoutMs, wantHandle: true }, undefined, timeoutMs + 5_000),
      });
      this.ebs.handoverToRemote(relay('ebs', r['ebsPid']));
      let ebs: unknown;
      try {
        ebs = await restartEbsCard(this.ebsContext());
      } finally {
        this.ebs.handoverToRemote(undefined);
      }
      this.vpc.supervisor.handoverToRemote(relay('vpc', r['vpcPid']));
      let vpc: unknown;
      try {
        vpc = await this.vpc.liveUpdate();
      } finally {
        this.vpc.supervisor.handoverToRemote(undefined);
      }
      // 5. the underlay bridge (cross-host traffic): ours stops, the successor's starts on the
      // same UDP port with the keys and remote ENIs ours had (its counters start at the clock,
      // so no nonce repeats). Frames to other hosts pause for the fork of the new bridge.
      let underlay: unknown = null;
      const ul = this.vpc.underlayState();
      if (ul) {
        await this.vpc.stopUnderlay();
        underlay = (await request('takeover.underlay', { state: ul }, undefined, 30_000)).result;
      }
      proc.off('exit', onExit);
      return { successorPid: proc.pid ?? null, readyMs, hypervisor: { ...hv, ms: hypervisorMs }, ebs, vpc, underlay };
    } catch (e) {
      await abort();
      if (hypervisorMoved) {
        this.supervisor.start(); // re-adopts the guests again
      }
      // A card already handed to the successor went with it: start a fresh one here (the EBS
      // card gets its keys again from the region's volume watcher; a VPC ENI whose guest socket
      // had moved cannot be reconnected by QEMU).
      if (this.ebs.status().state === 'stopped') this.ebs.start();
      if (this.vpc.supervisor.status().state === 'stopped') this.vpc.supervisor.start();
      throw e;
    }
  }

  /** Step 5, after the reply to host.update: the listening socket and the audit log go to the successor; this process exits. */
  private async retire(): Promise<void> {
    const s = this.successor;
    if (!s) return;
    try {
      const listener = this.listener;
      if (listener) {
        await s.request('takeover.listener', {}, listener, 10_000);
        listener.close(); // stops accepting here at once (its callback would wait for our open connections)
        this.listener = undefined;
      }
      for (const sock of this.connections) sock.destroy();
      this.auditAppend({ type: 'controller.handover', pid: process.pid, successorPid: s.proc.pid ?? null });
      this.audit?.close();
      this.audit = undefined;
      await s.request('takeover.activate', {}, undefined, 30_000);
      this.o.log.info('handed over to the new controller; exiting', { successorPid: s.proc.pid });
      if (s.proc.connected) s.proc.disconnect();
      s.proc.unref();
      this.retiredResolve(0);
    } catch (e) {
      this.o.log.error('the hand-over to the new controller failed after host.update answered', { error: String(e) });
      this.retiredResolve(1);
    }
  }

  /** The successor's side: ready once measured and its cards answer; then it follows the predecessor's takeover requests. */
  private async awaitTakeover(): Promise<void> {
    const send = (m: unknown, handle?: unknown): void => {
      if (!process.send || !process.connected) return;
      if (handle !== undefined) process.send(m, handle as never, { keepOpen: false }, () => (handle as { close?: () => void }).close?.());
      else process.send(m);
    };
    const waitCard = async (sup: ComponentSupervisor): Promise<void> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await sup.request('card.info', {}, 2_000);
          return;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    await waitCard(this.ebs);
    await waitCard(this.vpc.supervisor);
    process.on('disconnect', () => this.o.log.info('the previous controller let go'));
    process.on('message', (m: SuccessorRequest, handle: unknown) => {
      if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
      this.onPredecessor(m, handle).then(
        (r) => send({ v: 1, id: m.id, ok: true, result: r.result }, r.handle),
        (e: unknown) => send({ v: 1, id: m.id, ok: false, error: toReplyError(e) }),
      );
    });
    send({ v: 1, event: 'takeover.ready', pid: process.pid, ebsPid: this.ebs.status().pid ?? null, vpcPid: this.vpc.supervisor.status().pid ?? null, pcrs: this.chip.status()['pcrs'] });
  }

  private async onPredecessor(m: SuccessorRequest, handle: unknown): Promise<{ result: unknown; handle?: unknown }> {
    switch (m.op) {
      case 'takeover.hypervisor': {
        const sup = this.supervisor;
        sup.start();
        const deadline = Date.now() + 30_000;
        for (;;) {
          try {
            await sup.request('host.info', {}, 5_000);
            const guests = ((await sup.request('instance.list', {}, 10_000)) as unknown[]).length;
            return { result: { pid: sup.status().pid ?? null, guests } };
          } catch (e) {
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
      case 'takeover.relay': {
        const p = m.params as { component?: unknown; op?: unknown; params?: unknown; timeoutMs?: unknown; wantHandle?: unknown };
        const sup = p.component === 'ebs' ? this.ebs : p.component === 'vpc' ? this.vpc.supervisor : undefined;
        const ch = sup?.currentChannel();
        if (!ch || typeof p.op !== 'string') throw new ControllerError('ComponentUnavailable', 'unavailable', 'The component to relay to is not running here.', { component: String(p.component) });
        const timeoutMs = typeof p.timeoutMs === 'number' ? p.timeoutMs : 30_000;
        if (p.wantHandle === true) {
          const r = await ch.requestHandle(p.op, p.params ?? {}, timeoutMs);
          return { result: r.result, handle: r.handle ?? undefined };
        }
        return { result: await ch.request(p.op, p.params ?? {}, handle ?? undefined, timeoutMs) };
      }
      case 'takeover.underlay': {
        const st = (m.params as { state?: UnderlayState }).state;
        if (!st || !Number.isInteger(st.listenPort) || !Array.isArray(st.peers) || !Array.isArray(st.remotes)) throw new ControllerError('InvalidParameter', 'invalid', 'takeover.underlay carries the bridge state.', {});
        return { result: await this.vpc.adoptUnderlay(st) };
      }
      case 'takeover.listener': {
        const server = handle as NetServer | undefined;
        if (!server || typeof (server as { on?: unknown }).on !== 'function') throw new ControllerError('InvalidParameter', 'invalid', 'takeover.listener carries the listening socket.', {});
        server.on('connection', (sock: Socket) => this.onSocket(sock));
        this.listener = server;
        const addr = server.address();
        this.port = typeof addr === 'object' && addr !== null ? addr.port : this.o.port;
        return { result: { port: this.port } };
      }
      case 'takeover.activate': {
        this.openAudit();
        this.active = true;
        this.auditAppend({ type: 'controller.takeover', pid: process.pid, from: process.ppid, port: this.port });
        this.writeRuntime();
        const held = this.pendingSockets;
        this.pendingSockets = [];
        for (const sock of held) this.onSocket(sock);
        this.o.log.info('took over as the host controller', { address: this.address, port: this.port, hostId: this.identity.hostId });
        return { result: { pid: process.pid } };
      }
      case 'takeover.abort': {
        setImmediate(() => {
          void (async () => {
            await this.supervisor.stop().catch(() => undefined);
            await this.ebs.stop().catch(() => undefined);
            await this.vpc.supervisor.stop().catch(() => undefined);
            this.retiredResolve(1);
          })();
        });
        return { result: { aborting: true } };
      }
    }
  }

  /** Starts the component from `entry` through its live hand-over path; on failure the old process keeps running from the old entry. */
  private async startVersion(component: 'hypervisor' | 'ebs' | 'vpc', entry: string): Promise<unknown> {
    if (component === 'ebs') {
      const before = this.ebsEntry;
      this.ebsEntry = entry;
      try {
        return await restartEbsCard(this.ebsContext());
      } catch (e) {
        this.ebsEntry = before;
        throw e;
      }
    }
    if (component === 'vpc') {
      const sup = this.vpc.supervisor;
      const before = sup.entry;
      sup.setEntry(entry);
      try {
        return await this.vpc.liveUpdate();
      } catch (e) {
        sup.setEntry(before);
        throw e;
      }
    }
    // The hypervisor: the old process exits leaving QEMU running; the new one re-adopts every
    // guest from the instance directories. It must answer host.info and list the guests it had.
    const sup = this.supervisor;
    const before = sup.entry;
    let had = -1;
    try {
      had = ((await sup.request('instance.list', {}, 10_000)) as unknown[]).length;
    } catch {
      had = -1;
    }
    const t0 = performance.now();
    sup.setEntry(entry);
    const ready = async (): Promise<number> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await sup.request('host.info', {}, 5_000);
          return ((await sup.request('instance.list', {}, 10_000)) as unknown[]).length;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    try {
      await sup.restart();
      const now = await ready();
      if (had >= 0 && now < had) throw new ControllerError('HypervisorReadoptionIncomplete', 'internal', `The new hypervisor re-adopted ${now} of ${had} guests.`, { had, now });
      return { ...sup.status(), guests: now, readyMs: Math.round((performance.now() - t0) * 10) / 10 };
    } catch (e) {
      // Back to the version that ran: it re-adopts the guests again.
      sup.setEntry(before);
      await sup.restart().catch(() => undefined);
      throw e;
    }
  }

  private makeEbsCard(): ComponentSupervisor {
    const dir = hostPaths(this.o.home).dir;
    return new ComponentSupervisor({
      name: 'ebs',
      entry: this.ebsEntry,
      args: ['--root', join(dir, 'ebs'), '--socket-dir', join(dir, 'ebs', 'sockets')],
      log: this.o.log.child('ebs'),
      onEvent: (e) => this.o.log.info('ebs card event', { ...e }),
      onLifecycle: (e) => this.auditAppend({ type: `component.${e.event}`, component: 'ebs', ...e }),
    });
  }

  private ebsContext(): EbsContext {
    return {
      card: this.ebs,
      hypervisor: this.supervisor,
      instancesDir: join(hostPaths(this.o.home).hypervisorDir, 'instances'),
      log: this.o.log,
      makeCard: () => this.makeEbsCard(),
      setCard: (next) => {
        this.ebs = next;
      },
    };
  }

  /**
   * The EBS card's public key (raw X25519, from card.info), bound into host.attest documents
   * as public_key so that the region seals data keys only to the card of a measured host.
   * undefined when the card does not answer (the document then carries no public_key).
   */
  private async ebsCardPublicKey(): Promise<Buffer | undefined> {
    try {
      const info = (await this.ebs.request('card.info', {}, 5_000)) as { publicKey?: unknown };
      return typeof info.publicKey === 'string' ? Buffer.from(info.publicKey, 'base64') : undefined;
    } catch {
      return undefined;
    }
  }

  private hostInfoCache: { pid: number | undefined; info: unknown } | undefined;

  async hostStatus(): Promise<Record<string, unknown>> {
    const hv = this.supervisor.status();
    let info: unknown = null;
    let instances: unknown = [];
    let hypervisorError: unknown = null;
    try {
      // host.info (accelerator, QEMU version) does not change while one hypervisor process lives.
      if (this.hostInfoCache === undefined || this.hostInfoCache.pid !== hv.pid) {
        const fresh = await this.supervisor.request('host.info', {}, 10_000);
        if (typeof fresh === 'object' && fresh !== null && 'accel' in fresh && (fresh as { accel: unknown }).accel) this.hostInfoCache = { pid: hv.pid, info: fresh };
        info = fresh;
      } else info = this.hostInfoCache.info;
      instances = await this.supervisor.request('instance.list', {}, 10_000);
      if (typeof info === 'object' && info !== null) {
        // counts come from the fresh list, not from the cached facts
        const list = Array.isArray(instances) ? (instances as { state?: string }[]) : [];
        info = { ...(info as Record<string, unknown>), instances: list.length, running: list.filter((i) => i.state === 'running').length };
      }
    } catch (e) {
      hypervisorError = toReplyError(e);
    }
    const accel = typeof info === 'object' && info !== null && 'accel' in info ? (info as { accel: unknown }).accel : null;
    return {
      hostId: this.identity.hostId,
      enrolled: this.identity.enrolment !== undefined,
      fingerprint: currentFingerprint(this.identity),
      accel,
      uptimeS: Math.round((Date.now() - this.started) / 1000),
      // Capacity the region schedules against: this machine's memory and CPUs.
      memoryMiB: Math.floor(totalmem() / (1024 * 1024)),
      vcpus: cpus().length,
      controller: { pid: process.pid, rssBytes: process.memoryUsage().rss, port: this.port, address: this.address, auditRecords: this.audit?.length ?? 0 },
      // each with the version of the signed bundle it runs ('dev' when unsigned)
      components: [
        { ...hv, version: this.chip.currentBundle('hypervisor')?.manifest.version ?? 'dev' },
        { ...this.ebs.status(), version: this.chip.currentBundle('ebs-card')?.manifest.version ?? 'dev' },
        { ...this.vpc.supervisor.status(), version: this.chip.currentBundle('vpc-card')?.manifest.version ?? 'dev' },
      ],
      securityChip: this.chip.status(),
      // Which signed bundle each component runs, and what a rollback would return to (host.update).
      componentVersions: this.chip.versions(),
      hypervisor: info,
      instances,
      ...(hypervisorError ? { hypervisorError } : {}),
    };
  }

  /** Closes the listener and lets the hypervisor exit; guests keep running. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((r) => (this.listener ? this.listener.close(() => r()) : r()));
    for (const s of this.connections) s.destroy();
    await closed;
    await this.supervisor.stop();
    await this.vpc.stop();
    await this.ebs.stop();
    this.auditAppend({ type: 'controller.stop', pid: process.pid });
    this.audit?.close();
  }
}

export function isEnrolled(home: string): boolean {
  const p = hostPaths(home);
  return existsSync(p.cert) && existsSync(p.ca);
}

export function readHostCa(home: string): string | undefined {
  const p = hostPaths(home);
  return existsSync(p.ca) ? readFileSync(p.ca, 'utf8') : undefined;
}
