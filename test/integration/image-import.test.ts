// `nitride image import` of a small raw and a small qcow2 disk (made with qemu-img) into a
// region with its local host: the CLI uploads through the EBS direct APIs with the region's
// profile, skips all-zero blocks, completes and registers an EBS-backed image. The snapshot's
// blocks read back (GetSnapshotBlock, @aws-sdk/client-ebs) equal the file's, a disk the
// inspector refuses is never uploaded, and a failing import leaves no snapshot behind.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { CLI_MAIN, cleanEnv, withLocalRegion } from '../region-fixtures.js';
import { importDisk } from '../../src/cli/image-import.js';
import { endpointFromHome, RegionApiClient } from '../../src/region/ebs-direct/client.js';

const BLOCK = 512 * 1024;

function cli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env, encoding: 'utf8', timeout: 300_000 }, (e, stdout, stderr) => {
      const code = (e as { code?: unknown } | null)?.code;
      resolve({ status: e ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
}

test('nitride image import: raw and qcow2 disks become EBS-backed images, blocks byte-identical, zero blocks skipped', { timeout: 300_000 }, async () => {
  execFileSync('qemu-img', ['--version']); // a missing qemu-img fails the test
  await withLocalRegion('nitride-image-import-', async ({ region, home, ec2 }) => {
    const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
    const tmp = await mkdtemp(join(tmpdir(), 'nitride-import-disk-'));
    // a 5 MiB disk (not a multiple of a GiB) with data in blocks 0, 3 and a partial tail in 9
    const raw = join(tmp, 'disk.raw');
    const size = 5 * 1024 * 1024 - 4096;
    const fh = await open(raw, 'w');
    const b0 = randomBytes(BLOCK);
    const b3 = randomBytes(BLOCK);
    const tail = randomBytes(BLOCK - 4096);
    await fh.write(b0, 0, BLOCK, 0);
    await fh.write(b3, 0, BLOCK, 3 * BLOCK);
    await fh.write(tail, 0, tail.length, 9 * BLOCK);
    await fh.truncate(size);
    await fh.close();
    const qcow = join(tmp, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
    const fileBytes = await readFile(raw);
    const env = cleanEnv({ NITRIDE_HOME: home });

    for (const [file, name, mode] of [
      [raw, 'imported-raw', 'legacy-bios'],
      [qcow, 'imported-qcow2', 'uefi'],
    ] as const) {
      const r = await cli(['image', 'import', file, '--name', name, '--boot-mode', mode, '--description', `from ${name}`], env);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /progress 100%/);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { imageId: string; snapshotId: string; blocks: number; skippedZeroBlocks: number; format: string; volumeSize: number };
      assert.equal(out.format, file === raw ? 'raw' : 'qcow2');
      assert.equal(out.blocks, 3);
      assert.equal(out.skippedZeroBlocks, 7);
      assert.equal(out.volumeSize, 1);
      const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [out.imageId] }))).Images![0]!;
      assert.equal(img.Name, name);
      assert.equal(img.RootDeviceType, 'ebs');
      assert.equal(img.RootDeviceName, '/dev/xvda');
      assert.equal(img.BootMode, mode);
      assert.equal(img.BlockDeviceMappings![0]!.Ebs!.SnapshotId, out.snapshotId);
      const snap = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [out.snapshotId] }))).Snapshots![0]!;
      assert.equal(snap.State, 'completed');
      const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: out.snapshotId }));
      assert.deepEqual(listed.Blocks?.map((b) => b.BlockIndex), [0, 3, 9]);
      for (const b of listed.Blocks!) {
        const got = Buffer.from(await (await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: out.snapshotId, BlockIndex: b.BlockIndex!, BlockToken: b.BlockToken! }))).BlockData!.transformToByteArray());
        const want = Buffer.alloc(BLOCK);
        fileBytes.copy(want, 0, b.BlockIndex! * BLOCK, Math.min(size, (b.BlockIndex! + 1) * BLOCK));
        assert.ok(got.equals(want), `block ${b.BlockIndex} of ${name} reads back as the file's`);
      }
    }

    // usage errors
    assert.equal((await cli(['image', 'import', raw], env)).status, 2);
    assert.equal((await cli(['image', 'import', raw, '--name', 'x-bad', '--boot-mode', 'bios'], env)).status, 2);

    // a disk the inspector refuses is not uploaded; a failed registration leaves no snapshot
    const before = (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length;
    const client = new RegionApiClient(endpointFromHome(home));
    await assert.rejects(
      importDisk({ file: raw, name: 'refused', client, say: () => undefined, inspect: async () => ({ ok: false, problems: [{ code: 'ClientError.NoNvmeDriver', message: 'the initramfs has no nvme module' }] }) }),
      /ClientError\.NoNvmeDriver/,
    );
    await assert.rejects(importDisk({ file: raw, name: 'imported-raw', client, say: () => undefined, inspect: async () => ({ ok: true, problems: [] }) }), /InvalidAMIName\.Duplicate/);
    assert.equal((await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length, before, 'no snapshot is left by a refused or failed import');
  });
});
