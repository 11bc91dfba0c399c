import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunInstancesCommand, DescribeInstancesCommand, CreateTagsCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { parseEc2Request, type Ec2Request } from './ec2/requests/index.js';
import { parseForm } from './query.js';
import { botocore } from './botocore-peer.test-helper.js';
import { parse, code, sdkBody } from './ec2-wire.test-helper.js';

const I1 = 'i-0123456789abcdef0';
const I2 = 'i-1234abcd';
const AMI = 'ami-0123456789abcdef0';

for (const peer of ['v1', 'v2'] as const)
test(`botocore-serialized (AWS CLI ${peer}) requests parse into the typed union`, () => {
  const jobs = [
    {
      operation: 'RunInstances',
      params: {
        ImageId: AMI,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 3,
        UserData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
        ClientToken: 'tok-1',
        SubnetId: 'subnet-12345678',
        SecurityGroupIds: ['sg-12345678', 'sg-87654321'],
        SecurityGroups: ['default'],
        PrivateIpAddress: '10.0.0.5',
        KeyName: 'k',
        DryRun: true,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }, { Key: 'env', Value: '' }] },
          { ResourceType: 'volume', Tags: [{ Key: 'a', Value: 'b' }] },
        ],
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, VolumeType: 'gp3', DeleteOnTermination: true } }, { DeviceName: '/dev/xvdb', NoDevice: '' }],
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled' },
        Monitoring: { Enabled: false },
        Placement: { AvailabilityZone: 'local-1a' },
        InstanceInitiatedShutdownBehavior: 'stop',
      },
    },
    {
      operation: 'DescribeInstances',
      params: { Filters: [{ Name: 'instance-state-name', Values: ['running', 'pending'] }, { Name: 'tag:Name', Values: ['web'] }], MaxResults: 5, NextToken: 'abc' },
    },
    { operation: 'DescribeInstances', params: { InstanceIds: [I1, I2] } },
    { operation: 'DescribeInstanceStatus', params: { InstanceIds: [I1], IncludeAllInstances: true } },
    { operation: 'StartInstances', params: { InstanceIds: [I1] } },
    { operation: 'StopInstances', params: { InstanceIds: [I1, I2], Force: true } },
    { operation: 'RebootInstances', params: { InstanceIds: [I1] } },
    { operation: 'TerminateInstances', params: { InstanceIds: [I1], DryRun: false } },
    { operation: 'GetConsoleOutput', params: { InstanceId: I1, Latest: true } },
    { operation: 'DescribeImages', params: { ImageIds: [AMI], Owners: ['self'], ExecutableUsers: ['all'], Filters: [{ Name: 'name', Values: ['nitride-minimal'] }] } },
    {
      operation: 'RegisterImage',
      params: {
        Name: 'my-image (1)',
        Description: 'kernel+initrd',
        KernelId: 'aki-12345678',
        RamdiskId: 'ari-12345678',
        Architecture: 'x86_64',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 2 } }],
        TpmSupport: 'v2.0',
        BootMode: 'uefi',
        ImageLocation: 'file:///x',
        VirtualizationType: 'hvm',
      },
    },
    { operation: 'DeregisterImage', params: { ImageId: AMI } },
    { operation: 'DescribeInstanceTypes', params: { InstanceTypes: ['t3.micro', 'm5.large'], Filters: [{ Name: 'vcpu-info.default-vcpus', Values: ['2'] }], MaxResults: 5 } },
    { operation: 'CreateTags', params: { Resources: [I1, AMI], Tags: [{ Key: 'k', Value: 'v' }] } },
    { operation: 'DeleteTags', params: { Resources: [I1], Tags: [{ Key: 'k' }, { Key: 'j', Value: 'x' }] } },
    { operation: 'DescribeTags', params: { Filters: [{ Name: 'resource-id', Values: [I1] }], MaxResults: 10 } },
    { operation: 'DescribeRegions', params: { RegionNames: ['local-1'], AllRegions: true } },
    { operation: 'DescribeAvailabilityZones', params: { ZoneNames: ['local-1a'], ZoneIds: ['loc1-az1'], AllAvailabilityZones: false } },
  ];
  const bodies = botocore(jobs.map((j) => ({ kind: 'serialize' as const, ...j })), peer) as Record<string, string>[];
  const parsed = bodies.map((b) => parseEc2Request(new Map(Object.entries(b))));
  const byIndex = (i: number): Ec2Request => parsed[i] as Ec2Request;

  const run = byIndex(0);
  assert.equal(run.action, 'RunInstances');
  if (run.action !== 'RunInstances') return;
  assert.equal(run.imageId, AMI);
  assert.equal(run.instanceType, 't3.micro');
  assert.equal(run.minCount, 1);
  assert.equal(run.maxCount, 3);
  assert.equal(run.userData?.toString(), '#!/bin/sh\necho hi\n');
  assert.equal(run.clientToken, 'tok-1');
  assert.equal(run.subnetId, 'subnet-12345678');
  assert.deepEqual(run.securityGroupIds, ['sg-12345678', 'sg-87654321']);
  assert.deepEqual(run.securityGroups, ['default']);
  assert.equal(run.privateIpAddress, '10.0.0.5');
  assert.equal(run.keyName, 'k');
  assert.equal(run.dryRun, true);
  assert.deepEqual(run.tagSpecifications, [
    { resourceType: 'instance', tags: [{ key: 'Name', value: 'web' }, { key: 'env', value: '' }] },
    { resourceType: 'volume', tags: [{ key: 'a', value: 'b' }] },
  ]);
  assert.equal(run.blockDeviceMappings.length, 2);
  assert.equal(run.blockDeviceMappings[0]?.ebs?.volumeSize, 8);
  assert.equal(run.blockDeviceMappings[0]?.ebs?.volumeType, 'gp3');
  assert.equal(run.blockDeviceMappings[0]?.ebs?.deleteOnTermination, true);
  assert.equal(run.blockDeviceMappings[1]?.noDevice, true);
  assert.equal(run.metadataOptions?.httpTokens, 'required');
  assert.equal(run.metadataOptions?.httpPutResponseHopLimit, 2);
  assert.equal(run.monitoringEnabled, false);
  assert.equal(run.availabilityZone, 'local-1a');
  assert.equal(run.instanceInitiatedShutdownBehavior, 'stop');

  assert.deepEqual(byIndex(1), {
    action: 'DescribeInstances',
    dryRun: false,
    instanceIds: [],
    filters: [
      { name: 'instance-state-name', values: ['running', 'pending'] },
      { name: 'tag:Name', values: ['web'] },
    ],
    maxResults: 5,
    nextToken: 'abc',
  });
  assert.deepEqual(byIndex(2), { action: 'DescribeInstances', dryRun: false, instanceIds: [I1, I2], filters: [], maxResults: undefined, nextToken: undefined });
  assert.deepEqual(byIndex(3), { action: 'DescribeInstanceStatus', dryRun: false, instanceIds: [I1], filters: [], includeAllInstances: true, maxResults: undefined, nextToken: undefined });
  assert.deepEqual(byIndex(4), { action: 'StartInstances', dryRun: false, instanceIds: [I1] });
  assert.deepEqual(byIndex(5), { action: 'StopInstances', dryRun: false, instanceIds: [I1, I2], force: true, hibernate: false });
  assert.deepEqual(byIndex(6), { action: 'RebootInstances', dryRun: false, instanceIds: [I1] });
  assert.deepEqual(byIndex(7), { action: 'TerminateInstances', dryRun: false, instanceIds: [I1] });
  assert.deepEqual(byIndex(8), { action: 'GetConsoleOutput', dryRun: false, instanceId: I1, latest: true });
  assert.deepEqual(byIndex(9), {
    action: 'DescribeImages',
    dryRun: false,
    imageIds: [AMI],
    owners: ['self'],
    executableUsers: ['all'],
    filters: [{ name: 'name', values: ['nitride-minimal'] }],
    maxResults: undefined,
    nextToken: undefined,
  });
  const reg = byIndex(10);
  assert.equal(reg.action, 'RegisterImage');
  if (reg.action === 'RegisterImage') {
    assert.equal(reg.name, 'my-image (1)');
    assert.equal(reg.kernelId, 'aki-12345678');
    assert.equal(reg.ramdiskId, 'ari-12345678');
    assert.equal(reg.architecture, 'x86_64');
    assert.equal(reg.tpmSupport, 'v2.0');
    assert.equal(reg.bootMode, 'uefi');
    assert.equal(reg.imageLocation, 'file:///x');
    assert.equal(reg.blockDeviceMappings[0]?.ebs?.volumeSize, 2);
  }
  assert.deepEqual(byIndex(11), { action: 'DeregisterImage', dryRun: false, imageId: AMI });
  assert.deepEqual(byIndex(12), {
    action: 'DescribeInstanceTypes',
    dryRun: false,
    instanceTypes: ['t3.micro', 'm5.large'],
    filters: [{ name: 'vcpu-info.default-vcpus', values: ['2'] }],
    maxResults: 5,
    nextToken: undefined,
  });
  assert.deepEqual(byIndex(13), { action: 'CreateTags', dryRun: false, resources: [I1, AMI], tags: [{ key: 'k', value: 'v' }] });
  assert.deepEqual(byIndex(14), {
    action: 'DeleteTags',
    dryRun: false,
    resources: [I1],
    tags: [
      { key: 'k', value: undefined },
      { key: 'j', value: 'x' },
    ],
  });
  assert.deepEqual(byIndex(15), { action: 'DescribeTags', dryRun: false, filters: [{ name: 'resource-id', values: [I1] }], maxResults: 10, nextToken: undefined });
  assert.deepEqual(byIndex(16), { action: 'DescribeRegions', dryRun: false, regionNames: ['local-1'], allRegions: true, filters: [] });
  assert.deepEqual(byIndex(17), { action: 'DescribeAvailabilityZones', dryRun: false, zoneNames: ['local-1a'], zoneIds: ['loc1-az1'], allAvailabilityZones: false, filters: [] });
});

test('SDK v3-serialized requests parse into the typed union', async () => {
  const run = parseEc2Request(
    parseForm(
      await sdkBody((c) =>
        c.send(new RunInstancesCommand({
          ImageId: AMI,
          MinCount: 2,
          MaxCount: 2,
          UserData: Buffer.from('hello').toString('base64'),
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'sdk' }] }],
          SecurityGroupIds: ['sg-12345678'],
          DryRun: false,
        })),
      ),
    ),
  );
  assert.equal(run.action, 'RunInstances');
  if (run.action === 'RunInstances') {
    assert.equal(run.minCount, 2);
    assert.equal(run.userData?.toString(), 'hello');
    assert.deepEqual(run.tagSpecifications, [{ resourceType: 'instance', tags: [{ key: 'Name', value: 'sdk' }] }]);
    assert.deepEqual(run.securityGroupIds, ['sg-12345678']);
    assert.equal(run.instanceType, undefined);
  }
  const d = parseEc2Request(parseForm(await sdkBody((c) => c.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['a', 'b'] }], MaxResults: 6 })))));
  assert.deepEqual(d, { action: 'DescribeInstances', dryRun: false, instanceIds: [], filters: [{ name: 'tag-key', values: ['a', 'b'] }], maxResults: 6, nextToken: undefined });
  const t = parseEc2Request(parseForm(await sdkBody((c) => c.send(new CreateTagsCommand({ Resources: [I1], Tags: [{ Key: 'x', Value: 'y z&' }] })))));
  assert.deepEqual(t, { action: 'CreateTags', dryRun: false, resources: [I1], tags: [{ key: 'x', value: 'y z&' }] });
  const s = parseEc2Request(parseForm(await sdkBody((c) => c.send(new StopInstancesCommand({ InstanceIds: [I1], Force: true, DryRun: true })))));
  assert.deepEqual(s, { action: 'StopInstances', dryRun: true, instanceIds: [I1], force: true, hibernate: false });
});

test('EC2 error codes for bad requests', () => {
  assert.equal(code(() => parse({})), 'MissingAction');
  assert.equal(code(() => parse({ Action: 'FlyToTheMoon' })), 'InvalidAction');
  assert.equal(code(() => parse({ Action: 'hasOwnProperty' })), 'InvalidAction');
  assert.equal(code(() => parse({ Action: 'RunInstances', MinCount: '1', MaxCount: '1' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MaxCount: '1' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '2', MaxCount: '1' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '0', MaxCount: '1' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: 'one', MaxCount: '1' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: 'ami-xyz', MinCount: '1', MaxCount: '1' })), 'InvalidAMIID.Malformed');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '1', MaxCount: '1', UserData: '!!!' })), 'InvalidParameterValue');
  const big = Buffer.alloc(16385, 1).toString('base64');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '1', MaxCount: '1', UserData: big })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '1', MaxCount: '1', DryRun: 'maybe' })), 'InvalidParameterValue');
  assert.equal(
    code(() => parse({ Action: 'RunInstances', ImageId: AMI, MinCount: '1', MaxCount: '1', 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'aws:x' })),
    'InvalidParameterValue',
  );
  assert.equal(code(() => parse({ Action: 'DescribeInstances', 'InstanceId.1': 'i-123' })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', 'InstanceId.1': 'i-0123456789ABCDEF0' })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ Action: 'TerminateInstances', 'InstanceId.1': 'foo' })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ Action: 'TerminateInstances' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'GetConsoleOutput' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', 'InstanceId.1': I1, MaxResults: '5' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', MaxResults: '4' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', MaxResults: '1001' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', 'Filter.1.Value.1': 'x' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', 'InstanceId.2': I1 })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstances', InstanceId: I1 })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'StopInstances', 'InstanceId.1': I1, Force: 'true', Hibernate: 'true' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'DescribeImages', 'ImageId.1': 'ami-1' })), 'InvalidAMIID.Malformed');
  assert.equal(code(() => parse({ Action: 'DeregisterImage', ImageId: 'i-12345678' })), 'InvalidAMIID.Malformed');
  assert.equal(code(() => parse({ Action: 'RegisterImage' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'RegisterImage', Name: 'x' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'RegisterImage', Name: 'good-name', Architecture: 'sparc' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateTags', 'ResourceId.1': I1 })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateTags', 'Tag.1.Key': 'k' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateTags', 'ResourceId.1': 'nope', 'Tag.1.Key': 'k' })), 'InvalidID');
  assert.equal(code(() => parse({ Action: 'CreateTags', 'ResourceId.1': I1, 'Tag.1.Key': 'k', 'Tag.2.Key': 'k' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateTags', 'ResourceId.1': I1, 'Tag.1.Key': 'k'.repeat(129) })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceTypes', MaxResults: '101' })), 'InvalidParameterValue');
});

test('defaults: dryRun false, empty lists, unknown parameters refused, SDK empty list', () => {
  assert.equal(code(() => parse({ Action: 'DescribeInstances', Version: '2016-11-15', Unknown: 'x' })), 'UnknownParameter');
  assert.deepEqual(parse({ Action: 'DescribeInstances', Version: '2016-11-15', InstanceId: '' }), {
    action: 'DescribeInstances',
    dryRun: false,
    instanceIds: [],
    filters: [],
    maxResults: undefined,
    nextToken: undefined,
  });
  assert.deepEqual(parse({ Action: 'DeleteTags', 'ResourceId.1': 'vol-12345678' }), { action: 'DeleteTags', dryRun: false, resources: ['vol-12345678'], tags: [] });
});
