import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import type { ImageRecord, InstanceRecord } from './model.js';
import { blockDeviceMetadata, RootVolumes, type RootVolumeDeps } from './root-volumes.js';
import type { SnapshotRecord } from './ebs/records.js';

const caller = { accountId: '111122223333', arn: 'arn:aws:iam::111122223333:root' };
const snap = (over: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
  id: 'snap-0123456789abcdef0',
  accountId: caller.accountId,
  volumeId: 'vol-0123456789abcdef0',
  volumeSize: 2,
  encrypted: false,
  kmsKeyArn: undefined,
  wrappedKey: undefined,
  keyContextId: undefined,
  hostId: 'h-1',
  state: 'completed',
  startTime: '2026-12-07T00:00:00.000Z',
  description: '',
  tags: {},
  ...over,
});

/** The two EBS facts plan() reads: the caller's snapshots and encryption by default. */
function volumes(s: SnapshotRecord, byDefault = false): RootVolumeDeps {
  return {
    volumes: {},
    snapshots: {
      owned: (_c: unknown, id: string) => {
        if (id !== s.id) throw Object.assign(new Error('not found'), { code: 'InvalidSnapshot.NotFound' });
        return s;
      },
    },
    defaults: { encryptionByDefault: () => byDefault },
  } as unknown as RootVolumeDeps;
}

const image = (over: Partial<ImageRecord> = {}): ImageRecord => ({
  id: 'ami-0123456789abcdef0',
  name: 'x',
  description: '',
  ownerId: caller.accountId,
  public: false,
  state: 'available',
  creationDate: '2026-12-07T00:00:00.000Z',
  architecture: 'x86_64',
  cmdline: '',
  tpmSupport: undefined,
  bootMode: undefined,
  tags: {},
  rootDeviceType: 'ebs',
  rootDeviceName: '/dev/xvda',
  blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { snapshotId: snap().id, volumeSize: 2, volumeType: 'gp2', deleteOnTermination: true, encrypted: false } }],
  ...over,
});
const bdm = (deviceName: string, ebs: Partial<NonNullable<BlockDeviceMappingRequest['ebs']>> = {}): BlockDeviceMappingRequest => ({
  deviceName,
  virtualName: undefined,
  noDevice: false,
  ebs: { volumeSize: undefined, volumeType: undefined, snapshotId: undefined, deleteOnTermination: undefined, encrypted: undefined, kmsKeyId: undefined, iops: undefined, throughput: undefined, ...ebs },
});
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
};

test('root volume plan: image defaults, overrides, EC2 refusals', () => {
  const rv = new RootVolumes(volumes(snap()));
  const p = rv.plan(caller, image(), []);
  assert.deepEqual([p.deviceName, p.size, p.volumeType, p.deleteOnTermination, p.reencrypt, p.hostId, p.firmware], ['/dev/xvda', 2, 'gp2', true, undefined, 'h-1', 'legacy-bios']);
  const o = rv.plan(caller, image({ bootMode: 'uefi' }), [bdm('/dev/xvda', { volumeSize: 8, volumeType: 'gp3', deleteOnTermination: false }), bdm('/dev/sdf', { volumeSize: 1 })]);
  assert.deepEqual([o.size, o.volumeType, o.deleteOnTermination, o.firmware, o.ebsDevices], [8, 'gp3', false, 'uefi', ['/dev/sdf']]);
  assert.equal(code(() => rv.plan(caller, image(), [bdm('/dev/xvda', { volumeSize: 1 })])), 'InvalidBlockDeviceMapping');
  assert.equal(code(() => rv.plan(caller, image(), [bdm('/dev/xvda', { snapshotId: 'snap-00000000000000000' })])), 'InvalidBlockDeviceMapping');
  assert.equal(code(() => rv.plan(caller, image(), [bdm('/dev/xvda', { kmsKeyId: 'alias/x' })])), 'InvalidParameterDependency');
  assert.equal(code(() => rv.plan(caller, image(), [bdm('/dev/xvda', { volumeType: 'io9' })])), 'InvalidParameterValue');
  assert.equal(code(() => rv.plan(caller, image({ blockDeviceMappings: [] }), [])), 'InvalidAMIID.Unavailable');
  assert.equal(code(() => new RootVolumes(volumes(snap({ id: 'snap-1111111111111111a' }))).plan(caller, image(), [])), 'InvalidSnapshot.NotFound');
});

test('root volume plan: encryption by default, Encrypted and KmsKeyId re-encrypt; an encrypted snapshot keeps its key', () => {
  assert.deepEqual(new RootVolumes(volumes(snap(), true)).plan(caller, image(), []).reencrypt, { kmsKeyId: undefined });
  assert.deepEqual(new RootVolumes(volumes(snap())).plan(caller, image(), [bdm('/dev/xvda', { encrypted: true, kmsKeyId: 'alias/k' })]).reencrypt, { kmsKeyId: 'alias/k' });
  const enc = snap({ encrypted: true, kmsKeyArn: 'arn:aws:kms:local-1:111122223333:key/k1' });
  assert.equal(new RootVolumes(volumes(enc, true)).plan(caller, image(), []).reencrypt, undefined);
  assert.deepEqual(new RootVolumes(volumes(enc)).plan(caller, image(), [bdm('/dev/xvda', { kmsKeyId: 'arn:aws:kms:local-1:111122223333:key/k2' })]).reencrypt, { kmsKeyId: 'arn:aws:kms:local-1:111122223333:key/k2' });
});

test('IMDS block-device-mapping', () => {
  const r = { rootDevice: { volumeId: 'vol-0123456789abcdef0', deviceName: '/dev/xvda', firmware: 'legacy-bios', ebsDevices: ['/dev/sdf', '/dev/sdg'] } } as unknown as InstanceRecord;
  assert.deepEqual(blockDeviceMetadata(r), { 'block-device-mapping/ami': '/dev/xvda', 'block-device-mapping/root': '/dev/xvda', 'block-device-mapping/ebs1': 'sdf', 'block-device-mapping/ebs2': 'sdg' });
  assert.deepEqual(blockDeviceMetadata({} as InstanceRecord), {});
});
