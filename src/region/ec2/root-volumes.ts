// EBS-backed instances: RunInstances of an image whose root device is an EBS snapshot makes
// each instance a root volume from that snapshot, as EC2 does, and the instance boots from it.
//
//   plan     before anything is created: the root mapping of the image, the caller's
//            --block-device-mappings override for the same device (VolumeSize ≥ the snapshot's,
//            VolumeType, Encrypted + KmsKeyId, DeleteOnTermination, default true), encryption
//            by default; every refusal is EC2's error code.
//   create   the volumes (available, not yet attached): when the root must be encrypted under
//            another key than the snapshot's (an unencrypted snapshot with encryption by
//            default, or a KmsKeyId), the card first re-encrypts a temporary copy of the snapshot
//            (CopySnapshot's path) and the volumes are made from that copy, which is deleted
//            again. A failure deletes what was made: nothing is left half created.
//   attach   once the instance records exist: each volume is recorded attached at the root
//            device (DescribeVolumes, DescribeInstances' blockDeviceMapping). Terminate is the
//            volumes' usual path: DeleteOnTermination volumes are deleted, the others kept.
//   start    every instance.start carries spec.bootDisk {volumeId, firmware} and rootVolume
//            {sizeBytes, sealedKey}: the host's EBS card serves the volume before QEMU starts.
import { Ec2Error } from '../protocol/errors.js';
import type { BlockDeviceMappingRequest, CreateVolumeRequest, VolumeType } from '../protocol/ec2/requests/index.js';
import { createLogger } from '../../lib/log.js';
import type { Caller, InstanceRootVolumes } from './instances.js';
import type { ImageBlockDeviceMapping, ImageRecord, InstanceRecord } from './model.js';
import type { EbsAccountDefaults } from './ebs/account-defaults.js';
import type { SnapshotRecord } from './ebs/records.js';
import type { SnapshotService } from './ebs/snapshots.js';
import type { VolumeService } from './ebs/volumes.js';

const log = createLogger('region.root-volumes');

/** The volume types a root mapping may name. */
export const VOLUME_TYPES: readonly string[] = ['standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1'];

export interface RootPlan {
  readonly deviceName: string;
  readonly snapshot: SnapshotRecord;
  readonly size: number; // GiB
  readonly volumeType: VolumeType;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly deleteOnTermination: boolean;
  /** Set when the volumes must be encrypted under another key than the snapshot's (kmsKeyId: the override's, or the default). */
  readonly reencrypt: { readonly kmsKeyId: string | undefined } | undefined;
  /** The host that stores the snapshot: volumes made from it live there, so the instances run there. */
  readonly hostId: string;
  readonly firmware: 'legacy-bios' | 'uefi';
  /** Device names of the launch's other EBS mappings (IMDS block-device-mapping/ebsN). */
  readonly ebsDevices: readonly string[];
}

/** The image's root mapping, or undefined for an image that is not EBS-backed. */
type RootEbs = NonNullable<ImageBlockDeviceMapping['ebs']> & { readonly snapshotId: string };

/** The image's root mapping when it names a snapshot (RegisterImage requires one for the root). */
export function rootMappingOf(image: ImageRecord): (ImageBlockDeviceMapping & { ebs: RootEbs }) | undefined {
  if (image.rootDeviceType !== 'ebs' || image.rootDeviceName === undefined) return undefined;
  const m = image.blockDeviceMappings?.find((x) => x.deviceName === image.rootDeviceName && x.ebs !== undefined);
  const snapshotId = m?.ebs?.snapshotId;
  return m?.ebs && snapshotId !== undefined ? { ...m, ebs: { ...m.ebs, snapshotId } } : undefined;
}

/** EC2's refusal to start an EBS-backed instance whose root volume was detached. */
function noRootVolume(r: InstanceRecord): Ec2Error {
  return new Ec2Error('InvalidParameterValue', `Invalid value '${r.id}' for instanceId. Instance does not have a volume attached at root (${r.rootDevice?.deviceName ?? 'null'})`, { context: { instanceId: r.id } });
}

/** IMDS meta-data/block-device-mapping/: ami and root name the root device, ebsN the launch's other EBS devices. */
export function blockDeviceMetadata(r: InstanceRecord): Record<string, string> {
  const d = r.rootDevice;
  if (!d) return {};
  const out: Record<string, string> = { 'block-device-mapping/ami': d.deviceName, 'block-device-mapping/root': d.deviceName };
  d.ebsDevices.forEach((dev, i) => {
    out[`block-device-mapping/ebs${i + 1}`] = dev.replace(/^\/dev\//, '');
  });
  return out;
}

/** What root volumes are made with: EBS volumes, snapshots (a re-encrypted copy) and the account's encryption by default. */
export interface RootVolumeDeps {
  readonly volumes: VolumeService;
  readonly snapshots: SnapshotService;
  readonly defaults: EbsAccountDefaults;
}

export class RootVolumes implements InstanceRootVolumes<RootPlan> {
  private readonly volumes: VolumeService;
  private readonly snapshots: SnapshotService;
  private readonly defaults: EbsAccountDefaults;

  constructor(deps: RootVolumeDeps) {
    this.volumes = deps.volumes;
    this.snapshots = deps.snapshots;
    this.defaults = deps.defaults;
  }

  /** Checks the image's root mapping and the caller's override; creates nothing. */
  plan(c: Caller, image: ImageRecord, mappings: readonly BlockDeviceMappingRequest[]): RootPlan {
    const im = rootMappingOf(image);
    if (!im) {
      throw new Ec2Error('InvalidAMIID.Unavailable', `The image '${image.id}' is EBS-backed but has no EBS mapping for its root device ${image.rootDeviceName ?? '(none)'}.`, { context: { imageId: image.id } });
    }
    const snapshot = this.snapshots.owned(c, im.ebs.snapshotId);
    if (snapshot.state !== 'completed') {
      throw new Ec2Error('IncorrectState', `Snapshot '${snapshot.id}' is not 'completed'.`, { context: { snapshotId: snapshot.id } });
    }
    const o = mappings.find((m) => m.deviceName === im.deviceName);
    if (o?.noDevice) throw new Ec2Error('InvalidBlockDeviceMapping', `The root device ${im.deviceName} cannot be suppressed with NoDevice.`);
    const oe = o?.ebs;
    if (oe?.snapshotId !== undefined && oe.snapshotId !== snapshot.id) throw new Ec2Error('InvalidBlockDeviceMapping', 'snapshotId cannot be modified on root device');
    const size = oe?.volumeSize ?? im.ebs.volumeSize ?? snapshot.volumeSize;
    if (size < snapshot.volumeSize) {
      throw new Ec2Error('InvalidBlockDeviceMapping', `Volume of size ${size}GB is smaller than snapshot '${snapshot.id}', expect size >= ${snapshot.volumeSize}GB`, { context: { size, snapshotSize: snapshot.volumeSize } });
    }
    const volumeType = oe?.volumeType ?? im.ebs.volumeType ?? 'gp2';
    if (!VOLUME_TYPES.includes(volumeType)) throw new Ec2Error('InvalidParameterValue', `Invalid volume type: ${volumeType}`);
    if ((volumeType === 'io1' || volumeType === 'io2') && oe?.iops === undefined) throw new Ec2Error('MissingParameter', `The parameter iops must be specified for ${volumeType} volumes.`);
    const encrypted = snapshot.encrypted || oe?.encrypted === true || im.ebs.encrypted || this.defaults.encryptionByDefault(c);
    const kmsKeyId = oe?.kmsKeyId ?? im.ebs.kmsKeyId;
    if (oe?.kmsKeyId !== undefined && !encrypted) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    const reencrypt = encrypted && (!snapshot.encrypted || (kmsKeyId !== undefined && kmsKeyId !== snapshot.kmsKeyArn)) ? { kmsKeyId } : undefined;
    const ebsDevices = mappings.filter((m) => m.ebs && !m.noDevice && m.deviceName !== im.deviceName).map((m) => m.deviceName);
    return {
      deviceName: im.deviceName,
      snapshot,
      size,
      volumeType: volumeType as VolumeType,
      iops: oe?.iops,
      throughput: oe?.throughput,
      deleteOnTermination: oe?.deleteOnTermination ?? im.ebs.deleteOnTermination ?? true,
      reencrypt,
      hostId: snapshot.hostId,
      firmware: image.bootMode === 'uefi' ? 'uefi' : 'legacy-bios',
      ebsDevices,
    };
  }

  /** One root volume per instance id (not attached yet); on any failure, none. */
  async create(c: Caller, p: RootPlan, instanceIds: readonly string[], tags: Readonly<Record<string, string>> = {}): Promise<Map<string, string>> {
    const made = new Map<string, string>();
    let copy: SnapshotRecord | undefined;
    try {
      if (p.reencrypt) {
        copy = await this.snapshots.copy(
          c,
          { sourceSnapshotId: p.snapshot.id, sourceRegion: 'local-1', description: `Nitride root volume source (re-encrypted ${p.snapshot.id})`, encrypted: true, kmsKeyId: p.reencrypt.kmsKeyId },
          {},
        );
      }
      for (const id of instanceIds) {
        const v = await this.volumes.create(
          c,
          {
            action: 'CreateVolume',
            dryRun: false,
            availabilityZone: 'local-1a',
            availabilityZoneId: undefined,
            size: p.size,
            snapshotId: (copy ?? p.snapshot).id,
            volumeType: p.volumeType,
            iops: p.iops,
            throughput: p.throughput,
            encrypted: undefined,
            kmsKeyId: undefined,
            multiAttachEnabled: undefined,
            tagSpecifications: [],
            clientToken: undefined,
          } as CreateVolumeRequest,
          tags,
        );
        made.set(id, v.id);
      }
      return made;
    } catch (e) {
      for (const volumeId of made.values()) {
        await this.volumes.delete(c, volumeId).catch((x: unknown) => log.warn('could not delete the root volume of a failed launch', { volumeId, error: String(x) }));
      }
      throw e;
    } finally {
      if (copy) await this.snapshots.delete(c, copy.id).catch((x: unknown) => log.warn('could not delete a temporary re-encrypted snapshot', { snapshotId: copy?.id, error: String(x) }));
    }
  }

  /** Deletes volumes made by create() whose instances were never recorded. */
  async discard(c: Caller, made: ReadonlyMap<string, string>): Promise<void> {
    for (const volumeId of made.values()) await this.volumes.delete(c, volumeId).catch(() => undefined);
  }

  /** Records each recorded instance's root volume as attached. */
  async attach(records: readonly InstanceRecord[], p: RootPlan): Promise<void> {
    for (const r of records) {
      if (r.rootDevice) await this.volumes.recordRootAttachment(r.rootDevice.volumeId, r.id, p.deviceName, p.deleteOnTermination, p.snapshot.id);
    }
  }

  /**
   * The instance's root volume now: the volume attached at its root device name. It is the
   * launch's volume until a DetachVolume / AttachVolume while stopped puts another one there.
   */
  rootVolumeOf(r: InstanceRecord): string | undefined {
    const v = r.rootDevice ? this.volumes.attachedAt(r.id, r.rootDevice.deviceName) : undefined;
    return v?.attachment?.state === 'attached' ? v.id : undefined; // one being detached is no root to start from
  }

  /** The root volume now, or EC2's refusal to start an instance without one. */
  requireRootVolume(r: InstanceRecord): string {
    const volumeId = this.rootVolumeOf(r);
    if (volumeId === undefined) throw noRootVolume(r);
    return volumeId;
  }

  /** spec.bootDisk and the command's rootVolume for instance.start on `hostId`. */
  async startParams(r: InstanceRecord, hostId: string, cmdId: string): Promise<{ bootDisk: { volumeId: string; firmware: 'legacy-bios' | 'uefi' }; rootVolume: { sizeBytes: number; sealedKey: string | null } }> {
    const volumeId = this.requireRootVolume(r);
    return { bootDisk: { volumeId, firmware: r.rootDevice!.firmware }, rootVolume: await this.volumes.rootVolumeOpen(volumeId, hostId, `${cmdId}:rootkey`) };
  }

  /** The host that stores an instance's root volume (a start must place it there). */
  storeHostOf(c: Caller, r: InstanceRecord): string | undefined {
    const volumeId = this.rootVolumeOf(r);
    return volumeId !== undefined ? this.volumes.find(c, volumeId)?.storeHostId : undefined;
  }
}
