// EC2 instances: the state machine, the launch path and the reconciliation with hosts.
//
// Every change is committed to the state store before it is reported and before any
// host is told: RunInstances records `pending` instances (desired: running) and only
// then asks a host to start them. A region that dies at any point therefore leaves
// either no record and no guest, or a record that the reconciler drives to its desired
// state after restart. Host commands carry ids derived from (instance, generation,
// attempt), so a retried command is answered, not executed twice.
import type { GuestImageRef, InstanceSpec } from '../../hypervisor/protocol/messages.js';
import type { CommandSender } from '../command-sender.js';
import { randomBytes } from 'node:crypto';
import { requireInstanceType, findInstanceType, type InstanceType } from '../../lib/instance-types.js';
import type { SealedSecret } from '../../iam/root-key.js';
import { createLogger } from '../../lib/log.js';
import { waitFor } from '../../lib/wait.js';
import { describeError, isNitrideError } from '../../lib/errors.js';
import type { Collection } from '../repo.js';
import { Ec2Error } from '../protocol/errors.js';
import { incorrectState } from '../errors.js';
import { newId } from '../ids.js';
import { compileFilterTable, opt, type Filter, type FilterTable } from './filters.js';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import {
  attributesOf,
  DEFAULT_AZ,
  STATE_CODES,
  TERMINATED_VISIBLE_MS,
  type HostRecord,
  type ImageRecord,
  type InstanceAttributes,
  type InstanceRecord,
  type InstanceStateName,
  type StateReason,
} from './model.js';

const log = createLogger('region.instances');

export interface Caller {
  readonly accountId: string;
  readonly arn: string;
}

/** The region's view of its hosts: who they are and how to send them a command. */
export interface HostFleet extends CommandSender {
  hosts(): readonly HostRecord[];
  /** The hosts among ids that passed attestation and may receive instances (src/region/attestation-gate.ts). */
  placeable(ids: readonly string[]): Promise<ReadonlySet<string>>;
}

export interface HostInstanceInfo {
  readonly instanceId: string;
  readonly state: 'starting' | 'running' | 'stopping' | 'stopped' | 'terminated';
  readonly pid: number | undefined;
  readonly accel: string;
  readonly readyAt: string | undefined;
}

export interface StateChange {
  readonly instanceId: string;
  readonly previousState: InstanceStateName;
  readonly currentState: InstanceStateName;
}

export interface RunRequest {
  readonly imageId: string;
  readonly instanceType: string;
  readonly minCount: number;
  readonly maxCount: number;
  readonly userData: string | undefined;
  readonly clientToken: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
  readonly subnetId: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly privateIpAddress: string | undefined;
  /** NetworkInterface.1.AssociatePublicIpAddress; absent: the subnet's MapPublicIpOnLaunch decides. */
  readonly associatePublicIpAddress?: boolean | undefined;
  readonly keyName: string | undefined;
  /** The OpenSSH public key of the key pair KeyName names (kept on the instance for IMDS). */
  readonly publicKey?: string | undefined;
  readonly metadataOptions?: Partial<InstanceRecord['metadataOptions']>;
  /** --block-device-mappings: an EBS-backed image's root device entry overrides its root volume. */
  readonly blockDeviceMappings?: readonly BlockDeviceMappingRequest[];
  /** DisableApiTermination, InstanceInitiatedShutdownBehavior, … (absent members: EC2's defaults). */
  readonly attributes?: Partial<InstanceAttributes>;
}

/** What a launch itself reads of a checked root-volume plan (src/region/ec2/root-volumes.ts RootPlan carries more). */
export interface RootVolumePlan {
  readonly deviceName: string;
  /** The host that stores the root snapshot: the instances run there. */
  readonly hostId: string;
  readonly firmware: 'legacy-bios' | 'uefi';
  readonly ebsDevices: readonly string[];
}

/**
 * EBS root volumes of EBS-backed images, in a launch and at every start (implemented by
 * RootVolumes, src/region/ec2/root-volumes.ts, which reads the EBS services: declared here so
 * that this file does not import them). `P` is the implementation's plan.
 */
export interface InstanceRootVolumes<P extends RootVolumePlan = RootVolumePlan> {
  /** Checks the image's root mapping and the caller's override; creates nothing. */
  plan(c: Caller, image: ImageRecord, mappings: readonly BlockDeviceMappingRequest[]): P;
  /** One root volume per instance id (instance id → volume id); on any failure, none. */
  create(c: Caller, plan: P, instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** Deletes volumes made by create() whose instances were never recorded. */
  discard(c: Caller, made: ReadonlyMap<string, string>): Promise<void>;
  /** Records each recorded instance's root volume as attached. */
  attach(records: readonly InstanceRecord[], plan: P): Promise<void>;
  /** spec.bootDisk and the command's rootVolume for instance.start on `hostId`. */
  startParams(r: InstanceRecord, hostId: string, cmdId: string): Promise<{ bootDisk: { volumeId: string; firmware: 'legacy-bios' | 'uefi' }; rootVolume: { sizeBytes: number; sealedKey: string | null } }>;
  /** The host that stores an instance's root volume (a start must place it there). */
  storeHostOf(c: Caller, r: InstanceRecord): string | undefined;
  /** The volume attached at the instance's root device now; EC2's InvalidParameterValue when there is none (detached while stopped). */
  requireRootVolume(r: InstanceRecord): string;
}

/** The VPC layer's part in a launch (src/region/ec2/vpc.ts and its host wiring). */
export interface InstanceNetwork {
  /** Resolves and checks subnet, groups and addresses for `count` instances; writes no instance. */
  plan(caller: Caller, req: RunRequest, count: number): Promise<{ readonly subnetId: string; readonly groupIds: readonly string[]; readonly privateIps: readonly string[]; readonly associatePublicIp: boolean }>;
  /** Creates the ENIs of freshly recorded instances (with the plan's answers). */
  attach(records: readonly InstanceRecord[], plan: { readonly associatePublicIp: boolean }): Promise<void>;
  /** Before instance.start: tells the host's VPC card and returns the spec's extra fields (nics). */
  beforeStart(r: InstanceRecord): Promise<Pick<InstanceSpec, 'nics'>>;
  /** After the instance stopped (its public IP goes back, as in EC2). */
  stopped?(r: InstanceRecord): Promise<void>;
  /** After the instance is terminated. */
  released(r: InstanceRecord): Promise<void>;
}

/** Seals and opens small secrets: the region's RootKey (src/iam/root-key.ts). */
export interface SecretSealer {
  seal(plaintext: string, aad: string): SealedSecret;
  unseal(sealed: SealedSecret, aad: string): string;
}

/** NitroTPM: bytes of the per-instance vTPM state key (AES-256, swtpm --key … mode=aes-256-cbc). */
export const VTPM_KEY_BYTES = 32;
/** The AAD of a sealed vTPM key: a sealed key cannot be moved to another instance's record. */
export const vtpmKeyAad = (instanceId: string): string => `nitride/ec2/vtpm-key/v1/${instanceId}`;

export type EkPubKeyType = 'rsa-2048' | 'ecc-sec-p384';
export type EkPubKeyFormat = 'der' | 'tpmt';

export const stateOf = (r: InstanceRecord): { code: number; name: InstanceStateName } => ({ code: STATE_CODES[r.state], name: r.state });

const INSTANCE_FILTERS: FilterTable<InstanceRecord> = {
  'instance-state-name': (r) => [r.state],
  'instance-state-code': (r) => [String(STATE_CODES[r.state])],
  'instance-type': (r) => [r.instanceType],
  'image-id': (r) => [r.imageId],
  'instance-id': (r) => [r.id],
  'reservation-id': (r) => [r.reservationId],
  'availability-zone': (r) => [r.availabilityZone],
  'owner-id': (r) => [r.accountId],
  'client-token': (r) => opt(r.clientToken),
  'subnet-id': (r) => opt(r.subnetId),
  'private-ip-address': (r) => opt(r.privateIpAddress),
  'key-name': (r) => opt(r.keyName),
};

/** Host memory left for guests after the host's own needs. */
export const HOST_RESERVED_MIB = 2048;

export class InstanceService {
  private readonly driving = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private stopped = false;
  /** The VPC layer (the region always has one; unit tests may run without). */
  private readonly network: InstanceNetwork | undefined;
  /** Seals the vTPM keys of NitroTPM instances (without it they cannot launch). */
  private readonly sealer: SecretSealer | undefined;
  /** Root volumes of EBS-backed images (src/region/ec2/root-volumes.ts); without it they cannot launch. */
  private readonly rootVolumes: InstanceRootVolumes | undefined;
  private readonly now: () => Date;

  constructor(
    private readonly instances: Collection<InstanceRecord>,
    private readonly images: Collection<ImageRecord>,
    private readonly fleet: HostFleet,
    deps: { readonly network?: InstanceNetwork; readonly sealer?: SecretSealer; readonly rootVolumes?: InstanceRootVolumes; readonly now?: () => Date } = {},
  ) {
    this.network = deps.network;
    this.sealer = deps.sealer;
    this.rootVolumes = deps.rootVolumes;
    this.now = deps.now ?? ((): Date => new Date());
  }

  // ---- queries -------------------------------------------------------------------

  visible(r: InstanceRecord, at: number = this.now().getTime()): boolean {
    return !(r.state === 'terminated' && r.terminatedAt !== undefined && at - Date.parse(r.terminatedAt) > TERMINATED_VISIBLE_MS);
  }

  /** The caller's instances with these ids; ids of other accounts are NotFound, as in EC2. */
  owned(caller: Caller, ids: readonly string[]): InstanceRecord[] {
    const missing: string[] = [];
    const found: InstanceRecord[] = [];
    // A repeated id names one instance once, as EC2 answers it.
    for (const id of new Set(ids)) {
      const r = this.instances.get(id);
      if (!r || r.accountId !== caller.accountId || !this.visible(r)) missing.push(id);
      else found.push(r);
    }
    if (missing.length > 0) {
      throw new Ec2Error('InvalidInstanceID.NotFound', missing.length === 1 ? `The instance ID '${missing[0]}' does not exist` : `The instance IDs '${missing.join(', ')}' do not exist`, { context: { instanceIds: missing } });
    }
    return found;
  }

  describe(caller: Caller, ids: readonly string[], filters: readonly Filter[]): InstanceRecord[] {
    const match = compileFilterTable(filters, INSTANCE_FILTERS, (r) => r.tags);
    const base = ids.length > 0 ? this.owned(caller, ids) : this.instances.all().filter((r) => r.accountId === caller.accountId && this.visible(r));
    return base.filter(match);
  }

  // ---- capacity ------------------------------------------------------------------

  private usedMiB(hostId: string): number {
    let used = 0;
    for (const r of this.instances.all()) {
      if (r.hostId !== hostId) continue;
      if (r.state === 'terminated' || r.state === 'stopped') continue;
      used += findInstanceType(r.instanceType)?.memoryMiB ?? 0;
    }
    return used;
  }

  /** Picks a host for each of up to `count` instances; returns as many as fit. */
  private place(type: InstanceType, count: number, allowed: ReadonlySet<string>): string[] {
    const hosts = this.fleet.hosts().filter((h) => allowed.has(h.id));
    const free = new Map(hosts.map((h) => [h.id, h.memoryMiB - HOST_RESERVED_MIB - this.usedMiB(h.id)]));
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      // Spread: the host with the most free memory that still fits.
      let best: string | undefined;
      let bestFree = -Infinity;
      for (const [id, f] of free) {
        if (f >= type.memoryMiB && f > bestFree) {
          best = id;
          bestFree = f;
        }
      }
      if (best === undefined) break;
      out.push(best);
      free.set(best, bestFree - type.memoryMiB);
    }
    return out;
  }

  // ---- mutations -----------------------------------------------------------------

  checkRun(caller: Caller, req: RunRequest): { image: ImageRecord; type: InstanceType } {
    const image = this.images.get(req.imageId);
    if (!image || image.state === 'deregistered' || (!image.public && image.ownerId !== caller.accountId)) {
      throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${req.imageId}]' does not exist`, { context: { imageId: req.imageId } });
    }
    let type: InstanceType;
    try {
      type = requireInstanceType(req.instanceType);
    } catch (e) {
      throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.instanceType}' for InstanceType.`, { context: { instanceType: req.instanceType }, cause: e });
    }
    if (req.minCount < 1 || req.maxCount < req.minCount) {
      throw new Ec2Error('InvalidParameterValue', `Invalid MinCount/MaxCount: ${req.minCount}/${req.maxCount}.`);
    }
    return { image, type };
  }

  async run(caller: Caller, req: RunRequest): Promise<InstanceRecord[]> {
    const { image, type } = this.checkRun(caller, req);
    const sealer = this.sealer;
    if (image.tpmSupport === 'v2.0' && sealer === undefined) {
      throw new Ec2Error('UnsupportedOperation', `The image '${image.id}' needs NitroTPM, which this region cannot provide (it has no key sealer).`, { context: { imageId: image.id } });
    }
    if (req.clientToken !== undefined) {
      const prior = this.instances.all().filter((r) => r.accountId === caller.accountId && r.clientToken === req.clientToken);
      if (prior.length > 0) {
        const p = prior[0]!;
        if (p.imageId !== req.imageId || p.instanceType !== req.instanceType) {
          throw new Ec2Error('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that is already deleted or has different parameters.', { context: {
            clientToken: req.clientToken,
          } });
        }
        return prior.sort((a, b) => a.amiLaunchIndex - b.amiLaunchIndex);
      }
    }
    // EBS-backed image: the root volume plan is checked before anything is made, and the
    // instances go to the host that stores the root snapshot (volumes live beside it).
    const rootPlan = image.rootDeviceType === 'ebs' ? this.rootPlan(caller, image, req) : undefined;
    let allowed = await this.fleet.placeable(this.fleet.hosts().map((h) => h.id));
    if (rootPlan) allowed = new Set([rootPlan.hostId].filter((h) => allowed.has(h)));
    const hosts = this.place(type, req.maxCount, allowed);
    if (hosts.length < req.minCount) {
      throw new Ec2Error('InsufficientInstanceCapacity', `We currently do not have sufficient ${type.name} capacity to launch ${req.minCount} instance(s). Our system will be working on provisioning additional capacity.`, { context: { requested: req.minCount, available: hosts.length }, httpStatus: 500 });
    }
    const net = this.network ? await this.network.plan(caller, req, hosts.length) : undefined;
    const ids = hosts.map(() => newId('i'));
    const roots = rootPlan ? await this.rootVolumes!.create(caller, rootPlan, ids) : undefined;
    const now = this.now().toISOString();
    const reservationId = newId('r');
    const records: InstanceRecord[] = hosts.map((hostId, i) => {
      const id = ids[i]!;
      const rootVolumeId = roots?.get(id);
      const rootDevice = rootPlan && rootVolumeId ? { rootDevice: { volumeId: rootVolumeId, deviceName: rootPlan.deviceName, firmware: rootPlan.firmware, ebsDevices: rootPlan.ebsDevices } } : {};
      // NitroTPM: a fresh random key for this instance's vTPM state, kept only sealed.
      const vtpm = image.tpmSupport === 'v2.0' && sealer ? { vtpm: { sealedKey: sealer.seal(randomBytes(VTPM_KEY_BYTES).toString('base64'), vtpmKeyAad(id)) } } : {};
      return {
      id,
      reservationId,
      accountId: caller.accountId,
      requesterPrincipal: caller.arn,
      imageId: image.id,
      instanceType: type.name,
      amiLaunchIndex: i,
      clientToken: req.clientToken,
      state: 'pending',
      desired: 'running',
      stateReason: { code: 'pending', message: 'pending' },
      stateTransitionReason: '',
      launchTime: now,
      createdAt: now,
      stateChangedAt: now,
      terminatedAt: undefined,
      userData: req.userData,
      tags: { ...req.tags },
      hostId,
      availabilityZone: DEFAULT_AZ,
      generation: 1,
      readyAt: undefined,
      accel: undefined,
      subnetId: net?.subnetId ?? req.subnetId,
      securityGroupIds: [...(net?.groupIds ?? req.securityGroupIds)],
      privateIpAddress: net?.privateIps[i] ?? req.privateIpAddress,
      keyName: req.keyName,
      ...(req.publicKey !== undefined ? { publicKey: req.publicKey } : {}),
      metadataOptions: {
        httpTokens: req.metadataOptions?.httpTokens ?? 'optional',
        httpPutResponseHopLimit: req.metadataOptions?.httpPutResponseHopLimit ?? 1,
        httpEndpoint: req.metadataOptions?.httpEndpoint ?? 'enabled',
      },
      forceStop: false,
      rebootRequested: 0,
      ...(req.attributes && Object.keys(req.attributes).length > 0 ? { attributes: { ...req.attributes } } : {}),
      ...vtpm,
      ...rootDevice,
      };
    });
    try {
      await this.instances.putMany(records);
    } catch (e) {
      if (roots) await this.rootVolumes!.discard(caller, roots);
      throw e;
    }
    if (rootPlan) await this.rootVolumes!.attach(records, rootPlan);
    if (this.network && net) await this.network.attach(records, net);
    for (const r of records) this.kick(r.id);
    return records;
  }

  private async transition(
    caller: Caller,
    ids: readonly string[],
    decide: (r: InstanceRecord) => InstanceRecord | undefined,
  ): Promise<StateChange[]> {
    const recs = this.owned(caller, ids);
    const out: StateChange[] = [];
    for (const r of recs) {
      const prev = r.state;
      const next = await this.instances.update(r.id, decide);
      out.push({ instanceId: r.id, previousState: prev, currentState: next?.state ?? prev });
      this.kick(r.id);
    }
    return out;
  }

  /** Throws IncorrectInstanceState for any instance `ok` rejects, before anything changes. */
  private precheck(caller: Caller, ids: readonly string[], ok: (r: InstanceRecord) => boolean, verb: string): void {
    for (const r of this.owned(caller, ids)) {
      if (!ok(r)) throw incorrectState(`The instance '${r.id}' is not in a state from which it can be ${verb}.`, { instanceId: r.id, state: r.state });
    }
  }

  /** EC2's OperationNotPermitted for any instance whose protection `flag` is set, before anything changes. */
  private protectedFrom(caller: Caller, ids: readonly string[], flag: 'disableApiStop' | 'disableApiTermination', verb: string): void {
    for (const r of this.owned(caller, ids)) {
      if (attributesOf(r)[flag] && r.state !== 'terminated') {
        throw new Ec2Error('OperationNotPermitted', `The instance '${r.id}' may not be ${verb}. Modify its '${flag}' instance attribute and try again.`, { context: { instanceId: r.id } });
      }
    }
  }

  /**
   * ModifyInstanceAttribute of what the instance record keeps (src/region/ec2/instance-attributes.ts
   * decides and checks the change): `change` returns the new record, or throws EC2's error.
   */
  async modify(caller: Caller, id: string, change: (r: InstanceRecord) => InstanceRecord): Promise<void> {
    const [r] = this.owned(caller, [id]);
    if (!r || r.state === 'terminated') throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, { context: { instanceIds: [id] } });
    change(r); // checked against the current record before the write
    await this.instances.update(id, change);
  }

  private rootPlan(caller: Caller, image: ImageRecord, req: RunRequest): RootVolumePlan {
    if (!this.rootVolumes) throw new Ec2Error('UnsupportedOperation', `The image '${image.id}' is EBS-backed, and this region serves no EBS volumes.`, { context: { imageId: image.id } });
    return this.rootVolumes.plan(caller, image, req.blockDeviceMappings ?? []);
  }

  async start(caller: Caller, ids: readonly string[]): Promise<StateChange[]> {
    this.precheck(caller, ids, (r) => r.state === 'stopped' || r.state === 'running' || r.state === 'pending', 'started');
    for (const r of this.owned(caller, ids)) {
      // EC2 starts no EBS-backed instance without a volume at its root device
      if (r.state === 'stopped' && r.rootDevice) this.rootVolumes?.requireRootVolume(r);
    }
    const now = this.now().toISOString();
    const allowed = await this.fleet.placeable(this.fleet.hosts().map((h) => h.id));
    return this.transition(caller, ids, (r) => {
      if (r.state !== 'stopped') return undefined;
      const type = requireInstanceType(r.instanceType);
      // an EBS-backed instance starts where its root volume is stored
      const store = this.rootVolumes?.storeHostOf(caller, r);
      const host = this.place(type, 1, store === undefined ? allowed : new Set([store].filter((h) => allowed.has(h))))[0];
      if (host === undefined) {
        throw new Ec2Error('InsufficientInstanceCapacity', `We currently do not have sufficient ${type.name} capacity.`, { httpStatus: 500 });
      }
      return {
        ...r,
        state: 'pending',
        desired: 'running',
        hostId: host,
        generation: r.generation + 1,
        launchTime: now,
        stateChangedAt: now,
        stateReason: { code: 'pending', message: 'pending' },
        stateTransitionReason: '',
        readyAt: undefined,
        forceStop: false,
      };
    });
  }

  async stop(caller: Caller, ids: readonly string[], force: boolean): Promise<StateChange[]> {
    this.precheck(caller, ids, (r) => r.state !== 'terminated' && r.state !== 'shutting-down', 'stopped');
    this.protectedFrom(caller, ids, 'disableApiStop', 'stopped');
    const now = this.now();
    return this.transition(caller, ids, (r) => {
      if (r.state === 'stopped') return undefined;
      if (r.state === 'stopping' && !force) return undefined;
      return {
        ...r,
        state: 'stopping',
        desired: 'stopped',
        forceStop: force,
        stateChangedAt: now.toISOString(),
        stateTransitionReason: `User initiated (${now.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT')})`,
        stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
      };
    });
  }

  /**
   * CreateImage without NoReboot: the guest shuts down cleanly, as for StopInstances (ACPI, the
   * host's deadline, then off), and this returns once the host reports it stopped, so that the
   * snapshots are taken of volumes no guest writes to. The caller starts it again.
   */
  async stopForImage(caller: Caller, id: string, timeoutMs = 120_000): Promise<void> {
    await this.stop(caller, [id], false);
    const state = await waitFor(`instance ${id} to stop for CreateImage`, () => {
      const s = this.instances.get(id)?.state;
      return s === 'stopping' ? undefined : (s ?? 'terminated');
    }, timeoutMs, 250).catch(() => 'stopping');
    if (state !== 'stopped') throw incorrectState(`The instance '${id}' did not stop for CreateImage (it is ${state}).`, { instanceId: id, state });
  }

  async reboot(caller: Caller, ids: readonly string[]): Promise<void> {
    this.precheck(caller, ids, (r) => r.state === 'running' || r.state === 'pending', 'rebooted');
    await this.transition(caller, ids, (r) => ({ ...r, rebootRequested: r.rebootRequested + 1 }));
  }

  async terminate(caller: Caller, ids: readonly string[]): Promise<StateChange[]> {
    this.protectedFrom(caller, ids, 'disableApiTermination', 'terminated');
    const now = this.now();
    return this.transition(caller, ids, (r) => {
      if (r.state === 'terminated' || r.state === 'shutting-down') return undefined;
      return {
        ...r,
        state: 'shutting-down',
        desired: 'terminated',
        stateChangedAt: now.toISOString(),
        stateTransitionReason: `User initiated (${now.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT')})`,
        stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
      };
    });
  }

  async consoleOutput(caller: Caller, id: string): Promise<{ output: string; timestamp: string }> {
    const [r] = this.owned(caller, [id]);
    if (!r || r.hostId === undefined) return { output: '', timestamp: this.now().toISOString() };
    try {
      const res = await this.fleet.send(r.hostId, 'instance.console', { instanceId: r.id }, { id: `console:${r.id}:${Date.now()}:${Math.random()}` });
      return { output: res.output, timestamp: res.timestamp };
    } catch (e) {
      // Not on its host (yet): a launch whose instance.start has not reached the host, or a
      // terminated guest. EC2 answers an empty output then, not an error.
      if (r.state === 'terminated' || (isNitrideError(e) && e.kind === 'not-found')) return { output: '', timestamp: this.now().toISOString() };
      throw e;
    }
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.instances.update(id, (r) => ({ ...r, tags }));
  }

  /**
   * GetInstanceTpmEkPub: the public endorsement key of the instance's vTPM, as its host
   * recorded it when the vTPM was provisioned (answered whether the guest runs or is stopped).
   */
  async tpmEkPub(caller: Caller, id: string, keyType: EkPubKeyType, keyFormat: EkPubKeyFormat): Promise<{ instanceId: string; keyType: EkPubKeyType; keyFormat: EkPubKeyFormat; keyValue: string }> {
    const [r] = this.owned(caller, [id]);
    if (!r) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, { context: { instanceIds: [id] } });
    if (r.state === 'terminated' || r.state === 'shutting-down') {
      throw incorrectState(`The instance '${r.id}' is ${r.state}; its NitroTPM no longer exists.`, { instanceId: r.id, state: r.state });
    }
    if (r.vtpm === undefined) {
      throw new Ec2Error('UnsupportedOperation', `The instance '${r.id}' does not support NitroTPM: its image '${r.imageId}' is not registered with TpmSupport v2.0.`, { context: { instanceId: r.id, imageId: r.imageId } });
    }
    if (r.hostId === undefined) {
      throw incorrectState(`The instance '${r.id}' has not been launched yet; its NitroTPM has no endorsement key.`, { instanceId: r.id, state: r.state });
    }
    try {
      const res = await this.fleet.send(
        r.hostId,
        'instance.tpm-ekpub',
        { instanceId: r.id, keyType: keyType === 'rsa-2048' ? 'rsa' : 'ecc-sec-p384', keyFormat },
        { id: `ekpub:${r.id}:${Date.now()}:${Math.random()}` },
      );
      if (typeof res.keyValue !== 'string') throw new Ec2Error('InternalError', 'The host answered without a key value.', { httpStatus: 500 });
      return { instanceId: r.id, keyType, keyFormat, keyValue: res.keyValue };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      // The host has no vTPM for it yet: the instance never reached its first launch.
      if (code === 'VtpmNotProvisioned' || code === 'InvalidInstanceID.NotFound') {
        throw incorrectState(`The instance '${r.id}' has not been launched yet; its NitroTPM has no endorsement key.`, { instanceId: r.id, state: r.state });
      }
      throw e;
    }
  }

  // ---- driving hosts -------------------------------------------------------------

  /** Schedules a drive of this instance toward its desired state. Coalesces repeats. */
  kick(id: string): void {
    if (this.stopped) return;
    if (this.driving.has(id)) {
      this.again.add(id);
      return;
    }
    const p = this.drive(id)
      .catch((e: unknown) => log.warn('drive failed; the reconciler will retry', { instanceId: id, error: describeError(e) }))
      .finally(() => {
        this.driving.delete(id);
        if (this.again.delete(id)) this.kick(id);
      });
    this.driving.set(id, p);
  }

  /** Waits for in-flight drives (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.driving.size > 0) await Promise.allSettled([...this.driving.values()]);
  }

  close(): void {
    this.stopped = true;
  }

  private async setState(id: string, state: InstanceStateName, extra: Partial<InstanceRecord> = {}, reason?: StateReason): Promise<void> {
    const now = this.now().toISOString();
    await this.instances.update(id, (cur) => {
      // Terminated: the host destroyed the vTPM state, so its sealed key goes too.
      const { vtpm: _sealed, ...withoutKey } = cur;
      return {
        ...(state === 'terminated' ? withoutKey : cur),
        ...extra,
        state,
        stateChangedAt: now,
        ...(reason ? { stateReason: reason } : {}),
        ...(state === 'terminated' ? { terminatedAt: now } : {}),
      };
    });
  }

  /** spec.tpm for instance.start: the vTPM key, unsealed only for the command. */
  private vtpmSpec(r: InstanceRecord): { tpm?: { key: string } } {
    if (r.vtpm === undefined) return {};
    if (this.sealer === undefined) throw new Ec2Error('InternalError', `The region cannot open the vTPM key of '${r.id}' (it has no key sealer).`, { httpStatus: 500 });
    return { tpm: { key: this.sealer.unseal(r.vtpm.sealedKey, vtpmKeyAad(r.id)) } };
  }

  private imageRef(r: InstanceRecord): GuestImageRef {
    const img = this.images.get(r.imageId);
    if (!img) throw new Ec2Error('InvalidAMIID.NotFound', `The image '${r.imageId}' no longer exists.`);
    if (!img.kernel || !img.initrd) throw new Ec2Error('InvalidAMIID.Unavailable', `The image '${r.imageId}' has no kernel image to boot.`);
    return { kernel: img.kernel.path, initrd: img.initrd.path, cmdline: img.cmdline, kernelSha256: img.kernel.sha256, initrdSha256: img.initrd.sha256 };
  }

  private async drive(id: string): Promise<void> {
    const r = this.instances.get(id);
    if (!r || r.hostId === undefined) return;
    const host = r.hostId;
    const cmdId = (op: string): string => `${r.id}:${op}:${r.generation}`;
    if (r.desired === 'running' && r.state === 'pending') {
      try {
        const extra = this.network ? await this.network.beforeStart(r) : {};
        // EBS-backed: the card serves the root volume (sealed key in rootVolume) before QEMU boots it
        const root = r.rootDevice && this.rootVolumes ? await this.rootVolumes.startParams(r, host, cmdId('start')) : undefined;
        const info = await this.fleet.send(
          host,
          'instance.start',
          {
            spec: { instanceId: r.id, instanceType: r.instanceType, ...(root ? { bootDisk: root.bootDisk } : { image: this.imageRef(r) }), ...extra, ...this.vtpmSpec(r) },
            ...(root ? { rootVolume: root.rootVolume } : {}),
          },
          { id: cmdId('start'), timeoutMs: 60_000 },
        );
        const cur = this.instances.get(id);
        if (cur?.state === 'pending' && cur.desired === 'running') {
          await this.setState(id, 'running', { accel: info.accel }, undefined);
          await this.instances.update(id, (x) => ({ ...x, stateReason: undefined }));
        }
      } catch (e) {
        const code = (e as { code?: string }).code;
        // A definite refusal (bad image, bad type) ends the launch as EC2 does: terminated.
        if (code === 'ImageCorrupt' || code === 'InvalidInstanceType' || code === 'ImageNotFound') {
          await this.setState(id, 'terminated', { desired: 'terminated' }, { code: 'Server.InternalError', message: `Server.InternalError: Internal error on launch (${code})` });
        } else throw e;
      }
      return;
    }
    if (r.desired === 'running' && r.state === 'running' && r.rebootRequested > 0) {
      await this.fleet.send(host, 'instance.reboot', { instanceId: r.id }, { id: `${cmdId('reboot')}:${r.rebootRequested}` });
      await this.instances.update(id, (x) => ({ ...x, rebootRequested: 0, readyAt: undefined }));
      return;
    }
    if (r.desired === 'stopped' && r.state === 'stopping') {
      const force = r.forceStop;
      await this.fleet.send(host, 'instance.stop', { instanceId: r.id, force, deadlineMs: 30_000 }, { id: `${cmdId('stop')}:${force ? 'f' : 'n'}`, timeoutMs: 45_000 });
      if (this.instances.get(id)?.state === 'stopping') await this.setState(id, 'stopped', { readyAt: undefined });
      await this.network?.stopped?.(r);
      return;
    }
    if (r.desired === 'terminated' && r.state === 'shutting-down') {
      await this.fleet.send(host, 'instance.terminate', { instanceId: r.id }, { id: cmdId('terminate'), timeoutMs: 45_000 });
      await this.setState(id, 'terminated', { readyAt: undefined }, r.stateReason);
      await this.network?.released(r);
    }
  }

  /**
   * One reconciliation pass against one host's report. The region's record is the
   * truth for what should exist; the host's report is the truth for what does.
   */
  async reconcileHost(hostId: string, report: readonly HostInstanceInfo[]): Promise<void> {
    const onHost = new Map(report.map((i) => [i.instanceId, i]));
    for (const r of this.instances.all()) {
      if (r.hostId !== hostId) continue;
      const h = onHost.get(r.id);
      onHost.delete(r.id);
      const live = h !== undefined && (h.state === 'running' || h.state === 'starting');
      if (r.state === 'running' && h?.state === 'stopped' && attributesOf(r).instanceInitiatedShutdownBehavior === 'terminate') {
        // The guest powered itself off (its host reports it stopped, not lost) and its shutdown
        // behaviour is terminate: EC2 terminates it.
        await this.setState(r.id, 'shutting-down', { desired: 'terminated', readyAt: undefined, stateTransitionReason: 'Client.InstanceInitiatedShutdown' }, {
          code: 'Client.InstanceInitiatedShutdown',
          message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
        });
        this.kick(r.id);
        continue;
      }
      if (r.state === 'running' && !live) {
        // The guest shut itself down (or the host lost it): EC2 reports it stopped.
        await this.setState(r.id, 'stopped', { desired: 'stopped', readyAt: undefined, stateTransitionReason: 'Client.InstanceInitiatedShutdown' }, {
          code: 'Client.InstanceInitiatedShutdown',
          message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
        });
        await this.network?.stopped?.(r);
        continue;
      }
      if (r.state === 'running' && h && h.readyAt !== r.readyAt && h.readyAt !== undefined) {
        await this.instances.update(r.id, (x) => (x.readyAt === h.readyAt ? undefined : { ...x, readyAt: h.readyAt, accel: h.accel }));
      }
      if (r.state === 'pending' && live) {
        await this.setState(r.id, 'running', { accel: h.accel, readyAt: h.readyAt }, undefined);
        continue;
      }
      if (r.state === 'pending' || r.state === 'stopping' || r.state === 'shutting-down' || r.rebootRequested > 0) this.kick(r.id);
      if (r.state === 'terminated' && h !== undefined && h.state !== 'terminated') onHost.set(r.id, h);
      if (r.state === 'stopped' && live) {
        // Recorded stopped but running on the host: bring the host in line.
        await this.fleet.send(hostId, 'instance.stop', { instanceId: r.id, force: true }, { id: `${r.id}:restop:${r.generation}:${Date.now()}` });
      }
    }
    // Guests the region has no live record of are never left running unrecorded.
    for (const orphan of onHost.values()) {
      if (orphan.state === 'terminated') continue;
      log.warn('terminating a guest the region has no record of', { hostId, instanceId: orphan.instanceId });
      await this.fleet.send(hostId, 'instance.terminate', { instanceId: orphan.instanceId }, { id: `orphan:${orphan.instanceId}:${Date.now()}` });
    }
  }
}
