// The VPC edge's requests and responses as the real peers make and read them: botocore of both
// AWS CLIs and SDK v3 serialize every edge action from the same parameters, and the parser must
// produce the same typed request; our XML must parse, by all three, into EC2's output shapes.
// Bad input gets EC2's codes from the parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '@aws-sdk/client-ec2';
import { EDGE_PARSERS } from './ec2/requests/index.js';
import { renderEc2Response, type Ec2Response, type Ec2Instance } from './ec2/responses/index.js';
import { botocore } from './botocore-peer.test-helper.js';
import { parse, code, assertBotocoreParses, assertSdkParses, sdkAnswering, type WireCase } from './ec2-wire.test-helper.js';
import { testInstance, testInstanceEni } from './ec2-records.test-helper.js';

const VPC = 'vpc-0123456789abcdef0';
const SUBNET = 'subnet-0123456789abcdef0';
const IGW = 'igw-0123456789abcdef0';
const RTB = 'rtb-0123456789abcdef0';
const RTBASSOC = 'rtbassoc-0123456789abcdef0';
const ALLOC = 'eipalloc-0123456789abcdef0';
const EIPASSOC = 'eipassoc-0123456789abcdef0';
const I1 = 'i-0123456789abcdef0';
const ENI = 'eni-0123456789abcdef0';
const OWNER = '123456789012';
const IP = '198.51.100.16';

type Case = WireCase;

const TAGS = (ResourceType: string) => [{ ResourceType, Tags: [{ Key: 'Name', Value: 'edge' }] }];
const tags = (resourceType: string) => [{ resourceType, tags: [{ key: 'Name', value: 'edge' }] }];
const f = { Filters: [{ Name: 'vpc-id', Values: [VPC] }] };
const filters = [{ name: 'vpc-id', values: [VPC] }];

const cases: Case[] = [
  { operation: 'CreateInternetGateway', params: { TagSpecifications: TAGS('internet-gateway') }, expected: { action: 'CreateInternetGateway', dryRun: false, tagSpecifications: tags('internet-gateway') } },
  { operation: 'AttachInternetGateway', params: { InternetGatewayId: IGW, VpcId: VPC }, expected: { action: 'AttachInternetGateway', dryRun: false, internetGatewayId: IGW, vpcId: VPC } },
  { operation: 'DetachInternetGateway', params: { InternetGatewayId: IGW, VpcId: VPC, DryRun: true }, expected: { action: 'DetachInternetGateway', dryRun: true, internetGatewayId: IGW, vpcId: VPC } },
  { operation: 'DeleteInternetGateway', params: { InternetGatewayId: IGW }, expected: { action: 'DeleteInternetGateway', dryRun: false, internetGatewayId: IGW } },
  {
    operation: 'DescribeInternetGateways',
    params: { InternetGatewayIds: [IGW], Filters: [{ Name: 'attachment.vpc-id', Values: [VPC] }] },
    expected: { action: 'DescribeInternetGateways', dryRun: false, internetGatewayIds: [IGW], filters: [{ name: 'attachment.vpc-id', values: [VPC] }], maxResults: undefined, nextToken: undefined },
  },
  { operation: 'CreateRouteTable', params: { VpcId: VPC, ClientToken: 'tok-1', TagSpecifications: TAGS('route-table') }, expected: { action: 'CreateRouteTable', dryRun: false, vpcId: VPC, clientToken: 'tok-1', tagSpecifications: tags('route-table') } },
  { operation: 'DeleteRouteTable', params: { RouteTableId: RTB }, expected: { action: 'DeleteRouteTable', dryRun: false, routeTableId: RTB } },
  { operation: 'DescribeRouteTables', params: { ...f, MaxResults: 5 }, expected: { action: 'DescribeRouteTables', dryRun: false, routeTableIds: [], filters, maxResults: 5, nextToken: undefined } },
  { operation: 'CreateRoute', params: { RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW }, expected: { action: 'CreateRoute', dryRun: false, routeTableId: RTB, destinationCidrBlock: '0.0.0.0/0', gatewayId: IGW } },
  { operation: 'ReplaceRoute', params: { RouteTableId: RTB, DestinationCidrBlock: '203.0.113.7/24', GatewayId: IGW }, expected: { action: 'ReplaceRoute', dryRun: false, routeTableId: RTB, destinationCidrBlock: '203.0.113.0/24', gatewayId: IGW } },
  { operation: 'DeleteRoute', params: { RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0' }, expected: { action: 'DeleteRoute', dryRun: false, routeTableId: RTB, destinationCidrBlock: '0.0.0.0/0' } },
  { operation: 'AssociateRouteTable', params: { RouteTableId: RTB, SubnetId: SUBNET }, expected: { action: 'AssociateRouteTable', dryRun: false, routeTableId: RTB, subnetId: SUBNET } },
  { operation: 'DisassociateRouteTable', params: { AssociationId: RTBASSOC }, expected: { action: 'DisassociateRouteTable', dryRun: false, associationId: RTBASSOC } },
  { operation: 'ReplaceRouteTableAssociation', params: { AssociationId: RTBASSOC, RouteTableId: RTB }, expected: { action: 'ReplaceRouteTableAssociation', dryRun: false, associationId: RTBASSOC, routeTableId: RTB } },
  { operation: 'AllocateAddress', params: { Domain: 'vpc', TagSpecifications: TAGS('elastic-ip') }, expected: { action: 'AllocateAddress', dryRun: false, tagSpecifications: tags('elastic-ip') } },
  {
    operation: 'AssociateAddress',
    params: { AllocationId: ALLOC, InstanceId: I1, AllowReassociation: true },
    expected: { action: 'AssociateAddress', dryRun: false, allocationId: ALLOC, publicIp: undefined, instanceId: I1, networkInterfaceId: undefined, privateIpAddress: undefined, allowReassociation: true },
  },
  {
    operation: 'AssociateAddress',
    params: { AllocationId: ALLOC, NetworkInterfaceId: ENI, PrivateIpAddress: '172.31.0.4' },
    expected: { action: 'AssociateAddress', dryRun: false, allocationId: ALLOC, publicIp: undefined, instanceId: undefined, networkInterfaceId: ENI, privateIpAddress: '172.31.0.4', allowReassociation: false },
  },
  { operation: 'DisassociateAddress', params: { AssociationId: EIPASSOC }, expected: { action: 'DisassociateAddress', dryRun: false, associationId: EIPASSOC, publicIp: undefined } },
  { operation: 'ReleaseAddress', params: { AllocationId: ALLOC }, expected: { action: 'ReleaseAddress', dryRun: false, allocationId: ALLOC, publicIp: undefined } },
  {
    operation: 'DescribeAddresses',
    params: { AllocationIds: [ALLOC], PublicIps: [IP], Filters: [{ Name: 'domain', Values: ['vpc'] }] },
    expected: { action: 'DescribeAddresses', dryRun: false, allocationIds: [ALLOC], publicIps: [IP], filters: [{ name: 'domain', values: ['vpc'] }] },
  },
  { operation: 'DescribeVpcAttribute', params: { VpcId: VPC, Attribute: 'enableDnsHostnames' }, expected: { action: 'DescribeVpcAttribute', dryRun: false, vpcId: VPC, attribute: 'enableDnsHostnames' } },
  { operation: 'ModifyVpcAttribute', params: { VpcId: VPC, EnableDnsHostnames: { Value: true } }, expected: { action: 'ModifyVpcAttribute', dryRun: false, vpcId: VPC, attribute: 'enableDnsHostnames', value: true } },
  { operation: 'ModifyVpcAttribute', params: { VpcId: VPC, EnableDnsSupport: { Value: false } }, expected: { action: 'ModifyVpcAttribute', dryRun: false, vpcId: VPC, attribute: 'enableDnsSupport', value: false } },
  { operation: 'ModifySubnetAttribute', params: { SubnetId: SUBNET, MapPublicIpOnLaunch: { Value: true } }, expected: { action: 'ModifySubnetAttribute', dryRun: false, subnetId: SUBNET, mapPublicIpOnLaunch: true } },
];

test('every edge action has a peer-serialized case', () => {
  const covered = new Set(cases.map((c) => c.operation));
  for (const a of Object.keys(EDGE_PARSERS)) assert.ok(covered.has(a), `no case for ${a}`);
});

for (const peer of ['v1', 'v2'] as const) {
  test(`botocore-serialized (AWS CLI ${peer}) edge requests parse into the typed union`, () => {
    // awscli 2.9's older model has no CreateRouteTable ClientToken.
    const mine = peer === 'v1' ? cases : cases.map((c) => (c.expected.action === 'CreateRouteTable' ? { ...c, params: { ...c.params, ClientToken: undefined }, expected: { ...c.expected, clientToken: undefined } } : c));
    assertBotocoreParses(mine, peer);
  });
}

test('SDK v3-serialized edge requests parse into the typed union', async () => {
  await assertSdkParses(cases);
});

test('the RunInstances NetworkInterface AssociatePublicIpAddress=true the CLIs send is accepted', () => {
  const r = parse({ Action: 'RunInstances', ImageId: 'ami-12345678', MinCount: '1', MaxCount: '1', 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.AssociatePublicIpAddress': 'true', 'NetworkInterface.1.SubnetId': 'subnet-12345678' });
  assert.ok(r.action === 'RunInstances' && r.networkInterfaces[0]?.associatePublicIpAddress === true);
});

test('edge requests: EC2 error codes for bad input', () => {
  const bad: [Record<string, string>, string][] = [
    [{ Action: 'AttachInternetGateway', VpcId: VPC }, 'MissingParameter'],
    [{ Action: 'AttachInternetGateway', InternetGatewayId: 'igw-x', VpcId: VPC }, 'InvalidInternetGatewayID.Malformed'],
    [{ Action: 'DeleteInternetGateway', InternetGatewayId: VPC }, 'InvalidInternetGatewayID.Malformed'],
    [{ Action: 'DescribeInternetGateways', 'InternetGatewayId.1': IGW, MaxResults: '5' }, 'InvalidParameterCombination'],
    [{ Action: 'DescribeRouteTables', 'RouteTableId.1': 'rtb-1' }, 'InvalidRouteTableID.Malformed'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, GatewayId: IGW }, 'MissingParameter'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0' }, 'MissingParameter'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/33', GatewayId: IGW }, 'InvalidParameterValue'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: 'nat-0123456789abcdef0' }, 'InvalidParameterValue'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'vgw-12345678' }, 'InvalidParameterValue'],
    [{ Action: 'CreateRoute', RouteTableId: RTB, DestinationIpv6CidrBlock: '::/0', GatewayId: IGW }, 'InvalidParameterValue'],
    [{ Action: 'ReplaceRoute', RouteTableId: RTB, DestinationCidrBlock: '10.0.0.0/16', LocalTarget: 'true', GatewayId: IGW }, 'InvalidParameterCombination'],
    [{ Action: 'DisassociateRouteTable', AssociationId: 'eipassoc-12345678' }, 'InvalidAssociationID.Malformed'],
    [{ Action: 'AllocateAddress', Domain: 'standard' }, 'InvalidParameterValue'],
    [{ Action: 'AllocateAddress', Address: '203.0.113.9' }, 'InvalidParameterValue'],
    [{ Action: 'AssociateAddress', InstanceId: I1 }, 'MissingParameter'],
    [{ Action: 'AssociateAddress', AllocationId: ALLOC }, 'MissingParameter'],
    [{ Action: 'AssociateAddress', AllocationId: ALLOC, InstanceId: I1, NetworkInterfaceId: ENI }, 'InvalidParameterCombination'],
    [{ Action: 'AssociateAddress', AllocationId: 'eipalloc-zz', InstanceId: I1 }, 'InvalidAllocationID.Malformed'],
    [{ Action: 'AssociateAddress', PublicIp: '198.51.100.300', InstanceId: I1 }, 'InvalidParameterValue'],
    [{ Action: 'DisassociateAddress' }, 'MissingParameter'],
    [{ Action: 'ReleaseAddress' }, 'MissingParameter'],
    [{ Action: 'DescribeVpcAttribute', VpcId: VPC }, 'MissingParameter'],
    [{ Action: 'DescribeVpcAttribute', VpcId: VPC, Attribute: 'enableDns' }, 'InvalidParameterValue'],
    [{ Action: 'ModifyVpcAttribute', VpcId: VPC }, 'MissingParameter'],
    [{ Action: 'ModifyVpcAttribute', VpcId: VPC, 'EnableDnsSupport.Value': 'true', 'EnableDnsHostnames.Value': 'true' }, 'InvalidParameterCombination'],
    [{ Action: 'ModifyVpcAttribute', VpcId: VPC, 'EnableNetworkAddressUsageMetrics.Value': 'true' }, 'InvalidParameterValue'],
    [{ Action: 'ModifySubnetAttribute', SubnetId: SUBNET }, 'MissingParameter'],
    [{ Action: 'ModifySubnetAttribute', SubnetId: SUBNET, 'AssignIpv6AddressOnCreation.Value': 'true' }, 'InvalidParameterValue'],
    [{ Action: 'ModifySubnetAttribute', SubnetId: SUBNET, 'MapPublicIpOnLaunch.Value': 'maybe' }, 'InvalidParameterValue'],
    [{ Action: 'CreateInternetGateway', Bogus: '1' }, 'UnknownParameter'],
  ];
  for (const [params, want] of bad) assert.equal(code(() => parse(params)), want, JSON.stringify(params));
});

// ---------------------------------------------------------------- responses

const T = new Date('2026-01-02T03:04:05.678Z');
const TS = '2026-01-02T03:04:05.678000+00:00';
const igw = { internetGatewayId: IGW, ownerId: OWNER, attachments: [{ vpcId: VPC, state: 'available' as const }], tags: [{ key: 'Name', value: 'edge' }] };
const IGW_OUT = { InternetGatewayId: IGW, OwnerId: OWNER, Attachments: [{ VpcId: VPC, State: 'available' }], Tags: [{ Key: 'Name', Value: 'edge' }] };
const table = {
  routeTableId: RTB,
  vpcId: VPC,
  ownerId: OWNER,
  routes: [
    { destinationCidrBlock: '172.31.0.0/16', gatewayId: 'local', origin: 'CreateRouteTable' as const, state: 'active' as const },
    { destinationCidrBlock: '0.0.0.0/0', gatewayId: IGW, origin: 'CreateRoute' as const, state: 'blackhole' as const },
  ],
  associations: [
    { main: true, routeTableAssociationId: RTBASSOC, routeTableId: RTB, state: 'associated' as const },
    { main: false, routeTableAssociationId: 'rtbassoc-12345678', routeTableId: RTB, subnetId: SUBNET, state: 'associated' as const },
  ],
  tags: [],
};
const TABLE_OUT = {
  RouteTableId: RTB,
  VpcId: VPC,
  OwnerId: OWNER,
  Routes: [
    { DestinationCidrBlock: '172.31.0.0/16', GatewayId: 'local', Origin: 'CreateRouteTable', State: 'active' },
    { DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW, Origin: 'CreateRoute', State: 'blackhole' },
  ],
  Associations: [
    { Main: true, RouteTableAssociationId: RTBASSOC, RouteTableId: RTB, AssociationState: { State: 'associated' } },
    { Main: false, RouteTableAssociationId: 'rtbassoc-12345678', RouteTableId: RTB, SubnetId: SUBNET, AssociationState: { State: 'associated' } },
  ],
  PropagatingVgws: [],
  Tags: [],
};
const address = { allocationId: ALLOC, publicIp: IP, domain: 'vpc' as const, associationId: EIPASSOC, instanceId: I1, networkInterfaceId: ENI, networkInterfaceOwnerId: OWNER, privateIpAddress: '172.31.0.4', subnetId: SUBNET, publicIpv4Pool: 'amazon', networkBorderGroup: 'local-1', tags: [] };
const ADDRESS_OUT = { AllocationId: ALLOC, PublicIp: IP, Domain: 'vpc', AssociationId: EIPASSOC, InstanceId: I1, NetworkInterfaceId: ENI, NetworkInterfaceOwnerId: OWNER, PrivateIpAddress: '172.31.0.4', SubnetId: SUBNET, PublicIpv4Pool: 'amazon', NetworkBorderGroup: 'local-1' };

const responses: { readonly response: Ec2Response; readonly input: Record<string, unknown>; readonly expected: Record<string, unknown> }[] = [
  { response: { action: 'CreateInternetGateway', internetGateway: { ...igw, attachments: [] } }, input: {}, expected: { InternetGateway: { ...IGW_OUT, Attachments: [] } } },
  { response: { action: 'DescribeInternetGateways', internetGateways: [igw] }, input: {}, expected: { InternetGateways: [IGW_OUT] } },
  { response: { action: 'AttachInternetGateway' }, input: { InternetGatewayId: IGW, VpcId: VPC }, expected: {} },
  { response: { action: 'CreateRouteTable', routeTable: table }, input: { VpcId: VPC }, expected: { RouteTable: TABLE_OUT } },
  { response: { action: 'DescribeRouteTables', routeTables: [table] }, input: {}, expected: { RouteTables: [TABLE_OUT] } },
  { response: { action: 'CreateRoute' }, input: { RouteTableId: RTB, DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW }, expected: { Return: true } },
  { response: { action: 'AssociateRouteTable', associationId: RTBASSOC }, input: { RouteTableId: RTB, SubnetId: SUBNET }, expected: { AssociationId: RTBASSOC, AssociationState: { State: 'associated' } } },
  { response: { action: 'ReplaceRouteTableAssociation', newAssociationId: RTBASSOC }, input: { AssociationId: RTBASSOC, RouteTableId: RTB }, expected: { NewAssociationId: RTBASSOC, AssociationState: { State: 'associated' } } },
  {
    response: { action: 'AllocateAddress', address: { ...address, associationId: undefined, instanceId: undefined, networkInterfaceId: undefined, networkInterfaceOwnerId: undefined, privateIpAddress: undefined, subnetId: undefined } },
    input: {},
    expected: { AllocationId: ALLOC, PublicIp: IP, Domain: 'vpc', PublicIpv4Pool: 'amazon', NetworkBorderGroup: 'local-1' },
  },
  { response: { action: 'AssociateAddress', associationId: EIPASSOC }, input: {}, expected: { AssociationId: EIPASSOC } },
  { response: { action: 'DescribeAddresses', addresses: [address] }, input: {}, expected: { Addresses: [ADDRESS_OUT] } },
  { response: { action: 'DescribeVpcAttribute', vpcId: VPC, attribute: 'enableDnsHostnames', value: true }, input: { VpcId: VPC, Attribute: 'enableDnsHostnames' }, expected: { VpcId: VPC, EnableDnsHostnames: { Value: true } } },
  { response: { action: 'DescribeVpcAttribute', vpcId: VPC, attribute: 'enableDnsSupport', value: false }, input: { VpcId: VPC, Attribute: 'enableDnsSupport' }, expected: { VpcId: VPC, EnableDnsSupport: { Value: false } } },
];

test("botocore's EC2 parser (AWS CLI v1 and v2) reads every edge response as EC2's output shapes", () => {
  for (const peer of ['v1', 'v2'] as const) {
    const out = botocore(responses.map((r) => ({ kind: 'parse' as const, operation: r.response.action, body: renderEc2Response('req-1', r.response) })), peer) as Record<string, unknown>[];
    // awscli 2.9's older model has no Address.SubnetId.
    const older = (e: Record<string, unknown>): Record<string, unknown> => (peer === 'v2' && e['Addresses'] ? { Addresses: (e['Addresses'] as Record<string, unknown>[]).map(({ SubnetId: _s, ...a }) => a) } : e);
    responses.forEach((r, i) => assert.deepEqual(out[i], older(r.expected), `${peer} ${r.response.action}`));
  }
});

/** SDK v3 output with $metadata dropped. */
function sdkNormal(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(sdkNormal);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k, x]) => k !== '$metadata' && x !== undefined).map(([k, x]) => [k, sdkNormal(x)]));
  return v;
}

async function sdkParse(action: string, input: Record<string, unknown>, body: string): Promise<unknown> {
  const client = sdkAnswering(200, body, 'req-1');
  const Command = (sdk as unknown as Record<string, new (input: unknown) => never>)[`${action}Command`]!;
  try {
    return sdkNormal(await client.send(new Command(input)));
  } finally {
    client.destroy();
  }
}

test("SDK v3's deserializer reads every edge response as botocore does", async () => {
  for (const r of responses) assert.deepEqual(await sdkParse(r.response.action, r.input, renderEc2Response('req-1', r.response)), r.expected, r.response.action);
});

test("an instance's public address: PublicIpAddress, PublicDnsName and the ENI's Association, as botocore and SDK v3 read them", async () => {
  const dns = 'ec2-198-51-100-16.local-1.compute.amazonaws.com';
  const association = { publicIp: IP, publicDnsName: dns, ipOwnerId: 'amazon' };
  const instance: Ec2Instance = testInstance(T, {
    imageId: 'ami-12345678',
    privateDnsName: 'ip-172-31-0-4.local-1.compute.internal',
    dnsName: dns,
    ipAddress: IP,
    instanceType: 't3.nano',
    privateIpAddress: '172.31.0.4',
    rootDeviceType: 'instance-store',
    metadataOptions: { state: 'applied', httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' },
    networkInterfaces: [
      testInstanceEni(T, '172.31.0.4', {
        attachment: { attachmentId: 'eni-attach-12345678', deviceIndex: 0, status: 'attached', attachTime: T, deleteOnTermination: true },
        privateIpAddresses: [{ privateIpAddress: '172.31.0.4', primary: true, association }],
        association,
      }),
    ],
  });

  const body = renderEc2Response('req-1', { action: 'DescribeInstances', reservations: [{ reservationId: 'r-12345678', ownerId: OWNER, groups: [], instances: [instance] }] });
  const want = { PublicIp: IP, PublicDnsName: dns, IpOwnerId: 'amazon' };
  for (const peer of ['v1', 'v2'] as const) {
    const [parsed] = botocore([{ kind: 'parse', operation: 'DescribeInstances', body }], peer) as Record<string, any>[];
    const i = parsed!['Reservations'][0]['Instances'][0];
    assert.equal(i['PublicIpAddress'], IP, peer);
    assert.equal(i['PublicDnsName'], dns, peer);
    assert.deepEqual(i['NetworkInterfaces'][0]['Association'], want, peer);
    assert.deepEqual(i['NetworkInterfaces'][0]['PrivateIpAddresses'][0]['Association'], want, peer);
    assert.equal(i['NetworkInterfaces'][0]['Attachment']['AttachTime'], TS, peer);
  }
  const out = (await sdkParse('DescribeInstances', {}, body)) as Record<string, any>;
  const i = out['Reservations'][0]['Instances'][0];
  assert.equal(i['PublicIpAddress'], IP);
  assert.equal(i['PublicDnsName'], dns);
  assert.deepEqual(i['NetworkInterfaces'][0]['Association'], want);
});
