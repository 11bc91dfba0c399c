// The cross-account suite's cases (test/integration/cross-account.test.ts runs them): for
// every action of every service the region answers, keyed service:Action, what account B
// tries against account A's resources and the answer it must get: refused with the service's
// own code, or 'ok' (it succeeds and shows none of A's identifiers). `twin` repeats a refused
// call on a resource of A's account that does not exist, for refusals that are not a not-found.
// regionActions() lists every action from the region's own tables, so the suite can fail when
// an action has no case here.
import { createHash } from 'node:crypto';
import * as E from '@aws-sdk/client-ec2';
import * as K from '@aws-sdk/client-kms';
import * as I from '@aws-sdk/client-iam';
import * as B from '@aws-sdk/client-ebs';
import * as O from '@aws-sdk/client-organizations';
import * as S from '@aws-sdk/client-sts';
import { EC2_ACTION_TABLE } from '../src/region/api/actions/index.js';
import { KMS_OPERATIONS } from '../src/kms/api.js';
import { IAM_ACTIONS } from '../src/iam/api.js';
import { EBS_ROUTES } from '../src/region/protocol/ebs-direct/routes.js';
import { ORGANIZATIONS_OPERATIONS } from '../src/organizations/api.js';
import { STS_ACTIONS } from '../src/sts/api.js';
import { signRequest } from '../src/iam/sigv4/index.js';
import { BUILTIN_AMI } from './region-fixtures.js';

export interface Creds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface Clients {
  readonly ec2: E.EC2Client;
  readonly kms: K.KMSClient;
  readonly iam: I.IAMClient;
  readonly ebs: B.EBSClient;
  readonly org: O.OrganizationsClient;
  readonly sts: S.STSClient;
  readonly creds: Creds;
  readonly endpoint: string;
}

export function clients(endpoint: string, creds: Creds): Clients {
  const c = { endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 };
  return { ec2: new E.EC2Client(c), kms: new K.KMSClient(c), iam: new I.IAMClient(c), ebs: new B.EBSClient(c), org: new O.OrganizationsClient(c), sts: new S.STSClient(c), creds, endpoint };
}

/** What A owns, by the identifiers no other account may ever see. */
export interface AResources {
  accountId: string;
  instanceId: string;
  eniId: string;
  imageId: string;
  volumeId: string;
  snapshotId: string;
  directSnapshotId: string;
  pendingSnapshotId: string;
  blockToken: string;
  keyPairId: string;
  keyPairName: string;
  launchTemplateId: string;
  launchTemplateName: string;
  defaultVpcId: string;
  defaultSubnetId: string;
  defaultGroupId: string;
  /** The VPC edge: A's default VPC's gateway and main route table, and A's Elastic IP associated with A's instance. */
  igwId: string;
  routeTableId: string;
  routeTableAssociationId: string;
  allocationId: string;
  publicIp: string;
  eipAssociationId: string;
  vpcId: string;
  subnetId: string;
  groupId: string;
  kmsKeyId: string;
  kmsKeyArn: string;
  aliasName: string;
  grantId: string;
  grantToken: string;
  ciphertext: Uint8Array;
  userName: string;
  userId: string;
  userAccessKeyId: string;
  policyName: string;
  /** A role (named only in A: only-in-a-role) with an inline policy, and its id. */
  roleName: string;
  roleArn: string;
  roleId: string;
  rolePolicyName: string;
}

/** B's own things some attempts need (a volume to attach to A's instance, a key to re-encrypt to, …). */
export interface BResources {
  accountId: string;
  volumeId: string;
  groupId: string;
  kmsKeyId: string;
  aliasName: string;
}

/** One attempt by B: refused with `code`, or 'ok' (it succeeds and its answer shows none of A's identifiers). */
export interface Attempt {
  readonly label: string;
  readonly expect: string;
  readonly call: () => Promise<unknown>;
  /** The same call naming a resource of A's account that does not exist: it must be refused alike (no existence oracle). */
  readonly twin?: () => Promise<unknown>;
}

export type Cases = (a: AResources, b: BResources, c: Clients) => Attempt[];

const refused = (expect: string, label: string, call: () => Promise<unknown>, twin?: () => Promise<unknown>): Attempt => ({ label, expect, call, ...(twin ? { twin } : {}) });
/** A key ARN in A's account that names no key. */
const ghostKey = (a: AResources): string => `arn:aws:kms:local-1:${a.accountId}:key/00000000-0000-4000-8000-000000000000`;
const ok = (label: string, call: () => Promise<unknown>): Attempt => ({ label, expect: 'ok', call });

export const BLOCK = 512 * 1024;
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('base64');
export const block = Buffer.alloc(BLOCK, 0x5a);
const tag = [{ Key: 'owner', Value: 'b' }];
export const tcp22 = [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }];

/** A region-specific Query action the SDK has no command for (Nitride's own host actions): an error carries EC2's code and RequestID. */
async function query(c: Clients, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ ...params, Version: '2016-11-15' }).toString();
  const url = new URL(c.endpoint);
  const signed = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body },
    c.creds,
    { region: 'local-1', service: 'ec2' },
  );
  const r = await fetch(c.endpoint, { method: 'POST', headers: signed.headers, body });
  const text = await r.text();
  if (r.ok) return text;
  throw Object.assign(new Error(/<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? text), {
    name: /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP${r.status}`,
    $metadata: { requestId: /<RequestID>([^<]*)<\/RequestID>/.exec(text)?.[1] },
  });
}

// ---- every action, with B's attempts ----------------------------------------------------

/** The VPC edge (issue 13): gateways, route tables, Elastic IPs and attributes of A's are not B's to see or change. */
const EDGE_CASES: Record<string, Cases> = {
  CreateInternetGateway: (_a, _b, c) => [ok("B's own gateway", () => c.ec2.send(new E.CreateInternetGatewayCommand({})))],
  AttachInternetGateway: (a, _b, c) => [
    refused('InvalidInternetGatewayID.NotFound', "A's gateway to A's VPC", () => c.ec2.send(new E.AttachInternetGatewayCommand({ InternetGatewayId: a.igwId, VpcId: a.vpcId }))),
    refused('InvalidVpcID.NotFound', "B's gateway to A's VPC", async () => {
      const g = (await c.ec2.send(new E.CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
      return c.ec2.send(new E.AttachInternetGatewayCommand({ InternetGatewayId: g, VpcId: a.vpcId }));
    }),
  ],
  DetachInternetGateway: (a, _b, c) => [refused('InvalidInternetGatewayID.NotFound', "A's gateway", () => c.ec2.send(new E.DetachInternetGatewayCommand({ InternetGatewayId: a.igwId, VpcId: a.defaultVpcId })))],
  DeleteInternetGateway: (a, _b, c) => [refused('InvalidInternetGatewayID.NotFound', "A's gateway", () => c.ec2.send(new E.DeleteInternetGatewayCommand({ InternetGatewayId: a.igwId })))],
  DescribeInternetGateways: (a, _b, c) => [
    refused('InvalidInternetGatewayID.NotFound', "A's gateway by id", () => c.ec2.send(new E.DescribeInternetGatewaysCommand({ InternetGatewayIds: [a.igwId] }))),
    ok("filtered by A's VPC", () => c.ec2.send(new E.DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [a.defaultVpcId] }] }))),
    ok('every gateway', () => c.ec2.send(new E.DescribeInternetGatewaysCommand({}))),
  ],
  CreateRouteTable: (a, _b, c) => [refused('InvalidVpcID.NotFound', "in A's VPC", () => c.ec2.send(new E.CreateRouteTableCommand({ VpcId: a.vpcId })))],
  DeleteRouteTable: (a, _b, c) => [refused('InvalidRouteTableID.NotFound', "A's table", () => c.ec2.send(new E.DeleteRouteTableCommand({ RouteTableId: a.routeTableId })))],
  DescribeRouteTables: (a, _b, c) => [
    refused('InvalidRouteTableID.NotFound', "A's table by id", () => c.ec2.send(new E.DescribeRouteTablesCommand({ RouteTableIds: [a.routeTableId] }))),
    ok("filtered by A's VPC", () => c.ec2.send(new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [a.defaultVpcId] }] }))),
    ok('every table', () => c.ec2.send(new E.DescribeRouteTablesCommand({}))),
  ],
  CreateRoute: (a, _b, c) => [refused('InvalidRouteTableID.NotFound', "in A's table", () => c.ec2.send(new E.CreateRouteCommand({ RouteTableId: a.routeTableId, DestinationCidrBlock: '192.0.2.0/24', GatewayId: a.igwId })))],
  ReplaceRoute: (a, _b, c) => [refused('InvalidRouteTableID.NotFound', "A's default route", () => c.ec2.send(new E.ReplaceRouteCommand({ RouteTableId: a.routeTableId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: a.igwId })))],
  DeleteRoute: (a, _b, c) => [refused('InvalidRouteTableID.NotFound', "A's default route", () => c.ec2.send(new E.DeleteRouteCommand({ RouteTableId: a.routeTableId, DestinationCidrBlock: '0.0.0.0/0' })))],
  AssociateRouteTable: (a, _b, c) => [refused('InvalidRouteTableID.NotFound', "A's table with A's subnet", () => c.ec2.send(new E.AssociateRouteTableCommand({ RouteTableId: a.routeTableId, SubnetId: a.subnetId })))],
  DisassociateRouteTable: (a, _b, c) => [refused('InvalidAssociationID.NotFound', "A's main association", () => c.ec2.send(new E.DisassociateRouteTableCommand({ AssociationId: a.routeTableAssociationId })))],
  ReplaceRouteTableAssociation: (a, _b, c) => [
    refused('InvalidAssociationID.NotFound', "A's main association", () => c.ec2.send(new E.ReplaceRouteTableAssociationCommand({ AssociationId: a.routeTableAssociationId, RouteTableId: a.routeTableId }))),
  ],
  AllocateAddress: (_a, _b, c) => [ok("B's own address", () => c.ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' })))],
  AssociateAddress: (a, _b, c) => [
    refused('InvalidAllocationID.NotFound', "A's address to A's instance", () => c.ec2.send(new E.AssociateAddressCommand({ AllocationId: a.allocationId, InstanceId: a.instanceId, AllowReassociation: true }))),
    refused('InvalidAddress.NotFound', "A's address by IP", () => c.ec2.send(new E.AssociateAddressCommand({ PublicIp: a.publicIp, InstanceId: a.instanceId, AllowReassociation: true }))),
    refused('InvalidInstanceID.NotFound', "B's address to A's instance", async () => {
      const mine = (await c.ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
      return c.ec2.send(new E.AssociateAddressCommand({ AllocationId: mine, InstanceId: a.instanceId }));
    }),
    refused('InvalidNetworkInterfaceID.NotFound', "B's address to A's ENI", async () => {
      const mine = (await c.ec2.send(new E.DescribeAddressesCommand({}))).Addresses![0]!.AllocationId!;
      return c.ec2.send(new E.AssociateAddressCommand({ AllocationId: mine, NetworkInterfaceId: a.eniId }));
    }),
  ],
  DisassociateAddress: (a, _b, c) => [refused('InvalidAssociationID.NotFound', "A's association", () => c.ec2.send(new E.DisassociateAddressCommand({ AssociationId: a.eipAssociationId })))],
  ReleaseAddress: (a, _b, c) => [
    refused('InvalidAllocationID.NotFound', "A's address", () => c.ec2.send(new E.ReleaseAddressCommand({ AllocationId: a.allocationId }))),
    refused('InvalidAddress.NotFound', "A's address by IP", () => c.ec2.send(new E.ReleaseAddressCommand({ PublicIp: a.publicIp }))),
  ],
  DescribeAddresses: (a, _b, c) => [
    refused('InvalidAllocationID.NotFound', "A's address by id", () => c.ec2.send(new E.DescribeAddressesCommand({ AllocationIds: [a.allocationId] }))),
    refused('InvalidAddress.NotFound', "A's address by IP", () => c.ec2.send(new E.DescribeAddressesCommand({ PublicIps: [a.publicIp] }))),
    ok('every address', () => c.ec2.send(new E.DescribeAddressesCommand({}))),
  ],
  ModifyVpcAttribute: (a, _b, c) => [refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.ModifyVpcAttributeCommand({ VpcId: a.vpcId, EnableDnsHostnames: { Value: true } })))],
  ModifySubnetAttribute: (a, _b, c) => [refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.ModifySubnetAttributeCommand({ SubnetId: a.defaultSubnetId, MapPublicIpOnLaunch: { Value: false } })))],
};


const EC2_CASES: Record<string, Cases> = {
  ...EDGE_CASES,
  RunInstances: (a, _b, c) => {
    const run = { InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };
    return [
      refused('InvalidAMIID.NotFound', "A's private image", () => c.ec2.send(new E.RunInstancesCommand({ ...run, ImageId: a.imageId }))),
      refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.RunInstancesCommand({ ...run, ImageId: BUILTIN_AMI, SubnetId: a.subnetId }))),
      refused('InvalidGroup.NotFound', "A's security group", () => c.ec2.send(new E.RunInstancesCommand({ ...run, ImageId: BUILTIN_AMI, SecurityGroupIds: [a.groupId] }))),
      refused('InvalidKeyPair.NotFound', "A's key pair", () => c.ec2.send(new E.RunInstancesCommand({ ...run, ImageId: BUILTIN_AMI, KeyName: a.keyPairName }))),
      refused('InvalidLaunchTemplateId.NotFound', "A's launch template", () => c.ec2.send(new E.RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: a.launchTemplateId } }))),
      refused('InvalidLaunchTemplateName.NotFoundException', "A's launch template by name", () => c.ec2.send(new E.RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateName: a.launchTemplateName } }))),
      refused('InvalidSnapshot.NotFound', "a mapping of A's snapshot", () =>
        c.ec2.send(new E.RunInstancesCommand({ ...run, ImageId: BUILTIN_AMI, BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { SnapshotId: a.snapshotId } }] })),
      ),
    ];
  },
  DescribeInstances: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance by id", () => c.ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [a.instanceId] }))),
    ok('every instance', () => c.ec2.send(new E.DescribeInstancesCommand({}))),
    ok("filtered by A's instance id", () => c.ec2.send(new E.DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [a.instanceId] }] }))),
  ],
  DescribeInstanceStatus: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.DescribeInstanceStatusCommand({ InstanceIds: [a.instanceId], IncludeAllInstances: true }))),
    ok('every status', () => c.ec2.send(new E.DescribeInstanceStatusCommand({ IncludeAllInstances: true }))),
  ],
  StartInstances: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.StartInstancesCommand({ InstanceIds: [a.instanceId] })))],
  StopInstances: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.StopInstancesCommand({ InstanceIds: [a.instanceId], Force: true })))],
  TerminateInstances: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [a.instanceId] })))],
  RebootInstances: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.RebootInstancesCommand({ InstanceIds: [a.instanceId] })))],
  GetConsoleOutput: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.GetConsoleOutputCommand({ InstanceId: a.instanceId })))],
  GetInstanceTpmEkPub: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.GetInstanceTpmEkPubCommand({ InstanceId: a.instanceId, KeyType: 'rsa-2048', KeyFormat: 'der' }))),
  ],
  DescribeInstanceTypes: (_a, _b, c) => [ok('names no resource', () => c.ec2.send(new E.DescribeInstanceTypesCommand({ InstanceTypes: ['t3.nano'] })))],
  DescribeInstanceAttribute: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: a.instanceId, Attribute: 'userData' }))),
  ],
  DescribeImages: (a, _b, c) => [
    refused('InvalidAMIID.NotFound', "A's private image by id", () => c.ec2.send(new E.DescribeImagesCommand({ ImageIds: [a.imageId] }))),
    ok("A's account as owner", () => c.ec2.send(new E.DescribeImagesCommand({ Owners: [a.accountId] }))),
    ok('every image B can see', () => c.ec2.send(new E.DescribeImagesCommand({}))),
  ],
  RegisterImage: (a, _b, c) => [
    refused('InvalidSnapshot.NotFound', "A's snapshot as root", () =>
      c.ec2.send(new E.RegisterImageCommand({ Name: 'b-from-a', RootDeviceName: '/dev/xvda', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: a.snapshotId } }] })),
    ),
  ],
  DeregisterImage: (a, _b, c) => [refused('InvalidAMIID.NotFound', "A's image", () => c.ec2.send(new E.DeregisterImageCommand({ ImageId: a.imageId })))],
  CopyImage: (a, _b, c) => [refused('InvalidAMIID.NotFound', "A's image", () => c.ec2.send(new E.CopyImageCommand({ SourceImageId: a.imageId, SourceRegion: 'local-1', Name: 'b-copy' })))],
  CreateImage: (a, _b, c) => [refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.CreateImageCommand({ InstanceId: a.instanceId, Name: 'b-image' })))],
  CreateKeyPair: (a, _b, c) => [ok("B's own pair under A's pair's name", () => c.ec2.send(new E.CreateKeyPairCommand({ KeyName: a.keyPairName })))],
  ImportKeyPair: (_a, _b, c) => [
    ok("B's own imported pair", () =>
      c.ec2.send(new E.ImportKeyPairCommand({ KeyName: 'b-imported', PublicKeyMaterial: Buffer.from('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnbLw2kCW1RVeDwLbbYb9Bu8FSn5G4Qh8hNAwHdMdz0 b') })),
    ),
  ],
  DescribeKeyPairs: (a, _b, c) => [
    refused('InvalidKeyPair.NotFound', "A's pair by id", () => c.ec2.send(new E.DescribeKeyPairsCommand({ KeyPairIds: [a.keyPairId] }))),
    ok('every pair', () => c.ec2.send(new E.DescribeKeyPairsCommand({ IncludePublicKey: true }))),
  ],
  DeleteKeyPair: (a, _b, c) => [
    // EC2 answers true for a pair that does not exist; A's must stay.
    ok("A's pair by id", () => c.ec2.send(new E.DeleteKeyPairCommand({ KeyPairId: a.keyPairId }))),
  ],
  DescribeRegions: (_a, _b, c) => [ok('names no resource', () => c.ec2.send(new E.DescribeRegionsCommand({})))],
  DescribeAvailabilityZones: (_a, _b, c) => [ok('names no resource', () => c.ec2.send(new E.DescribeAvailabilityZonesCommand({})))],
  CreateTags: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.instanceId], Tags: tag }))),
    refused('InvalidAMIID.NotFound', "A's image", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.imageId], Tags: tag }))),
    refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.volumeId], Tags: tag }))),
    refused('InvalidSnapshot.NotFound', "A's snapshot", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.snapshotId], Tags: tag }))),
    refused('InvalidKeyPair.NotFound', "A's key pair", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.keyPairId], Tags: tag }))),
    refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.vpcId], Tags: tag }))),
    refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.subnetId], Tags: tag }))),
    refused('InvalidGroup.NotFound', "A's group", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.groupId], Tags: tag }))),
    refused('InvalidNetworkInterfaceID.NotFound', "A's ENI", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.eniId], Tags: tag }))),
    refused('InvalidLaunchTemplateId.NotFound', "A's launch template", () => c.ec2.send(new E.CreateTagsCommand({ Resources: [a.launchTemplateId], Tags: tag }))),
  ],
  DeleteTags: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.instanceId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidAMIID.NotFound', "A's image", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.imageId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.volumeId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidSnapshot.NotFound', "A's snapshot", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.snapshotId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidKeyPair.NotFound', "A's key pair", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.keyPairId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.vpcId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.subnetId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidGroup.NotFound', "A's group", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.groupId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidNetworkInterfaceID.NotFound', "A's ENI", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.eniId], Tags: [{ Key: 'owner' }] }))),
    refused('InvalidLaunchTemplateId.NotFound', "A's launch template", () => c.ec2.send(new E.DeleteTagsCommand({ Resources: [a.launchTemplateId], Tags: [{ Key: 'owner' }] }))),
  ],
  DescribeTags: (a, _b, c) => [
    ok('every tag', () => c.ec2.send(new E.DescribeTagsCommand({}))),
    ok("filtered by A's ids", () => c.ec2.send(new E.DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [a.instanceId, a.volumeId, a.imageId, a.vpcId] }] }))),
  ],
  CreateVolume: (a, _b, c) => [
    refused('InvalidSnapshot.NotFound', "from A's snapshot", () => c.ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', SnapshotId: a.snapshotId }))),
    refused(
      'UnauthorizedOperation',
      "encrypted under A's KMS key",
      () => c.ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, KmsKeyId: a.kmsKeyArn })),
      () => c.ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, KmsKeyId: ghostKey(a) })),
    ),
  ],
  DescribeVolumes: (a, _b, c) => [
    refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.DescribeVolumesCommand({ VolumeIds: [a.volumeId] }))),
    ok('every volume', () => c.ec2.send(new E.DescribeVolumesCommand({}))),
  ],
  AttachVolume: (a, b, c) => [
    refused('InvalidVolume.NotFound', "A's volume to A's instance", () => c.ec2.send(new E.AttachVolumeCommand({ VolumeId: a.volumeId, InstanceId: a.instanceId, Device: '/dev/sdf' }))),
    refused('InvalidInstanceID.NotFound', "B's volume to A's instance", () => c.ec2.send(new E.AttachVolumeCommand({ VolumeId: b.volumeId, InstanceId: a.instanceId, Device: '/dev/sdf' }))),
  ],
  DetachVolume: (a, _b, c) => [refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.DetachVolumeCommand({ VolumeId: a.volumeId, Force: true })))],
  DeleteVolume: (a, _b, c) => [refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.DeleteVolumeCommand({ VolumeId: a.volumeId })))],
  ModifyVolume: (a, _b, c) => [refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.ModifyVolumeCommand({ VolumeId: a.volumeId, Size: 9 })))],
  CreateSnapshot: (a, _b, c) => [refused('InvalidVolume.NotFound', "A's volume", () => c.ec2.send(new E.CreateSnapshotCommand({ VolumeId: a.volumeId })))],
  DescribeSnapshots: (a, _b, c) => [
    refused('InvalidSnapshot.NotFound', "A's snapshot", () => c.ec2.send(new E.DescribeSnapshotsCommand({ SnapshotIds: [a.snapshotId] }))),
    refused('InvalidSnapshot.NotFound', "A's EBS direct snapshot", () => c.ec2.send(new E.DescribeSnapshotsCommand({ SnapshotIds: [a.directSnapshotId] }))),
    ok("A's account as owner", () => c.ec2.send(new E.DescribeSnapshotsCommand({ OwnerIds: [a.accountId] }))),
    ok('every snapshot', () => c.ec2.send(new E.DescribeSnapshotsCommand({}))),
  ],
  CopySnapshot: (a, _b, c) => [refused('InvalidSnapshot.NotFound', "A's snapshot", () => c.ec2.send(new E.CopySnapshotCommand({ SourceSnapshotId: a.snapshotId, SourceRegion: 'local-1' })))],
  DeleteSnapshot: (a, _b, c) => [
    refused('InvalidSnapshot.NotFound', "A's snapshot", () => c.ec2.send(new E.DeleteSnapshotCommand({ SnapshotId: a.snapshotId }))),
    refused('InvalidSnapshot.NotFound', "A's pending EBS direct snapshot", () => c.ec2.send(new E.DeleteSnapshotCommand({ SnapshotId: a.pendingSnapshotId }))),
  ],
  EnableEbsEncryptionByDefault: (_a, _b, c) => [ok("B's own setting", () => c.ec2.send(new E.EnableEbsEncryptionByDefaultCommand({})))],
  DisableEbsEncryptionByDefault: (_a, _b, c) => [ok("B's own setting", () => c.ec2.send(new E.DisableEbsEncryptionByDefaultCommand({})))],
  GetEbsEncryptionByDefault: (_a, _b, c) => [ok("B's own setting", () => c.ec2.send(new E.GetEbsEncryptionByDefaultCommand({})))],
  GetEbsDefaultKmsKeyId: (_a, _b, c) => [ok("B's own setting", () => c.ec2.send(new E.GetEbsDefaultKmsKeyIdCommand({})))],
  ModifyEbsDefaultKmsKeyId: (a, _b, c) => [
    refused(
      'UnauthorizedOperation',
      "A's KMS key",
      () => c.ec2.send(new E.ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: a.kmsKeyArn })),
      () => c.ec2.send(new E.ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: ghostKey(a) })),
    ),
  ],
  ResetEbsDefaultKmsKeyId: (_a, _b, c) => [ok("B's own setting", () => c.ec2.send(new E.ResetEbsDefaultKmsKeyIdCommand({})))],
  CreateVpc: (_a, _b, c) => [ok("B's own VPC", () => c.ec2.send(new E.CreateVpcCommand({ CidrBlock: '10.9.0.0/16' })))],
  DescribeVpcs: (a, _b, c) => [
    refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DescribeVpcsCommand({ VpcIds: [a.vpcId] }))),
    refused('InvalidVpcID.NotFound', "A's default VPC", () => c.ec2.send(new E.DescribeVpcsCommand({ VpcIds: [a.defaultVpcId] }))),
    ok('every VPC', () => c.ec2.send(new E.DescribeVpcsCommand({}))),
  ],
  DeleteVpc: (a, _b, c) => [refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DeleteVpcCommand({ VpcId: a.vpcId })))],
  CreateSubnet: (a, _b, c) => [refused('InvalidVpcID.NotFound', "in A's VPC", () => c.ec2.send(new E.CreateSubnetCommand({ VpcId: a.vpcId, CidrBlock: '10.7.9.0/24' })))],
  DescribeSubnets: (a, _b, c) => [
    refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: [a.subnetId] }))),
    ok("filtered by A's VPC", () => c.ec2.send(new E.DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [a.vpcId, a.defaultVpcId] }] }))),
    ok('every subnet', () => c.ec2.send(new E.DescribeSubnetsCommand({}))),
  ],
  DeleteSubnet: (a, _b, c) => [refused('InvalidSubnetID.NotFound', "A's subnet", () => c.ec2.send(new E.DeleteSubnetCommand({ SubnetId: a.subnetId })))],
  CreateSecurityGroup: (a, _b, c) => [refused('InvalidVpcID.NotFound', "in A's VPC", () => c.ec2.send(new E.CreateSecurityGroupCommand({ GroupName: 'b-in-a', Description: 'b', VpcId: a.vpcId })))],
  DescribeSecurityGroups: (a, _b, c) => [
    refused('InvalidGroup.NotFound', "A's group", () => c.ec2.send(new E.DescribeSecurityGroupsCommand({ GroupIds: [a.groupId] }))),
    refused('InvalidGroup.NotFound', "A's default group", () => c.ec2.send(new E.DescribeSecurityGroupsCommand({ GroupIds: [a.defaultGroupId] }))),
    ok('every group', () => c.ec2.send(new E.DescribeSecurityGroupsCommand({}))),
  ],
  DeleteSecurityGroup: (a, _b, c) => [refused('InvalidGroup.NotFound', "A's group", () => c.ec2.send(new E.DeleteSecurityGroupCommand({ GroupId: a.groupId })))],
  AuthorizeSecurityGroupIngress: (a, b, c) => [
    refused('InvalidGroup.NotFound', "on A's group", () => c.ec2.send(new E.AuthorizeSecurityGroupIngressCommand({ GroupId: a.groupId, IpPermissions: tcp22 }))),
    refused('InvalidGroup.NotFound', "on B's group from A's group", () =>
      c.ec2.send(new E.AuthorizeSecurityGroupIngressCommand({ GroupId: b.groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: a.groupId }] }] })),
    ),
  ],
  AuthorizeSecurityGroupEgress: (a, b, c) => [
    refused('InvalidGroup.NotFound', "on A's group", () => c.ec2.send(new E.AuthorizeSecurityGroupEgressCommand({ GroupId: a.groupId, IpPermissions: tcp22 }))),
    refused('InvalidGroup.NotFound', "on B's group to A's group", () =>
      c.ec2.send(new E.AuthorizeSecurityGroupEgressCommand({ GroupId: b.groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: a.groupId }] }] })),
    ),
  ],
  RevokeSecurityGroupIngress: (a, _b, c) => [refused('InvalidGroup.NotFound', "on A's group", () => c.ec2.send(new E.RevokeSecurityGroupIngressCommand({ GroupId: a.groupId, IpPermissions: tcp22 })))],
  RevokeSecurityGroupEgress: (a, _b, c) => [refused('InvalidGroup.NotFound', "on A's group", () => c.ec2.send(new E.RevokeSecurityGroupEgressCommand({ GroupId: a.groupId, IpPermissions: tcp22 })))],
  DescribeNetworkInterfaces: (a, _b, c) => [
    refused('InvalidNetworkInterfaceID.NotFound', "A's ENI", () => c.ec2.send(new E.DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [a.eniId] }))),
    ok('every ENI', () => c.ec2.send(new E.DescribeNetworkInterfacesCommand({}))),
  ],
  ModifyNetworkInterfaceAttribute: (a, b, c) => [
    refused('InvalidNetworkInterfaceID.NotFound', "A's ENI into B's group", () => c.ec2.send(new E.ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: a.eniId, Groups: [b.groupId] }))),
    refused('InvalidNetworkInterfaceID.NotFound', "A's ENI's source/dest check", () => c.ec2.send(new E.ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: a.eniId, SourceDestCheck: { Value: false } }))),
  ],
  ModifyInstanceAttribute: (a, b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance's groups", () => c.ec2.send(new E.ModifyInstanceAttributeCommand({ InstanceId: a.instanceId, Groups: [b.groupId] }))),
    refused('InvalidInstanceID.NotFound', "A's instance's termination protection", () => c.ec2.send(new E.ModifyInstanceAttributeCommand({ InstanceId: a.instanceId, DisableApiTermination: { Value: false } }))),
    refused('InvalidInstanceID.NotFound', "A's instance's type", () => c.ec2.send(new E.ModifyInstanceAttributeCommand({ InstanceId: a.instanceId, InstanceType: { Value: 't3.micro' } }))),
  ],
  DescribeAccountAttributes: (_a, _b, c) => [ok("the caller's own attributes", () => c.ec2.send(new E.DescribeAccountAttributesCommand({})))],
  DescribeInstanceTypeOfferings: (_a, _b, c) => [ok('names no resource', () => c.ec2.send(new E.DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone' })))],
  DescribeVpcClassicLink: (a, _b, c) => [
    refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DescribeVpcClassicLinkCommand({ VpcIds: [a.vpcId] }))),
    ok('every VPC', () => c.ec2.send(new E.DescribeVpcClassicLinkCommand({}))),
  ],
  DescribeVpcAttribute: (a, _b, c) => [
    refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DescribeVpcAttributeCommand({ VpcId: a.vpcId, Attribute: 'enableDnsSupport' }))),
    refused('InvalidVpcID.NotFound', "A's default VPC", () => c.ec2.send(new E.DescribeVpcAttributeCommand({ VpcId: a.defaultVpcId, Attribute: 'enableDnsHostnames' }))),
  ],
  DescribeVpcClassicLinkDnsSupport: (a, _b, c) => [refused('InvalidVpcID.NotFound', "A's VPC", () => c.ec2.send(new E.DescribeVpcClassicLinkDnsSupportCommand({ VpcIds: [a.vpcId] })))],
  CreateLaunchTemplate: (a, _b, c) => [
    // names are per account: B's template of the same name is B's own, and a launch from it is checked then
    ok("B's template with A's template's name", () => c.ec2.send(new E.CreateLaunchTemplateCommand({ LaunchTemplateName: a.launchTemplateName, LaunchTemplateData: { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' } }))),
  ],
  CreateLaunchTemplateVersion: (a, _b, c) => [
    refused('InvalidLaunchTemplateId.NotFound', "A's template", () => c.ec2.send(new E.CreateLaunchTemplateVersionCommand({ LaunchTemplateId: a.launchTemplateId, LaunchTemplateData: { InstanceType: 't3.micro' } }))),
  ],
  DescribeLaunchTemplates: (a, _b, c) => [
    refused('InvalidLaunchTemplateId.NotFound', "A's template by id", () => c.ec2.send(new E.DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [a.launchTemplateId] }))),
    ok('every template', () => c.ec2.send(new E.DescribeLaunchTemplatesCommand({}))),
  ],
  DescribeLaunchTemplateVersions: (a, _b, c) => [
    refused('InvalidLaunchTemplateId.NotFound', "A's template", () => c.ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: a.launchTemplateId }))),
    ok("every template's latest version", () => c.ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest'] }))),
  ],
  ModifyLaunchTemplate: (a, _b, c) => [refused('InvalidLaunchTemplateId.NotFound', "A's template", () => c.ec2.send(new E.ModifyLaunchTemplateCommand({ LaunchTemplateId: a.launchTemplateId, DefaultVersion: '1' })))],
  DeleteLaunchTemplate: (a, _b, c) => [refused('InvalidLaunchTemplateId.NotFound', "A's template", () => c.ec2.send(new E.DeleteLaunchTemplateCommand({ LaunchTemplateId: a.launchTemplateId })))],
  DeleteLaunchTemplateVersions: (a, _b, c) => [
    refused('InvalidLaunchTemplateId.NotFound', "A's template", () => c.ec2.send(new E.DeleteLaunchTemplateVersionsCommand({ LaunchTemplateId: a.launchTemplateId, Versions: ['1'] }))),
  ],
  ModifyInstanceMetadataOptions: (a, _b, c) => [
    refused('InvalidInstanceID.NotFound', "A's instance", () => c.ec2.send(new E.ModifyInstanceMetadataOptionsCommand({ InstanceId: a.instanceId, HttpTokens: 'optional' }))),
  ],
  // Hosts belong to the region's operator, not to any tenant.
  NitrideAddHost: (_a, _b, c) => [refused('UnauthorizedOperation', 'a host enrolment', () => query(c, { Action: 'NitrideAddHost', Address: '127.0.0.1', Port: '9', Token: 'x'.repeat(32), BootstrapFingerprint: 'SHA256:' + '0'.repeat(64) }))],
  NitrideSetHostRelease: (_a, _b, c) => [refused('UnauthorizedOperation', 'a host release', () => query(c, { Action: 'NitrideSetHostRelease', PolicyDocument: '{"release":"x","measurements":{"0":"' + '0'.repeat(96) + '"}}' }))],
  NitrideUpdateHostComponent: (_a, _b, c) => [refused('UnauthorizedOperation', 'a host component', () => query(c, { Action: 'NitrideUpdateHostComponent', Component: 'ebs', Rollback: 'true' }))],
};

const KMS_CASES: Record<string, Cases> = {
  CreateKey: (_a, _b, c) => [ok("B's own key", () => c.kms.send(new K.CreateKeyCommand({ Description: 'b' })))],
  DescribeKey: (a, _b, c) => [
    refused('NotFoundException', "A's key by id", () => c.kms.send(new K.DescribeKeyCommand({ KeyId: a.kmsKeyId }))),
    refused(
      'AccessDeniedException',
      "A's key by ARN",
      () => c.kms.send(new K.DescribeKeyCommand({ KeyId: a.kmsKeyArn })),
      () => c.kms.send(new K.DescribeKeyCommand({ KeyId: ghostKey(a) })),
    ),
    refused('NotFoundException', "A's alias", () => c.kms.send(new K.DescribeKeyCommand({ KeyId: a.aliasName }))),
  ],
  ListKeys: (_a, _b, c) => [ok('every key', () => c.kms.send(new K.ListKeysCommand({})))],
  GetKeyPolicy: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.GetKeyPolicyCommand({ KeyId: a.kmsKeyArn, PolicyName: 'default' })))],
  PutKeyPolicy: (a, b, c) => [
    refused('AccessDeniedException', "A's key, opening it to B", () =>
      c.kms.send(
        new K.PutKeyPolicyCommand({
          KeyId: a.kmsKeyArn,
          PolicyName: 'default',
          Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${b.accountId}:root` }, Action: 'kms:*', Resource: '*' }] }),
        }),
      ),
    ),
  ],
  ListKeyPolicies: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.ListKeyPoliciesCommand({ KeyId: a.kmsKeyArn })))],
  // An alias and its key are in one account: another account's key is not found, existing or not.
  CreateAlias: (a, _b, c) => [
    refused(
      'NotFoundException',
      "B's alias to A's key",
      () => c.kms.send(new K.CreateAliasCommand({ AliasName: 'alias/b-to-a', TargetKeyId: a.kmsKeyArn })),
      () => c.kms.send(new K.CreateAliasCommand({ AliasName: 'alias/b-to-a', TargetKeyId: ghostKey(a) })),
    ),
  ],
  UpdateAlias: (a, b, c) => [
    refused('NotFoundException', "A's alias to B's key", () => c.kms.send(new K.UpdateAliasCommand({ AliasName: a.aliasName, TargetKeyId: b.kmsKeyId }))),
    refused(
      'NotFoundException',
      "B's alias to A's key",
      () => c.kms.send(new K.UpdateAliasCommand({ AliasName: b.aliasName, TargetKeyId: a.kmsKeyArn })),
      () => c.kms.send(new K.UpdateAliasCommand({ AliasName: b.aliasName, TargetKeyId: ghostKey(a) })),
    ),
  ],
  DeleteAlias: (a, _b, c) => [refused('NotFoundException', "A's alias", () => c.kms.send(new K.DeleteAliasCommand({ AliasName: a.aliasName })))],
  ListAliases: (a, _b, c) => [
    ok('every alias', () => c.kms.send(new K.ListAliasesCommand({}))),
    refused(
      'NotFoundException',
      "A's key's aliases",
      () => c.kms.send(new K.ListAliasesCommand({ KeyId: a.kmsKeyArn })),
      () => c.kms.send(new K.ListAliasesCommand({ KeyId: ghostKey(a) })),
    ),
  ],
  Encrypt: (a, _b, c) => [refused('AccessDeniedException', "under A's key", () => c.kms.send(new K.EncryptCommand({ KeyId: a.kmsKeyArn, Plaintext: Buffer.from('b') })))],
  Decrypt: (a, _b, c) => [refused('AccessDeniedException', "A's ciphertext", () => c.kms.send(new K.DecryptCommand({ CiphertextBlob: a.ciphertext })))],
  GenerateDataKey: (a, _b, c) => [refused('AccessDeniedException', "under A's key", () => c.kms.send(new K.GenerateDataKeyCommand({ KeyId: a.kmsKeyArn, KeySpec: 'AES_256' })))],
  GenerateDataKeyWithoutPlaintext: (a, _b, c) => [
    refused('AccessDeniedException', "under A's key", () => c.kms.send(new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: a.kmsKeyArn, KeySpec: 'AES_256' }))),
  ],
  ReEncrypt: (a, b, c) => [
    refused('AccessDeniedException', "A's ciphertext to B's key", () => c.kms.send(new K.ReEncryptCommand({ CiphertextBlob: a.ciphertext, DestinationKeyId: b.kmsKeyId }))),
  ],
  GenerateRandom: (_a, _b, c) => [ok('names no resource', () => c.kms.send(new K.GenerateRandomCommand({ NumberOfBytes: 16 })))],
  EnableKey: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.EnableKeyCommand({ KeyId: a.kmsKeyArn })))],
  DisableKey: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.DisableKeyCommand({ KeyId: a.kmsKeyArn })))],
  ScheduleKeyDeletion: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.ScheduleKeyDeletionCommand({ KeyId: a.kmsKeyArn, PendingWindowInDays: 7 })))],
  CancelKeyDeletion: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.CancelKeyDeletionCommand({ KeyId: a.kmsKeyArn })))],
  EnableKeyRotation: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.EnableKeyRotationCommand({ KeyId: a.kmsKeyArn })))],
  DisableKeyRotation: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.DisableKeyRotationCommand({ KeyId: a.kmsKeyArn })))],
  GetKeyRotationStatus: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.GetKeyRotationStatusCommand({ KeyId: a.kmsKeyArn })))],
  RotateKeyOnDemand: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.RotateKeyOnDemandCommand({ KeyId: a.kmsKeyArn })))],
  CreateGrant: (a, b, c) => [
    refused(
      'AccessDeniedException',
      "on A's key for B",
      () => c.kms.send(new K.CreateGrantCommand({ KeyId: a.kmsKeyArn, GranteePrincipal: `arn:aws:iam::${b.accountId}:root`, Operations: ['Decrypt', 'Encrypt'] })),
      () => c.kms.send(new K.CreateGrantCommand({ KeyId: ghostKey(a), GranteePrincipal: `arn:aws:iam::${b.accountId}:root`, Operations: ['Decrypt', 'Encrypt'] })),
    ),
  ],
  ListGrants: (a, _b, c) => [refused('AccessDeniedException', "A's key", () => c.kms.send(new K.ListGrantsCommand({ KeyId: a.kmsKeyArn })))],
  RetireGrant: (a, _b, c) => [
    refused('AccessDeniedException', "A's grant by key and id", () => c.kms.send(new K.RetireGrantCommand({ KeyId: a.kmsKeyArn, GrantId: a.grantId }))),
    refused('AccessDeniedException', "A's grant by token", () => c.kms.send(new K.RetireGrantCommand({ GrantToken: a.grantToken }))),
  ],
  RevokeGrant: (a, _b, c) => [refused('AccessDeniedException', "A's grant", () => c.kms.send(new K.RevokeGrantCommand({ KeyId: a.kmsKeyArn, GrantId: a.grantId })))],
  TagResource: (a, _b, c) => [
    refused(
      'AccessDeniedException',
      "A's key",
      () => c.kms.send(new K.TagResourceCommand({ KeyId: a.kmsKeyArn, Tags: [{ TagKey: 'owner', TagValue: 'b' }] })),
      () => c.kms.send(new K.TagResourceCommand({ KeyId: ghostKey(a), Tags: [{ TagKey: 'owner', TagValue: 'b' }] })),
    ),
  ],
  UntagResource: (a, _b, c) => [
    refused(
      'AccessDeniedException',
      "A's key",
      () => c.kms.send(new K.UntagResourceCommand({ KeyId: a.kmsKeyArn, TagKeys: ['owner'] })),
      () => c.kms.send(new K.UntagResourceCommand({ KeyId: ghostKey(a), TagKeys: ['owner'] })),
    ),
  ],
  ListResourceTags: (a, _b, c) => [
    refused(
      'AccessDeniedException',
      "A's key",
      () => c.kms.send(new K.ListResourceTagsCommand({ KeyId: a.kmsKeyArn })),
      () => c.kms.send(new K.ListResourceTagsCommand({ KeyId: ghostKey(a) })),
    ),
  ],
};

// IAM names users only inside the caller's own account: B naming A's user finds no such user.
const IAM_CASES: Record<string, Cases> = {
  CreateUser: (a, _b, c) => [ok("B's own user under A's user's name", () => c.iam.send(new I.CreateUserCommand({ UserName: a.userName })))],
  GetUser: (a, _b, c) => [ok("B's namesake, not A's user", () => c.iam.send(new I.GetUserCommand({ UserName: a.userName })))],
  ListUsers: (_a, _b, c) => [ok('every user', () => c.iam.send(new I.ListUsersCommand({})))],
  DeleteUser: (_a, _b, c) => [refused('NoSuchEntityException', 'a user only A has', () => c.iam.send(new I.DeleteUserCommand({ UserName: 'only-in-a' })))],
  CreateAccessKey: (_a, _b, c) => [refused('NoSuchEntityException', 'for a user only A has', () => c.iam.send(new I.CreateAccessKeyCommand({ UserName: 'only-in-a' })))],
  ListAccessKeys: (_a, _b, c) => [refused('NoSuchEntityException', 'of a user only A has', () => c.iam.send(new I.ListAccessKeysCommand({ UserName: 'only-in-a' })))],
  DeleteAccessKey: (a, _b, c) => [
    refused('NoSuchEntityException', "A's user's key, as B's root", () => c.iam.send(new I.DeleteAccessKeyCommand({ AccessKeyId: a.userAccessKeyId }))),
    refused('NoSuchEntityException', "A's user's key, naming B's namesake", () => c.iam.send(new I.DeleteAccessKeyCommand({ UserName: a.userName, AccessKeyId: a.userAccessKeyId }))),
  ],
  PutUserPolicy: (_a, _b, c) => [
    refused('NoSuchEntityException', 'on a user only A has', () =>
      c.iam.send(new I.PutUserPolicyCommand({ UserName: 'only-in-a', PolicyName: 'p', PolicyDocument: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}' })),
    ),
  ],
  GetUserPolicy: (a, _b, c) => [refused('NoSuchEntityException', "A's policy on B's namesake", () => c.iam.send(new I.GetUserPolicyCommand({ UserName: a.userName, PolicyName: a.policyName })))],
  ListUserPolicies: (_a, _b, c) => [refused('NoSuchEntityException', 'of a user only A has', () => c.iam.send(new I.ListUserPoliciesCommand({ UserName: 'only-in-a' })))],
  DeleteUserPolicy: (a, _b, c) => [refused('NoSuchEntityException', "A's policy on B's namesake", () => c.iam.send(new I.DeleteUserPolicyCommand({ UserName: a.userName, PolicyName: a.policyName })))],
  // Roles likewise: B naming A's role finds none of its own (the name is only A's).
  CreateRole: (a, b, c) => [
    ok("B's own role, named like A's with a suffix", () =>
      c.iam.send(new I.CreateRoleCommand({ RoleName: `${a.roleName}-b`, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${b.accountId}:root` }, Action: 'sts:AssumeRole' } }) })),
    ),
  ],
  GetRole: (a, _b, c) => [refused('NoSuchEntityException', "A's role", () => c.iam.send(new I.GetRoleCommand({ RoleName: a.roleName })))],
  ListRoles: (_a, _b, c) => [ok('every role', () => c.iam.send(new I.ListRolesCommand({})))],
  DeleteRole: (a, _b, c) => [refused('NoSuchEntityException', "A's role", () => c.iam.send(new I.DeleteRoleCommand({ RoleName: a.roleName })))],
  UpdateAssumeRolePolicy: (a, b, c) => [
    refused('NoSuchEntityException', "A's role, to let B in", () =>
      c.iam.send(new I.UpdateAssumeRolePolicyCommand({ RoleName: a.roleName, PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${b.accountId}:root` }, Action: 'sts:AssumeRole' } }) })),
    ),
  ],
  PutRolePolicy: (a, _b, c) => [
    refused('NoSuchEntityException', "on A's role", () =>
      c.iam.send(new I.PutRolePolicyCommand({ RoleName: a.roleName, PolicyName: 'p', PolicyDocument: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}' })),
    ),
  ],
  GetRolePolicy: (a, _b, c) => [refused('NoSuchEntityException', "A's role policy", () => c.iam.send(new I.GetRolePolicyCommand({ RoleName: a.roleName, PolicyName: a.rolePolicyName })))],
  ListRolePolicies: (a, _b, c) => [refused('NoSuchEntityException', "of A's role", () => c.iam.send(new I.ListRolePoliciesCommand({ RoleName: a.roleName })))],
  DeleteRolePolicy: (a, _b, c) => [refused('NoSuchEntityException', "A's role policy", () => c.iam.send(new I.DeleteRolePolicyCommand({ RoleName: a.roleName, PolicyName: a.rolePolicyName })))],
};

// STS: B learns only itself, and A's role (which trusts A's account) refuses B like a role that does not exist.
const STS_CASES: Record<string, Cases> = {
  GetCallerIdentity: (_a, _b, c) => [ok("B's own identity", () => c.sts.send(new S.GetCallerIdentityCommand({})))],
  GetSessionToken: (_a, _b, c) => [ok("B's own session", () => c.sts.send(new S.GetSessionTokenCommand({ DurationSeconds: 900 })))],
  AssumeRole: (a, _b, c) => [
    refused(
      'AccessDenied',
      "A's role",
      () => c.sts.send(new S.AssumeRoleCommand({ RoleArn: a.roleArn, RoleSessionName: 'from-b' })),
      () => c.sts.send(new S.AssumeRoleCommand({ RoleArn: `arn:aws:iam::${a.accountId}:role/no-such-role`, RoleSessionName: 'from-b' })),
    ),
  ],
};

const EBS_CASES: Record<string, Cases> = {
  StartSnapshot: (a, _b, c) => [
    refused('ResourceNotFoundException', "on A's snapshot as parent", () => c.ebs.send(new B.StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: a.directSnapshotId }))),
    refused(
      'AccessDeniedException',
      "encrypted under A's key",
      () => c.ebs.send(new B.StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: a.kmsKeyArn })),
      () => c.ebs.send(new B.StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: ghostKey(a) })),
    ),
  ],
  PutSnapshotBlock: (a, _b, c) => [
    refused('ResourceNotFoundException', "into A's pending snapshot", () =>
      c.ebs.send(new B.PutSnapshotBlockCommand({ SnapshotId: a.pendingSnapshotId, BlockIndex: 1, BlockData: block, DataLength: BLOCK, Checksum: sha256(block), ChecksumAlgorithm: 'SHA256' })),
    ),
  ],
  CompleteSnapshot: (a, _b, c) => [refused('ResourceNotFoundException', "A's pending snapshot", () => c.ebs.send(new B.CompleteSnapshotCommand({ SnapshotId: a.pendingSnapshotId, ChangedBlocksCount: 0 })))],
  ListSnapshotBlocks: (a, _b, c) => [refused('ResourceNotFoundException', "A's snapshot", () => c.ebs.send(new B.ListSnapshotBlocksCommand({ SnapshotId: a.directSnapshotId })))],
  ListChangedBlocks: (a, _b, c) => [
    refused('ResourceNotFoundException', "A's snapshot", () => c.ebs.send(new B.ListChangedBlocksCommand({ SecondSnapshotId: a.directSnapshotId }))),
    refused('ResourceNotFoundException', "A's snapshot against A's", () => c.ebs.send(new B.ListChangedBlocksCommand({ FirstSnapshotId: a.directSnapshotId, SecondSnapshotId: a.snapshotId }))),
  ],
  GetSnapshotBlock: (a, _b, c) => [
    refused('ResourceNotFoundException', "A's block with A's real token", () => c.ebs.send(new B.GetSnapshotBlockCommand({ SnapshotId: a.directSnapshotId, BlockIndex: 0, BlockToken: a.blockToken }))),
  ],
};

// Only the organization's management account (the operator's) manages accounts.
const ORG_CASES: Record<string, Cases> = {
  CreateAccount: (_a, _b, c) => [refused('AccessDeniedException', 'a new account', () => c.org.send(new O.CreateAccountCommand({ AccountName: 'by-b', Email: 'b@example.invalid' })))],
  DescribeCreateAccountStatus: (_a, _b, c) => [
    refused('AccessDeniedException', 'a create status', () => c.org.send(new O.DescribeCreateAccountStatusCommand({ CreateAccountRequestId: 'car-0123456789abcdef' }))),
  ],
  ListCreateAccountStatus: (_a, _b, c) => [refused('AccessDeniedException', 'create statuses', () => c.org.send(new O.ListCreateAccountStatusCommand({})))],
  ListAccounts: (_a, _b, c) => [refused('AccessDeniedException', 'every account', () => c.org.send(new O.ListAccountsCommand({})))],
  DescribeAccount: (a, _b, c) => [refused('AccessDeniedException', 'account A', () => c.org.send(new O.DescribeAccountCommand({ AccountId: a.accountId })))],
  CloseAccount: (a, _b, c) => [refused('AccessDeniedException', 'account A', () => c.org.send(new O.CloseAccountCommand({ AccountId: a.accountId })))],
};

export const CASES: Record<string, Cases> = {
  ...prefixed('ec2', EC2_CASES),
  ...prefixed('kms', KMS_CASES),
  ...prefixed('iam', IAM_CASES),
  ...prefixed('ebs', EBS_CASES),
  ...prefixed('organizations', ORG_CASES),
  ...prefixed('sts', STS_CASES),
};

function prefixed(service: string, cases: Record<string, Cases>): Record<string, Cases> {
  return Object.fromEntries(Object.entries(cases).map(([k, v]) => [`${service}:${k}`, v]));
}

/** Every action the region answers, from its own tables. */
export function regionActions(): string[] {
  return [
    ...Object.keys(EC2_ACTION_TABLE).map((a) => `ec2:${a}`),
    ...KMS_OPERATIONS.map((a) => `kms:${a}`),
    ...IAM_ACTIONS.map((a) => `iam:${a}`),
    ...EBS_ROUTES.map((r) => `ebs:${r.operation}`),
    ...Object.keys(ORGANIZATIONS_OPERATIONS).map((a) => `organizations:${a}`),
    ...STS_ACTIONS.map((a) => `sts:${a}`),
  ].sort();
}
