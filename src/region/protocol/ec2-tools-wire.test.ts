// Issue 14's EC2 actions on the wire, both ways, against the real peers: requests serialized by
// botocore (AWS CLI v1 and the botocore of Debian's CLI v2) and SDK v3 parse into the typed
// requests; the XML we render parses with both botocores into what the CLIs print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderEc2Response, type Ec2Response } from './ec2/responses/index.js';
import { botocore } from './botocore-peer.test-helper.js';
import { assertBotocoreParses, assertSdkParses, code, parse, type WireCase } from './ec2-wire.test-helper.js';

const AMI = 'ami-0123456789abcdef0';
const VPC = 'vpc-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const LT = 'lt-0123456789abcdef0';

/** LaunchData with nothing named. */
const noData = {
  imageId: undefined,
  instanceType: undefined,
  userData: undefined,
  tagSpecifications: [],
  securityGroupIds: [],
  securityGroups: [],
  keyName: undefined,
  kernelId: undefined,
  ramdiskId: undefined,
  availabilityZone: undefined,
  blockDeviceMappings: [],
  networkInterfaces: [],
  metadataOptions: undefined,
  monitoringEnabled: undefined,
  instanceInitiatedShutdownBehavior: undefined,
  disableApiTermination: undefined,
  disableApiStop: undefined,
  ebsOptimized: undefined,
};

const cases: WireCase[] = [
  { operation: 'DescribeAccountAttributes', params: { AttributeNames: ['default-vpc'] }, expected: { action: 'DescribeAccountAttributes', dryRun: false, attributeNames: ['default-vpc'] } },
  {
    operation: 'DescribeInstanceTypeOfferings',
    params: { LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: ['t3.nano'] }], MaxResults: 5 },
    expected: { action: 'DescribeInstanceTypeOfferings', dryRun: false, locationType: 'availability-zone', filters: [{ name: 'instance-type', values: ['t3.nano'] }], maxResults: 5, nextToken: undefined },
  },
  { operation: 'DescribeVpcAttribute', params: { VpcId: VPC, Attribute: 'enableDnsSupport' }, expected: { action: 'DescribeVpcAttribute', dryRun: false, vpcId: VPC, attribute: 'enableDnsSupport' } },
  { operation: 'DescribeVpcClassicLink', params: { VpcIds: [VPC] }, expected: { action: 'DescribeVpcClassicLink', dryRun: false, vpcIds: [VPC], filters: [] } },
  { operation: 'DescribeVpcClassicLinkDnsSupport', params: { VpcIds: [VPC] }, expected: { action: 'DescribeVpcClassicLinkDnsSupport', dryRun: false, vpcIds: [VPC], maxResults: undefined, nextToken: undefined } },
  {
    operation: 'CreateLaunchTemplate',
    params: {
      LaunchTemplateName: 'web',
      ClientToken: 'tok-1',
      VersionDescription: 'one',
      LaunchTemplateData: { ImageId: AMI, InstanceType: 't3.nano', SecurityGroupIds: [SG], DisableApiTermination: true, RamDiskId: '', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }] },
      TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: 't', Value: 'u' }] }],
    },
    expected: {
      action: 'CreateLaunchTemplate',
      dryRun: false,
      clientToken: 'tok-1',
      launchTemplateName: 'web',
      versionDescription: 'one',
      launchTemplateData: { ...noData, imageId: AMI, instanceType: 't3.nano', securityGroupIds: [SG], disableApiTermination: true, ramdiskId: '', tagSpecifications: [{ resourceType: 'instance', tags: [{ key: 'a', value: 'b' }] }] },
      tagSpecifications: [{ resourceType: 'launch-template', tags: [{ key: 't', value: 'u' }] }],
    },
  },
  {
    operation: 'CreateLaunchTemplateVersion',
    params: { LaunchTemplateId: LT, ClientToken: 'tok-2', SourceVersion: '1', LaunchTemplateData: { InstanceType: 't3.micro' } },
    expected: { action: 'CreateLaunchTemplateVersion', dryRun: false, launchTemplateId: LT, launchTemplateName: undefined, clientToken: 'tok-2', sourceVersion: '1', versionDescription: undefined, launchTemplateData: { ...noData, instanceType: 't3.micro' } },
  },
  {
    operation: 'DescribeLaunchTemplates',
    params: { LaunchTemplateNames: ['web'], Filters: [{ Name: 'tag:t', Values: ['u'] }] },
    expected: { action: 'DescribeLaunchTemplates', dryRun: false, launchTemplateIds: [], launchTemplateNames: ['web'], filters: [{ name: 'tag:t', values: ['u'] }], maxResults: undefined, nextToken: undefined },
  },
  {
    operation: 'DescribeLaunchTemplateVersions',
    params: { LaunchTemplateName: 'web', Versions: ['$Latest', '1'] },
    expected: { action: 'DescribeLaunchTemplateVersions', dryRun: false, launchTemplateId: undefined, launchTemplateName: 'web', versions: ['$Latest', '1'], minVersion: undefined, maxVersion: undefined, filters: [], maxResults: undefined, nextToken: undefined },
  },
  { operation: 'ModifyLaunchTemplate', params: { LaunchTemplateId: LT, ClientToken: 'tok-3', DefaultVersion: '2' }, expected: { action: 'ModifyLaunchTemplate', dryRun: false, launchTemplateId: LT, launchTemplateName: undefined, clientToken: 'tok-3', defaultVersion: '2' } },
  { operation: 'DeleteLaunchTemplate', params: { LaunchTemplateName: 'web' }, expected: { action: 'DeleteLaunchTemplate', dryRun: false, launchTemplateId: undefined, launchTemplateName: 'web' } },
  { operation: 'DeleteLaunchTemplateVersions', params: { LaunchTemplateId: LT, Versions: ['1', '3'] }, expected: { action: 'DeleteLaunchTemplateVersions', dryRun: false, launchTemplateId: LT, launchTemplateName: undefined, versions: ['1', '3'] } },
  {
    operation: 'RunInstances',
    params: { MinCount: 1, MaxCount: 1, ClientToken: 'tok-4', LaunchTemplate: { LaunchTemplateName: 'web', Version: '$Latest' }, InstanceType: 't3.small', DisableApiStop: true },
    expected: {
      action: 'RunInstances',
      dryRun: false,
      ...noData,
      instanceType: 't3.small',
      disableApiStop: true,
      minCount: 1,
      maxCount: 1,
      clientToken: 'tok-4',
      subnetId: undefined,
      privateIpAddress: undefined,
      launchTemplate: { launchTemplateId: undefined, launchTemplateName: 'web', version: '$Latest' },
    },
  },
];

for (const peer of ['v1', 'v2'] as const) {
  test(`botocore-serialized (AWS CLI ${peer}) requests of the issue 14 actions parse into the typed union`, () => {
    assertBotocoreParses(cases, peer);
  });
}

test('SDK v3-serialized requests of the issue 14 actions parse into the typed union', async () => {
  await assertSdkParses(cases);
});

test('bad input gets EC2 codes: both template reference forms, a bad location type, a bad VPC attribute, a template member no launch takes', () => {
  assert.equal(code(() => parse({ Action: 'RunInstances', MinCount: '1', MaxCount: '1', 'LaunchTemplate.LaunchTemplateId': LT, 'LaunchTemplate.LaunchTemplateName': 'web' })), 'InvalidParameterCombination');
  assert.equal(code(() => parse({ Action: 'RunInstances', MinCount: '1', MaxCount: '1' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceTypeOfferings', LocationType: 'planet' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeVpcAttribute', VpcId: VPC, Attribute: 'enableFrobs' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeVpcAttribute', VpcId: VPC })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateLaunchTemplate', LaunchTemplateName: 'web' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateLaunchTemplate', LaunchTemplateName: 'web', 'LaunchTemplateData.IamInstanceProfile.Name': 'x' })), 'UnknownParameter');
  assert.equal(code(() => parse({ Action: 'CreateLaunchTemplate', LaunchTemplateName: 'web', 'LaunchTemplateData.Monitoring.Enabled': 'true' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DeleteLaunchTemplateVersions', LaunchTemplateId: LT })), 'MissingParameter');
});

const when = new Date('2026-12-07T12:00:00.000Z');
const template = { launchTemplateId: LT, launchTemplateName: 'web', createTime: when, createdBy: 'arn:aws:iam::123456789012:root', defaultVersionNumber: 1, latestVersionNumber: 2, tags: [{ key: 't', value: 'u' }] };
const responses: { response: Ec2Response; expected: Record<string, unknown> }[] = [
  {
    response: { action: 'DescribeAccountAttributes', accountAttributes: [{ attributeName: 'default-vpc', attributeValues: [VPC] }] },
    expected: { AccountAttributes: [{ AttributeName: 'default-vpc', AttributeValues: [{ AttributeValue: VPC }] }] },
  },
  {
    response: { action: 'DescribeInstanceTypeOfferings', offerings: [{ instanceType: 't3.nano', locationType: 'availability-zone', location: 'local-1a' }], nextToken: 'n' },
    expected: { InstanceTypeOfferings: [{ InstanceType: 't3.nano', LocationType: 'availability-zone', Location: 'local-1a' }], NextToken: 'n' },
  },
  { response: { action: 'DescribeVpcAttribute', vpcId: VPC, attribute: 'enableDnsHostnames', value: true }, expected: { VpcId: VPC, EnableDnsHostnames: { Value: true } } },
  { response: { action: 'DescribeVpcClassicLink' }, expected: { Vpcs: [] } },
  { response: { action: 'DescribeVpcClassicLinkDnsSupport' }, expected: { Vpcs: [] } },
  {
    response: { action: 'CreateLaunchTemplate', launchTemplate: template },
    expected: { LaunchTemplate: { LaunchTemplateId: LT, LaunchTemplateName: 'web', CreateTime: when.toISOString().replace('Z', '+00:00').replace('.000', ''), CreatedBy: 'arn:aws:iam::123456789012:root', DefaultVersionNumber: 1, LatestVersionNumber: 2, Tags: [{ Key: 't', Value: 'u' }] } },
  },
  {
    response: {
      action: 'DescribeLaunchTemplateVersions',
      nextToken: undefined,
      launchTemplateVersions: [
        {
          launchTemplateId: LT,
          launchTemplateName: 'web',
          versionNumber: 2,
          versionDescription: 'two',
          createTime: when,
          createdBy: 'arn:aws:iam::123456789012:root',
          defaultVersion: false,
          launchTemplateData: {
            ...noData,
            imageId: AMI,
            instanceType: 't3.micro',
            securityGroupIds: [SG],
            disableApiStop: true,
            userData: 'eA==',
            tagSpecifications: [{ resourceType: 'instance', tags: [{ key: 'a', value: 'b' }] }],
            networkInterfaces: [{ deviceIndex: 0, subnetId: 'subnet-12345678', groups: [SG], privateIpAddress: undefined, description: undefined, deleteOnTermination: undefined, associatePublicIpAddress: undefined }],
          },
        },
      ],
    },
    expected: {
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: LT,
          LaunchTemplateName: 'web',
          VersionNumber: 2,
          VersionDescription: 'two',
          CreateTime: when.toISOString().replace('Z', '+00:00').replace('.000', ''),
          CreatedBy: 'arn:aws:iam::123456789012:root',
          DefaultVersion: false,
          LaunchTemplateData: {
            ImageId: AMI,
            InstanceType: 't3.micro',
            SecurityGroupIds: [SG],
            DisableApiStop: true,
            UserData: 'eA==',
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-12345678', Groups: [SG] }],
          },
        },
      ],
    },
  },
  {
    response: { action: 'DeleteLaunchTemplateVersions', deleted: [{ launchTemplateId: LT, launchTemplateName: 'web', versionNumber: 1 }], failed: [{ launchTemplateId: LT, launchTemplateName: 'web', versionNumber: 2, error: { code: 'unexpectedError', message: 'm' } }] },
    expected: {
      SuccessfullyDeletedLaunchTemplateVersions: [{ LaunchTemplateId: LT, LaunchTemplateName: 'web', VersionNumber: 1 }],
      UnsuccessfullyDeletedLaunchTemplateVersions: [{ LaunchTemplateId: LT, LaunchTemplateName: 'web', VersionNumber: 2, ResponseError: { Code: 'unexpectedError', Message: 'm' } }],
    },
  },
];

for (const peer of ['v1', 'v2'] as const) {
  test(`botocore (AWS CLI ${peer}) parses the issue 14 responses into what the CLI prints`, () => {
    const parsed = botocore(responses.map((r) => ({ kind: 'parse' as const, operation: r.response.action, body: renderEc2Response('req-1', r.response) })), peer) as Record<string, unknown>[];
    responses.forEach((r, i) => assert.deepEqual(parsed[i], r.expected, r.response.action));
  });
}
