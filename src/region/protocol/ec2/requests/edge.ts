// EC2 requests, the VPC edge: internet gateways, route tables and routes, Elastic IP addresses,
// and the VPC and subnet attributes that decide public addresses and DNS (issue 13).
// Declares each request, the family's union and one parser per action; index.ts joins the families.
// Targets and options Nitride does not offer (NAT and transit gateways, peering, prefix lists,
// IPv6, BYOIP pools) are refused with InvalidParameterValue, never ignored.

import { Ec2Error } from '../../errors.js';
import { type Base, checkInstanceId, checkNetworkInterfaceId, checkSubnetId, checkVpcId, dryRun, type Filter, idChecker, idsOrPaging, invalid, missing, type Paged, paged, type ParamReader, type ParserTable, readFilters, readTagSpecifications, type TagSpecification, unsupported } from './common.js';
import { parseIpv4Cidr } from './vpc.js';

export const checkInternetGatewayId = idChecker('igw', 'InvalidInternetGatewayID.Malformed');
export const checkRouteTableId = idChecker('rtb', 'InvalidRouteTableID.Malformed');
export const checkAllocationId = idChecker('eipalloc', 'InvalidAllocationID.Malformed');
const checkEipAssociationId = idChecker('eipassoc', 'InvalidAssociationID.Malformed');
const checkRouteTableAssociationId = idChecker('rtbassoc', 'InvalidAssociationID.Malformed');

// ---------------------------------------------------------------- internet gateways

export interface CreateInternetGatewayRequest extends Base {
  readonly action: 'CreateInternetGateway';
  readonly tagSpecifications: readonly TagSpecification[];
}

interface InternetGatewayVpcRequest extends Base {
  readonly internetGatewayId: string;
  readonly vpcId: string;
}

export interface AttachInternetGatewayRequest extends InternetGatewayVpcRequest {
  readonly action: 'AttachInternetGateway';
}

export interface DetachInternetGatewayRequest extends InternetGatewayVpcRequest {
  readonly action: 'DetachInternetGateway';
}

export interface DeleteInternetGatewayRequest extends Base {
  readonly action: 'DeleteInternetGateway';
  readonly internetGatewayId: string;
}

export interface DescribeInternetGatewaysRequest extends Base, Paged {
  readonly action: 'DescribeInternetGateways';
  readonly internetGatewayIds: readonly string[];
  readonly filters: readonly Filter[];
}

// ---------------------------------------------------------------- route tables

export interface CreateRouteTableRequest extends Base {
  readonly action: 'CreateRouteTable';
  readonly vpcId: string;
  readonly clientToken: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DeleteRouteTableRequest extends Base {
  readonly action: 'DeleteRouteTable';
  readonly routeTableId: string;
}

export interface DescribeRouteTablesRequest extends Base, Paged {
  readonly action: 'DescribeRouteTables';
  readonly routeTableIds: readonly string[];
  readonly filters: readonly Filter[];
}

/** CreateRoute / ReplaceRoute: an IPv4 destination and a gateway (an igw-…, or 'local' for ReplaceRoute's LocalTarget). */
interface RouteChangeRequest extends Base {
  readonly routeTableId: string;
  /** Normalized a.b.c.d/n (the network address of the block). */
  readonly destinationCidrBlock: string;
  /** igw-… or 'local' (ReplaceRoute LocalTarget=true). */
  readonly gatewayId: string;
}

export interface CreateRouteRequest extends RouteChangeRequest {
  readonly action: 'CreateRoute';
}

export interface ReplaceRouteRequest extends RouteChangeRequest {
  readonly action: 'ReplaceRoute';
}

export interface DeleteRouteRequest extends Base {
  readonly action: 'DeleteRoute';
  readonly routeTableId: string;
  readonly destinationCidrBlock: string;
}

export interface AssociateRouteTableRequest extends Base {
  readonly action: 'AssociateRouteTable';
  readonly routeTableId: string;
  readonly subnetId: string;
}

export interface DisassociateRouteTableRequest extends Base {
  readonly action: 'DisassociateRouteTable';
  readonly associationId: string;
}

export interface ReplaceRouteTableAssociationRequest extends Base {
  readonly action: 'ReplaceRouteTableAssociation';
  readonly associationId: string;
  readonly routeTableId: string;
}

// ---------------------------------------------------------------- Elastic IP addresses

export interface AllocateAddressRequest extends Base {
  readonly action: 'AllocateAddress';
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface AssociateAddressRequest extends Base {
  readonly action: 'AssociateAddress';
  /** One of allocationId / publicIp names the address (the parser insists on one). */
  readonly allocationId: string | undefined;
  readonly publicIp: string | undefined;
  /** Exactly one of instanceId / networkInterfaceId. */
  readonly instanceId: string | undefined;
  readonly networkInterfaceId: string | undefined;
  readonly privateIpAddress: string | undefined;
  readonly allowReassociation: boolean;
}

export interface DisassociateAddressRequest extends Base {
  readonly action: 'DisassociateAddress';
  readonly associationId: string | undefined;
  readonly publicIp: string | undefined;
}

export interface ReleaseAddressRequest extends Base {
  readonly action: 'ReleaseAddress';
  readonly allocationId: string | undefined;
  readonly publicIp: string | undefined;
}

export interface DescribeAddressesRequest extends Base {
  readonly action: 'DescribeAddresses';
  readonly publicIps: readonly string[];
  readonly allocationIds: readonly string[];
  readonly filters: readonly Filter[];
}

// ---------------------------------------------------------------- attributes

export const VPC_ATTRIBUTES = ['enableDnsSupport', 'enableDnsHostnames', 'enableNetworkAddressUsageMetrics'] as const;
export type VpcAttributeName = (typeof VPC_ATTRIBUTES)[number];

export interface DescribeVpcAttributeRequest extends Base {
  readonly action: 'DescribeVpcAttribute';
  readonly vpcId: string;
  readonly attribute: VpcAttributeName;
}

export interface ModifyVpcAttributeRequest extends Base {
  readonly action: 'ModifyVpcAttribute';
  readonly vpcId: string;
  /** Exactly one attribute per call, as EC2 requires (enableNetworkAddressUsageMetrics only false: it is not offered). */
  readonly attribute: VpcAttributeName;
  readonly value: boolean;
}

export interface ModifySubnetAttributeRequest extends Base {
  readonly action: 'ModifySubnetAttribute';
  readonly subnetId: string;
  /** The one attribute Nitride changes; the others are refused when asked to turn on. */
  readonly mapPublicIpOnLaunch: boolean;
}

export type EdgeRequest =
  | CreateInternetGatewayRequest
  | AttachInternetGatewayRequest
  | DetachInternetGatewayRequest
  | DeleteInternetGatewayRequest
  | DescribeInternetGatewaysRequest
  | CreateRouteTableRequest
  | DeleteRouteTableRequest
  | DescribeRouteTablesRequest
  | CreateRouteRequest
  | ReplaceRouteRequest
  | DeleteRouteRequest
  | AssociateRouteTableRequest
  | DisassociateRouteTableRequest
  | ReplaceRouteTableAssociationRequest
  | AllocateAddressRequest
  | AssociateAddressRequest
  | DisassociateAddressRequest
  | ReleaseAddressRequest
  | DescribeAddressesRequest
  | DescribeVpcAttributeRequest
  | ModifyVpcAttributeRequest
  | ModifySubnetAttributeRequest;

// ---------------------------------------------------------------- field readers

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function readIp(r: ParamReader, name: string): string | undefined {
  const v = r.string(name);
  if (v === undefined || v === '') return undefined;
  if (!IPV4.test(v)) throw invalid(name, v, 'This is not a valid IPv4 address.');
  return v;
}

/** DestinationCidrBlock, required for IPv4 routes; IPv6 and prefix-list destinations are refused. */
function readDestination(r: ParamReader): string {
  const v6 = r.string('DestinationIpv6CidrBlock');
  if (v6 !== undefined && v6 !== '') throw unsupported('DestinationIpv6CidrBlock', v6, 'VPCs have no IPv6 blocks.');
  const pl = r.string('DestinationPrefixListId');
  if (pl !== undefined && pl !== '') throw unsupported('DestinationPrefixListId', pl, 'Prefix lists are not supported.');
  const cidr = r.string('DestinationCidrBlock');
  if (cidr === undefined || cidr === '') throw missing('DestinationCidrBlock');
  const p = parseIpv4Cidr(cidr);
  if (p === undefined) throw invalid('DestinationCidrBlock', cidr, 'This is not a valid CIDR block.');
  const size = 2 ** (32 - p.prefix);
  const base = p.address - (p.address % size);
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${p.prefix}`;
}

/** Route targets EC2 has and Nitride does not: refused by name. */
const OTHER_TARGETS = ['NatGatewayId', 'InstanceId', 'NetworkInterfaceId', 'VpcPeeringConnectionId', 'TransitGatewayId', 'LocalGatewayId', 'CarrierGatewayId', 'EgressOnlyInternetGatewayId', 'VpcEndpointId', 'CoreNetworkArn', 'OdbNetworkArn'] as const;

function readTarget(r: ParamReader, local: boolean): string {
  for (const t of OTHER_TARGETS) {
    const v = r.string(t);
    if (v !== undefined && v !== '') throw unsupported(t, v, 'Routes may target an internet gateway (GatewayId) only.');
  }
  const gw = r.string('GatewayId');
  if (local) {
    if (gw !== undefined && gw !== '') throw new Ec2Error('InvalidParameterCombination', 'The parameter LocalTarget cannot be used with the parameter GatewayId.');
    return 'local';
  }
  if (gw === undefined || gw === '') throw missing('GatewayId');
  if (gw === 'local') return gw;
  if (!gw.startsWith('igw-')) throw unsupported('GatewayId', gw, 'Routes may target an internet gateway (igw-…) only.');
  return checkInternetGatewayId(gw);
}

function readAttrValue(r: ParamReader, name: string): boolean | undefined {
  const s = r.struct(name);
  if (s === undefined) return undefined;
  const v = s.boolean('Value');
  if (v === undefined) throw missing(`${name}.Value`);
  return v;
}

const optional = (v: string | undefined, check: (id: string) => string): string | undefined => (v === undefined || v === '' ? undefined : check(v));

// ---------------------------------------------------------------- parsers

export const EDGE_PARSERS: ParserTable<EdgeRequest> = {
  CreateInternetGateway: (r) => ({ action: 'CreateInternetGateway', dryRun: dryRun(r), tagSpecifications: readTagSpecifications(r) }),

  AttachInternetGateway: (r) => ({ action: 'AttachInternetGateway', dryRun: dryRun(r), internetGatewayId: checkInternetGatewayId(r.requiredString('InternetGatewayId')), vpcId: checkVpcId(r.requiredString('VpcId')) }),

  DetachInternetGateway: (r) => ({ action: 'DetachInternetGateway', dryRun: dryRun(r), internetGatewayId: checkInternetGatewayId(r.requiredString('InternetGatewayId')), vpcId: checkVpcId(r.requiredString('VpcId')) }),

  DeleteInternetGateway: (r) => ({ action: 'DeleteInternetGateway', dryRun: dryRun(r), internetGatewayId: checkInternetGatewayId(r.requiredString('InternetGatewayId')) }),

  DescribeInternetGateways(r) {
    const internetGatewayIds = r.stringList('InternetGatewayId').map(checkInternetGatewayId);
    const p = paged(r, 5, 1000);
    idsOrPaging(internetGatewayIds, p, 'internetGatewayIdSet');
    return { action: 'DescribeInternetGateways', dryRun: dryRun(r), internetGatewayIds, filters: readFilters(r), ...p };
  },

  CreateRouteTable: (r) => ({ action: 'CreateRouteTable', dryRun: dryRun(r), vpcId: checkVpcId(r.requiredString('VpcId')), clientToken: r.string('ClientToken'), tagSpecifications: readTagSpecifications(r) }),

  DeleteRouteTable: (r) => ({ action: 'DeleteRouteTable', dryRun: dryRun(r), routeTableId: checkRouteTableId(r.requiredString('RouteTableId')) }),

  DescribeRouteTables(r) {
    const routeTableIds = r.stringList('RouteTableId').map(checkRouteTableId);
    const p = paged(r, 5, 100);
    idsOrPaging(routeTableIds, p, 'routeTableIdSet');
    return { action: 'DescribeRouteTables', dryRun: dryRun(r), routeTableIds, filters: readFilters(r), ...p };
  },

  CreateRoute: (r) => ({ action: 'CreateRoute', dryRun: dryRun(r), routeTableId: checkRouteTableId(r.requiredString('RouteTableId')), destinationCidrBlock: readDestination(r), gatewayId: readTarget(r, false) }),

  ReplaceRoute: (r) => ({ action: 'ReplaceRoute', dryRun: dryRun(r), routeTableId: checkRouteTableId(r.requiredString('RouteTableId')), destinationCidrBlock: readDestination(r), gatewayId: readTarget(r, r.boolean('LocalTarget') === true) }),

  DeleteRoute: (r) => ({ action: 'DeleteRoute', dryRun: dryRun(r), routeTableId: checkRouteTableId(r.requiredString('RouteTableId')), destinationCidrBlock: readDestination(r) }),

  AssociateRouteTable(r) {
    const gw = r.string('GatewayId');
    if (gw !== undefined && gw !== '') throw unsupported('GatewayId', gw, 'Route tables are associated with subnets only.');
    const pool = r.string('PublicIpv4Pool');
    if (pool !== undefined && pool !== '') throw unsupported('PublicIpv4Pool', pool, 'Route tables are associated with subnets only.');
    return { action: 'AssociateRouteTable', dryRun: dryRun(r), routeTableId: checkRouteTableId(r.requiredString('RouteTableId')), subnetId: checkSubnetId(r.requiredString('SubnetId')) };
  },

  DisassociateRouteTable: (r) => ({ action: 'DisassociateRouteTable', dryRun: dryRun(r), associationId: checkRouteTableAssociationId(r.requiredString('AssociationId')) }),

  ReplaceRouteTableAssociation: (r) => ({
    action: 'ReplaceRouteTableAssociation',
    dryRun: dryRun(r),
    associationId: checkRouteTableAssociationId(r.requiredString('AssociationId')),
    routeTableId: checkRouteTableId(r.requiredString('RouteTableId')),
  }),

  AllocateAddress(r) {
    const domain = r.string('Domain');
    if (domain !== undefined && domain !== 'vpc') throw invalid('Domain', domain, 'Addresses are allocated for use in a VPC (Domain vpc).');
    for (const n of ['Address', 'PublicIpv4Pool', 'CustomerOwnedIpv4Pool', 'IpamPoolId'] as const) {
      const v = r.string(n);
      if (v !== undefined && v !== '' && !(n === 'PublicIpv4Pool' && v === 'amazon')) throw unsupported(n, v, "Addresses come from the region's public pool.");
    }
    const nbg = r.string('NetworkBorderGroup');
    if (nbg !== undefined && nbg !== '' && nbg !== 'local-1') throw invalid('NetworkBorderGroup', nbg, 'The region has one network border group, local-1.');
    return { action: 'AllocateAddress', dryRun: dryRun(r), tagSpecifications: readTagSpecifications(r) };
  },

  AssociateAddress(r) {
    const allocationId = optional(r.string('AllocationId'), checkAllocationId);
    const publicIp = readIp(r, 'PublicIp');
    if (allocationId === undefined && publicIp === undefined) throw missing('AllocationId');
    const instanceId = optional(r.string('InstanceId'), checkInstanceId);
    const networkInterfaceId = optional(r.string('NetworkInterfaceId'), checkNetworkInterfaceId);
    if (instanceId === undefined && networkInterfaceId === undefined) throw missing('InstanceId');
    if (instanceId !== undefined && networkInterfaceId !== undefined) throw new Ec2Error('InvalidParameterCombination', 'The parameter InstanceId cannot be used with the parameter NetworkInterfaceId.');
    return {
      action: 'AssociateAddress',
      dryRun: dryRun(r),
      allocationId,
      publicIp,
      instanceId,
      networkInterfaceId,
      privateIpAddress: readIp(r, 'PrivateIpAddress'),
      allowReassociation: r.boolean('AllowReassociation') ?? false,
    };
  },

  DisassociateAddress(r) {
    const associationId = optional(r.string('AssociationId'), checkEipAssociationId);
    const publicIp = readIp(r, 'PublicIp');
    if (associationId === undefined && publicIp === undefined) throw missing('AssociationId');
    return { action: 'DisassociateAddress', dryRun: dryRun(r), associationId, publicIp };
  },

  ReleaseAddress(r) {
    const allocationId = optional(r.string('AllocationId'), checkAllocationId);
    const publicIp = readIp(r, 'PublicIp');
    if (allocationId === undefined && publicIp === undefined) throw missing('AllocationId');
    const nbg = r.string('NetworkBorderGroup');
    if (nbg !== undefined && nbg !== '' && nbg !== 'local-1') throw invalid('NetworkBorderGroup', nbg, 'The region has one network border group, local-1.');
    return { action: 'ReleaseAddress', dryRun: dryRun(r), allocationId, publicIp };
  },

  DescribeAddresses: (r) => ({
    action: 'DescribeAddresses',
    dryRun: dryRun(r),
    publicIps: r.stringList('PublicIp').map((ip) => {
      if (!IPV4.test(ip)) throw invalid('PublicIp', ip, 'This is not a valid IPv4 address.');
      return ip;
    }),
    allocationIds: r.stringList('AllocationId').map(checkAllocationId),
    filters: readFilters(r),
  }),

  DescribeVpcAttribute(r) {
    const vpcId = checkVpcId(r.requiredString('VpcId'));
    const attribute = r.enumString('Attribute', VPC_ATTRIBUTES);
    if (attribute === undefined) throw missing('Attribute');
    return { action: 'DescribeVpcAttribute', dryRun: dryRun(r), vpcId, attribute };
  },

  ModifyVpcAttribute(r) {
    const vpcId = checkVpcId(r.requiredString('VpcId'));
    const given: { attribute: VpcAttributeName; value: boolean }[] = [];
    for (const [wire, attribute] of [['EnableDnsSupport', 'enableDnsSupport'], ['EnableDnsHostnames', 'enableDnsHostnames'], ['EnableNetworkAddressUsageMetrics', 'enableNetworkAddressUsageMetrics']] as const) {
      const value = readAttrValue(r, wire);
      if (value !== undefined) given.push({ attribute, value });
    }
    if (given.length > 1) throw new Ec2Error('InvalidParameterCombination', 'Only one attribute can be modified at a time.');
    const one = given[0];
    if (one === undefined) throw missing('EnableDnsSupport');
    if (one.attribute === 'enableNetworkAddressUsageMetrics' && one.value) throw unsupported('EnableNetworkAddressUsageMetrics.Value', 'true', 'Network address usage metrics are not offered.');
    return { action: 'ModifyVpcAttribute', dryRun: dryRun(r), vpcId, ...one };
  },

  ModifySubnetAttribute(r) {
    const subnetId = checkSubnetId(r.requiredString('SubnetId'));
    const map = readAttrValue(r, 'MapPublicIpOnLaunch');
    const others: (readonly [string, boolean | undefined])[] = [
      ['AssignIpv6AddressOnCreation', readAttrValue(r, 'AssignIpv6AddressOnCreation')],
      ['MapCustomerOwnedIpOnLaunch', readAttrValue(r, 'MapCustomerOwnedIpOnLaunch')],
      ['EnableDns64', readAttrValue(r, 'EnableDns64')],
      ['EnableResourceNameDnsARecordOnLaunch', readAttrValue(r, 'EnableResourceNameDnsARecordOnLaunch')],
      ['EnableResourceNameDnsAAAARecordOnLaunch', readAttrValue(r, 'EnableResourceNameDnsAAAARecordOnLaunch')],
    ];
    for (const [n, v] of others) if (v === true) throw unsupported(`${n}.Value`, 'true', 'Only MapPublicIpOnLaunch can be changed on a subnet.');
    for (const n of ['CustomerOwnedIpv4Pool', 'PrivateDnsHostnameTypeOnLaunch', 'EnableLniAtDeviceIndex'] as const) {
      const v = r.string(n);
      if (v !== undefined && v !== '' && !(n === 'PrivateDnsHostnameTypeOnLaunch' && v === 'ip-name')) throw unsupported(n, v, 'Only MapPublicIpOnLaunch can be changed on a subnet.');
    }
    if (r.has('DisableLniAtDeviceIndex')) throw unsupported('DisableLniAtDeviceIndex', '', 'Only MapPublicIpOnLaunch can be changed on a subnet.');
    if (map === undefined) throw missing('MapPublicIpOnLaunch');
    return { action: 'ModifySubnetAttribute', dryRun: dryRun(r), subnetId, mapPublicIpOnLaunch: map };
  },
};

/** The edge actions that change state (audited before effect; every action accepts DryRun). */
export const EDGE_MUTATING: readonly EdgeRequest['action'][] = [
  'CreateInternetGateway',
  'AttachInternetGateway',
  'DetachInternetGateway',
  'DeleteInternetGateway',
  'CreateRouteTable',
  'DeleteRouteTable',
  'CreateRoute',
  'ReplaceRoute',
  'DeleteRoute',
  'AssociateRouteTable',
  'DisassociateRouteTable',
  'ReplaceRouteTableAssociation',
  'AllocateAddress',
  'AssociateAddress',
  'DisassociateAddress',
  'ReleaseAddress',
  'ModifyVpcAttribute',
  'ModifySubnetAttribute',
];
