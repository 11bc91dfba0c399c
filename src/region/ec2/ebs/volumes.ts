// EBS volumes in the region: their records and the orchestration of hosts for them (attach,
// detach, delete, the volumes of RunInstances' block device mappings, and the watcher that
// delivers a key again to a restarted card). Unencrypted volumes are stored as plain bytes,
// as EC2's are; DescribeVolumes says so. Keys go only through key-release.ts; snapshots are
// snapshots.ts, the account's encryption defaults account-defaults.ts.
import { createLogger } from '../../../lib/log.js';
import { newId } from '../../ids.js';
import { Ec2Error, ec2NotFound } from '../../protocol/errors.js';
import type { InstanceBlockDeviceMapping, VolumeAttachment } from '../../protocol/ec2/responses/index.js';
import type { BlockDeviceMappingRequest, CreateVolumeRequest, VolumeType } from '../../protocol/ec2/requests/index.js';
import type { Collection } from '../../repo.js';
import { compileFilterTable, opt, type Filter, type FilterTable } from '../filters.js';
import type { Caller, HostFleet, InstanceService } from '../instances.js';
import { checkAvailabilityZone, DEFAULT_AZ, type InstanceRecord } from '../model.js';
import type { EbsAccountDefaults } from './account-defaults.js';
import type { EbsKeyRelease } from './key-release.js';
import { attachmentView, GiB, ownedSnapshot, type AttachmentRecord, type SnapshotRecord, type VolumeRecord } from './records.js';

const log = createLogger('region.volumes');

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

/** The root device of an image: its disk is the image's initramfs here, so a mapping for it is accepted and has no volume. */
const ROOT_DEVICES = new Set(['/dev/sda1', '/dev/sda', '/dev/xvda', '/dev/nvme0n1']);

const DEVICE_RE = /^\/dev\/(sd[b-z]|xvd[b-z]|sd[b-z][a-z]?|xvd[b-z][a-z]?)$/;

export class VolumeService {
  constructor(
    private readonly volumes: Collection<VolumeRecord>,
    /** Read for CreateVolume from a snapshot (SnapshotService writes them). */
    private readonly snapshots: Collection<SnapshotRecord>,
    private readonly instances: InstanceService,
    private readonly fleet: HostFleet,
    private readonly keys: EbsKeyRelease,
    private readonly defaults: EbsAccountDefaults,
  ) {}

  private reencrypt: ((c: Caller, snapshotId: string, kmsKeyId: string | undefined) => Promise<SnapshotRecord>) | undefined;
  private discardCopy: ((c: Caller, snapshotId: string) => Promise<unknown>) | undefined;

  /**
   * How a volume from a snapshot is encrypted under another key: a re-encrypted copy of the
   * snapshot (SnapshotService.copy, made after this service) and its deletion.
   */
  useReencryption(copy: (c: Caller, snapshotId: string, kmsKeyId: string | undefined) => Promise<SnapshotRecord>, discard: (c: Caller, snapshotId: string) => Promise<unknown>): void {
    this.reencrypt = copy;
    this.discardCopy = discard;
  }

  owned(c: Caller, id: string): VolumeRecord {
    if (!/^vol-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidVolumeID.Malformed', `Invalid id: "${id}" (expecting "vol-...")`);
    const v = this.volumes.get(id);
    if (!v || v.accountId !== c.accountId || v.state === 'deleted') throw ec2NotFound('volume', id);
    return v;
  }

  async create(c: Caller, req: CreateVolumeRequest, tags: Readonly<Record<string, string>>): Promise<VolumeRecord> {
    const az = checkAvailabilityZone(req.availabilityZone ?? (req.availabilityZoneId === 'local1-az1' ? DEFAULT_AZ : undefined), req.availabilityZone ?? req.availabilityZoneId ?? '');
    const snap = req.snapshotId !== undefined ? ownedSnapshot(this.snapshots, c, req.snapshotId) : undefined;
    if (snap && snap.state !== 'completed') throw new Ec2Error('IncorrectState', `Snapshot '${snap.id}' is ${snap.state}; a volume can only be created from a completed snapshot.`, { context: { snapshotId: snap.id, state: snap.state } });
    const type: VolumeType = req.volumeType ?? 'gp2';
    const size = req.size ?? snap?.volumeSize;
    if (snap && size !== undefined && size < snap.volumeSize) {
      throw new Ec2Error('InvalidParameterValue', `Volume of ${size}GiB is smaller than snapshot '${snap.id}' (${snap.volumeSize}GiB).`);
    }
    if (snap && req.encrypted === false && snap.encrypted) {
      throw new Ec2Error('InvalidParameterCombination', 'A volume from an encrypted snapshot is encrypted: Encrypted=false is not possible.');
    }
    if (size === undefined) throw new Ec2Error('MissingParameter', 'The request must contain the parameter size or snapshotId');
    const [min, max] = SIZE_BOUNDS[type];
    if (size < min) throw new Ec2Error('InvalidParameterValue', `Volume of ${size}GiB is too small; minimum is ${min}GiB.`);
    if (size > max) throw new Ec2Error('InvalidParameterValue', `Volume of size ${size}GiB is too large; maximum is ${max}GiB.`);
    if ((type === 'io1' || type === 'io2') && req.iops === undefined) throw new Ec2Error('MissingParameter', `The parameter iops must be specified for ${type} volumes.`);
    const defaults = this.defaults.of(c.accountId);
    const encrypted = req.encrypted === true || defaults.encryptionByDefault;
    if (req.encrypted === false && defaults.encryptionByDefault && req.kmsKeyId === undefined) {
      // EC2: with encryption by default on, Encrypted=false is ignored (the volume is encrypted).
    }
    if (req.kmsKeyId !== undefined && !encrypted) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    const id = newId('vol');
    const common = { id, accountId: c.accountId, size, volumeType: type, iops: req.iops, throughput: req.throughput, availabilityZone: az, state: 'available' as const, attachment: undefined, multiAttachEnabled: false, tags };
    let rec: VolumeRecord;
    if (snap) {
      // The card copies the snapshot's ciphertext, so the volume keeps its source's key. When the
      // volume must be encrypted under another key than the snapshot's (Encrypted=true or
      // encryption by default on an unencrypted snapshot, or another KmsKeyId), the source is a
      // re-encrypted copy of the snapshot made for this volume and deleted after, as EC2 does.
      const rekey = encrypted && (!snap.encrypted || (req.kmsKeyId !== undefined && req.kmsKeyId !== snap.kmsKeyArn));
      if (rekey && !this.reencrypt) throw new Error('unreachable: re-encryption of a snapshot is not wired into the volume service');
      const source = rekey ? await this.reencrypt!(c, snap.id, req.kmsKeyId) : snap;
      try {
        await this.fleet.send(source.hostId, 'volume.from-snapshot', { volumeId: id, snapshotId: source.id, sizeBytes: size * GiB }, { id: `fromsnap:${id}`, timeoutMs: 600_000 });
      } finally {
        if (rekey) await this.discardCopy!(c, source.id).catch((x: unknown) => log.warn('could not delete a temporary re-encrypted snapshot', { snapshotId: source.id, error: String(x) }));
      }
      const key = { encrypted: source.encrypted, kmsKeyArn: source.kmsKeyArn, wrappedKey: source.wrappedKey, keyContextId: source.keyContextId };
      rec = { ...common, ...key, snapshotId: snap.id, createTime: new Date().toISOString(), storeHostId: source.hostId };
    } else {
      let key: { kmsKeyArn: string | undefined; wrappedKey: string | undefined } = { kmsKeyArn: undefined, wrappedKey: undefined };
      if (encrypted) {
        const keyId = req.kmsKeyId ?? defaults.kmsKeyArn ?? (await this.keys.awsManagedKeyArn(c.accountId));
        key = await this.keys.newDataKey(c, keyId, id);
      }
      rec = { ...common, encrypted, ...key, snapshotId: undefined, createTime: new Date().toISOString(), storeHostId: undefined };
    }
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
    // EC2: a volume attached at a stopped instance's root device name becomes its root volume
    const asRoot = inst!.rootDevice?.deviceName === device;
    if (asRoot && inst!.state !== 'stopped') throw new Ec2Error('IncorrectInstanceState', `The instance '${instanceId}' must be stopped to attach a volume at its root device ${device}.`, { context: { instanceId, state: inst!.state } });
    if (!asRoot && !DEVICE_RE.test(device)) throw new Ec2Error('InvalidParameterValue', `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`);
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
      // EC2: attaching to a stopped instance is recorded at once; the device appears at the next
      // start. A root volume is never hot-plugged: instance.start opens it (root-volumes.ts).
      const att: AttachmentRecord = { instanceId, device, state: 'attached', attachTime, deleteOnTermination: false, ...(asRoot ? {} : { pendingPlug: true }) };
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
      // nothing attached: the record is as it was (a host that refused attestation, or failed the plug, stores nothing)
      await this.volumes.update(volumeId, (cur) => ({ ...cur, attachment: undefined, state: 'available', storeHostId: v.storeHostId }));
      throw e;
    }
    const done = await this.volumes.update(volumeId, (cur) => ({ ...cur, attachment: cur.attachment ? { ...cur.attachment, state: 'attached' } : undefined }));
    return attachmentView(volumeId, done!.attachment ?? att);
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

  /** The volume attached to an instance at a device (an instance's root volume is the one at its root device name). */
  attachedAt(instanceId: string, device: string): VolumeRecord | undefined {
    return this.volumes.all().find((v) => v.state !== 'deleted' && v.attachment?.instanceId === instanceId && v.attachment.device === device);
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
      const cardKey = await this.keys.cardKey(hostId, cmdId);
      sealedKey = await this.keys.sealFor(v.accountId, v.wrappedKey ?? '', v.keyContextId ?? v.id, v.kmsKeyArn ?? '', cardKey, v.id);
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
    const owner = this.instanceOf(v.accountId, a.instanceId);
    if (owner?.rootDevice?.deviceName === a.device && owner.state !== 'stopped') {
      // EC2: a root volume comes off only while its instance is stopped
      throw new Ec2Error('IncorrectState', `Unable to detach root volume '${volumeId}' from instance '${a.instanceId}'`, { context: { volumeId, instanceId: a.instanceId, state: owner.state } });
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

  /** A detach the host has not finished: whether a try is running now and how many failed (for operators and tests). */
  detachStatus(volumeId: string): { readonly running: boolean; readonly failedAttempts: number } {
    return { running: this.detachJobs.has(`${volumeId}:normal`) || this.detachJobs.has(`${volumeId}:force`), failedAttempts: this.detachRetry.get(volumeId)?.attempts ?? 0 };
  }

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
      if (m.ebs.snapshotId !== undefined) ownedSnapshot(this.snapshots, c, m.ebs.snapshotId);
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
        // a RunInstances repeated with its ClientToken answers the instances it made: their volumes exist
        if (this.volumes.all().some((x) => x.attachment?.instanceId === inst.id && x.attachment.device === m.deviceName)) continue;
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

  /** The host that stores a volume's bytes, once known (its first attach or snapshot). */
  async setStoreHost(volumeId: string, hostId: string): Promise<void> {
    await this.volumes.update(volumeId, (cur) => ({ ...cur, storeHostId: hostId }));
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
        const info = await this.fleet.send(hostId, 'ebs.info', {}, { id: `watch:${hostId}:${Date.now()}:${Math.random()}`, timeoutMs: 10_000 });
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

  /**
   * ModifyInstanceAttribute blockDeviceMapping: the DeleteOnTermination of the volume attached at
   * each device of the instance (EC2 changes nothing else there). Every device is checked first.
   */
  async setDeleteOnTermination(c: Caller, instanceId: string, changes: readonly { readonly deviceName: string; readonly volumeId: string | undefined; readonly deleteOnTermination: boolean | undefined }[]): Promise<void> {
    const targets = changes.map((ch) => {
      const v = this.list(c).find((x) => x.attachment?.instanceId === instanceId && x.attachment.device === ch.deviceName);
      if (!v || (ch.volumeId !== undefined && ch.volumeId !== v.id)) {
        throw new Ec2Error('InvalidInstanceAttributeValue', `No device is currently mapped at ${ch.deviceName}${ch.volumeId !== undefined ? ` with volume ${ch.volumeId}` : ''}.`, { context: { instanceId, deviceName: ch.deviceName } });
      }
      return { id: v.id, value: ch.deleteOnTermination };
    });
    for (const t of targets) {
      const value = t.value;
      if (value !== undefined) await this.volumes.update(t.id, (cur) => (cur.attachment ? { ...cur, attachment: { ...cur.attachment, deleteOnTermination: value } } : undefined));
    }
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
