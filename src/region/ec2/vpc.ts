// The region's VPC domain: VPCs, subnets, security groups and ENIs, with EC2's rules and
// error codes. Every account gets a default VPC (172.31.0.0/16) with a default subnet
// (172.31.0.0/20 in local-1a) and a default security group, created on first use. Every
// instance has one ENI (eni-…, a locally administered MAC 02:…, a private IP from its
// subnet). Checks run before any write, so bad input changes nothing. Changes that a
// host must know (rules, ENI attributes, metadata options) are pushed through the
// `onChange` callback the region passes in (to VpcHostSync).
import { randomBytes } from 'node:crypto';
import { Ec2Error, ec2NotFound } from '../protocol/errors.js';
import type { IpPermissionRequest, RequestOf } from '../protocol/ec2/requests/index.js';
import type {
  Ec2Instance,
  ResponseFor,
  GroupIdentifier,
  InstanceNetworkInterface,
  IpPermission,
  NetworkInterface,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from '../protocol/ec2/responses/index.js';
import type { Collection } from '../repo.js';
import { compileFilters, isTagFilter, tagFilterValues } from './filters.js';
import type { Caller } from './instances.js';
import { tagsFor } from './tags.js';
import { AVAILABILITY_ZONES, DEFAULT_AZ, REGION_NAME, type InstanceRecord } from './model.js';

export const DEFAULT_VPC_CIDR = '172.31.0.0/16';
export const DEFAULT_SUBNET_CIDR = '172.31.0.0/20';

export interface VpcRecord {
  readonly id: string;
  readonly accountId: string;
  readonly cidrBlock: string;
  readonly isDefault: boolean;
  readonly associationId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

export interface SubnetRecord {
  readonly id: string;
  readonly accountId: string;
  readonly vpcId: string;
  readonly cidrBlock: string;
  readonly availabilityZone: string;
  readonly defaultForAz: boolean;
  /** ModifySubnetAttribute MapPublicIpOnLaunch; absent: true for default subnets, false otherwise (EC2's defaults). */
  readonly mapPublicIpOnLaunch?: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

/** One rule as EC2 numbers them: one peer (a CIDR or a group) per rule. */
export interface RuleRecord {
  readonly id: string; // sgr-…
  /** 'tcp' | 'udp' | 'icmp' | '-1' */
  readonly protocol: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidr?: string;
  readonly groupId?: string;
  readonly description?: string;
}

export interface SecurityGroupRecord {
  readonly id: string;
  readonly accountId: string;
  readonly vpcId: string;
  readonly name: string;
  readonly description: string;
  readonly ingress: readonly RuleRecord[];
  readonly egress: readonly RuleRecord[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface EniRecord {
  readonly id: string;
  readonly accountId: string;
  readonly vpcId: string;
  readonly subnetId: string;
  readonly mac: string;
  readonly privateIp: string;
  readonly groups: readonly string[];
  readonly sourceDestCheck: boolean;
  readonly description: string;
  readonly instanceId: string | undefined;
  readonly attachmentId: string;
  readonly attachTime: string;
  /** The launch asked for a public IP (AssociatePublicIpAddress, or the subnet's MapPublicIpOnLaunch): one is given at every start. */
  readonly publicIpOnLaunch?: boolean;
  /** CreateTags (absent: none). */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface VpcCollections {
  readonly vpcs: Collection<VpcRecord>;
  readonly subnets: Collection<SubnetRecord>;
  readonly groups: Collection<SecurityGroupRecord>;
  readonly enis: Collection<EniRecord>;
}

/** What a launch needs from the VPC layer, resolved and checked before anything is written. */
export interface LaunchPlan {
  readonly subnetId: string;
  readonly vpcId: string;
  readonly groupIds: readonly string[];
  readonly privateIps: readonly string[];
  /** Whether the instances get a public IP at each start. */
  readonly associatePublicIp: boolean;
}

/** An ENI's public address as EC2 shows it (DescribeInstances, DescribeNetworkInterfaces). */
export interface PublicAddressView {
  readonly publicIp: string;
  /** '' when the VPC has DNS hostnames off. */
  readonly publicDnsName: string;
  /** 'amazon' for a public IP, the account for an Elastic IP. */
  readonly ipOwnerId: string;
  readonly allocationId?: string;
  readonly associationId?: string;
}

/**
 * What the VPC edge (src/region/ec2/edge/) keeps beside VPCs, subnets and ENIs: route tables,
 * internet gateways and public addresses. The region passes it in; without it VPCs have no edge.
 */
export interface VpcEdgeHooks {
  /** A new VPC: its main route table; a default VPC also an attached internet gateway and a 0.0.0.0/0 route. */
  vpcCreated(vpc: VpcRecord): Promise<void>;
  /** Ids that keep a VPC from being deleted (an attached gateway, route tables other than the main one). */
  vpcDependents(vpcId: string): string[];
  /** After DeleteVpc: the main route table goes with it. */
  vpcDeleted(vpcId: string): Promise<void>;
  /** After DeleteSubnet: its route table association goes with it. */
  subnetDeleted(subnetId: string): Promise<void>;
  /** The ENI's public or Elastic IP, when it has one now. */
  publicAddress(e: EniRecord): PublicAddressView | undefined;
}

export type VpcChange =
  | { readonly kind: 'group'; readonly groupId: string }
  | { readonly kind: 'eni'; readonly eniId: string }
  | { readonly kind: 'instance'; readonly instanceId: string };

const hex = (n: number): string => randomBytes(n).toString('hex');
const rid = (prefix: string): string => `${prefix}-${hex(9).slice(0, 17)}`;

// ---------------------------------------------------------------- CIDR arithmetic

interface Block {
  readonly base: number;
  readonly prefix: number;
  readonly size: number;
}

function ipToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)) throw new Ec2Error('InvalidParameterValue', `Invalid IPv4 address: ${ip}`);
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function block(cidr: string): Block {
  const [ip, len] = cidr.split('/');
  const prefix = Number(len);
  const size = 2 ** (32 - prefix);
  const base = ipToInt(ip ?? '');
  return { base: base - (base % size), prefix, size };
}

const contains = (outer: Block, inner: Block): boolean => inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;
const overlaps = (a: Block, b: Block): boolean => a.base < b.base + b.size && b.base < a.base + a.size;
export const gatewayOf = (cidr: string): string => intToIp(block(cidr).base + 1);

/** A locally administered unicast MAC, 02:xx:xx:xx:xx:xx. */
const newMac = (): string => `02:${hex(5).match(/../g)!.join(':')}`;

/** DescribeNetworkInterfaces' filters on the ENI's public address. */
const ASSOCIATION_FILTERS = ['association.public-ip', 'association.allocation-id', 'association.association-id', 'association.ip-owner-id', 'association.public-dns-name'];

function associationFilter(a: PublicAddressView | undefined, n: string): string[] {
  if (!a) return [];
  const v = n === 'association.public-ip' ? a.publicIp : n === 'association.allocation-id' ? a.allocationId : n === 'association.association-id' ? a.associationId : n === 'association.ip-owner-id' ? a.ipOwnerId : a.publicDnsName;
  return v === undefined || v === '' ? [] : [v];
}

// ---------------------------------------------------------------- the service

export class VpcService {
  private readonly ensuring = new Map<string, Promise<VpcRecord>>();
  constructor(
    readonly c: VpcCollections,
    private readonly instances: Collection<InstanceRecord>,
    /** Called after a committed change a host must apply (the region's VpcHostSync). */
    private readonly onChange: (c: VpcChange) => void = () => undefined,
    private readonly edge?: VpcEdgeHooks,
  ) {}

  // ---- default VPC ---------------------------------------------------------------

  defaultVpc(accountId: string): VpcRecord | undefined {
    return this.c.vpcs.all().find((v) => v.accountId === accountId && v.isDefault);
  }

  /** The account's default VPC, its default subnet and default group, created on first use. */
  async ensureDefault(caller: Caller): Promise<VpcRecord> {
    const have = this.defaultVpc(caller.accountId);
    if (have) return have;
    let p = this.ensuring.get(caller.accountId);
    if (!p) {
      p = (async () => {
        const vpc = await this.createVpcRecord(caller.accountId, DEFAULT_VPC_CIDR, true, {});
        const subnet: SubnetRecord = { id: rid('subnet'), accountId: caller.accountId, vpcId: vpc.id, cidrBlock: DEFAULT_SUBNET_CIDR, availabilityZone: DEFAULT_AZ, defaultForAz: true, mapPublicIpOnLaunch: true, tags: {} };
        await this.c.subnets.put(subnet);
        return vpc;
      })().finally(() => this.ensuring.delete(caller.accountId));
      this.ensuring.set(caller.accountId, p);
    }
    return p;
  }

  private async createVpcRecord(accountId: string, cidr: string, isDefault: boolean, tags: Record<string, string>): Promise<VpcRecord> {
    const vpc: VpcRecord = { id: rid('vpc'), accountId, cidrBlock: cidr, isDefault, associationId: rid('vpc-cidr-assoc'), tags, createdAt: new Date().toISOString() };
    const sgId = rid('sg');
    const sg: SecurityGroupRecord = {
      id: sgId,
      accountId,
      vpcId: vpc.id,
      name: 'default',
      description: 'default VPC security group',
      ingress: [{ id: rid('sgr'), protocol: '-1', fromPort: -1, toPort: -1, groupId: sgId }],
      egress: [{ id: rid('sgr'), protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }],
      tags: {},
    };
    await this.c.vpcs.put(vpc);
    await this.c.groups.put(sg);
    await this.edge?.vpcCreated(vpc);
    this.onChange({ kind: 'group', groupId: sgId });
    return vpc;
  }

  // ---- lookups -------------------------------------------------------------------

  vpc(caller: Caller, id: string): VpcRecord {
    const v = this.c.vpcs.get(id);
    if (!v || v.accountId !== caller.accountId) throw ec2NotFound('vpc', id);
    return v;
  }

  subnet(caller: Caller, id: string): SubnetRecord {
    const s = this.c.subnets.get(id);
    if (!s || s.accountId !== caller.accountId) throw ec2NotFound('subnet', id);
    return s;
  }

  group(caller: Caller, id: string): SecurityGroupRecord {
    const g = this.c.groups.get(id);
    if (!g || g.accountId !== caller.accountId) throw ec2NotFound('security-group', id);
    return g;
  }

  private groupByName(caller: Caller, name: string, vpcId: string): SecurityGroupRecord {
    const g = this.c.groups.all().find((x) => x.accountId === caller.accountId && x.vpcId === vpcId && x.name === name);
    if (!g) throw new Ec2Error('InvalidGroup.NotFound', `The security group '${name}' does not exist in default VPC '${vpcId}'`, { context: { groupName: name, vpcId } });
    return g;
  }

  private async groupRef(caller: Caller, id: string | undefined, name: string | undefined): Promise<SecurityGroupRecord> {
    if (id !== undefined) return this.group(caller, id);
    const vpc = await this.ensureDefault(caller);
    return this.groupByName(caller, name ?? '', vpc.id);
  }

  eni(caller: Caller, id: string): EniRecord {
    const e = this.c.enis.get(id);
    if (!e || e.accountId !== caller.accountId) throw ec2NotFound('network-interface', id);
    return e;
  }

  eniOfInstance(instanceId: string): EniRecord | undefined {
    return this.c.enis.all().find((e) => e.instanceId === instanceId);
  }

  defaultGroupOf(vpcId: string): SecurityGroupRecord | undefined {
    return this.c.groups.all().find((g) => g.vpcId === vpcId && g.name === 'default');
  }

  // ---- launch --------------------------------------------------------------------

  /** Resolves and checks the network of `count` instances; writes nothing but the default VPC. */
  async plan(caller: Caller, req: { subnetId: string | undefined; securityGroupIds: readonly string[]; privateIpAddress: string | undefined; associatePublicIpAddress?: boolean | undefined }, count: number): Promise<LaunchPlan> {
    let subnet: SubnetRecord;
    if (req.subnetId !== undefined) subnet = this.subnet(caller, req.subnetId);
    else {
      const vpc = await this.ensureDefault(caller);
      const s = this.c.subnets.all().find((x) => x.vpcId === vpc.id && x.defaultForAz);
      if (!s) throw new Ec2Error('MissingInput', 'No subnet specified and the default VPC has no default subnet.');
      subnet = s;
    }
    const groupIds = [...new Set(req.securityGroupIds)];
    for (const g of groupIds) {
      const rec = this.group(caller, g);
      if (rec.vpcId !== subnet.vpcId) throw new Ec2Error('InvalidParameter', `Security group ${g} and subnet ${subnet.id} belong to different networks.`, { context: { groupId: g, subnetId: subnet.id } });
    }
    if (groupIds.length === 0) {
      const d = this.defaultGroupOf(subnet.vpcId);
      if (d) groupIds.push(d.id);
    }
    if (req.privateIpAddress !== undefined && count > 1) throw new Ec2Error('InvalidParameterCombination', 'Network interfaces and an instance-level private IP address should not be specified on the same request when launching more than one instance.');
    const used = new Set(this.c.enis.all().filter((e) => e.subnetId === subnet.id).map((e) => ipToInt(e.privateIp)));
    const b = block(subnet.cidrBlock);
    const ips: string[] = [];
    if (req.privateIpAddress !== undefined) {
      const n = ipToInt(req.privateIpAddress);
      if (n < b.base + 4 || n >= b.base + b.size - 1) {
        throw new Ec2Error('InvalidParameterValue', `Address ${req.privateIpAddress} does not fall within the subnet's address range`, { context: { privateIpAddress: req.privateIpAddress, subnetId: subnet.id } });
      }
      if (used.has(n)) throw new Ec2Error('InvalidIPAddress.InUse', `Address ${req.privateIpAddress} is in use.`, { context: { privateIpAddress: req.privateIpAddress } });
      ips.push(intToIp(n));
    } else {
      for (let n = b.base + 4; n < b.base + b.size - 1 && ips.length < count; n++) if (!used.has(n)) ips.push(intToIp(n));
      if (ips.length < count) throw new Ec2Error('InsufficientFreeAddressesInSubnet', `The specified subnet ${subnet.id} does not have enough free addresses to satisfy the request.`);
    }
    const associatePublicIp = req.associatePublicIpAddress ?? subnet.mapPublicIpOnLaunch ?? subnet.defaultForAz;
    return { subnetId: subnet.id, vpcId: subnet.vpcId, groupIds, privateIps: ips, associatePublicIp };
  }

  /** One ENI per launched instance (the instances are already recorded). */
  async attach(records: readonly InstanceRecord[], plan?: Pick<LaunchPlan, 'associatePublicIp'>): Promise<EniRecord[]> {
    const now = new Date().toISOString();
    const enis = records.map((r) => ({
      id: rid('eni'),
      accountId: r.accountId,
      vpcId: this.c.subnets.get(r.subnetId ?? '')?.vpcId ?? '',
      subnetId: r.subnetId ?? '',
      mac: newMac(),
      privateIp: r.privateIpAddress ?? '',
      groups: [...r.securityGroupIds],
      sourceDestCheck: true,
      description: '',
      instanceId: r.id,
      attachmentId: rid('eni-attach'),
      attachTime: now,
      ...(plan?.associatePublicIp ? { publicIpOnLaunch: true } : {}),
    }));
    await this.c.enis.putMany(enis);
    return enis;
  }

  /** The instance is terminated: its ENI (deleteOnTermination) goes with it. */
  async release(instanceId: string): Promise<void> {
    const e = this.eniOfInstance(instanceId);
    if (e) await this.c.enis.delete(e.id);
  }

  // ---- views ---------------------------------------------------------------------

  private groupIdents(ids: readonly string[]): GroupIdentifier[] {
    return ids.map((id) => ({ groupId: id, groupName: this.c.groups.get(id)?.name ?? id }));
  }

  /** Adds what DescribeInstances shows of the instance's VPC: vpcId, groups, networkInterfaceSet. */
  decorate(i: Ec2Instance): Ec2Instance {
    const e = this.eniOfInstance(i.instanceId);
    if (!e) return i;
    const dns = `ip-${e.privateIp.replace(/\./g, '-')}.${REGION_NAME}.compute.internal`;
    const pub = this.edge?.publicAddress(e);
    const association = pub ? { association: { publicIp: pub.publicIp, publicDnsName: pub.publicDnsName, ipOwnerId: pub.ipOwnerId } } : {};
    const nic: InstanceNetworkInterface = {
      networkInterfaceId: e.id,
      subnetId: e.subnetId,
      vpcId: e.vpcId,
      description: e.description,
      ownerId: e.accountId,
      status: 'in-use',
      macAddress: e.mac,
      privateIpAddress: e.privateIp,
      privateDnsName: dns,
      sourceDestCheck: e.sourceDestCheck,
      groups: this.groupIdents(e.groups),
      attachment: { attachmentId: e.attachmentId, deviceIndex: 0, networkCardIndex: 0, status: 'attached', attachTime: new Date(e.attachTime), deleteOnTermination: true },
      privateIpAddresses: [{ privateIpAddress: e.privateIp, privateDnsName: dns, primary: true, ...association }],
      interfaceType: 'interface',
      ...association,
    };
    return {
      ...i,
      ...(pub ? { ipAddress: pub.publicIp, dnsName: pub.publicDnsName } : {}),
      subnetId: e.subnetId,
      vpcId: e.vpcId,
      privateIpAddress: e.privateIp,
      privateDnsName: dns,
      sourceDestCheck: e.sourceDestCheck,
      securityGroups: this.groupIdents(e.groups),
      networkInterfaces: [nic],
    };
  }

  private vpcView(v: VpcRecord): Vpc {
    return {
      vpcId: v.id,
      state: 'available',
      cidrBlock: v.cidrBlock,
      dhcpOptionsId: 'default',
      instanceTenancy: 'default',
      isDefault: v.isDefault,
      ownerId: v.accountId,
      cidrBlockAssociations: [{ associationId: v.associationId, cidrBlock: v.cidrBlock, state: 'associated' }],
      tags: Object.entries(v.tags).map(([key, value]) => ({ key, value })),
    };
  }

  private subnetView(s: SubnetRecord): Subnet {
    const used = this.c.enis.all().filter((e) => e.subnetId === s.id).length;
    return {
      subnetId: s.id,
      state: 'available',
      vpcId: s.vpcId,
      cidrBlock: s.cidrBlock,
      availableIpAddressCount: block(s.cidrBlock).size - 5 - used,
      availabilityZone: s.availabilityZone,
      availabilityZoneId: `local1-az${AVAILABILITY_ZONES.indexOf(s.availabilityZone as (typeof AVAILABILITY_ZONES)[number]) + 1}`,
      defaultForAz: s.defaultForAz,
      mapPublicIpOnLaunch: s.mapPublicIpOnLaunch ?? s.defaultForAz,
      ownerId: s.accountId,
      subnetArn: `arn:aws:ec2:${REGION_NAME}:${s.accountId}:subnet/${s.id}`,
      tags: Object.entries(s.tags).map(([key, value]) => ({ key, value })),
    };
  }

  private permissions(g: SecurityGroupRecord, rules: readonly RuleRecord[]): IpPermission[] {
    // EC2 groups rules by (protocol, ports) into one permission with many peers.
    const out = new Map<string, { ipProtocol: string; fromPort?: number; toPort?: number; ipRanges: { cidrIp: string; description?: string }[]; userIdGroupPairs: { userId: string; groupId: string; vpcId?: string; description?: string }[] }>();
    for (const r of rules) {
      const k = `${r.protocol}/${r.fromPort}/${r.toPort}`;
      let p = out.get(k);
      if (!p) {
        p = { ipProtocol: r.protocol, ...(r.protocol === '-1' ? {} : { fromPort: r.fromPort, toPort: r.toPort }), ipRanges: [], userIdGroupPairs: [] };
        out.set(k, p);
      }
      if (r.cidr !== undefined) p.ipRanges.push({ cidrIp: r.cidr, ...(r.description ? { description: r.description } : {}) });
      if (r.groupId !== undefined) p.userIdGroupPairs.push({ userId: g.accountId, groupId: r.groupId, ...(r.description ? { description: r.description } : {}) });
    }
    return [...out.values()].map((p) => ({ ...p, ipv6Ranges: [], prefixListIds: [] }));
  }

  private groupView(g: SecurityGroupRecord): SecurityGroup {
    return {
      groupId: g.id,
      groupName: g.name,
      description: g.description,
      ownerId: g.accountId,
      vpcId: g.vpcId,
      ipPermissions: this.permissions(g, g.ingress),
      ipPermissionsEgress: this.permissions(g, g.egress),
      securityGroupArn: `arn:aws:ec2:${REGION_NAME}:${g.accountId}:security-group/${g.id}`,
      tags: Object.entries(g.tags).map(([key, value]) => ({ key, value })),
    };
  }

  private ruleView(g: SecurityGroupRecord, r: RuleRecord, isEgress: boolean): SecurityGroupRule {
    return {
      securityGroupRuleId: r.id,
      groupId: g.id,
      groupOwnerId: g.accountId,
      isEgress,
      ipProtocol: r.protocol,
      fromPort: r.fromPort,
      toPort: r.toPort,
      ...(r.cidr !== undefined ? { cidrIpv4: r.cidr } : {}),
      ...(r.groupId !== undefined ? { referencedGroupInfo: { groupId: r.groupId, userId: g.accountId } } : {}),
      ...(r.description !== undefined ? { description: r.description } : {}),
      tags: [],
    };
  }

  private eniView(e: EniRecord): NetworkInterface {
    const s = this.c.subnets.get(e.subnetId);
    const dns = `ip-${e.privateIp.replace(/\./g, '-')}.${REGION_NAME}.compute.internal`;
    const pub = this.edge?.publicAddress(e);
    const association = pub ? { association: { publicIp: pub.publicIp, publicDnsName: pub.publicDnsName, ipOwnerId: pub.ipOwnerId, allocationId: pub.allocationId, associationId: pub.associationId } } : {};
    return {
      networkInterfaceId: e.id,
      subnetId: e.subnetId,
      vpcId: e.vpcId,
      availabilityZone: s?.availabilityZone ?? DEFAULT_AZ,
      description: e.description,
      ownerId: e.accountId,
      requesterManaged: false,
      status: e.instanceId ? 'in-use' : 'available',
      macAddress: e.mac,
      privateIpAddress: e.privateIp,
      privateDnsName: dns,
      sourceDestCheck: e.sourceDestCheck,
      groups: this.groupIdents(e.groups),
      ...(e.instanceId
        ? { attachment: { attachmentId: e.attachmentId, instanceId: e.instanceId, instanceOwnerId: e.accountId, deviceIndex: 0, networkCardIndex: 0, status: 'attached' as const, attachTime: new Date(e.attachTime), deleteOnTermination: true } }
        : {}),
      privateIpAddresses: [{ privateIpAddress: e.privateIp, privateDnsName: dns, primary: true, ...association }],
      interfaceType: 'interface',
      tags: Object.entries(e.tags ?? {}).map(([key, value]) => ({ key, value })),
      ...association,
    };
  }

  // ---- rules ---------------------------------------------------------------------

  private toRules(caller: Caller, g: SecurityGroupRecord, perms: readonly IpPermissionRequest[]): Omit<RuleRecord, 'id'>[] {
    const out: Omit<RuleRecord, 'id'>[] = [];
    for (const p of perms) {
      const proto = p.ipProtocol.toLowerCase();
      const named: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', all: '-1' };
      const protocol = named[proto] ?? proto;
      if (!['tcp', 'udp', 'icmp', '-1'].includes(protocol)) throw new Ec2Error('InvalidParameterValue', `Invalid value '${p.ipProtocol}' for IP protocol. Unknown protocol.`);
      let from = p.fromPort ?? -1;
      let to = p.toPort ?? -1;
      if (protocol === '-1') from = to = -1;
      else if (protocol !== 'icmp') {
        if (p.fromPort === undefined || p.toPort === undefined || from < 0 || to > 65535 || from > to) {
          throw new Ec2Error('InvalidParameterValue', `Invalid port range: from ${p.fromPort} to ${p.toPort}.`);
        }
      }
      if (p.ipv6Ranges.length > 0 || p.prefixListIds.length > 0) throw new Ec2Error('InvalidParameterValue', 'IPv6 ranges and prefix lists are not supported here.');
      for (const r of p.ipRanges) {
        const b = block(r.cidrIp);
        out.push({ protocol, fromPort: from, toPort: to, cidr: `${intToIp(b.base)}/${b.prefix}`, ...(r.description !== undefined ? { description: r.description } : {}) });
      }
      for (const u of p.userIdGroupPairs) {
        const src = u.groupId !== undefined ? this.group(caller, u.groupId) : this.groupByName(caller, u.groupName ?? '', g.vpcId);
        if (src.vpcId !== g.vpcId) throw new Ec2Error('InvalidParameterValue', `Security group ${src.id} is in another VPC.`);
        out.push({ protocol, fromPort: from, toPort: to, groupId: src.id, ...(u.description !== undefined ? { description: u.description } : {}) });
      }
      if (p.ipRanges.length === 0 && p.userIdGroupPairs.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain a CIDR or a source security group.');
    }
    return out;
  }

  private static same(a: Omit<RuleRecord, 'id'>, b: Omit<RuleRecord, 'id'>): boolean {
    return a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort && a.cidr === b.cidr && a.groupId === b.groupId;
  }

  private async authorize(caller: Caller, g: SecurityGroupRecord, dir: 'ingress' | 'egress', perms: readonly IpPermissionRequest[]): Promise<SecurityGroupRule[]> {
    const add = this.toRules(caller, g, perms);
    const cur = g[dir];
    for (const [i, r] of add.entries()) {
      if (cur.some((c) => VpcService.same(c, r)) || add.slice(0, i).some((c) => VpcService.same(c, r))) {
        const peer = r.cidr ?? r.groupId;
        throw new Ec2Error('InvalidPermission.Duplicate', `the specified rule "peer: ${peer}, ${r.protocol.toUpperCase()}, from port: ${r.fromPort}, to port: ${r.toPort}, ALLOW" already exists`);
      }
    }
    const withIds = add.map((r) => ({ ...r, id: rid('sgr') }));
    const next = await this.c.groups.update(g.id, (x) => ({ ...x, [dir]: [...x[dir], ...withIds] }));
    this.onChange({ kind: 'group', groupId: g.id });
    return withIds.map((r) => this.ruleView(next ?? g, r, dir === 'egress'));
  }

  private async revoke(caller: Caller, g: SecurityGroupRecord, dir: 'ingress' | 'egress', perms: readonly IpPermissionRequest[], ruleIds: readonly string[]): Promise<void> {
    const cur = g[dir];
    const gone = new Set<string>();
    for (const id of ruleIds) {
      if (!cur.some((r) => r.id === id)) throw new Ec2Error('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`);
      gone.add(id);
    }
    for (const r of this.toRules(caller, g, perms)) {
      const hit = cur.find((c) => VpcService.same(c, r));
      if (!hit) throw new Ec2Error('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
      gone.add(hit.id);
    }
    await this.c.groups.update(g.id, (x) => ({ ...x, [dir]: x[dir].filter((r) => !gone.has(r.id)) }));
    this.onChange({ kind: 'group', groupId: g.id });
  }

  // ---- the actions ---------------------------------------------------------------

  async createVpc(caller: Caller, req: RequestOf<'CreateVpc'>): Promise<ResponseFor<'CreateVpc'>> {
    await this.ensureDefault(caller);
    const b = block(req.cidrBlock);
    if (b.prefix < 16 || b.prefix > 28) throw new Ec2Error('InvalidVpc.Range', `The CIDR '${req.cidrBlock}' is invalid.`);
    const v = await this.createVpcRecord(caller.accountId, `${intToIp(b.base)}/${b.prefix}`, false, tagsFor(req.tagSpecifications, 'vpc'));
    return { action: 'CreateVpc', vpc: this.vpcView(v) };
  }

  async describeVpcs(caller: Caller, req: RequestOf<'DescribeVpcs'>): Promise<ResponseFor<'DescribeVpcs'>> {
    await this.ensureDefault(caller);
    const base = req.vpcIds.length > 0 ? req.vpcIds.map((id) => this.vpc(caller, id)) : this.c.vpcs.all().filter((v) => v.accountId === caller.accountId);
    const match = compileFilters<VpcRecord>(
      req.filters,
      (v, n) => (n === 'vpc-id' ? [v.id] : n === 'cidr' || n === 'cidr-block' ? [v.cidrBlock] : n === 'is-default' || n === 'isDefault' ? [String(v.isDefault)] : n === 'state' ? ['available'] : n === 'owner-id' ? [v.accountId] : tagFilterValues(v.tags, n)),
      (n) => ['vpc-id', 'cidr', 'cidr-block', 'is-default', 'isDefault', 'state', 'owner-id'].includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeVpcs', vpcs: base.filter(match).map((v) => this.vpcView(v)) };
  }

  async deleteVpc(caller: Caller, req: RequestOf<'DeleteVpc'>): Promise<ResponseFor<'DeleteVpc'>> {
    const v = this.vpc(caller, req.vpcId);
    const deps = [...this.c.subnets.all().filter((s) => s.vpcId === v.id), ...this.c.enis.all().filter((e) => e.vpcId === v.id), ...this.c.groups.all().filter((g) => g.vpcId === v.id && g.name !== 'default'), ...(this.edge?.vpcDependents(v.id) ?? []).map((id) => ({ id }))];
    if (deps.length > 0) throw new Ec2Error('DependencyViolation', `The vpc '${v.id}' has dependencies and cannot be deleted.`, { context: { vpcId: v.id, dependencies: deps.map((d) => d.id) } });
    for (const g of this.c.groups.all().filter((x) => x.vpcId === v.id)) await this.c.groups.delete(g.id);
    await this.c.vpcs.delete(v.id);
    await this.edge?.vpcDeleted(v.id);
    return { action: 'DeleteVpc' };
  }

  async createSubnet(caller: Caller, req: RequestOf<'CreateSubnet'>): Promise<ResponseFor<'CreateSubnet'>> {
    const v = this.vpc(caller, req.vpcId);
    const b = block(req.cidrBlock);
    const cidr = `${intToIp(b.base)}/${b.prefix}`;
    if (b.prefix < 16 || b.prefix > 28 || !contains(block(v.cidrBlock), b)) throw new Ec2Error('InvalidSubnet.Range', `The CIDR '${req.cidrBlock}' is invalid.`, { context: { cidrBlock: req.cidrBlock, vpcCidr: v.cidrBlock } });
    const clash = this.c.subnets.all().find((s) => s.vpcId === v.id && overlaps(block(s.cidrBlock), b));
    if (clash) throw new Ec2Error('InvalidSubnet.Conflict', `The CIDR '${cidr}' conflicts with another subnet`, { context: { cidrBlock: cidr, subnetId: clash.id } });
    const az = req.availabilityZone ?? DEFAULT_AZ;
    if (!(AVAILABILITY_ZONES as readonly string[]).includes(az)) throw new Ec2Error('InvalidParameterValue', `Value (${az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${AVAILABILITY_ZONES.join(', ')}.`);
    const s: SubnetRecord = { id: rid('subnet'), accountId: caller.accountId, vpcId: v.id, cidrBlock: cidr, availabilityZone: az, defaultForAz: false, tags: tagsFor(req.tagSpecifications, 'subnet') };
    await this.c.subnets.put(s);
    return { action: 'CreateSubnet', subnet: this.subnetView(s) };
  }

  async describeSubnets(caller: Caller, req: RequestOf<'DescribeSubnets'>): Promise<ResponseFor<'DescribeSubnets'>> {
    await this.ensureDefault(caller);
    const base = req.subnetIds.length > 0 ? req.subnetIds.map((id) => this.subnet(caller, id)) : this.c.subnets.all().filter((s) => s.accountId === caller.accountId);
    const match = compileFilters<SubnetRecord>(
      req.filters,
      (s, n) =>
        n === 'subnet-id' ? [s.id] : n === 'vpc-id' ? [s.vpcId] : n === 'cidr-block' || n === 'cidr' ? [s.cidrBlock] : n === 'availability-zone' ? [s.availabilityZone] : n === 'default-for-az' ? [String(s.defaultForAz)] : n === 'state' ? ['available'] : tagFilterValues(s.tags, n),
      (n) => ['subnet-id', 'vpc-id', 'cidr-block', 'cidr', 'availability-zone', 'default-for-az', 'state'].includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeSubnets', subnets: base.filter(match).map((s) => this.subnetView(s)) };
  }

  async deleteSubnet(caller: Caller, req: RequestOf<'DeleteSubnet'>): Promise<ResponseFor<'DeleteSubnet'>> {
    const s = this.subnet(caller, req.subnetId);
    const users = this.c.enis.all().filter((e) => e.subnetId === s.id);
    if (users.length > 0) throw new Ec2Error('DependencyViolation', `The subnet '${s.id}' has dependencies and cannot be deleted.`, { context: { subnetId: s.id, networkInterfaces: users.map((e) => e.id) } });
    await this.c.subnets.delete(s.id);
    await this.edge?.subnetDeleted(s.id);
    return { action: 'DeleteSubnet' };
  }

  async createSecurityGroup(caller: Caller, req: RequestOf<'CreateSecurityGroup'>): Promise<ResponseFor<'CreateSecurityGroup'>> {
    const vpc = req.vpcId !== undefined ? this.vpc(caller, req.vpcId) : await this.ensureDefault(caller);
    if (req.groupName === 'default' || this.c.groups.all().some((g) => g.vpcId === vpc.id && g.name === req.groupName)) {
      throw new Ec2Error('InvalidGroup.Duplicate', `The security group '${req.groupName}' already exists for VPC '${vpc.id}'`, { context: { groupName: req.groupName, vpcId: vpc.id } });
    }
    const g: SecurityGroupRecord = {
      id: rid('sg'),
      accountId: caller.accountId,
      vpcId: vpc.id,
      name: req.groupName,
      description: req.description,
      ingress: [],
      egress: [{ id: rid('sgr'), protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }],
      tags: tagsFor(req.tagSpecifications, 'security-group'),
    };
    await this.c.groups.put(g);
    this.onChange({ kind: 'group', groupId: g.id });
    return { action: 'CreateSecurityGroup', groupId: g.id, securityGroupArn: `arn:aws:ec2:${REGION_NAME}:${caller.accountId}:security-group/${g.id}` };
  }

  async describeSecurityGroups(caller: Caller, req: RequestOf<'DescribeSecurityGroups'>): Promise<ResponseFor<'DescribeSecurityGroups'>> {
    const vpc = await this.ensureDefault(caller);
    let base = this.c.groups.all().filter((g) => g.accountId === caller.accountId);
    if (req.groupIds.length > 0) base = req.groupIds.map((id) => this.group(caller, id));
    if (req.groupNames.length > 0) base = req.groupNames.map((n) => this.groupByName(caller, n, vpc.id));
    const match = compileFilters<SecurityGroupRecord>(
      req.filters,
      (g, n) => (n === 'group-id' ? [g.id] : n === 'group-name' ? [g.name] : n === 'vpc-id' ? [g.vpcId] : n === 'description' ? [g.description] : n === 'owner-id' ? [g.accountId] : tagFilterValues(g.tags, n)),
      (n) => ['group-id', 'group-name', 'vpc-id', 'description', 'owner-id'].includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeSecurityGroups', securityGroups: base.filter(match).map((g) => this.groupView(g)) };
  }

  async deleteSecurityGroup(caller: Caller, req: RequestOf<'DeleteSecurityGroup'>): Promise<ResponseFor<'DeleteSecurityGroup'>> {
    const g = await this.groupRef(caller, req.groupId, req.groupName);
    if (g.name === 'default') throw new Ec2Error('CannotDelete', `the specified group: "${g.id}" name: "default" cannot be deleted by a user`);
    const usedBy = this.c.enis.all().find((e) => e.groups.includes(g.id));
    const refBy = this.c.groups.all().find((x) => x.id !== g.id && [...x.ingress, ...x.egress].some((r) => r.groupId === g.id));
    if (usedBy || refBy) throw new Ec2Error('DependencyViolation', `resource ${g.id} has a dependent object`, { context: { groupId: g.id, usedBy: usedBy?.id ?? refBy?.id } });
    await this.c.groups.delete(g.id);
    this.onChange({ kind: 'group', groupId: g.id });
    return { action: 'DeleteSecurityGroup', groupId: g.id };
  }

  async authorizeSecurityGroupIngress(caller: Caller, req: RequestOf<'AuthorizeSecurityGroupIngress'>): Promise<ResponseFor<'AuthorizeSecurityGroupIngress'>> {
    const g = await this.groupRef(caller, req.groupId, req.groupName);
    return { action: 'AuthorizeSecurityGroupIngress', rules: await this.authorize(caller, g, 'ingress', req.ipPermissions) };
  }

  async authorizeSecurityGroupEgress(caller: Caller, req: RequestOf<'AuthorizeSecurityGroupEgress'>): Promise<ResponseFor<'AuthorizeSecurityGroupEgress'>> {
    return { action: 'AuthorizeSecurityGroupEgress', rules: await this.authorize(caller, this.group(caller, req.groupId), 'egress', req.ipPermissions) };
  }

  async revokeSecurityGroupIngress(caller: Caller, req: RequestOf<'RevokeSecurityGroupIngress'>): Promise<ResponseFor<'RevokeSecurityGroupIngress'>> {
    const g = await this.groupRef(caller, req.groupId, req.groupName);
    await this.revoke(caller, g, 'ingress', req.ipPermissions, req.securityGroupRuleIds);
    return { action: 'RevokeSecurityGroupIngress' };
  }

  async revokeSecurityGroupEgress(caller: Caller, req: RequestOf<'RevokeSecurityGroupEgress'>): Promise<ResponseFor<'RevokeSecurityGroupEgress'>> {
    await this.revoke(caller, this.group(caller, req.groupId), 'egress', req.ipPermissions, req.securityGroupRuleIds);
    return { action: 'RevokeSecurityGroupEgress' };
  }

  async describeNetworkInterfaces(caller: Caller, req: RequestOf<'DescribeNetworkInterfaces'>): Promise<ResponseFor<'DescribeNetworkInterfaces'>> {
    const base = req.networkInterfaceIds.length > 0 ? req.networkInterfaceIds.map((id) => this.eni(caller, id)) : this.c.enis.all().filter((e) => e.accountId === caller.accountId);
    const match = compileFilters<EniRecord>(
      req.filters,
      (e, n) =>
        n === 'network-interface-id' ? [e.id] : n === 'subnet-id' ? [e.subnetId] : n === 'vpc-id' ? [e.vpcId] : n === 'private-ip-address' || n === 'addresses.private-ip-address' ? [e.privateIp] : n === 'mac-address' ? [e.mac] : n === 'attachment.instance-id' ? (e.instanceId ? [e.instanceId] : []) : n === 'group-id' ? [...e.groups] : n === 'status' ? [e.instanceId ? 'in-use' : 'available'] : n.startsWith('association.') ? associationFilter(this.edge?.publicAddress(e), n) : undefined,
      (n) => ['network-interface-id', 'subnet-id', 'vpc-id', 'private-ip-address', 'addresses.private-ip-address', 'mac-address', 'attachment.instance-id', 'group-id', 'status', ...ASSOCIATION_FILTERS].includes(n),
    );
    return { action: 'DescribeNetworkInterfaces', networkInterfaces: base.filter(match).map((e) => this.eniView(e)) };
  }

  async modifyNetworkInterfaceAttribute(caller: Caller, req: RequestOf<'ModifyNetworkInterfaceAttribute'>): Promise<ResponseFor<'ModifyNetworkInterfaceAttribute'>> {
    const e = this.eni(caller, req.networkInterfaceId);
    await this.modifyEni(caller, e, { groups: req.groups, sourceDestCheck: req.sourceDestCheck, description: req.description });
    return { action: 'ModifyNetworkInterfaceAttribute' };
  }

  async modifyInstanceMetadataOptions(caller: Caller, req: RequestOf<'ModifyInstanceMetadataOptions'>): Promise<ResponseFor<'ModifyInstanceMetadataOptions'>> {
    this.ownedInstance(caller, req.instanceId);
    const hop = req.httpPutResponseHopLimit;
    if (hop !== undefined && (!Number.isInteger(hop) || hop < 1 || hop > 64)) throw new Ec2Error('InvalidParameterValue', `Invalid value '${hop}' for HttpPutResponseHopLimit (1-64).`);
    const next = await this.instances.update(req.instanceId, (r) => ({
      ...r,
      metadataOptions: {
        httpTokens: req.httpTokens ?? r.metadataOptions.httpTokens,
        httpPutResponseHopLimit: hop ?? r.metadataOptions.httpPutResponseHopLimit,
        httpEndpoint: req.httpEndpoint ?? r.metadataOptions.httpEndpoint,
      },
    }));
    this.onChange({ kind: 'instance', instanceId: req.instanceId });
    const m = next!.metadataOptions;
    return {
      action: 'ModifyInstanceMetadataOptions',
      instanceId: req.instanceId,
      metadataOptions: { state: 'pending', httpTokens: m.httpTokens, httpPutResponseHopLimit: m.httpPutResponseHopLimit, httpEndpoint: m.httpEndpoint, httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' },
    };
  }

  /** ModifyInstanceAttribute for groupSet / sourceDestCheck; false when the attribute is not a network one. */
  async modifyInstance(caller: Caller, instanceId: string, change: { attribute: string; value?: unknown; groupIds?: readonly string[] }): Promise<boolean> {
    if (change.attribute !== 'groupSet' && change.attribute !== 'sourceDestCheck') return false;
    this.ownedInstance(caller, instanceId);
    const e = this.eniOfInstance(instanceId);
    if (!e) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' has no network interface`);
    if (change.attribute === 'groupSet') await this.modifyEni(caller, e, { groups: change.groupIds });
    else await this.modifyEni(caller, e, { sourceDestCheck: change.value as boolean });
    return true;
  }

  private async modifyEni(caller: Caller, e: EniRecord, p: { groups?: readonly string[] | undefined; sourceDestCheck?: boolean | undefined; description?: string | undefined }): Promise<void> {
    if (p.groups !== undefined) {
      if (p.groups.length === 0) throw new Ec2Error('InvalidParameterValue', 'At least one security group is required.');
      for (const g of p.groups) if (this.group(caller, g).vpcId !== e.vpcId) throw new Ec2Error('InvalidParameterValue', `Security group ${g} is in another VPC.`);
    }
    await this.c.enis.update(e.id, (x) => ({
      ...x,
      ...(p.groups !== undefined ? { groups: [...new Set(p.groups)] } : {}),
      ...(p.sourceDestCheck !== undefined ? { sourceDestCheck: p.sourceDestCheck } : {}),
      ...(p.description !== undefined ? { description: p.description } : {}),
    }));
    this.onChange({ kind: 'eni', eniId: e.id });
  }

  /** Group ids whose rules, membership or existence matter to an ENI in this VPC. */
  groupsOfVpc(vpcId: string): SecurityGroupRecord[] {
    return this.c.groups.all().filter((g) => g.vpcId === vpcId);
  }

  /** Private IPs of the ENIs in a group (for rules that name a source group). */
  membersOf(groupId: string): string[] {
    return this.c.enis.all().filter((e) => e.groups.includes(groupId)).map((e) => e.privateIp);
  }

  private ownedInstance(caller: Caller, id: string): InstanceRecord {
    const r = this.instances.get(id);
    if (!r || r.accountId !== caller.accountId || r.state === 'terminated') throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, { context: { instanceId: id } });
    return r;
  }
}
