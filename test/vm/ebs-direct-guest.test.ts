// The bytes of a disk imported through the EBS direct APIs reach a guest intact: the debian-12
// disk (a real bootable image, so the import's inspection passes) is imported encrypted with
// `nitride image import` (PutSnapshotBlock through the region, the
// EBS card encrypts), CreateVolume makes a volume from the imported snapshot, AttachVolume
// hot-plugs it into a running nitride-minimal guest as NVMe, and the guest's md5 of the disk's
// first bytes (read through QEMU's NBD client from the card, which decrypts) equals the file's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { test } from 'node:test';
import { AttachVolumeCommand, CreateVolumeCommand, DescribeInstancesCommand, DescribeSnapshotsCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { MARKERS } from '../../src/image/markers.js';
import { buildDebianImage } from '../../src/image/debian/build-debian.js';
import { BUILTIN_AMI, CLI_MAIN, backgroundUserData, cleanEnv, waitFor, withLocalRegion } from '../region-fixtures.js';

const BOOT_MS = 240_000;
const BLOCK = 512 * 1024;
const SPAN = 3 * 1024 * 1024; // the MBR, GRUB's core image and the start of the EFI partition

/** How many 512 KiB blocks of the file hold a non-zero byte (the blocks an import uploads). */
async function nonZeroBlocks(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    let n = 0;
    for (let off = 0; ; off += BLOCK) {
      const { bytesRead } = await fh.read(buf, 0, BLOCK, off);
      if (bytesRead === 0) return n;
      if (buf.subarray(0, bytesRead).some((b) => b !== 0)) n++;
    }
  } finally {
    await fh.close();
  }
}

test('an imported (encrypted) snapshot becomes a volume whose bytes a guest reads back intact', { timeout: 1_500_000 }, async () => {
  await withLocalRegion('nitride-ebs-direct-guest-', async ({ region, home, ec2, console }) => {
    const raw = (await buildDebianImage({ say: (l) => process.stderr.write(`[debian-12] ${l}\n`) })).path;
    const fh = await open(raw, 'r');
    const head = Buffer.alloc(SPAN);
    await fh.read(head, 0, SPAN, 0);
    await fh.close();
    const md5 = createHash('md5').update(head).digest('hex');
    const wantBlocks = await nonZeroBlocks(raw);

    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI_MAIN, 'image', 'import', raw, '--name', 'guest-readback', '--encrypted'], { env: cleanEnv({ NITRIDE_HOME: home }), encoding: 'utf8', timeout: 900_000 }, (e, stdout, stderr) =>
        e ? reject(new Error(`nitride image import failed: ${stderr}`)) : resolve(stdout),
      );
    });
    const { snapshotId, blocks } = JSON.parse(out.trim().split('\n').pop()!) as { snapshotId: string; blocks: number };
    assert.equal(blocks, wantBlocks, 'every non-zero block of the file was uploaded');
    const snap = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots![0]!;
    assert.equal(snap.State, 'completed');
    assert.equal(snap.Encrypted, true);

    const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: snapshotId }));
    assert.equal(vol.Encrypted, true);
    const volumeId = vol.VolumeId!;

    const script = ['while [ ! -b /dev/nvme0n1 ]; do sleep 1; done', `echo "ebs-direct-guest: md5 $(head -c ${SPAN} /dev/nvme0n1 | md5sum | cut -d" " -f1)"`].join('\n');
    const run = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: backgroundUserData(script) }));
    const id = run.Instances![0]!.InstanceId!;
    try {
      await waitFor(`${id} running`, async () => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined), BOOT_MS);
      await waitFor(`${id} ready marker`, async () => ((await console(id)).includes(MARKERS.ready) ? true : undefined), BOOT_MS);
      const att = await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: id, Device: '/dev/sdf' }));
      assert.equal(att.State, 'attached');
      const seen = await waitFor('the guest to read the disk', async () => {
        const c = await console(id);
        return /ebs-direct-guest: md5 [0-9a-f]{32}/.test(c) ? c : undefined;
      }, 180_000);
      const m = /ebs-direct-guest: md5 ([0-9a-f]{32})/.exec(seen)!;
      process.stderr.write(`[ebs-direct] guest md5 ${m[1]} file md5 ${md5}\n`);
      assert.equal(m[1], md5, 'the guest reads the imported bytes');
    } finally {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch(() => undefined);
      void region;
    }
  });
});
