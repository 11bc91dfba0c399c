// Instance store through a real region: an m5d.large gets a local NVMe disk (75 GiB, sparse)
// whose key the EBS card makes and never stores; the guest sees it with an "AWS…" serial and
// writes to it; the backing file holds no plaintext; StopInstances destroys the key and
// deletes the file, and the key never appears under NITRIDE_HOME.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { DescribeInstancesCommand, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { instanceStoreVolumeId } from '../../src/controller/cards/ebs.js';
import { MARKERS } from '../../src/image/markers.js';
import { BUILTIN_AMI, waitFor, backgroundUserData, withLocalRegion } from '../region-fixtures.js';

const BOOT_MS = 240_000;


function head(file: string, n: number): Buffer {
  const b = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, b, 0, n, 0);
  } finally {
    closeSync(fd);
  }
  return b;
}

test('vm ebs instance store: m5d.large gets a card-keyed local NVMe disk, destroyed on stop', { timeout: 900_000 }, async () => {
  await withLocalRegion('nitride-ebs-is-', async ({ region: r, home, ec2, console }) => {
    const tag = `NITRIDE-INSTANCE-STORE-${randomBytes(8).toString('hex')}`;
    const script = [
      'while [ ! -b /dev/nvme0n1 ]; do sleep 1; done',
      'echo "ebs-guest: disk nvme0n1 serial $(cat /sys/class/nvme/nvme0/serial) size $(cat /sys/block/nvme0n1/size)"',
      `yes "${tag}" | head -c 65536 | dd of=/dev/nvme0n1 bs=65536 conv=fsync 2>/dev/null && echo "ebs-guest: wrote"`,
    ].join('\n');
    const UserData = backgroundUserData(script);
    const res = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 'm5d.large', MinCount: 1, MaxCount: 1, UserData }));
    const id = res.Instances![0]!.InstanceId!;
    await waitFor('running', async () => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined), BOOT_MS);
    await waitFor('ready', async () => ((await console(id)).includes(MARKERS.ready) ? true : undefined), BOOT_MS);
    const out = await waitFor('the guest to write its instance store', async () => {
      const c = await console(id);
      return c.includes('ebs-guest: wrote') ? c : undefined;
    }, 180_000);
    const volumeId = instanceStoreVolumeId(id);
    assert.match(out, new RegExp(`ebs-guest: disk nvme0n1 serial AWS${volumeId.slice(4)}\\s* size ${(75 * 2 ** 30) / 512}`));
    const file = join(home, 'host', 'ebs', 'volumes', `${volumeId}.vol`);
    assert.ok(existsSync(file));
    const stored = head(file, 65536);
    assert.equal(stored.indexOf(Buffer.from(tag)), -1, 'ciphertext only');
    assert.ok(stored.some((b) => b !== 0), 'the guest write reached the file');

    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitFor('stopped', async () => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name === 'stopped' ? true : undefined), 180_000);
    await waitFor('the instance store file to be deleted', async () => (existsSync(file) ? undefined : true), 30_000);
    const spec = (await import('node:fs')).readFileSync(join(home, 'host', 'hypervisor', 'instances', id, 'spec.json'), 'utf8');
    assert.doesNotMatch(spec, new RegExp(volumeId), 'the hypervisor forgot the disk');
    ec2.destroy();
  });
});
