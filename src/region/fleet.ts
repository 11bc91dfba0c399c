// The region's hosts: their records, an mTLS client per controller, enrolment and the
// reconciliation loop. The region always initiates: it dials each controller, which only
// listens. Every few seconds it asks each host for its instances and lets the instance
// service reconcile its records with the report.
import { createHash } from 'node:crypto';
import { ControllerClient, enrollHost, type CommandType, type ParamsOf, type ResultOf } from '../controller/client.js';
import type { FleetSendOptions } from './command-sender.js';
export type { CommandSender, FleetSendOptions } from './command-sender.js';
import { describeError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Ec2Error } from './protocol/errors.js';
import type { Collection } from './repo.js';
import type { RegionPki } from './pki.js';
import { DEFAULT_AZ, REGION_NAME, type HostRecord } from './ec2/model.js';
import type { HostFleet, HostInstanceInfo, InstanceService } from './ec2/instances.js';
import type { AttestedHost, HostVerdict, RegionAttestation } from './attestation-gate.js';
import type { AuditTrail } from '../audit/trail.js';

const log = createLogger('region.fleet');

/**
 * How the region trusts the certificate a controller presents at enrolment: the bootstrap
 * fingerprint the host operator read from `nitride host init` / `enroll-token --json` (the
 * default, and the only safe choice), or trust on first use, which the operator must name.
 */
export type EnrollTrust = { readonly fingerprint: string } | { readonly trustOnFirstUse: true };

/** A bootstrap fingerprint as the host prints it (hex, or with colons, or `SHA256:`-prefixed): 64 lowercase hex digits, or undefined. */
export function normalizeFingerprint(fp: string): string | undefined {
  const hex = fp.trim().replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** How a command is sent to a host: the id makes a resend idempotent at the controller. */
export interface HostStatus {
  readonly hostId: string;
  readonly reachable: boolean;
  readonly lastSeen: string | undefined;
  readonly error: string | undefined;
  readonly accel: string | undefined;
  /** The latest attestation verdict (src/region/attestation-gate.ts); null before the first. */
  readonly attestation?: HostVerdict | null;
}

/**
 * A name-based UUID (RFC 4122 layout, version 5 bits, from sha256) for a command name
 * such as `i-…:start:3`: the same name always gives the same id, so a retried command
 * is recognised by the controller's reply cache instead of running twice.
 */
export function commandUuid(name: string): string {
  const h = createHash('sha256').update(`nitride-command:${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function address(req: Record<string, unknown>): string {
  return `${String(req['address'])}:${String(req['port'])}`;
}

export class Fleet implements HostFleet {
  private readonly clients = new Map<string, ControllerClient>();
  private readonly status = new Map<string, HostStatus>();
  private timer: NodeJS.Timeout | undefined;
  private instances: InstanceService | undefined;
  private passing: Promise<void> | undefined;
  constructor(
    private readonly hostsRepo: Collection<HostRecord>,
    private readonly pki: RegionPki,
    /** Attestation gates placement and key release (src/region/attestation-gate.ts). */
    readonly attestation: RegionAttestation,
    /** The region audit trail: every enrolment, and every refused one, is recorded. */
    private readonly trail?: AuditTrail,
  ) {}

  hosts(): readonly HostRecord[] {
    return this.hostsRepo.all();
  }

  hostStatus(): HostStatus[] {
    return this.hostsRepo.all().map((h) => ({
      ...(this.status.get(h.id) ?? { hostId: h.id, reachable: false, lastSeen: undefined, error: undefined, accel: undefined }),
      attestation: this.attestation.statusOf(h.id) ?? null,
    }));
  }

  /** The hosts among ids that pass a fresh attestation (or could not be asked; see RegionAttestation.placeable). */
  placeable(ids: readonly string[]): Promise<ReadonlySet<string>> {
    return this.attestation.placeable(ids);
  }

  /**
   * Call before releasing a key to a host (the EBS attach path): resolves with the EBS card
   * public key bound by an attestation made for this release (a fresh region nonce), or throws
   * InsufficientInstanceCapacity when the host failed attestation.
   */
  async requireAttestedHost(hostId: string): Promise<AttestedHost | undefined> {
    return this.attestation.requireAttestedHost(hostId, 'key-release');
  }

  private client(h: HostRecord): ControllerClient {
    let c = this.clients.get(h.id);
    if (!c) {
      c = new ControllerClient({ address: h.address, port: h.port, caPem: this.pki.ca.certPem, certPem: this.pki.client.certPem, keyPem: this.pki.client.keyPem });
      this.clients.set(h.id, c);
    }
    return c;
  }

  /**
   * Sends one command to a host's controller, typed by the controller's command contract
   * (src/controller/protocol/commands.ts): the params by ParamsOf<T>, the reply by ResultOf<T>.
   */
  async send<T extends CommandType>(hostId: string, type: T, params: ParamsOf<T>, opts: FleetSendOptions): Promise<ResultOf<T>>;
  async send(hostId: string, type: CommandType, params: unknown, opts: FleetSendOptions): Promise<unknown> {
    const h = this.hostsRepo.get(hostId);
    if (!h) throw new Ec2Error('InternalError', `Host ${hostId} is not known to the region.`);
    const timeout = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {};
    // No guest starts and no volume is plugged on a host without an attestation made for that
    // command (a fresh region nonce; no cached verdict).
    if (type === 'instance.start') await this.attestation.requireAttestedHost(hostId, 'placement');
    if (type === 'volume.attach') await this.attestation.requireAttestedHost(hostId, 'attach');
    try {
      return await this.client(h).sendUntyped(type, params, { id: commandUuid(opts.id), ...timeout });
    } catch (e) {
      // The controller remembers command ids for minutes, across its own restarts, and
      // refuses an id it saw with another envelope (a new issuedAt after a region restart:
      // CommandIdReused) or executed in an earlier run (CommandReplayed). Either way that
      // delivery's outcome is out of reach; the region's commands are idempotent by
      // instance state, so the command goes once more under a fresh id instead of being
      // refused until the controller forgets the id.
      const code = (e as { code?: unknown }).code;
      if (code !== 'CommandIdReused' && code !== 'CommandReplayed') throw e;
      log.warn('controller refused a reused command id; reissuing under a fresh id', { hostId, type, code });
      return this.client(h).sendUntyped(type, params, { id: commandUuid(`${opts.id}:reissued:${Date.now()}:${Math.random()}`), ...timeout });
    }
  }

  /**
   * Enrols a controller listening at address:port with its one-time token; records the host.
   * The controller's bootstrap certificate must match trust.fingerprint (or the operator named
   * trust on first use); a mismatch is refused as InvalidParameterValue, audited, and nothing is
   * stored or issued (the region signs no certificate for a peer it could not authenticate).
   */
  async enroll(address: string, port: number, token: string, trust: EnrollTrust): Promise<HostRecord> {
    const pinned = 'fingerprint' in trust ? normalizeFingerprint(trust.fingerprint) : undefined;
    if ('fingerprint' in trust && pinned === undefined) {
      throw new Ec2Error('InvalidParameterValue', `The bootstrap fingerprint ${JSON.stringify(trust.fingerprint)} is not a sha256 fingerprint (64 hex digits, as \`nitride host init\` prints it).`);
    }
    const trustName = pinned !== undefined ? `pinned:${pinned}` : 'trust-on-first-use';
    let res: Awaited<ReturnType<typeof enrollHost>>;
    try {
      res = await enrollHost({ address, port, token, ca: this.pki.ca, ...(pinned !== undefined ? { bootstrapFingerprint: pinned } : {}) });
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? 'EnrollmentFailed');
      const details = (e as { context?: unknown }).context;
      const message = `Enrolment of the controller at ${address}:${port} was refused: ${describeError(e)}`;
      await this.auditEnrolment({ address, port, trust: trustName }, { errorCode: code, errorMessage: message, details });
      if (code === 'EnrollmentFailed') throw new Ec2Error('InvalidParameterValue', message, { context: { address, port, trust: trustName, details } });
      throw e;
    }
    const existing = this.hostsRepo.all().find((h) => h.id === res.hostId);
    const rec: HostRecord = {
      id: res.hostId,
      address,
      port,
      availabilityZone: existing?.availabilityZone ?? DEFAULT_AZ,
      memoryMiB: existing?.memoryMiB ?? 0,
      vcpus: existing?.vcpus ?? 0,
      enrolledAt: new Date().toISOString(),
      certFingerprint: res.fingerprint,
    };
    await this.auditEnrolment({ address, port, trust: trustName }, { hostId: rec.id, certFingerprint: rec.certFingerprint });
    await this.hostsRepo.put(rec);
    this.clients.get(rec.id)?.close();
    this.clients.delete(rec.id);
    await this.refreshCapacity(rec.id);
    await this.attestation.enrolled(rec.id);
    return this.hostsRepo.get(rec.id)!;
  }

  private async auditEnrolment(req: Record<string, unknown>, outcome: { errorCode: string; errorMessage: string; details: unknown } | { hostId: string; certFingerprint: string }): Promise<void> {
    if (!this.trail) return;
    await this.trail.record({
      eventSource: 'nitride.region',
      eventName: 'NitrideHostEnrolment',
      awsRegion: REGION_NAME,
      sourceIPAddress: 'nitride.region',
      userIdentity: { type: 'Unknown', principalId: 'nitride-region' },
      requestParameters: req,
      ...('errorCode' in outcome
        ? { errorCode: outcome.errorCode, errorMessage: outcome.errorMessage.slice(0, 1000), responseElements: { details: outcome.details ?? null } }
        : { responseElements: { hostId: outcome.hostId, certFingerprint: outcome.certFingerprint } }),
      requestID: `enrol-${address(req)}-${Date.now()}`,
      readOnly: false,
    });
  }

  /** Updates a host's address/port (a restarted controller may listen elsewhere). */
  async relocate(hostId: string, address: string, port: number): Promise<void> {
    await this.hostsRepo.update(hostId, (h) => (h.address === address && h.port === port ? undefined : { ...h, address, port }));
    this.clients.get(hostId)?.close();
    this.clients.delete(hostId);
  }

  async refreshCapacity(hostId: string): Promise<void> {
    const st = await this.send(hostId, 'host.status', {}, { id: `status:${hostId}:${Date.now()}:${Math.random()}` });
    const env = process.env['NITRIDE_HOST_MEMORY_MIB'];
    const memoryMiB = env ? Number(env) : (st.memoryMiB ?? 0);
    await this.hostsRepo.update(hostId, (h) => ({ ...h, memoryMiB, vcpus: st.vcpus ?? h.vcpus }));
  }

  /** Starts the periodic reconciliation (and runs one pass at once). */
  startReconciling(instances: InstanceService, intervalMs = 2000): void {
    this.instances = instances;
    const tick = (): void => {
      if (this.passing) return;
      this.passing = this.reconcileOnce().finally(() => (this.passing = undefined));
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  async reconcileOnce(): Promise<void> {
    const svc = this.instances;
    if (!svc) return;
    for (const h of this.hostsRepo.all()) {
      try {
        const report: readonly HostInstanceInfo[] = await this.send(h.id, 'instance.list', {}, { id: `list:${h.id}:${Date.now()}:${Math.random()}`, timeoutMs: 10_000 });
        this.status.set(h.id, { hostId: h.id, reachable: true, lastSeen: new Date().toISOString(), error: undefined, accel: report[0]?.accel });
        if (h.memoryMiB === 0) await this.refreshCapacity(h.id);
        await this.attestation.verdict(h.id, 'periodic'); // notices a host whose measurements changed
        await svc.reconcileHost(h.id, report);
      } catch (e) {
        const prev = this.status.get(h.id);
        this.status.set(h.id, { hostId: h.id, reachable: false, lastSeen: prev?.lastSeen, error: describeError(e), accel: prev?.accel });
        log.warn('host unreachable during reconciliation', { hostId: h.id, error: describeError(e) });
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.passing;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
