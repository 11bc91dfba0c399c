// The EBS and VPC actions' requests, serialized by the real peers (botocore of both AWS CLIs,
// SDK v3's EC2Client) from the same parameters, must parse into the same typed requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEc2Request, parseIpv4Cidr, EC2_MUTATING_ACTIONS, EC2_ACTIONS, EDGE_PARSERS, type Ec2Request } from './ec2/requests/index.js';
import { parseForm } from './query.js';
import { Ec2Error } from './errors.js';
import { botocore } from './botocore-peer.test-helper.js';
import { parse, code, assertBotocoreParses, assertSdkParses, sdkBodyFor, type WireCase } from './ec2-wire.test-helper.js';

const I1 = 'i-0123456789abcdef0';
const VOL = 'vol-0123456789abcdef0';
const SNAP = 'snap-0123456789abcdef0';
const VPC = 'vpc-0123456789abcdef0';
const SUBNET = 'subnet-12345678';
const SG = 'sg-0123456789abcdef0';
const SG2 = 'sg-87654321';
const ENI = 'eni-0123456789abcdef0';
const KEY = 'arn:aws:kms:local-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const TAGS = [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }];
const tags = (resourceType: string) => [{ resourceType, tags: [{ key: 'Name', value: 'data' }] }];

type Case = WireCase;

const cases: Case[] = [
  {
    operation: 'CreateVolume',
    params: {
      AvailabilityZone: 'local-1a',
      Size: 8,
      VolumeType: 'gp3',
      Iops: 3000,
      Throughput: 125,
      Encrypted: true,
      KmsKeyId: KEY,
      SnapshotId: SNAP,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }],
      ClientToken: 'tok-1',
      MultiAttachEnabled: false,
    },
    expected: {
      action: 'CreateVolume',
      dryRun: false,
      availabilityZone: 'local-1a',
      availabilityZoneId: undefined,
      size: 8,
      snapshotId: SNAP,
      volumeType: 'gp3',
      iops: 3000,
      throughput: 125,
      encrypted: true,
      kmsKeyId: KEY,
      multiAttachEnabled: false,
      tagSpecifications: tags('volume'),
      clientToken: 'tok-1',
    },
  },
  {
    operation: 'DescribeVolumes',
    params: { Filters: [{ Name: 'attachment.instance-id', Values: [I1] }], MaxResults: 5, NextToken: 'n' },
    expected: { action: 'DescribeVolumes', dryRun: false, volumeIds: [], filters: [{ name: 'attachment.instance-id', values: [I1] }], maxResults: 5, nextToken: 'n' },
  },
  {
    operation: 'DescribeVolumes',
    params: { VolumeIds: [VOL, 'vol-12345678'], DryRun: true },
    expected: { action: 'DescribeVolumes', dryRun: true, volumeIds: [VOL, 'vol-12345678'], filters: [], maxResults: undefined, nextToken: undefined },
  },
  {
    operation: 'AttachVolume',
    params: { Device: '/dev/sdf', InstanceId: I1, VolumeId: VOL },
    expected: { action: 'AttachVolume', dryRun: false, device: '/dev/sdf', instanceId: I1, volumeId: VOL },
  },
  {
    operation: 'DetachVolume',
    params: { Device: '/dev/sdf', Force: true, InstanceId: I1, VolumeId: VOL },
    expected: { action: 'DetachVolume', dryRun: false, volumeId: VOL, device: '/dev/sdf', instanceId: I1, force: true },
  },
  { operation: 'DeleteVolume', params: { VolumeId: VOL }, expected: { action: 'DeleteVolume', dryRun: false, volumeId: VOL } },
  {
    operation: 'ModifyVolume',
    params: { VolumeId: VOL, Size: 16, VolumeType: 'io2', Iops: 4000, Throughput: 250, DryRun: true },
    expected: { action: 'ModifyVolume', dryRun: true, volumeId: VOL, size: 16, volumeType: 'io2', iops: 4000, throughput: 250, multiAttachEnabled: undefined },
  },
  {
    operation: 'CreateSnapshot',
    params: { VolumeId: VOL, Description: 'nightly & <safe>', TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'Name', Value: 'data' }] }] },
    expected: { action: 'CreateSnapshot', dryRun: false, volumeId: VOL, description: 'nightly & <safe>', tagSpecifications: tags('snapshot') },
  },
  {
    operation: 'DescribeSnapshots',
    params: { SnapshotIds: [SNAP], OwnerIds: ['self', '123456789012'], RestorableByUserIds: ['all'], Filters: [{ Name: 'volume-id', Values: [VOL] }] },
    expected: {
      action: 'DescribeSnapshots',
      dryRun: false,
      snapshotIds: [SNAP],
      ownerIds: ['self', '123456789012'],
      restorableByUserIds: ['all'],
      filters: [{ name: 'volume-id', values: [VOL] }],
      maxResults: undefined,
      nextToken: undefined,
    },
  },
  { operation: 'DeleteSnapshot', params: { SnapshotId: SNAP }, expected: { action: 'DeleteSnapshot', dryRun: false, snapshotId: SNAP } },
  {
    operation: 'CopySnapshot',
    params: { SourceSnapshotId: SNAP, SourceRegion: 'local-1', Description: 'encrypted copy', Encrypted: true, KmsKeyId: 'alias/aws/ebs', TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'Name', Value: 'data' }] }] },
    expected: {
      action: 'CopySnapshot',
      dryRun: false,
      sourceSnapshotId: SNAP,
      sourceRegion: 'local-1',
      destinationRegion: undefined,
      description: 'encrypted copy',
      encrypted: true,
      kmsKeyId: 'alias/aws/ebs',
      tagSpecifications: tags('snapshot'),
    },
  },
  { operation: 'EnableEbsEncryptionByDefault', params: {}, expected: { action: 'EnableEbsEncryptionByDefault', dryRun: false } },
  { operation: 'DisableEbsEncryptionByDefault', params: { DryRun: true }, expected: { action: 'DisableEbsEncryptionByDefault', dryRun: true } },
  { operation: 'GetEbsEncryptionByDefault', params: {}, expected: { action: 'GetEbsEncryptionByDefault', dryRun: false } },
  { operation: 'GetEbsDefaultKmsKeyId', params: {}, expected: { action: 'GetEbsDefaultKmsKeyId', dryRun: false } },
  { operation: 'ModifyEbsDefaultKmsKeyId', params: { KmsKeyId: KEY }, expected: { action: 'ModifyEbsDefaultKmsKeyId', dryRun: false, kmsKeyId: KEY } },
  { operation: 'ResetEbsDefaultKmsKeyId', params: {}, expected: { action: 'ResetEbsDefaultKmsKeyId', dryRun: false } },

  {
    operation: 'CreateVpc',
    params: { CidrBlock: '10.0.0.0/16', InstanceTenancy: 'default', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'data' }] }] },
    expected: { action: 'CreateVpc', dryRun: false, cidrBlock: '10.0.0.0/16', instanceTenancy: 'default', tagSpecifications: tags('vpc') },
  },
  {
    operation: 'DescribeVpcs',
    params: { VpcIds: [VPC], Filters: [{ Name: 'is-default', Values: ['true'] }], MaxResults: 5 },
    expected: { action: 'DescribeVpcs', dryRun: false, vpcIds: [VPC], filters: [{ name: 'is-default', values: ['true'] }], maxResults: 5, nextToken: undefined },
  },
  { operation: 'DeleteVpc', params: { VpcId: VPC }, expected: { action: 'DeleteVpc', dryRun: false, vpcId: VPC } },
  {
    operation: 'CreateSubnet',
    params: { VpcId: VPC, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'local-1a', TagSpecifications: [{ ResourceType: 'subnet', Tags: [{ Key: 'Name', Value: 'data' }] }] },
    expected: { action: 'CreateSubnet', dryRun: false, vpcId: VPC, cidrBlock: '10.0.1.0/24', availabilityZone: 'local-1a', availabilityZoneId: undefined, tagSpecifications: tags('subnet') },
  },
  {
    operation: 'DescribeSubnets',
    params: { SubnetIds: [SUBNET], Filters: [{ Name: 'vpc-id', Values: [VPC] }], NextToken: 't' },
    expected: { action: 'DescribeSubnets', dryRun: false, subnetIds: [SUBNET], filters: [{ name: 'vpc-id', values: [VPC] }], maxResults: undefined, nextToken: 't' },
  },
  { operation: 'DeleteSubnet', params: { SubnetId: SUBNET }, expected: { action: 'DeleteSubnet', dryRun: false, subnetId: SUBNET } },
  {
    operation: 'CreateSecurityGroup',
    params: { GroupName: 'web', Description: 'web servers (80, 443)', VpcId: VPC, TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'Name', Value: 'data' }] }] },
    expected: { action: 'CreateSecurityGroup', dryRun: false, groupName: 'web', description: 'web servers (80, 443)', vpcId: VPC, tagSpecifications: tags('security-group') },
  },
  {
    operation: 'DescribeSecurityGroups',
    params: { GroupIds: [SG], GroupNames: ['default'], Filters: [{ Name: 'vpc-id', Values: [VPC] }], MaxResults: 10 },
    expected: { action: 'DescribeSecurityGroups', dryRun: false, groupIds: [SG], groupNames: ['default'], filters: [{ name: 'vpc-id', values: [VPC] }], maxResults: 10, nextToken: undefined },
  },
  { operation: 'DeleteSecurityGroup', params: { GroupId: SG }, expected: { action: 'DeleteSecurityGroup', dryRun: false, groupId: SG, groupName: undefined } },
  { operation: 'DeleteSecurityGroup', params: { GroupName: 'web' }, expected: { action: 'DeleteSecurityGroup', dryRun: false, groupId: undefined, groupName: 'web' } },
  {
    operation: 'AuthorizeSecurityGroupIngress',
    params: {
      GroupId: SG,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'ssh' }], Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32' }] },
        { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: SG2, UserId: '123456789012', Description: 'peers' }], PrefixListIds: [{ PrefixListId: 'pl-12345678' }] },
      ],
    },
    expected: {
      action: 'AuthorizeSecurityGroupIngress',
      dryRun: false,
      groupId: SG,
      groupName: undefined,
      ipPermissions: [
        {
          ipProtocol: 'tcp',
          fromPort: 22,
          toPort: 22,
          userIdGroupPairs: [],
          ipRanges: [{ cidrIp: '10.0.0.0/8', description: 'ssh' }],
          ipv6Ranges: [{ cidrIpv6: '2001:db8::/32', description: undefined }],
          prefixListIds: [],
        },
        {
          ipProtocol: '-1',
          fromPort: undefined,
          toPort: undefined,
          userIdGroupPairs: [{ groupId: SG2, groupName: undefined, userId: '123456789012', description: 'peers' }],
          ipRanges: [],
          ipv6Ranges: [],
          prefixListIds: [{ prefixListId: 'pl-12345678', description: undefined }],
        },
      ],
      tagSpecifications: [],
    },
  },
  {
    // The legacy flat form (aws ec2 authorize-security-group-ingress --protocol tcp --port 80 --cidr …).
    operation: 'AuthorizeSecurityGroupIngress',
    params: { GroupId: SG, IpProtocol: 'tcp', FromPort: 80, ToPort: 80, CidrIp: '0.0.0.0/0' },
    expected: {
      action: 'AuthorizeSecurityGroupIngress',
      dryRun: false,
      groupId: SG,
      groupName: undefined,
      ipPermissions: [{ ipProtocol: 'tcp', fromPort: 80, toPort: 80, userIdGroupPairs: [], ipRanges: [{ cidrIp: '0.0.0.0/0', description: undefined }], ipv6Ranges: [], prefixListIds: [] }],
      tagSpecifications: [],
    },
  },
  {
    operation: 'RevokeSecurityGroupIngress',
    params: { GroupName: 'web', SourceSecurityGroupName: 'db', SourceSecurityGroupOwnerId: '123456789012' },
    expected: {
      action: 'RevokeSecurityGroupIngress',
      dryRun: false,
      groupId: undefined,
      groupName: 'web',
      ipPermissions: [
        {
          ipProtocol: '-1',
          fromPort: undefined,
          toPort: undefined,
          userIdGroupPairs: [{ groupId: undefined, groupName: 'db', userId: '123456789012', description: undefined }],
          ipRanges: [],
          ipv6Ranges: [],
          prefixListIds: [],
        },
      ],
      securityGroupRuleIds: [],
    },
  },
  {
    operation: 'RevokeSecurityGroupIngress',
    params: { GroupId: SG, SecurityGroupRuleIds: ['sgr-0123456789abcdef0'] },
    expected: { action: 'RevokeSecurityGroupIngress', dryRun: false, groupId: SG, groupName: undefined, ipPermissions: [], securityGroupRuleIds: ['sgr-0123456789abcdef0'] },
  },
  {
    operation: 'AuthorizeSecurityGroupEgress',
    params: { GroupId: SG, IpPermissions: [{ IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.0.2/32' }] }] },
    expected: {
      action: 'AuthorizeSecurityGroupEgress',
      dryRun: false,
      groupId: SG,
      ipPermissions: [{ ipProtocol: 'udp', fromPort: 53, toPort: 53, userIdGroupPairs: [], ipRanges: [{ cidrIp: '10.0.0.2/32', description: undefined }], ipv6Ranges: [], prefixListIds: [] }],
      tagSpecifications: [],
    },
  },
  {
    operation: 'RevokeSecurityGroupEgress',
    params: { GroupId: SG, IpPermissions: [{ IpProtocol: 'icmp', FromPort: 8, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] },
    expected: {
      action: 'RevokeSecurityGroupEgress',
      dryRun: false,
      groupId: SG,
      ipPermissions: [{ ipProtocol: 'icmp', fromPort: 8, toPort: -1, userIdGroupPairs: [], ipRanges: [{ cidrIp: '0.0.0.0/0', description: undefined }], ipv6Ranges: [], prefixListIds: [] }],
      securityGroupRuleIds: [],
    },
  },
  {
    operation: 'DescribeNetworkInterfaces',
    params: { NetworkInterfaceIds: [ENI], Filters: [{ Name: 'attachment.instance-id', Values: [I1] }] },
    expected: { action: 'DescribeNetworkInterfaces', dryRun: false, networkInterfaceIds: [ENI], filters: [{ name: 'attachment.instance-id', values: [I1] }], maxResults: undefined, nextToken: undefined },
  },
  {
    operation: 'ModifyNetworkInterfaceAttribute',
    params: { NetworkInterfaceId: ENI, SourceDestCheck: { Value: false } },
    expected: { action: 'ModifyNetworkInterfaceAttribute', dryRun: false, networkInterfaceId: ENI, description: undefined, sourceDestCheck: false, groups: undefined, attachment: undefined },
  },
  {
    operation: 'ModifyNetworkInterfaceAttribute',
    params: { NetworkInterfaceId: ENI, Groups: [SG, SG2] },
    expected: { action: 'ModifyNetworkInterfaceAttribute', dryRun: false, networkInterfaceId: ENI, description: undefined, sourceDestCheck: undefined, groups: [SG, SG2], attachment: undefined },
  },
  {
    operation: 'ModifyNetworkInterfaceAttribute',
    params: { NetworkInterfaceId: ENI, Description: { Value: 'primary' } },
    expected: { action: 'ModifyNetworkInterfaceAttribute', dryRun: false, networkInterfaceId: ENI, description: 'primary', sourceDestCheck: undefined, groups: undefined, attachment: undefined },
  },
  {
    operation: 'ModifyInstanceAttribute',
    params: { InstanceId: I1, SourceDestCheck: { Value: false } },
    expected: { action: 'ModifyInstanceAttribute', dryRun: false, instanceId: I1, change: { attribute: 'sourceDestCheck', value: false } },
  },
  {
    operation: 'ModifyInstanceAttribute',
    params: { InstanceId: I1, Groups: [SG, SG2] },
    expected: { action: 'ModifyInstanceAttribute', dryRun: false, instanceId: I1, change: { attribute: 'groupSet', groupIds: [SG, SG2] } },
  },
  {
    // aws ec2 modify-instance-attribute --attribute instanceType --value t3.small
    operation: 'ModifyInstanceAttribute',
    params: { InstanceId: I1, Attribute: 'instanceType', Value: 't3.small' },
    expected: { action: 'ModifyInstanceAttribute', dryRun: false, instanceId: I1, change: { attribute: 'instanceType', value: 't3.small' } },
  },
  {
    operation: 'ModifyInstanceAttribute',
    params: { InstanceId: I1, BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeId: VOL, DeleteOnTermination: true } }] },
    expected: {
      action: 'ModifyInstanceAttribute',
      dryRun: false,
      instanceId: I1,
      change: { attribute: 'blockDeviceMapping', mappings: [{ deviceName: '/dev/sdf', volumeId: VOL, deleteOnTermination: true }] },
    },
  },
  {
    operation: 'CopyImage',
    params: { SourceImageId: 'ami-0123456789abcdef0', SourceRegion: 'local-1', Name: 'copy-1', Description: 'a copy', Encrypted: true, KmsKeyId: KEY, ClientToken: 'tok-2', CopyImageTags: true },
    expected: {
      action: 'CopyImage',
      dryRun: false,
      sourceImageId: 'ami-0123456789abcdef0',
      sourceRegion: 'local-1',
      name: 'copy-1',
      description: 'a copy',
      encrypted: true,
      kmsKeyId: KEY,
      clientToken: 'tok-2',
      copyImageTags: true,
      tagSpecifications: [],
    },
  },
  {
    operation: 'CreateImage',
    params: { InstanceId: I1, Name: 'from-instance', Description: 'made', NoReboot: true, BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20, VolumeType: 'gp3', DeleteOnTermination: false } }] },
    expected: {
      action: 'CreateImage',
      dryRun: false,
      instanceId: I1,
      name: 'from-instance',
      description: 'made',
      noReboot: true,
      blockDeviceMappings: [
        {
          deviceName: '/dev/sdf',
          virtualName: undefined,
          noDevice: false,
          ebs: { volumeSize: 20, volumeType: 'gp3', snapshotId: undefined, deleteOnTermination: false, encrypted: undefined, kmsKeyId: undefined, iops: undefined, throughput: undefined },
        },
      ],
      tagSpecifications: [],
    },
  },
  {
    operation: 'ModifyInstanceMetadataOptions',
    params: { InstanceId: I1, HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled' },
    expected: {
      action: 'ModifyInstanceMetadataOptions',
      dryRun: false,
      instanceId: I1,
      httpTokens: 'required',
      httpPutResponseHopLimit: 2,
      httpEndpoint: 'enabled',
      httpProtocolIpv6: undefined,
      instanceMetadataTags: undefined,
    },
  },
];

test('the cases cover every new action', () => {
  const covered = new Set(cases.map((c) => c.operation));
  const before = ['RunInstances', 'DescribeInstances', 'DescribeInstanceStatus', 'StartInstances', 'StopInstances', 'RebootInstances', 'TerminateInstances', 'GetConsoleOutput', 'DescribeImages', 'RegisterImage', 'DeregisterImage', 'DescribeInstanceTypes', 'CreateTags', 'DeleteTags', 'DescribeTags', 'DescribeRegions', 'DescribeAvailabilityZones'];
  // GetInstanceTpmEkPub has its own peer cases in ec2-tpm.test.ts (Debian's CLI v2 model predates it).
  // Nitride's own host actions have no AWS model to serialize them: src/region/host-updates.test.ts.
  // The key pair actions and DescribeInstanceAttribute have theirs in key-pairs.test.ts.
  // The VPC edge's actions (EDGE_PARSERS) have theirs in ec2-edge.test.ts; issue 14's actions have theirs in ec2-tools-wire.test.ts.
  const tools = ['DescribeAccountAttributes', 'DescribeInstanceTypeOfferings', 'DescribeVpcClassicLink', 'DescribeVpcClassicLinkDnsSupport', 'CreateLaunchTemplate', 'CreateLaunchTemplateVersion', 'DescribeLaunchTemplates', 'DescribeLaunchTemplateVersions', 'ModifyLaunchTemplate', 'DeleteLaunchTemplate', 'DeleteLaunchTemplateVersions'];
  const elsewhere = [...tools, ...Object.keys(EDGE_PARSERS), 'GetInstanceTpmEkPub', 'NitrideAddHost', 'NitrideSetHostRelease', 'NitrideUpdateHostComponent', 'CreateKeyPair', 'ImportKeyPair', 'DescribeKeyPairs', 'DeleteKeyPair', 'DescribeInstanceAttribute'];
  for (const a of EC2_ACTIONS) if (!before.includes(a) && !elsewhere.includes(a)) assert.ok(covered.has(a), `no peer-serialized case for ${a}`);
});

for (const peer of ['v1', 'v2'] as const)
test(`botocore-serialized (AWS CLI ${peer}) EBS and VPC requests parse into the typed union`, () => {
  assertBotocoreParses(cases, peer);
});

test('SDK v3-serialized EBS and VPC requests parse into the typed union', async () => {
  // SDK v3 (like the CLI's botocore client, not its bare serializer) adds DestinationRegion
  // (the client's region) and a PresignedUrl to CopySnapshot; the parser ignores PresignedUrl.
  await assertSdkParses(cases, (c) => (c.expected.action === 'CopySnapshot' ? { ...c.expected, destinationRegion: 'local-1' } : c.expected));
});

test('ModifyInstanceAttribute userData: botocore and SDK v3 base64 the blob; the parser decodes it', async () => {
  const [b] = botocore([{ kind: 'serialize', operation: 'ModifyInstanceAttribute', params: { InstanceId: I1, UserData: { Value: '#!/bin/sh\necho hi\n' } } }]) as Record<string, string>[];
  const fromBotocore = parseEc2Request(new Map(Object.entries(b!)));
  const fromSdk = parseEc2Request(parseForm(await sdkBodyFor('ModifyInstanceAttribute', { InstanceId: I1, UserData: { Value: new TextEncoder().encode('#!/bin/sh\necho hi\n') } })));
  for (const r of [fromBotocore, fromSdk]) {
    assert.equal(r.action, 'ModifyInstanceAttribute');
    if (r.action === 'ModifyInstanceAttribute') {
      assert.equal(r.change.attribute, 'userData');
      if (r.change.attribute === 'userData') assert.equal(r.change.value.toString(), '#!/bin/sh\necho hi\n');
    }
  }
});

test('EBS requests: EC2 error codes for bad input', () => {
  assert.equal(code(() => parse({ Action: 'CreateVolume', Size: '8' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', AvailabilityZoneId: 'loc1-az1', Size: '1' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', Size: '0' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', Size: '65537' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', Size: '8', VolumeType: 'gp4' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', Size: '8', Encrypted: 'yes' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', SnapshotId: 'snap-xyz' })), 'InvalidSnapshotID.Malformed');
  assert.equal(code(() => parse({ Action: 'CreateVolume', AvailabilityZone: 'local-1a', Size: '1', ClientToken: 'x'.repeat(65) })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeVolumes', 'VolumeId.1': 'vol-1' })), 'InvalidVolumeID.Malformed');
  assert.equal(code(() => parse({ Action: 'DescribeVolumes', 'VolumeId.1': 'i-12345678' })), 'InvalidVolumeID.Malformed');
  assert.equal(code(() => parse({ Action: 'DescribeVolumes', 'VolumeId.1': VOL, MaxResults: '5' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'DescribeVolumes', MaxResults: '4' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'AttachVolume', InstanceId: I1, VolumeId: VOL })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AttachVolume', Device: '/dev/sdf', InstanceId: 'i-1', VolumeId: VOL })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ Action: 'DetachVolume' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DeleteVolume', VolumeId: 'vol-zz' })), 'InvalidVolumeID.Malformed');
  assert.equal(code(() => parse({ Action: 'ModifyVolume', VolumeId: VOL, VolumeType: 'ssd' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateSnapshot' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateSnapshot', VolumeId: VOL, Description: 'd'.repeat(256) })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeSnapshots', 'SnapshotId.1': 'snap-1' })), 'InvalidSnapshotID.Malformed');
  assert.equal(code(() => parse({ Action: 'DeleteSnapshot', SnapshotId: VOL })), 'InvalidSnapshotID.Malformed');
  assert.equal(code(() => parse({ Action: 'CopySnapshot', SourceSnapshotId: SNAP })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ModifyEbsDefaultKmsKeyId' })), 'MissingParameter');
});

test('VPC requests: EC2 error codes for bad input', () => {
  assert.equal(code(() => parse({ Action: 'CreateVpc' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateVpc', CidrBlock: '10.0.0.0' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVpc', CidrBlock: '10.0.0.256/16' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateVpc', CidrBlock: '10.0.0.0/8' })), 'InvalidVpc.Range');
  assert.equal(code(() => parse({ Action: 'CreateVpc', CidrBlock: '10.0.0.0/29' })), 'InvalidVpc.Range');
  assert.equal(code(() => parse({ Action: 'CreateVpc', CidrBlock: '10.0.0.0/16', InstanceTenancy: 'shared' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeVpcs', 'VpcId.1': 'vpc-x' })), 'InvalidVpcID.Malformed');
  assert.equal(code(() => parse({ Action: 'DeleteVpc', VpcId: SUBNET })), 'InvalidVpcID.Malformed');
  assert.equal(code(() => parse({ Action: 'CreateSubnet', CidrBlock: '10.0.1.0/24' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateSubnet', VpcId: VPC, CidrBlock: '10.0.1.0/30' })), 'InvalidSubnet.Range');
  assert.equal(code(() => parse({ Action: 'CreateSubnet', VpcId: VPC, CidrBlock: 'ten' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeSubnets', 'SubnetId.1': 'subnet-1' })), 'InvalidSubnetID.Malformed');
  assert.equal(code(() => parse({ Action: 'CreateSecurityGroup', GroupName: 'x' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateSecurityGroup', GroupName: 'sg-web', GroupDescription: 'd' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateSecurityGroup', GroupName: 'web', GroupDescription: 'caf\u00e9' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateSecurityGroup', GroupName: 'web', GroupDescription: 'd', VpcId: 'vpc-1' })), 'InvalidVpcID.Malformed');
  assert.equal(code(() => parse({ Action: 'DescribeSecurityGroups', 'GroupId.1': 'sg-1' })), 'InvalidGroupId.Malformed');
  assert.equal(code(() => parse({ Action: 'DeleteSecurityGroup' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, 'IpPermissions.1.FromPort': '22' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, 'IpPermissions.1.IpProtocol': 'sctp' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, 'IpPermissions.1.IpProtocol': '256' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, 'IpPermissions.1.IpProtocol': 'tcp', 'IpPermissions.1.FromPort': '65536' })), 'InvalidParameterValue');
  assert.equal(
    code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, 'IpPermissions.1.IpProtocol': 'tcp', 'IpPermissions.1.IpRanges.1.CidrIp': '10.0.0.0/33' })),
    'InvalidParameterValue',
  );
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, CidrIp: '10.0.0.0/8' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, IpProtocol: 'tcp', CidrIp: '0.0.0.0/0', SourceSecurityGroupName: 'db' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupIngress', GroupId: SG, IpProtocol: 'tcp', 'IpPermissions.1.IpProtocol': 'tcp' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupEgress', 'IpPermissions.1.IpProtocol': 'tcp' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'AuthorizeSecurityGroupEgress', GroupId: 'web', 'IpPermissions.1.IpProtocol': 'tcp' })), 'InvalidGroupId.Malformed');
  assert.equal(code(() => parse({ Action: 'RevokeSecurityGroupEgress', GroupId: SG })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DescribeNetworkInterfaces', 'NetworkInterfaceId.1': 'eni-1' })), 'InvalidNetworkInterfaceID.Malformed');
  assert.equal(code(() => parse({ Action: 'DescribeNetworkInterfaces', 'NetworkInterfaceId.1': ENI, MaxResults: '5' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'ModifyNetworkInterfaceAttribute', NetworkInterfaceId: ENI })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ModifyNetworkInterfaceAttribute', NetworkInterfaceId: ENI, 'SourceDestCheck.Value': 'no' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ModifyNetworkInterfaceAttribute', NetworkInterfaceId: ENI, 'SecurityGroupId.1': 'sg-x' })), 'InvalidGroupId.Malformed');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1 })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, 'SourceDestCheck.Value': 'false', 'GroupId.1': SG })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, Attribute: 'sourceDestCheck', Value: 'false', 'GroupId.1': SG })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, Attribute: 'rootDeviceName', Value: '/dev/xvda' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, Attribute: 'sourceDestCheck' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, 'InstanceInitiatedShutdownBehavior.Value': 'hibernate' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceMetadataOptions', InstanceId: I1, HttpPutResponseHopLimit: '65' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceMetadataOptions', InstanceId: I1, HttpTokens: 'sometimes' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ModifyInstanceMetadataOptions' })), 'MissingParameter');
});

test('the Attribute/Value form of ModifyInstanceAttribute', () => {
  assert.deepEqual(parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, Attribute: 'sourceDestCheck', Value: 'false' }), {
    action: 'ModifyInstanceAttribute',
    dryRun: false,
    instanceId: I1,
    change: { attribute: 'sourceDestCheck', value: false },
  });
  assert.deepEqual(parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, Attribute: 'groupSet', 'GroupId.1': SG }), {
    action: 'ModifyInstanceAttribute',
    dryRun: false,
    instanceId: I1,
    change: { attribute: 'groupSet', groupIds: [SG] },
  });
  assert.deepEqual(parse({ Action: 'ModifyInstanceAttribute', InstanceId: I1, 'DisableApiTermination.Value': 'true' }).action, 'ModifyInstanceAttribute');
});

test('parseIpv4Cidr', () => {
  assert.deepEqual(parseIpv4Cidr('172.31.0.0/16'), { address: 0xac1f0000, prefix: 16 });
  assert.deepEqual(parseIpv4Cidr('255.255.255.255/32'), { address: 0xffffffff, prefix: 32 });
  for (const bad of ['10.0.0/16', '10.0.0.0/33', '10.0.0.0/', '010.0.0.0/16', '10.0.0.0/08', ' 10.0.0.0/16', '1.2.3.4']) assert.equal(parseIpv4Cidr(bad), undefined, bad);
});

test('every mutating EBS/VPC action is in EC2_MUTATING_ACTIONS, and no read-only one', () => {
  for (const a of EC2_ACTIONS) {
    const readOnly = /^(Describe|Get)/.test(a);
    assert.equal(EC2_MUTATING_ACTIONS.has(a), !readOnly, a);
  }
});

test('ec2NotFound: EC2 codes and messages, not-found kind; conflict codes are conflicts', async () => {
  const { ec2NotFound, Ec2Error: E } = await import('./errors.js');
  const e = ec2NotFound('volume', VOL);
  assert.equal(e.code, 'InvalidVolume.NotFound');
  assert.equal(e.message, `The volume '${VOL}' does not exist.`);
  assert.equal(e.httpStatus, 400);
  assert.equal(e.kind, 'not-found');
  assert.equal(ec2NotFound('security-group', SG).code, 'InvalidGroup.NotFound');
  assert.equal(ec2NotFound('network-interface', ENI).code, 'InvalidNetworkInterfaceID.NotFound');
  assert.equal(ec2NotFound('vpc', VPC).code, 'InvalidVpcID.NotFound');
  assert.equal(ec2NotFound('subnet', SUBNET).code, 'InvalidSubnetID.NotFound');
  assert.equal(ec2NotFound('snapshot', SNAP).code, 'InvalidSnapshot.NotFound');
  for (const c of ['VolumeInUse', 'DependencyViolation', 'InvalidGroup.Duplicate', 'InvalidPermission.Duplicate', 'InvalidIPAddress.InUse']) assert.equal(new E(c, 'x').kind, 'conflict', c);
});

test('RunInstances BlockDeviceMappings (every EBS member) and NetworkInterfaces, from botocore (both CLIs) and SDK v3', async () => {
  const params = {
    ImageId: 'ami-0123456789abcdef0',
    MinCount: 1,
    MaxCount: 1,
    BlockDeviceMappings: [
      { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, VolumeType: 'gp3', DeleteOnTermination: true, Encrypted: true, KmsKeyId: KEY, Iops: 3000, Throughput: 125 } },
      { DeviceName: '/dev/sdf', Ebs: { SnapshotId: SNAP, VolumeType: 'io2', Iops: 1000, DeleteOnTermination: false } },
      { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
    ],
    NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: SUBNET, Groups: [SG, SG2], PrivateIpAddress: '10.0.1.5', AssociatePublicIpAddress: false, DeleteOnTermination: true }],
  };
  const expectedBdm = [
    { deviceName: '/dev/xvda', virtualName: undefined, noDevice: false, ebs: { volumeSize: 8, volumeType: 'gp3', snapshotId: undefined, deleteOnTermination: true, encrypted: true, kmsKeyId: KEY, iops: 3000, throughput: 125 } },
    { deviceName: '/dev/sdf', virtualName: undefined, noDevice: false, ebs: { volumeSize: undefined, volumeType: 'io2', snapshotId: SNAP, deleteOnTermination: false, encrypted: undefined, kmsKeyId: undefined, iops: 1000, throughput: undefined } },
    { deviceName: '/dev/sdb', virtualName: 'ephemeral0', noDevice: false, ebs: undefined },
  ];
  const expectedEni = [
    { deviceIndex: 0, subnetId: SUBNET, groups: [SG, SG2], privateIpAddress: '10.0.1.5', description: undefined, deleteOnTermination: true, associatePublicIpAddress: false },
  ];
  const bodies: Ec2Request[] = [];
  for (const peer of ['v1', 'v2'] as const) {
    const [b] = botocore([{ kind: 'serialize', operation: 'RunInstances', params }], peer) as Record<string, string>[];
    bodies.push(parseEc2Request(new Map(Object.entries(b!))));
  }
  bodies.push(parseEc2Request(parseForm(await sdkBodyFor('RunInstances', params))));
  for (const r of bodies) {
    assert.equal(r.action, 'RunInstances');
    if (r.action !== 'RunInstances') continue;
    assert.deepEqual(r.blockDeviceMappings, expectedBdm);
    assert.deepEqual(r.networkInterfaces, expectedEni);
  }
  assert.equal(
    code(() => parse({ Action: 'RunInstances', ImageId: 'ami-12345678', MinCount: '1', MaxCount: '1', 'BlockDeviceMapping.1.DeviceName': '/dev/sdf', 'BlockDeviceMapping.1.Ebs.SnapshotId': 'snap-x' })),
    'InvalidSnapshotID.Malformed',
  );
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: 'ami-12345678', MinCount: '1', MaxCount: '1', 'NetworkInterface.1.SubnetId': 'subnet-x' })), 'InvalidSubnetID.Malformed');
});
