// `nitride image import` of a REAL bootable disk — the debian-12 image `nitride setup --with
// debian-12` builds and caches — into a region with its local host, once as the raw file with
// --boot-mode legacy-bios and once as a qcow2 (made with qemu-img) with --boot-mode uefi. The
// CLI runs the real disk inspector first, uploads through the EBS direct APIs with the
// region's profile, skips all-zero blocks, completes and registers an EBS-backed image. Every
// expected number comes from the file itself: the non-zero 512 KiB blocks read from the raw
// file are the snapshot's blocks, the all-zero ones the skipped ones, and a sample of the
// snapshot's blocks (GetSnapshotBlock, @aws-sdk/client-ebs) reads back byte-identical. A blank
// disk is refused by the real inspector through the CLI; a disk an inspector refuses is never
// uploaded, and a failing import leaves no snapshot behind.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand, type Block } from '@aws-sdk/client-ebs';
import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { awsJson, CLI_MAIN, cleanEnv, cleanupHome, startRegion, waitFor, withLocalRegion, type RegionProcess } from '../region-fixtures.js';
import { importDisk } from '../../src/cli/image-import.js';
import { buildDebianImage } from '../../src/image/debian/build-debian.js';
import { imageCacheDir } from '../../src/lib/paths.js';
import { endpointFromHome, RegionApiClient } from '../../src/region/ebs-direct/client.js';

const BLOCK = 512 * 1024;
const GiB = 2 ** 30;
const ZERO = Buffer.alloc(BLOCK);

function log(line: string): void {
  process.stderr.write(`[image-import] ${line}\n`);
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 * 1024 * 1024 }, (e, stdout, stderr) => {
      const code = (e as { code?: unknown } | null)?.code;
      resolve({ status: e ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
}

function qemuImgInfo(file: string): { format: string; virtualSize: number } {
  const j = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' })) as { format: string; 'virtual-size': number };
  return { format: j.format, virtualSize: j['virtual-size'] };
}

/** The file's 512 KiB block at `index`, zero-padded past the end of the file (as a snapshot block reads). */
async function fileBlock(path: string, index: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    await fh.read(buf, 0, BLOCK, index * BLOCK);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Reads the whole raw file: the indexes of its non-zero 512 KiB blocks and the count of all-zero ones. */
async function scanBlocks(path: string, size: number): Promise<{ nonZero: number[]; zero: number }> {
  const total = Math.ceil(size / BLOCK);
  const nonZero: number[] = [];
  let zero = 0;
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    for (let i = 0; i < total; i++) {
      buf.fill(0);
      await fh.read(buf, 0, BLOCK, i * BLOCK);
      if (buf.equals(ZERO)) zero++;
      else nonZero.push(i);
    }
  } finally {
    await fh.close();
  }
  return { nonZero, zero };
}

/** The first and last non-zero block and evenly spread ones in between (`n` in all, fewer only if the disk has fewer). */
function sample(indexes: readonly number[], n: number): number[] {
  if (indexes.length <= n) return [...indexes];
  const picked = new Set<number>();
  for (let k = 0; k < n; k++) picked.add(indexes[Math.round((k * (indexes.length - 1)) / (n - 1))]!);
  return [...picked].sort((a, b) => a - b);
}

async function listAllBlocks(ebs: EBSClient, snapshotId: string): Promise<Block[]> {
  const all: Block[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, ...(nextToken ? { NextToken: nextToken } : {}) }));
    all.push(...(page.Blocks ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return all;
}

test('nitride image import: the debian-12 disk as raw (legacy-bios) and qcow2 (uefi) becomes EBS-backed images, blocks byte-identical, zero blocks skipped; blank and refused disks are not uploaded', { timeout: 40 * 60_000 }, async () => {
  execFileSync('qemu-img', ['--version']); // a missing qemu-img fails the test
  const t0 = Date.now();
  // Returns the cached, verified disk in seconds; builds it (needs root and the mirror) when absent.
  const debian = await buildDebianImage({ say: (l) => log(`debian-12: ${l}`) });
  const raw = debian.path;
  const rawSize = (await stat(raw)).size;
  const rawInfo = qemuImgInfo(raw);
  assert.equal(rawInfo.format, 'raw');
  assert.equal(rawInfo.virtualSize, rawSize);
  const scan = await scanBlocks(raw, rawSize);
  const totalBlocks = Math.ceil(rawSize / BLOCK);
  assert.equal(scan.nonZero.length + scan.zero, totalBlocks);
  assert.ok(scan.nonZero.length > 0 && scan.zero > 0, 'the disk has both data and all-zero blocks');
  const picks = sample(scan.nonZero, 12);
  assert.ok(picks.length >= 8, `at least 8 blocks are compared (${picks.length})`);
  assert.equal(picks[0], scan.nonZero[0]);
  assert.equal(picks[picks.length - 1], scan.nonZero[scan.nonZero.length - 1]);
  log(`${raw}: ${rawSize} bytes, ${scan.nonZero.length} non-zero blocks, ${scan.zero} all-zero; comparing blocks ${picks.join(', ')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  const tmp = await mkdtemp(join(tmpdir(), 'nitride-import-disk-'));
  try {
    const qcow = join(tmp, 'debian-12.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
    const qcowInfo = qemuImgInfo(qcow);
    assert.equal(qcowInfo.format, 'qcow2');
    assert.equal(qcowInfo.virtualSize, rawSize);

    await withLocalRegion('nitride-image-import-', async ({ region, home, ec2 }) => {
      const creds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
      const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds });
      const env = cleanEnv({ NITRIDE_HOME: home });

      for (const [file, name, mode, format] of [
        [raw, 'debian-12-raw', 'legacy-bios', 'raw'],
        [qcow, 'debian-12-qcow2', 'uefi', 'qcow2'],
      ] as const) {
        const t1 = Date.now();
        const r = await cli(['image', 'import', file, '--name', name, '--boot-mode', mode, '--description', `from ${name}`], env);
        assert.equal(r.status, 0, r.stderr);
        log(`${name}: imported in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
        assert.match(r.stderr, /progress 100%/);
        const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { imageId: string; snapshotId: string; blocks: number; skippedZeroBlocks: number; format: string; virtualSize: number; volumeSize: number; inspection: string };
        assert.equal(out.format, format);
        assert.equal(out.inspection, 'passed');
        assert.equal(out.virtualSize, rawSize);
        assert.equal(out.blocks, scan.nonZero.length);
        assert.equal(out.skippedZeroBlocks, scan.zero);
        assert.equal(out.volumeSize, Math.ceil(rawSize / GiB));
        const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [out.imageId] }))).Images![0]!;
        assert.equal(img.Name, name);
        assert.equal(img.RootDeviceType, 'ebs');
        assert.equal(img.RootDeviceName, '/dev/xvda');
        assert.equal(img.BootMode, mode);
        assert.equal(img.BlockDeviceMappings![0]!.DeviceName, '/dev/xvda');
        assert.equal(img.BlockDeviceMappings![0]!.Ebs!.SnapshotId, out.snapshotId);
        const snap = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [out.snapshotId] }))).Snapshots![0]!;
        assert.equal(snap.State, 'completed');
        assert.equal(snap.VolumeSize, out.volumeSize);
        const listed = await listAllBlocks(ebs, out.snapshotId);
        assert.deepEqual(
          listed.map((b) => b.BlockIndex),
          scan.nonZero,
        );
        const tokens = new Map(listed.map((b) => [b.BlockIndex!, b.BlockToken!]));
        for (const index of picks) {
          const got = Buffer.from(await (await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: out.snapshotId, BlockIndex: index, BlockToken: tokens.get(index)! }))).BlockData!.transformToByteArray());
          assert.ok(got.equals(await fileBlock(raw, index)), `block ${index} of ${name} reads back as the file's`);
        }
      }

      // a small synthetic disk for the usage errors and the refusal paths
      const small = join(tmp, 'small.raw');
      const fh = await open(small, 'w');
      await fh.write(randomBytes(BLOCK), 0, BLOCK, 0);
      await fh.write(randomBytes(BLOCK), 0, BLOCK, 3 * BLOCK);
      await fh.truncate(5 * 1024 * 1024 - 4096);
      await fh.close();

      // usage errors
      assert.equal((await cli(['image', 'import', small], env)).status, 2);
      assert.equal((await cli(['image', 'import', small, '--name', 'x-bad', '--boot-mode', 'bios'], env)).status, 2);

      const before = (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length;
      // the real inspector refuses a blank disk through the CLI: nothing is uploaded
      const blank = join(tmp, 'blank.raw');
      execFileSync('truncate', ['-s', '64M', blank]);
      const refused = await cli(['image', 'import', blank, '--name', 'blank-disk', '--boot-mode', 'legacy-bios'], env);
      assert.notEqual(refused.status, 0, refused.stderr);
      assert.match(refused.stderr, /ClientError\.NoValidPartitions/);
      assert.doesNotMatch(refused.stderr, /snapshot snap-/);
      assert.ok(!(await ec2.send(new DescribeImagesCommand({}))).Images!.some((i) => i.Name === 'blank-disk'), 'no image is registered for a refused disk');

      // a disk an inspector refuses is not uploaded; a failed registration leaves no snapshot
      const client = new RegionApiClient(endpointFromHome(home));
      await assert.rejects(
        importDisk({ file: small, name: 'refused', client, say: () => undefined, inspect: async () => ({ ok: false, problems: [{ code: 'ClientError.NoNvmeDriver', message: 'the initramfs has no nvme module' }] }) }),
        /ClientError\.NoNvmeDriver/,
      );
      await assert.rejects(importDisk({ file: small, name: 'debian-12-raw', client, say: () => undefined, inspect: async () => ({ ok: true, problems: [] }) }), /InvalidAMIName\.Duplicate/);
      assert.equal((await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots!.length, before, 'no snapshot is left by a refused or failed import');

      // `nitride image build debian-12 --register`: the cached disk, imported as debian-12-nitride-VERSION, once
      const first = await cli(['image', 'build', 'debian-12', '--register', '--home', home], env);
      assert.equal(first.status, 0, first.stderr);
      const reg = JSON.parse(first.stdout.trim().split('\n').pop()!) as { imageId: string; name: string; registered: boolean; inspection: string };
      assert.equal(reg.registered, true);
      assert.equal(reg.inspection, 'passed');
      assert.match(reg.name, /^debian-12-nitride-[0-9a-f]{16}$/);
      const found = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: [reg.name] }] }))).Images!;
      assert.deepEqual(found.map((i) => [i.ImageId, i.RootDeviceType, i.BootMode]), [[reg.imageId, 'ebs', 'legacy-bios']]);
      const again = await cli(['image', 'build', 'debian-12', '--register', '--home', home], env);
      assert.equal(again.status, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout.trim().split('\n').pop()!), { imageId: reg.imageId, name: reg.name, registered: false });
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('nitride start --register-debian (what npm start runs): the built debian-12 disk is registered once, and found by the next start', { timeout: 900_000 }, async () => {
  const debian = await buildDebianImage({ say: (l) => log(`debian-12: ${l}`) });
  const name = `debian-12-nitride-${debian.manifest.version}`;
  const home = await mkdtemp(join(tmpdir(), 'nitride-start-debian-'));
  let region: RegionProcess | undefined;
  let failed = true;
  try {
    const registered = async (r: RegionProcess): Promise<RegExpExecArray> => {
      const got = await waitFor('the start to register debian-12', () => /debian-12 is (registered|available) as (ami-[0-9a-f]{17}) \((\S+)\): aws --profile nitride ec2 run-instances --image-id \2 /.exec(r.stdout()) ?? (/debian-12 (is not built|could not be registered).*/.exec(r.stderr()) ?? undefined), 600_000);
      assert.ok(got[0].startsWith('debian-12 is '), got[0]);
      return got;
    };
    // the start looks in the same image cache as this test (the fixture passes no NITRIDE_* on by itself)
    const env = { NITRIDE_IMAGE_CACHE: imageCacheDir() };
    region = await startRegion({ home, args: ['--register-debian'], env });
    const first = await registered(region);
    assert.deepEqual([first[1], first[3]], ['registered', name]);
    const images = awsJson<{ Images: { ImageId: string; Name: string; RootDeviceType: string; BootMode: string }[] }>('v2', region, ['ec2', 'describe-images', '--owners', 'self']).Images;
    assert.deepEqual(images.map((i) => [i.ImageId, i.Name, i.RootDeviceType, i.BootMode]), [[first[2], name, 'ebs', 'legacy-bios']]);
    await region.stop();
    region = await startRegion({ home, args: ['--register-debian'], env });
    const again = await registered(region);
    assert.deepEqual([again[1], again[2]], ['available', first[2]], 'the next start finds it and imports nothing');
    assert.equal(awsJson<{ Images: unknown[] }>('v2', region, ['ec2', 'describe-images', '--owners', 'self']).Images.length, 1);
    failed = false;
  } finally {
    await region?.stop();
    await cleanupHome(home, [region], failed);
  }
});
