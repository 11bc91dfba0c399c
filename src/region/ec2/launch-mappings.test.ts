import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import { launchMappings } from './launch-mappings.js';
import type { ImageBlockDeviceMapping, ImageRecord } from './model.js';

const ebs = (o: Partial<NonNullable<ImageBlockDeviceMapping['ebs']>>): NonNullable<ImageBlockDeviceMapping['ebs']> => ({ snapshotId: undefined, volumeSize: 1, volumeType: 'gp2', deleteOnTermination: true, encrypted: false, ...o });
const image = (mappings: ImageBlockDeviceMapping[]): ImageRecord =>
  ({ id: 'ami-0123456789abcdef0', rootDeviceType: 'ebs', rootDeviceName: '/dev/xvda', blockDeviceMappings: mappings }) as unknown as ImageRecord;
const req = (deviceName: string, o: Partial<BlockDeviceMappingRequest> & { e?: Partial<NonNullable<BlockDeviceMappingRequest['ebs']>> } = {}): BlockDeviceMappingRequest => ({
  deviceName,
  virtualName: o.virtualName,
  noDevice: o.noDevice ?? false,
  ebs: o.e ? { volumeSize: undefined, volumeType: undefined, snapshotId: undefined, deleteOnTermination: undefined, encrypted: undefined, kmsKeyId: undefined, iops: undefined, throughput: undefined, ...o.e } : undefined,
});

test('launch mappings: the image\'s non-root EBS mappings, overridden field by field, NoDevice suppresses, new devices added', () => {
  const img = image([
    { deviceName: '/dev/xvda', ebs: ebs({ snapshotId: 'snap-0000000000000000a', volumeSize: 2 }) },
    { deviceName: '/dev/sdb', ebs: ebs({ snapshotId: 'snap-0000000000000000b', deleteOnTermination: false, encrypted: true, kmsKeyId: 'arn:k' }) },
    { deviceName: '/dev/sdc', ebs: ebs({ volumeSize: 1, volumeType: 'gp3', iops: 3000, throughput: 125 }) },
    { deviceName: '/dev/sdd', ebs: ebs({ volumeSize: 2 }) },
    { deviceName: '/dev/sde', virtualName: 'ephemeral0' },
    { deviceName: '/dev/sdg', noDevice: true },
  ]);
  const out = launchMappings(img, [req('/dev/xvda', { e: { volumeSize: 4 } }), req('/dev/sdc', { e: { volumeSize: 3 } }), req('/dev/sdd', { noDevice: true }), req('/dev/sdf', { e: { volumeSize: 1 } })]);
  assert.deepEqual(
    out.map((m) => [m.deviceName, m.noDevice, m.ebs?.snapshotId, m.ebs?.volumeSize, m.ebs?.volumeType, m.ebs?.deleteOnTermination, m.ebs?.encrypted, m.ebs?.iops]),
    [
      // a volume from a snapshot keeps the snapshot's encryption: not repeated from the image
      ['/dev/sdb', false, 'snap-0000000000000000b', 1, 'gp2', false, undefined, undefined],
      ['/dev/sdc', false, undefined, 3, 'gp3', true, undefined, 3000],
      ['/dev/sdd', true, undefined, undefined, undefined, undefined, undefined, undefined],
      ['/dev/xvda', false, undefined, 4, undefined, undefined, undefined, undefined],
      ['/dev/sdf', false, undefined, 1, undefined, undefined, undefined, undefined],
    ],
  );
  // an override to another type does not carry the image's gp3 IOPS over
  const io = launchMappings(img, [req('/dev/sdc', { e: { volumeType: 'gp2' } })]).find((m) => m.deviceName === '/dev/sdc');
  assert.deepEqual([io?.ebs?.volumeType, io?.ebs?.iops, io?.ebs?.throughput], ['gp2', undefined, undefined]);
  // instance store in the request replaces the image's EBS mapping
  assert.equal(launchMappings(img, [req('/dev/sdb', { virtualName: 'ephemeral1' })]).find((m) => m.deviceName === '/dev/sdb')?.ebs, undefined);
  // an image without mappings (nitride-minimal) gives the request's unchanged
  const r = [req('/dev/sdf', { e: { volumeSize: 1 } })];
  assert.deepEqual(launchMappings(image([]), r), r);
});
