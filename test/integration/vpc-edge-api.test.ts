// The VPC edge API (issue 13) through both AWS CLIs (v1 `aws`, v2 /usr/bin/aws) and
// @aws-sdk/client-ec2 v3, against a Region opened in this process whose only host is a phantom
// (instances stay pending, so they hold their public IPs): the default VPC's gateway and route,
// route tables, Elastic and public IPs, DNS attributes, MapPublicIpOnLaunch, and EC2's error
// codes for bad input, after each of which nothing has changed. What the region would hand the
// host's VPC card for an ENI (VpcHostSync.eniConfig, the body of eni.put) is checked after every
// change: publicIp, internetRoute and imds.publicHostname; and those configs, put through the
// controller's VPC card (a real card process) as eni.put, make the card's IMDS answer
// public-ipv4 / public-hostname, and stop answering once the address is gone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '@aws-sdk/client-ec2';
import { HostVpcCard } from '../../src/controller/cards/vpc.js';
import { createLogger } from '../../src/lib/log.js';
import type { Region } from '../../src/region/region.js';
import { macToBytes } from '../../src/vpc/protocol/addr.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import type { EniConfig } from '../../src/vpc/protocol/config.js';
import { BUILTIN_AMI, awsAsyncError, awsAsyncJson, openLocalRegion, phantomHost, sdkErrorCode, seedStore, waitFor, type CliName } from '../region-fixtures.js';

/** A pool of six addresses, so that exhausting it is part of the test. */
const POOL = '198.51.100.16-198.51.100.21';
const inPool = (ip: string | undefined): boolean => ip !== undefined && /^198\.51\.100\.(1[6-9]|2[01])$/.test(ip);

let home = '';
let region: Region | undefined;
let ec2: E.EC2Client;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-vpc-edge-'));
  const first = await openLocalRegion(home);
  await first.close();
  await seedStore(home, { hosts: [phantomHost(2048 + 16 * 512)] });
  region = await openLocalRegion(home, { publicPool: POOL });
  ec2 = new E.EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: region.credentials, maxAttempts: 1 });
});

after(async () => {
  try {
    ec2?.destroy();
    if (region) await region.close();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

const code = sdkErrorCode;

const cli = <T = Record<string, any>>(which: CliName, args: readonly string[]): Promise<T> => awsAsyncJson<T>(which, home, region!.endpoint, args);

const cliError = (which: CliName, args: readonly string[]): Promise<string> => awsAsyncError(which, home, region!.endpoint, args);

/** Everything the edge API shows, to compare before and after a refusal. */
async function snapshot(): Promise<string> {
  const [igws, tables, addrs, inst, subnets] = await Promise.all([
    ec2.send(new E.DescribeInternetGatewaysCommand({})),
    ec2.send(new E.DescribeRouteTablesCommand({})),
    ec2.send(new E.DescribeAddressesCommand({})),
    ec2.send(new E.DescribeInstancesCommand({})),
    ec2.send(new E.DescribeSubnetsCommand({})),
  ]);
  const ips = (inst.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.PublicIpAddress, i.PublicDnsName]);
  return JSON.stringify([igws.InternetGateways, tables.RouteTables, addrs.Addresses, ips, (subnets.Subnets ?? []).map((s) => [s.SubnetId, s.MapPublicIpOnLaunch])]);
}

/** Refused with `want`, and nothing the edge API shows has changed. */
async function refused(p: () => Promise<unknown>, want: string, label: string): Promise<void> {
  const before = await snapshot();
  assert.equal(await code(p()), want, label);
  assert.equal(await snapshot(), before, `${label}: nothing changed`);
}

/** The EniConfig the region sends to the instance's host in eni.put. */
function eniConfig(instanceId: string): EniConfig {
  const cfg = region!.vpcSync.configOf(instanceId);
  assert.ok(cfg, `${instanceId} has an ENI`);
  return cfg;
}

async function instance(id: string): Promise<E.Instance> {
  const r = await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [id] }));
  return r.Reservations![0]!.Instances![0]!;
}

const run = async (p: Partial<E.RunInstancesCommandInput>): Promise<string> => (await ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, ...p }))).Instances![0]!.InstanceId!;

let defaultVpc = '';
let defaultSubnet = '';
let defaultIgw = '';
let vpc = '';
let subnet = '';
let a = ''; // default subnet: a public IP by MapPublicIpOnLaunch
let b = ''; // custom subnet, AssociatePublicIpAddress
let c = ''; // custom subnet, no public IP

test('the default VPC has an attached internet gateway, a main route table with 0.0.0.0/0 → it, DNS on, and public IPs on launch', async () => {
  const vpcs = (await ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs!;
  defaultVpc = vpcs[0]!.VpcId!;
  const igws = (await ec2.send(new E.DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [defaultVpc] }] }))).InternetGateways!;
  assert.equal(igws.length, 1);
  defaultIgw = igws[0]!.InternetGatewayId!;
  assert.deepEqual(igws[0]!.Attachments, [{ VpcId: defaultVpc, State: 'available' }]);
  const tables = (await ec2.send(new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [defaultVpc] }] }))).RouteTables!;
  assert.equal(tables.length, 1);
  assert.equal(tables[0]!.Associations![0]!.Main, true);
  assert.deepEqual(
    tables[0]!.Routes!.map((r) => [r.DestinationCidrBlock, r.GatewayId, r.State]),
    [
      ['172.31.0.0/16', 'local', 'active'],
      ['0.0.0.0/0', defaultIgw, 'active'],
    ],
  );
  const s = (await ec2.send(new E.DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [defaultVpc] }] }))).Subnets![0]!;
  defaultSubnet = s.SubnetId!;
  assert.equal(s.MapPublicIpOnLaunch, true);
  for (const [Attribute, key] of [['enableDnsSupport', 'EnableDnsSupport'], ['enableDnsHostnames', 'EnableDnsHostnames']] as const) {
    const r = await ec2.send(new E.DescribeVpcAttributeCommand({ VpcId: defaultVpc, Attribute }));
    assert.equal(r[key]?.Value, true, Attribute);
  }
  // Both CLIs read the same.
  for (const which of ['v1', 'v2'] as const) {
    const out = await cli(which, ['ec2', 'describe-route-tables', '--filters', `Name=vpc-id,Values=${defaultVpc}`]);
    assert.equal(out['RouteTables'][0]['Routes'][1]['GatewayId'], defaultIgw, which);
    const attr = await cli(which, ['ec2', 'describe-vpc-attribute', '--vpc-id', defaultVpc, '--attribute', 'enableDnsHostnames']);
    assert.equal(attr['EnableDnsHostnames']['Value'], true, which);
  }
});

test('an instance in the default subnet gets a public IP and name from the pool; its ENI config carries them with internetRoute', async () => {
  a = await run({});
  const i = await waitFor('a public IP on the instance', async () => {
    const x = await instance(a);
    return x.PublicIpAddress ? x : undefined;
  }, 30_000, 100);
  assert.ok(inPool(i.PublicIpAddress), i.PublicIpAddress);
  assert.equal(i.PublicDnsName, `ec2-${i.PublicIpAddress!.replace(/\./g, '-')}.local-1.compute.amazonaws.com`);
  assert.deepEqual(i.NetworkInterfaces![0]!.Association, { PublicIp: i.PublicIpAddress, PublicDnsName: i.PublicDnsName, IpOwnerId: 'amazon' });
  const cfg = eniConfig(a);
  assert.equal(cfg.publicIp, i.PublicIpAddress);
  assert.equal(cfg.internetRoute, true);
  assert.equal(cfg.imds?.publicHostname, i.PublicDnsName);
  const eni = (await ec2.send(new E.DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [i.NetworkInterfaces![0]!.NetworkInterfaceId!] }))).NetworkInterfaces![0]!;
  assert.equal(eni.Association?.PublicIp, i.PublicIpAddress);
});

test('a new VPC has a main route table with its local route only, DNS hostnames off; AssociatePublicIpAddress on launch gives a public IP (both CLIs)', async () => {
  vpc = (await ec2.send(new E.CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
  subnet = (await ec2.send(new E.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.20.1.0/24' }))).Subnet!.SubnetId!;
  const t = (await ec2.send(new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'association.main', Values: ['true'] }] }))).RouteTables!;
  assert.equal(t.length, 1);
  assert.deepEqual(t[0]!.Routes!.map((r) => [r.DestinationCidrBlock, r.GatewayId]), [['10.20.0.0/16', 'local']]);
  assert.equal((await ec2.send(new E.DescribeVpcAttributeCommand({ VpcId: vpc, Attribute: 'enableDnsHostnames' }))).EnableDnsHostnames?.Value, false);
  assert.equal((await ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets![0]!.MapPublicIpOnLaunch, false);
  // The CLI moves --subnet-id into NetworkInterface.1 with --associate-public-ip-address.
  const out = await cli('v1', ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--instance-type', 't3.nano', '--subnet-id', subnet, '--associate-public-ip-address']);
  b = out['Instances'][0]['InstanceId'];
  const out2 = await cli('v2', ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--instance-type', 't3.nano', '--subnet-id', subnet, '--no-associate-public-ip-address']);
  c = out2['Instances'][0]['InstanceId'];
  const ib = await waitFor('a public IP on b', async () => {
    const x = await instance(b);
    return x.PublicIpAddress ? x : undefined;
  }, 30_000, 100);
  assert.ok(inPool(ib.PublicIpAddress));
  assert.equal(ib.PublicDnsName ?? '', '', 'no public DNS name while the VPC has DNS hostnames off');
  assert.equal(eniConfig(b).internetRoute, false, 'no gateway: no internet route');
  assert.equal(eniConfig(b).imds?.publicHostname, undefined);
  assert.equal((await instance(c)).PublicIpAddress, undefined);
  assert.equal(eniConfig(c).publicIp, undefined);
});

let igw = '';
let alloc = '';
let eip = '';

test('gateways and routes: attach, route, and each refusal with EC2 code and nothing changed', async () => {
  const created = await cli('v2', ['ec2', 'create-internet-gateway', '--tag-specifications', 'ResourceType=internet-gateway,Tags=[{Key=Name,Value=edge}]']);
  igw = created['InternetGateway']['InternetGatewayId'];
  assert.deepEqual(created['InternetGateway']['Tags'], [{ Key: 'Name', Value: 'edge' }]);
  const main = (await ec2.send(new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables![0]!.RouteTableId!;
  await refused(() => ec2.send(new E.CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw })), 'InvalidParameterValue', 'a route to a gateway not attached to the VPC');
  await refused(() => ec2.send(new E.CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: '0.0.0.0/0', GatewayId: defaultIgw })), 'InvalidParameterValue', "a route to another VPC's gateway");
  await refused(() => ec2.send(new E.CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0123456789abcdef0' })), 'InvalidGatewayID.NotFound', 'a route to no gateway');
  await refused(() => ec2.send(new E.AttachInternetGatewayCommand({ InternetGatewayId: defaultIgw, VpcId: vpc })), 'Resource.AlreadyAssociated', 'an attached gateway attached again');
  await cli('v1', ['ec2', 'attach-internet-gateway', '--internet-gateway-id', igw, '--vpc-id', vpc]);
  const second = (await ec2.send(new E.CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
  await refused(() => ec2.send(new E.AttachInternetGatewayCommand({ InternetGatewayId: second, VpcId: vpc })), 'Resource.AlreadyAssociated', 'a second gateway on one VPC');
  await refused(() => ec2.send(new E.DetachInternetGatewayCommand({ InternetGatewayId: second, VpcId: vpc })), 'Gateway.NotAttached', 'detaching a gateway that is not attached');
  await ec2.send(new E.DeleteInternetGatewayCommand({ InternetGatewayId: second }));
  await refused(() => ec2.send(new E.DeleteInternetGatewayCommand({ InternetGatewayId: second })), 'InvalidInternetGatewayID.NotFound', 'a deleted gateway');
  assert.equal(eniConfig(b).internetRoute, false, 'attached but no route yet');
  await cli('v2', ['ec2', 'create-route', '--route-table-id', main, '--destination-cidr-block', '0.0.0.0/0', '--gateway-id', igw]);
  assert.equal(eniConfig(b).internetRoute, true, 'route to the attached gateway');
  assert.equal(await cliError('v1', ['ec2', 'create-route', '--route-table-id', main, '--destination-cidr-block', '0.0.0.0/0', '--gateway-id', igw]), 'RouteAlreadyExists');
  await refused(() => ec2.send(new E.DeleteRouteCommand({ RouteTableId: main, DestinationCidrBlock: '10.20.0.0/16' })), 'InvalidParameterValue', 'deleting the local route');
  await refused(() => ec2.send(new E.DeleteRouteCommand({ RouteTableId: main, DestinationCidrBlock: '192.0.2.0/24' })), 'InvalidRoute.NotFound', 'deleting no route');
  await refused(() => ec2.send(new E.DeleteRouteTableCommand({ RouteTableId: main })), 'DependencyViolation', 'deleting the main route table');
  await refused(() => ec2.send(new E.DescribeRouteTablesCommand({ RouteTableIds: ['rtb-0123456789abcdef0'] })), 'InvalidRouteTableID.NotFound', 'no such table');
  await refused(() => ec2.send(new E.DeleteInternetGatewayCommand({ InternetGatewayId: igw })), 'DependencyViolation', 'deleting an attached gateway');
  await refused(() => ec2.send(new E.DeleteVpcCommand({ VpcId: vpc })), 'DependencyViolation', 'deleting a VPC with a gateway');

  // A subnet's own table: no route out until one is added; disassociating returns it to the main table.
  const own = (await ec2.send(new E.CreateRouteTableCommand({ VpcId: vpc, ClientToken: 'own-table' }))).RouteTable!.RouteTableId!;
  assert.equal((await ec2.send(new E.CreateRouteTableCommand({ VpcId: vpc, ClientToken: 'own-table' }))).RouteTable!.RouteTableId, own, 'the same ClientToken answers the same table');
  await refused(() => ec2.send(new E.CreateRouteTableCommand({ VpcId: defaultVpc, ClientToken: 'own-table' })), 'IdempotentParameterMismatch', 'the token again for another VPC');
  const assoc = (await cli('v1', ['ec2', 'associate-route-table', '--route-table-id', own, '--subnet-id', subnet]))['AssociationId'];
  assert.equal(eniConfig(b).internetRoute, false, 'the subnet now uses a table without 0.0.0.0/0');
  await refused(() => ec2.send(new E.AssociateRouteTableCommand({ RouteTableId: main, SubnetId: subnet })), 'Resource.AlreadyAssociated', 'a subnet associated twice');
  await refused(() => ec2.send(new E.AssociateRouteTableCommand({ RouteTableId: own, SubnetId: defaultSubnet })), 'InvalidParameterValue', "another VPC's subnet");
  await refused(() => ec2.send(new E.DeleteRouteTableCommand({ RouteTableId: own })), 'DependencyViolation', 'deleting an associated table');
  await ec2.send(new E.CreateRouteCommand({ RouteTableId: own, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
  assert.equal(eniConfig(b).internetRoute, true);
  await ec2.send(new E.ReplaceRouteCommand({ RouteTableId: own, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
  await ec2.send(new E.DeleteRouteCommand({ RouteTableId: own, DestinationCidrBlock: '0.0.0.0/0' }));
  assert.equal(eniConfig(b).internetRoute, false);
  const mainAssoc = (await ec2.send(new E.DescribeRouteTablesCommand({ RouteTableIds: [main] }))).RouteTables![0]!.Associations!.find((x) => x.Main)!.RouteTableAssociationId!;
  await refused(() => ec2.send(new E.DisassociateRouteTableCommand({ AssociationId: mainAssoc })), 'InvalidParameterValue', 'disassociating the main association');
  await refused(() => ec2.send(new E.DisassociateRouteTableCommand({ AssociationId: 'rtbassoc-0123456789abcdef0' })), 'InvalidAssociationID.NotFound', 'no such association');
  const moved = (await ec2.send(new E.ReplaceRouteTableAssociationCommand({ AssociationId: assoc, RouteTableId: main }))).NewAssociationId!;
  assert.equal(eniConfig(b).internetRoute, true, 'the subnet is on the main table again');
  await ec2.send(new E.DisassociateRouteTableCommand({ AssociationId: moved }));
  await ec2.send(new E.DeleteRouteTableCommand({ RouteTableId: own }));
  assert.equal(eniConfig(b).internetRoute, true);
});

test('Elastic IPs: allocate, associate (reassociation rules), release refusals, disassociate clears the ENI (both CLIs and SDK)', async () => {
  await refused(() => ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc', DryRun: true })), 'DryRunOperation', 'a dry run allocates nothing');
  assert.equal(await cliError('v2', ['ec2', 'allocate-address', '--domain', 'vpc', '--dry-run']), 'DryRunOperation');
  assert.deepEqual((await ec2.send(new E.DescribeAddressesCommand({}))).Addresses, []);
  const v1 = await cli('v1', ['ec2', 'allocate-address', '--domain', 'vpc']);
  alloc = v1['AllocationId'];
  eip = v1['PublicIp'];
  assert.ok(inPool(eip));
  assert.equal(v1['Domain'], 'vpc');
  await refused(() => ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc, InstanceId: 'i-0123456789abcdef0' })), 'InvalidInstanceID.NotFound', 'no such instance');
  await refused(() => ec2.send(new E.AssociateAddressCommand({ AllocationId: 'eipalloc-0123456789abcdef0', InstanceId: c })), 'InvalidAllocationID.NotFound', 'no such allocation');
  const assoc = (await cli('v2', ['ec2', 'associate-address', '--allocation-id', alloc, '--instance-id', c]))['AssociationId'] as string;
  assert.match(assoc, /^eipassoc-/);
  assert.equal((await instance(c)).PublicIpAddress, eip);
  assert.equal(eniConfig(c).publicIp, eip);
  const byFilter = (await ec2.send(new E.DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'association.public-ip', Values: [eip] }] }))).NetworkInterfaces!;
  assert.deepEqual(byFilter.map((n) => [n.Attachment?.InstanceId, n.Association?.AllocationId, n.Association?.AssociationId]), [[c, alloc, assoc]]);
  const described = (await cli('v1', ['ec2', 'describe-addresses', '--allocation-ids', alloc]))['Addresses'][0];
  assert.equal(described['InstanceId'], c);
  assert.equal(described['AssociationId'], assoc);
  assert.equal(described['PrivateIpAddress'], eniConfig(c).ip);
  await refused(() => ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc, InstanceId: a })), 'Resource.AlreadyAssociated', 'an associated address without AllowReassociation');
  assert.equal(await cliError('v2', ['ec2', 'release-address', '--allocation-id', alloc]), 'InvalidIPAddress.InUse');
  await refused(() => ec2.send(new E.ReleaseAddressCommand({ AllocationId: alloc })), 'InvalidIPAddress.InUse', 'releasing an associated address');
  await refused(() => ec2.send(new E.DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc })), 'DependencyViolation', 'detaching the gateway while addresses are mapped');
  // Reassociation moves it: a's public IP goes back, c keeps no address.
  const aPublic = (await instance(a)).PublicIpAddress;
  await ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc, InstanceId: a, AllowReassociation: true }));
  assert.equal((await instance(a)).PublicIpAddress, eip);
  assert.equal(eniConfig(a).publicIp, eip);
  assert.equal(eniConfig(c).publicIp, undefined, 'the address left c: its ENI config carries no publicIp');
  assert.equal((await instance(c)).PublicIpAddress, undefined);
  const all = (await ec2.send(new E.DescribeAddressesCommand({}))).Addresses!;
  assert.deepEqual(all.map((x) => x.PublicIp), [eip], 'a public IP is not an Elastic IP');
  // Disassociating: a launched with a public IP gets one again (EC2 does), and the ENI goes to the card again.
  const aAssoc = all[0]!.AssociationId!;
  await cli('v1', ['ec2', 'disassociate-address', '--association-id', aAssoc]);
  const after = await instance(a);
  assert.ok(inPool(after.PublicIpAddress) && after.PublicIpAddress !== eip, `${after.PublicIpAddress} (was ${aPublic})`);
  assert.equal(eniConfig(a).publicIp, after.PublicIpAddress);
  await refused(() => ec2.send(new E.DisassociateAddressCommand({ AssociationId: aAssoc })), 'InvalidAssociationID.NotFound', 'an association that is gone');
  // c gets it by ENI id, then loses it: no publicIp left on c.
  const cEni = (await instance(c)).NetworkInterfaces![0]!.NetworkInterfaceId!;
  const byEni = (await ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc, NetworkInterfaceId: cEni }))).AssociationId!;
  assert.equal(eniConfig(c).publicIp, eip);
  await ec2.send(new E.DisassociateAddressCommand({ AssociationId: byEni }));
  assert.equal(eniConfig(c).publicIp, undefined);
});

test('the pool runs out: AddressLimitExceeded for AllocateAddress and for a launch with a public IP, and nothing is made', async () => {
  const held = async (): Promise<number> => (await ec2.send(new E.DescribeAddressesCommand({}))).Addresses!.length;
  // Six addresses: a's and b's public IPs and one Elastic IP are taken.
  for (;;) {
    const c2 = await code(ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' })));
    if (c2 !== 'no error') {
      assert.equal(c2, 'AddressLimitExceeded');
      break;
    }
  }
  assert.equal(await held(), 4);
  await refused(() => ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' })), 'AddressLimitExceeded', 'allocating from an exhausted pool');
  assert.equal(await cliError('v2', ['ec2', 'allocate-address', '--domain', 'vpc']), 'AddressLimitExceeded');
  const before = (await ec2.send(new E.DescribeInstancesCommand({}))).Reservations!.length;
  await refused(() => run({ SubnetId: defaultSubnet }), 'AddressLimitExceeded', 'a launch that needs a public IP');
  assert.equal((await ec2.send(new E.DescribeInstancesCommand({}))).Reservations!.length, before, 'no instance was made');
  // Released addresses come back.
  const spare = (await ec2.send(new E.DescribeAddressesCommand({}))).Addresses!.filter((x) => x.AllocationId !== alloc);
  for (const x of spare) await ec2.send(new E.ReleaseAddressCommand({ AllocationId: x.AllocationId! }));
  assert.equal(await held(), 1);
  await refused(() => ec2.send(new E.ReleaseAddressCommand({ AllocationId: spare[0]!.AllocationId! })), 'InvalidAllocationID.NotFound', 'a released address');
});

test('DNS hostnames and MapPublicIpOnLaunch through both CLIs; the public name reaches the ENI config', async () => {
  await cli('v1', ['ec2', 'modify-vpc-attribute', '--vpc-id', vpc, '--enable-dns-hostnames', '{"Value":true}']);
  assert.equal((await cli('v2', ['ec2', 'describe-vpc-attribute', '--vpc-id', vpc, '--attribute', 'enableDnsHostnames']))['EnableDnsHostnames']['Value'], true);
  const ib = await instance(b);
  assert.equal(ib.PublicDnsName, `ec2-${ib.PublicIpAddress!.replace(/\./g, '-')}.local-1.compute.amazonaws.com`);
  assert.equal(eniConfig(b).imds?.publicHostname, ib.PublicDnsName);
  await cli('v2', ['ec2', 'modify-vpc-attribute', '--vpc-id', vpc, '--no-enable-dns-hostnames']);
  assert.equal(eniConfig(b).imds?.publicHostname, undefined);
  await cli('v2', ['ec2', 'modify-subnet-attribute', '--subnet-id', subnet, '--map-public-ip-on-launch']);
  assert.equal((await cli('v1', ['ec2', 'describe-subnets', '--subnet-ids', subnet]))['Subnets'][0]['MapPublicIpOnLaunch'], true);
  await cli('v1', ['ec2', 'modify-subnet-attribute', '--subnet-id', subnet, '--no-map-public-ip-on-launch']);
  assert.equal((await ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets![0]!.MapPublicIpOnLaunch, false);
  await refused(() => ec2.send(new E.ModifyVpcAttributeCommand({ VpcId: 'vpc-0123456789abcdef0', EnableDnsSupport: { Value: false } })), 'InvalidVpcID.NotFound', 'no such VPC');
  await refused(() => ec2.send(new E.ModifySubnetAttributeCommand({ SubnetId: 'subnet-0123456789abcdef0', MapPublicIpOnLaunch: { Value: true } })), 'InvalidSubnetID.NotFound', 'no such subnet');
  await refused(() => ec2.send(new E.ModifySubnetAttributeCommand({ SubnetId: subnet, AssignIpv6AddressOnCreation: { Value: true } })), 'InvalidParameterValue', 'an attribute Nitride does not offer');
});

test("the controller's VPC card serves the region's edge config: IMDS public-ipv4 and public-hostname, gone with the address", { timeout: 120_000 }, async () => {
  const cardHome = await mkdtemp(join(tmpdir(), 'nitride-vpc-edge-card-'));
  const host = new HostVpcCard({ home: cardHome, log: createLogger('vpc-edge-test', () => undefined) });
  let guest: SimGuest | undefined;
  try {
    host.start();
    // What the region's VpcHostSync sends for c (eni.put), exactly: first with no address.
    const put = (): Promise<unknown> => {
      const cfg = eniConfig(c);
      return host.execute({ type: 'eni.put', params: { eni: cfg, groups: region!.vpcSync.groupStates(cfg.vpcId) } });
    };
    const info = (await put()) as { socketPath: string };
    const cfg = eniConfig(c);
    guest = await SimGuest.connect(info.socketPath, cfg.mac, cfg.ip);
    const get = async (path: string): Promise<{ status: number; body: string }> => {
      const r = await guest!.http(macToBytes(ROUTER_MAC), `GET /latest/meta-data/${path} HTTP/1.0\r\n\r\n`);
      return { status: r.status, body: r.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n') };
    };
    assert.equal((await get('public-ipv4')).status, 404, 'no public address yet');
    // The Elastic IP on c, DNS hostnames on: eni.put again (as the region does after the change).
    await ec2.send(new E.ModifyVpcAttributeCommand({ VpcId: vpc, EnableDnsHostnames: { Value: true } }));
    const assoc = (await ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc, InstanceId: c }))).AssociationId!;
    await put();
    assert.deepEqual(await get('public-ipv4'), { status: 200, body: eip });
    assert.deepEqual(await get(`network/interfaces/macs/${cfg.mac}/public-ipv4s`), { status: 200, body: eip });
    assert.deepEqual(await get('public-hostname'), { status: 200, body: `ec2-${eip.replace(/\./g, '-')}.local-1.compute.amazonaws.com` });
    assert.deepEqual(await get('local-ipv4'), { status: 200, body: cfg.ip });
    // Disassociated: the next eni.put carries no publicIp, and the card forgets the address.
    await ec2.send(new E.DisassociateAddressCommand({ AssociationId: assoc }));
    assert.equal(eniConfig(c).publicIp, undefined);
    assert.equal(eniConfig(c).internetRoute, true);
    await put();
    assert.equal((await get('public-ipv4')).status, 404, 'the address is gone from the card');
    assert.equal((await get('public-hostname')).status, 404);
    await ec2.send(new E.ModifyVpcAttributeCommand({ VpcId: vpc, EnableDnsHostnames: { Value: false } }));
  } finally {
    guest?.close();
    await host.stop();
    await rm(cardHome, { recursive: true, force: true });
  }
});

test('the edge records survive a region restart', async () => {
  const before = await snapshot();
  await region!.close();
  ec2.destroy();
  region = await openLocalRegion(home, { publicPool: POOL });
  ec2 = new E.EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: region.credentials, maxAttempts: 1 });
  assert.equal(await snapshot(), before);
  assert.equal(eniConfig(b).internetRoute, true);
});
