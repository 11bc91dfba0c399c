// The VPC edge's records, as the state store keeps them: internet gateways, route tables with
// their routes and subnet associations, Elastic IP addresses, the public IPs given to ENIs at
// launch, and the VPCs' DNS attributes. Beside them, the reads several edge services share.
import { randomBytes } from 'node:crypto';
import type { Collection } from '../../repo.js';
import type { EniRecord, VpcCollections } from '../vpc.js';

export interface InternetGatewayRecord {
  readonly id: string; // igw-…
  readonly accountId: string;
  /** The VPC it is attached to; absent while detached. */
  readonly vpcId: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

export interface RouteRecord {
  /** a.b.c.d/n, the network address of the block. */
  readonly destinationCidrBlock: string;
  /** 'local' (the VPC's own block) or igw-… */
  readonly gatewayId: string;
  readonly origin: 'CreateRouteTable' | 'CreateRoute';
}

export interface RouteTableAssociationRecord {
  readonly id: string; // rtbassoc-…
  /** The subnet; absent for the main association (the table subnets without one use). */
  readonly subnetId: string | undefined;
}

export interface RouteTableRecord {
  readonly id: string; // rtb-…
  readonly accountId: string;
  readonly vpcId: string;
  readonly routes: readonly RouteRecord[];
  readonly associations: readonly RouteTableAssociationRecord[];
  readonly tags: Readonly<Record<string, string>>;
  /** CreateRouteTable's ClientToken: the same token again answers this table. */
  readonly clientToken?: string;
}

/** An Elastic IP address (AllocateAddress), with its association when it has one. */
export interface AddressRecord {
  readonly id: string; // eipalloc-…
  readonly accountId: string;
  readonly publicIp: string;
  readonly association: { readonly id: string; readonly eniId: string } | undefined; // eipassoc-…
  readonly tags: Readonly<Record<string, string>>;
}

/** The public IP an ENI holds while its instance runs (AssociatePublicIpAddress / MapPublicIpOnLaunch). */
export interface PublicIpRecord {
  readonly id: string; // the ENI's id
  readonly accountId: string;
  readonly publicIp: string;
}

export interface VpcAttributesRecord {
  readonly id: string; // the VPC's id
  readonly enableDnsSupport: boolean;
  readonly enableDnsHostnames: boolean;
}

export interface EdgeCollections {
  readonly igws: Collection<InternetGatewayRecord>;
  readonly routeTables: Collection<RouteTableRecord>;
  readonly addresses: Collection<AddressRecord>;
  readonly publicIps: Collection<PublicIpRecord>;
  readonly vpcAttributes: Collection<VpcAttributesRecord>;
}

export const edgeId = (prefix: string): string => `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;

export const tagList = (tags: Readonly<Record<string, string>>): { key: string; value: string }[] => Object.entries(tags).map(([key, value]) => ({ key, value }));

/** The VPC's DNS attributes: EC2's defaults are both on for a default VPC, hostnames off for others. */
export function vpcAttributes(c: EdgeCollections, v: VpcCollections, vpcId: string): VpcAttributesRecord {
  const have = c.vpcAttributes.get(vpcId);
  if (have) return have;
  const isDefault = v.vpcs.get(vpcId)?.isDefault ?? false;
  return { id: vpcId, enableDnsSupport: true, enableDnsHostnames: isDefault };
}

/** The Elastic IP associated with an ENI, if any. */
export const elasticIpOf = (c: EdgeCollections, eniId: string): AddressRecord | undefined => c.addresses.all().find((a) => a.association?.eniId === eniId);

/** ENIs of a VPC that have a public or Elastic IP now (they keep its gateway from being detached). */
export function mappedEnis(c: EdgeCollections, v: VpcCollections, vpcId: string): EniRecord[] {
  return v.enis.all().filter((e) => e.vpcId === vpcId && (c.publicIps.get(e.id) !== undefined || elasticIpOf(c, e.id) !== undefined));
}

/** The route table a subnet uses: its own association, else its VPC's main table. */
export function tableOfSubnet(c: EdgeCollections, vpcId: string, subnetId: string): RouteTableRecord | undefined {
  const tables = c.routeTables.all().filter((t) => t.vpcId === vpcId);
  return tables.find((t) => t.associations.some((a) => a.subnetId === subnetId)) ?? tables.find((t) => t.associations.some((a) => a.subnetId === undefined));
}

/** Whether the subnet's route table sends 0.0.0.0/0 to an internet gateway attached to its VPC. */
export function hasInternetRoute(c: EdgeCollections, vpcId: string, subnetId: string): boolean {
  const t = tableOfSubnet(c, vpcId, subnetId);
  const r = t?.routes.find((x) => x.destinationCidrBlock === '0.0.0.0/0');
  if (!r || !r.gatewayId.startsWith('igw-')) return false;
  return c.igws.get(r.gatewayId)?.vpcId === vpcId;
}
