// Issue 11 item 8, end to end with real Debian guests: few boots, many checks each.
// The cached debian-12 disk (`nitride image build debian-12`) is imported through importDisk
// with the real inspector (EBS direct APIs, legacy-bios), and an ed25519 key pair is created.
//  - Guest A boots from its encrypted-by-default EBS root volume with the key pair and
//    cloud-config user-data (users, write_files, runcmd, bootcmd); cloud-init picks the Ec2
//    datasource and finishes, and the console shows the host key fingerprints.
//  - Guest B in the same subnet gets the private key in its user-data and logs in to A by ssh
//    (tcp/22 allowed within the security group only), writes a file on A's root volume with
//    sudo and prints A's hostname; B also scans A's host key, which must match A's console.
//  - A gets an Elastic IP: the test logs in from a network namespace of its own (the local host's
//    public side, a TAP device, moved there) with `ssh -i <key pair> debian@<EIP>`, and the
//    host key it accepts is the one A's console printed.
//  - A is stopped and started: its bootcmd prints the file, read from the root volume, and the
//    Elastic IP still reaches it by ssh.
//  - An encrypted data volume is attached to the running A; A formats and mounts it.
//  - A is stopped, CreateImage makes a new image from it, and guest C from that image prints
//    the same file from its own root volume.
// Measured on 2 shared cores under TCG at load 2-5 (2026-12-07), 575 s in all: import 40 s;
// A RunInstances → cloud-init finished 130 s; B RunInstances → ssh done and cloud-init finished
// 165 s; stop 7 s; StartInstances → bootcmd marker 92 s, → cloud-init finished 115 s;
// AttachVolume → mounted in A 10 s; CreateImage 0.4 s; C RunInstances → bootcmd marker 104 s.
// A second run at load 0.5-3 took 470 s: A 132 s, B 132 s, stop 5 s, start → marker 70 s and
// → cloud-init finished 80 s, attach → mounted 4 s, C → marker 68 s. Those runs were before the
// image's lean first boot (docs/IMAGE.md): about 40 s of each first boot went to DNS timeouts in
// cloud-init's init-local (the build host's resolv.conf in the image), ~20 s to an RSA host key
// and ~7 s to grub-dpkg.
// A third run with the lean image (120854cb22602a77; no RSA host key, so B's scan and ssh used
// the ed25519 key), load 6-9: 593 s in all; import 103 s; A 128 s (cloud-init finished at guest
// uptime 88 s), B 165 s (ssh on the first try), stop 8 s, start → marker 68 s and → cloud-init
// finished 93 s, attach → mounted 10 s, C → marker 73 s.
// A fourth run with the Elastic IP and the ssh from the test's namespace (2026-12-08, load 4-6):
// 395 s in all; import 51 s; A 92 s; B 85 s; AssociateAddress → ssh from outside 1.7 s; stop 8 s;
// start → marker 54 s, → cloud-init finished 75 s; attach → mounted 8 s; C → marker 61 s.
// Traffic stays guest to guest inside the test's own VPC (10.0.0.0/16), or between A's Elastic
// IP and the test's namespace (198.51.100.1/24); the host's own namespace never reaches a guest.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachInternetGatewayCommand,
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateImageCommand,
  CreateInternetGatewayCommand,
  CreateKeyPairCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EnableEbsEncryptionByDefaultCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { importDisk } from '../../src/cli/image-import.js';
import { buildDebianImage } from '../../src/image/debian/build-debian.js';
import { defaultDiskInspector } from '../../src/image/import-inspector.js';
import { endpointFromHome, RegionApiClient } from '../../src/region/ebs-direct/client.js';
import { EdgeNamespace } from '../../src/vpc/testing/edge-netns.js';
import { qemuPids, waitFor, withLocalRegion } from '../region-fixtures.js';

const TYPE = 't3.small'; // 2 vCPUs, 2 GiB: Debian with cloud-init wants at least 1 GiB
const BOOT_MS = 12 * 60_000; // RunInstances → cloud-init finished under TCG on a loaded machine
const IP_A = '10.0.1.10';
const IP_B = '10.0.1.11';
const IP_C = '10.0.1.12';
const KEY_FILE = '/root/nitride-key';

function log(line: string): void {
  process.stderr.write(`[debian-guest] ${line}\n`);
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\r/g, '');

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** YAML block scalar lines of `text`, indented by `n` spaces. */
const indent = (text: string, n: number): string =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');

const cloudConfig = (body: string): string => Buffer.from(`#cloud-config\n${body}`).toString('base64');

/** bootcmd (every boot) that prints the marker file's content on the console. */
const MARKER_BOOTCMD = `bootcmd:
  - [sh, -c, 'echo "NITRIDE-MARKER:$(cat /var/lib/nitride-marker 2>/dev/null)" > /dev/console']
`;

// A: waits (as a systemd unit enabled by runcmd, so it runs on every boot) for an NVMe disk
// with no partitions, formats it with ext4, mounts it and writes and reads a file.
const DATA_SCRIPT = `#!/bin/sh
exec >/dev/console 2>&1
i=0
while [ $i -lt 1800 ]; do
  for d in /sys/block/nvme*n1; do
    [ -e "$d" ] || continue
    n=$(basename "$d")
    ls "$d" | grep -q "^\${n}p" && continue
    s=$(tr -d ' ' < "$d/device/serial")
    echo "NITRIDE-DATA: found /dev/$n serial=$s sectors=$(cat "$d/size")"
    mkfs.ext4 -q -F -L nitride-data "/dev/$n" || { echo "NITRIDE-DATA: mkfs failed"; exit 1; }
    mkdir -p /mnt/data && mount "/dev/$n" /mnt/data || { echo "NITRIDE-DATA: mount failed"; exit 1; }
    echo data-ok > /mnt/data/hello && sync
    echo "NITRIDE-DATA: mounted serial=$s fstype=$(findmnt -no FSTYPE /mnt/data) label=$(findmnt -no LABEL /mnt/data) content=$(cat /mnt/data/hello) kib=$(df -k --output=size /mnt/data | tail -n 1 | tr -d ' ')"
    exit 0
  done
  i=$((i + 1))
  sleep 1
done
echo "NITRIDE-DATA: no data disk"
`;

const userDataA = cloudConfig(`users:
  - default
${MARKER_BOOTCMD}write_files:
  - path: /etc/nitride-written
    content: |
      written-by-cloud-init
  - path: /usr/local/sbin/nitride-data
    permissions: '0755'
    content: |
${indent(DATA_SCRIPT, 6)}
  - path: /etc/systemd/system/nitride-data.service
    content: |
      [Unit]
      Description=nitride test: format and mount an attached data volume
      [Service]
      Type=simple
      ExecStart=/usr/local/sbin/nitride-data
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [sh, -c, 'echo "NITRIDE-RUNCMD: user=$(id -un debian) written=$(cat /etc/nitride-written) keys=$(wc -l < /home/debian/.ssh/authorized_keys)" > /dev/console']
  - [sh, -c, 'systemctl daemon-reload && systemctl enable --now nitride-data.service']
`);

/** B: ssh to A with the key pair (retried until A accepts), then the scan of A's host key. */
const sshScript = (ip: string): string => `#!/bin/sh
exec >/dev/console 2>&1
i=0
while [ $i -lt 60 ]; do
  i=$((i + 1))
  if out=$(ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=15 -i ${KEY_FILE} debian@${ip} 'echo from-b | sudo tee /var/lib/nitride-marker >/dev/null; sync; echo "hostname=$(hostname) marker=$(cat /var/lib/nitride-marker) user=$(id -un)"' 2>/run/ssh.err); then
    echo "NITRIDE-SSH: ok try=$i $out"
    ok=1
    break
  fi
  echo "NITRIDE-SSH: try $i failed: $(tail -n 1 /run/ssh.err)"
  sleep 5
done
[ -n "$ok" ] || echo "NITRIDE-SSH: gave up"
echo "NITRIDE-HOSTKEY: $(ssh-keyscan -t ed25519 ${ip} 2>/dev/null | ssh-keygen -lf - | awk '{print $2}')"
`;

const userDataB = (privateKey: string): string =>
  cloudConfig(`write_files:
  - path: ${KEY_FILE}
    permissions: '0600'
    content: |
${indent(privateKey, 6)}
  - path: /usr/local/sbin/nitride-ssh
    permissions: '0755'
    content: |
${indent(sshScript(IP_A), 6)}
runcmd:
  - [/usr/local/sbin/nitride-ssh]
`);

const userDataC = cloudConfig(MARKER_BOOTCMD);

const FINISHED = /Cloud-init v\. (\S+) finished at [^\n]*?Datasource ([^\n]*?)\.?\s+Up ([\d.]+) seconds/g;

test('debian-12 guests: import with the real inspector, key pair + cloud-config, ssh guest to guest, data survives stop/start and CreateImage, encrypted data volume mkfs+mount', { timeout: 40 * 60_000 }, async () => {
  const t0 = Date.now();
  const debian = await buildDebianImage({ say: (l) => log(`debian-12: ${l}`) });
  log(`debian-12 disk ${debian.manifest.version} ready in ${secs(Date.now() - t0)}`);
  const timings: Record<string, string> = {};

  // The local host's public side: a TAP device this test takes into a namespace of its own.
  const iface = EdgeNamespace.deviceName();
  const publicEnv = { NITRIDE_PUBLIC_IFACE: iface, NITRIDE_PUBLIC_CIDR: '198.51.100.0/24', NITRIDE_PUBLIC_GATEWAY: '198.51.100.1' };
  const savedEnv = Object.fromEntries(Object.keys(publicEnv).map((k) => [k, process.env[k]]));
  Object.assign(process.env, publicEnv);
  let net: EdgeNamespace | undefined;
  const sshDir = await mkdtemp(join(tmpdir(), 'nitride-debian-ssh-'));
  try {
    await withLocalRegion('nitride-debian-guest-', async ({ home, ec2, console: apiConsole }) => {
      const launched: string[] = [];
      const volumes: string[] = [];
      /** The whole serial log the host keeps for the instance (the API answers the last 64 KiB). */
      const hostLog = (id: string): string => {
        const dir = join(home, 'host', 'hypervisor', 'instances', id);
        const read = (f: string): string => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
        return stripAnsi(read('console.prev.log') + read('console.log'));
      };
      const fullConsole = async (id: string): Promise<string> => {
        const local = hostLog(id);
        return local !== '' ? local : stripAnsi(await apiConsole(id));
      };
      const tails = async (): Promise<void> => {
        for (const id of launched) {
          const text = await fullConsole(id).catch((e: unknown) => `(no console: ${String(e)})`);
          process.stderr.write(`\n----- console of ${id} (last 6000 chars) -----\n${text.slice(-6000)}\n`);
        }
      };
      const describe = async (id: string): Promise<Instance> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
      const state = async (id: string): Promise<string> => (await describe(id)).State?.Name ?? '';
      const waitState = (id: string, want: string, ms: number): Promise<true> => waitFor(`${id} to be ${want}`, async () => ((await state(id)) === want ? true : undefined), ms, 1000);
      /** Waits until the console matches `re`; returns the last match. */
      const waitConsole = (id: string, what: string, re: RegExp, ms: number): Promise<RegExpMatchArray> =>
        waitFor(`${what} on ${id}'s console`, async () => {
          const all = [...(await fullConsole(id)).matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))];
          return all[all.length - 1];
        }, ms, 2000);

      try {
        // ---- 1. import the disk (real inspector), key pair, network -----------------------
        const t1 = Date.now();
        const imported = await importDisk({ file: debian.path, name: 'debian-12-nitride', bootMode: 'legacy-bios', client: new RegionApiClient(endpointFromHome(home)), inspect: defaultDiskInspector, say: (l) => log(`import: ${l}`) });
        timings.import = secs(Date.now() - t1);
        assert.equal(imported.inspection, 'passed');
        const ami = imported.imageId;
        const img = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images![0]!;
        assert.equal(img.RootDeviceType, 'ebs');
        assert.equal(img.BootMode, 'legacy-bios');
        log(`imported ${ami} (${imported.blocks} blocks, ${imported.skippedZeroBlocks} zero blocks skipped) in ${timings.import}`);

        const key = await ec2.send(new CreateKeyPairCommand({ KeyName: 'debian-e2e', KeyType: 'ed25519' }));
        assert.match(key.KeyMaterial ?? '', /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
        await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));

        const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
        const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
        const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'ssh-within', Description: 'ssh within the group' }))).GroupId!;
        await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: sg }] }] }));
        const run = async (ip: string, userData: string, imageId: string, keyName?: string): Promise<string> => {
          const inst = (
            await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: TYPE, MinCount: 1, MaxCount: 1, SubnetId: subnet, SecurityGroupIds: [sg], PrivateIpAddress: ip, UserData: userData, ...(keyName !== undefined ? { KeyName: keyName } : {}) }))
          ).Instances![0]!;
          launched.push(inst.InstanceId!);
          return inst.InstanceId!;
        };

        // ---- 2. guest A: key pair + cloud-config, cloud-init finishes with Ec2 ----------------
        const tA = Date.now();
        const a = await run(IP_A, userDataA, ami, 'debian-e2e');
        const finA = await waitConsole(a, 'cloud-init finished', FINISHED, BOOT_MS);
        timings['A RunInstances→cloud-init finished'] = secs(Date.now() - tA);
        log(`A ${a}: cloud-init ${finA[1]} finished (${finA[2]}, guest uptime ${finA[3]} s) ${timings['A RunInstances→cloud-init finished']} after RunInstances`);
        assert.match(finA[2]!, /Ec2/, 'cloud-init chose the Ec2 datasource');
        const textA = await fullConsole(a);
        assert.deepEqual([...textA.matchAll(/NITRIDE-MARKER:(\S*)/g)].map((m) => m[1]), [''], 'bootcmd ran once, on the first boot, before any marker file');
        assert.match(textA, /NITRIDE-RUNCMD: user=debian written=written-by-cloud-init keys=1/, 'users default, write_files, the key pair in authorized_keys, runcmd');
        assert.match(textA, /Authorized keys from \/home\/debian\/\.ssh\/authorized_keys for user debian/);
        assert.match(textA, /\| ssh-ed25519 \| [0-9a-f:]+ \|\s+-\s+\| debian-e2e \|/, 'IMDS public-keys/0/openssh-key: the pair\'s ed25519 key, named');
        const apiTextA = stripAnsi(await apiConsole(a));
        assert.ok(apiTextA.includes('-----BEGIN SSH HOST KEY FINGERPRINTS-----') && apiTextA.includes('-----END SSH HOST KEY FINGERPRINTS-----'), 'GetConsoleOutput shows the host key fingerprints');
        const fpA = /-----BEGIN SSH HOST KEY FINGERPRINTS-----\n(?:[^\n]*\n)*?[^\n]*?\d+ (SHA256:\S+) \S+ \(ED25519\)/.exec(apiTextA)?.[1];
        assert.ok(fpA, 'an ED25519 host key fingerprint in the block');
        const dA = await describe(a);
        assert.equal(dA.KeyName, 'debian-e2e');
        assert.equal(dA.RootDeviceType, 'ebs');
        assert.equal(dA.PrivateIpAddress, IP_A);
        const hostnameA = (dA.PrivateDnsName ?? '').split('.')[0]!;
        assert.match(hostnameA, /^ip-10-0-1-10$/);
        const rootA = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [a] }] }))).Volumes!.find((v) => v.Attachments?.[0]?.Device === '/dev/xvda');
        assert.equal(rootA?.Encrypted, true, 'A\'s root volume is encrypted by default');
        assert.equal(rootA?.SnapshotId, imported.snapshotId);

        // ---- 3. guest B logs in to A by ssh with the key pair --------------------------------
        const tB = Date.now();
        const b = await run(IP_B, userDataB(key.KeyMaterial!), ami);
        const fpScan = (await waitConsole(b, 'the ssh from B to A and the host key scan', /NITRIDE-HOSTKEY: (\S*)/, BOOT_MS))[1];
        timings['B RunInstances→ssh to A and host key scan done'] = secs(Date.now() - tB);
        const finB = await waitConsole(b, 'cloud-init finished', FINISHED, 5 * 60_000);
        timings['B RunInstances→cloud-init finished'] = secs(Date.now() - tB);
        const textB = await fullConsole(b);
        const sshOk = /NITRIDE-SSH: (ok try=\d+ hostname=(\S+) marker=(\S+) user=(\S+)|gave up)/.exec(textB) ?? ['(no line)', 'no line'];
        log(`B ${b}: ${sshOk[0]}; cloud-init finished (${finB[2]}) ${timings['B RunInstances→cloud-init finished']} after RunInstances`);
        assert.ok(sshOk[1]!.startsWith('ok'), `B's ssh to A: ${(textB.match(/NITRIDE-SSH: [^\n]*/g) ?? []).join(' | ')}`);
        assert.equal(sshOk[2], hostnameA, 'B ran hostname on A');
        assert.equal(sshOk[3], 'from-b');
        assert.equal(sshOk[4], 'debian');
        assert.equal(fpScan, fpA, 'the host key B scanned on A is the one A\'s console printed');
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [b] }));
        await waitState(b, 'terminated', 180_000);

        // ---- 3b. ssh from the test's namespace to A's Elastic IP, with the key pair -------------
        const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
        await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
        const rtb = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables![0]!.RouteTableId!;
        await ec2.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
        await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '198.51.100.0/24' }] }] }));
        const eip = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).PublicIp!;
        await ec2.send(new AssociateAddressCommand({ PublicIp: eip, InstanceId: a }));
        assert.equal((await describe(a)).PublicIpAddress, eip);
        net = await EdgeNamespace.adopt(iface);
        const ns = net;
        const keyFile = join(sshDir, 'key');
        writeFileSync(keyFile, key.KeyMaterial!);
        chmodSync(keyFile, 0o600);
        const knownHosts = join(sshDir, 'known_hosts');
        const sshA = (cmd: string): Promise<string | undefined> =>
          ns
            .run(['ssh', '-i', keyFile, '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', `debian@${eip}`, cmd], { timeoutMs: 60_000 })
            .then((r) => (r.code === 0 ? r.stdout.trim() : (log(`ssh debian@${eip}: exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`), undefined)));
        const tSsh = Date.now();
        const outside = await waitFor(`ssh debian@${eip} from the namespace`, () => sshA('echo "user=$(id -un) host=$(hostname)"'), 120_000, 2_000);
        timings['AssociateAddress→ssh from outside'] = secs(Date.now() - tSsh);
        log(`ssh -i <key pair> debian@${eip} from ${ns.ns}: ${outside} (${timings['AssociateAddress→ssh from outside']})`);
        assert.equal(outside, `user=debian host=${hostnameA}`);
        const accepted = spawnSync('ssh-keygen', ['-lf', knownHosts], { encoding: 'utf8' });
        assert.equal(/(SHA256:\S+)/.exec(accepted.stdout)?.[1], fpA, `the host key accepted at ${eip} is the one A's console printed: ${accepted.stdout}${accepted.stderr}`);

        // ---- 4. stop and start A: the file is read back from the root volume ------------------
        const tStop = Date.now();
        await ec2.send(new StopInstancesCommand({ InstanceIds: [a] }));
        await waitState(a, 'stopped', 300_000);
        timings['A stop'] = secs(Date.now() - tStop);
        const tStart = Date.now();
        await ec2.send(new StartInstancesCommand({ InstanceIds: [a] }));
        await waitConsole(a, 'the marker read back by bootcmd', /NITRIDE-MARKER:from-b/, BOOT_MS);
        timings['A StartInstances→bootcmd marker'] = secs(Date.now() - tStart);
        log(`A printed NITRIDE-MARKER:from-b ${timings['A StartInstances→bootcmd marker']} after StartInstances`);

        // ---- 6. an encrypted data volume, attached to the running A, mkfs and mount ----------
        const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, VolumeType: 'gp3' }))).VolumeId!;
        volumes.push(vol);
        await waitFor(`${vol} to be available`, async () => ((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes?.[0]?.State === 'available' ? true : undefined), 60_000);
        const tAttach = Date.now();
        await ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: a, Device: '/dev/sdf' }));
        const data = await waitConsole(a, 'the data volume mounted', /NITRIDE-DATA: (mounted serial=(\S+) fstype=(\S+) label=(\S+) content=(\S+) kib=(\d+)|mkfs failed|mount failed|no data disk)/, 8 * 60_000);
        timings['AttachVolume→mounted in A'] = secs(Date.now() - tAttach);
        log(`A: ${data[0]} (${timings['AttachVolume→mounted in A']})`);
        assert.ok(data[1]!.startsWith('mounted'), data[0]);
        assert.equal(data[2], vol.replace('-', ''), 'the NVMe serial is the volume id');
        assert.equal(data[3], 'ext4');
        assert.equal(data[4], 'nitride-data');
        assert.equal(data[5], 'data-ok');
        assert.ok(Number(data[6]) > 900_000, `a 1 GiB filesystem (${data[6]} KiB)`);
        assert.equal((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes?.[0]?.Encrypted, true);
        const finA2 = await waitFor('cloud-init finished on A\'s second boot', async () => {
          const t = await fullConsole(a);
          return [...t.slice(t.lastIndexOf('NITRIDE-MARKER:from-b')).matchAll(FINISHED)][0];
        }, BOOT_MS, 2000);
        timings['A StartInstances→cloud-init finished'] = secs(Date.now() - tStart);
        log(`A second boot: cloud-init finished (${finA2[2]}, guest uptime ${finA2[3]} s)`);
        // The Elastic IP stayed with A through the stop: ssh reaches the second boot (same host key).
        const again = await waitFor(`ssh debian@${eip} after the start`, () => sshA('cat /var/lib/nitride-marker'), 120_000, 2_000);
        log(`ssh debian@${eip} after the stop and start: marker ${again}`);
        assert.equal(again, 'from-b');

        // ---- 5. stop A, CreateImage, guest C from the new image prints the marker -------------
        await ec2.send(new StopInstancesCommand({ InstanceIds: [a] }));
        await waitState(a, 'stopped', 300_000);
        await ec2.send(new DetachVolumeCommand({ VolumeId: vol }));
        await waitFor(`${vol} to be detached`, async () => ((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes?.[0]?.State === 'available' ? true : undefined), 120_000);
        const tImage = Date.now();
        const made = (await ec2.send(new CreateImageCommand({ InstanceId: a, Name: 'debian-12-from-a' }))).ImageId!;
        await waitFor(`${made} to be available`, async () => ((await ec2.send(new DescribeImagesCommand({ ImageIds: [made] }))).Images?.[0]?.State === 'available' ? true : undefined), 300_000);
        timings.CreateImage = secs(Date.now() - tImage);
        const madeImg = (await ec2.send(new DescribeImagesCommand({ ImageIds: [made] }))).Images![0]!;
        assert.equal(madeImg.RootDeviceType, 'ebs');
        assert.deepEqual(madeImg.BlockDeviceMappings?.map((m) => m.DeviceName), ['/dev/xvda'], 'only the root volume is in the image');
        const tC = Date.now();
        const c = await run(IP_C, userDataC, made);
        const markerC = await waitConsole(c, 'the marker from the new image', /NITRIDE-MARKER:(\S*)/, BOOT_MS);
        timings['C RunInstances→bootcmd marker'] = secs(Date.now() - tC);
        assert.equal(markerC[1], 'from-b', 'the file written over ssh is in the image made from A');
        const rootC = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [c] }] }))).Volumes!.find((v) => v.Attachments?.[0]?.Device === '/dev/xvda');
        assert.equal(rootC?.SnapshotId, madeImg.BlockDeviceMappings![0]!.Ebs!.SnapshotId);
        log(`C ${c} from ${made}: NITRIDE-MARKER:${markerC[1]} ${timings['C RunInstances→bootcmd marker']} after RunInstances`);
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [c, a] }));
        await waitState(c, 'terminated', 180_000);
        await waitState(a, 'terminated', 180_000);
        await ec2.send(new DeleteVolumeCommand({ VolumeId: vol }));
        volumes.length = 0;
        await waitFor('no QEMU left under the home', () => qemuPids(home).size === 0, 60_000);
      } catch (e) {
        await tails();
        throw e;
      } finally {
        log(`timings: ${JSON.stringify(timings)}`);
        if (launched.length > 0) await ec2.send(new TerminateInstancesCommand({ InstanceIds: launched })).catch(() => undefined);
        for (const v of volumes) await ec2.send(new DeleteVolumeCommand({ VolumeId: v })).catch(() => undefined);
        ec2.destroy();
      }
    });
  } finally {
    // After the region (and its card) stopped: the namespace, with the TAP device in it.
    net?.close();
    spawnSync('/usr/sbin/ip', ['link', 'del', iface], { stdio: 'ignore' });
    await rm(sshDir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  log(`total ${secs(Date.now() - t0)}`);
});

