// EC2 responses, VPC: VPCs, subnets, security groups and network interfaces: the typed results and their XML writers.

import type { XmlWriter } from '../../../../lib/xml.js';
import { type GroupIdentifier, type ResponseOf, type TagItem, writeGroups, writeReturn, type WriterTable, writeTags } from './common.js';
import { type InstanceMetadataOptions, type NetworkInterfaceAssociation, type NetworkInterfacePrivateIp, type NetworkInterfaceStatus, writeAssociation, writeMetadataOptions, writePrivateIps } from './instances.js';

export interface Vpc {
  readonly vpcId: string;
  readonly state: 'pending' | 'available';
  readonly cidrBlock: string;
  readonly dhcpOptionsId: string;
  readonly instanceTenancy: 'default' | 'dedicated' | 'host';
  readonly isDefault: boolean;
  readonly ownerId: string;
  /** The primary block's association (vpc-cidr-assoc-…) and any secondary ones. */
  readonly cidrBlockAssociations: readonly {
    readonly associationId: string;
    readonly cidrBlock: string;
    readonly state: 'associating' | 'associated' | 'disassociating' | 'disassociated' | 'failing' | 'failed';
  }[];
  readonly tags: readonly TagItem[];
}

export interface Subnet {
  readonly subnetId: string;
  readonly state: 'pending' | 'available' | 'unavailable' | 'failed' | 'failed-insufficient-capacity';
  readonly vpcId: string;
  readonly cidrBlock: string;
  readonly availableIpAddressCount: number;
  readonly availabilityZone: string;
  readonly availabilityZoneId: string;
  readonly defaultForAz: boolean;
  readonly mapPublicIpOnLaunch: boolean;
  readonly ownerId: string;
  /** arn:aws:ec2:<region>:<account>:subnet/<id> */
  readonly subnetArn: string;
  readonly tags: readonly TagItem[];
}

/** A security group named in a rule (response side: EC2 fills userId and groupId). */
export interface UserIdGroupPair {
  readonly userId: string;
  readonly groupId: string;
  readonly groupName?: string | undefined;
  readonly vpcId?: string | undefined;
  readonly description?: string | undefined;
}

export interface IpPermission {
  /** 'tcp' | 'udp' | 'icmp' | 'icmpv6' | '-1' or a protocol number, as EC2 shows it. */
  readonly ipProtocol: string;
  /** Absent for '-1' (all traffic). */
  readonly fromPort?: number | undefined;
  readonly toPort?: number | undefined;
  readonly userIdGroupPairs: readonly UserIdGroupPair[];
  readonly ipRanges: readonly { readonly cidrIp: string; readonly description?: string | undefined }[];
  readonly ipv6Ranges: readonly { readonly cidrIpv6: string; readonly description?: string | undefined }[];
  readonly prefixListIds: readonly { readonly prefixListId: string; readonly description?: string | undefined }[];
}

export interface SecurityGroup {
  readonly groupId: string;
  readonly groupName: string;
  /** Wire name groupDescription. */
  readonly description: string;
  readonly ownerId: string;
  readonly vpcId?: string | undefined;
  readonly ipPermissions: readonly IpPermission[];
  readonly ipPermissionsEgress: readonly IpPermission[];
  readonly securityGroupArn?: string | undefined;
  readonly tags: readonly TagItem[];
}

/** One rule as Authorize* answers it (securityGroupRuleSet). */
export interface SecurityGroupRule {
  readonly securityGroupRuleId: string;
  readonly groupId: string;
  readonly groupOwnerId: string;
  readonly isEgress: boolean;
  readonly ipProtocol: string;
  /** -1 when the protocol has no ports. */
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidrIpv4?: string | undefined;
  readonly cidrIpv6?: string | undefined;
  readonly prefixListId?: string | undefined;
  readonly referencedGroupInfo?: { readonly groupId: string; readonly userId: string; readonly vpcId?: string | undefined } | undefined;
  readonly description?: string | undefined;
  readonly tags: readonly TagItem[];
}

export interface NetworkInterface {
  readonly networkInterfaceId: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly availabilityZone: string;
  readonly availabilityZoneId?: string | undefined;
  /** EC2 sends an empty <description/> when there is none. */
  readonly description: string;
  readonly ownerId: string;
  readonly requesterId?: string | undefined;
  readonly requesterManaged: boolean;
  readonly status: NetworkInterfaceStatus;
  /** aa:bb:cc:dd:ee:ff */
  readonly macAddress: string;
  readonly privateIpAddress: string;
  readonly privateDnsName?: string | undefined;
  readonly sourceDestCheck: boolean;
  readonly groups: readonly GroupIdentifier[];
  readonly attachment?:
    | {
        readonly attachmentId: string;
        readonly instanceId: string;
        readonly instanceOwnerId: string;
        readonly deviceIndex: number;
        readonly networkCardIndex?: number | undefined;
        readonly status: 'attaching' | 'attached' | 'detaching' | 'detached';
        readonly attachTime: Date;
        readonly deleteOnTermination: boolean;
      }
    | undefined;
  readonly privateIpAddresses: readonly NetworkInterfacePrivateIp[];
  readonly interfaceType: 'interface' | 'efa' | 'trunk';
  readonly tags: readonly TagItem[];
  readonly association?: NetworkInterfaceAssociation | undefined;
}

export function writeVpc(w: XmlWriter, v: Vpc): void {
  w.leaf('vpcId', v.vpcId).leaf('ownerId', v.ownerId).leaf('state', v.state).leaf('cidrBlock', v.cidrBlock);
  w.list('cidrBlockAssociationSet', v.cidrBlockAssociations, (x, a) => {
    x.leaf('cidrBlock', a.cidrBlock).leaf('associationId', a.associationId);
    x.open('cidrBlockState').leaf('state', a.state).close();
  });
  w.leaf('dhcpOptionsId', v.dhcpOptionsId);
  writeTags(w, v.tags);
  w.leaf('instanceTenancy', v.instanceTenancy).leaf('isDefault', v.isDefault);
}

export function writeSubnet(w: XmlWriter, s: Subnet): void {
  w.leaf('subnetId', s.subnetId).leaf('subnetArn', s.subnetArn).leaf('state', s.state).leaf('ownerId', s.ownerId);
  w.leaf('vpcId', s.vpcId).leaf('cidrBlock', s.cidrBlock);
  w.empty('ipv6CidrBlockAssociationSet');
  w.leaf('availableIpAddressCount', s.availableIpAddressCount).leaf('availabilityZone', s.availabilityZone).leaf('availabilityZoneId', s.availabilityZoneId);
  w.leaf('defaultForAz', s.defaultForAz).leaf('mapPublicIpOnLaunch', s.mapPublicIpOnLaunch);
  // IPv6, customer-owned IPs and DNS64 are not offered: EC2's values for a subnet without them.
  w.leaf('mapCustomerOwnedIpOnLaunch', false).leaf('assignIpv6AddressOnCreation', false).leaf('enableDns64', false).leaf('ipv6Native', false);
  w.open('privateDnsNameOptionsOnLaunch')
    .leaf('hostnameType', 'ip-name')
    .leaf('enableResourceNameDnsARecord', false)
    .leaf('enableResourceNameDnsAAAARecord', false)
    .close();
  writeTags(w, s.tags);
}

export function writeIpPermission(w: XmlWriter, p: IpPermission): void {
  w.leaf('ipProtocol', p.ipProtocol).leaf('fromPort', p.fromPort).leaf('toPort', p.toPort);
  w.list('groups', p.userIdGroupPairs, (x, g) => x.leaf('description', g.description).leaf('userId', g.userId).leaf('groupId', g.groupId).leaf('groupName', g.groupName).leaf('vpcId', g.vpcId));
  w.list('ipRanges', p.ipRanges, (x, r) => x.leaf('cidrIp', r.cidrIp).leaf('description', r.description));
  w.list('ipv6Ranges', p.ipv6Ranges, (x, r) => x.leaf('cidrIpv6', r.cidrIpv6).leaf('description', r.description));
  w.list('prefixListIds', p.prefixListIds, (x, r) => x.leaf('prefixListId', r.prefixListId).leaf('description', r.description));
}

export function writeSecurityGroup(w: XmlWriter, g: SecurityGroup): void {
  w.leaf('ownerId', g.ownerId).leaf('groupId', g.groupId).leaf('groupName', g.groupName).leaf('groupDescription', g.description);
  w.list('ipPermissions', g.ipPermissions, writeIpPermission);
  w.list('ipPermissionsEgress', g.ipPermissionsEgress, writeIpPermission);
  w.leaf('vpcId', g.vpcId).leaf('securityGroupArn', g.securityGroupArn);
  writeTags(w, g.tags);
}

export function writeSecurityGroupRule(w: XmlWriter, r: SecurityGroupRule): void {
  w.leaf('securityGroupRuleId', r.securityGroupRuleId).leaf('groupId', r.groupId).leaf('groupOwnerId', r.groupOwnerId).leaf('isEgress', r.isEgress);
  w.leaf('ipProtocol', r.ipProtocol).leaf('fromPort', r.fromPort).leaf('toPort', r.toPort);
  w.leaf('cidrIpv4', r.cidrIpv4).leaf('cidrIpv6', r.cidrIpv6).leaf('prefixListId', r.prefixListId);
  if (r.referencedGroupInfo !== undefined) {
    w.open('referencedGroupInfo').leaf('groupId', r.referencedGroupInfo.groupId).leaf('userId', r.referencedGroupInfo.userId).leaf('vpcId', r.referencedGroupInfo.vpcId).close();
  }
  w.leaf('description', r.description);
  writeTags(w, r.tags);
}

export function writeNetworkInterface(w: XmlWriter, n: NetworkInterface): void {
  w.leaf('networkInterfaceId', n.networkInterfaceId).leaf('subnetId', n.subnetId).leaf('vpcId', n.vpcId);
  w.leaf('availabilityZone', n.availabilityZone).leaf('availabilityZoneId', n.availabilityZoneId).leaf('description', n.description);
  w.leaf('ownerId', n.ownerId).leaf('requesterId', n.requesterId).leaf('requesterManaged', n.requesterManaged);
  w.leaf('status', n.status).leaf('macAddress', n.macAddress).leaf('privateIpAddress', n.privateIpAddress).leaf('privateDnsName', n.privateDnsName);
  w.leaf('sourceDestCheck', n.sourceDestCheck);
  writeGroups(w, n.groups);
  writeAssociation(w, n.association, true);
  const a = n.attachment;
  if (a !== undefined) {
    w.open('attachment')
      .leaf('attachmentId', a.attachmentId)
      .leaf('instanceId', a.instanceId)
      .leaf('instanceOwnerId', a.instanceOwnerId)
      .leaf('deviceIndex', a.deviceIndex)
      .leaf('networkCardIndex', a.networkCardIndex)
      .leaf('status', a.status)
      .leaf('attachTime', a.attachTime)
      .leaf('deleteOnTermination', a.deleteOnTermination)
      .close();
  }
  // EC2 sends tagSet for network interfaces even when empty.
  w.list('tagSet', n.tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
  writePrivateIps(w, n.privateIpAddresses, true);
  w.empty('ipv6AddressesSet');
  w.leaf('interfaceType', n.interfaceType);
}

export type VpcResponse =
  | { readonly action: 'DeleteVpc' | 'DeleteSubnet' | 'ModifyNetworkInterfaceAttribute' | 'ModifyInstanceAttribute';
    }
  | { readonly action: 'CreateVpc'; readonly vpc: Vpc }
  | { readonly action: 'DescribeVpcs'; readonly vpcs: readonly Vpc[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CreateSubnet'; readonly subnet: Subnet }
  | { readonly action: 'DescribeSubnets'; readonly subnets: readonly Subnet[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CreateSecurityGroup'; readonly groupId: string; readonly securityGroupArn?: string | undefined; readonly tags?: readonly TagItem[] | undefined }
  | { readonly action: 'DescribeSecurityGroups'; readonly securityGroups: readonly SecurityGroup[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DeleteSecurityGroup'; /** the deleted group's id */ readonly groupId: string }
  | { readonly action: 'AuthorizeSecurityGroupIngress' | 'AuthorizeSecurityGroupEgress'; readonly rules: readonly SecurityGroupRule[] }
  | {
      readonly action: 'RevokeSecurityGroupIngress' | 'RevokeSecurityGroupEgress';
      /** Permissions of the request that matched no rule (EC2 still answers return=true for the rest). */
      readonly unknownIpPermissions?: readonly IpPermission[] | undefined;
    }
  | { readonly action: 'DescribeNetworkInterfaces'; readonly networkInterfaces: readonly NetworkInterface[]; readonly nextToken?: string | undefined }
  | { readonly action: 'ModifyInstanceMetadataOptions'; readonly instanceId: string; readonly metadataOptions: InstanceMetadataOptions };

function writeAuthorizeSecurityGroupIngress(w: XmlWriter, r: ResponseOf<VpcResponse, 'AuthorizeSecurityGroupIngress' | 'AuthorizeSecurityGroupEgress'>): void {
  w.leaf('return', true);
  w.list('securityGroupRuleSet', r.rules, writeSecurityGroupRule);
}

function writeRevokeSecurityGroupIngress(w: XmlWriter, r: ResponseOf<VpcResponse, 'RevokeSecurityGroupIngress' | 'RevokeSecurityGroupEgress'>): void {
  w.leaf('return', true);
  if (r.unknownIpPermissions !== undefined && r.unknownIpPermissions.length > 0) w.list('unknownIpPermissionSet', r.unknownIpPermissions, writeIpPermission);
}

export const VPC_WRITERS: WriterTable<VpcResponse> = {
  DeleteVpc: writeReturn,
  DeleteSubnet: writeReturn,
  ModifyNetworkInterfaceAttribute: writeReturn,
  ModifyInstanceAttribute: writeReturn,
  CreateVpc: (w, r) => {
    w.element('vpc', (x) => writeVpc(x, r.vpc));
  },
  DescribeVpcs(w, r) {
    w.list('vpcSet', r.vpcs, writeVpc);
    w.leaf('nextToken', r.nextToken);
  },
  CreateSubnet: (w, r) => {
    w.element('subnet', (x) => writeSubnet(x, r.subnet));
  },
  DescribeSubnets(w, r) {
    w.list('subnetSet', r.subnets, writeSubnet);
    w.leaf('nextToken', r.nextToken);
  },
  CreateSecurityGroup(w, r) {
    w.leaf('return', true).leaf('groupId', r.groupId).leaf('securityGroupArn', r.securityGroupArn);
    writeTags(w, r.tags ?? []);
  },
  DescribeSecurityGroups(w, r) {
    w.list('securityGroupInfo', r.securityGroups, writeSecurityGroup);
    w.leaf('nextToken', r.nextToken);
  },
  DeleteSecurityGroup: (w, r) => {
    w.leaf('return', true).leaf('groupId', r.groupId);
  },
  AuthorizeSecurityGroupIngress: writeAuthorizeSecurityGroupIngress,
  AuthorizeSecurityGroupEgress: writeAuthorizeSecurityGroupIngress,
  RevokeSecurityGroupIngress: writeRevokeSecurityGroupIngress,
  RevokeSecurityGroupEgress: writeRevokeSecurityGroupIngress,
  DescribeNetworkInterfaces(w, r) {
    w.list('networkInterfaceSet', r.networkInterfaces, writeNetworkInterface);
    w.leaf('nextToken', r.nextToken);
  },
  ModifyInstanceMetadataOptions(w, r) {
    w.leaf('instanceId', r.instanceId);
    writeMetadataOptions(w, 'instanceMetadataOptions', r.metadataOptions);
  },
};
