// The life of an EBS-backed instance's volumes, through a real region and host (nitride-minimal
// disk, SeaBIOS), with the SDK and AWS CLI v2:
//  - RunInstances creates the image's own non-root mappings (a data snapshot kept at
//    termination, a size-only gp3 volume) merged with the request's as EC2 merges them: an entry
//    for the same device overrides it (size), NoDevice suppresses one, a new device is added,
//    instance store makes no volume; describe-instances / describe-volumes show them and IMDS
//    block-device-mapping/ lists them.
//  - The root volume of a running instance cannot be detached (IncorrectState).
//  - CreateImage without NoReboot reboots the running instance: the guest shuts down, the
//    volumes are snapshotted, the guest boots again; the image maps every device.
//  - Stopped: the root volume is detached through the region, StartInstances is refused
//    (InvalidParameterValue, no volume at root), another volume attached at /dev/xvda becomes
//    the root and the instance boots from it.
//  - Terminate honours DeleteOnTermination of each.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AttachVolumeCommand,
  CreateImageCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ensureMinimalDisk } from '../../src/image/minimal-disk.js';
import { backgroundUserData, waitFor, withLocalRegion } from '../region-fixtures.js';
import { awsV2, diskSnapshot, errorCode } from './rootboot-fixtures.js';

/** Each boot prints its root device's serial and IMDS block-device-mapping/ once. */
const GUEST = [
  'dev=""; while [ -z "$dev" ]; do for d in /sys/block/nvme*n1; do [ -e "$d/$(basename $d)p1" ] && dev=/dev/$(basename $d); done; sleep 1; done',
  'CR=$(printf "\\r")',
  'bdm=$(printf "GET /latest/meta-data/block-device-mapping/ HTTP/1.0\\r\\n\\r\\n" | nc 169.254.169.254 80 | sed "1,/^$CR\\$/d" | tr "\\n" " ")',
  'echo "lifecycle: root serial=$(cat /sys/block/$(basename $dev)/device/serial | tr -d " ") imds=[$bdm]"',
].join('\n');

const BOOT = 'nitride-disk: firmware';
const boots = (t: string): number => t.split(BOOT).length - 1;
/** The root serial the newest boot printed. */
const lastRoot = (t: string): string | undefined => /lifecycle: root serial=(\S+)/.exec(t.slice(t.lastIndexOf(BOOT)))?.[1];

interface CliVolume {
  VolumeId: string;
  Size: number;
  VolumeType: string;
  SnapshotId?: string;
  Attachments: { Device: string; State: string; DeleteOnTermination: boolean; InstanceId: string }[];
}

test('vm root volume lifecycle: image mappings merged at launch, CreateImage reboots, root detached and replaced while stopped', { timeout: 1_500_000 }, async () => {
  const disk = await ensureMinimalDisk();
  await withLocalRegion('nitride-rootlife-', async ({ region, home, ec2, console }) => {
    const cli = await awsV2(home, region.endpoint);
    const snap = await diskSnapshot(ec2, home, disk.path, 1);
    const dataSnap = await diskSnapshot(ec2, home, disk.path, 1);
    const ami = (
      await ec2.send(
        new RegisterImageCommand({
          Name: 'minimal-with-data',
          RootDeviceName: '/dev/xvda',
          BootMode: 'legacy-bios',
          BlockDeviceMappings: [
            { DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap } },
            { DeviceName: '/dev/sdb', Ebs: { SnapshotId: dataSnap, DeleteOnTermination: false } },
            { DeviceName: '/dev/sdc', Ebs: { VolumeSize: 1, VolumeType: 'gp3' } },
            { DeviceName: '/dev/sdd', Ebs: { VolumeSize: 1 } },
            { DeviceName: '/dev/sde', VirtualName: 'ephemeral0' },
          ],
        }),
      )
    ).ImageId!;

    // ---- launch: the image's mappings merged with the request's ------------------------------
    const id = (
      await ec2.send(
        new RunInstancesCommand({
          ImageId: ami,
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          UserData: backgroundUserData(GUEST),
          BlockDeviceMappings: [
            { DeviceName: '/dev/sdc', Ebs: { VolumeSize: 2 } }, // overrides the image's size, keeps its type
            { DeviceName: '/dev/sdd', NoDevice: '' }, // suppresses the image's mapping
            { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 1 } }, // a device of the request's own
          ],
        }),
      )
    ).Instances![0]!.InstanceId!;
    const dump = async (e: unknown): Promise<never> => {
      const qemuLog = join(home, 'host', 'hypervisor', 'instances', id, 'qemu.log');
      process.stderr.write(`----- console of ${id} -----\n${await console(id)}\n----- ${qemuLog} -----\n${existsSync(qemuLog) ? readFileSync(qemuLog, 'utf8').slice(-4000) : '(none)'}\n`);
      throw e;
    };
    const state = async (): Promise<string> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.State!.Name!;
    const first = await waitFor('the first boot to print its root', async () => {
      const t = await console(id);
      return lastRoot(t) !== undefined ? t : undefined;
    }, 300_000).catch(dump);

    const cliMappings = async (): Promise<{ DeviceName: string; Ebs: { VolumeId: string; Status: string; DeleteOnTermination: boolean } }[]> => {
      const r = (await cli(['ec2', 'describe-instances', '--instance-ids', id])) as { Reservations: { Instances: { BlockDeviceMappings: { DeviceName: string; Ebs: { VolumeId: string; Status: string; DeleteOnTermination: boolean } }[] }[] }[] };
      return r.Reservations[0]!.Instances[0]!.BlockDeviceMappings;
    };
    const launched = await waitFor('every mapped volume to be attached', async () => {
      const m = await cliMappings();
      return m.length === 4 && m.every((x) => x.Ebs.Status === 'attached') ? m : undefined;
    }, 120_000);
    assert.deepEqual(launched.map((m) => [m.DeviceName, m.Ebs.DeleteOnTermination]), [
      ['/dev/sdb', false],
      ['/dev/sdc', true],
      ['/dev/sdf', true],
      ['/dev/xvda', true],
    ]);
    const vols = ((await cli(['ec2', 'describe-volumes', '--filters', `Name=attachment.instance-id,Values=${id}`])) as { Volumes: CliVolume[] }).Volumes;
    const at = (dev: string): CliVolume => vols.find((v) => v.Attachments[0]?.Device === dev)!;
    assert.deepEqual([at('/dev/sdb').SnapshotId, at('/dev/sdb').Size, at('/dev/sdb').Attachments[0]!.DeleteOnTermination], [dataSnap, 1, false], 'the image\'s data snapshot, kept at termination');
    assert.deepEqual([at('/dev/sdc').Size, at('/dev/sdc').VolumeType, at('/dev/sdc').SnapshotId ?? ''], [2, 'gp3', ''], 'the request\'s size over the image\'s type');
    assert.equal(at('/dev/sdf').Size, 1);
    assert.equal(at('/dev/xvda').SnapshotId, snap);
    assert.equal(vols.length, 4, 'NoDevice and instance store make no volume');
    const rootA = at('/dev/xvda').VolumeId;
    assert.equal(lastRoot(first), rootA.replace('-', ''), 'the guest boots from the root volume');
    assert.match(first, /lifecycle: root serial=\S+ imds=\[ami ebs1 ebs2 ebs3 root ?\]/, 'IMDS lists the three launch EBS devices');

    // ---- a running instance's root stays ------------------------------------------------------
    assert.equal(await errorCode(ec2.send(new DetachVolumeCommand({ VolumeId: rootA }))), 'IncorrectState');

    // ---- CreateImage without NoReboot: clean shutdown, snapshots, boot again ---------------------
    const bootsBefore = boots(await console(id));
    const made = (await ec2.send(new CreateImageCommand({ InstanceId: id, Name: 'from-running' }))).ImageId!;
    const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [made] }))).Images![0]!;
    assert.deepEqual(img.BlockDeviceMappings!.map((m) => m.DeviceName), ['/dev/sdb', '/dev/sdc', '/dev/sdf', '/dev/xvda']);
    await waitFor('the instance to boot again after CreateImage', async () => {
      const t = await console(id);
      return boots(t) > bootsBefore && lastRoot(t) !== undefined && (await state()) === 'running' ? true : undefined;
    }, 300_000).catch(dump);
    assert.equal(await state(), 'running', 'running again after the image was made');

    // ---- stopped: the root comes off, and another volume becomes the root ------------------------
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to stop', async () => ((await state()) === 'stopped' ? true : undefined), 180_000).catch(dump);
    const det = await ec2.send(new DetachVolumeCommand({ VolumeId: rootA }));
    assert.equal(det.Device, '/dev/xvda');
    await waitFor('the root volume to be available', async () => ((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [rootA] }))).Volumes?.[0]?.State === 'available' ? true : undefined), 120_000);
    assert.ok(!(await cliMappings()).some((m) => m.DeviceName === '/dev/xvda'), 'no root in the mappings');
    assert.equal(await errorCode(ec2.send(new StartInstancesCommand({ InstanceIds: [id] }))), 'InvalidParameterValue');
    assert.equal(await state(), 'stopped');
    const rootB = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: snap }))).VolumeId!;
    await waitFor('the new volume to be available', async () => ((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [rootB] }))).Volumes?.[0]?.State === 'available' ? true : undefined), 60_000);
    await ec2.send(new AttachVolumeCommand({ VolumeId: rootB, InstanceId: id, Device: '/dev/xvda' }));
    const rootMapping = (await cliMappings()).find((m) => m.DeviceName === '/dev/xvda');
    assert.deepEqual([rootMapping?.Ebs.VolumeId, rootMapping?.Ebs.DeleteOnTermination], [rootB, false]);
    const bootsStopped = boots(await console(id));
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    const third = await waitFor('the boot from the new root', async () => {
      const t = await console(id);
      return boots(t) > bootsStopped && lastRoot(t) !== undefined ? t : undefined;
    }, 300_000).catch(dump);
    assert.equal(lastRoot(third), rootB.replace('-', ''), 'the instance boots from the volume attached at /dev/xvda');

    // ---- terminate: DeleteOnTermination decides, per volume --------------------------------------
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to terminate', async () => ((await state()) === 'terminated' ? true : undefined), 180_000);
    const gone = [at('/dev/sdc').VolumeId, at('/dev/sdf').VolumeId];
    const kept = [at('/dev/sdb').VolumeId, rootA, rootB];
    await waitFor('the DeleteOnTermination volumes to go and the others to be available', async () => {
      const all = (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
      const byId = new Map(all.map((v) => [v.VolumeId, v.State]));
      return gone.every((v) => !byId.has(v)) && kept.every((v) => byId.get(v) === 'available') ? true : undefined;
    }, 120_000);
    ec2.destroy();
  });
});
