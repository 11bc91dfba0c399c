// The block device mappings of a launch, merged as EC2 merges them: the image's own mappings
// (RegisterImage / CreateImage / CopyImage) are the defaults, and the request's
// --block-device-mappings change them by device name:
//   - an entry for a device the image maps overrides it field by field (VolumeSize,
//     VolumeType, DeleteOnTermination, Iops, Throughput, Encrypted, KmsKeyId); the image's
//     SnapshotId stays unless the entry names another one;
//   - NoDevice suppresses the image's mapping for that device: no volume is made;
//   - a VirtualName (instance store) replaces an EBS mapping: no EBS volume is made;
//   - entries for devices the image does not map are added.
// The image's root device is not merged here: RootVolumes.plan reads it from the image and
// takes the request's root entry as its override (src/region/ec2/root-volumes.ts).
// Image mappings that are instance store or NoDevice make no volume and are left out.
// Pure: records in, request-shaped mappings out.
import type { BlockDeviceMappingRequest, EbsBlockDeviceRequest } from '../protocol/ec2/requests/index.js';
import type { ImageBlockDeviceMapping, ImageRecord } from './model.js';

/** An image's EBS mapping in the request's shape (a volume from a snapshot keeps the snapshot's encryption, so those fields are left to the request). */
function fromImage(m: ImageBlockDeviceMapping & { ebs: NonNullable<ImageBlockDeviceMapping['ebs']> }): BlockDeviceMappingRequest {
  const e = m.ebs;
  const fromSnapshot = e.snapshotId !== undefined;
  return {
    deviceName: m.deviceName,
    virtualName: undefined,
    noDevice: false,
    ebs: {
      snapshotId: e.snapshotId,
      volumeSize: e.volumeSize,
      volumeType: e.volumeType,
      deleteOnTermination: e.deleteOnTermination,
      encrypted: fromSnapshot ? undefined : e.encrypted || undefined,
      kmsKeyId: fromSnapshot ? undefined : e.kmsKeyId,
      iops: e.iops,
      throughput: e.throughput,
    },
  };
}

/** The request's fields where it sets them, the image's elsewhere. */
function overrideEbs(image: EbsBlockDeviceRequest, req: EbsBlockDeviceRequest): EbsBlockDeviceRequest {
  const pick = <K extends keyof EbsBlockDeviceRequest>(k: K): EbsBlockDeviceRequest[K] => (req[k] !== undefined ? req[k] : image[k]);
  return {
    snapshotId: pick('snapshotId'),
    volumeSize: pick('volumeSize'),
    volumeType: pick('volumeType'),
    deleteOnTermination: pick('deleteOnTermination'),
    encrypted: pick('encrypted'),
    kmsKeyId: pick('kmsKeyId'),
    // a new volume type does not inherit the image's IOPS/throughput of another type
    iops: req.iops ?? (req.volumeType === undefined || req.volumeType === image.volumeType ? image.iops : undefined),
    throughput: req.throughput ?? (req.volumeType === undefined || req.volumeType === image.volumeType ? image.throughput : undefined),
  };
}

/** The launch's mappings: the image's non-root EBS mappings overridden by the request, then the request's own. */
export function launchMappings(image: ImageRecord, request: readonly BlockDeviceMappingRequest[]): BlockDeviceMappingRequest[] {
  const byDevice = new Map(request.map((m) => [m.deviceName, m]));
  const out: BlockDeviceMappingRequest[] = [];
  const root = image.rootDeviceType === 'ebs' ? image.rootDeviceName : undefined;
  for (const m of image.blockDeviceMappings ?? []) {
    if (m.deviceName === root || m.ebs === undefined || m.noDevice || m.virtualName !== undefined) continue;
    const base = fromImage({ ...m, ebs: m.ebs });
    const o = byDevice.get(m.deviceName);
    byDevice.delete(m.deviceName);
    if (o === undefined) out.push(base);
    else if (o.noDevice || o.virtualName !== undefined) out.push(o); // suppressed, or instance store instead: no EBS volume
    else out.push({ ...base, ebs: o.ebs ? overrideEbs(base.ebs!, o.ebs) : base.ebs });
  }
  for (const m of request) if (byDevice.has(m.deviceName)) out.push(m);
  return out;
}
