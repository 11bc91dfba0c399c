// The region's VPC API through @aws-sdk/client-ec2 v3, against a Region opened in this
// process whose only host is a phantom (launched instances stay pending): the default VPC,
// subnets, security groups and their rules, ENIs on RunInstances, attribute changes, and
// EC2's error codes for bad input, after which nothing has changed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyInstanceMetadataOptionsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Region } from '../../src/region/region.js';
import { BUILTIN_AMI, openLocalRegion, phantomHost, seedStore } from '../region-fixtures.js';

let home = '';
let region: Region | undefined;
let ec2: EC2Client;

async function fails(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { name?: string; Code?: string }) => {
    assert.equal(e.name ?? e.Code, code);
    return true;
  });
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-vpc-region-'));
  const first = await openLocalRegion(home);
  await first.close();
  await seedStore(home, { hosts: [phantomHost(2048 + 8 * 512)] });
  region = await openLocalRegion(home);
  ec2 = new EC2Client({
    endpoint: region.endpoint,
    region: 'local-1',
    credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey },
    maxAttempts: 1,
  });
});

after(async () => {
  try {
    if (region) await region.close();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('default VPC, subnet and security group exist on first use', async () => {
  const vpcs = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? [];
  assert.equal(vpcs.length, 1);
  const def = vpcs[0]!;
  assert.equal(def.CidrBlock, '172.31.0.0/16');
  assert.equal(def.IsDefault, true);
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [def.VpcId!] }] }))).Subnets ?? [];
  assert.equal(subnets.length, 1);
  assert.equal(subnets[0]!.CidrBlock, '172.31.0.0/20');
  assert.equal(subnets[0]!.AvailabilityZone, 'local-1a');
  assert.equal(subnets[0]!.DefaultForAz, true);
  const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['default'] }))).SecurityGroups ?? [];
  assert.equal(groups.length, 1);
  const g = groups[0]!;
  assert.equal(g.VpcId, def.VpcId);
  assert.equal(g.IpPermissions?.[0]?.IpProtocol, '-1');
  assert.equal(g.IpPermissions?.[0]?.UserIdGroupPairs?.[0]?.GroupId, g.GroupId, 'the default group admits its own members');
  assert.equal(g.IpPermissionsEgress?.[0]?.IpRanges?.[0]?.CidrIp, '0.0.0.0/0');
  // Still one default VPC after more calls.
  assert.equal((await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs?.length, 1);
});

test('VPCs, subnets, groups, rules, ENIs and their errors', async () => {
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.10.0.0/16' }))).Vpc!;
  assert.match(vpc.VpcId!, /^vpc-[0-9a-f]{17}$/);
  await fails(ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/8' })), 'InvalidVpc.Range');
  const a = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.10.1.0/24' }))).Subnet!;
  const b = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.10.2.0/24', AvailabilityZone: 'local-1a' }))).Subnet!;
  assert.equal(a.AvailableIpAddressCount, 251);
  await fails(ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.10.1.128/25' })), 'InvalidSubnet.Conflict');
  await fails(ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.11.0.0/24' })), 'InvalidSubnet.Range');
  await fails(ec2.send(new CreateSubnetCommand({ VpcId: 'vpc-0123456789abcdef0', CidrBlock: '10.10.3.0/24' })), 'InvalidVpcID.NotFound');
  assert.equal((await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).Subnets?.length, 2, 'refused subnets changed nothing');

  // Security groups.
  const web = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web tier', VpcId: vpc.VpcId }))).GroupId!;
  const db = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'db', Description: 'db tier', VpcId: vpc.VpcId }))).GroupId!;
  await fails(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'again', VpcId: vpc.VpcId })), 'InvalidGroup.Duplicate');
  const ssh = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
  const rules = (await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [ssh] }))).SecurityGroupRules ?? [];
  assert.equal(rules.length, 1);
  assert.match(rules[0]!.SecurityGroupRuleId!, /^sgr-/);
  await fails(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [ssh] })), 'InvalidPermission.Duplicate');
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: db, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: web }] }] }));
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '10.10.0.0/16' }] }] }));
  await fails(ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidPermission.NotFound');
  const dbView = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [db] }))).SecurityGroups![0]!;
  assert.equal(dbView.IpPermissions?.[0]?.UserIdGroupPairs?.[0]?.GroupId, web);
  assert.equal(dbView.IpPermissions?.[0]?.FromPort, 5432);
  await ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: db, IpPermissions: [{ IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.10.0.2/32' }] }] }));
  await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: db, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  const dbEgress = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [db] }))).SecurityGroups![0]!.IpPermissionsEgress ?? [];
  assert.deepEqual(dbEgress.map((p) => [p.IpProtocol, p.FromPort, p.IpRanges?.[0]?.CidrIp]), [['udp', 53, '10.10.0.2/32']]);
  await fails(ec2.send(new DeleteSecurityGroupCommand({ GroupId: web })), 'DependencyViolation'); // db's rule names web

  // An instance with a subnet, groups and a chosen address.
  const run = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: a.SubnetId, SecurityGroupIds: [web], PrivateIpAddress: '10.10.1.10' }));
  const inst = run.Instances![0]!;
  assert.equal(inst.PrivateIpAddress, '10.10.1.10');
  assert.equal(inst.SubnetId, a.SubnetId);
  assert.equal(inst.VpcId, vpc.VpcId);
  assert.deepEqual(inst.SecurityGroups?.map((g) => g.GroupName), ['web']);
  const nic = inst.NetworkInterfaces?.[0];
  assert.match(nic?.NetworkInterfaceId ?? '', /^eni-[0-9a-f]{17}$/);
  assert.match(nic?.MacAddress ?? '', /^02(:[0-9a-f]{2}){5}$/);
  assert.equal(nic?.PrivateIpAddress, '10.10.1.10');
  assert.equal(nic?.SourceDestCheck, true);

  const count = async (): Promise<number> => ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
  const before = await count();
  await fails(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: a.SubnetId, PrivateIpAddress: '10.10.1.10' })), 'InvalidIPAddress.InUse');
  await fails(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: a.SubnetId, PrivateIpAddress: '10.10.2.10' })), 'InvalidParameterValue');
  await fails(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: a.SubnetId, PrivateIpAddress: '10.10.1.1' })), 'InvalidParameterValue');
  assert.equal(await count(), before, 'refused launches recorded no instance');

  // Two in subnet b get consecutive free addresses; the default launch lands in the default VPC.
  const two = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 2, MaxCount: 2, SubnetId: b.SubnetId }));
  assert.deepEqual(two.Instances!.map((i) => i.PrivateIpAddress).sort(), ['10.10.2.4', '10.10.2.5']);
  assert.deepEqual(two.Instances!.map((i) => i.SecurityGroups?.[0]?.GroupName), ['default', 'default']);
  const dflt = (await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1 }))).Instances![0]!;
  assert.match(dflt.PrivateIpAddress!, /^172\.31\.(?:[0-9]|1[0-5])\.\d+$/);
  assert.equal(dflt.SecurityGroups?.[0]?.GroupName, 'default');

  // ENIs and their attributes.
  const enis = (await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).NetworkInterfaces ?? [];
  assert.equal(enis.length, 3);
  const mine = (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [nic!.NetworkInterfaceId!] }))).NetworkInterfaces![0]!;
  assert.equal(mine.Attachment?.InstanceId, inst.InstanceId);
  assert.equal(mine.Status, 'in-use');
  await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: mine.NetworkInterfaceId, SourceDestCheck: { Value: false } }));
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: inst.InstanceId, Groups: [web, db] }));
  const after1 = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.InstanceId!] }))).Reservations![0]!.Instances![0]!;
  assert.equal(after1.SourceDestCheck, false);
  assert.deepEqual(after1.SecurityGroups?.map((g) => g.GroupId).sort(), [web, db].sort());
  await fails(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: inst.InstanceId, Groups: [(await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['default'] }))).SecurityGroups![0]!.GroupId!] })), 'InvalidParameterValue');
  await fails(ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0123456789abcdef0'] })), 'InvalidNetworkInterfaceID.NotFound');

  const mo = await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: inst.InstanceId, HttpTokens: 'required', HttpPutResponseHopLimit: 2 }));
  assert.equal(mo.InstanceMetadataOptions?.HttpTokens, 'required');
  const after2 = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.InstanceId!] }))).Reservations![0]!.Instances![0]!;
  assert.equal(after2.MetadataOptions?.HttpTokens, 'required');
  assert.equal(after2.MetadataOptions?.HttpPutResponseHopLimit, 2);
  assert.equal(after2.MetadataOptions?.HttpEndpoint, 'enabled');

  // Dependencies.
  await fails(ec2.send(new DeleteSubnetCommand({ SubnetId: a.SubnetId })), 'DependencyViolation');
  await fails(ec2.send(new DeleteVpcCommand({ VpcId: vpc.VpcId })), 'DependencyViolation');
  await fails(ec2.send(new DeleteSecurityGroupCommand({ GroupId: db })), 'DependencyViolation'); // in use by the ENI
  assert.equal((await ec2.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }))).Vpcs?.length, 1);

  // An empty VPC goes, with its default group.
  const spare = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!;
  const s = (await ec2.send(new CreateSubnetCommand({ VpcId: spare.VpcId, CidrBlock: '10.20.0.0/24' }))).Subnet!;
  await fails(ec2.send(new DeleteVpcCommand({ VpcId: spare.VpcId })), 'DependencyViolation');
  await ec2.send(new DeleteSubnetCommand({ SubnetId: s.SubnetId }));
  await ec2.send(new DeleteVpcCommand({ VpcId: spare.VpcId }));
  await fails(ec2.send(new DescribeVpcsCommand({ VpcIds: [spare.VpcId!] })), 'InvalidVpcID.NotFound');
  const left = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [spare.VpcId!] }] }))).SecurityGroups ?? [];
  assert.equal(left.length, 0);
});

test('the VPC records survive a region restart', async () => {
  const before = (await ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces ?? [];
  await region!.close();
  region = await openLocalRegion(home);
  ec2 = new EC2Client({
    endpoint: region.endpoint,
    region: 'local-1',
    credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey },
    maxAttempts: 1,
  });
  const after = (await ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces ?? [];
  assert.deepEqual(after.map((e) => [e.NetworkInterfaceId, e.MacAddress, e.PrivateIpAddress]), before.map((e) => [e.NetworkInterfaceId, e.MacAddress, e.PrivateIpAddress]));
  assert.equal((await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs?.length, 1);
});
