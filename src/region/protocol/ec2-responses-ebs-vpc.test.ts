// The EBS and VPC responses as the real peers read them: botocore's EC2 parser (both AWS CLIs)
// and SDK v3's deserializer. Expected values are written out for AWS CLI v1 (the newest model);
// SDK v3 must read exactly the same, and awscli 2.9's older model a subset of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '@aws-sdk/client-ec2';
import { renderEc2Response, type Ec2Response, type Ec2Instance, type Volume, type Snapshot, type SecurityGroup, type NetworkInterface, type IpPermission } from './ec2/responses/index.js';
import { botocore } from './botocore-peer.test-helper.js';
import { testInstance, testInstanceEni } from './ec2-records.test-helper.js';
import { sdkAnswering } from './ec2-wire.test-helper.js';

const T = new Date('2026-01-02T03:04:05.678Z');
const TS = '2026-01-02T03:04:05.678000+00:00';
const I1 = 'i-0123456789abcdef0';
const VOL = 'vol-0123456789abcdef0';
const SNAP = 'snap-0123456789abcdef0';
const VPC = 'vpc-0123456789abcdef0';
const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const ENI = 'eni-0123456789abcdef0';
const OWNER = '123456789012';
const KEY = 'arn:aws:kms:local-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const attachment = { volumeId: VOL, instanceId: I1, device: '/dev/sdf', state: 'attached', attachTime: T, deleteOnTermination: false } as const;
const volume: Volume = {
  volumeId: VOL,
  size: 8,
  availabilityZone: 'local-1a',
  state: 'in-use',
  createTime: T,
  attachments: [attachment],
  volumeType: 'gp3',
  iops: 3000,
  throughput: 125,
  encrypted: true,
  kmsKeyId: KEY,
  multiAttachEnabled: false,
  tags: [{ key: 'Name', value: 'data' }],
};
const bareVolume: Volume = { ...volume, volumeId: 'vol-12345678', state: 'available', attachments: [], encrypted: false, kmsKeyId: undefined, iops: undefined, throughput: undefined, volumeType: 'gp2', tags: [] };
const snapshot: Snapshot = {
  snapshotId: SNAP,
  volumeId: VOL,
  state: 'completed',
  startTime: T,
  progress: '100%',
  ownerId: OWNER,
  description: 'nightly',
  volumeSize: 8,
  encrypted: true,
  kmsKeyId: KEY,
  storageTier: 'standard',
  tags: [],
};
const sshRule: IpPermission = { ipProtocol: 'tcp', fromPort: 22, toPort: 22, userIdGroupPairs: [], ipRanges: [{ cidrIp: '10.0.0.0/8', description: 'ssh' }], ipv6Ranges: [], prefixListIds: [] };
const allFromGroup: IpPermission = { ipProtocol: '-1', userIdGroupPairs: [{ userId: OWNER, groupId: SG }], ipRanges: [], ipv6Ranges: [], prefixListIds: [] };
const allOut: IpPermission = { ipProtocol: '-1', userIdGroupPairs: [], ipRanges: [{ cidrIp: '0.0.0.0/0' }], ipv6Ranges: [], prefixListIds: [] };
const group: SecurityGroup = {
  groupId: SG,
  groupName: 'default',
  description: 'default VPC security group',
  ownerId: OWNER,
  vpcId: VPC,
  ipPermissions: [allFromGroup, sshRule],
  ipPermissionsEgress: [allOut],
  securityGroupArn: `arn:aws:ec2:local-1:${OWNER}:security-group/${SG}`,
  tags: [],
};
const eni: NetworkInterface = {
  networkInterfaceId: ENI,
  subnetId: SUBNET,
  vpcId: VPC,
  availabilityZone: 'local-1a',
  description: '',
  ownerId: OWNER,
  requesterManaged: false,
  status: 'in-use',
  macAddress: '02:00:0a:00:01:05',
  privateIpAddress: '10.0.1.5',
  privateDnsName: 'ip-10-0-1-5.local-1.compute.internal',
  sourceDestCheck: true,
  groups: [{ groupId: SG, groupName: 'default' }],
  attachment: { attachmentId: 'eni-attach-0123456789abcdef0', instanceId: I1, instanceOwnerId: OWNER, deviceIndex: 0, networkCardIndex: 0, status: 'attached', attachTime: T, deleteOnTermination: true },
  privateIpAddresses: [{ privateIpAddress: '10.0.1.5', privateDnsName: 'ip-10-0-1-5.local-1.compute.internal', primary: true }],
  interfaceType: 'interface',
  tags: [],
};
const metadataOptions = { state: 'applied', httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' } as const;
const instance: Ec2Instance = testInstance(T, {
  privateDnsName: 'ip-10-0-1-5.local-1.compute.internal',
  subnetId: SUBNET,
  vpcId: VPC,
  privateIpAddress: '10.0.1.5',
  sourceDestCheck: true,
  securityGroups: [{ groupId: SG, groupName: 'default' }],
  rootDeviceName: '/dev/xvda',
  blockDeviceMappings: [
    { deviceName: '/dev/xvda', ebs: { volumeId: 'vol-12345678', status: 'attached', attachTime: T, deleteOnTermination: true } },
    { deviceName: '/dev/sdf', ebs: { volumeId: VOL, status: 'attached', attachTime: T, deleteOnTermination: false } },
  ],
  metadataOptions,
  networkInterfaces: [
    testInstanceEni(T, '10.0.1.5', {
      macAddress: '02:00:0a:00:01:05',
      privateDnsName: 'ip-10-0-1-5.local-1.compute.internal',
      groups: [{ groupId: SG, groupName: 'default' }],
    }),
  ],
});

const responses: { readonly response: Ec2Response; readonly input: Record<string, unknown>; readonly expected: Record<string, unknown> }[] = [];
const add = (response: Ec2Response, expected: Record<string, unknown>, input: Record<string, unknown> = {}): void => void responses.push({ response, input, expected });

const VOLUME_OUT = {
  VolumeId: VOL,
  Size: 8,
  SnapshotId: '',
  AvailabilityZone: 'local-1a',
  State: 'in-use',
  CreateTime: TS,
  Attachments: [{ VolumeId: VOL, InstanceId: I1, Device: '/dev/sdf', State: 'attached', AttachTime: TS, DeleteOnTermination: false }],
  Tags: [{ Key: 'Name', Value: 'data' }],
  VolumeType: 'gp3',
  Iops: 3000,
  Throughput: 125,
  Encrypted: true,
  KmsKeyId: KEY,
  MultiAttachEnabled: false,
};
const SNAPSHOT_OUT = {
  SnapshotId: SNAP,
  VolumeId: VOL,
  State: 'completed',
  StartTime: TS,
  Progress: '100%',
  OwnerId: OWNER,
  VolumeSize: 8,
  Description: 'nightly',
  Encrypted: true,
  KmsKeyId: KEY,
  StorageTier: 'standard',
};

add({ action: 'CreateVolume', volume }, VOLUME_OUT, { AvailabilityZone: 'local-1a', Size: 8 });
add(
  { action: 'DescribeVolumes', volumes: [volume, bareVolume], nextToken: 'nt' },
  {
    Volumes: [
      VOLUME_OUT,
      { VolumeId: 'vol-12345678', Size: 8, SnapshotId: '', AvailabilityZone: 'local-1a', State: 'available', CreateTime: TS, Attachments: [], VolumeType: 'gp2', Encrypted: false, MultiAttachEnabled: false },
    ],
    NextToken: 'nt',
  },
);
add({ action: 'AttachVolume', attachment: { ...attachment, state: 'attaching' } }, { VolumeId: VOL, InstanceId: I1, Device: '/dev/sdf', State: 'attaching', AttachTime: TS, DeleteOnTermination: false }, { Device: '/dev/sdf', InstanceId: I1, VolumeId: VOL });
add({ action: 'DetachVolume', attachment: { ...attachment, state: 'detaching' } }, { VolumeId: VOL, InstanceId: I1, Device: '/dev/sdf', State: 'detaching', AttachTime: TS, DeleteOnTermination: false }, { VolumeId: VOL });
add({ action: 'DeleteVolume' }, {}, { VolumeId: VOL });
add(
  {
    action: 'ModifyVolume',
    modification: { volumeId: VOL, modificationState: 'optimizing', targetSize: 16, targetVolumeType: 'gp3', targetIops: 3000, targetThroughput: 125, originalSize: 8, originalVolumeType: 'gp3', originalIops: 3000, originalThroughput: 125, progress: 50, startTime: T },
  },
  {
    VolumeModification: {
      VolumeId: VOL,
      ModificationState: 'optimizing',
      TargetSize: 16,
      TargetIops: 3000,
      TargetVolumeType: 'gp3',
      TargetThroughput: 125,
      OriginalSize: 8,
      OriginalIops: 3000,
      OriginalVolumeType: 'gp3',
      OriginalThroughput: 125,
      Progress: 50,
      StartTime: TS,
    },
  },
  { VolumeId: VOL, Size: 16 },
);
add({ action: 'CreateSnapshot', snapshot: { ...snapshot, state: 'pending', progress: '0%' } }, { ...SNAPSHOT_OUT, State: 'pending', Progress: '0%' }, { VolumeId: VOL });
add({ action: 'DescribeSnapshots', snapshots: [snapshot] }, { Snapshots: [SNAPSHOT_OUT] });
add({ action: 'DeleteSnapshot' }, {}, { SnapshotId: SNAP });
add({ action: 'CopySnapshot', snapshotId: 'snap-12345678', tags: [{ key: 'k', value: 'v' }] }, { SnapshotId: 'snap-12345678', Tags: [{ Key: 'k', Value: 'v' }] }, { SourceSnapshotId: SNAP, SourceRegion: 'local-1' });
add({ action: 'EnableEbsEncryptionByDefault', ebsEncryptionByDefault: true }, { EbsEncryptionByDefault: true });
add({ action: 'DisableEbsEncryptionByDefault', ebsEncryptionByDefault: false }, { EbsEncryptionByDefault: false });
add({ action: 'GetEbsEncryptionByDefault', ebsEncryptionByDefault: true }, { EbsEncryptionByDefault: true });
add({ action: 'GetEbsDefaultKmsKeyId', kmsKeyId: KEY }, { KmsKeyId: KEY });
add({ action: 'ModifyEbsDefaultKmsKeyId', kmsKeyId: KEY }, { KmsKeyId: KEY }, { KmsKeyId: KEY });
add({ action: 'ResetEbsDefaultKmsKeyId', kmsKeyId: KEY }, { KmsKeyId: KEY });

const vpc = {
  vpcId: VPC,
  state: 'available',
  cidrBlock: '10.0.0.0/16',
  dhcpOptionsId: 'dopt-12345678',
  instanceTenancy: 'default',
  isDefault: false,
  ownerId: OWNER,
  cidrBlockAssociations: [{ associationId: 'vpc-cidr-assoc-12345678', cidrBlock: '10.0.0.0/16', state: 'associated' }],
  tags: [{ key: 'Name', value: 'main' }],
} as const;
const VPC_OUT = {
  VpcId: VPC,
  OwnerId: OWNER,
  State: 'available',
  CidrBlock: '10.0.0.0/16',
  CidrBlockAssociationSet: [{ CidrBlock: '10.0.0.0/16', AssociationId: 'vpc-cidr-assoc-12345678', CidrBlockState: { State: 'associated' } }],
  DhcpOptionsId: 'dopt-12345678',
  Tags: [{ Key: 'Name', Value: 'main' }],
  InstanceTenancy: 'default',
  IsDefault: false,
};
add({ action: 'CreateVpc', vpc }, { Vpc: VPC_OUT }, { CidrBlock: '10.0.0.0/16' });
add({ action: 'DescribeVpcs', vpcs: [vpc] }, { Vpcs: [VPC_OUT] });
add({ action: 'DeleteVpc' }, {}, { VpcId: VPC });
const subnet = {
  subnetId: SUBNET,
  state: 'available',
  vpcId: VPC,
  cidrBlock: '10.0.1.0/24',
  availableIpAddressCount: 250,
  availabilityZone: 'local-1a',
  availabilityZoneId: 'loc1-az1',
  defaultForAz: false,
  mapPublicIpOnLaunch: false,
  ownerId: OWNER,
  subnetArn: `arn:aws:ec2:local-1:${OWNER}:subnet/${SUBNET}`,
  tags: [],
} as const;
const SUBNET_OUT = {
  SubnetId: SUBNET,
  SubnetArn: `arn:aws:ec2:local-1:${OWNER}:subnet/${SUBNET}`,
  State: 'available',
  OwnerId: OWNER,
  VpcId: VPC,
  CidrBlock: '10.0.1.0/24',
  Ipv6CidrBlockAssociationSet: [],
  AvailableIpAddressCount: 250,
  AvailabilityZone: 'local-1a',
  AvailabilityZoneId: 'loc1-az1',
  DefaultForAz: false,
  MapPublicIpOnLaunch: false,
  MapCustomerOwnedIpOnLaunch: false,
  AssignIpv6AddressOnCreation: false,
  EnableDns64: false,
  Ipv6Native: false,
  PrivateDnsNameOptionsOnLaunch: { HostnameType: 'ip-name', EnableResourceNameDnsARecord: false, EnableResourceNameDnsAAAARecord: false },
};
add({ action: 'CreateSubnet', subnet }, { Subnet: SUBNET_OUT }, { VpcId: VPC, CidrBlock: '10.0.1.0/24' });
add({ action: 'DescribeSubnets', subnets: [subnet], nextToken: 'n2' }, { Subnets: [SUBNET_OUT], NextToken: 'n2' });
add({ action: 'DeleteSubnet' }, {}, { SubnetId: SUBNET });
add({ action: 'CreateSecurityGroup', groupId: SG, tags: [{ key: 'Name', value: 'web' }] }, { GroupId: SG, Tags: [{ Key: 'Name', Value: 'web' }] }, { GroupName: 'web', Description: 'd' });
const PERM_OUT = (p: { proto: string; from?: number; to?: number; groups?: unknown[]; ranges?: unknown[] }) => ({
  IpProtocol: p.proto,
  ...(p.from === undefined ? {} : { FromPort: p.from, ToPort: p.to }),
  UserIdGroupPairs: p.groups ?? [],
  IpRanges: p.ranges ?? [],
  Ipv6Ranges: [],
  PrefixListIds: [],
});
add(
  { action: 'DescribeSecurityGroups', securityGroups: [group] },
  {
    SecurityGroups: [
      {
        OwnerId: OWNER,
        GroupId: SG,
        GroupName: 'default',
        Description: 'default VPC security group',
        IpPermissions: [PERM_OUT({ proto: '-1', groups: [{ UserId: OWNER, GroupId: SG }] }), PERM_OUT({ proto: 'tcp', from: 22, to: 22, ranges: [{ CidrIp: '10.0.0.0/8', Description: 'ssh' }] })],
        IpPermissionsEgress: [PERM_OUT({ proto: '-1', ranges: [{ CidrIp: '0.0.0.0/0' }] })],
        VpcId: VPC,
        SecurityGroupArn: `arn:aws:ec2:local-1:${OWNER}:security-group/${SG}`,
      },
    ],
  },
);
add({ action: 'DeleteSecurityGroup', groupId: SG }, { Return: true, GroupId: SG }, { GroupId: SG });
const rule = { securityGroupRuleId: 'sgr-0123456789abcdef0', groupId: SG, groupOwnerId: OWNER, isEgress: false, ipProtocol: 'tcp', fromPort: 80, toPort: 80, cidrIpv4: '0.0.0.0/0', tags: [] };
const RULE_OUT = { SecurityGroupRuleId: 'sgr-0123456789abcdef0', GroupId: SG, GroupOwnerId: OWNER, IsEgress: false, IpProtocol: 'tcp', FromPort: 80, ToPort: 80, CidrIpv4: '0.0.0.0/0' };
add({ action: 'AuthorizeSecurityGroupIngress', rules: [rule] }, { Return: true, SecurityGroupRules: [RULE_OUT] }, { GroupId: SG });
add(
  { action: 'AuthorizeSecurityGroupEgress', rules: [{ ...rule, isEgress: true, ipProtocol: '-1', fromPort: -1, toPort: -1, cidrIpv4: undefined, referencedGroupInfo: { groupId: SG, userId: OWNER } }] },
  { Return: true, SecurityGroupRules: [{ ...RULE_OUT, IsEgress: true, IpProtocol: '-1', FromPort: -1, ToPort: -1, CidrIpv4: undefined, ReferencedGroupInfo: { GroupId: SG, UserId: OWNER } }] },
  { GroupId: SG },
);
add({ action: 'RevokeSecurityGroupIngress' }, { Return: true }, { GroupId: SG });
add({ action: 'RevokeSecurityGroupEgress', unknownIpPermissions: [sshRule] }, { Return: true, UnknownIpPermissions: [PERM_OUT({ proto: 'tcp', from: 22, to: 22, ranges: [{ CidrIp: '10.0.0.0/8', Description: 'ssh' }] })] }, { GroupId: SG });
const ENI_OUT = {
  NetworkInterfaceId: ENI,
  SubnetId: SUBNET,
  VpcId: VPC,
  AvailabilityZone: 'local-1a',
  Description: '',
  OwnerId: OWNER,
  RequesterManaged: false,
  Status: 'in-use',
  MacAddress: '02:00:0a:00:01:05',
  PrivateIpAddress: '10.0.1.5',
  PrivateDnsName: 'ip-10-0-1-5.local-1.compute.internal',
  SourceDestCheck: true,
  Groups: [{ GroupId: SG, GroupName: 'default' }],
  Attachment: { AttachmentId: 'eni-attach-0123456789abcdef0', InstanceId: I1, InstanceOwnerId: OWNER, DeviceIndex: 0, NetworkCardIndex: 0, Status: 'attached', AttachTime: TS, DeleteOnTermination: true },
  TagSet: [],
  PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.5', PrivateDnsName: 'ip-10-0-1-5.local-1.compute.internal', Primary: true }],
  Ipv6Addresses: [],
  InterfaceType: 'interface',
};
add({ action: 'DescribeNetworkInterfaces', networkInterfaces: [eni] }, { NetworkInterfaces: [ENI_OUT] });
add({ action: 'ModifyNetworkInterfaceAttribute' }, {}, { NetworkInterfaceId: ENI });
add({ action: 'ModifyInstanceAttribute' }, {}, { InstanceId: I1 });
add(
  { action: 'ModifyInstanceMetadataOptions', instanceId: I1, metadataOptions: { ...metadataOptions, state: 'pending' } },
  {
    InstanceId: I1,
    InstanceMetadataOptions: { State: 'pending', HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled', HttpProtocolIpv6: 'disabled', InstanceMetadataTags: 'disabled' },
  },
  { InstanceId: I1 },
);

/** Drops undefined members (written above for readability) so deepEqual compares what parsers produce. */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clean);
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, clean(x)]));
  }
  return v;
}

/** Every member of `sub` is in `sup` with the same value (an older model reads fewer members). */
function assertSubset(sub: unknown, sup: unknown, path: string): void {
  if (Array.isArray(sub)) {
    assert.ok(Array.isArray(sup), path);
    assert.equal(sub.length, (sup as unknown[]).length, path);
    sub.forEach((x, i) => assertSubset(x, (sup as unknown[])[i], `${path}[${i}]`));
  } else if (sub !== null && typeof sub === 'object') {
    for (const [k, x] of Object.entries(sub)) assertSubset(x, (sup as Record<string, unknown>)[k], `${path}.${k}`);
  } else {
    assert.equal(sub, sup, path);
  }
}

let v1: Record<string, unknown>[] | undefined;

test("botocore's EC2 parser (AWS CLI v1) reads every EBS/VPC response as EC2's output shapes", () => {
  v1 = botocore(responses.map((r) => ({ kind: 'parse' as const, operation: r.response.action, body: renderEc2Response('req-1', r.response) })), 'v1') as Record<string, unknown>[];
  responses.forEach((r, i) => assert.deepEqual(v1![i], clean(r.expected), r.response.action));
});

test("awscli 2.9's botocore (older model) reads a subset of the same, with the key members", () => {
  const v2 = botocore(responses.map((r) => ({ kind: 'parse' as const, operation: r.response.action, body: renderEc2Response('req-1', r.response) })), 'v2') as Record<string, unknown>[];
  responses.forEach((r, i) => assertSubset(v2[i], clean(r.expected), r.response.action));
  const byAction = (a: string): Record<string, any> => v2[responses.findIndex((r) => r.response.action === a)] as Record<string, any>;
  assert.equal(byAction('DescribeVolumes')['Volumes'][0]['Attachments'][0]['State'], 'attached');
  assert.equal(byAction('DescribeSecurityGroups')['SecurityGroups'][0]['IpPermissions'][1]['IpRanges'][0]['CidrIp'], '10.0.0.0/8');
  assert.equal(byAction('DescribeNetworkInterfaces')['NetworkInterfaces'][0]['MacAddress'], '02:00:0a:00:01:05');
  assert.equal(byAction('CreateVpc')['Vpc']['CidrBlock'], '10.0.0.0/16');
  assert.equal(byAction('GetEbsEncryptionByDefault')['EbsEncryptionByDefault'], true);
});

/** SDK v3 output with Dates as botocore's isoformat strings, $metadata dropped. */
function sdkNormal(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace(/Z$/, '000+00:00');
  if (Array.isArray(v)) return v.map(sdkNormal);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k, x]) => k !== '$metadata' && x !== undefined).map(([k, x]) => [k, sdkNormal(x)]));
  return v;
}

test("SDK v3's deserializer reads every EBS/VPC response exactly as botocore does", async () => {
  for (const r of responses) {
    const client = sdkAnswering(200, renderEc2Response('req-1', r.response), 'req-1');
    const Command = (sdk as unknown as Record<string, new (input: unknown) => never>)[`${r.response.action}Command`]!;
    const out = await client.send(new Command(r.input));
    client.destroy();
    assert.deepEqual(sdkNormal(out), clean(r.expected), r.response.action);
  }
});

test("an instance's VPC members and ENI (networkInterfaceSet) as botocore and SDK v3 read them", async () => {
  const body = renderEc2Response('req-1', { action: 'DescribeInstances', reservations: [{ reservationId: 'r-12345678', ownerId: OWNER, groups: [], instances: [instance] }] });
  for (const peer of ['v1', 'v2'] as const) {
    const [parsed] = botocore([{ kind: 'parse', operation: 'DescribeInstances', body }], peer) as Record<string, any>[];
    const i = parsed!['Reservations'][0]['Instances'][0];
    assert.equal(i['VpcId'], VPC);
    assert.equal(i['SubnetId'], SUBNET);
    assert.equal(i['PrivateIpAddress'], '10.0.1.5');
    assert.equal(i['SourceDestCheck'], true);
    assert.deepEqual(i['SecurityGroups'], [{ GroupId: SG, GroupName: 'default' }]);
    assert.deepEqual(i['BlockDeviceMappings'], [
      { DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-12345678', Status: 'attached', AttachTime: TS, DeleteOnTermination: true } },
      { DeviceName: '/dev/sdf', Ebs: { VolumeId: VOL, Status: 'attached', AttachTime: TS, DeleteOnTermination: false } },
    ]);
    const n = i['NetworkInterfaces'][0];
    assertSubset(
      {
        NetworkInterfaceId: ENI,
        SubnetId: SUBNET,
        VpcId: VPC,
        Description: '',
        OwnerId: OWNER,
        Status: 'in-use',
        MacAddress: '02:00:0a:00:01:05',
        PrivateIpAddress: '10.0.1.5',
        PrivateDnsName: 'ip-10-0-1-5.local-1.compute.internal',
        SourceDestCheck: true,
        Groups: [{ GroupId: SG, GroupName: 'default' }],
        Attachment: { AttachmentId: 'eni-attach-0123456789abcdef0', DeviceIndex: 0, Status: 'attached', AttachTime: TS, DeleteOnTermination: true },
        PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.5', Primary: true }],
        Ipv6Addresses: [],
      },
      n,
      `${peer} ENI`,
    );
    assert.equal(n['InterfaceType'], 'interface');
  }
  const client = sdkAnswering(200, body, 'req-1');
  const out = await client.send(new sdk.DescribeInstancesCommand({}));
  client.destroy();
  const i = out.Reservations?.[0]?.Instances?.[0];
  assert.equal(i?.NetworkInterfaces?.[0]?.MacAddress, '02:00:0a:00:01:05');
  assert.equal(i?.NetworkInterfaces?.[0]?.Attachment?.DeviceIndex, 0);
  assert.equal(i?.NetworkInterfaces?.[0]?.PrivateIpAddresses?.[0]?.Primary, true);
  assert.equal(i?.BlockDeviceMappings?.[1]?.Ebs?.VolumeId, VOL);
  assert.equal(i?.SubnetId, SUBNET);
});
