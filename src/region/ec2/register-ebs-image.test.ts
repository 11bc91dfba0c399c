import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import { ebsImageFields } from './register-ebs-image.js';
import type { RootVolumeDeps } from './root-volumes.js';
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

/** The caller's snapshots, the one EBS fact ebsImageFields reads. */
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

// STOP-GAP RegisterImage (see register-ebs-image.ts): dropped with it.
test('RegisterImage fields', () => {
  const f = ebsImageFields(caller, { rootDeviceName: undefined, blockDeviceMappings: [bdm('/dev/xvda', { snapshotId: snap().id })], enaSupport: undefined, bootMode: 'uefi' }, volumes(snap()).snapshots);
  assert.deepEqual(f, { rootDeviceType: 'ebs', rootDeviceName: '/dev/xvda', blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { snapshotId: snap().id, volumeSize: 2, volumeType: 'gp2', deleteOnTermination: true, encrypted: false } }], enaSupport: true });
  assert.equal(code(() => ebsImageFields(caller, { rootDeviceName: '/dev/sda1', blockDeviceMappings: [bdm('/dev/xvda', { snapshotId: snap().id })], enaSupport: undefined, bootMode: undefined }, volumes(snap()).snapshots)), 'InvalidBlockDeviceMapping');
  assert.equal(code(() => ebsImageFields(caller, { rootDeviceName: undefined, blockDeviceMappings: [bdm('/dev/xvda', { snapshotId: snap().id, volumeSize: 1 })], enaSupport: undefined, bootMode: undefined }, volumes(snap()).snapshots)), 'InvalidBlockDeviceMapping');
  assert.equal(code(() => ebsImageFields(caller, { rootDeviceName: undefined, blockDeviceMappings: [bdm('/dev/xvda', { snapshotId: snap().id })], enaSupport: undefined, bootMode: 'bios' }, volumes(snap()).snapshots)), 'InvalidParameterValue');
});
