// EC2 requests, VPC: VPCs, subnets, security groups, network interfaces and the network attributes of instances.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { truncate } from '../../query.js';
import { asStruct, type Base, checkInstanceId, checkNetworkInterfaceId, checkSecurityGroupId, checkSecurityGroupRuleId, checkSubnetId, checkVolumeId, checkVpcId, decodeUserData, dryRun, type Filter, idsOrPaging, invalid, missing, type Paged, paged, ParamReader, type ParserTable, readFilters, readTagSpecifications, type TagSpecification } from './common.js';

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

export type VpcRequest =
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

export const VPC_PARSERS: ParserTable<VpcRequest> = {
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

/** The vpc actions that change state (audited before effect; every action accepts DryRun). */
export const VPC_MUTATING: readonly VpcRequest['action'][] = ['CreateVpc', 'DeleteVpc', 'CreateSubnet', 'DeleteSubnet', 'CreateSecurityGroup', 'DeleteSecurityGroup', 'AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupEgress', 'ModifyNetworkInterfaceAttribute', 'ModifyInstanceAttribute', 'ModifyInstanceMetadataOptions'];
