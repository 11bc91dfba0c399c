// RunInstances BlockDeviceMappings through a real region: two extra EBS volumes (one
// encrypted with DeleteOnTermination true, one plain with false) are created with the
// instance and plugged once it runs; the guest sees both NVMe serials; on termination the
// first is deleted (record and backing file) and the second becomes available.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { DescribeVolumesCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { BUILTIN_AMI, waitFor, backgroundUserData, withLocalRegion } from '../region-fixtures.js';


test('vm ebs: RunInstances BlockDeviceMappings create, plug and (DeleteOnTermination) delete volumes', { timeout: 900_000 }, async () => {
  await withLocalRegion('nitride-ebs-bdm-', async ({ region: r, home, ec2, console }) => {
    const script = 'while [ ! -b /dev/nvme1n1 ]; do sleep 1; done; echo "ebs-guest: serials $(cat /sys/class/nvme/nvme*/serial | tr -d " " | sort | tr "\\n" " ")"';
    const UserData = backgroundUserData(script);
    await assert.rejects(
      ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 0 } }] })),
      { name: 'InvalidParameterValue' },
    );
    const res = await ec2.send(
      new RunInstancesCommand({
        ImageId: BUILTIN_AMI,
        InstanceType: 't3.nano',
        MinCount: 1,
        MaxCount: 1,
        UserData,
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } },
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 2, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } },
          { DeviceName: '/dev/sdg', Ebs: { VolumeSize: 1, DeleteOnTermination: false } },
        ],
      }),
    );
    const id = res.Instances![0]!.InstanceId!;
    const vols = async (): Promise<{ id: string; device: string; state: string; encrypted: boolean }[]> =>
      ((await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [id] }] }))).Volumes ?? []).map((v) => ({
        id: v.VolumeId!,
        device: v.Attachments?.[0]?.Device ?? '',
        state: v.Attachments?.[0]?.State ?? '',
        encrypted: v.Encrypted ?? false,
      }));
    const attached = await waitFor('both mapped volumes attached', async () => {
      const v = await vols();
      return v.length === 2 && v.every((x) => x.state === 'attached') ? v : undefined;
    }, 300_000);
    const sdf = attached.find((v) => v.device === '/dev/sdf')!;
    const sdg = attached.find((v) => v.device === '/dev/sdg')!;
    assert.equal(sdf.encrypted, true);
    assert.equal(sdg.encrypted, false);
    const out = await waitFor('the guest to list both NVMe serials', async () => /ebs-guest: serials (.*)/.exec(await console(id))?.[1], 240_000);
    assert.deepEqual(out.trim().split(' ').sort(), [sdf.id.replace('-', ''), sdg.id.replace('-', '')].sort());

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    const fileOf = (v: string): string => join(home, 'host', 'ebs', 'volumes', `${v}.vol`);
    await waitFor('the DeleteOnTermination volume to be deleted', async () => {
      try {
        await ec2.send(new DescribeVolumesCommand({ VolumeIds: [sdf.id] }));
        return undefined;
      } catch (e) {
        return (e as { name?: string }).name === 'InvalidVolume.NotFound' ? true : undefined;
      }
    }, 120_000);
    assert.equal(existsSync(fileOf(sdf.id)), false);
    const kept = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [sdg.id] }))).Volumes![0]!;
    assert.equal(kept.State, 'available');
    assert.equal(existsSync(fileOf(sdg.id)), true);
    ec2.destroy();
  });
});
