// STOP-GAP RegisterImage of an EBS-backed image (from wt-rootboot), until wt-ebsdirect's full
// RegisterImage (BlockDeviceMappings, BootMode, … with the SAME ImageRecord field names:
// rootDeviceType, rootDeviceName, blockDeviceMappings, enaSupport) is merged. To drop it, delete
// this file and its test (register-ebs-image.test.ts), the `req.ebs` branch of
// ImageService.register (src/region/ec2/images.ts, marked STOP-GAP) and the `ebs:` line of
// RegisterImage in src/region/api/actions/images.ts (marked STOP-GAP). Nothing else uses it:
// root volumes (./root-volumes.ts) read only the image record.
import { Ec2Error } from '../protocol/errors.js';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import type { SnapshotService } from './ebs/snapshots.js';
import type { Caller } from './instances.js';
import type { ImageBlockDeviceMapping, ImageRecord } from './model.js';
import { VOLUME_TYPES } from './root-volumes.js';

export type EbsImageFields = Pick<ImageRecord, 'rootDeviceType' | 'rootDeviceName' | 'blockDeviceMappings' | 'enaSupport'>;

/**
 * RegisterImage with BlockDeviceMappings and no ImageLocation: an EBS-backed image whose root
 * device (RootDeviceName, default /dev/xvda) maps a snapshot of the caller's. VolumeSize
 * defaults to the snapshot's and may not be smaller; DeleteOnTermination defaults to true.
 */
export function ebsImageFields(
  c: Caller,
  req: { rootDeviceName: string | undefined; blockDeviceMappings: readonly BlockDeviceMappingRequest[]; enaSupport: boolean | undefined; bootMode: string | undefined },
  snapshots: Pick<SnapshotService, 'owned'>,
): EbsImageFields {
  const rootDeviceName = req.rootDeviceName ?? '/dev/xvda';
  if (req.bootMode !== undefined && req.bootMode !== 'legacy-bios' && req.bootMode !== 'uefi') throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.bootMode}' for BootMode.`);
  const blockDeviceMappings: ImageBlockDeviceMapping[] = req.blockDeviceMappings.map((m) => {
    if (!m.ebs || m.noDevice) return { deviceName: m.deviceName };
    if (m.ebs.snapshotId === undefined) {
      if (m.deviceName === rootDeviceName) throw new Ec2Error('InvalidBlockDeviceMapping', `The root device ${rootDeviceName} needs a SnapshotId.`);
      throw new Ec2Error('InvalidBlockDeviceMapping', `The mapping for ${m.deviceName} needs a SnapshotId here.`);
    }
    const s = snapshots.owned(c, m.ebs.snapshotId);
    const volumeSize = m.ebs.volumeSize ?? s.volumeSize;
    if (volumeSize < s.volumeSize) throw new Ec2Error('InvalidBlockDeviceMapping', `Volume of size ${volumeSize}GB is smaller than snapshot '${s.id}', expect size >= ${s.volumeSize}GB`);
    const volumeType = m.ebs.volumeType ?? 'gp2';
    if (!VOLUME_TYPES.includes(volumeType)) throw new Ec2Error('InvalidParameterValue', `Invalid volume type: ${volumeType}`);
    return {
      deviceName: m.deviceName,
      ebs: { snapshotId: s.id, volumeSize, volumeType, deleteOnTermination: m.ebs.deleteOnTermination ?? true, encrypted: s.encrypted, ...(s.kmsKeyArn ? { kmsKeyId: s.kmsKeyArn } : {}) },
    };
  });
  if (!blockDeviceMappings.some((m) => m.deviceName === rootDeviceName && m.ebs)) {
    throw new Ec2Error('InvalidBlockDeviceMapping', `The root device ${rootDeviceName} has no EBS mapping with a snapshot.`);
  }
  return { rootDeviceType: 'ebs', rootDeviceName, blockDeviceMappings, enaSupport: req.enaSupport ?? true };
}
