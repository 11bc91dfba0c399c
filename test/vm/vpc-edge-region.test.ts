// Issue 13 item 5 through the region, as a user drives it: the real `nitride start` with its
// public side on a TAP device (NITRIDE_PUBLIC_IFACE) that this test moves into a network
// namespace of its own, where busybox wget and ping play the internet at 198.51.100.1/24. The
// VPC, internet gateway, route, groups and addresses are made with @aws-sdk/client-ec2 and the
// AWS CLIs (v2 allocates and associates the Elastic IP, v1 disassociates it). Two busybox
// guests, booted together (TCG):
//   A  10.0.1.10  a public IP from its subnet's MapPublicIpOnLaunch; pings the namespace, then
//                 sends with forged sources (another private address, its own public address)
//   B  10.0.1.11  AssociatePublicIpAddress=false: no path out, none in; later the Elastic IP
// Both serve busybox httpd: / names the instance (from IMDS), /cgi-bin/ip prints REMOTE_ADDR.
// Nothing leaves the namespace; everything is stopped and removed in finally.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteRouteCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  ModifyVpcAttributeCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { vpcSocketDir } from '../../src/controller/cards/vpc.js';
import { MARKERS } from '../../src/image/markers.js';
import { publicDnsName } from '../../src/region/ec2/edge/pool.js';
import type { EniCounters } from '../../src/vpc/switch.js';
import { EdgeNamespace, IP_TOOL } from '../../src/vpc/testing/edge-netns.js';
import { aws, awsJson, BUILTIN_AMI, cleanupHome, ensureGuestImage, regionControllerClient, startRegion, waitFor, type RegionProcess } from '../region-fixtures.js';

const IP_A = '10.0.1.10';
const IP_B = '10.0.1.11';
const OUTSIDE = '198.51.100.1';

// The web server both guests run: / says which instance it is, /cgi-bin/ip whom it sees.
const WEB = `
md() { printf 'GET /latest/meta-data/%s HTTP/1.0\\r\\n\\r\\n' "$1" | timeout 5 nc -w 3 169.254.169.254 80 | tail -n 1; }
mkdir -p /run/www/cgi-bin
echo "instance $(md instance-id)" >/run/www/index.html
printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "remote=$REMOTE_ADDR"\\n' >/run/www/cgi-bin/ip
chmod +x /run/www/cgi-bin/ip
httpd -p 80 -h /run/www && echo "vpctest: $N serving"
ping -c 2 -W 3 ${OUTSIDE} >/dev/null 2>&1 && echo "vpctest: $N reached outside" || echo "vpctest: $N cannot reach outside"`;

const A_SCRIPT = `N=a
${WEB}
pub=$(md public-ipv4)
echo "vpctest: a public-ipv4 $pub"
ip addr add 10.0.1.99/32 dev eth0
ping -c 2 -W 1 -I 10.0.1.99 ${OUTSIDE} >/dev/null 2>&1 && echo "vpctest: a forged-private answered" || echo "vpctest: a forged-private dropped"
ip addr del 10.0.1.99/32 dev eth0
ip addr add $pub/32 dev eth0
ping -c 2 -W 1 -I $pub ${OUTSIDE} >/dev/null 2>&1 && echo "vpctest: a forged-public answered" || echo "vpctest: a forged-public dropped"
ip addr del $pub/32 dev eth0
echo "vpctest: a done"`;

const B_SCRIPT = `N=b
${WEB}
echo "vpctest: b done"`;

const userData = (s: string): string => Buffer.from(`#!/bin/sh\n${s}\n`).toString('base64');

test('vm vpc edge through the region: public and Elastic IPs reached from the test\'s namespace, groups and routes cut and restore the path, re-association, ping both ways, client address, anti-spoofing, no public address no path', { timeout: 900_000 }, async () => {
  await ensureGuestImage();
  const iface = EdgeNamespace.deviceName();
  let region: RegionProcess | undefined;
  let net: EdgeNamespace | undefined;
  let failed = true;
  const t0 = Date.now();
  const mark = (what: string): void => void process.stderr.write(`[vm] edge-region +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`);
  try {
    // The controller opens the public side on `iface` (no host address: the namespace has it).
    region = await startRegion({ env: { NITRIDE_PUBLIC_IFACE: iface, NITRIDE_PUBLIC_CIDR: '198.51.100.0/24', NITRIDE_PUBLIC_GATEWAY: OUTSIDE } });
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: r.credentials, maxAttempts: 1 });
    const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
    const waitLine = async (id: string, re: RegExp, ms: number): Promise<string> => waitFor(`${re} on ${id}'s console`, async () => re.exec(await consoleOf(id))?.[0], ms, 2_000);
    const describe = async (id: string): Promise<Instance> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;

    // ---- the VPC with its internet gateway and a 0.0.0.0/0 route in the main route table ----
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpc, EnableDnsHostnames: { Value: true } }));
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const mapped = aws('v2', r, ['ec2', 'modify-subnet-attribute', '--subnet-id', subnet, '--map-public-ip-on-launch']);
    assert.equal(mapped.status, 0, mapped.stderr);
    const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    const rtb = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'association.main', Values: ['true'] }] }))).RouteTables![0]!.RouteTableId!;
    await ec2.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'web', Description: 'web from the outside' }))).GroupId!;
    const HTTP: IpPermission = { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.51.100.0/24' }] };
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '198.51.100.0/24' }] }] }));

    // ---- two guests booted together: A with the subnet's public IP, B without one -------------
    const a = (await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: subnet, SecurityGroupIds: [sg], PrivateIpAddress: IP_A, UserData: userData(A_SCRIPT) }))).Instances![0]!.InstanceId!;
    const b = (
      await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: userData(B_SCRIPT), NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet, Groups: [sg], PrivateIpAddress: IP_B, AssociatePublicIpAddress: false }] }))
    ).Instances![0]!.InstanceId!;
    // The card opened the public side by now (it started for the ENIs): into the namespace with it.
    await waitFor(`the public side ${iface} on the host`, () => spawnSync(IP_TOOL, ['link', 'show', iface], { stdio: 'ignore' }).status === 0, 60_000, 200);
    net = await EdgeNamespace.adopt(iface);
    const ns = net;
    // busybox wget (busybox-static is a setup package; its -T crashes in Debian's 1.35, so the time limit is the runner's).
    const wget = (url: string, ms = 5_000): Promise<{ code: number; stdout: string; stderr: string }> => ns.run(['busybox', 'wget', '-q', '-O', '-', url], { timeoutMs: ms });
    const page = async (ip: string): Promise<string | undefined> => {
      const res = await wget(`http://${ip}/`, 1_000);
      return res.code === 0 ? res.stdout.trim() : undefined;
    };
    mark(`A ${a} and B ${b} launched; ${iface} in ${ns.ns}`);

    const dA = await describe(a);
    const pubA = dA.PublicIpAddress ?? '';
    assert.match(pubA, /^198\.51\.100\.\d+$/, 'A has a public IP from the pool (the subnet maps one at launch)');
    assert.equal(dA.PublicDnsName, publicDnsName(pubA, 'local-1'));
    assert.equal((await describe(b)).PublicIpAddress, undefined, 'B was launched with AssociatePublicIpAddress=false');

    await waitLine(a, /vpctest: a done/, 400_000);
    await waitLine(b, /vpctest: b done/, 400_000);
    mark('both guests ran their user-data');
    const ac = await consoleOf(a);
    const bc = await consoleOf(b);
    assert.ok(ac.includes(`${MARKERS.network} up ${IP_A}`) && bc.includes(`${MARKERS.network} up ${IP_B}`), ac + bc);
    assert.ok(ac.includes(`vpctest: a public-ipv4 ${pubA}`), `IMDS public-ipv4 inside A is its public IP\n${ac}`);
    assert.ok(ac.includes('vpctest: a reached outside'), `A pings the namespace through the edge\n${ac}`);
    assert.ok(bc.includes('vpctest: b cannot reach outside'), `B has no public address: no path out\n${bc}`);
    assert.ok(ac.includes('vpctest: a forged-private dropped') && ac.includes('vpctest: a forged-public dropped'), ac);

    const ctl = regionControllerClient(r.home);
    const stats = async (id: string): Promise<EniCounters> => {
      const eniId = (await describe(id)).NetworkInterfaces![0]!.NetworkInterfaceId!;
      return ((await ctl.send('eni.stats', { eniId })) as { counters: EniCounters }).counters;
    };
    try {
      const sa = await stats(a);
      const sb = await stats(b);
      process.stderr.write(`[vm] A's ENI counters ${JSON.stringify(sa)}\n[vm] B's ENI counters ${JSON.stringify(sb)}\n`);
      assert.ok(sa.droppedSpoofedIp >= 4, `the card dropped A's four forged echo requests (${sa.droppedSpoofedIp})`);
      assert.ok(sb.edgeDroppedNoPublicIp >= 2, `the card dropped B's pings out for want of a public address (${sb.edgeDroppedNoPublicIp})`);
      assert.equal(sb.edgeInFrames, 0, 'nothing from the outside reached B');

      // ---- ping both ways; tcp/80 closed until the group allows it ------------------------------
      const ping = await ns.run(['busybox', 'ping', '-c', '2', '-W', '5', pubA]);
      assert.equal(ping.code, 0, `ping ${pubA} from the namespace: ${ping.stdout}${ping.stderr}`);
      assert.equal(await page(pubA), undefined, 'tcp/80 is not allowed yet');
      // B's private address, routed at the card through A's public one: the edge maps public addresses only.
      assert.equal((await ns.run([IP_TOOL, 'route', 'add', '10.0.0.0/16', 'via', pubA])).code, 0);
      assert.notEqual((await ns.run(['busybox', 'ping', '-c', '2', '-W', '2', IP_B])).code, 0, 'B\'s private address is not reachable from outside');
      assert.equal((await stats(b)).edgeInFrames, 0, 'nothing from the outside reached B');

      // ---- an Elastic IP (AWS CLI v2) on B: reachable once tcp/80 is allowed -----------------
      const alloc = awsJson<{ AllocationId: string; PublicIp: string }>('v2', r, ['ec2', 'allocate-address', '--domain', 'vpc']);
      const eip = alloc.PublicIp;
      assert.equal(await page(eip), undefined, 'an Elastic IP with no association answers nothing');
      const assoc = awsJson<{ AssociationId: string }>('v2', r, ['ec2', 'associate-address', '--allocation-id', alloc.AllocationId, '--instance-id', b]);
      assert.match(assoc.AssociationId, /^eipassoc-/);
      assert.equal((await describe(b)).PublicIpAddress, eip);
      let t = Date.now();
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [HTTP] }));
      await waitFor(`B's page at ${eip}`, async () => ((await page(eip)) === `instance ${b}` ? true : undefined), 30_000, 200);
      mark(`B answers at its Elastic IP ${eip} ${Date.now() - t} ms after AuthorizeSecurityGroupIngress`);
      assert.equal(await page(pubA), `instance ${a}`, 'A answers at its public IP');
      const who = await wget(`http://${eip}/cgi-bin/ip`);
      // busybox httpd listens on a dual-stack socket: an IPv4 peer shows as [::ffff:a.b.c.d].
      assert.equal(who.stdout.trim().replace(/^remote=\[::ffff:(.*)\]$/, 'remote=$1'), `remote=${OUTSIDE}`, `B sees the client's own address: ${who.stdout}${who.stderr}`);

      // ---- the group's rule revoked, then back ------------------------------------------------
      const ingressBefore = (await stats(b)).droppedSecurityGroupIngress;
      t = Date.now();
      await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [HTTP] }));
      // Each probe is a new connection given 1 s (a hang bound, not a performance threshold).
      let answered = 0;
      await waitFor(`${eip} to stop answering after the revoke`, async () => ((await page(eip)) === undefined ? true : void answered++), 30_000, 100);
      mark(`a connection to ${eip} failed ${Date.now() - t} ms after RevokeSecurityGroupIngress returned (${answered} answered before)`);
      const ingressDrops = (await stats(b)).droppedSecurityGroupIngress;
      assert.ok(ingressDrops > ingressBefore, `the card dropped the SYNs by B's groups (${ingressBefore} → ${ingressDrops})`);
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [HTTP] }));
      await waitFor(`${eip} to answer again`, async () => ((await page(eip)) === `instance ${b}` ? true : undefined), 30_000, 200);

      // ---- the route to the internet gateway deleted, then back -------------------------------
      const noRouteBefore = (await stats(b)).edgeDroppedNoInternetRoute;
      t = Date.now();
      await ec2.send(new DeleteRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0' }));
      answered = 0;
      await waitFor(`${eip} to stop answering without the route`, async () => ((await page(eip)) === undefined ? true : void answered++), 30_000, 100);
      mark(`a connection to ${eip} failed ${Date.now() - t} ms after DeleteRoute returned (${answered} answered before)`);
      assert.equal(await page(pubA), undefined, 'A is cut off too (same route table)');
      const noRoute = (await stats(b)).edgeDroppedNoInternetRoute;
      assert.ok(noRoute > noRouteBefore, `the card counted the frames dropped for want of a route (${noRouteBefore} → ${noRoute})`);
      await ec2.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
      await waitFor(`${eip} to answer again after CreateRoute`, async () => ((await page(eip)) === `instance ${b}` ? true : undefined), 30_000, 200);
      assert.equal(await page(pubA), `instance ${a}`);

      // ---- disassociate (AWS CLI v1) and re-associate with A: the next connection reaches A ------
      const dis = aws('v1', r, ['ec2', 'disassociate-address', '--association-id', assoc.AssociationId]);
      assert.equal(dis.status, 0, dis.stderr);
      assert.equal((await describe(b)).PublicIpAddress, undefined, 'B has no public address again');
      await waitFor(`${eip} to stop answering once disassociated`, async () => ((await page(eip)) === undefined ? true : undefined), 30_000, 100);
      awsJson('v2', r, ['ec2', 'associate-address', '--allocation-id', alloc.AllocationId, '--instance-id', a]);
      const dA2 = await describe(a);
      assert.equal(dA2.PublicIpAddress, eip, 'the Elastic IP replaced A\'s public IP');
      assert.equal(dA2.PublicDnsName, publicDnsName(eip, 'local-1'));
      await waitFor(`A's page at ${eip}`, async () => ((await page(eip)) === `instance ${a}` ? true : undefined), 30_000, 200);
      mark(`the Elastic IP ${eip} moved from B to A`);
      const pingEip = await ns.run(['busybox', 'ping', '-c', '2', '-W', '5', eip]);
      assert.equal(pingEip.code, 0, `ping ${eip} (now A): ${pingEip.stdout}${pingEip.stderr}`);
      assert.equal(await page(pubA), undefined, `A's former public IP ${pubA} answers no more`);

      // ---- A stopped and started: the Elastic IP stays with it and answers again -----------------
      await ec2.send(new StopInstancesCommand({ InstanceIds: [a] }));
      await waitFor(`${a} stopped`, async () => ((await describe(a)).State?.Name === 'stopped' ? true : undefined), 120_000, 500);
      assert.equal(await page(eip), undefined, 'a stopped instance answers nothing');
      await ec2.send(new StartInstancesCommand({ InstanceIds: [a] }));
      t = Date.now();
      await waitFor(`A's page at ${eip} after its start`, async () => ((await page(eip)) === `instance ${a}` ? true : undefined), 400_000, 1_000);
      mark(`A answers at ${eip} ${Date.now() - t} ms after StartInstances`);
      assert.equal((await describe(a)).PublicIpAddress, eip);
    } finally {
      ctl.close();
    }
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a, b] }));
    failed = false;
  } finally {
    const home = region?.home;
    if (home) {
      await cleanupHome(home, [region], failed);
      await rm(join(vpcSocketDir(home), '..'), { recursive: true, force: true });
    }
    // After the card's exit: the namespace, and with it the TAP device (or the device itself if it never moved).
    if (net) net.close();
    else spawnSync(IP_TOOL, ['link', 'del', iface], { stdio: 'ignore' });
  }
});
