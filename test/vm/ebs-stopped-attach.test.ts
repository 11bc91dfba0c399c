// AttachVolume to a stopped instance through a real region and host: the attachment is
// recorded at once (volume in-use, attachment attached, listed in DescribeInstances'
// blockDeviceMapping) and the volume is plugged when the instance next runs: the guest of the
// second boot sees the volume's NVMe serial.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { BUILTIN_AMI, waitFor, backgroundUserData, withLocalRegion } from '../region-fixtures.js';


test('vm ebs: a volume attached to a stopped instance is plugged when it starts again', { timeout: 900_000 }, async () => {
  await withLocalRegion('nitride-ebs-stopped-', async ({ region: r, home, ec2, console }) => {
    const script = 'while [ ! -b /dev/nvme0n1 ]; do sleep 1; done; echo "ebs-guest: serials $(cat /sys/class/nvme/nvme*/serial | tr -d " " | sort | tr "\\n" " ")"';
    const UserData = backgroundUserData(script);
    const res = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData }));
    const id = res.Instances![0]!.InstanceId!;
    const state = async (): Promise<string> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.State!.Name!;
    await waitFor('the instance to run', async () => ((await state()) === 'running' ? true : undefined), 300_000);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to stop', async () => ((await state()) === 'stopped' ? true : undefined), 120_000);

    const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true }))).VolumeId!;
    const att = await ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: id, Device: '/dev/sdf' }));
    assert.equal(att.State, 'attaching');
    const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes![0]!;
    assert.equal(v.State, 'in-use');
    assert.equal(v.Attachments?.[0]?.State, 'attached');
    const bdm = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.BlockDeviceMappings ?? [];
    assert.deepEqual(bdm.map((m) => [m.DeviceName, m.Ebs?.VolumeId, m.Ebs?.Status]), [['/dev/sdf', vol, 'attached']]);

    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    const out = await waitFor('the guest of the second boot to see the volume', async () => /ebs-guest: serials (.*)/.exec(await console(id))?.[1], 150_000).catch(async (e: unknown) => {
      process.stderr.write(`----- console -----\n${await console(id)}\n`);
      throw e;
    });
    assert.ok(out.trim().split(' ').includes(vol.replace('-', '')), `serials: ${out}`);
    const after = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes![0]!;
    assert.equal(after.Attachments?.[0]?.State, 'attached');

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    ec2.destroy();
  });
});
