// EC2 Query requests: flat form parameters in, a typed discriminated union out.
//
//   parseEc2Request(flat) → Ec2Request   ({ action: 'RunInstances', dryRun, imageId, … } | …)
//
// Parameter names are the wire names of EC2's "ec2" protocol, taken from botocore's
// service model (ec2/2016-11-15): a member's locationName with its first letter upper-cased,
// lists flattened as Name.N (InstanceId.1, Filter.1.Value.1, TagSpecification.1.Tag.1.Key,
// BlockDeviceMapping.1.Ebs.VolumeSize). Unknown parameters are ignored, as the model's other
// members are; known ones are validated and bad values rejected with EC2's codes:
//   InvalidAction, MissingAction, MissingParameter, InvalidParameterValue,
//   InvalidParameterCombination, InvalidInstanceID.Malformed, InvalidAMIID.Malformed, InvalidID,
//   InvalidVolumeID.Malformed, InvalidSnapshotID.Malformed, InvalidVpcID.Malformed,
//   InvalidSubnetID.Malformed, InvalidGroupId.Malformed, InvalidNetworkInterfaceID.Malformed,
//   InvalidSecurityGroupRuleId.Malformed, InvalidVpc.Range, InvalidSubnet.Range.
// To add an action: add its interface to Ec2Request and one parser to PARSERS.

import { Ec2Error } from './errors.js';
import { expandParams, truncate, type FlatParams, type ParamNode, type ParamObject } from './query.js';

export const EC2_API_VERSION = '2016-11-15';
/** EC2's documented default when RunInstances names no InstanceType. */
export const EC2_DEFAULT_INSTANCE_TYPE = 'm1.small';
/** EC2's limit on user data, before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16384;

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
export const IMAGE_ID_PATTERN = /^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** Any EC2 resource id: prefix-hex (i-…, ami-…, vol-…, sg-…, subnet-…, vpc-…, snap-…, eni-…). */
export const RESOURCE_ID_PATTERN = /^[a-z]+(?:-[a-z]+)*-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

// ---------------------------------------------------------------- shared request shapes

export interface Filter {
  readonly name: string;
  readonly values: readonly string[];
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** DeleteTags may name a key without a value (delete whatever value) or with one (delete only if equal). */
export interface TagSelector {
  readonly key: string;
  readonly value: string | undefined;
}

export interface TagSpecification {
  readonly resourceType: string;
  readonly tags: readonly Tag[];
}

export interface EbsBlockDeviceRequest {
  readonly volumeSize: number | undefined;
  readonly volumeType: string | undefined;
  readonly snapshotId: string | undefined;
  readonly deleteOnTermination: boolean | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
}

export interface BlockDeviceMappingRequest {
  readonly deviceName: string;
  readonly virtualName: string | undefined;
  readonly noDevice: boolean;
  readonly ebs: EbsBlockDeviceRequest | undefined;
}

/**
 * RunInstances NetworkInterface.N. The AWS CLI moves --subnet-id/--security-group-ids into
 * NetworkInterface.1 when --associate-public-ip-address is given, so a handler should read the
 * subnet, groups and address from here when the top-level ones are absent.
 */
export interface InstanceNetworkInterfaceRequest {
  readonly deviceIndex: number | undefined;
  readonly subnetId: string | undefined;
  readonly groups: readonly string[];
  readonly privateIpAddress: string | undefined;
  readonly networkInterfaceId: string | undefined;
  readonly description: string | undefined;
  readonly deleteOnTermination: boolean | undefined;
  readonly associatePublicIpAddress: boolean | undefined;
}

export interface MetadataOptionsRequest {
  readonly httpTokens: 'optional' | 'required' | undefined;
  readonly httpPutResponseHopLimit: number | undefined;
  readonly httpEndpoint: 'enabled' | 'disabled' | undefined;
  readonly httpProtocolIpv6: 'enabled' | 'disabled' | undefined;
  readonly instanceMetadataTags: 'enabled' | 'disabled' | undefined;
}

interface Base {
  /** DryRun=true: check permissions only; the handler answers DryRunOperation. */
  readonly dryRun: boolean;
}

interface Paged {
  readonly maxResults: number | undefined;
  readonly nextToken: string | undefined;
}

// ---------------------------------------------------------------- the actions

export interface RunInstancesRequest extends Base {
  readonly action: 'RunInstances';
  readonly imageId: string;
  /** Absent when not given (EC2's default is EC2_DEFAULT_INSTANCE_TYPE); names are checked by the handler. */
  readonly instanceType: string | undefined;
  readonly minCount: number;
  readonly maxCount: number;
  /** Decoded user data (the wire carries base64). */
  readonly userData: Buffer | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
  readonly clientToken: string | undefined;
  readonly subnetId: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly securityGroups: readonly string[];
  readonly privateIpAddress: string | undefined;
  readonly keyName: string | undefined;
  readonly kernelId: string | undefined;
  readonly ramdiskId: string | undefined;
  readonly availabilityZone: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly networkInterfaces: readonly InstanceNetworkInterfaceRequest[];
  readonly metadataOptions: MetadataOptionsRequest | undefined;
  readonly monitoringEnabled: boolean | undefined;
  readonly instanceInitiatedShutdownBehavior: 'stop' | 'terminate' | undefined;
  readonly disableApiTermination: boolean | undefined;
}

export interface DescribeInstancesRequest extends Base, Paged {
  readonly action: 'DescribeInstances';
  readonly instanceIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DescribeInstanceStatusRequest extends Base, Paged {
  readonly action: 'DescribeInstanceStatus';
  readonly instanceIds: readonly string[];
  readonly filters: readonly Filter[];
  readonly includeAllInstances: boolean;
}

export interface StartInstancesRequest extends Base {
  readonly action: 'StartInstances';
  readonly instanceIds: readonly string[];
}

export interface StopInstancesRequest extends Base {
  readonly action: 'StopInstances';
  readonly instanceIds: readonly string[];
  readonly force: boolean;
  readonly hibernate: boolean;
}

export interface RebootInstancesRequest extends Base {
  readonly action: 'RebootInstances';
  readonly instanceIds: readonly string[];
}

export interface TerminateInstancesRequest extends Base {
  readonly action: 'TerminateInstances';
  readonly instanceIds: readonly string[];
}

export interface GetConsoleOutputRequest extends Base {
  readonly action: 'GetConsoleOutput';
  readonly instanceId: string;
  readonly latest: boolean;
}

/** NitroTPM: the public endorsement key of an instance's vTPM (docs/NITROTPM.md). */
export interface GetInstanceTpmEkPubRequest extends Base {
  readonly action: 'GetInstanceTpmEkPub';
  readonly instanceId: string;
  readonly keyType: 'rsa-2048' | 'ecc-sec-p384';
  readonly keyFormat: 'der' | 'tpmt';
}

/**
 * Nitride's own administrative actions on hosts (not EC2's): the region operator's live
 * updates of host components and release policies (src/region/host-updates.ts).
 */
export interface NitrideSetHostReleaseRequest extends Base {
  readonly action: 'NitrideSetHostRelease';
  readonly hostId: string | undefined;
  /** The JSON of `nitride release policy --measurements`. */
  readonly policyDocument: string;
}

export interface NitrideUpdateHostComponentRequest extends Base {
  readonly action: 'NitrideUpdateHostComponent';
  readonly hostId: string | undefined;
  readonly component: 'hypervisor' | 'ebs' | 'vpc' | 'controller';
  readonly bundle: string | undefined;
  readonly rollback: boolean;
}

export interface DescribeImagesRequest extends Base, Paged {
  readonly action: 'DescribeImages';
  readonly imageIds: readonly string[];
  readonly owners: readonly string[];
  readonly executableUsers: readonly string[];
  readonly filters: readonly Filter[];
}

export interface RegisterImageRequest extends Base {
  readonly action: 'RegisterImage';
  readonly name: string;
  readonly description: string | undefined;
  readonly imageLocation: string | undefined;
  readonly kernelId: string | undefined;
  readonly ramdiskId: string | undefined;
  readonly architecture: string | undefined;
  readonly rootDeviceName: string | undefined;
  readonly virtualizationType: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly tpmSupport: string | undefined;
  readonly bootMode: string | undefined;
  readonly enaSupport: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface CopyImageRequest extends Base {
  readonly action: 'CopyImage';
  readonly sourceImageId: string;
  readonly sourceRegion: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly clientToken: string | undefined;
  readonly copyImageTags: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface CreateImageRequest extends Base {
  readonly action: 'CreateImage';
  readonly instanceId: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly noReboot: boolean | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DeregisterImageRequest extends Base {
  readonly action: 'DeregisterImage';
  readonly imageId: string;
}

export interface DescribeInstanceTypesRequest extends Base, Paged {
  readonly action: 'DescribeInstanceTypes';
  readonly instanceTypes: readonly string[];
  readonly filters: readonly Filter[];
}

export interface CreateTagsRequest extends Base {
  readonly action: 'CreateTags';
  readonly resources: readonly string[];
  readonly tags: readonly Tag[];
}

export interface DeleteTagsRequest extends Base {
  readonly action: 'DeleteTags';
  readonly resources: readonly string[];
  /** Empty: delete every tag of the resources (EC2's behaviour when no Tag.N is given). */
  readonly tags: readonly TagSelector[];
}

export interface DescribeTagsRequest extends Base, Paged {
  readonly action: 'DescribeTags';
  readonly filters: readonly Filter[];
}

export interface DescribeRegionsRequest extends Base {
  readonly action: 'DescribeRegions';
  readonly regionNames: readonly string[];
  readonly allRegions: boolean;
  readonly filters: readonly Filter[];
}

export interface DescribeAvailabilityZonesRequest extends Base {
  readonly action: 'DescribeAvailabilityZones';
  readonly zoneNames: readonly string[];
  readonly zoneIds: readonly string[];
  readonly allAvailabilityZones: boolean;
  readonly filters: readonly Filter[];
}

// ---------------------------------------------------------------- EBS: volumes, snapshots, account defaults

export const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

export interface CreateVolumeRequest extends Base {
  readonly action: 'CreateVolume';
  /** AvailabilityZone or AvailabilityZoneId is present (the parser insists on one). */
  readonly availabilityZone: string | undefined;
  readonly availabilityZoneId: string | undefined;
  /** GiB. Size or snapshotId is present (the parser insists on one); per-type bounds are the handler's. */
  readonly size: number | undefined;
  readonly snapshotId: string | undefined;
  /** Absent: EC2's default (gp2) — the handler decides. */
  readonly volumeType: VolumeType | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly multiAttachEnabled: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
  readonly clientToken: string | undefined;
}

export interface DescribeVolumesRequest extends Base, Paged {
  readonly action: 'DescribeVolumes';
  readonly volumeIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface AttachVolumeRequest extends Base {
  readonly action: 'AttachVolume';
  readonly device: string;
  readonly instanceId: string;
  readonly volumeId: string;
}

export interface DetachVolumeRequest extends Base {
  readonly action: 'DetachVolume';
  readonly volumeId: string;
  readonly device: string | undefined;
  readonly instanceId: string | undefined;
  readonly force: boolean;
}

export interface DeleteVolumeRequest extends Base {
  readonly action: 'DeleteVolume';
  readonly volumeId: string;
}

export interface ModifyVolumeRequest extends Base {
  readonly action: 'ModifyVolume';
  readonly volumeId: string;
  readonly size: number | undefined;
  readonly volumeType: VolumeType | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly multiAttachEnabled: boolean | undefined;
}

export interface CreateSnapshotRequest extends Base {
  readonly action: 'CreateSnapshot';
  readonly volumeId: string;
  readonly description: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeSnapshotsRequest extends Base, Paged {
  readonly action: 'DescribeSnapshots';
  readonly snapshotIds: readonly string[];
  /** Owner.N: account ids, 'self' or 'amazon'. */
  readonly ownerIds: readonly string[];
  /** RestorableBy.N: account ids or 'all'. */
  readonly restorableByUserIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DeleteSnapshotRequest extends Base {
  readonly action: 'DeleteSnapshot';
  readonly snapshotId: string;
}

export interface CopySnapshotRequest extends Base {
  readonly action: 'CopySnapshot';
  readonly sourceSnapshotId: string;
  readonly sourceRegion: string;
  readonly destinationRegion: string | undefined;
  readonly description: string | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface EnableEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'EnableEbsEncryptionByDefault';
}

export interface DisableEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'DisableEbsEncryptionByDefault';
}

export interface GetEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'GetEbsEncryptionByDefault';
}

export interface GetEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'GetEbsDefaultKmsKeyId';
}

export interface ModifyEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'ModifyEbsDefaultKmsKeyId';
  /** Key id, key ARN, alias name or alias ARN; resolved by the handler through KMS. */
  readonly kmsKeyId: string;
}

export interface ResetEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'ResetEbsDefaultKmsKeyId';
}

// ---------------------------------------------------------------- VPC: VPCs, subnets, security groups, ENIs

export interface CreateVpcRequest extends Base {
  readonly action: 'CreateVpc';
  /** An IPv4 CIDR, syntax and /16–/28 checked (IPAM pools are not offered). */
  readonly cidrBlock: string;
  readonly instanceTenancy: 'default' | 'dedicated' | 'host' | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeVpcsRequest extends Base, Paged {
  readonly action: 'DescribeVpcs';
  readonly vpcIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DeleteVpcRequest extends Base {
  readonly action: 'DeleteVpc';
  readonly vpcId: string;
}

export interface CreateSubnetRequest extends Base {
  readonly action: 'CreateSubnet';
  readonly vpcId: string;
  /** An IPv4 CIDR, syntax and /16–/28 checked; containment in the VPC is the handler's. */
  readonly cidrBlock: string;
  readonly availabilityZone: string | undefined;
  readonly availabilityZoneId: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeSubnetsRequest extends Base, Paged {
  readonly action: 'DescribeSubnets';
  readonly subnetIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DeleteSubnetRequest extends Base {
  readonly action: 'DeleteSubnet';
  readonly subnetId: string;
}

export interface CreateSecurityGroupRequest extends Base {
  readonly action: 'CreateSecurityGroup';
  readonly groupName: string;
  /** Wire name GroupDescription. */
  readonly description: string;
  /** Absent: the default VPC. */
  readonly vpcId: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeSecurityGroupsRequest extends Base, Paged {
  readonly action: 'DescribeSecurityGroups';
  readonly groupIds: readonly string[];
  readonly groupNames: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DeleteSecurityGroupRequest extends Base {
  readonly action: 'DeleteSecurityGroup';
  /** One of groupId / groupName is present (the parser insists on one). */
  readonly groupId: string | undefined;
  readonly groupName: string | undefined;
}

/** A source/destination security group of a rule (IpPermissions.N.Groups.M). */
export interface UserIdGroupPairRequest {
  readonly groupId: string | undefined;
  readonly groupName: string | undefined;
  readonly userId: string | undefined;
  readonly description: string | undefined;
}

/**
 * One rule set of Authorize/Revoke. `ipProtocol` is as given: 'tcp', 'udp', 'icmp', 'icmpv6',
 * '-1' (all) or a protocol number 0–255 (the parser checks the syntax; it does not map names to
 * numbers). Ports are -1..65535 (for ICMP, fromPort is the type and toPort the code).
 */
export interface IpPermissionRequest {
  readonly ipProtocol: string;
  readonly fromPort: number | undefined;
  readonly toPort: number | undefined;
  readonly userIdGroupPairs: readonly UserIdGroupPairRequest[];
  /** CIDR syntax checked. */
  readonly ipRanges: readonly { readonly cidrIp: string; readonly description: string | undefined }[];
  readonly ipv6Ranges: readonly { readonly cidrIpv6: string; readonly description: string | undefined }[];
  readonly prefixListIds: readonly { readonly prefixListId: string; readonly description: string | undefined }[];
}

interface SecurityGroupRuleChange extends Base {
  readonly groupId: string | undefined;
  /**
   * IpPermissions.N, or the legacy flat form (IpProtocol, FromPort, ToPort, CidrIp,
   * SourceSecurityGroupName, SourceSecurityGroupOwnerId) folded into one permission. Never
   * both (InvalidParameterCombination).
   */
  readonly ipPermissions: readonly IpPermissionRequest[];
}

export interface AuthorizeSecurityGroupIngressRequest extends SecurityGroupRuleChange {
  readonly action: 'AuthorizeSecurityGroupIngress';
  /** Ingress may name the group by name instead (default VPC); one of groupId/groupName is present. */
  readonly groupName: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface RevokeSecurityGroupIngressRequest extends SecurityGroupRuleChange {
  readonly action: 'RevokeSecurityGroupIngress';
  readonly groupName: string | undefined;
  /** SecurityGroupRuleId.N: revoke by rule id (then ipPermissions may be empty). */
  readonly securityGroupRuleIds: readonly string[];
}

export interface AuthorizeSecurityGroupEgressRequest extends SecurityGroupRuleChange {
  readonly action: 'AuthorizeSecurityGroupEgress';
  readonly groupId: string;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface RevokeSecurityGroupEgressRequest extends SecurityGroupRuleChange {
  readonly action: 'RevokeSecurityGroupEgress';
  readonly groupId: string;
  readonly securityGroupRuleIds: readonly string[];
}

export interface DescribeNetworkInterfacesRequest extends Base, Paged {
  readonly action: 'DescribeNetworkInterfaces';
  readonly networkInterfaceIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface ModifyNetworkInterfaceAttributeRequest extends Base {
  readonly action: 'ModifyNetworkInterfaceAttribute';
  readonly networkInterfaceId: string;
  /** Description.Value */
  readonly description: string | undefined;
  /** SourceDestCheck.Value */
  readonly sourceDestCheck: boolean | undefined;
  /** SecurityGroupId.N; undefined when not given ([] is not expressible on the wire). */
  readonly groups: readonly string[] | undefined;
  /** Attachment.AttachmentId + Attachment.DeleteOnTermination */
  readonly attachment: { readonly attachmentId: string; readonly deleteOnTermination: boolean | undefined } | undefined;
}

/**
 * The one attribute a ModifyInstanceAttribute call changes, from either form:
 * structured (SourceDestCheck.Value=false, GroupId.1=sg-…, InstanceType.Value=…) or
 * Attribute=<name>&Value=<v>. EC2 changes one attribute per call.
 */
export type InstanceAttributeChange =
  | { readonly attribute: 'sourceDestCheck' | 'disableApiTermination' | 'disableApiStop' | 'ebsOptimized' | 'enaSupport'; readonly value: boolean }
  | { readonly attribute: 'instanceType' | 'kernel' | 'ramdisk' | 'sriovNetSupport'; readonly value: string }
  | { readonly attribute: 'instanceInitiatedShutdownBehavior'; readonly value: 'stop' | 'terminate' }
  | { readonly attribute: 'userData'; readonly value: Buffer }
  | { readonly attribute: 'groupSet'; readonly groupIds: readonly string[] }
  | {
      readonly attribute: 'blockDeviceMapping';
      readonly mappings: readonly { readonly deviceName: string; readonly volumeId: string | undefined; readonly deleteOnTermination: boolean | undefined }[];
    };

export interface ModifyInstanceAttributeRequest extends Base {
  readonly action: 'ModifyInstanceAttribute';
  readonly instanceId: string;
  readonly change: InstanceAttributeChange;
}

export interface ModifyInstanceMetadataOptionsRequest extends Base {
  readonly action: 'ModifyInstanceMetadataOptions';
  readonly instanceId: string;
  readonly httpTokens: 'optional' | 'required' | undefined;
  readonly httpPutResponseHopLimit: number | undefined;
  readonly httpEndpoint: 'enabled' | 'disabled' | undefined;
  readonly httpProtocolIpv6: 'enabled' | 'disabled' | undefined;
  readonly instanceMetadataTags: 'enabled' | 'disabled' | undefined;
}

export type Ec2Request =
  | RunInstancesRequest
  | DescribeInstancesRequest
  | DescribeInstanceStatusRequest
  | StartInstancesRequest
  | StopInstancesRequest
  | RebootInstancesRequest
  | TerminateInstancesRequest
  | GetConsoleOutputRequest
  | GetInstanceTpmEkPubRequest
  | NitrideSetHostReleaseRequest
  | NitrideUpdateHostComponentRequest
  | DescribeImagesRequest
  | RegisterImageRequest
  | DeregisterImageRequest
  | CopyImageRequest
  | CreateImageRequest
  | DescribeInstanceTypesRequest
  | CreateTagsRequest
  | DeleteTagsRequest
  | DescribeTagsRequest
  | DescribeRegionsRequest
  | DescribeAvailabilityZonesRequest
  | CreateVolumeRequest
  | DescribeVolumesRequest
  | AttachVolumeRequest
  | DetachVolumeRequest
  | DeleteVolumeRequest
  | ModifyVolumeRequest
  | CreateSnapshotRequest
  | DescribeSnapshotsRequest
  | DeleteSnapshotRequest
  | CopySnapshotRequest
  | EnableEbsEncryptionByDefaultRequest
  | DisableEbsEncryptionByDefaultRequest
  | GetEbsEncryptionByDefaultRequest
  | GetEbsDefaultKmsKeyIdRequest
  | ModifyEbsDefaultKmsKeyIdRequest
  | ResetEbsDefaultKmsKeyIdRequest
  | CreateVpcRequest
  | DescribeVpcsRequest
  | DeleteVpcRequest
  | CreateSubnetRequest
  | DescribeSubnetsRequest
  | DeleteSubnetRequest
  | CreateSecurityGroupRequest
  | DescribeSecurityGroupsRequest
  | DeleteSecurityGroupRequest
  | AuthorizeSecurityGroupIngressRequest
  | RevokeSecurityGroupIngressRequest
  | AuthorizeSecurityGroupEgressRequest
  | RevokeSecurityGroupEgressRequest
  | DescribeNetworkInterfacesRequest
  | ModifyNetworkInterfaceAttributeRequest
  | ModifyInstanceAttributeRequest
  | ModifyInstanceMetadataOptionsRequest;

export type Ec2Action = Ec2Request['action'];

// ---------------------------------------------------------------- a typed reader over the expanded params

const missing = (name: string): Ec2Error =>
  new Ec2Error('MissingParameter', `The request must contain the parameter ${name}.`, { context: { parameter: name } });

const invalid = (name: string, value: string, why: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `Value (${truncate(value)}) for parameter ${name} is invalid. ${why}`, {
    context: { parameter: name, value: truncate(value) },
  });

const shapeError = (name: string, want: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `The parameter ${name} must be ${want}.`, { context: { parameter: name } });

/** Reads typed values out of an expanded parameter object; `path` names it in errors. */
export class ParamReader {
  constructor(
    private readonly obj: ParamObject,
    private readonly path = '',
  ) {}

  private full(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined;
  }

  raw(name: string): ParamNode | undefined {
    return this.obj[name];
  }

  string(name: string): string | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw shapeError(this.full(name), 'a single value');
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw missing(this.full(name));
    return v;
  }

  /** A string that must be one of `allowed` when present. */
  enumString<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw invalid(this.full(name), v, `Valid values are: ${allowed.join(', ')}.`);
    return v as T;
  }

  boolean(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
    throw invalid(this.full(name), v, 'Expecting true or false.');
  }

  integer(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?[0-9]{1,15}$/.test(v)) throw invalid(this.full(name), v, 'Expecting an integer.');
    const n = Number(v);
    if (n < min || n > max) throw invalid(this.full(name), v, `Expecting a value from ${min} to ${max}.`);
    return n;
  }

  /** A flattened list Name.N of structures or values; '' (SDKs' empty list) reads as []. */
  list<T>(name: string, item: (node: ParamNode, path: string) => T): T[] {
    const v = this.obj[name];
    if (v === undefined || v === '') return [];
    if (!Array.isArray(v)) throw shapeError(this.full(name), `a list (${name}.1, ${name}.2, …)`);
    return v.map((node, i) => item(node, `${this.full(name)}.${i + 1}`));
  }

  stringList(name: string): string[] {
    return this.list(name, (node, path) => {
      if (typeof node !== 'string') throw shapeError(path, 'a single value');
      return node;
    });
  }

  /** A nested structure Name.Member; undefined when absent. */
  struct(name: string): ParamReader | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    return asStruct(v, this.full(name));
  }
}

function asStruct(node: ParamNode, path: string): ParamReader {
  if (typeof node !== 'object' || Array.isArray(node)) throw shapeError(path, 'a structure');
  return new ParamReader(node, path);
}

// ---------------------------------------------------------------- shared field parsers

function readFilters(r: ParamReader): Filter[] {
  return r.list('Filter', (node, path) => {
    const f = asStruct(node, path);
    const name = f.string('Name');
    if (name === undefined || name === '') throw invalid(`${path}.Name`, name ?? '', 'A filter needs a name.');
    return { name, values: f.stringList('Value') };
  });
}

const TAG_KEY_MAX = 128;
const TAG_VALUE_MAX = 256;
const TAGS_PER_RESOURCE_MAX = 50;

function checkTagKey(key: string, path: string): void {
  if (key.length === 0 || key.length > TAG_KEY_MAX) throw invalid(path, key, `Tag keys are 1 to ${TAG_KEY_MAX} characters.`);
  if (key.toLowerCase().startsWith('aws:')) throw invalid(path, key, "Tag keys starting with 'aws:' are reserved for internal use.");
}

function checkTagValue(value: string, path: string): void {
  if (value.length > TAG_VALUE_MAX) throw invalid(path, value, `Tag values are at most ${TAG_VALUE_MAX} characters.`);
}

function readTags(r: ParamReader, name: string): Tag[] {
  const tags = r.list(name, (node, path) => {
    const t = asStruct(node, path);
    const key = t.string('Key');
    if (key === undefined) throw missing(`${path}.Key`);
    checkTagKey(key, `${path}.Key`);
    const value = t.string('Value') ?? '';
    checkTagValue(value, `${path}.Value`);
    return { key, value };
  });
  if (tags.length > TAGS_PER_RESOURCE_MAX) throw invalid(name, String(tags.length), `At most ${TAGS_PER_RESOURCE_MAX} tags per resource.`);
  const seen = new Set<string>();
  for (const t of tags) {
    if (seen.has(t.key)) throw invalid(name, t.key, 'A tag key is given more than once.');
    seen.add(t.key);
  }
  return tags;
}

function readTagSpecifications(r: ParamReader): TagSpecification[] {
  return r.list('TagSpecification', (node, path) => {
    const s = asStruct(node, path);
    const resourceType = s.string('ResourceType');
    if (resourceType === undefined || resourceType === '') throw missing(`${path}.ResourceType`);
    return { resourceType, tags: readTags(s, 'Tag') };
  });
}

function readBlockDeviceMappings(r: ParamReader): BlockDeviceMappingRequest[] {
  return r.list('BlockDeviceMapping', (node, path) => {
    const b = asStruct(node, path);
    const e = b.struct('Ebs');
    const noDevice = b.has('NoDevice');
    if (noDevice && b.string('NoDevice') !== '') throw invalid(`${path}.NoDevice`, b.string('NoDevice') ?? '', 'NoDevice takes an empty value.');
    return {
      deviceName: b.requiredString('DeviceName'),
      virtualName: b.string('VirtualName'),
      noDevice,
      ebs:
        e === undefined
          ? undefined
          : {
              volumeSize: e.integer('VolumeSize', 1, 65536),
              volumeType: e.enumString('VolumeType', ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3']),
              snapshotId: optionalId(e.string('SnapshotId'), checkSnapshotId),
              deleteOnTermination: e.boolean('DeleteOnTermination'),
              encrypted: e.boolean('Encrypted'),
              kmsKeyId: e.string('KmsKeyId'),
              iops: e.integer('Iops', 0, 1_000_000),
              throughput: e.integer('Throughput', 0, 100_000),
            },
    };
  });
}

function readMetadataOptions(r: ParamReader): MetadataOptionsRequest | undefined {
  const m = r.struct('MetadataOptions');
  if (m === undefined) return undefined;
  return {
    httpTokens: m.enumString('HttpTokens', ['optional', 'required']),
    httpPutResponseHopLimit: m.integer('HttpPutResponseHopLimit', 1, 64),
    httpEndpoint: m.enumString('HttpEndpoint', ['enabled', 'disabled']),
    httpProtocolIpv6: m.enumString('HttpProtocolIpv6', ['enabled', 'disabled']),
    instanceMetadataTags: m.enumString('InstanceMetadataTags', ['enabled', 'disabled']),
  };
}

function malformedInstanceId(id: string): Ec2Error {
  return new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${truncate(id)}" (expecting "i-...")`, { context: { instanceId: truncate(id) } });
}

function checkInstanceId(id: string): string {
  if (!INSTANCE_ID_PATTERN.test(id)) throw malformedInstanceId(id);
  return id;
}

function checkImageId(id: string): string {
  if (!IMAGE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${truncate(id)}" (expecting "ami-...")`, { context: { imageId: truncate(id) } });
  return id;
}

function checkResourceId(id: string): string {
  if (!RESOURCE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidID', `The ID '${truncate(id)}' is not valid`, { context: { resourceId: truncate(id) } });
  return id;
}

function instanceIds(r: ParamReader, required: boolean): string[] {
  const ids = r.stringList('InstanceId').map(checkInstanceId);
  if (required && ids.length === 0) throw missing('InstanceId');
  return ids;
}

function paged(r: ParamReader, min: number, max: number): Paged {
  return { maxResults: r.integer('MaxResults', min, max), nextToken: r.string('NextToken') };
}

const dryRun = (r: ParamReader): boolean => r.boolean('DryRun') ?? false;

function decodeUserData(b64: string): Buffer {
  const clean = b64.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/.test(clean)) {
    throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.', { context: { parameter: 'UserData' } });
  }
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length > MAX_USER_DATA_BYTES) {
    throw new Ec2Error('InvalidParameterValue', `User data is limited to ${MAX_USER_DATA_BYTES} bytes.`, { context: { parameter: 'UserData', bytes: bytes.length } });
  }
  return bytes;
}

// ---------------------------------------------------------------- ids and CIDRs of the EBS and VPC resources

/** The check for one kind of resource id: EC2's `<Kind>.Malformed` code and message. */
function idChecker(prefix: string, code: string): (id: string) => string {
  const pattern = new RegExp(`^${prefix}-[0-9a-f]{8}(?:[0-9a-f]{9})?$`);
  return (id) => {
    if (!pattern.test(id)) throw new Ec2Error(code, `Invalid id: "${truncate(id)}" (expecting "${prefix}-...")`, { context: { id: truncate(id) } });
    return id;
  };
}

export const checkVolumeId = idChecker('vol', 'InvalidVolumeID.Malformed');
export const checkSnapshotId = idChecker('snap', 'InvalidSnapshotID.Malformed');
export const checkVpcId = idChecker('vpc', 'InvalidVpcID.Malformed');
export const checkSubnetId = idChecker('subnet', 'InvalidSubnetID.Malformed');
export const checkSecurityGroupId = idChecker('sg', 'InvalidGroupId.Malformed');
export const checkNetworkInterfaceId = idChecker('eni', 'InvalidNetworkInterfaceID.Malformed');
export const checkSecurityGroupRuleId = idChecker('sgr', 'InvalidSecurityGroupRuleId.Malformed');

/** An IPv4 CIDR a.b.c.d/n: its network address as an unsigned 32-bit number and prefix; undefined when malformed. */
export function parseIpv4Cidr(cidr: string): { readonly address: number; readonly prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (m === null) return undefined;
  const octets = m.slice(1, 5).map((s) => (s.length > 1 && s.startsWith('0') ? NaN : Number(s)));
  const prefix = Number(m[5]);
  if (octets.some((o) => !(o >= 0 && o <= 255)) || prefix > 32 || (m[5]!.length > 1 && m[5]!.startsWith('0'))) return undefined;
  const address = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  return { address, prefix };
}

function isIpv6Cidr(cidr: string): boolean {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(cidr);
  if (m === null || Number(m[2]) > 128) return false;
  const addr = m[1]!;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? groups.length < 8 : groups.length === 8;
}

/** VPC and subnet blocks: /16 to /28 (EC2's limits); the code for an out-of-range prefix differs. */
function readBlock(r: ParamReader, rangeCode: 'InvalidVpc.Range' | 'InvalidSubnet.Range'): string {
  const cidr = r.requiredString('CidrBlock');
  const parsed = parseIpv4Cidr(cidr);
  if (parsed === undefined) throw invalid('CidrBlock', cidr, 'This is not a valid CIDR block.');
  if (parsed.prefix < 16 || parsed.prefix > 28) throw new Ec2Error(rangeCode, `The CIDR '${truncate(cidr)}' is invalid.`, { context: { cidrBlock: truncate(cidr) } });
  return cidr;
}

const IP_PROTOCOL_NAMES = ['tcp', 'udp', 'icmp', 'icmpv6', '-1'];

function checkIpProtocol(p: string, path: string): string {
  if (IP_PROTOCOL_NAMES.includes(p.toLowerCase())) return p.toLowerCase();
  if (/^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255) return p;
  throw invalid(path, p, 'Valid values are tcp, udp, icmp, icmpv6, -1 or a protocol number 0-255.');
}

function readIpPermission(p: ParamReader, path: string): IpPermissionRequest {
  const proto = p.string('IpProtocol');
  if (proto === undefined || proto === '') throw missing(`${path}.IpProtocol`);
  return {
    ipProtocol: checkIpProtocol(proto, `${path}.IpProtocol`),
    fromPort: p.integer('FromPort', -1, 65535),
    toPort: p.integer('ToPort', -1, 65535),
    userIdGroupPairs: p.list('Groups', (node, gpath) => {
      const g = asStruct(node, gpath);
      const groupId = g.string('GroupId');
      const groupName = g.string('GroupName');
      if (groupId === undefined && groupName === undefined) throw missing(`${gpath}.GroupId`);
      return { groupId: groupId === undefined ? undefined : checkSecurityGroupId(groupId), groupName, userId: g.string('UserId'), description: g.string('Description') };
    }),
    ipRanges: p.list('IpRanges', (node, rpath) => {
      const x = asStruct(node, rpath);
      const cidrIp = x.requiredString('CidrIp');
      if (parseIpv4Cidr(cidrIp) === undefined) throw invalid(`${rpath}.CidrIp`, cidrIp, 'CIDR block is malformed.');
      return { cidrIp, description: x.string('Description') };
    }),
    ipv6Ranges: p.list('Ipv6Ranges', (node, rpath) => {
      const x = asStruct(node, rpath);
      const cidrIpv6 = x.requiredString('CidrIpv6');
      if (!isIpv6Cidr(cidrIpv6)) throw invalid(`${rpath}.CidrIpv6`, cidrIpv6, 'CIDR block is malformed.');
      return { cidrIpv6, description: x.string('Description') };
    }),
    prefixListIds: p.list('PrefixListIds', (node, rpath) => {
      const x = asStruct(node, rpath);
      return { prefixListId: x.requiredString('PrefixListId'), description: x.string('Description') };
    }),
  };
}

const LEGACY_RULE_PARAMS = ['IpProtocol', 'FromPort', 'ToPort', 'CidrIp', 'SourceSecurityGroupName', 'SourceSecurityGroupOwnerId'] as const;

/** IpPermissions.N, or the legacy flat parameters folded into one permission. */
function readIpPermissions(r: ParamReader): IpPermissionRequest[] {
  const structured = r.list('IpPermissions', (node, path) => readIpPermission(asStruct(node, path), path));
  const legacy = LEGACY_RULE_PARAMS.filter((n) => r.has(n));
  if (legacy.length === 0) return structured;
  if (structured.length > 0) {
    throw new Ec2Error('InvalidParameterCombination', `The parameter IpPermissions cannot be used with the parameter ${legacy[0]}.`);
  }
  const sourceGroup = r.string('SourceSecurityGroupName');
  const cidrIp = r.string('CidrIp');
  if (sourceGroup !== undefined && cidrIp !== undefined) {
    throw new Ec2Error('InvalidParameterCombination', 'The parameter CidrIp cannot be used with the parameter SourceSecurityGroupName.');
  }
  const proto = r.string('IpProtocol');
  // With only a source group the legacy form grants every protocol and port.
  if ((proto === undefined || proto === '') && sourceGroup === undefined) throw missing('IpProtocol');
  if (cidrIp !== undefined && parseIpv4Cidr(cidrIp) === undefined) throw invalid('CidrIp', cidrIp, 'CIDR block is malformed.');
  return [
    {
      ipProtocol: proto === undefined || proto === '' ? '-1' : checkIpProtocol(proto, 'IpProtocol'),
      fromPort: r.integer('FromPort', -1, 65535),
      toPort: r.integer('ToPort', -1, 65535),
      userIdGroupPairs: sourceGroup === undefined ? [] : [{ groupId: undefined, groupName: sourceGroup, userId: r.string('SourceSecurityGroupOwnerId'), description: undefined }],
      ipRanges: cidrIp === undefined ? [] : [{ cidrIp, description: undefined }],
      ipv6Ranges: [],
      prefixListIds: [],
    },
  ];
}

/** "No ids with MaxResults": EC2's rule for Describe calls whose id list and paging exclude each other. */
function idsOrPaging(ids: readonly string[], p: Paged, idsParam: string): void {
  if (ids.length > 0 && p.maxResults !== undefined) {
    throw new Ec2Error('InvalidParameterCombination', `The parameter ${idsParam} cannot be used with the parameter maxResults`);
  }
}

const MUTUALLY_EXCLUSIVE_INSTANCE_ATTRIBUTES = [
  'SourceDestCheck',
  'DisableApiTermination',
  'DisableApiStop',
  'EbsOptimized',
  'EnaSupport',
  'InstanceType',
  'Kernel',
  'Ramdisk',
  'SriovNetSupport',
  'InstanceInitiatedShutdownBehavior',
  'UserData',
  'GroupId',
  'BlockDeviceMapping',
] as const;

const INSTANCE_ATTRIBUTE_NAMES: Readonly<Record<string, (typeof MUTUALLY_EXCLUSIVE_INSTANCE_ATTRIBUTES)[number]>> = {
  sourceDestCheck: 'SourceDestCheck',
  disableApiTermination: 'DisableApiTermination',
  disableApiStop: 'DisableApiStop',
  ebsOptimized: 'EbsOptimized',
  enaSupport: 'EnaSupport',
  instanceType: 'InstanceType',
  kernel: 'Kernel',
  ramdisk: 'Ramdisk',
  sriovNetSupport: 'SriovNetSupport',
  instanceInitiatedShutdownBehavior: 'InstanceInitiatedShutdownBehavior',
  userData: 'UserData',
  groupSet: 'GroupId',
  blockDeviceMapping: 'BlockDeviceMapping',
};

function parseBooleanValue(v: string, path: string): boolean {
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  throw invalid(path, v, 'Expecting true or false.');
}

/** ModifyInstanceAttribute: exactly one attribute, structured (X.Value / GroupId.N / BlockDeviceMapping.N) or Attribute+Value. */
function readInstanceAttributeChange(r: ParamReader): InstanceAttributeChange {
  const given: string[] = MUTUALLY_EXCLUSIVE_INSTANCE_ATTRIBUTES.filter((n) => r.has(n));
  const attribute = r.string('Attribute');
  const plainValue = r.string('Value');
  if (attribute !== undefined) {
    const wire = INSTANCE_ATTRIBUTE_NAMES[attribute];
    if (wire === undefined) {
      throw invalid('Attribute', attribute, `Valid values are: ${Object.keys(INSTANCE_ATTRIBUTE_NAMES).join(', ')}.`);
    }
    // groupSet and blockDeviceMapping have no Value form: Attribute names them, the list carries them.
    if (wire !== 'GroupId' && wire !== 'BlockDeviceMapping') {
      if (plainValue === undefined) throw missing('Value');
      if (given.length > 0) throw new Ec2Error('InvalidParameterCombination', `Fields for multiple attribute types specified: ${[attribute, ...given].join(', ')}`);
      return attributeValue(attribute, plainValue, 'Value');
    }
    if (!given.includes(wire) || given.length > 1) throw new Ec2Error('InvalidParameterCombination', `Attribute ${attribute} needs ${wire}.N and no other attribute.`);
  } else if (plainValue !== undefined) {
    throw missing('Attribute');
  }
  if (given.length === 0) throw missing('Attribute');
  if (given.length > 1) throw new Ec2Error('InvalidParameterCombination', `Fields for multiple attribute types specified: ${given.join(', ')}`);
  const wire = given[0]!;
  if (wire === 'GroupId') {
    const groupIds = r.stringList('GroupId').map(checkSecurityGroupId);
    if (groupIds.length === 0) throw missing('GroupId');
    return { attribute: 'groupSet', groupIds };
  }
  if (wire === 'BlockDeviceMapping') {
    const mappings = r.list('BlockDeviceMapping', (node, path) => {
      const b = asStruct(node, path);
      const ebs = b.struct('Ebs');
      const volumeId = ebs?.string('VolumeId');
      return { deviceName: b.requiredString('DeviceName'), volumeId: volumeId === undefined ? undefined : checkVolumeId(volumeId), deleteOnTermination: ebs?.boolean('DeleteOnTermination') };
    });
    return { attribute: 'blockDeviceMapping', mappings };
  }
  const holder = r.struct(wire);
  const value = holder?.string('Value');
  if (value === undefined) throw missing(`${wire}.Value`);
  const name = Object.keys(INSTANCE_ATTRIBUTE_NAMES).find((k) => INSTANCE_ATTRIBUTE_NAMES[k] === wire)!;
  return attributeValue(name, value, `${wire}.Value`);
}

function attributeValue(attribute: string, value: string, path: string): InstanceAttributeChange {
  switch (attribute) {
    case 'sourceDestCheck':
    case 'disableApiTermination':
    case 'disableApiStop':
    case 'ebsOptimized':
    case 'enaSupport':
      return { attribute, value: parseBooleanValue(value, path) };
    case 'instanceType':
    case 'kernel':
    case 'ramdisk':
    case 'sriovNetSupport':
      if (value === '') throw missing(path);
      return { attribute, value };
    case 'instanceInitiatedShutdownBehavior':
      if (value !== 'stop' && value !== 'terminate') throw invalid(path, value, 'Valid values are: stop, terminate.');
      return { attribute, value };
    case 'userData':
      return { attribute, value: decodeUserData(value) };
    default:
      throw invalid(path, value, `Attribute ${attribute} takes a list, not a value.`);
  }
}

/** An optional id: absent or '' is undefined, anything else must pass `check`. */
function optionalId(id: string | undefined, check: (id: string) => string): string | undefined {
  return id === undefined || id === '' ? undefined : check(id);
}

function checkClientToken(r: ParamReader): string | undefined {
  const clientToken = r.string('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) throw invalid('ClientToken', clientToken, 'Client tokens are at most 64 ASCII characters.');
  return clientToken;
}

function checkDescription(r: ParamReader, name: string, max: number): string | undefined {
  const d = r.string(name);
  if (d !== undefined && d.length > max) throw invalid(name, d, `Descriptions are at most ${max} characters.`);
  return d;
}

/** Security group names and descriptions in a VPC: 1–255 of a-z A-Z 0-9 space ._-:/()#,@[]+=&;{}!$* (EC2's set). */
function checkGroupText(name: string, value: string): void {
  if (value.length > 255 || !/^[A-Za-z0-9 ._\-:/()#,@[\]+=&;{}!$*]+$/.test(value)) {
    throw invalid(name, value, 'Use 1 to 255 characters: a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*');
  }
}

/** GroupId or GroupName (one is required; GroupName means the default VPC's group of that name). */
function groupRef(r: ParamReader): { groupId: string | undefined; groupName: string | undefined } {
  const groupId = r.string('GroupId') || undefined;
  const groupName = r.string('GroupName') || undefined;
  if (groupId === undefined && groupName === undefined) throw missing('GroupId');
  return { groupId: groupId === undefined ? undefined : checkSecurityGroupId(groupId), groupName };
}

// ---------------------------------------------------------------- one parser per action

type Parser = (r: ParamReader) => Ec2Request;

const PARSERS: { readonly [A in Ec2Action]: (r: ParamReader) => Extract<Ec2Request, { action: A }> } = {
  RunInstances(r) {
    const minCount = r.integer('MinCount', 1, 10_000);
    const maxCount = r.integer('MaxCount', 1, 10_000);
    const imageIdRaw = r.string('ImageId');
    if (imageIdRaw === undefined || imageIdRaw === '') throw missing('ImageId');
    if (minCount === undefined) throw missing('MinCount');
    if (maxCount === undefined) throw missing('MaxCount');
    if (minCount > maxCount) {
      throw new Ec2Error('InvalidParameterValue', `Value (${minCount}) for parameter MinCount is invalid. MinCount must be less than or equal to MaxCount (${maxCount}).`, {
        context: { minCount, maxCount },
      });
    }
    const userData = r.string('UserData');
    const clientToken = r.string('ClientToken');
    if (clientToken !== undefined && clientToken.length > 64) throw invalid('ClientToken', clientToken, 'Client tokens are at most 64 ASCII characters.');
    const placement = r.struct('Placement');
    const monitoring = r.struct('Monitoring');
    return {
      action: 'RunInstances',
      dryRun: dryRun(r),
      imageId: checkImageId(imageIdRaw),
      instanceType: r.string('InstanceType'),
      minCount,
      maxCount,
      userData: userData === undefined ? undefined : decodeUserData(userData),
      tagSpecifications: readTagSpecifications(r),
      clientToken,
      subnetId: r.string('SubnetId'),
      securityGroupIds: r.stringList('SecurityGroupId'),
      securityGroups: r.stringList('SecurityGroup'),
      privateIpAddress: r.string('PrivateIpAddress'),
      keyName: r.string('KeyName'),
      kernelId: r.string('KernelId'),
      ramdiskId: r.string('RamdiskId'),
      availabilityZone: placement?.string('AvailabilityZone'),
      blockDeviceMappings: readBlockDeviceMappings(r),
      networkInterfaces: r.list('NetworkInterface', (node, path) => {
        const n = asStruct(node, path);
        const subnetId = n.string('SubnetId');
        const eniId = n.string('NetworkInterfaceId');
        return {
          deviceIndex: n.integer('DeviceIndex', 0, 64),
          subnetId: subnetId === undefined || subnetId === '' ? undefined : checkSubnetId(subnetId),
          groups: n.stringList('SecurityGroupId').map(checkSecurityGroupId),
          privateIpAddress: n.string('PrivateIpAddress'),
          networkInterfaceId: eniId === undefined || eniId === '' ? undefined : checkNetworkInterfaceId(eniId),
          description: n.string('Description'),
          deleteOnTermination: n.boolean('DeleteOnTermination'),
          associatePublicIpAddress: n.boolean('AssociatePublicIpAddress'),
        };
      }),
      metadataOptions: readMetadataOptions(r),
      monitoringEnabled: monitoring?.boolean('Enabled'),
      instanceInitiatedShutdownBehavior: r.enumString('InstanceInitiatedShutdownBehavior', ['stop', 'terminate']),
      disableApiTermination: r.boolean('DisableApiTermination'),
    };
  },

  DescribeInstances(r) {
    const ids = instanceIds(r, false);
    const p = paged(r, 5, 1000);
    if (ids.length > 0 && p.maxResults !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    return { action: 'DescribeInstances', dryRun: dryRun(r), instanceIds: ids, filters: readFilters(r), ...p };
  },

  DescribeInstanceStatus(r) {
    const ids = instanceIds(r, false);
    const p = paged(r, 5, 1000);
    if (ids.length > 0 && p.maxResults !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    return {
      action: 'DescribeInstanceStatus',
      dryRun: dryRun(r),
      instanceIds: ids,
      filters: readFilters(r),
      includeAllInstances: r.boolean('IncludeAllInstances') ?? false,
      ...p,
    };
  },

  StartInstances: (r) => ({ action: 'StartInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  StopInstances(r) {
    const force = r.boolean('Force') ?? false;
    const hibernate = r.boolean('Hibernate') ?? false;
    if (force && hibernate) throw new Ec2Error('InvalidParameterCombination', 'The parameters Force and Hibernate cannot be used together.');
    return { action: 'StopInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true), force, hibernate };
  },

  RebootInstances: (r) => ({ action: 'RebootInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  TerminateInstances: (r) => ({ action: 'TerminateInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  GetConsoleOutput: (r) => ({
    action: 'GetConsoleOutput',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    latest: r.boolean('Latest') ?? false,
  }),

  GetInstanceTpmEkPub(r) {
    const instanceId = checkInstanceId(r.requiredString('InstanceId'));
    const keyType = r.enumString('KeyType', ['rsa-2048', 'ecc-sec-p384']);
    if (keyType === undefined) throw missing('KeyType');
    const keyFormat = r.enumString('KeyFormat', ['der', 'tpmt']);
    if (keyFormat === undefined) throw missing('KeyFormat');
    return { action: 'GetInstanceTpmEkPub', dryRun: dryRun(r), instanceId, keyType, keyFormat };
  },

  NitrideSetHostRelease: (r) => ({ action: 'NitrideSetHostRelease', dryRun: dryRun(r), hostId: r.string('HostId'), policyDocument: r.requiredString('PolicyDocument') }),

  NitrideUpdateHostComponent(r) {
    const component = r.enumString('Component', ['hypervisor', 'ebs', 'vpc', 'controller']);
    if (component === undefined) throw missing('Component');
    const bundle = r.string('Bundle');
    const rollback = r.boolean('Rollback') ?? false;
    if ((bundle === undefined) === !rollback) throw new Ec2Error('InvalidParameterCombination', 'Give either Bundle or Rollback=true.');
    if (bundle !== undefined && !bundle.startsWith('/')) throw new Ec2Error('InvalidParameterValue', 'Bundle must be an absolute path.');
    return { action: 'NitrideUpdateHostComponent', dryRun: dryRun(r), hostId: r.string('HostId'), component, bundle, rollback };
  },

  DescribeImages: (r) => ({
    action: 'DescribeImages',
    dryRun: dryRun(r),
    imageIds: r.stringList('ImageId').map(checkImageId),
    owners: r.stringList('Owner'),
    executableUsers: r.stringList('ExecutableBy'),
    filters: readFilters(r),
    ...paged(r, 5, 1000),
  }),

  RegisterImage(r) {
    const name = r.requiredString('Name');
    if (name.length < 3 || name.length > 128 || !/^[A-Za-z0-9()[\]./\-'@_ ]+$/.test(name)) {
      throw invalid('Name', name, 'AMI names are 3 to 128 characters: letters, digits, ( ) [ ] space . / - \' @ _.');
    }
    const description = r.string('Description');
    if (description !== undefined && description.length > 255) throw invalid('Description', description, 'Descriptions are at most 255 characters.');
    const kernelId = r.string('KernelId');
    const ramdiskId = r.string('RamdiskId');
    return {
      action: 'RegisterImage',
      dryRun: dryRun(r),
      name,
      description,
      imageLocation: r.string('ImageLocation'),
      kernelId,
      ramdiskId,
      architecture: r.enumString('Architecture', ['i386', 'x86_64', 'arm64', 'x86_64_mac', 'arm64_mac']),
      rootDeviceName: r.string('RootDeviceName'),
      virtualizationType: r.enumString('VirtualizationType', ['hvm', 'paravirtual']),
      blockDeviceMappings: readBlockDeviceMappings(r),
      tpmSupport: r.enumString('TpmSupport', ['v2.0']),
      bootMode: r.enumString('BootMode', ['legacy-bios', 'uefi', 'uefi-preferred']),
      enaSupport: r.boolean('EnaSupport'),
      tagSpecifications: readTagSpecifications(r),
    };
  },

  DeregisterImage: (r) => ({ action: 'DeregisterImage', dryRun: dryRun(r), imageId: checkImageId(r.requiredString('ImageId')) }),

  CopyImage: (r) => ({
    action: 'CopyImage',
    dryRun: dryRun(r),
    sourceImageId: checkImageId(r.requiredString('SourceImageId')),
    sourceRegion: r.requiredString('SourceRegion'),
    name: r.requiredString('Name'),
    description: checkDescription(r, 'Description', 255),
    encrypted: r.boolean('Encrypted'),
    kmsKeyId: r.string('KmsKeyId'),
    clientToken: r.string('ClientToken'),
    copyImageTags: r.boolean('CopyImageTags'),
    tagSpecifications: readTagSpecifications(r),
  }),

  CreateImage: (r) => ({
    action: 'CreateImage',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    name: r.requiredString('Name'),
    description: checkDescription(r, 'Description', 255),
    noReboot: r.boolean('NoReboot'),
    blockDeviceMappings: readBlockDeviceMappings(r),
    tagSpecifications: readTagSpecifications(r),
  }),

  DescribeInstanceTypes: (r) => ({
    action: 'DescribeInstanceTypes',
    dryRun: dryRun(r),
    instanceTypes: r.stringList('InstanceType'),
    filters: readFilters(r),
    ...paged(r, 5, 100),
  }),

  CreateTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = readTags(r, 'Tag');
    if (tags.length === 0) throw missing('Tag');
    return { action: 'CreateTags', dryRun: dryRun(r), resources, tags };
  },

  DeleteTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = r.list('Tag', (node, path) => {
      const t = asStruct(node, path);
      const key = t.string('Key');
      if (key === undefined) throw missing(`${path}.Key`);
      checkTagKey(key, `${path}.Key`);
      return { key, value: t.string('Value') };
    });
    return { action: 'DeleteTags', dryRun: dryRun(r), resources, tags };
  },

  DescribeTags: (r) => ({ action: 'DescribeTags', dryRun: dryRun(r), filters: readFilters(r), ...paged(r, 5, 1000) }),

  DescribeRegions: (r) => ({
    action: 'DescribeRegions',
    dryRun: dryRun(r),
    regionNames: r.stringList('RegionName'),
    allRegions: r.boolean('AllRegions') ?? false,
    filters: readFilters(r),
  }),

  DescribeAvailabilityZones: (r) => ({
    action: 'DescribeAvailabilityZones',
    dryRun: dryRun(r),
    zoneNames: r.stringList('ZoneName'),
    zoneIds: r.stringList('ZoneId'),
    allAvailabilityZones: r.boolean('AllAvailabilityZones') ?? false,
    filters: readFilters(r),
  }),

  // ---------------------------------------------------------------- EBS

  CreateVolume(r) {
    const availabilityZone = r.string('AvailabilityZone');
    const availabilityZoneId = r.string('AvailabilityZoneId');
    if (!availabilityZone && !availabilityZoneId) throw missing('AvailabilityZone');
    if (availabilityZone && availabilityZoneId) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter AvailabilityZone cannot be used with the parameter AvailabilityZoneId.');
    }
    const size = r.integer('Size', 1, 65536);
    const snapshotId = r.string('SnapshotId');
    if (size === undefined && (snapshotId === undefined || snapshotId === '')) {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter size or snapshotId', { context: { parameter: 'Size' } });
    }
    return {
      action: 'CreateVolume',
      dryRun: dryRun(r),
      availabilityZone: availabilityZone || undefined,
      availabilityZoneId: availabilityZoneId || undefined,
      size,
      snapshotId: snapshotId === undefined || snapshotId === '' ? undefined : checkSnapshotId(snapshotId),
      volumeType: r.enumString('VolumeType', VOLUME_TYPES),
      iops: r.integer('Iops', 1, 1_000_000),
      throughput: r.integer('Throughput', 1, 100_000),
      encrypted: r.boolean('Encrypted'),
      kmsKeyId: r.string('KmsKeyId'),
      multiAttachEnabled: r.boolean('MultiAttachEnabled'),
      tagSpecifications: readTagSpecifications(r),
      clientToken: checkClientToken(r),
    };
  },

  DescribeVolumes(r) {
    const volumeIds = r.stringList('VolumeId').map(checkVolumeId);
    const p = paged(r, 5, 1000);
    idsOrPaging(volumeIds, p, 'volumeSet');
    return { action: 'DescribeVolumes', dryRun: dryRun(r), volumeIds, filters: readFilters(r), ...p };
  },

  AttachVolume: (r) => ({
    action: 'AttachVolume',
    dryRun: dryRun(r),
    device: r.requiredString('Device'),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
  }),

  DetachVolume(r) {
    const instanceId = r.string('InstanceId');
    return {
      action: 'DetachVolume',
      dryRun: dryRun(r),
      volumeId: checkVolumeId(r.requiredString('VolumeId')),
      device: r.string('Device') || undefined,
      instanceId: instanceId === undefined || instanceId === '' ? undefined : checkInstanceId(instanceId),
      force: r.boolean('Force') ?? false,
    };
  },

  DeleteVolume: (r) => ({ action: 'DeleteVolume', dryRun: dryRun(r), volumeId: checkVolumeId(r.requiredString('VolumeId')) }),

  ModifyVolume: (r) => ({
    action: 'ModifyVolume',
    dryRun: dryRun(r),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
    size: r.integer('Size', 1, 65536),
    volumeType: r.enumString('VolumeType', VOLUME_TYPES),
    iops: r.integer('Iops', 1, 1_000_000),
    throughput: r.integer('Throughput', 1, 100_000),
    multiAttachEnabled: r.boolean('MultiAttachEnabled'),
  }),

  CreateSnapshot: (r) => ({
    action: 'CreateSnapshot',
    dryRun: dryRun(r),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
    description: checkDescription(r, 'Description', 255),
    tagSpecifications: readTagSpecifications(r),
  }),

  DescribeSnapshots(r) {
    const snapshotIds = r.stringList('SnapshotId').map(checkSnapshotId);
    const p = paged(r, 5, 1000);
    idsOrPaging(snapshotIds, p, 'snapshotSet');
    return {
      action: 'DescribeSnapshots',
      dryRun: dryRun(r),
      snapshotIds,
      ownerIds: r.stringList('Owner'),
      restorableByUserIds: r.stringList('RestorableBy'),
      filters: readFilters(r),
      ...p,
    };
  },

  DeleteSnapshot: (r) => ({ action: 'DeleteSnapshot', dryRun: dryRun(r), snapshotId: checkSnapshotId(r.requiredString('SnapshotId')) }),

  CopySnapshot: (r) => ({
    action: 'CopySnapshot',
    dryRun: dryRun(r),
    sourceSnapshotId: checkSnapshotId(r.requiredString('SourceSnapshotId')),
    sourceRegion: r.requiredString('SourceRegion'),
    destinationRegion: r.string('DestinationRegion'),
    description: checkDescription(r, 'Description', 255),
    encrypted: r.boolean('Encrypted'),
    kmsKeyId: r.string('KmsKeyId'),
    tagSpecifications: readTagSpecifications(r),
  }),

  EnableEbsEncryptionByDefault: (r) => ({ action: 'EnableEbsEncryptionByDefault', dryRun: dryRun(r) }),
  DisableEbsEncryptionByDefault: (r) => ({ action: 'DisableEbsEncryptionByDefault', dryRun: dryRun(r) }),
  GetEbsEncryptionByDefault: (r) => ({ action: 'GetEbsEncryptionByDefault', dryRun: dryRun(r) }),
  GetEbsDefaultKmsKeyId: (r) => ({ action: 'GetEbsDefaultKmsKeyId', dryRun: dryRun(r) }),
  ModifyEbsDefaultKmsKeyId: (r) => ({ action: 'ModifyEbsDefaultKmsKeyId', dryRun: dryRun(r), kmsKeyId: r.requiredString('KmsKeyId') }),
  ResetEbsDefaultKmsKeyId: (r) => ({ action: 'ResetEbsDefaultKmsKeyId', dryRun: dryRun(r) }),

  // ---------------------------------------------------------------- VPC

  CreateVpc: (r) => ({
    action: 'CreateVpc',
    dryRun: dryRun(r),
    cidrBlock: readBlock(r, 'InvalidVpc.Range'),
    instanceTenancy: r.enumString('InstanceTenancy', ['default', 'dedicated', 'host']),
    tagSpecifications: readTagSpecifications(r),
  }),

  DescribeVpcs: (r) => ({ action: 'DescribeVpcs', dryRun: dryRun(r), vpcIds: r.stringList('VpcId').map(checkVpcId), filters: readFilters(r), ...paged(r, 5, 1000) }),

  DeleteVpc: (r) => ({ action: 'DeleteVpc', dryRun: dryRun(r), vpcId: checkVpcId(r.requiredString('VpcId')) }),

  CreateSubnet(r) {
    const availabilityZone = r.string('AvailabilityZone') || undefined;
    const availabilityZoneId = r.string('AvailabilityZoneId') || undefined;
    if (availabilityZone !== undefined && availabilityZoneId !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter AvailabilityZone cannot be used with the parameter AvailabilityZoneId.');
    }
    return {
      action: 'CreateSubnet',
      dryRun: dryRun(r),
      vpcId: checkVpcId(r.requiredString('VpcId')),
      cidrBlock: readBlock(r, 'InvalidSubnet.Range'),
      availabilityZone,
      availabilityZoneId,
      tagSpecifications: readTagSpecifications(r),
    };
  },

  DescribeSubnets: (r) => ({
    action: 'DescribeSubnets',
    dryRun: dryRun(r),
    subnetIds: r.stringList('SubnetId').map(checkSubnetId),
    filters: readFilters(r),
    ...paged(r, 5, 1000),
  }),

  DeleteSubnet: (r) => ({ action: 'DeleteSubnet', dryRun: dryRun(r), subnetId: checkSubnetId(r.requiredString('SubnetId')) }),

  CreateSecurityGroup(r) {
    const groupName = r.requiredString('GroupName');
    const description = r.requiredString('GroupDescription');
    checkGroupText('GroupName', groupName);
    checkGroupText('GroupDescription', description);
    if (groupName.toLowerCase().startsWith('sg-')) throw invalid('GroupName', groupName, "Group names may not start with 'sg-'.");
    const vpcId = r.string('VpcId');
    return {
      action: 'CreateSecurityGroup',
      dryRun: dryRun(r),
      groupName,
      description,
      vpcId: vpcId === undefined || vpcId === '' ? undefined : checkVpcId(vpcId),
      tagSpecifications: readTagSpecifications(r),
    };
  },

  DescribeSecurityGroups: (r) => ({
    action: 'DescribeSecurityGroups',
    dryRun: dryRun(r),
    groupIds: r.stringList('GroupId').map(checkSecurityGroupId),
    groupNames: r.stringList('GroupName'),
    filters: readFilters(r),
    ...paged(r, 5, 1000),
  }),

  DeleteSecurityGroup(r) {
    const { groupId, groupName } = groupRef(r);
    return { action: 'DeleteSecurityGroup', dryRun: dryRun(r), groupId, groupName };
  },

  AuthorizeSecurityGroupIngress(r) {
    const { groupId, groupName } = groupRef(r);
    const ipPermissions = readIpPermissions(r);
    if (ipPermissions.length === 0) throw missing('IpPermissions');
    return { action: 'AuthorizeSecurityGroupIngress', dryRun: dryRun(r), groupId, groupName, ipPermissions, tagSpecifications: readTagSpecifications(r) };
  },

  RevokeSecurityGroupIngress(r) {
    const { groupId, groupName } = groupRef(r);
    const ipPermissions = readIpPermissions(r);
    const securityGroupRuleIds = r.stringList('SecurityGroupRuleId').map(checkSecurityGroupRuleId);
    if (ipPermissions.length === 0 && securityGroupRuleIds.length === 0) throw missing('IpPermissions');
    return { action: 'RevokeSecurityGroupIngress', dryRun: dryRun(r), groupId, groupName, ipPermissions, securityGroupRuleIds };
  },

  AuthorizeSecurityGroupEgress(r) {
    const groupId = checkSecurityGroupId(r.requiredString('GroupId'));
    const ipPermissions = readIpPermissions(r);
    if (ipPermissions.length === 0) throw missing('IpPermissions');
    return { action: 'AuthorizeSecurityGroupEgress', dryRun: dryRun(r), groupId, ipPermissions, tagSpecifications: readTagSpecifications(r) };
  },

  RevokeSecurityGroupEgress(r) {
    const groupId = checkSecurityGroupId(r.requiredString('GroupId'));
    const ipPermissions = readIpPermissions(r);
    const securityGroupRuleIds = r.stringList('SecurityGroupRuleId').map(checkSecurityGroupRuleId);
    if (ipPermissions.length === 0 && securityGroupRuleIds.length === 0) throw missing('IpPermissions');
    return { action: 'RevokeSecurityGroupEgress', dryRun: dryRun(r), groupId, ipPermissions, securityGroupRuleIds };
  },

  DescribeNetworkInterfaces(r) {
    const networkInterfaceIds = r.stringList('NetworkInterfaceId').map(checkNetworkInterfaceId);
    const p = paged(r, 5, 1000);
    idsOrPaging(networkInterfaceIds, p, 'networkInterfaceIdSet');
    return { action: 'DescribeNetworkInterfaces', dryRun: dryRun(r), networkInterfaceIds, filters: readFilters(r), ...p };
  },

  ModifyNetworkInterfaceAttribute(r) {
    const description = r.struct('Description');
    const sdc = r.struct('SourceDestCheck');
    const att = r.struct('Attachment');
    const groups = r.has('SecurityGroupId') ? r.stringList('SecurityGroupId').map(checkSecurityGroupId) : undefined;
    const out: ModifyNetworkInterfaceAttributeRequest = {
      action: 'ModifyNetworkInterfaceAttribute',
      dryRun: dryRun(r),
      networkInterfaceId: checkNetworkInterfaceId(r.requiredString('NetworkInterfaceId')),
      description: description === undefined ? undefined : (description.string('Value') ?? ''),
      sourceDestCheck: sdc === undefined ? undefined : sdc.boolean('Value'),
      groups: groups !== undefined && groups.length > 0 ? groups : undefined,
      attachment: att === undefined ? undefined : { attachmentId: att.requiredString('AttachmentId'), deleteOnTermination: att.boolean('DeleteOnTermination') },
    };
    if (sdc !== undefined && out.sourceDestCheck === undefined) throw missing('SourceDestCheck.Value');
    if (out.description === undefined && out.sourceDestCheck === undefined && out.groups === undefined && out.attachment === undefined) {
      throw missing('Attribute');
    }
    return out;
  },

  ModifyInstanceAttribute: (r) => ({
    action: 'ModifyInstanceAttribute',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    change: readInstanceAttributeChange(r),
  }),

  ModifyInstanceMetadataOptions: (r) => ({
    action: 'ModifyInstanceMetadataOptions',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    httpTokens: r.enumString('HttpTokens', ['optional', 'required']),
    httpPutResponseHopLimit: r.integer('HttpPutResponseHopLimit', 1, 64),
    httpEndpoint: r.enumString('HttpEndpoint', ['enabled', 'disabled']),
    httpProtocolIpv6: r.enumString('HttpProtocolIpv6', ['enabled', 'disabled']),
    instanceMetadataTags: r.enumString('InstanceMetadataTags', ['enabled', 'disabled']),
  }),
};

/** The actions parseEc2Request understands. */
export const EC2_ACTIONS: readonly Ec2Action[] = Object.keys(PARSERS) as Ec2Action[];

export function isEc2Action(name: string): name is Ec2Action {
  return Object.prototype.hasOwnProperty.call(PARSERS, name);
}

/** The mutating actions (DryRun matters most there; every action accepts it). */
export const EC2_MUTATING_ACTIONS: ReadonlySet<Ec2Action> = new Set<Ec2Action>([
  'RunInstances',
  'StartInstances',
  'StopInstances',
  'RebootInstances',
  'TerminateInstances',
  'RegisterImage',
  'DeregisterImage',
  'CopyImage',
  'CreateImage',
  'CreateTags',
  'DeleteTags',
  'CreateVolume',
  'AttachVolume',
  'DetachVolume',
  'DeleteVolume',
  'ModifyVolume',
  'CreateSnapshot',
  'DeleteSnapshot',
  'CopySnapshot',
  'EnableEbsEncryptionByDefault',
  'DisableEbsEncryptionByDefault',
  'ModifyEbsDefaultKmsKeyId',
  'ResetEbsDefaultKmsKeyId',
  'CreateVpc',
  'DeleteVpc',
  'CreateSubnet',
  'DeleteSubnet',
  'CreateSecurityGroup',
  'DeleteSecurityGroup',
  'AuthorizeSecurityGroupIngress',
  'RevokeSecurityGroupIngress',
  'AuthorizeSecurityGroupEgress',
  'RevokeSecurityGroupEgress',
  'ModifyNetworkInterfaceAttribute',
  'ModifyInstanceAttribute',
  'ModifyInstanceMetadataOptions',
  'NitrideSetHostRelease',
  'NitrideUpdateHostComponent',
]);

/**
 * Parses a whole EC2 request from its flat form parameters (body and query merged by the
 * caller). Throws Ec2Error with EC2's code for anything it cannot accept.
 */
export function parseEc2Request(flat: FlatParams): Ec2Request {
  const action = flat.get('Action');
  if (action === undefined || action === '') throw new Ec2Error('MissingAction', 'The request must contain the parameter Action.');
  if (!isEc2Action(action)) {
    throw new Ec2Error('InvalidAction', `The action ${truncate(action)} is not valid for this web service.`, { context: { action: truncate(action) } });
  }
  const params = expandParams(flat);
  const parser = PARSERS[action] as Parser;
  return parser(new ParamReader(params));
}
