// Issue 5 end to end through the region: the real `nitride start` (region + controller +
// hypervisor + VPC card), driven with @aws-sdk/client-ec2 v3. The region creates the VPCs,
// subnets, groups and ENIs, pushes each ENI to the card before instance.start, and the
// hypervisor attaches the guest's virtio-net to the card's socket. User-data scripts do the
// guest side; their console lines ("vpctest: …", read with GetConsoleOutput) are the results.
//   X  vpc-2 10.0.1.20/24  group open to all   (another VPC, same addresses: no path)
//   A  vpc-1 10.0.1.10/24  web, HttpTokens=required, hop limit 1
//   B  vpc-1 10.0.2.10/24  web (another subnet: routed by the card)
// Three TCG boots, sequential-ish; everything is killed in finally.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { vpcSocketDir } from '../../src/controller/cards/vpc.js';
import { MARKERS } from '../../src/image/markers.js';
import { BUILTIN_AMI, cleanupHome, ensureGuestImage, regionControllerClient, startRegion, waitFor, type RegionProcess } from '../region-fixtures.js';

const userData = (s: string): Uint8Array => Buffer.from(`#!/bin/sh\n${s}\n`);

const X_SCRIPT = `
ping -c 2 -W 2 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x gateway ok" || echo "vpctest: x gateway failed"
k=$(printf 'GET /latest/meta-data/public-keys/ HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80 | tail -n 1)
echo "vpctest: x public-keys $k"
k=$(printf 'GET /latest/meta-data/public-keys/0/openssh-key HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80 | tail -n 1)
echo "vpctest: x openssh-key $k"
ip addr add 10.0.1.99/32 dev eth0
ping -c 2 -W 1 -I 10.0.1.99 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x forged-ip answered" || echo "vpctest: x forged-ip dropped"
ip link set eth0 address 02:66:66:66:66:66
ping -c 2 -W 1 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x forged-mac answered" || echo "vpctest: x forged-mac dropped"
echo "vpctest: x done"`;

// A: IMDSv1 must be refused (HttpTokens=required); IMDSv2 with the token works (init already
// fetched user-data that way); then it listens on 7000 (allowed from the group) and 8000 (not yet).
const A_SCRIPT = `
s=$(printf 'GET /latest/meta-data/instance-id HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80 | head -n 1 | cut -d ' ' -f 2)
echo "vpctest: a imdsv1 status $s"
ping -c 2 -W 1 10.0.1.20 >/dev/null 2>&1 && echo "vpctest: a reached x" || echo "vpctest: a cannot reach x"
printf '#!/bin/sh\\ncat >/run/r7000\\n' >/run/recv7000; printf '#!/bin/sh\\ncat >/run/r8000\\n' >/run/recv8000; chmod +x /run/recv7000 /run/recv8000
(nc -l -p 7000 -e /run/recv7000; echo "vpctest: a got7000 $(wc -c </run/r7000) $(md5sum </run/r7000 | cut -c1-32)") &
(while :; do nc -l -p 8000 -e /run/recv8000 && echo "vpctest: a got8000 $(cat /run/r8000)"; done) &
echo "vpctest: a listening"`;

// B also asks the VPC resolver DHCP gave it (resolv.conf): A's private name, its own, X's (another VPC).
const B_SCRIPT = `
echo "vpctest: b resolv $(grep -m 1 nameserver /etc/resolv.conf)"
nslookup ip-10-0-1-10.local-1.compute.internal >/run/ns-a.txt 2>&1; echo "vpctest: b ns-a $(grep -o 'Address: 10[.0-9]*' /run/ns-a.txt | tr '\\n' ' ')"
nslookup 10.0.2.10 >/run/ns-ptr.txt 2>&1; echo "vpctest: b ns-ptr $(grep -o 'name = [a-z0-9.-]*' /run/ns-ptr.txt)"
nslookup ip-10-0-1-20.local-1.compute.internal 169.254.169.253 >/run/ns-x.txt 2>&1; echo "vpctest: b ns-x $(grep -o -m 1 -e NXDOMAIN -e 'Address: 10[.0-9]*' /run/ns-x.txt)"
ping -c 5 -W 2 10.0.1.10 >/run/ping.txt 2>&1 && echo "vpctest: b ping a ok $(grep -o 'min/avg/max = [0-9./]*' /run/ping.txt)" || echo "vpctest: b ping a failed"
ping -c 2 -W 1 10.0.1.20 >/dev/null 2>&1 && echo "vpctest: b reached x" || echo "vpctest: b cannot reach x"
dd if=/dev/urandom of=/run/data bs=1024 count=2048 2>/dev/null
echo "vpctest: b sending $(md5sum </run/data | cut -c1-32)"
time -o /run/time.txt -p timeout 120 nc -w 5 10.0.1.10 7000 </run/data; rc=$?
echo "vpctest: b nc7000 rc=$rc seconds=$(sed -n 's/^real //p' /run/time.txt)"
(i=0; while [ $i -lt 90 ]; do i=$((i+1)); echo "try$i" | timeout 4 nc -w 2 10.0.1.10 8000 >/dev/null 2>&1 && { echo "vpctest: b 8000 connected try$i"; break; }; sleep 1; done) &
echo "vpctest: b 8000 loop started"`;

test('vm vpc through the region: VPC API → card → guests (DHCP, IMDSv2, user-data, ping/nc across subnets, groups, isolation, anti-spoofing)', { timeout: 1_200_000 }, async () => {
  await ensureGuestImage();
  let region: RegionProcess | undefined;
  let failed = true;
  try {
    region = await startRegion();
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: r.credentials, maxAttempts: 1 });
    const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
    const waitLine = async (id: string, re: RegExp, ms: number): Promise<string> =>
      waitFor(`${re} on ${id}'s console`, async () => re.exec(await consoleOf(id))?.[0], ms, 2_000);

    const v1 = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const v2 = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const s1a = (await ec2.send(new CreateSubnetCommand({ VpcId: v1, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const s1b = (await ec2.send(new CreateSubnetCommand({ VpcId: v1, CidrBlock: '10.0.2.0/24' }))).Subnet!.SubnetId!;
    const s2 = (await ec2.send(new CreateSubnetCommand({ VpcId: v2, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const web = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: v1, GroupName: 'web', Description: 'web' }))).GroupId!;
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }, { IpProtocol: 'tcp', FromPort: 7000, ToPort: 7000, UserIdGroupPairs: [{ GroupId: web }] }] }));
    const open = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: v2, GroupName: 'open', Description: 'everything' }))).GroupId!;
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: open, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));

    const launch = async (subnet: string, group: string, ip: string, script: string, tokens: 'optional' | 'required', keyName?: string): Promise<string> => {
      const t0 = Date.now();
      const res = await ec2.send(
        new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: subnet, SecurityGroupIds: [group], PrivateIpAddress: ip, UserData: Buffer.from(userData(script)).toString('base64'), MetadataOptions: { HttpTokens: tokens, HttpPutResponseHopLimit: 1 }, ...(keyName !== undefined ? { KeyName: keyName } : {}) }),
      );
      const id = res.Instances![0]!.InstanceId!;
      await waitLine(id, new RegExp(MARKERS.ready), 240_000);
      process.stderr.write(`[vm] ${id} (${ip}) ready in ${Date.now() - t0} ms\n`);
      return id;
    };

    // X: another VPC with the same addresses; anti-spoofing; its key pair's public key from IMDS.
    await ec2.send(new CreateKeyPairCommand({ KeyName: 'vm-key', KeyType: 'ed25519' }));
    const publicKey = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['vm-key'], IncludePublicKey: true }))).KeyPairs![0]!.PublicKey!;
    const x = await launch(s2, open, '10.0.1.20', X_SCRIPT, 'optional', 'vm-key');
    await waitLine(x, /vpctest: x done/, 60_000);
    const xc = await consoleOf(x);
    assert.ok(xc.includes(`${MARKERS.network} up 10.0.1.20`), xc);
    assert.ok(xc.includes(`${MARKERS.imds} token ok`) && xc.includes(`${MARKERS.userData} running`), 'IMDSv2 token and user-data\n' + xc);
    assert.ok(xc.includes('vpctest: x gateway ok'), xc);
    assert.ok(xc.includes('vpctest: x forged-ip dropped') && xc.includes('vpctest: x forged-mac dropped'), xc);
    assert.ok(xc.includes('vpctest: x public-keys 0=vm-key'), `IMDS public-keys/ lists the key pair\n${xc}`);
    assert.ok(xc.includes(`vpctest: x openssh-key ${publicKey}`), `IMDS public-keys/0/openssh-key is the key pair's public key\n${xc}`);

    const a = await launch(s1a, web, '10.0.1.10', A_SCRIPT, 'required');
    await waitLine(a, /vpctest: a listening/, 60_000);
    const ac = await consoleOf(a);
    assert.ok(ac.includes(`${MARKERS.network} up 10.0.1.10`), ac);
    assert.ok(ac.includes(`${MARKERS.imds} token ok`), 'IMDSv2 works with HttpTokens=required\n' + ac);
    assert.ok(ac.includes('vpctest: a imdsv1 status 401'), `HttpTokens=required refuses IMDSv1\n${ac}`);
    assert.ok(ac.includes('vpctest: a cannot reach x'), ac);

    const b = await launch(s1b, web, '10.0.2.10', B_SCRIPT, 'optional');
    const ping = await waitLine(b, /vpctest: b ping a (ok|failed).*/, 60_000);
    assert.match(ping, /ok/);
    process.stderr.write(`[vm] guest-to-guest ping across subnets through the region (TCG): ${ping}\n`);
    const sum = await waitLine(b, /vpctest: b sending [0-9a-f]{32}/, 60_000);
    const nc = await waitLine(b, /vpctest: b nc7000 rc=\d+ seconds=[\d.]+/, 180_000);
    const secs = Number(/seconds=([\d.]+)/.exec(nc)?.[1]);
    process.stderr.write(`[vm] 2 MiB with busybox nc across subnets (TCG): ${nc} (${(16 / Math.max(secs, 0.01)).toFixed(1)} Mbit/s)\n`);
    const got = await waitLine(a, /vpctest: a got7000 \d+ [0-9a-f]{32}/, 60_000);
    assert.equal(got, `vpctest: a got7000 2097152 ${sum.slice(-32)}`);
    assert.ok((await consoleOf(b)).includes('vpctest: b cannot reach x'));
    // The VPC resolver (src/vpc/dns): handed out by DHCP, answers the VPC's names, none of another VPC's.
    const bc = await consoleOf(b);
    assert.ok(bc.includes('vpctest: b resolv nameserver 10.0.0.2'), `DHCP gives the VPC's .2 as the resolver\n${bc}`);
    assert.match(bc, /vpctest: b ns-a Address: 10\.0\.1\.10 /, `A's private name resolves from B\n${bc}`);
    assert.ok(bc.includes('vpctest: b ns-ptr name = ip-10-0-2-10.local-1.compute.internal'), `the PTR of B's address\n${bc}`);
    assert.ok(bc.includes('vpctest: b ns-x NXDOMAIN'), `X's name (another VPC) is not known in B's VPC\n${bc}`);

    // Port 8000 is closed until AuthorizeSecurityGroupIngress opens it: B's connection attempts
    // are counted as ingress drops on A's ENI by the card, and none reaches A.
    const aEni = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a] }))).Reservations![0]!.Instances![0]!.NetworkInterfaces![0]!.NetworkInterfaceId!;
    const ctl = regionControllerClient(r.home);
    try {
      const ingressDrops = async (): Promise<number> => ((await ctl.send('eni.stats', { eniId: aEni })) as { counters: { droppedSecurityGroupIngress: number } }).counters.droppedSecurityGroupIngress;
      const dropsBefore = await ingressDrops();
      await waitLine(b, /vpctest: b 8000 loop started/, 30_000);
      // Three refused SYNs (B's nc retries every second) show the group blocking port 8000.
      const drops = await waitFor('the card to drop B\'s connection attempts to A:8000', async () => {
        const n = await ingressDrops();
        return n >= dropsBefore + 3 ? n : undefined;
      }, 60_000, 1_000);
      process.stderr.write(`[vm] A's ENI dropped ${String(drops - dropsBefore)} frames by its security groups while port 8000 was closed\n`);
      assert.ok(!(await consoleOf(a)).includes('got8000'), 'port 8000 must be blocked');
      assert.ok(!(await consoleOf(b)).includes('8000 connected'), 'B never connected to port 8000');
    } finally {
      ctl.close();
    }
    const t0 = Date.now();
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: [{ CidrIp: '10.0.2.0/24' }] }] }));
    const opened = await waitLine(a, /vpctest: a got8000 try\d+/, 60_000);
    process.stderr.write(`[vm] port 8000 opened by AuthorizeSecurityGroupIngress: ${opened} after ${Date.now() - t0} ms\n`);

    const desc = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a] }))).Reservations![0]!.Instances![0]!;
    assert.equal(desc.VpcId, v1);
    assert.equal(desc.NetworkInterfaces?.[0]?.PrivateIpAddress, '10.0.1.10');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [x, a, b] }));
    failed = false;
  } finally {
    const home = region?.home;
    if (home) {
      await cleanupHome(home, [region], failed);
      await rm(join(vpcSocketDir(home), '..'), { recursive: true, force: true });
    }
  }
});
