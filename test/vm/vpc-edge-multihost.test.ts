// Issue 13 item 3, "an Elastic IP follows its instance to whatever host runs it", with a real
// guest: a region with two hosts (two real controllers on this machine), each with its public
// side on a TAP device of its own; the test puts both devices on one bridge in a namespace it
// creates (the hosts' shared uplink, 198.51.100.1/24). A busybox guest serves its instance id at
// its Elastic IP; it is stopped, a filler instance takes its host (the region places on the host
// with the most free memory), and started again on the other host: the Elastic IP answers from
// there. SDK v3 against the region; everything is stopped and removed in finally.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import type { Region } from '../../src/region/region.js';
import { EdgeNamespace, IP_TOOL } from '../../src/vpc/testing/edge-netns.js';
import { BUILTIN_AMI, closeHostsRig, ensureGuestImage, openLocalRegion, waitFor } from '../region-fixtures.js';

const SCRIPT = `
md() { printf 'GET /latest/meta-data/%s HTTP/1.0\\r\\n\\r\\n' "$1" | timeout 5 nc -w 3 169.254.169.254 80 | tail -n 1; }
mkdir -p /run/www
echo "instance $(md instance-id)" >/run/www/index.html
httpd -p 80 -h /run/www && echo "vpctest: serving"`;

test('vm vpc edge on a two-host region: an Elastic IP follows its instance to the other host', { timeout: 900_000 }, async () => {
  await ensureGuestImage();
  const regionHome = await mkdtemp(join(tmpdir(), 'nitride-edge-mh-region-'));
  const hostHomes = [await mkdtemp(join(tmpdir(), 'nitride-edge-mh-h1-')), await mkdtemp(join(tmpdir(), 'nitride-edge-mh-h2-'))];
  const ifaces = [EdgeNamespace.deviceName(), EdgeNamespace.deviceName()];
  const ctls: ControllerProcess[] = [];
  let region: Region | undefined;
  let net: EdgeNamespace | undefined;
  let failed = true;
  const t0 = Date.now();
  const mark = (what: string): void => void process.stderr.write(`[vm] edge-multihost +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`);
  try {
    net = await EdgeNamespace.bridged();
    const ns = net;
    region = await openLocalRegion(regionHome);
    const ifaceOf = new Map<string, string>();
    for (const [i, h] of hostHomes.entries()) {
      const c = await startController(h, { env: { NITRIDE_PUBLIC_IFACE: ifaces[i], NITRIDE_PUBLIC_CIDR: '198.51.100.0/24', NITRIDE_PUBLIC_GATEWAY: ns.hostIp } });
      ctls.push(c);
      await region.fleet.enroll('127.0.0.1', c.runtime.port, readToken(h), { fingerprint: c.runtime.fingerprint });
      ifaceOf.set(c.runtime.hostId, ifaces[i]!);
    }
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey }, maxAttempts: 1 });
    const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
    const caller = { accountId: r.credentials.accountId, arn: `arn:aws:iam::${r.credentials.accountId}:root` };
    const hostOf = async (id: string): Promise<string> => r.instances.describe(caller, [id], [])[0]?.hostId ?? '';
    /** The host's public side, once its card has opened it, onto the namespace's bridge. */
    const taken = new Set<string>();
    const takePublicSide = async (hostId: string): Promise<void> => {
      const iface = ifaceOf.get(hostId)!;
      if (taken.has(iface)) return;
      await waitFor(`${hostId}'s public side ${iface}`, () => spawnSync(IP_TOOL, ['link', 'show', iface], { stdio: 'ignore' }).status === 0, 60_000, 200);
      ns.take(iface);
      taken.add(iface);
    };
    const page = async (ip: string): Promise<string | undefined> => {
      // busybox wget (a setup package), with the runner's time limit (its -T crashes in Debian's 1.35).
      const res = await ns.run(['busybox', 'wget', '-q', '-O', '-', `http://${ip}/`], { timeoutMs: 1_000 });
      return res.code === 0 ? res.stdout.trim() : undefined;
    };

    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    const rtb = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables![0]!.RouteTableId!;
    await ec2.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'web', Description: 'web' }))).GroupId!;
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.51.100.0/24' }] }] }));
    const launch = async (script?: string): Promise<string> =>
      (await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: subnet, SecurityGroupIds: [sg], ...(script !== undefined ? { UserData: Buffer.from(`#!/bin/sh\n${script}\n`).toString('base64') } : {}) }))).Instances![0]!.InstanceId!;

    // ---- A on its first host, with an Elastic IP ----------------------------------------
    const a = await launch(SCRIPT);
    const first = await hostOf(a);
    await takePublicSide(first);
    await waitFor(`A ${a} serving`, async () => ((await consoleOf(a)).includes('vpctest: serving') ? true : undefined), 400_000, 2_000);
    const eip = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).PublicIp!;
    await ec2.send(new AssociateAddressCommand({ PublicIp: eip, InstanceId: a }));
    await waitFor(`A's page at ${eip} from ${first}`, async () => ((await page(eip)) === `instance ${a}` ? true : undefined), 30_000, 200);
    mark(`A ${a} answers at ${eip} on ${first}`);

    // ---- A stopped; a filler takes its host; A starts on the other one ------------------------
    await ec2.send(new StopInstancesCommand({ InstanceIds: [a] }));
    await waitFor(`${a} stopped`, async () => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a] }))).Reservations![0]!.Instances![0]!.State?.Name === 'stopped' ? true : undefined), 120_000, 500);
    assert.equal(await page(eip), undefined, 'a stopped instance\'s Elastic IP answers nothing');
    const filler = await launch();
    assert.equal(await hostOf(filler), first, 'the filler is placed on the host A left (both were empty; the first wins the tie as A did)');
    await ec2.send(new StartInstancesCommand({ InstanceIds: [a] }));
    const second = await waitFor(`${a} placed`, async () => {
      const h = await hostOf(a);
      return h !== undefined && h !== '' ? h : undefined;
    }, 60_000, 500);
    assert.notEqual(second, first, 'A starts on the other host (more free memory)');
    await takePublicSide(second);
    // GetConsoleOutput shows the current boot: its serving line is the one from the second host.
    await waitFor(`A ${a} serving again`, async () => ((await consoleOf(a)).includes('vpctest: serving') ? true : undefined), 400_000, 2_000);
    // Only the host that runs A answers for its address: one MAC replies to ARP for the Elastic IP.
    const arp = await ns.run(['busybox', 'arping', '-c', '3', '-w', '4', '-I', ns.iface, eip]);
    const macs = new Set([...arp.stdout.matchAll(/\[([0-9a-f:]{17})\]/gi)].map((m) => m[1]!.toLowerCase()));
    process.stderr.write(`[vm] ARP for ${eip} in the namespace after the move: ${[...macs].join(', ')}\n${arp.stdout}\n`);
    assert.equal(macs.size, 1, `exactly one card answers for ${eip}: ${arp.stdout}${arp.stderr}`);
    const tMove = Date.now();
    await waitFor(`A's page at ${eip} from ${second}`, async () => ((await page(eip)) === `instance ${a}` ? true : undefined), 120_000, 500);
    mark(`A answers at ${eip} from ${second}, ${Date.now() - tMove} ms after the ARP check`);
    const addr = (await ec2.send(new DescribeAddressesCommand({ PublicIps: [eip] }))).Addresses![0]!;
    assert.equal(addr.InstanceId, a, 'the Elastic IP stayed with A through the stop and start');
    process.stderr.write(`[vm] neighbour of ${eip} in the namespace: ${(await ns.run([IP_TOOL, 'neigh', 'show', eip])).stdout.trim()}\n`);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a, filler] }));
    failed = false;
  } finally {
    await closeHostsRig({ region, ctls, hostHomes, regionHome, failed });
    // After the cards' exit: the namespace with the devices it took, and any it never took.
    net?.close();
    for (const i of ifaces) spawnSync(IP_TOOL, ['link', 'del', i], { stdio: 'ignore' });
  }
});
