// The image actions that make snapshots: CopyImage (each mapped snapshot copied, optionally
// re-encrypted under a KMS key, through CopySnapshot) and CreateImage (each attached volume of
// an instance snapshotted through CreateSnapshot). Both either finish or leave nothing: the
// snapshots made before a failure are deleted again.
import { createLogger } from '../../lib/log.js';
import { describeError } from '../../lib/errors.js';
import { Ec2Error } from '../protocol/errors.js';
import type { CopyImageRequest, CreateImageRequest } from '../protocol/ec2/requests/index.js';
import { ImageService } from './images.js';
import type { Caller, InstanceService } from './instances.js';
import type { ImageBlockDeviceMapping, ImageRecord } from './model.js';
import type { SnapshotService } from './ebs/snapshots.js';
import type { VolumeService } from './ebs/volumes.js';

const log = createLogger('region.images');

async function undo(snapshots: SnapshotService, caller: Caller, made: readonly string[]): Promise<void> {
  for (const id of made) await snapshots.delete(caller, id).catch((e: unknown) => log.warn('could not delete a snapshot of a failed image action', { snapshotId: id, error: describeError(e) }));
}

/** CopyImage within the region. An EBS image's snapshots are copied (Encrypted/KmsKeyId re-encrypt them); DeregisterImage of either leaves the other's. */
export async function copyImage(images: ImageService, snapshots: SnapshotService, caller: Caller, req: CopyImageRequest): Promise<ImageRecord> {
  if (req.sourceRegion !== 'local-1') throw new Ec2Error('InvalidParameterValue', `Invalid source region: ${req.sourceRegion}`);
  if (req.kmsKeyId !== undefined && req.encrypted !== true) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
  const src = images.visible(caller, req.sourceImageId);
  const id = ImageService.newImageId();
  if ((src.rootDeviceType ?? 'instance-store') !== 'ebs') {
    if (req.encrypted === true) throw new Ec2Error('InvalidParameterCombination', 'Encrypted applies to EBS-backed images only.');
    return images.copyRecord(caller, src, req.name, req.description, id);
  }
  const made: string[] = [];
  try {
    const mappings: ImageBlockDeviceMapping[] = [];
    for (const m of src.blockDeviceMappings ?? []) {
      if (!m.ebs?.snapshotId) {
        mappings.push(m);
        continue;
      }
      const copy = await snapshots.copy(
        caller,
        { sourceSnapshotId: m.ebs.snapshotId, sourceRegion: 'local-1', description: `Copied for DestinationAmi ${id} from SourceAmi ${src.id} for SourceSnapshot ${m.ebs.snapshotId}. Task created on ${new Date().toISOString()}.`, encrypted: req.encrypted, kmsKeyId: req.kmsKeyId },
        {},
      );
      made.push(copy.id);
      const { kmsKeyId: _k, ...ebs } = m.ebs;
      mappings.push({ ...m, ebs: { ...ebs, snapshotId: copy.id, encrypted: copy.encrypted, ...(copy.kmsKeyArn !== undefined ? { kmsKeyId: copy.kmsKeyArn } : {}) } });
    }
    const byId = new Map(made.map((x) => [x, snapshots.owned(caller, x)]));
    return await images.registerEbs(
      caller,
      {
        name: req.name,
        description: req.description ?? src.description,
        architecture: src.architecture,
        rootDeviceName: src.rootDeviceName,
        blockDeviceMappings: mappings.map((m) => ({
          deviceName: m.deviceName,
          virtualName: m.virtualName,
          noDevice: m.noDevice === true,
          ebs: m.ebs ? { snapshotId: m.ebs.snapshotId, volumeSize: m.ebs.volumeSize, volumeType: m.ebs.volumeType, deleteOnTermination: m.ebs.deleteOnTermination, encrypted: m.ebs.encrypted, kmsKeyId: m.ebs.kmsKeyId, iops: m.ebs.iops, throughput: m.ebs.throughput } : undefined,
        })),
        bootMode: src.bootMode,
        enaSupport: src.enaSupport,
        tpmSupport: src.tpmSupport,
      },
      (sid) => byId.get(sid) ?? snapshots.owned(caller, sid),
      { id },
    );
  } catch (e) {
    await undo(snapshots, caller, made);
    throw e;
  }
}

/**
 * CreateImage from an instance that is stopped or running: each attached EBS volume is
 * snapshotted (CreateSnapshot's card path) and mapped at its device; the root is the instance's
 * root device (its image's RootDeviceName). A running instance is rebooted as EC2 does it: the
 * guest shuts down cleanly, the snapshots are taken of volumes nothing writes to, and it starts
 * again (also when the image fails). NoReboot=true snapshots it running: crash-consistent.
 */
export async function createImage(images: ImageService, instances: InstanceService, volumes: VolumeService, snapshots: SnapshotService, caller: Caller, req: CreateImageRequest): Promise<ImageRecord> {
  const [inst] = instances.owned(caller, [req.instanceId]);
  if (!inst) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${req.instanceId}' does not exist`);
  if (inst.state !== 'stopped' && inst.state !== 'running') throw new Ec2Error('IncorrectInstanceState', `The instance '${inst.id}' is not in the 'running' or 'stopped' state.`);
  let srcImage: ImageRecord | undefined;
  try {
    srcImage = images.visible(caller, inst.imageId);
  } catch {
    srcImage = undefined; // a deregistered source image: its root device name is the EC2 default
  }
  if (srcImage && (srcImage.rootDeviceType ?? 'instance-store') !== 'ebs') {
    throw new Ec2Error('InvalidParameterValue', `The instance '${inst.id}' has an instance-store root (image ${inst.imageId}); CreateImage needs an EBS root volume.`);
  }
  const rootDeviceName = srcImage?.rootDeviceName ?? '/dev/xvda';
  const attached = volumes.blockDevicesByInstance(caller).get(inst.id) ?? [];
  if (!attached.some((a) => a.deviceName === rootDeviceName)) {
    throw new Ec2Error('InvalidParameterValue', `The instance '${inst.id}' has no EBS volume attached at its root device ${rootDeviceName}.`);
  }
  const id = ImageService.newImageId();
  const made: string[] = [];
  const reboot = inst.state === 'running' && req.noReboot !== true;
  if (reboot) await instances.stopForImage(caller, inst.id);
  try {
    const mappings = [];
    for (const a of attached) {
      if (!a.ebs) continue;
      const v = volumes.owned(caller, a.ebs.volumeId);
      const snap = await snapshots.create(caller, v.id, `Created by CreateImage(${inst.id}) for ${id}`, {});
      made.push(snap.id);
      const override = req.blockDeviceMappings.find((m) => m.deviceName === a.deviceName);
      if (override?.noDevice) continue;
      mappings.push({
        deviceName: a.deviceName,
        virtualName: undefined,
        noDevice: false,
        ebs: {
          snapshotId: snap.id,
          volumeSize: override?.ebs?.volumeSize ?? v.size,
          volumeType: override?.ebs?.volumeType ?? v.volumeType,
          deleteOnTermination: override?.ebs?.deleteOnTermination ?? a.ebs.deleteOnTermination,
          encrypted: v.encrypted,
          kmsKeyId: undefined,
          iops: override?.ebs?.iops ?? v.iops,
          throughput: override?.ebs?.throughput ?? v.throughput,
        },
      });
    }
    return await images.registerEbs(
      caller,
      {
        name: req.name,
        description: req.description,
        architecture: 'x86_64',
        rootDeviceName,
        blockDeviceMappings: mappings,
        bootMode: srcImage?.bootMode,
        enaSupport: srcImage?.enaSupport,
        tpmSupport: srcImage?.tpmSupport,
      },
      (sid) => snapshots.owned(caller, sid),
      { id },
    );
  } catch (e) {
    await undo(snapshots, caller, made);
    throw e;
  } finally {
    if (reboot) await instances.start(caller, [inst.id]);
  }
}
