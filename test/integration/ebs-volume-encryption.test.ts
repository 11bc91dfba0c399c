// CreateVolume from a snapshot under another key than the snapshot's, as EC2 allows: an
// unencrypted snapshot with Encrypted=true or with encryption by default, and an encrypted one
// with another KmsKeyId. The region has the card re-encrypt a temporary copy of the snapshot,
// makes the volume from it and deletes the copy. Proven against a region with its local host
// (controller and EBS card processes; no guest), driven by SDK v3: the data survives (a
// snapshot of the new volume reads back block for block through the EBS direct APIs), the key
// is the one asked for, no temporary snapshot is left, and Encrypted=false from an encrypted
// snapshot is refused with nothing made.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CompleteSnapshotCommand, EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { CreateSnapshotCommand, CreateVolumeCommand, DescribeSnapshotsCommand, DescribeVolumesCommand, EnableEbsEncryptionByDefaultCommand, type EC2Client, type Volume } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { waitFor } from '../../src/lib/wait.js';
import { withLocalRegion } from '../region-fixtures.js';

const BLOCK = 512 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

async function volumeAvailable(ec2: EC2Client, id: string): Promise<Volume> {
  return waitFor(`${id} available`, async () => {
    const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes?.[0];
    return v?.State === 'available' ? v : undefined;
  }, 120_000, 200);
}

/** A snapshot of the volume, completed, and its block 0 read back through the EBS direct APIs. */
async function readBack(ec2: EC2Client, ebs: EBSClient, volumeId: string): Promise<{ snapshotId: string; encrypted: boolean; block0: Buffer }> {
  const snapshotId = (await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }))).SnapshotId!;
  const s = await waitFor(`${snapshotId} completed`, async () => {
    const x = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots?.[0];
    return x?.State === 'completed' ? x : undefined;
  }, 120_000, 200);
  const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
  const token = listed.Blocks?.find((b) => b.BlockIndex === 0)?.BlockToken;
  assert.ok(token, `block 0 is in ${snapshotId}`);
  const got = await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 0, BlockToken: token }));
  return { snapshotId, encrypted: s.Encrypted === true, block0: Buffer.from(await got.BlockData!.transformToByteArray()) };
}

test('CreateVolume re-encrypts: an unencrypted snapshot with Encrypted=true or encryption by default, an encrypted one under another KmsKeyId; data intact, no temporary snapshot left', { timeout: 600_000 }, async () => {
  await withLocalRegion('nitride-ebs-rekey-', async ({ region, ec2 }) => {
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const kms = new KMSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    try {
      // An unencrypted snapshot holding one recognisable block.
      const pattern = Buffer.alloc(BLOCK);
      const needle = randomBytes(64);
      for (let i = 0; i < BLOCK; i += 64) needle.copy(pattern, i);
      const plain = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Description: 'plain' }))).SnapshotId!;
      await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: plain, BlockIndex: 0, BlockData: pattern, DataLength: BLOCK, Checksum: sha(pattern), ChecksumAlgorithm: 'SHA256' }));
      await ebs.send(new CompleteSnapshotCommand({ SnapshotId: plain, ChangedBlocksCount: 1 }));
      await waitFor('the plain snapshot completed', async () => (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [plain] }))).Snapshots?.[0]?.State === 'completed' || undefined, 60_000, 200);
      const made = new Set<string>([plain]);

      // 1. Encrypted=true from the unencrypted snapshot: an encrypted volume, same data.
      const v1 = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: plain, Encrypted: true }))).VolumeId!;
      const d1 = await volumeAvailable(ec2, v1);
      assert.equal(d1.Encrypted, true, 'Encrypted=true is honoured, not ignored');
      assert.match(d1.KmsKeyId ?? '', /^arn:aws:kms:local-1:\d{12}:key\//);
      assert.equal(d1.SnapshotId, plain, 'the volume names the snapshot it was made from');
      const r1 = await readBack(ec2, ebs, v1);
      made.add(r1.snapshotId);
      assert.equal(r1.encrypted, true);
      assert.ok(r1.block0.equals(pattern), 'the data survived the re-encryption');

      // 2. Encryption by default on, nothing asked: encrypted too.
      await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
      const v2 = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: plain }))).VolumeId!;
      assert.equal((await volumeAvailable(ec2, v2)).Encrypted, true, 'encryption by default applies to a volume from an unencrypted snapshot');

      // 3. An encrypted snapshot under another customer key: the volume is under that key.
      const k2 = (await kms.send(new CreateKeyCommand({ Description: 'rekey target' }))).KeyMetadata!.Arn!;
      const v3 = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: r1.snapshotId, Encrypted: true, KmsKeyId: k2 }))).VolumeId!;
      const d3 = await volumeAvailable(ec2, v3);
      assert.equal(d3.KmsKeyId, k2, 'the volume is encrypted under the key asked for');
      const r3 = await readBack(ec2, ebs, v3);
      made.add(r3.snapshotId);
      assert.ok(r3.block0.equals(pattern), 'the data survived the change of key');

      // 4. Encrypted=false from an encrypted snapshot: refused, nothing made.
      const before = (await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length ?? 0;
      await assert.rejects(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: r1.snapshotId, Encrypted: false })), (e: Error) => e.name === 'InvalidParameterCombination');
      assert.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length ?? 0, before);

      // No temporary re-encrypted copy is left behind.
      const mine = ((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ?? []).map((s) => s.SnapshotId!);
      assert.deepEqual(mine.sort(), [...made].sort(), 'only the snapshots the test made remain');
    } finally {
      ebs.destroy();
      kms.destroy();
    }
  });
});
