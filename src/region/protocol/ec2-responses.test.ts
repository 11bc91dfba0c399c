import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { DescribeInstancesCommand, GetConsoleOutputCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { renderEc2Error, renderEc2Response, instanceState, EC2_XMLNS, type Ec2Instance, type Ec2Response, type Reservation, type InstanceTypeInfo, type Image } from './ec2/responses/index.js';
import { botocore } from './botocore-peer.test-helper.js';
import { testInstance } from './ec2-records.test-helper.js';
import { sdkAnswering } from './ec2-wire.test-helper.js';

const LAUNCH = new Date('2026-01-02T03:04:05.678Z');

const instance: Ec2Instance = testInstance(LAUNCH, {
  subnetId: 'subnet-12345678',
  vpcId: 'vpc-12345678',
  securityGroups: [{ groupId: 'sg-12345678', groupName: 'default' }],
  rootDeviceName: '/dev/xvda',
  blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { volumeId: 'vol-12345678', status: 'attached', attachTime: LAUNCH, deleteOnTermination: true } }],
  clientToken: 'tok',
  tags: [
    { key: 'Name', value: 'web <1> & "two"' },
    { key: 'env', value: '' },
  ],
  metadataOptions: { state: 'applied', httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' },
  bootMode: 'uefi',
  tpmSupport: 'v2.0',
});

const stopped: Ec2Instance = {
  ...instance,
  instanceId: 'i-1234abcd',
  state: instanceState('stopped'),
  reason: 'User initiated (2026-01-02 03:04:05 GMT)',
  stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
  tags: [],
  securityGroups: [],
  blockDeviceMappings: [],
};

const reservation: Reservation = { reservationId: 'r-0123456789abcdef0', ownerId: '123456789012', groups: [], instances: [instance, stopped] };

const itype: InstanceTypeInfo = {
  instanceType: 't3.micro',
  currentGeneration: true,
  freeTierEligible: false,
  supportedUsageClasses: ['on-demand'],
  supportedRootDeviceTypes: ['ebs'],
  supportedVirtualizationTypes: ['hvm'],
  bareMetal: false,
  hypervisor: 'nitro',
  supportedArchitectures: ['x86_64'],
  sustainedClockSpeedInGhz: 2.5,
  defaultVCpus: 2,
  defaultCores: 1,
  defaultThreadsPerCore: 2,
  memorySizeInMiB: 1024,
  instanceStorageSupported: true,
  instanceStorageTotalSizeInGB: 75,
  ebsOptimizedSupport: 'default',
  ebsEncryptionSupport: 'supported',
  ebsNvmeSupport: 'required',
  networkPerformance: 'Up to 5 Gigabit',
  maximumNetworkInterfaces: 2,
  ipv4AddressesPerInterface: 2,
  ipv6AddressesPerInterface: 2,
  ipv6Supported: true,
  enaSupport: 'required',
  hibernationSupported: false,
  burstablePerformanceSupported: true,
  dedicatedHostsSupported: false,
  autoRecoverySupported: true,
  supportedBootModes: ['legacy-bios', 'uefi'],
  nitroEnclavesSupport: 'unsupported',
  nitroTpmSupport: 'supported',
  nitroTpmSupportedVersions: ['2.0'],
};

const image: Image = {
  imageId: 'ami-0123456789abcdef0',
  imageLocation: 'nitride/nitride-minimal',
  imageState: 'available',
  imageOwnerId: '123456789012',
  creationDate: LAUNCH,
  isPublic: true,
  architecture: 'x86_64',
  imageType: 'machine',
  name: 'nitride-minimal',
  description: 'kernel + initrd',
  rootDeviceType: 'instance-store',
  blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { volumeSize: 2, deleteOnTermination: true, volumeType: 'gp3', encrypted: false } }],
  virtualizationType: 'hvm',
  hypervisor: 'xen',
  bootMode: 'legacy-bios',
  tags: [{ key: 'k', value: 'v' }],
};

const responses: Ec2Response[] = [
  { action: 'RunInstances', reservation },
  { action: 'DescribeInstances', reservations: [reservation], nextToken: 'next-1' },
  { action: 'DescribeInstances', reservations: [] },
  {
    action: 'DescribeInstanceStatus',
    instanceStatuses: [
      {
        instanceId: instance.instanceId,
        availabilityZone: 'local-1a',
        instanceState: instanceState('running'),
        instanceStatus: { status: 'ok', details: [{ name: 'reachability', status: 'passed' }] },
        systemStatus: { status: 'initializing', details: [{ name: 'reachability', status: 'initializing' }] },
      },
    ],
  },
  { action: 'StartInstances', instances: [{ instanceId: stopped.instanceId, currentState: instanceState('pending'), previousState: instanceState('stopped') }] },
  { action: 'StopInstances', instances: [{ instanceId: instance.instanceId, currentState: instanceState('stopping'), previousState: instanceState('running') }] },
  { action: 'TerminateInstances', instances: [{ instanceId: instance.instanceId, currentState: instanceState('shutting-down'), previousState: instanceState('running') }] },
  { action: 'RebootInstances' },
  { action: 'GetConsoleOutput', instanceId: instance.instanceId, timestamp: LAUNCH, output: Buffer.from('NITRIDE-READY\r\n').toString('base64') },
  { action: 'DescribeImages', images: [image] },
  { action: 'RegisterImage', imageId: 'ami-12345678' },
  { action: 'DeregisterImage' },
  { action: 'DescribeInstanceTypes', instanceTypes: [itype], nextToken: 'nt' },
  { action: 'CreateTags' },
  { action: 'DeleteTags' },
  { action: 'DescribeTags', tags: [{ resourceId: instance.instanceId, resourceType: 'instance', key: 'Name', value: 'web' }] },
  { action: 'DescribeRegions', regions: [{ regionName: 'local-1', regionEndpoint: '127.0.0.1:8773', optInStatus: 'opt-in-not-required' }] },
  {
    action: 'DescribeAvailabilityZones',
    availabilityZones: [
      {
        zoneName: 'local-1a',
        zoneId: 'loc1-az1',
        zoneState: 'available',
        regionName: 'local-1',
        groupName: 'local-1',
        networkBorderGroup: 'local-1',
        optInStatus: 'opt-in-not-required',
        zoneType: 'availability-zone',
        messages: [],
      },
    ],
  },
];

test('every response is well-formed XML in EC2 namespace with requestId', () => {
  const p = new XMLParser({ ignoreAttributes: false });
  for (const r of responses) {
    const xml = renderEc2Response('req-1', r);
    const doc = p.parse(xml) as Record<string, Record<string, unknown>>;
    const root = doc[`${r.action}Response`];
    assert.ok(root, r.action);
    assert.equal(root['@_xmlns'], EC2_XMLNS);
    assert.equal(root['requestId'], 'req-1');
  }
});

for (const peer of ['v1', 'v2'] as const)
test(`botocore's EC2 parser (AWS CLI ${peer}) reads every response as EC2's output shapes`, () => {
  const parsed = botocore(responses.map((r) => ({ kind: 'parse' as const, operation: r.action, body: renderEc2Response('req-1', r) })), peer) as Record<string, unknown>[];
  const [run, desc, empty, status, start, stop, term, reboot, con, images, reg, dereg, types, , , tags, regions, zones] = parsed as Record<string, any>[];

  const inst = run!['Instances'][0];
  assert.equal(run!['ReservationId'], 'r-0123456789abcdef0');
  assert.equal(run!['OwnerId'], '123456789012');
  assert.deepEqual(run!['Groups'], []);
  assert.equal(inst['InstanceId'], instance.instanceId);
  assert.deepEqual(inst['State'], { Code: 16, Name: 'running' });
  assert.equal(inst['LaunchTime'], '2026-01-02T03:04:05.678000+00:00');
  assert.deepEqual(inst['Placement'], { AvailabilityZone: 'local-1a', GroupName: '', Tenancy: 'default' });
  assert.deepEqual(inst['Tags'], [
    { Key: 'Name', Value: 'web <1> & "two"' },
    { Key: 'env', Value: '' },
  ]);
  assert.deepEqual(inst['SecurityGroups'], [{ GroupId: 'sg-12345678', GroupName: 'default' }]);
  assert.equal(inst['PublicDnsName'], '');
  assert.equal(inst['StateTransitionReason'], '');
  assert.equal(inst['AmiLaunchIndex'], 0);
  assert.deepEqual(inst['Monitoring'], { State: 'disabled' });
  assert.equal(inst['ClientToken'], 'tok');
  assert.equal(inst['EbsOptimized'], false);
  assert.equal(inst['BlockDeviceMappings'][0]['Ebs']['VolumeId'], 'vol-12345678');
  assert.equal(inst['BlockDeviceMappings'][0]['Ebs']['DeleteOnTermination'], true);
  assert.deepEqual(inst['MetadataOptions'], {
    State: 'applied',
    HttpTokens: 'required',
    HttpPutResponseHopLimit: 2,
    HttpEndpoint: 'enabled',
    HttpProtocolIpv6: 'disabled',
    InstanceMetadataTags: 'disabled',
  });
  assert.equal(inst['TpmSupport'], 'v2.0');
  const inst2 = run!['Instances'][1];
  assert.deepEqual(inst2['StateReason'], { Code: 'Client.UserInitiatedShutdown', Message: 'Client.UserInitiatedShutdown: User initiated shutdown' });
  assert.equal(inst2['StateTransitionReason'], 'User initiated (2026-01-02 03:04:05 GMT)');
  assert.equal(inst2['Tags'], undefined);
  assert.deepEqual(inst2['SecurityGroups'], []);

  assert.equal(desc!['NextToken'], 'next-1');
  assert.equal(desc!['Reservations'].length, 1);
  assert.equal(desc!['Reservations'][0]['Instances'].length, 2);
  assert.deepEqual(empty, { Reservations: [] });

  assert.deepEqual(status!['InstanceStatuses'][0], {
    InstanceId: instance.instanceId,
    AvailabilityZone: 'local-1a',
    Events: [],
    InstanceState: { Code: 16, Name: 'running' },
    SystemStatus: { Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] },
    InstanceStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] },
  });
  assert.deepEqual(start, { StartingInstances: [{ InstanceId: stopped.instanceId, CurrentState: { Code: 0, Name: 'pending' }, PreviousState: { Code: 80, Name: 'stopped' } }] });
  assert.deepEqual(stop, { StoppingInstances: [{ InstanceId: instance.instanceId, CurrentState: { Code: 64, Name: 'stopping' }, PreviousState: { Code: 16, Name: 'running' } }] });
  assert.deepEqual(term, { TerminatingInstances: [{ InstanceId: instance.instanceId, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } }] });
  assert.deepEqual(reboot, {});
  assert.deepEqual(con, { InstanceId: instance.instanceId, Timestamp: '2026-01-02T03:04:05.678000+00:00', Output: Buffer.from('NITRIDE-READY\r\n').toString('base64') });
  const img = images!['Images'][0];
  assert.equal(img['ImageId'], image.imageId);
  assert.equal(img['State'], 'available');
  assert.equal(img['OwnerId'], '123456789012');
  assert.equal(img['Public'], true);
  assert.equal(img['Name'], 'nitride-minimal');
  assert.equal(img['CreationDate'], '2026-01-02T03:04:05.678Z');
  assert.deepEqual(img['BlockDeviceMappings'], [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 2, DeleteOnTermination: true, VolumeType: 'gp3', Encrypted: false } }]);
  assert.deepEqual(img['Tags'], [{ Key: 'k', Value: 'v' }]);
  assert.deepEqual(reg, { ImageId: 'ami-12345678' });
  // awscli 2.9's older model has no output shape for DeregisterImage (and reads nothing).
  assert.deepEqual(dereg, peer === 'v1' ? { Return: true } : {});
  const t = types!['InstanceTypes'][0];
  assert.equal(types!['NextToken'], 'nt');
  assert.equal(t['InstanceType'], 't3.micro');
  assert.deepEqual(t['VCpuInfo'], { DefaultVCpus: 2, DefaultCores: 1, DefaultThreadsPerCore: 2 });
  assert.deepEqual(t['MemoryInfo'], { SizeInMiB: 1024 });
  assert.deepEqual(t['ProcessorInfo'], { SupportedArchitectures: ['x86_64'], SustainedClockSpeedInGhz: 2.5 });
  assert.deepEqual(t['SupportedBootModes'], ['legacy-bios', 'uefi']);
  assert.equal(t['InstanceStorageInfo']['TotalSizeInGB'], 75);
  // NitroTpmInfo is newer than awscli 2.9's model.
  assert.deepEqual(t['NitroTpmInfo'], peer === 'v1' ? { SupportedVersions: ['2.0'] } : undefined);
  assert.equal(t['NetworkInfo']['EnaSupport'], 'required');
  assert.deepEqual(tags, { Tags: [{ ResourceId: instance.instanceId, ResourceType: 'instance', Key: 'Name', Value: 'web' }] });
  assert.deepEqual(regions, { Regions: [{ RegionName: 'local-1', Endpoint: '127.0.0.1:8773', OptInStatus: 'opt-in-not-required' }] });
  assert.deepEqual(zones!['AvailabilityZones'][0], {
    ZoneName: 'local-1a',
    State: 'available',
    RegionName: 'local-1',
    ZoneId: 'loc1-az1',
    GroupName: 'local-1',
    NetworkBorderGroup: 'local-1',
    OptInStatus: 'opt-in-not-required',
    ZoneType: 'availability-zone',
    Messages: [],
  });
});

for (const peer of ['v1', 'v2'] as const)
test(`botocore's EC2 error parser (AWS CLI ${peer}) reads renderEc2Error`, () => {
  const e = renderEc2Error('req-9', 'InvalidInstanceID.NotFound', "The instance ID 'i-1234abcd' does not exist");
  assert.equal(e.status, 400);
  assert.equal(renderEc2Error('r', 'AuthFailure', 'x').status, 401);
  assert.equal(renderEc2Error('r', 'UnauthorizedOperation', 'x').status, 403);
  assert.equal(renderEc2Error('r', 'DryRunOperation', 'x').status, 412);
  const [parsed] = botocore([{ kind: 'parse', operation: 'DescribeInstances', body: e.body, status: e.status }], peer) as Record<string, any>[];
  assert.deepEqual(parsed!['Error'], { Code: 'InvalidInstanceID.NotFound', Message: "The instance ID 'i-1234abcd' does not exist" });
});

test('SDK v3 deserializes the responses and errors', async () => {
  const d = sdkAnswering(200, renderEc2Response('req-1', { action: 'DescribeInstances', reservations: [reservation], nextToken: 'n' }), 'req-1');
  const out = await d.send(new DescribeInstancesCommand({}));
  assert.equal(out.NextToken, 'n');
  assert.equal(out.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'running');
  assert.equal(out.Reservations?.[0]?.Instances?.[0]?.LaunchTime?.toISOString(), LAUNCH.toISOString());
  assert.equal(out.Reservations?.[0]?.Instances?.[0]?.Tags?.[0]?.Value, 'web <1> & "two"');
  assert.equal(out.Reservations?.[0]?.Instances?.[1]?.StateReason?.Code, 'Client.UserInitiatedShutdown');
  assert.equal(out.$metadata.requestId, 'req-1');
  d.destroy();

  const c = sdkAnswering(200, renderEc2Response('req-2', { action: 'GetConsoleOutput', instanceId: instance.instanceId, timestamp: LAUNCH, output: 'QUJD' }), 'req-2');
  const co = await c.send(new GetConsoleOutputCommand({ InstanceId: instance.instanceId }));
  assert.equal(co.Output, 'QUJD');
  c.destroy();

  const err = renderEc2Error('req-3', 'IncorrectInstanceState', "The instance 'i-1234abcd' is not in a state from which it can be terminated.");
  const e = sdkAnswering(err.status, err.body, 'req-3');
  await assert.rejects(e.send(new TerminateInstancesCommand({ InstanceIds: ['i-1234abcd'] })), (x: unknown) => {
    const ex = x as { name: string; message: string; $metadata: { httpStatusCode: number; requestId?: string } };
    assert.equal(ex.name, 'IncorrectInstanceState');
    assert.match(ex.message, /not in a state/);
    assert.equal(ex.$metadata.httpStatusCode, 400);
    assert.equal(ex.$metadata.requestId, 'req-3');
    return true;
  });
  e.destroy();
});

test('DryRunOperation and UnauthorizedOperation as EC2 sends them', async () => {
  const { dryRunOperation, unauthorizedOperation } = await import('./errors.js');
  const { renderEc2ErrorFrom } = await import('./ec2/responses/index.js');
  const d = renderEc2ErrorFrom('r', dryRunOperation());
  assert.equal(d.status, 412);
  assert.match(d.body, /<Code>DryRunOperation<\/Code><Message>Request would have succeeded, but DryRun flag is set.<\/Message>/);
  assert.equal(renderEc2ErrorFrom('r', unauthorizedOperation()).status, 403);
});
