// Instances on their own EBS root volume, through a real region and host with the AWS SDK:
// RegisterImage of an EBS-backed image (a root snapshot holding the nitride-minimal disk),
// refusals that leave nothing behind, RunInstances with encryption by default and a root
// override (bigger, DeleteOnTermination) plus a data volume kept at termination; the guest
// boots through SeaBIOS + GRUB from the encrypted root volume served by the EBS card, sees
// EC2's SMBIOS identity and IMDS block-device-mapping/, writes a marker on its root disk that
// the next boot (after stop and start) reads back; a live update of the EBS card under the
// running guest hands its root volume's connection over with no I/O error; terminate deletes
// the root volume and keeps the other.
//
// TEST FIXTURE ONLY: the root snapshot's bytes get in by writing the disk image into an
// unencrypted, never-attached volume's file in the host's volume store (<home>/host/ebs/volumes,
// which holds plain bytes for unencrypted volumes) before CreateSnapshot. The EBS direct API
// (StartSnapshot/PutSnapshotBlock) replaces this once it is merged.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DeleteSnapshotCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EnableEbsEncryptionByDefaultCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ec2SystemUuid } from '../../src/hypervisor/protocol/boot-disk.js';
import { ensureMinimalDisk, MARKER_OFFSET } from '../../src/image/minimal-disk.js';
import { backgroundUserData, CLI_MAIN, waitFor, withLocalRegion } from '../region-fixtures.js';
import { diskSnapshot, errorCode } from './rootboot-fixtures.js';

const GiB = 2 ** 30;

/** The guest's part: DMI is printed by the disk's /rootdisk-init; this reads IMDS, the marker, then does root-disk I/O in ticks. */
function guestScript(): string {
  const sector = MARKER_OFFSET / 512;
  return [
    'dev=""; while [ -z "$dev" ]; do for d in /sys/block/nvme*n1; do [ -e "$d/$(basename $d)p1" ] && dev=/dev/$(basename $d); done; sleep 1; done',
    'echo "rootboot: root $dev sectors=$(cat /sys/block/$(basename $dev)/size) serial=$(cat /sys/block/$(basename $dev)/device/serial | tr -d " ")"',
    'CR=$(printf "\\r")',
    'bdm=$(printf "GET /latest/meta-data/block-device-mapping/ HTTP/1.0\\r\\n\\r\\n" | nc 169.254.169.254 80 | sed "1,/^$CR\\$/d" | tr "\\n" " ")',
    'root=$(printf "GET /latest/meta-data/block-device-mapping/root HTTP/1.0\\r\\n\\r\\n" | nc 169.254.169.254 80 | sed "1,/^$CR\\$/d")',
    'echo "rootboot: imds bdm=[$bdm] root=[$root]"',
    `old=$(dd if=$dev bs=512 skip=${sector} count=1 2>/dev/null | tr -d "\\000" | head -c 40)`,
    'echo "rootboot: marker-before=[$old]"',
    'n=$(echo "$old" | sed -n "s/^nitride-marker boot-\\([0-9]*\\)$/\\1/p"); n=$(( ${n:-0} + 1 ))',
    `printf "nitride-marker boot-%s" $n | dd of=$dev bs=512 seek=${sector} count=1 conv=sync,notrunc 2>/dev/null && sync && echo "rootboot: marker-written=[nitride-marker boot-$n]"`,
    'i=0; while [ $i -lt 90 ]; do if dd if=$dev of=/dev/null bs=4096 count=1 skip=$(( (i * 257 + n * 7919) % 200000 )) 2>/dev/null; then echo "rootboot: tick $i"; else echo "rootboot: io error at tick $i"; fi; i=$((i + 1)); sleep 1; done',
    'echo "rootboot: ticks done"',
  ].join('\n');
}

test('vm root volume: EBS-backed image → encrypted root volume, boots from it, data survives stop/start, live card update, terminate honours DeleteOnTermination', { timeout: 1_500_000 }, async () => {
  const disk = await ensureMinimalDisk({ say: (l) => process.stderr.write(`[disk] ${l}\n`) });
  await withLocalRegion('nitride-rootboot-', async ({ region: r, home, ec2, console }) => {
    const snap = await diskSnapshot(ec2, home, disk.path, 2);

    // RegisterImage with a root snapshot: DescribeImages shows it as EC2 does
    const ami = (await ec2.send(new RegisterImageCommand({ Name: 'minimal-ebs', RootDeviceName: '/dev/xvda', BootMode: 'legacy-bios', EnaSupport: true, VirtualizationType: 'hvm', Architecture: 'x86_64', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap, DeleteOnTermination: true } }] }))).ImageId!;
    const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images![0]!;
    assert.equal(img.RootDeviceType, 'ebs');
    assert.equal(img.RootDeviceName, '/dev/xvda');
    assert.equal(img.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId, snap);
    assert.equal(img.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize, 2);

    // refusals leave nothing half created
    const volumesBefore = (await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length ?? 0;
    const instancesBefore = (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0;
    assert.equal(await errorCode(ec2.send(new RunInstancesCommand({ ImageId: ami, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 1 } }] }))), 'InvalidBlockDeviceMapping');
    const snap2 = await diskSnapshot(ec2, home, disk.path, 1);
    const ami2 = (await ec2.send(new RegisterImageCommand({ Name: 'minimal-ebs-gone', RootDeviceName: '/dev/xvda', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap2 } }] }))).ImageId!;
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snap2 }));
    assert.equal(await errorCode(ec2.send(new RunInstancesCommand({ ImageId: ami2, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }))), 'InvalidSnapshot.NotFound');
    assert.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length ?? 0, volumesBefore, 'no volume left by a refused launch');
    assert.equal((await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0, instancesBefore, 'no instance left by a refused launch');

    // launch: encryption by default, root grown to 3 GiB, a data volume kept at termination
    await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
    const res = await ec2.send(
      new RunInstancesCommand({
        ImageId: ami,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        UserData: backgroundUserData(guestScript()),
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 3, VolumeType: 'gp3' } },
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 1, DeleteOnTermination: false } },
        ],
      }),
    );
    const inst0 = res.Instances![0]!;
    const id = inst0.InstanceId!;
    assert.equal(inst0.RootDeviceType, 'ebs');
    assert.equal(inst0.RootDeviceName, '/dev/xvda');
    const describe = async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
    const state = async (): Promise<string> => (await describe()).State?.Name ?? '';
    const dump = async (e: unknown): Promise<never> => {
      process.stderr.write(`----- console of ${id} -----\n${await console(id)}\n`);
      throw e;
    };
    await waitFor('the instance to run', async () => ((await state()) === 'running' ? true : undefined), 300_000).catch(dump);
    const marker1 = await waitFor('the first boot to write its marker', async () => /rootboot: marker-written=\[(.*)\]/.exec(await console(id))?.[1], 300_000).catch(dump);
    assert.equal(marker1, 'nitride-marker boot-1');

    const text1 = await console(id);
    assert.match(text1, /nitride-disk: firmware bios/);
    const uuid = ec2SystemUuid(id);
    assert.ok(text1.includes(`nitride-disk: dmi product_uuid=${uuid}`) && text1.includes(`nitride-disk: dmi product_serial=${uuid}`), 'EC2 SMBIOS identity');
    assert.ok(text1.includes('nitride-disk: dmi product_name=t3.micro'));
    assert.ok(text1.includes('rootboot: marker-before=[]'), 'a fresh root volume has no marker');

    // the root volume: encrypted by default, 3 GiB, attached at /dev/xvda, DeleteOnTermination
    const vols = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [id] }] }))).Volumes ?? [];
    const root = vols.find((v) => v.Attachments?.[0]?.Device === '/dev/xvda');
    assert.ok(root, JSON.stringify(vols));
    assert.equal(root.Size, 3);
    assert.equal(root.VolumeType, 'gp3');
    assert.equal(root.Encrypted, true, 'encryption by default applies to the root volume');
    assert.equal(root.SnapshotId, snap);
    assert.equal(root.Attachments?.[0]?.State, 'attached');
    assert.equal(root.Attachments?.[0]?.DeleteOnTermination, true);
    const rootSerial = root.VolumeId!.replace('-', '');
    assert.match(text1, new RegExp(`rootboot: root /dev/nvme\\d+n1 sectors=${(3 * GiB) / 512} serial=${rootSerial}`), 'the guest boots from the root volume, grown to 3 GiB');
    assert.match(text1, /rootboot: imds bdm=\[ami ebs1 root ?\] root=\[\/dev\/xvda\]/);
    const data = vols.find((v) => v.Attachments?.[0]?.Device === '/dev/sdf');
    assert.ok(data);
    await waitFor('the data volume to be plugged', async () => {
      const bdm = (await describe()).BlockDeviceMappings ?? [];
      return bdm.some((m) => m.DeviceName === '/dev/sdf' && m.Ebs?.Status === 'attached') && bdm.some((m) => m.DeviceName === '/dev/xvda' && m.Ebs?.VolumeId === root.VolumeId) ? true : undefined;
    }, 120_000);

    assert.equal(await errorCode(ec2.send(new DetachVolumeCommand({ VolumeId: root.VolumeId! }))), 'IncorrectState', 'EC2 detaches no root volume of a running instance');

    // live update of the EBS card under the running guest: its root volume's connection moves
    await waitFor('the guest to be ticking', async () => (/rootboot: tick [3-9]/.test(await console(id)) ? true : undefined), 120_000).catch(dump);
    const cli = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const ch = spawn(process.execPath, [CLI_MAIN, 'host', 'restart-component', 'ebs', '--home', home, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      ch.stdout.on('data', (d: Buffer) => (out += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
      ch.on('close', (code) => resolve({ code, out, err }));
    });
    assert.equal(cli.code, 0, cli.err);
    const upd = JSON.parse(cli.out) as { volumes: number; connections: number; dropped: number; outageMs: number };
    assert.ok(upd.volumes >= 2, `volumes ${upd.volumes}`);
    assert.ok(upd.connections >= 1 && upd.dropped === 0, JSON.stringify(upd));
    const ticks = await waitFor('the guest to finish its ticks', async () => {
      const c = await console(id);
      return c.includes('rootboot: ticks done') ? c : undefined;
    }, 300_000).catch(dump);
    assert.doesNotMatch(ticks, /rootboot: io error/);
    process.stderr.write(`[rootboot] live update: ${upd.connections} connection(s) handed over, paused ${upd.outageMs} ms\n`);
    void r;

    // stop and start: the root volume and its data stay
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to stop', async () => ((await state()) === 'stopped' ? true : undefined), 180_000).catch(dump);
    assert.equal((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [root.VolumeId!] }))).Volumes?.[0]?.Attachments?.[0]?.InstanceId, id);
    // the console keeps the earlier boot's output: look only after the newest boot's first line
    const FW = 'nitride-disk: firmware';
    const boots = (t: string): number => t.split(FW).length - 1;
    const bootsBefore = boots(await console(id));
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    const boot2 = await waitFor('the second boot to write its marker', async () => {
      const t = await console(id);
      const last = t.slice(t.lastIndexOf(FW));
      return boots(t) > bootsBefore && /rootboot: marker-written=/.test(last) ? last : undefined;
    }, 300_000).catch(dump);
    assert.match(boot2, /rootboot: marker-before=\[nitride-marker boot-1\]/, 'the first boot\'s marker was read back from the root volume');
    assert.match(boot2, /rootboot: marker-written=\[nitride-marker boot-2\]/);

    // terminate: the root volume (DeleteOnTermination) goes, the data volume stays
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to terminate', async () => ((await state()) === 'terminated' ? true : undefined), 180_000);
    await waitFor('the root volume to be deleted', async () => {
      const all = (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
      return all.some((v) => v.VolumeId === root.VolumeId) ? undefined : true;
    }, 120_000);
    await waitFor('the data volume to be available', async () => {
      const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [data.VolumeId!] }))).Volumes?.[0];
      return v?.State === 'available' ? true : undefined;
    }, 120_000);
    assert.ok(!existsSync(join(home, 'host', 'ebs', 'volumes', `${root.VolumeId}.vol`)), 'the root volume\'s file is gone from the host');
    ec2.destroy();
  });
});

test('vm root volume: an image with BootMode uefi boots through OVMF from its root volume', { timeout: 900_000 }, async () => {
  const disk = await ensureMinimalDisk();
  await withLocalRegion('nitride-rootboot-uefi-', async ({ home, ec2, console }) => {
    const snap = await diskSnapshot(ec2, home, disk.path, 1);
    const ami = (await ec2.send(new RegisterImageCommand({ Name: 'minimal-ebs-uefi', RootDeviceName: '/dev/xvda', BootMode: 'uefi', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap } }] }))).ImageId!;
    assert.equal((await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images![0]!.BootMode, 'uefi');
    const id = (await ec2.send(new RunInstancesCommand({ ImageId: ami, InstanceType: 't3.small', MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    const text = await waitFor('the guest to be ready', async () => {
      const t = await console(id);
      return t.includes('nitride-init: ready') ? t : undefined;
    }, 300_000).catch(async (e: unknown) => {
      process.stderr.write(`----- console of ${id} -----\n${await console(id)}\n`);
      throw e;
    });
    assert.match(text, /nitride-disk: firmware uefi/);
    assert.ok(text.includes(`nitride-disk: dmi product_uuid=${ec2SystemUuid(id)}`));
    const root = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [id] }] }))).Volumes?.[0];
    assert.equal(root?.Attachments?.[0]?.Device, '/dev/xvda');
    assert.equal(root?.Encrypted, false, 'no encryption by default here: the unencrypted snapshot gives an unencrypted volume');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the root volume to be deleted', async () => (((await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? []).some((v) => v.VolumeId === root?.VolumeId) ? undefined : true), 180_000);
    ec2.destroy();
  });
});
