// EBS volumes in the region: metadata only (the bytes live in the host's EBS card), the
// account's encryption defaults, and the attach/detach path to a host.
//
// Keys: an encrypted volume gets a 64-byte AES-256-XTS data key from KMS, kept ONLY wrapped
// (GenerateDataKeyWithoutPlaintext, encryption context aws:ebs:id=vol-…), and a grant that
// lets the EBS service decrypt it. For an attach the region decrypts it as the EBS service
// under that grant, seals it at once to the EBS card's X25519 public key (ebs.info through
// the controller) and wipes its copy; the controller relays a blob it cannot open.
// Unencrypted volumes are stored as plain bytes, as EC2's are; DescribeVolumes says so.
import { EC2_VIA_SERVICE, serviceCaller, aliasArn, type Kms, type KmsCaller } from '../../kms/kms.js';
import { createLogger } from '../../lib/log.js';
import { sealTo } from '../../lib/seal.js';
import type { Collection } from '../repo.js';
import { Ec2Error, ec2NotFound } from '../protocol/errors.js';
import type { InstanceBlockDeviceMapping, Snapshot, Volume, VolumeAttachment, VolumeAttachmentState, VolumeState } from '../protocol/ec2-responses.js';
import type { BlockDeviceMappingRequest, CreateVolumeRequest, VolumeType } from '../protocol/ec2-requests.js';
import { newId } from '../ids.js';
import { compileFilterTable, opt, type Filter, type FilterTable } from './filters.js';
import type { Caller, HostFleet, InstanceService } from './instances.js';
import { AVAILABILITY_ZONES, DEFAULT_AZ, type InstanceRecord } from './model.js';

const log = createLogger('region.volumes');

export const XTS_KEY_BYTES = 64;
const GiB = 2 ** 30;

export interface VolumeRecord {
  readonly id: string;
  readonly accountId: string;
  readonly size: number; // GiB
  readonly volumeType: VolumeType;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly encrypted: boolean;
  readonly kmsKeyArn: string | undefined;
  /** base64 of the KMS ciphertext blob of the data key; never the key itself. */
  readonly wrappedKey: string | undefined;
  readonly snapshotId: string | undefined;
  readonly availabilityZone: string;
  readonly state: VolumeState;
  readonly createTime: string;
  readonly attachment: AttachmentRecord | undefined;
  /** The host whose card holds the volume's bytes (set by the first attach). */
  readonly storeHostId: string | undefined;
  readonly multiAttachEnabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
  /** A volume made from a snapshot keeps the source volume's data key and its KMS context. */
  readonly keyContextId?: string | undefined;
}

export interface SnapshotRecord {
  readonly id: string;
  readonly accountId: string;
  readonly volumeId: string;
  readonly volumeSize: number; // GiB
  readonly encrypted: boolean;
  readonly kmsKeyArn: string | undefined;
  /** The wrapped data key of the source volume (the bytes are encrypted under it). */
  readonly wrappedKey: string | undefined;
  /** The volume id in the data key's KMS encryption context (aws:ebs:id). */
  readonly keyContextId: string | undefined;
  readonly hostId: string;
  readonly state: 'pending' | 'completed' | 'error';
  readonly startTime: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface AttachmentRecord {
  readonly instanceId: string;
  readonly device: string;
  readonly state: VolumeAttachmentState;
  readonly attachTime: string;
  readonly deleteOnTermination: boolean;
  /**
   * Attached to a stopped instance: recorded (and shown `attached`, as EC2 does) but not yet
   * on any host; the watcher plugs it once the instance runs, as for RunInstances mappings.
   */
  readonly pendingPlug?: boolean | undefined;
  /** DetachVolume with Force=true: the background detach closes the export even if the guest holds on. */
  readonly detachForce?: boolean | undefined;
}

export interface EbsDefaultsRecord {
  readonly id: string; // the account id
  readonly encryptionByDefault: boolean;
  readonly kmsKeyArn: string | undefined;
}

const SIZE_BOUNDS: Readonly<Record<VolumeType, [number, number]>> = {
  standard: [1, 1024],
  gp2: [1, 16384],
  gp3: [1, 16384],
  io1: [4, 16384],
  io2: [4, 16384],
  st1: [125, 16384],
  sc1: [125, 16384],
};

const VOLUME_FILTERS: FilterTable<VolumeRecord> = {
  'volume-id': (v) => [v.id],
  status: (v) => [v.state],
  size: (v) => [String(v.size)],
  'volume-type': (v) => [v.volumeType],
  encrypted: (v) => [String(v.encrypted)],
  'availability-zone': (v) => [v.availabilityZone],
  'create-time': (v) => [v.createTime],
  'snapshot-id': (v) => opt(v.snapshotId),
  'multi-attach-enabled': (v) => [String(v.multiAttachEnabled)],
  'attachment.instance-id': (v) => opt(v.attachment?.instanceId),
  'attachment.device': (v) => opt(v.attachment?.device),
  'attachment.status': (v) => opt(v.attachment?.state),
  'attachment.attach-time': (v) => opt(v.attachment?.attachTime),
  'attachment.delete-on-termination': (v) => (v.attachment ? [String(v.attachment.deleteOnTermination)] : []),
};

/** The KMS caller for a request made by an EC2 caller through EC2 (kms:ViaService). */
export function kmsCallerOf(c: Caller): KmsCaller {
  const m = /:(root|user\/(?:.*\/)?([^/]+))$/.exec(c.arn);
  const userName = m ? (m[1] === 'root' ? 'root' : m[2]!) : 'root';
  return { principal: { accountId: c.accountId, userName, arn: c.arn }, context: { 'kms:ViaService': EC2_VIA_SERVICE } };
}

/** KMS refusals as EC2 reports them for EBS. */
function kmsToEc2(e: unknown, keyId: string): Ec2Error {
  const code = (e as { code?: unknown }).code;
  if (code === 'DisabledException' || code === 'KMSInvalidStateException') {
    return new Ec2Error('InvalidKMSKey.InvalidState', `The KMS key provided is in an incorrect state`, { context: { keyId, kmsCode: code }, cause: e });
  }
  if (code === 'NotFoundException' || code === 'InvalidArnException') {
    return new Ec2Error('InvalidParameterValue', `Invalid KMS key: '${keyId}' does not exist or is not accessible.`, { context: { keyId, kmsCode: code }, cause: e });
  }
  if (code === 'AccessDeniedException') return new Ec2Error('UnauthorizedOperation', 'You are not authorized to use the KMS key.', { context: { keyId }, cause: e });
  return new Ec2Error('InternalError', 'The KMS call failed.', { context: { keyId, kmsCode: String(code) }, cause: e });
}

/** The root device of an image: its disk is the image's initramfs here, so a mapping for it is accepted and has no volume. */
const ROOT_DEVICES = new Set(['/dev/sda1', '/dev/sda', '/dev/xvda', '/dev/nvme0n1']);

const DEVICE_RE = /^\/dev\/(sd[b-z]|xvd[b-z]|sd[b-z][a-z]?|xvd[b-z][a-z]?)$/;

export class VolumeService {
  constructor(
    private readonly volumes: Collection<VolumeRecord>,
    private readonly defaults: Collection<EbsDefaultsRecord>,
    private readonly instances: InstanceService,
    private readonly fleet: HostFleet,
    private readonly kms: Kms,
    private readonly snapshots?: Collection<SnapshotRecord>,
  ) {}

  // ---------------------------------------------------------------- account defaults

  private defaultsOf(accountId: string): EbsDefaultsRecord {
    return this.defaults.get(accountId) ?? { id: accountId, encryptionByDefault: false, kmsKeyArn: undefined };
  }

  async setEncryptionByDefault(c: Caller, on: boolean): Promise<boolean> {
    await this.defaults.put({ ...this.defaultsOf(c.accountId), encryptionByDefault: on });
    return on;
  }

  encryptionByDefault(c: Caller): boolean {
    return this.defaultsOf(c.accountId).encryptionByDefault;
  }

  defaultKmsKeyId(c: Caller): string {
    return this.defaultsOf(c.accountId).kmsKeyArn ?? aliasArn(c.accountId, 'alias/aws/ebs');
  }

  async modifyDefaultKmsKeyId(c: Caller, keyId: string): Promise<string> {
    let arn: string;
    try {
      arn = (await this.kms.describeKey(kmsCallerOf(c), keyId)).arn;
    } catch (e) {
      throw kmsToEc2(e, keyId);
    }
    await this.defaults.put({ ...this.defaultsOf(c.accountId), kmsKeyArn: arn });
    return arn;
  }

  async resetDefaultKmsKeyId(c: Caller): Promise<string> {
    await this.defaults.put({ ...this.defaultsOf(c.accountId), kmsKeyArn: undefined });
    return this.defaultKmsKeyId(c);
  }

  // ---------------------------------------------------------------- volumes

  owned(c: Caller, id: string): VolumeRecord {
    if (!/^vol-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidVolumeID.Malformed', `Invalid id: "${id}" (expecting "vol-...")`);
    const v = this.volumes.get(id);
    if (!v || v.accountId !== c.accountId || v.state === 'deleted') throw ec2NotFound('volume', id);
    return v;
  }

  async create(c: Caller, req: CreateVolumeRequest, tags: Readonly<Record<string, string>>): Promise<VolumeRecord> {
    const az = req.availabilityZone ?? (req.availabilityZoneId === 'local1-az1' ? DEFAULT_AZ : undefined);
    if (az === undefined || !(AVAILABILITY_ZONES as readonly string[]).includes(az)) {
      throw new Ec2Error('InvalidParameterValue', `Invalid availability zone: [${req.availabilityZone ?? req.availabilityZoneId ?? ''}]`);
    }
    const snap = req.snapshotId !== undefined ? this.ownedSnapshot(c, req.snapshotId) : undefined;
    const type: VolumeType = req.volumeType ?? 'gp2';
    const size = req.size ?? snap?.volumeSize;
    if (snap && size !== undefined && size < snap.volumeSize) {
      throw new Ec2Error('InvalidParameterValue', `Volume of ${size}GiB is smaller than snapshot '${snap.id}' (${snap.volumeSize}GiB).`);
    }
    if (snap && ((req.encrypted === false && snap.encrypted) || (req.kmsKeyId !== undefined && req.kmsKeyId !== snap.kmsKeyArn))) {
      throw new Ec2Error('InvalidParameterCombination', 'A volume from a snapshot keeps the snapshot\'s encryption and key here (re-encryption is not supported yet).');
    }
    if (size === undefined) throw new Ec2Error('MissingParameter', 'The request must contain the parameter size or snapshotId');
    const [min, max] = SIZE_BOUNDS[type];
    if (size < min) throw new Ec2Error('InvalidParameterValue', `Volume of ${size}GiB is too small; minimum is ${min}GiB.`);
    if (size > max) throw new Ec2Error('InvalidParameterValue', `Volume of size ${size}GiB is too large; maximum is ${max}GiB.`);
    if ((type === 'io1' || type === 'io2') && req.iops === undefined) throw new Ec2Error('MissingParameter', `The parameter iops must be specified for ${type} volumes.`);
    const defaults = this.defaultsOf(c.accountId);
    const encrypted = req.encrypted === true || defaults.encryptionByDefault;
    if (req.encrypted === false && defaults.encryptionByDefault && req.kmsKeyId === undefined) {
      // EC2: with encryption by default on, Encrypted=false is ignored (the volume is encrypted).
    }
    if (req.kmsKeyId !== undefined && !encrypted) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    const id = newId('vol');
    let kmsKeyArn: string | undefined;
    let wrappedKey: string | undefined;
    if (snap) {
      await this.fleet.send(snap.hostId, 'volume.from-snapshot', { volumeId: id, snapshotId: snap.id, sizeBytes: size * GiB }, { id: `fromsnap:${id}`, timeoutMs: 600_000 });
      const rec: VolumeRecord = {
        id,
        accountId: c.accountId,
        size,
        volumeType: type,
        iops: req.iops,
        throughput: req.throughput,
        encrypted: snap.encrypted,
        kmsKeyArn: snap.kmsKeyArn,
        wrappedKey: snap.wrappedKey,
        keyContextId: snap.keyContextId,
        snapshotId: snap.id,
        availabilityZone: az,
        state: 'available',
        createTime: new Date().toISOString(),
        attachment: undefined,
        storeHostId: snap.hostId,
        multiAttachEnabled: false,
        tags,
      };
      await this.volumes.put(rec);
      return rec;
    }
    if (encrypted) {
      const asUser = kmsCallerOf(c);
      const keyId = req.kmsKeyId ?? defaults.kmsKeyArn ?? (await this.kms.awsManagedKey(c.accountId, 'ebs')).arn;
      const ctx = { 'aws:ebs:id': id };
      try {
        const dk = await this.kms.generateDataKeyWithoutPlaintext(asUser, { keyId, numberOfBytes: XTS_KEY_BYTES, encryptionContext: ctx });
        await this.kms.createGrant(asUser, {
          keyId: dk.keyId,
          granteePrincipal: 'ebs.amazonaws.com',
          operations: ['Decrypt'],
          constraints: { encryptionContextSubset: ctx },
          retiringPrincipal: `arn:aws:iam::${c.accountId}:root`,
        });
        kmsKeyArn = dk.keyId;
        wrappedKey = dk.ciphertextBlob.toString('base64');
      } catch (e) {
        throw kmsToEc2(e, keyId);
      }
    }
    const rec: VolumeRecord = {
      id,
      accountId: c.accountId,
      size,
      volumeType: type,
      iops: req.iops,
      throughput: req.throughput,
      encrypted,
      kmsKeyArn,
      wrappedKey,
      snapshotId: undefined,
      availabilityZone: az,
      state: 'available',
      createTime: new Date().toISOString(),
      attachment: undefined,
      storeHostId: undefined,
      multiAttachEnabled: false,
      tags,
    };
    await this.volumes.put(rec);
    return rec;
  }

  describe(c: Caller, ids: readonly string[], filters: readonly Filter[]): VolumeRecord[] {
    const match = compileFilterTable(filters, VOLUME_FILTERS, (v) => v.tags);
    const base = ids.length > 0 ? ids.map((id) => this.owned(c, id)) : this.volumes.all().filter((v) => v.accountId === c.accountId && v.state !== 'deleted');
    return base.map((v) => this.effective(v)).filter(match);
  }

  /** An attachment to an instance that is gone (terminated) is shown as detached. */
  private effective(v: VolumeRecord): VolumeRecord {
    const a = v.attachment;
    if (!a) return v;
    const inst = this.instanceOf(v.accountId, a.instanceId);
    if (inst && inst.state !== 'terminated') return v;
    return { ...v, attachment: undefined, state: 'available' };
  }

  private instanceOf(accountId: string, id: string): InstanceRecord | undefined {
    try {
      return this.instances.owned({ accountId, arn: '' }, [id])[0];
    } catch {
      return undefined;
    }
  }

  async attach(c: Caller, volumeId: string, instanceId: string, device: string): Promise<VolumeAttachment> {
    const v0 = this.owned(c, volumeId);
    const [inst] = this.instances.owned(c, [instanceId]);
    if (!DEVICE_RE.test(device)) throw new Ec2Error('InvalidParameterValue', `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`);
    await this.releaseIfInstanceGone(v0);
    const v = this.owned(c, volumeId);
    if (v.attachment) throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
    if (v.state !== 'available') throw new Ec2Error('IncorrectState', `${volumeId} is not 'available'.`);
    if (inst!.availabilityZone !== v.availabilityZone) {
      throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`);
    }
    const stopped = inst!.state === 'stopped';
    if (!stopped && (inst!.state !== 'running' || !inst!.hostId)) {
      throw new Ec2Error('IncorrectInstanceState', `The instance '${instanceId}' is not in the 'running' or 'stopped' state.`);
    }
    if (this.volumes.all().some((o) => o.attachment?.instanceId === instanceId && o.attachment.device === device)) {
      throw new Ec2Error('InvalidParameterValue', `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`);
    }
    if (v.storeHostId !== undefined && inst!.hostId !== undefined && v.storeHostId !== inst!.hostId) {
      throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${volumeId}' is stored on another host than instance '${instanceId}'; moving volumes between hosts is not supported.`);
    }
    const attachTime = new Date().toISOString();
    if (stopped) {
      // EC2: attaching to a stopped instance is recorded at once; the device appears at the next start.
      const att: AttachmentRecord = { instanceId, device, state: 'attached', attachTime, deleteOnTermination: false, pendingPlug: true };
      const claimed = await this.volumes.update(volumeId, (cur) => (cur.attachment || cur.state !== 'available' ? undefined : { ...cur, attachment: att, state: 'in-use' }));
      if (!claimed || claimed.attachment !== att) throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
      return attachmentView(volumeId, { ...att, state: 'attaching' });
    }
    const hostId = inst!.hostId!;
    const att: AttachmentRecord = { instanceId, device, state: 'attaching', attachTime, deleteOnTermination: false };
    const claimed = await this.volumes.update(volumeId, (cur) => (cur.attachment || cur.state !== 'available' ? undefined : { ...cur, attachment: att, state: 'in-use', storeHostId: hostId }));
    if (!claimed || claimed.attachment !== att) throw new Ec2Error('VolumeInUse', `${volumeId} is already attached to an instance`);
    try {
      await this.plugOnHost(claimed, hostId, instanceId, `attach:${volumeId}:${instanceId}:${attachTime}`);
    } catch (e) {
      await this.volumes.update(volumeId, (cur) => ({ ...cur, attachment: undefined, state: 'available' }));
      throw e;
    }
    const done = await this.volumes.update(volumeId, (cur) => ({ ...cur, attachment: cur.attachment ? { ...cur.attachment, state: 'attached' } : undefined }));
    return attachmentView(volumeId, done!.attachment ?? att);
  }

  /**
   * The EBS card key a data key may be sealed to: the one the host's attestation document binds
   * (public_key), so a key only ever goes to a measured card. No key goes to a host that failed
   * attestation (Fleet.requireAttestedHost throws then). The card must name the same key in
   * ebs.info; when it does not — the card was replaced (live update, crash) since the cached
   * attestation — the host attests afresh, and if its document still binds another key (or
   * none), no key leaves the region. A fleet without attestation (unit tests) uses ebs.info's.
   */
  private async attestedCardKey(hostId: string, cmdId: string): Promise<string> {
    const info = (await this.fleet.send(hostId, 'ebs.info', {}, { id: `${cmdId}:info:${Date.now()}` })) as { publicKey: string };
    const f = this.fleet as HostFleet & {
      requireAttestedHost?: (h: string) => Promise<{ readonly ebsCardPublicKey: Buffer | null } | undefined>;
      attestation?: { attest(h: string, reason: string): Promise<unknown> };
    };
    if (!f.requireAttestedHost) return info.publicKey;
    let a = await f.requireAttestedHost(hostId);
    if (a === undefined) return info.publicKey;
    if (a.ebsCardPublicKey?.toString('base64') !== info.publicKey && f.attestation) {
      await f.attestation.attest(hostId, 'key-release');
      a = await f.requireAttestedHost(hostId);
    }
    if (a?.ebsCardPublicKey?.toString('base64') !== info.publicKey) {
      log.error('the EBS card key differs from the one the host attested; no data key is released', { hostId });
      throw new Ec2Error('InternalError', `The EBS card of host ${hostId} is not the one its attestation binds; no volume key was released.`);
    }
    return info.publicKey;
  }

  /** Unwraps the data key as the EBS service under its grant, seals it to the host's card, and sends volume.attach. */
  private async plugOnHost(v: VolumeRecord, hostId: string, instanceId: string, cmdId: string): Promise<void> {
    const sealedKey = await this.sealedKeyFor(v, hostId, cmdId);
    await this.fleet.send(hostId, 'volume.attach', { instanceId, volumeId: v.id, sizeBytes: v.size * GiB, sealedKey }, { id: cmdId, timeoutMs: 120_000 });
  }

  /**
   * An EBS-backed instance's instance.start (src/region/ec2/root-volumes.ts): what the host's
   * card needs to serve the root volume before QEMU starts — its size and its data key sealed
   * to the attested card (null when unencrypted).
   */
  async rootVolumeOpen(volumeId: string, hostId: string, cmdId: string): Promise<{ sizeBytes: number; sealedKey: string | null }> {
    const v = this.volumes.get(volumeId);
    if (!v || v.state === 'deleted') throw ec2NotFound('volume', volumeId);
    if (v.storeHostId === undefined) await this.volumes.update(volumeId, (cur) => ({ ...cur, storeHostId: hostId }));
    return { sizeBytes: v.size * GiB, sealedKey: await this.sealedKeyFor(v, hostId, cmdId) };
  }

  /** Records a new instance's root volume as attached (it is opened by instance.start, never hot-plugged). */
  async recordRootAttachment(volumeId: string, instanceId: string, device: string, deleteOnTermination: boolean, snapshotId: string): Promise<void> {
    const att: AttachmentRecord = { instanceId, device, state: 'attached', attachTime: new Date().toISOString(), deleteOnTermination };
    // snapshotId: the image's snapshot, also when the bytes came through a re-encrypted copy
    await this.volumes.update(volumeId, (cur) => ({ ...cur, attachment: att, state: 'in-use', snapshotId }));
  }

  private async sealedKeyFor(v: VolumeRecord, hostId: string, cmdId: string): Promise<string | null> {
    let sealedKey: string | null = null;
    if (v.encrypted) {
      const cardKey = await this.attestedCardKey(hostId, cmdId);
      let plaintext: Buffer;
      try {
        ({ plaintext } = await this.kms.decrypt(serviceCaller('ebs.amazonaws.com', v.accountId), {
          ciphertextBlob: Buffer.from(v.wrappedKey ?? '', 'base64'),
          encryptionContext: { 'aws:ebs:id': v.keyContextId ?? v.id },
        }));
      } catch (e) {
        throw kmsToEc2(e, v.kmsKeyArn ?? '');
      }
      try {
        sealedKey = sealTo(Buffer.from(cardKey, 'base64'), plaintext, Buffer.from(v.id)).toString('base64');
      } finally {
        plaintext.fill(0);
      }
    }
    return sealedKey;
  }

  private async releaseIfInstanceGone(v: VolumeRecord): Promise<void> {
    const a = v.attachment;
    if (!a) return;
    const inst = this.instanceOf(v.accountId, a.instanceId);
    if (inst && inst.state !== 'terminated') return;
    if (v.storeHostId) {
      await this.fleet
        .send(v.storeHostId, 'volume.detach', { instanceId: a.instanceId, volumeId: v.id, force: true }, { id: `release:${v.id}:${a.attachTime}` })
        .catch((e: unknown) => log.warn('could not release a volume of a terminated instance', { volumeId: v.id, error: String(e) }));
    }
    await this.volumes.update(v.id, (cur) => ({ ...cur, attachment: undefined, state: 'available' }));
  }

  /**
   * DetachVolume as EC2 does it: the answer comes at once with the attachment `detaching` (the
   * volume stays `in-use`, DescribeVolumes shows the attachment detaching) and the host work
   * finishes in the background (→ `available`): hot-unplug in the guest, then the card closes
   * the export and forgets the key. A guest that does not let go keeps the volume detaching
   * (retried with backoff by the watcher); Force=true — also on a volume already detaching —
   * finishes it regardless (the card closes the export). A region restarted while a detach
   * was in flight finishes it from its record (the watcher's reconcile pass).
   */
  async detach(c: Caller, volumeId: string, instanceId: string | undefined, device: string | undefined, force: boolean): Promise<VolumeAttachment> {
    const v0 = this.owned(c, volumeId);
    await this.releaseIfInstanceGone(v0);
    const v = this.owned(c, volumeId);
    const a = v.attachment;
    if (!a) throw new Ec2Error('IncorrectState', `Volume '${volumeId}' is in the 'available' state.`);
    if ((instanceId !== undefined && instanceId !== a.instanceId) || (device !== undefined && device !== a.device)) {
      throw new Ec2Error('InvalidAttachment.NotFound', `The volume '${volumeId}' is not attached to instance '${instanceId ?? a.instanceId}'${device ? ` at ${device}` : ''}.`);
    }
    if (this.instanceOf(v.accountId, a.instanceId)?.rootDevice?.volumeId === volumeId) {
      throw new Ec2Error('OperationNotPermitted', `The volume '${volumeId}' is the root device of instance '${a.instanceId}'; detaching a root volume is not supported here.`);
    }
    if (a.state === 'detaching') {
      if (!force) throw new Ec2Error('IncorrectState', `Volume '${volumeId}' is in the 'detaching' state.`);
      await this.volumes.update(volumeId, (cur) => (cur.attachment?.attachTime === a.attachTime && cur.attachment.state === 'detaching' ? { ...cur, attachment: { ...cur.attachment, detachForce: true } } : undefined));
      this.kickDetach(volumeId, true);
      return attachmentView(volumeId, a);
    }
    if (a.state !== 'attached') throw new Ec2Error('IncorrectState', `Volume '${volumeId}' is ${a.state}.`);
    if (a.pendingPlug) {
      // attached while the instance was stopped and not plugged anywhere yet: nothing on a host to undo
      const freed = await this.volumes.update(volumeId, (cur) => (cur.attachment?.pendingPlug && cur.attachment.attachTime === a.attachTime ? { ...cur, attachment: undefined, state: 'available' } : undefined));
      if (freed && !freed.attachment) return attachmentView(volumeId, { ...a, state: 'detaching' });
      throw new Ec2Error('IncorrectState', `Volume '${volumeId}' is being plugged; try again.`);
    }
    const marked = await this.volumes.update(volumeId, (cur) =>
      cur.attachment?.attachTime === a.attachTime && cur.attachment.state === 'attached' && !cur.attachment.pendingPlug
        ? { ...cur, attachment: { ...cur.attachment, state: 'detaching', ...(force ? { detachForce: true } : {}) } }
        : undefined,
    );
    if (marked?.attachment?.attachTime !== a.attachTime || marked.attachment.state !== 'detaching') {
      throw new Ec2Error('IncorrectState', `Volume '${volumeId}' changed state; try again.`);
    }
    this.kickDetach(volumeId, force);
    return attachmentView(volumeId, marked.attachment);
  }

  /** Background detaches in flight, by volume id and kind (a forced one does not wait for a normal one). */
  private readonly detachJobs = new Map<string, Promise<void>>();
  /** Volumes whose guest did not let go: the next try, with backoff. */
  private readonly detachRetry = new Map<string, { attempts: number; at: number }>();

  private kickDetach(volumeId: string, force: boolean): void {
    const key = `${volumeId}:${force ? 'force' : 'normal'}`;
    if (this.detachJobs.has(key)) return;
    const job = this.finishDetach(volumeId, force)
      .catch((e: unknown) => log.warn('a background detach failed; the watcher tries again', { volumeId, force, error: String(e) }))
      .finally(() => this.detachJobs.delete(key));
    this.detachJobs.set(key, job);
  }

  /** Carries out a recorded detach on the host (idempotent there), then makes the volume available. */
  private async finishDetach(volumeId: string, force: boolean): Promise<void> {
    const v = this.volumes.get(volumeId);
    const a = v?.attachment;
    if (!v || !a || a.state !== 'detaching') return;
    const inst = this.instanceOf(v.accountId, a.instanceId);
    if (!inst || inst.state === 'terminated') {
      await this.releaseIfInstanceGone(v);
      return;
    }
    const forced = force || a.detachForce === true;
    if (v.storeHostId) {
      try {
        await this.fleet.send(v.storeHostId, 'volume.detach', { instanceId: a.instanceId, volumeId, force: forced }, { id: `detach:${volumeId}:${a.attachTime}:${forced ? 'force' : 'normal'}:${Date.now()}`, timeoutMs: 120_000 });
      } catch (e) {
        // EC2: a guest that does not release the device keeps the volume detaching; Force=true ends it
        const prev = this.detachRetry.get(volumeId)?.attempts ?? 0;
        const delayMs = Math.min(300_000, 15_000 * 2 ** prev);
        this.detachRetry.set(volumeId, { attempts: prev + 1, at: Date.now() + delayMs });
        log.warn('the host did not finish a detach; the volume stays detaching', { volumeId, force: forced, retryInMs: delayMs, error: String(e) });
        return;
      }
    }
    this.detachRetry.delete(volumeId);
    await this.volumes.update(volumeId, (cur) => (cur.attachment?.attachTime === a.attachTime && cur.attachment.state === 'detaching' ? { ...cur, attachment: undefined, state: 'available' } : undefined));
  }

  /** The watcher's reconcile pass: every recorded detach that is not running is started (again); after a region restart, at once. */
  private reconcileDetaches(): void {
    const now = Date.now();
    for (const v of this.volumes.all()) {
      const a = v.attachment;
      if (a?.state !== 'detaching') continue;
      const r = this.detachRetry.get(v.id);
      if (r && now < r.at) continue;
      this.kickDetach(v.id, a.detachForce === true);
    }
  }

  async delete(c: Caller, volumeId: string): Promise<void> {
    const v0 = this.owned(c, volumeId);
    await this.releaseIfInstanceGone(v0);
    const v = this.owned(c, volumeId);
    if (v.attachment) throw new Ec2Error('VolumeInUse', `Volume ${volumeId} is currently attached to ${v.attachment.instanceId}`);
    await this.volumes.update(volumeId, (cur) => ({ ...cur, state: 'deleting' }));
    if (v.storeHostId) await this.fleet.send(v.storeHostId, 'volume.delete', { volumeId }, { id: `delete:${volumeId}` });
    await this.volumes.delete(volumeId);
  }

  async modify(c: Caller, volumeId: string, size: number | undefined, type: VolumeType | undefined, iops: number | undefined, throughput: number | undefined): Promise<{ before: VolumeRecord; after: VolumeRecord }> {
    const v = this.owned(c, volumeId);
    const newType = type ?? v.volumeType;
    const newSize = size ?? v.size;
    if (newSize < v.size) throw new Ec2Error('InvalidParameterValue', `New size cannot be smaller than existing size (${v.size} GiB).`);
    const [, max] = SIZE_BOUNDS[newType];
    if (newSize > max) throw new Ec2Error('InvalidParameterValue', `Volume of size ${newSize}GiB is too large; maximum is ${max}GiB.`);
    if (newSize !== v.size && v.attachment) {
      throw new Ec2Error('IncorrectState', `Volume '${volumeId}' must be detached to grow it here (online resize is not supported yet).`);
    }
    const after = (await this.volumes.update(volumeId, (cur) => ({ ...cur, size: newSize, volumeType: newType, iops: iops ?? cur.iops, throughput: throughput ?? cur.throughput })))!;
    return { before: v, after };
  }

  // ---------------------------------------------------------------- RunInstances BlockDeviceMappings

  /** Refuses bad mappings before any instance is created. */
  checkMappings(c: Caller, mappings: readonly BlockDeviceMappingRequest[]): void {
    const seen = new Set<string>();
    for (const m of mappings) {
      if (!m.ebs || m.noDevice || m.virtualName || ROOT_DEVICES.has(m.deviceName)) continue;
      if (!DEVICE_RE.test(m.deviceName)) throw new Ec2Error('InvalidBlockDeviceMapping', `The device name ${m.deviceName} is not supported for extra EBS volumes here (use /dev/sdf…/dev/sdp).`);
      if (seen.has(m.deviceName)) throw new Ec2Error('InvalidBlockDeviceMapping', `The device ${m.deviceName} is mapped twice.`);
      seen.add(m.deviceName);
      const type = (m.ebs.volumeType ?? 'gp2') as VolumeType;
      const bounds = SIZE_BOUNDS[type];
      if (!bounds) throw new Ec2Error('InvalidParameterValue', `Invalid volume type: ${m.ebs.volumeType}`);
      if (m.ebs.snapshotId !== undefined) this.ownedSnapshot(c, m.ebs.snapshotId);
      else if (m.ebs.volumeSize === undefined) throw new Ec2Error('MissingParameter', `The block device mapping for ${m.deviceName} needs a VolumeSize or a SnapshotId.`);
      if (m.ebs.volumeSize !== undefined && (m.ebs.volumeSize < bounds[0] || m.ebs.volumeSize > bounds[1])) {
        throw new Ec2Error('InvalidParameterValue', `Volume of size ${m.ebs.volumeSize}GiB is out of range for ${type} (${bounds[0]}-${bounds[1]}GiB).`);
      }
    }
  }

  /**
   * Creates the mapped volumes of new instances, attached in state `attaching`; the watcher
   * plugs them once the instance runs (DeleteOnTermination defaults to true, as in EC2).
   */
  async fromMappings(c: Caller, instances: readonly InstanceRecord[], mappings: readonly BlockDeviceMappingRequest[]): Promise<void> {
    for (const inst of instances) {
      for (const m of mappings) {
        if (!m.ebs || m.noDevice || m.virtualName || ROOT_DEVICES.has(m.deviceName)) continue;
        const v = await this.create(
          c,
          {
            action: 'CreateVolume',
            dryRun: false,
            availabilityZone: inst.availabilityZone,
            availabilityZoneId: undefined,
            size: m.ebs.volumeSize,
            snapshotId: m.ebs.snapshotId,
            volumeType: m.ebs.volumeType as VolumeType | undefined,
            iops: m.ebs.iops,
            throughput: m.ebs.throughput,
            encrypted: m.ebs.encrypted,
            kmsKeyId: m.ebs.kmsKeyId,
            multiAttachEnabled: undefined,
            tagSpecifications: [],
            clientToken: undefined,
          } as CreateVolumeRequest,
          {},
        );
        const att: AttachmentRecord = { instanceId: inst.id, device: m.deviceName, state: 'attaching', attachTime: new Date().toISOString(), deleteOnTermination: m.ebs.deleteOnTermination ?? true };
        await this.volumes.update(v.id, (cur) => ({ ...cur, attachment: att, state: 'in-use' }));
      }
    }
  }

  /** Volumes of terminated instances: DeleteOnTermination ones are deleted, the others become available. */
  private async sweepTerminated(): Promise<void> {
    for (const v of this.volumes.all()) {
      const a = v.attachment;
      if (!a) continue;
      const inst = this.instanceOf(v.accountId, a.instanceId);
      if (inst && inst.state !== 'terminated') continue;
      await this.releaseIfInstanceGone(v);
      if (a.deleteOnTermination) {
        if (v.storeHostId) await this.fleet.send(v.storeHostId, 'volume.delete', { volumeId: v.id }, { id: `dot:${v.id}` }).catch((e: unknown) => log.warn('could not delete a volume on termination', { volumeId: v.id, error: String(e) }));
        await this.volumes.delete(v.id);
      }
    }
  }

  // ---------------------------------------------------------------- snapshots

  ownedSnapshot(c: Caller, id: string): SnapshotRecord {
    if (!/^snap-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
    const s = this.snapshots?.get(id);
    if (!s || s.accountId !== c.accountId) throw ec2NotFound('snapshot', id);
    return s;
  }

  /** A consistent point-in-time copy taken by the host's card (under a write barrier), ciphertext as stored. */
  async createSnapshot(c: Caller, volumeId: string, description: string | undefined, tags: Readonly<Record<string, string>>): Promise<SnapshotRecord> {
    if (!this.snapshots) throw new Ec2Error('InvalidAction', 'Snapshots are not served by this region.');
    const v = this.owned(c, volumeId);
    const hostId = v.storeHostId ?? this.fleet.hosts()[0]?.id;
    if (!hostId) throw new Ec2Error('InsufficientCapacity', 'No host can store the snapshot.');
    const id = newId('snap');
    await this.fleet.send(hostId, 'snapshot.create', { volumeId, snapshotId: id, sizeBytes: v.size * GiB }, { id: `snap:${id}`, timeoutMs: 600_000 });
    if (!v.storeHostId) await this.volumes.update(volumeId, (cur) => ({ ...cur, storeHostId: hostId }));
    const rec: SnapshotRecord = {
      id,
      accountId: c.accountId,
      volumeId,
      volumeSize: v.size,
      encrypted: v.encrypted,
      kmsKeyArn: v.kmsKeyArn,
      wrappedKey: v.wrappedKey,
      keyContextId: v.encrypted ? (v.keyContextId ?? v.id) : undefined,
      hostId,
      state: 'completed',
      startTime: new Date().toISOString(),
      description: description ?? '',
      tags,
    };
    await this.snapshots.put(rec);
    return rec;
  }

  /** Unwraps a data key as the EBS service (under its grant) and seals it to the card for aad. */
  private async sealFor(accountId: string, wrapped: string, contextId: string, keyArn: string, cardKey: string, aad: string): Promise<string> {
    let plaintext: Buffer;
    try {
      ({ plaintext } = await this.kms.decrypt(serviceCaller('ebs.amazonaws.com', accountId), { ciphertextBlob: Buffer.from(wrapped, 'base64'), encryptionContext: { 'aws:ebs:id': contextId } }));
    } catch (e) {
      throw kmsToEc2(e, keyArn);
    }
    try {
      return sealTo(Buffer.from(cardKey, 'base64'), plaintext, Buffer.from(aad)).toString('base64');
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * CopySnapshot (same region): a new snapshot whose bytes the host's card re-encrypts under a
   * new data key (Encrypted / KmsKeyId; an unencrypted source becomes encrypted). The region
   * only relays sealed keys; it never sees the data.
   */
  async copySnapshot(c: Caller, req: { sourceSnapshotId: string; sourceRegion: string; description: string | undefined; encrypted: boolean | undefined; kmsKeyId: string | undefined }, tags: Readonly<Record<string, string>>): Promise<SnapshotRecord> {
    if (!this.snapshots) throw new Ec2Error('InvalidAction', 'Snapshots are not served by this region.');
    if (req.sourceRegion !== 'local-1') throw new Ec2Error('InvalidParameterValue', `Invalid source region: ${req.sourceRegion}`);
    const src = this.ownedSnapshot(c, req.sourceSnapshotId);
    const defaults = this.defaultsOf(c.accountId);
    const encrypted = src.encrypted || req.encrypted === true || defaults.encryptionByDefault;
    if (req.kmsKeyId !== undefined && !encrypted) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    const id = newId('snap');
    let kmsKeyArn: string | undefined;
    let wrappedKey: string | undefined;
    if (encrypted) {
      const asUser = kmsCallerOf(c);
      const keyId = req.kmsKeyId ?? src.kmsKeyArn ?? defaults.kmsKeyArn ?? (await this.kms.awsManagedKey(c.accountId, 'ebs')).arn;
      const ctx = { 'aws:ebs:id': id };
      try {
        const dk = await this.kms.generateDataKeyWithoutPlaintext(asUser, { keyId, numberOfBytes: XTS_KEY_BYTES, encryptionContext: ctx });
        await this.kms.createGrant(asUser, { keyId: dk.keyId, granteePrincipal: 'ebs.amazonaws.com', operations: ['Decrypt'], constraints: { encryptionContextSubset: ctx }, retiringPrincipal: `arn:aws:iam::${c.accountId}:root` });
        kmsKeyArn = dk.keyId;
        wrappedKey = dk.ciphertextBlob.toString('base64');
      } catch (e) {
        throw kmsToEc2(e, keyId);
      }
    }
    const info = { publicKey: src.encrypted || encrypted ? await this.attestedCardKey(src.hostId, `copy:${id}`) : '' };
    const sourceKey = src.encrypted ? await this.sealFor(c.accountId, src.wrappedKey!, src.keyContextId ?? src.volumeId, src.kmsKeyArn ?? '', info.publicKey, src.id) : null;
    const key = encrypted ? await this.sealFor(c.accountId, wrappedKey!, id, kmsKeyArn!, info.publicKey, id) : null;
    await this.fleet.send(src.hostId, 'snapshot.copy', { sourceSnapshotId: src.id, snapshotId: id, sourceKey, key }, { id: `copy:${id}`, timeoutMs: 600_000 });
    const rec: SnapshotRecord = {
      id,
      accountId: c.accountId,
      volumeId: 'vol-ffffffff',
      volumeSize: src.volumeSize,
      encrypted,
      kmsKeyArn,
      wrappedKey,
      keyContextId: encrypted ? id : undefined,
      hostId: src.hostId,
      state: 'completed',
      startTime: new Date().toISOString(),
      description: req.description ?? `[Copied ${src.id} from local-1]`,
      tags,
    };
    await this.snapshots.put(rec);
    return rec;
  }

  describeSnapshots(c: Caller, ids: readonly string[], filters: readonly Filter[]): SnapshotRecord[] {
    const match = compileFilterTable(filters, SNAPSHOT_FILTERS, (x) => x.tags);
    const base = ids.length > 0 ? ids.map((id) => this.ownedSnapshot(c, id)) : (this.snapshots?.all() ?? []).filter((s) => s.accountId === c.accountId);
    return base.filter(match);
  }

  async deleteSnapshot(c: Caller, id: string): Promise<void> {
    const s = this.ownedSnapshot(c, id);
    await this.fleet.send(s.hostId, 'snapshot.delete', { snapshotId: id }, { id: `delsnap:${id}` });
    await this.snapshots!.delete(id);
  }

  async setSnapshotTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.snapshots?.update(id, (cur) => ({ ...cur, tags }));
  }

  findSnapshot(c: Caller, id: string): SnapshotRecord | undefined {
    const s = this.snapshots?.get(id);
    return s && s.accountId === c.accountId ? s : undefined;
  }

  listSnapshots(c: Caller): SnapshotRecord[] {
    return (this.snapshots?.all() ?? []).filter((s) => s.accountId === c.accountId);
  }

  // ---------------------------------------------------------------- card restarts

  private watchTimer: NodeJS.Timeout | undefined;
  private watching: Promise<void> | undefined;

  /**
   * Every intervalMs, asks each host that serves attached volumes which volumes its EBS card
   * has open. A card that crashed and was restarted by its controller has none (its keys died
   * with it): the region unwraps and seals each key again to the new card's public key and
   * sends volume.attach, and QEMU's NBD client reconnects to the same socket (reconnect-delay).
   */
  startWatching(intervalMs = 2000): void {
    const tick = (): void => {
      if (this.watching) return;
      this.watching = this.redeliverOnce()
        .then(() => undefined)
        .finally(() => (this.watching = undefined));
    };
    this.watchTimer = setInterval(tick, intervalMs);
    this.watchTimer.unref();
  }

  async redeliverOnce(): Promise<number> {
    let sent = 0;
    const byHost = new Map<string, VolumeRecord[]>();
    await this.sweepTerminated().catch((e: unknown) => log.warn('sweeping volumes of terminated instances failed', { error: String(e) }));
    this.reconcileDetaches();
    for (const v0 of this.volumes.all()) {
      const a = v0.attachment;
      if (!a || (a.state !== 'attached' && a.state !== 'attaching')) continue;
      const inst = this.instanceOf(v0.accountId, a.instanceId);
      if (!inst || inst.state !== 'running' || !inst.hostId) continue;
      if (a.state === 'attaching' || a.pendingPlug) {
        // a RunInstances mapping, or a volume attached while stopped, whose instance now runs: its first plug
        if (v0.storeHostId !== undefined && v0.storeHostId !== inst.hostId) continue;
        const v = (await this.volumes.update(v0.id, (cur) => ({ ...cur, storeHostId: inst.hostId })))!;
        try {
          await this.plugOnHost(v, inst.hostId, a.instanceId, `bdm:${v.id}:${a.attachTime}`);
          await this.volumes.update(v.id, (cur) => ({ ...cur, attachment: cur.attachment ? { ...cur.attachment, state: 'attached', pendingPlug: undefined } : undefined }));
          sent++;
        } catch (e) {
          log.warn('could not attach a mapped volume', { volumeId: v.id, error: String(e) });
        }
        continue;
      }
      if (!v0.storeHostId) continue;
      byHost.set(v0.storeHostId, [...(byHost.get(v0.storeHostId) ?? []), v0]);
    }
    for (const [hostId, vols] of byHost) {
      let open: Set<string>;
      try {
        const info = (await this.fleet.send(hostId, 'ebs.info', {}, { id: `watch:${hostId}:${Date.now()}:${Math.random()}`, timeoutMs: 10_000 })) as { volumeIds?: string[] };
        open = new Set(info.volumeIds ?? []);
      } catch {
        continue; // card restarting or host unreachable: next round
      }
      for (const v of vols) {
        if (open.has(v.id)) continue;
        try {
          log.warn('the EBS card does not serve an attached volume (restarted?); delivering its key again', { volumeId: v.id, hostId });
          await this.plugOnHost(v, hostId, v.attachment!.instanceId, `redeliver:${v.id}:${Date.now()}`);
          sent++;
        } catch (e) {
          log.warn('could not deliver a volume to its card again', { volumeId: v.id, error: String(e) });
        }
      }
    }
    return sent;
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.watching;
    // a detach waiting on a guest is picked up again by the next region from its record
    const jobs = [...this.detachJobs.values()];
    if (jobs.length) await Promise.race([Promise.allSettled(jobs), new Promise((r) => setTimeout(r, 3_000).unref())]);
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.volumes.update(id, (cur) => ({ ...cur, tags }));
  }

  /** DescribeInstances' blockDeviceMapping: each instance's attached volumes, by instance id. */
  blockDevicesByInstance(c: Caller): Map<string, InstanceBlockDeviceMapping[]> {
    const out = new Map<string, InstanceBlockDeviceMapping[]>();
    for (const v of this.list(c).map((x) => this.effective(x))) {
      const a = v.attachment;
      if (!a) continue;
      const status = a.state === 'busy' ? 'attached' : a.state;
      const m: InstanceBlockDeviceMapping = { deviceName: a.device, ebs: { volumeId: v.id, status, attachTime: new Date(a.attachTime), deleteOnTermination: a.deleteOnTermination } };
      out.set(a.instanceId, [...(out.get(a.instanceId) ?? []), m]);
    }
    for (const l of out.values()) l.sort((x, y) => (x.deviceName < y.deviceName ? -1 : x.deviceName > y.deviceName ? 1 : 0));
    return out;
  }

  find(c: Caller, id: string): VolumeRecord | undefined {
    const v = this.volumes.get(id);
    return v && v.accountId === c.accountId && v.state !== 'deleted' ? v : undefined;
  }

  list(c: Caller): VolumeRecord[] {
    return this.volumes.all().filter((v) => v.accountId === c.accountId && v.state !== 'deleted');
  }
}

const SNAPSHOT_FILTERS: FilterTable<SnapshotRecord> = {
  'snapshot-id': (s) => [s.id],
  'volume-id': (s) => [s.volumeId],
  status: (s) => [s.state],
  encrypted: (s) => [String(s.encrypted)],
  'owner-id': (s) => [s.accountId],
  'volume-size': (s) => [String(s.volumeSize)],
  description: (s) => [s.description],
  'start-time': (s) => [s.startTime],
};

export function snapshotView(s: SnapshotRecord): Snapshot {
  return {
    snapshotId: s.id,
    volumeId: s.volumeId,
    state: s.state,
    startTime: new Date(s.startTime),
    progress: '100%',
    ownerId: s.accountId,
    description: s.description,
    volumeSize: s.volumeSize,
    encrypted: s.encrypted,
    kmsKeyId: s.kmsKeyArn,
    storageTier: 'standard',
    completionTime: new Date(s.startTime),
    tags: Object.entries(s.tags).map(([key, value]) => ({ key, value })),
  };
}

function attachmentView(volumeId: string, a: AttachmentRecord): VolumeAttachment {
  return { volumeId, instanceId: a.instanceId, device: a.device, state: a.state, attachTime: new Date(a.attachTime), deleteOnTermination: a.deleteOnTermination };
}

export function volumeView(v: VolumeRecord): Volume {
  return {
    volumeId: v.id,
    size: v.size,
    snapshotId: v.snapshotId,
    availabilityZone: v.availabilityZone,
    availabilityZoneId: 'local1-az1',
    state: v.state,
    createTime: new Date(v.createTime),
    attachments: v.attachment ? [attachmentView(v.id, v.attachment)] : [],
    volumeType: v.volumeType,
    iops: v.iops ?? (v.volumeType === 'gp3' ? 3000 : v.volumeType === 'gp2' ? Math.min(16000, Math.max(100, v.size * 3)) : undefined),
    throughput: v.throughput ?? (v.volumeType === 'gp3' ? 125 : undefined),
    encrypted: v.encrypted,
    kmsKeyId: v.kmsKeyArn,
    multiAttachEnabled: v.multiAttachEnabled,
    tags: Object.entries(v.tags).map(([key, value]) => ({ key, value })),
  };
}
