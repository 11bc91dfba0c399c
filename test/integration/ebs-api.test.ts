// The EC2 EBS actions against an in-process region (no host) with @aws-sdk/client-ec2 and
// client-kms: create/describe/filter/tag/modify/delete, encryption by default and the
// default KMS key, and EC2's error codes for bad input (sizes, AZ, disabled key, shrinking,
// unknown ids). No volume is plugged here (test/vm/ebs-*.test.ts do that with guests); the
// second test attaches to a seeded stopped instance that has no host, which needs none; the
// third checks DetachVolume's EC2 behaviour (answered `detaching` at once, finished in the
// background, kept detaching while the host cannot finish it, Force, a detach recorded before a
// region restart finished by the reconcile pass, `aws ec2 wait volume-available`).
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  DisableEbsEncryptionByDefaultCommand,
  EC2Client,
  EnableEbsEncryptionByDefaultCommand,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
  ModifyVolumeCommand,
  ResetEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { Region } from '../../src/region/region.js';
import type { VolumeRecord } from '../../src/region/ec2/ebs/records.js';
import { spawn } from 'node:child_process';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { auditEvents, cleanEnv, cleanupHome, instanceRecord, openLocalRegion, phantomHost, seedStore, waitFor, sdkErrorCode } from '../region-fixtures.js';

test('ebs api: volumes, encryption defaults and EC2 error codes through client-ec2', { timeout: 120_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-ebs-api-'));
  let region: Region | undefined;
  let failed = true;
  try {
    region = await openLocalRegion(home);
    const r = region;
    const creds = { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey };
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: creds });
    const kms = new KMSClient({ endpoint: r.endpoint, region: 'local-1', credentials: creds });
    const code = sdkErrorCode;

    // sizes, zones, types
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 0 }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 16385, VolumeType: 'gp3' }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 3, VolumeType: 'io2', Iops: 100 }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, KmsKeyId: 'alias/aws/ebs' }))), 'InvalidParameterDependency');
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: 'snap-0123456789abcdef0' }))), 'InvalidSnapshot.NotFound');

    const plain = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 8, VolumeType: 'gp3', TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'team', Value: 'a' }] }] }));
    assert.equal(plain.Encrypted, false);
    assert.equal(plain.KmsKeyId, undefined);
    assert.equal(plain.VolumeType, 'gp3');
    assert.equal(plain.Iops, 3000);
    const gp2 = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 100 }));
    assert.equal(gp2.VolumeType, 'gp2');

    // encryption by default with the AWS managed key, then a customer key
    assert.equal((await ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault, false);
    assert.equal((await ec2.send(new EnableEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault, true);
    assert.match((await ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId ?? '', /:alias\/aws\/ebs$/);
    const byDefault = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }));
    assert.equal(byDefault.Encrypted, true);
    const managed = byDefault.KmsKeyId!;
    const cmk = (await kms.send(new CreateKeyCommand({ Description: 'ebs test' }))).KeyMetadata!;
    assert.equal((await ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: cmk.KeyId! }))).KmsKeyId, cmk.Arn);
    const withCmk = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }));
    assert.equal(withCmk.KmsKeyId, cmk.Arn);
    assert.notEqual(withCmk.KmsKeyId, managed);
    assert.match((await ec2.send(new ResetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId ?? '', /:alias\/aws\/ebs$/);
    assert.equal((await ec2.send(new DisableEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault, false);

    // the region stores only the wrapped key
    const rec = (await r.store.get<VolumeRecord>(`ec2/volumes/${withCmk.VolumeId!}`))!.value;
    assert.ok(rec.wrappedKey && rec.wrappedKey.length > 64);
    assert.equal(Object.keys(rec).some((k) => /plain/i.test(k)), false);

    // a disabled key: EC2's code, and nothing is created
    await kms.send(new DisableKeyCommand({ KeyId: cmk.KeyId! }));
    const before = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, KmsKeyId: cmk.KeyId! }))), 'InvalidKMSKey.InvalidState');
    assert.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length, before);
    assert.equal(await code(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, KmsKeyId: '11111111-2222-3333-4444-555555555555' }))), 'InvalidParameterValue');

    // describe: ids, filters, tags
    const tagged = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:team', Values: ['a'] }] }));
    assert.deepEqual(tagged.Volumes?.map((v) => v.VolumeId), [plain.VolumeId]);
    const enc = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'encrypted', Values: ['true'] }, { Name: 'status', Values: ['available'] }] }));
    assert.deepEqual(new Set(enc.Volumes?.map((v) => v.VolumeId)), new Set([byDefault.VolumeId, withCmk.VolumeId]));
    assert.equal(await code(ec2.send(new DescribeVolumesCommand({ VolumeIds: ['vol-0123456789abcdef0'] }))), 'InvalidVolume.NotFound');
    assert.equal(await code(ec2.send(new DescribeVolumesCommand({ VolumeIds: ['nope'] }))), 'InvalidVolumeID.Malformed');
    assert.equal(await code(ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] }))), 'InvalidParameterValue');
    const paged = await ec2.send(new DescribeVolumesCommand({ MaxResults: 5 }));
    assert.equal(paged.Volumes?.length, 4);

    // modify: grow only
    const grown = await ec2.send(new ModifyVolumeCommand({ VolumeId: plain.VolumeId!, Size: 20, VolumeType: 'io2', Iops: 2000 }));
    assert.equal(grown.VolumeModification?.TargetSize, 20);
    assert.equal(grown.VolumeModification?.OriginalSize, 8);
    assert.equal(await code(ec2.send(new ModifyVolumeCommand({ VolumeId: plain.VolumeId!, Size: 10 }))), 'InvalidParameterValue');

    // attach needs a real instance; detach/delete of what does not exist
    assert.equal(await code(ec2.send(new AttachVolumeCommand({ VolumeId: plain.VolumeId!, InstanceId: 'i-0123456789abcdef0', Device: '/dev/sdf' }))), 'InvalidInstanceID.NotFound');
    await ec2.send(new DeleteVolumeCommand({ VolumeId: plain.VolumeId! }));
    assert.equal(await code(ec2.send(new DeleteVolumeCommand({ VolumeId: plain.VolumeId! }))), 'InvalidVolume.NotFound');

    ec2.destroy();
    kms.destroy();
    failed = false;
  } finally {
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
});

test('ebs api: attach to and detach from a stopped instance (recorded, no host), listed in DescribeInstances', { timeout: 120_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-ebs-stopped-'));
  let region: Region | undefined;
  let failed = true;
  try {
    const first = await openLocalRegion(home);
    const accountId = first.credentials.accountId;
    await first.close();
    const stopped = instanceRecord(accountId, undefined); // stopped, never placed on a host
    const gone = instanceRecord(accountId, undefined, { state: 'terminated', desired: 'terminated', terminatedAt: new Date().toISOString() });
    await seedStore(home, { instances: [stopped, gone] });
    region = await openLocalRegion(home);
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey } });
    const code = sdkErrorCode;
    const mappings = async (): Promise<unknown[]> => {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [stopped.id] }));
      return d.Reservations![0]!.Instances![0]!.BlockDeviceMappings ?? [];
    };

    const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 2, VolumeType: 'gp3' }))).VolumeId!;
    const vol2 = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }))).VolumeId!;
    assert.deepEqual(await mappings(), []);
    assert.equal(await code(ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: gone.id, Device: '/dev/sdf' }))), 'IncorrectInstanceState');

    // attach to the stopped instance: recorded at once, as EC2 does; plugged when it next starts
    const att = await ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: stopped.id, Device: '/dev/sdf' }));
    assert.equal(att.State, 'attaching');
    assert.equal(att.InstanceId, stopped.id);
    const [v] = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes!;
    assert.equal(v!.State, 'in-use');
    assert.equal(v!.Attachments?.length, 1);
    assert.equal(v!.Attachments![0]!.State, 'attached');
    assert.equal(v!.Attachments![0]!.InstanceId, stopped.id);
    assert.equal(v!.Attachments![0]!.Device, '/dev/sdf');
    const byFilter = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [stopped.id] }] }));
    assert.deepEqual(byFilter.Volumes?.map((x) => x.VolumeId), [vol]);

    // the device is taken, the volume is in use
    assert.equal(await code(ec2.send(new AttachVolumeCommand({ VolumeId: vol2, InstanceId: stopped.id, Device: '/dev/sdf' }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: stopped.id, Device: '/dev/sdg' }))), 'VolumeInUse');
    assert.equal(await code(ec2.send(new DeleteVolumeCommand({ VolumeId: vol }))), 'VolumeInUse');
    await ec2.send(new AttachVolumeCommand({ VolumeId: vol2, InstanceId: stopped.id, Device: '/dev/sdg' }));

    // DescribeInstances lists both in blockDeviceMapping
    const bdm = (await mappings()) as { DeviceName?: string; Ebs?: { VolumeId?: string; Status?: string; AttachTime?: Date; DeleteOnTermination?: boolean } }[];
    assert.deepEqual(
      bdm.map((m) => [m.DeviceName, m.Ebs?.VolumeId, m.Ebs?.Status, m.Ebs?.DeleteOnTermination]),
      [
        ['/dev/sdf', vol, 'attached', false],
        ['/dev/sdg', vol2, 'attached', false],
      ],
    );
    assert.ok(bdm[0]!.Ebs!.AttachTime instanceof Date && Math.abs(bdm[0]!.Ebs!.AttachTime.getTime() - Date.now()) < 60_000);

    // detach: no host round trip (nothing is plugged); wrong instance or device is refused
    assert.equal(await code(ec2.send(new DetachVolumeCommand({ VolumeId: vol, InstanceId: gone.id }))), 'InvalidAttachment.NotFound');
    assert.equal(await code(ec2.send(new DetachVolumeCommand({ VolumeId: vol, Device: '/dev/sdg' }))), 'InvalidAttachment.NotFound');
    const det = await ec2.send(new DetachVolumeCommand({ VolumeId: vol, InstanceId: stopped.id }));
    assert.equal(det.State, 'detaching');
    const [after] = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes!;
    assert.equal(after!.State, 'available');
    assert.deepEqual(after!.Attachments, []);
    assert.deepEqual(
      ((await mappings()) as { Ebs?: { VolumeId?: string } }[]).map((m) => m.Ebs?.VolumeId),
      [vol2],
    );
    assert.equal(await code(ec2.send(new DetachVolumeCommand({ VolumeId: vol }))), 'IncorrectState');
    await ec2.send(new DetachVolumeCommand({ VolumeId: vol2 }));
    assert.deepEqual(await mappings(), []);
    await ec2.send(new DeleteVolumeCommand({ VolumeId: vol }));
    await ec2.send(new DeleteVolumeCommand({ VolumeId: vol2 }));

    ec2.destroy();
    failed = false;
  } finally {
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
});

test('ebs api: DetachVolume answers detaching at once and finishes in the background; a region restart finishes a recorded detach; aws ec2 wait volume-available', { timeout: 180_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-ebs-detach-'));
  let region: Region | undefined;
  let failed = true;
  const children: ReturnType<typeof spawn>[] = [];
  try {
    const first = await openLocalRegion(home);
    const accountId = first.credentials.accountId;
    await first.close();
    const host = phantomHost(8192); // enrolled but unreachable: the host side of a detach cannot finish
    const running = instanceRecord(accountId, host.id, { state: 'running', desired: 'running' });
    const stopped = instanceRecord(accountId, undefined);
    await seedStore(home, { hosts: [host], instances: [running, stopped] });
    const now = new Date().toISOString();
    const vol = (id: string, attachment: VolumeRecord['attachment'], storeHostId: string | undefined): VolumeRecord => ({
      id, accountId, size: 1, volumeType: 'gp3', iops: undefined, throughput: undefined, encrypted: false, kmsKeyArn: undefined, wrappedKey: undefined,
      snapshotId: undefined, availabilityZone: 'local-1a', state: 'in-use', createTime: now, attachment, storeHostId, multiAttachEnabled: false, tags: {},
    });
    // a volume plugged on the (now unreachable) host, and one whose detach a previous region recorded and did not finish
    const held = vol('vol-0aaaaaaaaaaaaaaa1', { instanceId: running.id, device: '/dev/sdf', state: 'attached', attachTime: now, deleteOnTermination: false }, host.id);
    const recorded = vol('vol-0bbbbbbbbbbbbbbb2', { instanceId: stopped.id, device: '/dev/sdf', state: 'detaching', attachTime: now, deleteOnTermination: false }, undefined);
    const store = await SqliteStore.open(join(home, 'region', 'state.db'));
    try {
      await store.txn({ compare: [], put: [held, recorded].map((v) => ({ key: `ec2/volumes/${v.id}`, value: v as never })), delete: [] });
    } finally {
      await store.close();
    }
    region = await openLocalRegion(home);
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey } });
    const code = sdkErrorCode;
    const describe = async (id: string): Promise<{ state: string | undefined; attachment: string | undefined }> => {
      const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes![0]!;
      return { state: v.State, attachment: v.Attachments?.[0]?.State };
    };

    // the recorded detach: in-use/detaching after the restart until the reconcile pass finishes it;
    // the AWS CLI's waiter (started while it is still detaching) returns once it is available
    assert.deepEqual(await describe(recorded.id), { state: 'in-use', attachment: 'detaching' });
    const env = cleanEnv({ AWS_ACCESS_KEY_ID: r.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: r.credentials.secretAccessKey, AWS_DEFAULT_REGION: 'local-1', HOME: home, AWS_CONFIG_FILE: join(home, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials') });
    const waiter = spawn('aws', ['--endpoint-url', r.endpoint, 'ec2', 'wait', 'volume-available', '--volume-ids', recorded.id], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(waiter);
    let waiterErr = '';
    waiter.stderr!.on('data', (d: Buffer) => (waiterErr += d.toString()));
    const waited = new Promise<number | null>((res) => waiter.on('close', (c) => res(c)));
    // The CLI's DescribeVolumes calls, as the region's trail records them (after each read ran).
    const cliPolls = (): number => auditEvents(home).filter((e) => e['eventName'] === 'DescribeVolumes' && String(e['userAgent'] ?? '').startsWith('aws-cli/')).length;
    await waitFor('the AWS CLI waiter\'s first DescribeVolumes', () => cliPolls() >= 1, 60_000, 100);
    // Its first poll ran before this point, so it saw the volume detaching.
    assert.equal((await describe(recorded.id)).attachment, 'detaching');
    await r.volumes!.redeliverOnce(); // the watcher's pass (every reconcile interval in a real region)
    await waitFor('the recorded detach to finish', async () => ((await describe(recorded.id)).state === 'available' ? true : undefined), 20_000, 200);
    assert.deepEqual(await describe(recorded.id), { state: 'available', attachment: undefined });
    assert.equal(await waited, 0, `aws ec2 wait volume-available: ${waiterErr}`);
    assert.ok(cliPolls() >= 2, `the waiter polled again after seeing the volume detaching (${String(cliPolls())} polls)`);

    // DetachVolume answers with detaching without waiting for the host (an unreachable host would
    // have made the answer an error); the host cannot finish it, so it stays detaching (no InternalError)
    const det = await ec2.send(new DetachVolumeCommand({ VolumeId: held.id }));
    assert.equal(det.State, 'detaching');
    assert.equal(det.InstanceId, running.id);
    assert.deepEqual(await describe(held.id), { state: 'in-use', attachment: 'detaching' });
    const filtered = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.status', Values: ['detaching'] }] }));
    assert.deepEqual(filtered.Volumes?.map((v) => v.VolumeId), [held.id]);
    // The background try reaches the (unreachable) host and fails; then a watcher pass, and still detaching.
    await waitFor('the background detach to fail on the unreachable host', () => {
      const st = r.volumes!.detachStatus(held.id);
      return !st.running && st.failedAttempts >= 1;
    }, 60_000, 100);
    await r.volumes!.redeliverOnce();
    assert.equal(r.volumes!.detachStatus(held.id).running, false, 'no new try before the retry delay');
    assert.deepEqual(await describe(held.id), { state: 'in-use', attachment: 'detaching' }, 'a detach the host did not finish stays detaching');
    assert.equal(await code(ec2.send(new DetachVolumeCommand({ VolumeId: held.id }))), 'IncorrectState');
    assert.equal(await code(ec2.send(new DeleteVolumeCommand({ VolumeId: held.id }))), 'VolumeInUse');
    assert.equal(await code(ec2.send(new AttachVolumeCommand({ VolumeId: held.id, InstanceId: running.id, Device: '/dev/sdg' }))), 'VolumeInUse');
    // Force on a detaching volume is accepted (it finishes as soon as the host can close the export)
    const forced = await ec2.send(new DetachVolumeCommand({ VolumeId: held.id, Force: true }));
    assert.equal(forced.State, 'detaching');
    const rec = (await r.store.get<VolumeRecord>(`ec2/volumes/${held.id}`))!.value;
    assert.equal(rec.attachment?.detachForce, true);
    assert.equal(rec.state, 'in-use');
    ec2.destroy();
    failed = false;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
});
