// EBS-backed images against a region with its local host: a root snapshot written through the
// EBS direct APIs, RegisterImage with BlockDeviceMappings / RootDeviceName / BootMode /
// EnaSupport / TpmSupport, DescribeImages as EC2 shows them (SDK and both AWS CLIs), EC2's
// error codes for bad mappings, CopyImage re-encrypting the snapshots under a KMS key, and
// DeregisterImage leaving the snapshots.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CompleteSnapshotCommand, EBSClient, GetSnapshotBlockCommand, ListChangedBlocksCommand, ListSnapshotBlocksCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { CopyImageCommand, CreateImageCommand, CreateVolumeCommand, DescribeInstancesCommand,
  DescribeVolumesCommand, RunInstancesCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeSnapshotsCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { builtinImage, cleanEnv, cleanupHome, dumpDiagnostics, ec2For, instanceRecord, seedStore, withLocalRegion, sdkErrorCode } from '../region-fixtures.js';
import { Region } from '../../src/region/region.js';
import type { VolumeRecord } from '../../src/region/ec2/ebs/records.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { JsonValue } from '../../src/store/store.js';

const BLOCK = 512 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

test('ebs images: RegisterImage with a root snapshot, DescribeImages shapes (SDK, CLI v1, v2), errors, CopyImage re-encrypted, DeregisterImage keeps snapshots', { timeout: 300_000 }, async () => {
  await withLocalRegion('nitride-ebs-images-', async ({ region, home, ec2 }) => {
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const kms = new KMSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const code = sdkErrorCode;
    let lastData = Buffer.alloc(0);
    const importSnapshot = async (complete = true): Promise<string> => {
      const id = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
      const data = randomBytes(BLOCK);
      lastData = data;
      await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: id, BlockIndex: 0, BlockData: data, DataLength: BLOCK, Checksum: sha(data), ChecksumAlgorithm: 'SHA256' }));
      if (complete) await ebs.send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: 1 }));
      return id;
    };
    const root = await importSnapshot();
    const rootData = lastData;

    const reg = await ec2.send(
      new RegisterImageCommand({
        Name: 'debian-like',
        Description: 'an EBS image',
        Architecture: 'x86_64',
        RootDeviceName: '/dev/xvda',
        BootMode: 'uefi',
        EnaSupport: true,
        TpmSupport: 'v2.0',
        VirtualizationType: 'hvm',
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { SnapshotId: root, VolumeSize: 2, VolumeType: 'gp3', DeleteOnTermination: true } },
          { DeviceName: '/dev/sdb', Ebs: { VolumeSize: 4, VolumeType: 'gp2', DeleteOnTermination: false } },
          { DeviceName: '/dev/sdc', VirtualName: 'ephemeral0' },
          { DeviceName: '/dev/sdd', NoDevice: '' },
        ],
        TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'os', Value: 'debian' }] }],
      }),
    );
    const ami = reg.ImageId!;
    assert.match(ami, /^ami-[0-9a-f]{17}$/);
    const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images![0]!;
    assert.equal(img.RootDeviceType, 'ebs');
    assert.equal(img.RootDeviceName, '/dev/xvda');
    assert.equal(img.BootMode, 'uefi');
    assert.equal(img.EnaSupport, true);
    assert.equal(img.TpmSupport, 'v2.0');
    assert.equal(img.Architecture, 'x86_64');
    assert.equal(img.State, 'available');
    assert.deepEqual(img.Tags, [{ Key: 'os', Value: 'debian' }]);
    assert.deepEqual(img.BlockDeviceMappings, [
      { DeviceName: '/dev/xvda', Ebs: { SnapshotId: root, VolumeSize: 2, DeleteOnTermination: true, VolumeType: 'gp3', Iops: 3000, Encrypted: false, Throughput: 125 } },
      { DeviceName: '/dev/sdb', Ebs: { VolumeSize: 4, DeleteOnTermination: false, VolumeType: 'gp2', Encrypted: false } },
      { DeviceName: '/dev/sdc', VirtualName: 'ephemeral0' },
      { DeviceName: '/dev/sdd', NoDevice: '' },
    ]);
    const byFilter = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'root-device-type', Values: ['ebs'] }] }));
    assert.deepEqual(byFilter.Images?.map((i) => i.ImageId), [ami]);
    const bySnap = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'block-device-mapping.snapshot-id', Values: [root] }] }));
    assert.deepEqual(bySnap.Images?.map((i) => i.ImageId), [ami]);
    // the built-in image stays instance-store
    const builtin = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['nitride-minimal'] }] }))).Images![0]!;
    assert.equal(builtin.RootDeviceType, 'instance-store');

    // EC2's codes for bad input; nothing is registered
    const pending = await importSnapshot(false);
    const bad = (over: Partial<ConstructorParameters<typeof RegisterImageCommand>[0]>) =>
      code(ec2.send(new RegisterImageCommand({ Name: `bad-${randomBytes(3).toString('hex')}`, RootDeviceName: '/dev/xvda', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root } }], ...over })));
    assert.equal(await bad({ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: pending } }] }), 'IncorrectState');
    assert.equal(await bad({ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-0123456789abcdef0' } }] }), 'InvalidSnapshot.NotFound');
    assert.equal(await bad({ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }] }), 'InvalidBlockDeviceMapping');
    assert.equal(await bad({ BlockDeviceMappings: [{ DeviceName: '/dev/sdb', Ebs: { SnapshotId: root } }] }), 'InvalidBlockDeviceMapping');
    assert.equal(await bad({ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root, VolumeSize: 1 } }, { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 1 } }] }), 'InvalidBlockDeviceMapping');
    assert.equal(await bad({ RootDeviceName: undefined }), 'MissingParameter');
    assert.equal(await bad({ TpmSupport: 'v2.0', BootMode: 'legacy-bios' }), 'InvalidParameterCombination');
    assert.equal(await bad({ BootMode: 'uefi-preferred' }), 'InvalidParameterValue');
    assert.equal(await bad({ Architecture: 'arm64' }), 'InvalidParameterValue');
    assert.equal(await bad({ Name: 'debian-like' }), 'InvalidAMIName.Duplicate');
    assert.equal((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.length, 1);

    // both CLIs register and describe
    const tmp = await mkdtemp(join(home, 'cli-home-')); // inside the region's home, removed with it
    const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: tmp });
    for (const [cli, bin, extra] of [
      ['v1', 'aws', [] as string[]],
      ['v2', '/usr/bin/aws', ['--endpoint-url', region.endpoint]],
    ] as const) {
      const json = (args: readonly string[]): Promise<Record<string, unknown>> =>
        new Promise((resolve, reject) => {
          execFile(bin, ['--profile', 'nitride', ...extra, ...args, '--output', 'json'], { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
            if (e) reject(new Error(`aws ${cli} ${args.join(' ')}: ${stderr}`));
            else resolve(stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>));
          });
        });
      const id = (await json(['ec2', 'register-image', '--name', `cli-${cli}`, '--root-device-name', '/dev/xvda', '--boot-mode', 'legacy-bios', '--ena-support', '--block-device-mappings', JSON.stringify([{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root } }])]))['ImageId'] as string;
      const d = (await json(['ec2', 'describe-images', '--image-ids', id]))['Images'] as Record<string, unknown>[];
      assert.equal(d[0]!['RootDeviceType'], 'ebs');
      assert.equal(d[0]!['RootDeviceName'], '/dev/xvda');
      assert.equal(d[0]!['BootMode'], 'legacy-bios');
      assert.equal(d[0]!['EnaSupport'], true);
      assert.deepEqual(d[0]!['BlockDeviceMappings'], [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: root, VolumeSize: 1, DeleteOnTermination: true, VolumeType: 'gp2', Encrypted: false } }]);
      const mine = (await json(['ec2', 'describe-images', '--owners', 'self', '--filters', 'Name=root-device-type,Values=ebs']))['Images'] as { ImageId: string }[];
      assert.ok(mine.some((i) => i.ImageId === id));
      await json(['ec2', 'deregister-image', '--image-id', id]);
    }

    // CopyImage, re-encrypted under a customer key: new snapshots, encrypted, the source untouched
    const cmk = (await kms.send(new CreateKeyCommand({ Description: 'image copies' }))).KeyMetadata!;
    const copy = (await ec2.send(new CopyImageCommand({ SourceImageId: ami, SourceRegion: 'local-1', Name: 'debian-like-encrypted', Encrypted: true, KmsKeyId: cmk.Arn! }))).ImageId!;
    const ci = (await ec2.send(new DescribeImagesCommand({ ImageIds: [copy] }))).Images![0]!;
    assert.equal(ci.RootDeviceType, 'ebs');
    assert.equal(ci.BootMode, 'uefi');
    assert.equal(ci.TpmSupport, 'v2.0');
    const copiedRoot = ci.BlockDeviceMappings!.find((m) => m.DeviceName === '/dev/xvda')!.Ebs!;
    assert.notEqual(copiedRoot.SnapshotId, root);
    assert.equal(copiedRoot.Encrypted, true);
    assert.equal(copiedRoot.KmsKeyId, cmk.Arn);
    assert.equal(copiedRoot.VolumeSize, 2);
    const [cs] = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [copiedRoot.SnapshotId!] }))).Snapshots!;
    assert.equal(cs!.Encrypted, true);
    assert.equal(cs!.KmsKeyId, cmk.Arn);
    assert.match(cs!.Description ?? '', new RegExp(`Copied for DestinationAmi ${copy} from SourceAmi ${ami}`));
    assert.equal(await code(ec2.send(new CopyImageCommand({ SourceImageId: ami, SourceRegion: 'local-1', Name: 'x-copy', KmsKeyId: cmk.Arn! }))), 'InvalidParameterDependency');
    assert.equal(await code(ec2.send(new CopyImageCommand({ SourceImageId: 'ami-0123456789abcdef0', SourceRegion: 'local-1', Name: 'x-copy' }))), 'InvalidAMIID.NotFound');
    // the copy (made by CopySnapshot on the card, re-encrypted) lists and reads its blocks through the EBS direct APIs
    const copiedBlocks = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: copiedRoot.SnapshotId! }));
    assert.deepEqual(copiedBlocks.Blocks?.map((b) => b.BlockIndex), [0]);
    const copiedBytes = Buffer.from(await (await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: copiedRoot.SnapshotId!, BlockIndex: 0, BlockToken: copiedBlocks.Blocks![0]!.BlockToken! }))).BlockData!.transformToByteArray());
    assert.ok(copiedBytes.equals(rootData), 'the re-encrypted copy reads back as the original');
    const diff = await ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: root, SecondSnapshotId: copiedRoot.SnapshotId! }));
    assert.deepEqual(diff.ChangedBlocks ?? [], [], 'a copy has the same blocks');
    // a volume from the copied (re-encrypted) root snapshot
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: copiedRoot.SnapshotId! }));
    assert.equal(v.Encrypted, true);

    // launching from the EBS root (booted in test/vm/rootboot-region): a root override that names
    // another snapshot is refused before anything is created
    const volumesBefore = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    assert.equal(
      await code(ec2.send(new RunInstancesCommand({ ImageId: ami, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: copiedRoot.SnapshotId! } }] }))),
      'InvalidBlockDeviceMapping',
    );
    assert.deepEqual((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [], []);
    assert.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length, volumesBefore, 'no root volume is left behind');

    // DeregisterImage leaves the snapshots
    await ec2.send(new DeregisterImageCommand({ ImageId: ami }));
    await ec2.send(new DeregisterImageCommand({ ImageId: copy }));
    assert.deepEqual((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [], []);
    const left = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [root, copiedRoot.SnapshotId!] }))).Snapshots!;
    assert.deepEqual(left.map((s) => s.State), ['completed', 'completed']);
  });
});

test('ebs images: CreateImage snapshots a stopped instance\'s volumes into a new EBS image; an instance-store instance is refused', { timeout: 300_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-create-image-'));
  let region: Region | undefined;
  let failed = true;
  try {
    const bi = await builtinImage();
    region = await Region.open({ home, port: 0, localHost: true, builtinImage: bi, reconcileIntervalMs: 3_600_000 });
    let ec2 = ec2For(region);
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const snap = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    const data = randomBytes(BLOCK);
    await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: 0, BlockData: data, DataLength: BLOCK, Checksum: sha(data), ChecksumAlgorithm: 'SHA256' }));
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snap, ChangedBlocksCount: 1 }));
    const ami = (await ec2.send(new RegisterImageCommand({ Name: 'base', RootDeviceName: '/dev/xvda', BootMode: 'uefi', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap } }] }))).ImageId!;
    const rootVol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: snap, VolumeType: 'gp3' }))).VolumeId!;
    const dataVol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 2, Encrypted: true }))).VolumeId!;
    const accountId = region.credentials.accountId;
    await region.close();
    region = undefined;

    // a stopped instance of the EBS image with its root and a data volume attached (as RunInstances will make them)
    const inst = instanceRecord(accountId, undefined, { imageId: ami });
    const other = instanceRecord(accountId, undefined); // nitride-minimal: instance-store root
    await seedStore(home, { instances: [inst, other] });
    const store = await SqliteStore.open(join(home, 'region', 'state.db'));
    try {
      for (const [id, device] of [
        [rootVol, '/dev/xvda'],
        [dataVol, '/dev/sdf'],
      ] as const) {
        const v = (await store.get<VolumeRecord>(`ec2/volumes/${id}`))!.value;
        const rec: VolumeRecord = { ...v, state: 'in-use', attachment: { instanceId: inst.id, device, state: 'attached', attachTime: new Date().toISOString(), deleteOnTermination: device === '/dev/xvda', pendingPlug: true } };
        await store.put(`ec2/volumes/${id}`, rec as unknown as JsonValue);
      }
    } finally {
      await store.close();
    }
    region = await Region.open({ home, port: 0, localHost: true, builtinImage: bi, reconcileIntervalMs: 3_600_000 });
    ec2 = ec2For(region);
    const code = sdkErrorCode;
    assert.equal(await code(ec2.send(new CreateImageCommand({ InstanceId: other.id, Name: 'from-minimal' }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateImageCommand({ InstanceId: 'i-0123456789abcdef0', Name: 'nope' }))), 'InvalidInstanceID.NotFound');
    const made = (await ec2.send(new CreateImageCommand({ InstanceId: inst.id, Name: 'from-instance', Description: 'made from a stopped instance', TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'k', Value: 'v' }] }] }))).ImageId!;
    const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [made] }))).Images![0]!;
    assert.equal(img.RootDeviceType, 'ebs');
    assert.equal(img.RootDeviceName, '/dev/xvda');
    assert.equal(img.BootMode, 'uefi');
    assert.deepEqual(img.Tags, [{ Key: 'k', Value: 'v' }]);
    const m = img.BlockDeviceMappings!;
    assert.deepEqual(m.map((x) => [x.DeviceName, x.Ebs?.VolumeSize, x.Ebs?.VolumeType, x.Ebs?.Encrypted, x.Ebs?.DeleteOnTermination]), [
      ['/dev/sdf', 2, 'gp2', true, false],
      ['/dev/xvda', 1, 'gp3', false, true],
    ]);
    const snaps = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: m.map((x) => x.Ebs!.SnapshotId!) }))).Snapshots!;
    for (const s of snaps) {
      assert.equal(s.State, 'completed');
      assert.equal(s.Description, `Created by CreateImage(${inst.id}) for ${made}`);
    }
    assert.deepEqual(new Set(snaps.map((s) => s.VolumeId)), new Set([rootVol, dataVol]));
    // the root snapshot holds the root volume's bytes: a volume from it reads as the imported block
    const rootSnap = m.find((x) => x.DeviceName === '/dev/xvda')!.Ebs!.SnapshotId!;
    const ebs2 = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const listed = await ebs2.send(new ListSnapshotBlocksCommand({ SnapshotId: rootSnap }));
    assert.deepEqual(listed.Blocks?.map((b) => b.BlockIndex), [0]);
    const got = Buffer.from(await (await ebs2.send(new GetSnapshotBlockCommand({ SnapshotId: rootSnap, BlockIndex: 0, BlockToken: listed.Blocks![0]!.BlockToken! }))).BlockData!.transformToByteArray());
    assert.ok(got.equals(data), 'the root snapshot CreateImage made holds the root volume\'s bytes');
    const dataSnap = m.find((x) => x.DeviceName === '/dev/sdf')!.Ebs!.SnapshotId!;
    assert.deepEqual((await ebs2.send(new ListSnapshotBlocksCommand({ SnapshotId: dataSnap }))).Blocks ?? [], [], 'an empty encrypted volume has no blocks');
    const back = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: rootSnap }))).VolumeId!;
    assert.match(back, /^vol-/);
    failed = false;
  } finally {
    if (failed) dumpDiagnostics(home);
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
});
