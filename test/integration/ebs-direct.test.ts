// The EBS direct APIs (StartSnapshot, PutSnapshotBlock, CompleteSnapshot, ListSnapshotBlocks,
// ListChangedBlocks, GetSnapshotBlock) against a region with its local host (controller and
// EBS card processes; no guest), driven by @aws-sdk/client-ebs and both AWS CLIs (v1 on PATH,
// Debian's v2 2.9 with --endpoint-url): blocks round-trip byte-identical, a wrong block
// checksum and a wrong aggregated checksum are refused with nothing stored, the snapshot is
// the one EC2's DescribeSnapshots shows (pending → completed), an incomplete snapshot cannot
// make a volume, and an encrypted snapshot's file on the host holds no plaintext.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesUnder } from '../../src/lib/testing/files.js';
import { test } from 'node:test';
import { CompleteSnapshotCommand, EBSClient, GetSnapshotBlockCommand, ListChangedBlocksCommand, ListSnapshotBlocksCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { CreateVolumeCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { cleanEnv, ec2For, withLocalRegion } from '../region-fixtures.js';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { linearAggregate } from '../../src/region/protocol/ebs-direct/checksum.js';

const BLOCK = 512 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

/** A block that is easy to recognise: a random 64-byte pattern repeated. */
function patternBlock(): { data: Buffer; needle: Buffer } {
  const needle = randomBytes(64);
  const data = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += 64) needle.copy(data, i);
  return { data, needle };
}

test('ebs direct: SDK and both CLIs write, complete, list and read snapshots; errors store nothing; the card encrypts', { timeout: 300_000 }, async () => {
  await withLocalRegion('nitride-ebs-direct-', async ({ region, home, ec2 }) => {
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const err = async (p: Promise<unknown>): Promise<{ name: string; reason?: string; status?: number }> => {
      try {
        await p;
      } catch (e) {
        const x = e as { name: string; Reason?: string; $metadata?: { httpStatusCode?: number } };
        return { name: x.name, ...(x.Reason !== undefined ? { reason: x.Reason } : {}), ...(x.$metadata?.httpStatusCode !== undefined ? { status: x.$metadata.httpStatusCode } : {}) };
      }
      return { name: 'no error' };
    };

    // ---- SDK: an encrypted snapshot
    const started = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, Description: 'sdk import', Tags: [{ Key: 'team', Value: 'a' }], Timeout: 60 }));
    const snap = started.SnapshotId!;
    assert.match(snap, /^snap-[0-9a-f]{17}$/);
    assert.equal(started.Status, 'pending');
    assert.equal(started.BlockSize, BLOCK);
    assert.equal(started.VolumeSize, 1);
    assert.equal(started.SseType, 'sse-ebs');
    assert.match(started.KmsKeyArn ?? '', /^arn:aws:kms:local-1:[0-9]{12}:key\//);
    assert.equal(started.OwnerId, region.credentials.accessKeyId.length > 0 ? started.OwnerId : '');
    assert.ok(started.StartTime instanceof Date);
    const pend = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots![0]!;
    assert.equal(pend.State, 'pending');
    assert.equal(pend.Encrypted, true);
    assert.equal(pend.Description, 'sdk import');

    const b0 = patternBlock();
    const b3 = patternBlock();
    const put = (index: number, data: Buffer, checksum = sha(data), progress?: number) =>
      ebs.send(new PutSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: index, BlockData: data, DataLength: data.length, Checksum: checksum, ChecksumAlgorithm: 'SHA256', ...(progress !== undefined ? { Progress: progress } : {}) }));
    const r0 = await put(0, b0.data, undefined, 40);
    assert.equal(r0.Checksum, sha(b0.data));
    assert.equal(r0.ChecksumAlgorithm, 'SHA256');
    await put(3, b3.data, undefined, 80);
    assert.equal((await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots![0]!.Progress, '80%');

    // a block whose checksum does not match: refused, nothing stored
    const bad = patternBlock();
    assert.deepEqual(await err(put(5, bad.data, sha(b0.data))), { name: 'ValidationException', reason: 'INVALID_BLOCK', status: 400 });
    // a short block, a block past the end
    assert.equal((await err(put(6, Buffer.alloc(4096)))).name, 'ValidationException');
    assert.deepEqual(await err(put(2048, b0.data)), { name: 'ValidationException', reason: 'INVALID_BLOCK', status: 400 });

    // an incomplete snapshot makes no volume
    assert.equal(await err(ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: snap }))).then((x) => x.name), 'IncorrectState');

    // wrong counts and a wrong aggregated checksum: refused, still pending
    const agg = linearAggregate([
      [3, sha(b3.data)],
      [0, sha(b0.data)],
    ]);
    assert.equal(agg, createHash('sha256').update(Buffer.concat([createHash('sha256').update(b0.data).digest(), createHash('sha256').update(b3.data).digest()])).digest('base64'));
    const complete = (count: number, checksum: string) =>
      ebs.send(new CompleteSnapshotCommand({ SnapshotId: snap, ChangedBlocksCount: count, Checksum: checksum, ChecksumAlgorithm: 'SHA256', ChecksumAggregationMethod: 'LINEAR' }));
    assert.equal((await err(complete(3, agg))).name, 'ValidationException');
    const wrongAgg = linearAggregate([
      [0, sha(b3.data)],
      [3, sha(b0.data)],
    ]);
    assert.equal((await err(complete(2, wrongAgg))).name, 'ValidationException');
    assert.equal((await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots![0]!.State, 'pending');
    assert.equal((await err(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap })))).name, 'ValidationException');

    // right: completed, as EC2 shows it
    assert.equal((await complete(2, agg)).Status, 'completed');
    const done = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots![0]!;
    assert.equal(done.State, 'completed');
    assert.equal(done.Progress, '100%');
    assert.equal(done.VolumeSize, 1);
    assert.deepEqual(done.Tags, [{ Key: 'team', Value: 'a' }]);
    assert.equal((await err(put(4, b0.data))).name, 'ValidationException');

    // list, then read back byte-identical
    const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }));
    assert.deepEqual(listed.Blocks?.map((b) => b.BlockIndex), [0, 3]);
    assert.equal(listed.BlockSize, BLOCK);
    assert.equal(listed.VolumeSize, 1);
    assert.ok(listed.ExpiryTime instanceof Date && listed.ExpiryTime.getTime() > Date.now());
    const tok3 = listed.Blocks!.find((b) => b.BlockIndex === 3)!.BlockToken!;
    const got = await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: 3, BlockToken: tok3 }));
    const gotBytes = Buffer.from(await got.BlockData!.transformToByteArray());
    assert.equal(got.DataLength, BLOCK);
    assert.equal(got.Checksum, sha(b3.data));
    assert.equal(got.ChecksumAlgorithm, 'SHA256');
    assert.ok(gotBytes.equals(b3.data), 'GetSnapshotBlock returns the bytes written');
    assert.deepEqual(await err(ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: 0, BlockToken: tok3 }))), { name: 'ValidationException', reason: 'INVALID_BLOCK_TOKEN', status: 400 });
    assert.deepEqual(await err(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' }))), { name: 'ResourceNotFoundException', reason: 'SNAPSHOT_NOT_FOUND', status: 404 });

    // the card's store: the snapshot's file exists, and neither block's plaintext is anywhere under the host
    const ebsFiles = filesUnder(join(home, 'host'));
    const snapFile = ebsFiles.find((f) => f.endsWith(`${snap}.snap`));
    assert.ok(snapFile, `the snapshot's file is in the card's store (${ebsFiles.filter((f) => f.includes('/ebs/')).join(', ')})`);
    assert.ok((await stat(snapFile).then((s) => s.size)) >= 4 * BLOCK);
    const stored = await readFile(snapFile);
    assert.ok(!stored.subarray(0, BLOCK).equals(b0.data), 'block 0 is stored encrypted');
    for (const f of ebsFiles) {
      const bytes = await readFile(f).catch(() => Buffer.alloc(0));
      assert.equal(bytes.indexOf(b0.needle), -1, `plaintext of block 0 in ${f}`);
      assert.equal(bytes.indexOf(b3.needle), -1, `plaintext of block 3 in ${f}`);
      assert.equal(bytes.indexOf(bad.needle), -1, `the refused block in ${f}`);
    }
    // nor in the region's audit trail or state
    for (const f of filesUnder(join(home, 'region'))) {
      const bytes = await readFile(f).catch(() => Buffer.alloc(0));
      assert.equal(bytes.indexOf(b0.needle), -1, `plaintext of block 0 in ${f}`);
      assert.equal(bytes.indexOf(b0.data.subarray(0, 48).toString('base64')), -1, `block 0 in base64 in ${f}`);
    }

    // ---- a child of the snapshot: ListChangedBlocks
    const child = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: snap, Encrypted: true }))).SnapshotId!;
    const b7 = patternBlock();
    const b3b = patternBlock();
    await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: child, BlockIndex: 3, BlockData: b3b.data, DataLength: BLOCK, Checksum: sha(b3b.data), ChecksumAlgorithm: 'SHA256' }));
    await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: child, BlockIndex: 7, BlockData: b7.data, DataLength: BLOCK, Checksum: sha(b7.data), ChecksumAlgorithm: 'SHA256' }));
    assert.equal((await ebs.send(new CompleteSnapshotCommand({ SnapshotId: child, ChangedBlocksCount: 2 }))).Status, 'completed');
    const changed = await ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: snap, SecondSnapshotId: child }));
    assert.deepEqual(changed.ChangedBlocks?.map((b) => [b.BlockIndex, b.FirstBlockToken !== undefined, b.SecondBlockToken !== undefined]), [
      [3, true, true],
      [7, false, true],
    ]);
    const all = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: child }));
    assert.deepEqual(all.Blocks?.map((b) => b.BlockIndex), [0, 3, 7]);
    // the inherited block reads back through the child's own key
    const tok0 = all.Blocks!.find((b) => b.BlockIndex === 0)!.BlockToken!;
    const inh = Buffer.from(await (await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: child, BlockIndex: 0, BlockToken: tok0 }))).BlockData!.transformToByteArray());
    assert.ok(inh.equals(b0.data));

    // a completed snapshot makes a volume
    const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: snap }));
    assert.equal(vol.SnapshotId, snap);
    assert.equal(vol.Encrypted, true);

    // ---- both CLIs: an unencrypted snapshot written from files
    const tmp = await mkdtemp(join(home, 'cli-home-')); // inside the region's home, removed with it
    const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: tmp });
    for (const [cli, bin, extra] of [
      ['v1', 'aws', [] as string[]],
      ['v2', '/usr/bin/aws', ['--endpoint-url', region.endpoint]],
    ] as const) {
      // asynchronous: the region answers from this process
      const run = (args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
        new Promise((resolve, reject) => {
          execFile(bin, ['--profile', 'nitride', ...extra, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
            const code = (e as { code?: unknown } | null)?.code;
            if (e && typeof code !== 'number') reject(new Error(`the AWS CLI ${cli} (${bin}) could not run: ${e.message}`));
            else resolve({ status: e ? (code as number) : 0, stdout, stderr });
          });
        });
      const json = async (args: readonly string[]): Promise<Record<string, unknown>> => {
        const r = await run([...args, '--output', 'json']);
        assert.equal(r.status, 0, `${cli} ${args.join(' ')}: ${r.stderr}`);
        return r.stdout.trim() === '' ? {} : (JSON.parse(r.stdout) as Record<string, unknown>);
      };
      const s = await json(['ebs', 'start-snapshot', '--volume-size', '1', '--description', `from ${cli}`]);
      const id = s['SnapshotId'] as string;
      assert.equal(s['Status'], 'pending');
      if (cli === 'v1') assert.equal(s['SseType'], 'none', JSON.stringify(s)); // v2 2.9's model predates SseType
      const blk = patternBlock();
      const file = join(tmp, `${cli}.blk`);
      await writeFile(file, blk.data);
      const p = await json(['ebs', 'put-snapshot-block', '--snapshot-id', id, '--block-index', '1', '--block-data', file, '--data-length', String(BLOCK), '--checksum', sha(blk.data), '--checksum-algorithm', 'SHA256', '--progress', '50']);
      assert.equal(p['Checksum'], sha(blk.data));
      const wrong = await run(['ebs', 'put-snapshot-block', '--snapshot-id', id, '--block-index', '2', '--block-data', file, '--data-length', String(BLOCK), '--checksum', sha(b0.data), '--checksum-algorithm', 'SHA256']);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /ValidationException/);
      const badAgg = await run(['ebs', 'complete-snapshot', '--snapshot-id', id, '--changed-blocks-count', '1', '--checksum', sha(b0.data), '--checksum-algorithm', 'SHA256', '--checksum-aggregation-method', 'LINEAR']);
      assert.notEqual(badAgg.status, 0);
      assert.match(badAgg.stderr, /ValidationException/);
      const c = await json(['ebs', 'complete-snapshot', '--snapshot-id', id, '--changed-blocks-count', '1', '--checksum', linearAggregate([[1, sha(blk.data)]]), '--checksum-algorithm', 'SHA256', '--checksum-aggregation-method', 'LINEAR']);
      assert.equal(c['Status'], 'completed');
      const l = await json(['ebs', 'list-snapshot-blocks', '--snapshot-id', id]);
      const blocks = l['Blocks'] as { BlockIndex: number; BlockToken: string }[];
      assert.deepEqual(blocks.map((b) => b.BlockIndex), [1]);
      const out = join(tmp, `${cli}.out`);
      const g = await json(['ebs', 'get-snapshot-block', '--snapshot-id', id, '--block-index', '1', '--block-token', blocks[0]!.BlockToken, out]);
      assert.equal(g['Checksum'], sha(blk.data));
      assert.ok((await readFile(out)).equals(blk.data), `${cli} reads back the block it wrote`);
      const lc = await json(['ebs', 'list-changed-blocks', '--second-snapshot-id', id]);
      assert.deepEqual((lc['ChangedBlocks'] as { BlockIndex: number }[]).map((b) => b.BlockIndex), [1]);
      const d = await json(['ec2', 'describe-snapshots', '--snapshot-ids', id]);
      assert.equal((d['Snapshots'] as { State: string }[])[0]!.State, 'completed');
      const nf = await run(['ebs', 'list-snapshot-blocks', '--snapshot-id', 'snap-0123456789abcdef0']);
      assert.match(nf.stderr, /ResourceNotFoundException/);
    }

    // ClientToken: a retry returns the same snapshot; other parameters under the same token conflict
    const t1 = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'import-42', Description: 'retry' }));
    const t2 = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'import-42', Description: 'retry' }));
    assert.equal(t2.SnapshotId, t1.SnapshotId);
    assert.deepEqual(await err(ebs.send(new StartSnapshotCommand({ VolumeSize: 2, ClientToken: 'import-42', Description: 'retry' }))), { name: 'ConflictException', status: 409 });
    assert.equal((await err(ebs.send(new StartSnapshotCommand({ VolumeSize: 1, KmsKeyArn: started.KmsKeyArn! })))).name, 'ValidationException');
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: t1.SnapshotId! }));

    // a pending snapshot deleted through EC2 leaves nothing on the card
    const dropped = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: dropped, BlockIndex: 0, BlockData: b0.data, DataLength: BLOCK, Checksum: sha(b0.data), ChecksumAlgorithm: 'SHA256' }));
    assert.ok(filesUnder(join(home, 'host')).some((f) => f.includes(`build-${dropped}`)));
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: dropped }));
    assert.ok(!filesUnder(join(home, 'host')).some((f) => f.includes(dropped)), 'the work volume of a deleted pending snapshot is gone');

    // audited: one record per call, under ebs.amazonaws.com, without data
    const trail = await readFile(join(home, 'region', 'audit.log'), 'utf8');
    assert.match(trail, /"eventSource":"ebs.amazonaws.com"/);
    assert.match(trail, /"eventName":"PutSnapshotBlock"/);
    assert.match(trail, /"eventName":"CompleteSnapshot"/);
  });
});

test('ebs direct: a card restarted mid-upload gets the key again and the upload goes on; other accounts and unauthorized users are refused', { timeout: 300_000 }, async () => {
  await withLocalRegion('nitride-ebs-direct-restart-', async ({ region }) => {
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const snap = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true }))).SnapshotId!;
    const a = patternBlock();
    const b = patternBlock();
    const put = (c: EBSClient, index: number, data: Buffer) => c.send(new PutSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: index, BlockData: data, DataLength: BLOCK, Checksum: sha(data), ChecksumAlgorithm: 'SHA256' }));
    await put(ebs, 0, a.data);
    // the EBS card is replaced (live update through the controller): its successor never had the snapshot's key
    const hostId = region.fleet.hosts()[0]!.id;
    const before = (await region.fleet.send(hostId, 'ebs.info', {}, { id: `t-info-1-${Date.now()}` })) as { pid: number };
    await region.fleet.send(hostId, 'host.restart-component', { component: 'ebs' }, { id: `t-restart-${Date.now()}`, timeoutMs: 120_000 });
    const after = (await region.fleet.send(hostId, 'ebs.info', {}, { id: `t-info-2-${Date.now()}` })) as { pid: number };
    assert.notEqual(after.pid, before.pid, 'a new card process');
    await put(ebs, 1, b.data);
    assert.equal((await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snap, ChangedBlocksCount: 2, Checksum: linearAggregate([[0, sha(a.data)], [1, sha(b.data)]]), ChecksumAlgorithm: 'SHA256', ChecksumAggregationMethod: 'LINEAR' }))).Status, 'completed');
    const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }));
    for (const [i, want] of [[0, a.data], [1, b.data]] as const) {
      const tok = listed.Blocks!.find((x) => x.BlockIndex === i)!.BlockToken!;
      const got = Buffer.from(await (await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: i, BlockToken: tok }))).BlockData!.transformToByteArray());
      assert.ok(got.equals(want), `block ${i} reads back after the card was replaced`);
    }

    // a KMS key that cannot be used: EBS's code, and no snapshot is left behind
    const ec2 = ec2For(region);
    const kms = new KMSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const cmk = (await kms.send(new CreateKeyCommand({ Description: 'disabled for ebs' }))).KeyMetadata!;
    await kms.send(new DisableKeyCommand({ KeyId: cmk.KeyId! }));
    const count = (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length;
    const refused = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: cmk.Arn! })).then(() => undefined, (e: { name: string; Reason?: string }) => `${e.name}/${e.Reason ?? ''}`);
    assert.equal(refused, 'ValidationException/INVALID_CUSTOMER_KEY');
    assert.equal((await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length, count);

    // another account sees no such snapshot; a user of this account without ebs:* permissions is denied
    const other = await region.iam.createAccount('ebs-other');
    const ok = await region.iam.createAccessKey(other.accountId, 'root');
    const theirs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: ok.accessKeyId, secretAccessKey: ok.secretAccessKey } });
    const nameOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e: { name: string }) => e.name);
    assert.equal(await nameOf(theirs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }))), 'ResourceNotFoundException');
    assert.equal(await nameOf(theirs.send(new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: snap }))), 'ResourceNotFoundException');
    await region.iam.createUser(region.credentials.accountId, 'no-ebs');
    const uk = await region.iam.createAccessKey(region.credentials.accountId, 'no-ebs');
    const user = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: uk.accessKeyId, secretAccessKey: uk.secretAccessKey } });
    assert.equal(await nameOf(user.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }))), 'AccessDeniedException');
    await region.iam.putUserPolicy(region.credentials.accountId, 'no-ebs', 'list', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ebs:ListSnapshotBlocks', Resource: '*' }] }));
    assert.deepEqual((await user.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }))).Blocks?.map((x) => x.BlockIndex), [0, 1]);
    assert.equal(await nameOf(user.send(new StartSnapshotCommand({ VolumeSize: 1 }))), 'AccessDeniedException');
    const bad = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: 'x'.repeat(40) } });
    assert.equal(await nameOf(bad.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }))), 'InvalidSignatureException');
  });
});
