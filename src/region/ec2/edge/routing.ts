// The VPC edge's gateways and routes, with EC2's rules and error codes: internet gateways
// (create, attach to one VPC, detach, delete), route tables (each VPC's main table with its
// local route, more tables, routes to an attached gateway, subnet associations) and the VPCs'
// DNS attributes. Every check runs before any write, so bad input changes nothing. A change that
// decides whether an ENI reaches the internet (attachment, route, association) re-sends the ENIs
// of that VPC to their hosts through `onChange` (VpcHostSync: eni.put with internetRoute).
import { Ec2Error } from '../../protocol/errors.js';
import type { RequestOf } from '../../protocol/ec2/requests/index.js';
import type { InternetGateway, ResponseFor, RouteTable } from '../../protocol/ec2/responses/index.js';
import { compileFilters, isTagFilter, tagFilterValues } from '../filters.js';
import type { Caller } from '../instances.js';
import { tagsFor } from '../tags.js';
import type { VpcChange, VpcRecord, VpcService } from '../vpc.js';
import { edgeId, mappedEnis, tagList, vpcAttributes, type EdgeCollections, type InternetGatewayRecord, type RouteTableRecord } from './records.js';
import { ipToNumber } from './pool.js';

export const igwNotFound = (id: string): Ec2Error => new Ec2Error('InvalidInternetGatewayID.NotFound', `The internetGateway ID '${id}' does not exist`, { context: { internetGatewayId: id } });
export const rtbNotFound = (id: string): Ec2Error => new Ec2Error('InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`, { context: { routeTableId: id } });
export const associationNotFound = (id: string): Ec2Error => new Ec2Error('InvalidAssociationID.NotFound', `The association ID '${id}' does not exist`, { context: { associationId: id } });

const isMain = (t: RouteTableRecord): boolean => t.associations.some((a) => a.subnetId === undefined);

function within(cidr: string, outer: string): boolean {
  const [a, al] = cidr.split('/');
  const [b, bl] = outer.split('/');
  const la = Number(al);
  const lb = Number(bl);
  if (la < lb) return false;
  const size = 2 ** (32 - lb);
  const base = ipToNumber(b!);
  const x = ipToNumber(a!);
  return x >= base - (base % size) && x < base - (base % size) + size;
}

export class RoutingService {
  constructor(
    private readonly c: EdgeCollections,
    private readonly vpc: VpcService,
    private readonly onChange: (c: VpcChange) => void = () => undefined,
  ) {}

  // ---- the VPC hooks ----------------------------------------------------------------

  /** A new VPC's main route table with its local route; a default VPC also gets an attached gateway and 0.0.0.0/0 → it. */
  async vpcCreated(v: VpcRecord): Promise<void> {
    if (this.mainTable(v.id)) return;
    const routes: RouteTableRecord['routes'][number][] = [{ destinationCidrBlock: v.cidrBlock, gatewayId: 'local', origin: 'CreateRouteTable' }];
    if (v.isDefault) {
      const igw: InternetGatewayRecord = { id: edgeId('igw'), accountId: v.accountId, vpcId: v.id, tags: {} };
      await this.c.igws.put(igw);
      routes.push({ destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id, origin: 'CreateRoute' });
    }
    await this.c.routeTables.put({ id: edgeId('rtb'), accountId: v.accountId, vpcId: v.id, routes, associations: [{ id: edgeId('rtbassoc'), subnetId: undefined }], tags: {} });
  }

  vpcDependents(vpcId: string): string[] {
    return [...this.c.igws.all().filter((g) => g.vpcId === vpcId).map((g) => g.id), ...this.c.routeTables.all().filter((t) => t.vpcId === vpcId && !isMain(t)).map((t) => t.id)];
  }

  async vpcDeleted(vpcId: string): Promise<void> {
    for (const t of this.c.routeTables.all().filter((x) => x.vpcId === vpcId)) await this.c.routeTables.delete(t.id);
    if (this.c.vpcAttributes.get(vpcId)) await this.c.vpcAttributes.delete(vpcId);
  }

  async subnetDeleted(subnetId: string): Promise<void> {
    const t = this.c.routeTables.all().find((x) => x.associations.some((a) => a.subnetId === subnetId));
    if (t) await this.c.routeTables.update(t.id, (x) => ({ ...x, associations: x.associations.filter((a) => a.subnetId !== subnetId) }));
  }

  /** The caller's default VPC, and a main route table for every VPC made before the edge existed. */
  async ensure(caller: Caller): Promise<void> {
    await this.vpc.ensureDefault(caller);
    for (const v of this.vpc.c.vpcs.all()) if (v.accountId === caller.accountId && !this.mainTable(v.id)) await this.vpcCreated(v);
  }

  mainTable(vpcId: string): RouteTableRecord | undefined {
    return this.c.routeTables.all().find((t) => t.vpcId === vpcId && isMain(t));
  }

  /** Every ENI of a VPC goes to its host again (eni.put: its internetRoute or public name may have changed; the rules did not). */
  private resync(vpcId: string): void {
    for (const e of this.vpc.c.enis.all()) if (e.vpcId === vpcId && e.instanceId) this.onChange({ kind: 'instance', instanceId: e.instanceId });
  }

  // ---- lookups ------------------------------------------------------------------------

  igw(caller: Caller, id: string): InternetGatewayRecord {
    const g = this.c.igws.get(id);
    if (!g || g.accountId !== caller.accountId) throw igwNotFound(id);
    return g;
  }

  table(caller: Caller, id: string): RouteTableRecord {
    const t = this.c.routeTables.get(id);
    if (!t || t.accountId !== caller.accountId) throw rtbNotFound(id);
    return t;
  }

  private igwView(g: InternetGatewayRecord): InternetGateway {
    return { internetGatewayId: g.id, ownerId: g.accountId, attachments: g.vpcId ? [{ vpcId: g.vpcId, state: 'available' }] : [], tags: tagList(g.tags) };
  }

  private tableView(t: RouteTableRecord): RouteTable {
    return {
      routeTableId: t.id,
      vpcId: t.vpcId,
      ownerId: t.accountId,
      routes: t.routes.map((r) => ({ ...r, state: r.gatewayId === 'local' || this.c.igws.get(r.gatewayId)?.vpcId === t.vpcId ? 'active' : 'blackhole' })),
      associations: t.associations.map((a) => ({ main: a.subnetId === undefined, routeTableAssociationId: a.id, routeTableId: t.id, subnetId: a.subnetId, state: 'associated' })),
      tags: tagList(t.tags),
    };
  }

  // ---- internet gateways ----------------------------------------------------------------

  async createInternetGateway(caller: Caller, req: RequestOf<'CreateInternetGateway'>): Promise<ResponseFor<'CreateInternetGateway'>> {
    const g: InternetGatewayRecord = { id: edgeId('igw'), accountId: caller.accountId, vpcId: undefined, tags: tagsFor(req.tagSpecifications, 'internet-gateway') };
    await this.c.igws.put(g);
    return { action: 'CreateInternetGateway', internetGateway: this.igwView(g) };
  }

  async attachInternetGateway(caller: Caller, req: RequestOf<'AttachInternetGateway'>): Promise<ResponseFor<'AttachInternetGateway'>> {
    const g = this.igw(caller, req.internetGatewayId);
    const v = this.vpc.vpc(caller, req.vpcId);
    if (g.vpcId !== undefined) throw new Ec2Error('Resource.AlreadyAssociated', `resource ${g.id} is already attached to network ${g.vpcId}`, { context: { internetGatewayId: g.id, vpcId: g.vpcId } });
    const other = this.c.igws.all().find((x) => x.vpcId === v.id);
    if (other) throw new Ec2Error('Resource.AlreadyAssociated', `Network ${v.id} already has an internet gateway attached`, { context: { vpcId: v.id, internetGatewayId: other.id } });
    await this.c.igws.update(g.id, (x) => ({ ...x, vpcId: v.id }));
    this.resync(v.id);
    return { action: 'AttachInternetGateway' };
  }

  async detachInternetGateway(caller: Caller, req: RequestOf<'DetachInternetGateway'>): Promise<ResponseFor<'DetachInternetGateway'>> {
    const g = this.igw(caller, req.internetGatewayId);
    const v = this.vpc.vpc(caller, req.vpcId);
    if (g.vpcId !== v.id) throw new Ec2Error('Gateway.NotAttached', `resource ${g.id} is not attached to network ${v.id}`, { context: { internetGatewayId: g.id, vpcId: v.id } });
    const mapped = mappedEnis(this.c, this.vpc.c, v.id);
    if (mapped.length > 0) {
      throw new Ec2Error('DependencyViolation', `Network ${v.id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.`, { context: { vpcId: v.id, networkInterfaces: mapped.map((e) => e.id) } });
    }
    await this.c.igws.update(g.id, (x) => ({ ...x, vpcId: undefined }));
    this.resync(v.id);
    return { action: 'DetachInternetGateway' };
  }

  async deleteInternetGateway(caller: Caller, req: RequestOf<'DeleteInternetGateway'>): Promise<ResponseFor<'DeleteInternetGateway'>> {
    const g = this.igw(caller, req.internetGatewayId);
    if (g.vpcId !== undefined) throw new Ec2Error('DependencyViolation', `The internetGateway '${g.id}' has dependencies and cannot be deleted.`, { context: { internetGatewayId: g.id, vpcId: g.vpcId } });
    await this.c.igws.delete(g.id);
    return { action: 'DeleteInternetGateway' };
  }

  async describeInternetGateways(caller: Caller, req: RequestOf<'DescribeInternetGateways'>): Promise<ResponseFor<'DescribeInternetGateways'>> {
    await this.ensure(caller);
    const base = req.internetGatewayIds.length > 0 ? req.internetGatewayIds.map((id) => this.igw(caller, id)) : this.c.igws.all().filter((g) => g.accountId === caller.accountId);
    const names = ['internet-gateway-id', 'attachment.vpc-id', 'attachment.state', 'owner-id'];
    const match = compileFilters<InternetGatewayRecord>(
      req.filters,
      (g, n) =>
        n === 'internet-gateway-id' ? [g.id] : n === 'attachment.vpc-id' ? (g.vpcId ? [g.vpcId] : []) : n === 'attachment.state' ? (g.vpcId ? ['available', 'attached'] : []) : n === 'owner-id' ? [g.accountId] : tagFilterValues(g.tags, n),
      (n) => names.includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeInternetGateways', internetGateways: base.filter(match).map((g) => this.igwView(g)) };
  }

  // ---- route tables -----------------------------------------------------------------------

  async createRouteTable(caller: Caller, req: RequestOf<'CreateRouteTable'>): Promise<ResponseFor<'CreateRouteTable'>> {
    const v = this.vpc.vpc(caller, req.vpcId);
    await this.ensure(caller);
    const token = req.clientToken !== undefined ? { clientToken: req.clientToken } : {};
    // The same ClientToken again answers the table it made (EC2's idempotency), for the same VPC only.
    const prior = req.clientToken === undefined ? undefined : this.c.routeTables.all().find((t) => t.accountId === caller.accountId && t.clientToken === req.clientToken);
    if (prior) {
      if (prior.vpcId !== v.id) throw new Ec2Error('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that is already deleted or has different parameters.', { context: { clientToken: req.clientToken } });
      return { action: 'CreateRouteTable', routeTable: this.tableView(prior), ...token };
    }
    const t: RouteTableRecord = {
      ...token,
      id: edgeId('rtb'),
      accountId: caller.accountId,
      vpcId: v.id,
      routes: [{ destinationCidrBlock: v.cidrBlock, gatewayId: 'local', origin: 'CreateRouteTable' }],
      associations: [],
      tags: tagsFor(req.tagSpecifications, 'route-table'),
    };
    await this.c.routeTables.put(t);
    return { action: 'CreateRouteTable', routeTable: this.tableView(t), ...token };
  }

  async deleteRouteTable(caller: Caller, req: RequestOf<'DeleteRouteTable'>): Promise<ResponseFor<'DeleteRouteTable'>> {
    const t = this.table(caller, req.routeTableId);
    if (t.associations.length > 0) throw new Ec2Error('DependencyViolation', `The routeTable '${t.id}' has dependencies and cannot be deleted.`, { context: { routeTableId: t.id, main: isMain(t), associations: t.associations.map((a) => a.id) } });
    await this.c.routeTables.delete(t.id);
    return { action: 'DeleteRouteTable' };
  }

  async describeRouteTables(caller: Caller, req: RequestOf<'DescribeRouteTables'>): Promise<ResponseFor<'DescribeRouteTables'>> {
    await this.ensure(caller);
    const base = req.routeTableIds.length > 0 ? req.routeTableIds.map((id) => this.table(caller, id)) : this.c.routeTables.all().filter((t) => t.accountId === caller.accountId);
    const names = ['route-table-id', 'vpc-id', 'owner-id', 'association.main', 'association.subnet-id', 'association.route-table-association-id', 'association.route-table-id', 'route.destination-cidr-block', 'route.gateway-id', 'route.origin', 'route.state'];
    const match = compileFilters<RouteTableRecord>(
      req.filters,
      (t, n) => {
        const view = this.tableView(t);
        switch (n) {
          case 'route-table-id':
          case 'association.route-table-id':
            return [t.id];
          case 'vpc-id':
            return [t.vpcId];
          case 'owner-id':
            return [t.accountId];
          case 'association.main':
            return [String(isMain(t))];
          case 'association.subnet-id':
            return t.associations.flatMap((a) => (a.subnetId ? [a.subnetId] : []));
          case 'association.route-table-association-id':
            return t.associations.map((a) => a.id);
          case 'route.destination-cidr-block':
            return t.routes.map((r) => r.destinationCidrBlock);
          case 'route.gateway-id':
            return t.routes.map((r) => r.gatewayId);
          case 'route.origin':
            return t.routes.map((r) => r.origin);
          case 'route.state':
            return view.routes.map((r) => r.state);
          default:
            return tagFilterValues(t.tags, n);
        }
      },
      (n) => names.includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeRouteTables', routeTables: base.filter(match).map((t) => this.tableView(t)) };
  }

  /** CreateRoute / ReplaceRoute: the target must be the VPC's own local route or a gateway attached to it. */
  private checkTarget(caller: Caller, t: RouteTableRecord, gatewayId: string): void {
    if (gatewayId === 'local') return;
    const g = this.c.igws.get(gatewayId);
    if (!g || g.accountId !== caller.accountId) throw new Ec2Error('InvalidGatewayID.NotFound', `The gateway ID '${gatewayId}' does not exist`, { context: { gatewayId } });
    if (g.vpcId !== t.vpcId) throw new Ec2Error('InvalidParameterValue', `route table ${t.id} and network gateway ${gatewayId} belong to different networks`, { context: { routeTableId: t.id, gatewayId, vpcId: t.vpcId } });
  }

  async createRoute(caller: Caller, req: RequestOf<'CreateRoute'>): Promise<ResponseFor<'CreateRoute'>> {
    const t = this.table(caller, req.routeTableId);
    const dest = req.destinationCidrBlock;
    if (t.routes.some((r) => r.destinationCidrBlock === dest)) throw new Ec2Error('RouteAlreadyExists', `The route identified by ${dest} already exists.`, { context: { routeTableId: t.id, destinationCidrBlock: dest } });
    const vpcCidr = this.vpc.c.vpcs.get(t.vpcId)?.cidrBlock;
    if (vpcCidr !== undefined && within(dest, vpcCidr)) {
      throw new Ec2Error('InvalidParameterValue', `The destination CIDR block ${dest} is equal to or more specific than one of this VPC's CIDR blocks. This route can target only an interface or an instance.`, { context: { destinationCidrBlock: dest } });
    }
    if (req.gatewayId === 'local') throw new Ec2Error('InvalidParameterValue', `Route table ${t.id} already has its local route; a route cannot target 'local'.`);
    this.checkTarget(caller, t, req.gatewayId);
    await this.c.routeTables.update(t.id, (x) => ({ ...x, routes: [...x.routes, { destinationCidrBlock: dest, gatewayId: req.gatewayId, origin: 'CreateRoute' }] }));
    this.resync(t.vpcId);
    return { action: 'CreateRoute' };
  }

  async replaceRoute(caller: Caller, req: RequestOf<'ReplaceRoute'>): Promise<ResponseFor<'ReplaceRoute'>> {
    const t = this.table(caller, req.routeTableId);
    const r = t.routes.find((x) => x.destinationCidrBlock === req.destinationCidrBlock);
    if (!r) throw new Ec2Error('InvalidRoute.NotFound', `There is no route defined for '${req.destinationCidrBlock}' in the route table. Please correct the destination and try again.`, { context: { routeTableId: t.id, destinationCidrBlock: req.destinationCidrBlock } });
    if (r.gatewayId === 'local' && req.gatewayId !== 'local') throw new Ec2Error('InvalidParameterValue', `cannot replace local route ${r.destinationCidrBlock} in route table ${t.id}`);
    if (r.gatewayId !== 'local' && req.gatewayId === 'local') throw new Ec2Error('InvalidParameterValue', `Route ${r.destinationCidrBlock} is not the VPC's local route; it cannot target 'local'.`);
    this.checkTarget(caller, t, req.gatewayId);
    await this.c.routeTables.update(t.id, (x) => ({ ...x, routes: x.routes.map((y) => (y.destinationCidrBlock === req.destinationCidrBlock ? { ...y, gatewayId: req.gatewayId } : y)) }));
    this.resync(t.vpcId);
    return { action: 'ReplaceRoute' };
  }

  async deleteRoute(caller: Caller, req: RequestOf<'DeleteRoute'>): Promise<ResponseFor<'DeleteRoute'>> {
    const t = this.table(caller, req.routeTableId);
    const r = t.routes.find((x) => x.destinationCidrBlock === req.destinationCidrBlock);
    if (!r) throw new Ec2Error('InvalidRoute.NotFound', `no route with destination-cidr-block ${req.destinationCidrBlock} in route table ${t.id}`, { context: { routeTableId: t.id, destinationCidrBlock: req.destinationCidrBlock } });
    if (r.gatewayId === 'local') throw new Ec2Error('InvalidParameterValue', `cannot remove local route ${r.destinationCidrBlock} in route table ${t.id}`, { context: { routeTableId: t.id } });
    await this.c.routeTables.update(t.id, (x) => ({ ...x, routes: x.routes.filter((y) => y.destinationCidrBlock !== req.destinationCidrBlock) }));
    this.resync(t.vpcId);
    return { action: 'DeleteRoute' };
  }

  async associateRouteTable(caller: Caller, req: RequestOf<'AssociateRouteTable'>): Promise<ResponseFor<'AssociateRouteTable'>> {
    const t = this.table(caller, req.routeTableId);
    const s = this.vpc.subnet(caller, req.subnetId);
    if (s.vpcId !== t.vpcId) throw new Ec2Error('InvalidParameterValue', `Route table ${t.id} and subnet ${s.id} belong to different networks`, { context: { routeTableId: t.id, subnetId: s.id } });
    const have = this.c.routeTables.all().find((x) => x.associations.some((a) => a.subnetId === s.id));
    if (have) throw new Ec2Error('Resource.AlreadyAssociated', `the specified association for route table ${have.id} conflicts with an existing association`, { context: { subnetId: s.id, routeTableId: have.id } });
    const id = edgeId('rtbassoc');
    await this.c.routeTables.update(t.id, (x) => ({ ...x, associations: [...x.associations, { id, subnetId: s.id }] }));
    this.resync(t.vpcId);
    return { action: 'AssociateRouteTable', associationId: id };
  }

  private association(caller: Caller, id: string): { table: RouteTableRecord; subnetId: string | undefined } {
    const t = this.c.routeTables.all().find((x) => x.accountId === caller.accountId && x.associations.some((a) => a.id === id));
    if (!t) throw associationNotFound(id);
    return { table: t, subnetId: t.associations.find((a) => a.id === id)!.subnetId };
  }

  async disassociateRouteTable(caller: Caller, req: RequestOf<'DisassociateRouteTable'>): Promise<ResponseFor<'DisassociateRouteTable'>> {
    const { table, subnetId } = this.association(caller, req.associationId);
    if (subnetId === undefined) throw new Ec2Error('InvalidParameterValue', `cannot disassociate the main route table association ${req.associationId}`, { context: { associationId: req.associationId } });
    await this.c.routeTables.update(table.id, (x) => ({ ...x, associations: x.associations.filter((a) => a.id !== req.associationId) }));
    this.resync(table.vpcId);
    return { action: 'DisassociateRouteTable' };
  }

  /** Moves a subnet's association (or the VPC's main one) to another table of the same VPC. */
  async replaceRouteTableAssociation(caller: Caller, req: RequestOf<'ReplaceRouteTableAssociation'>): Promise<ResponseFor<'ReplaceRouteTableAssociation'>> {
    const { table: from, subnetId } = this.association(caller, req.associationId);
    const to = this.table(caller, req.routeTableId);
    if (to.vpcId !== from.vpcId) throw new Ec2Error('InvalidParameterValue', `Route table ${to.id} and association ${req.associationId} belong to different networks`, { context: { routeTableId: to.id } });
    const id = edgeId('rtbassoc');
    if (to.id === from.id) {
      await this.c.routeTables.update(to.id, (x) => ({ ...x, associations: x.associations.map((a) => (a.id === req.associationId ? { id, subnetId } : a)) }));
    } else {
      const next = [
        { ...from, associations: from.associations.filter((a) => a.id !== req.associationId) },
        { ...to, associations: [...to.associations, { id, subnetId }] },
      ];
      await this.c.routeTables.putMany(next);
    }
    this.resync(to.vpcId);
    return { action: 'ReplaceRouteTableAssociation', newAssociationId: id };
  }

  // ---- VPC attributes -------------------------------------------------------------------------

  async describeVpcAttribute(caller: Caller, req: RequestOf<'DescribeVpcAttribute'>): Promise<ResponseFor<'DescribeVpcAttribute'>> {
    await this.vpc.ensureDefault(caller);
    const v = this.vpc.vpc(caller, req.vpcId);
    const a = vpcAttributes(this.c, this.vpc.c, v.id);
    const value = req.attribute === 'enableDnsSupport' ? a.enableDnsSupport : req.attribute === 'enableDnsHostnames' ? a.enableDnsHostnames : false;
    return { action: 'DescribeVpcAttribute', vpcId: v.id, attribute: req.attribute, value };
  }

  async modifyVpcAttribute(caller: Caller, req: RequestOf<'ModifyVpcAttribute'>): Promise<ResponseFor<'ModifyVpcAttribute'>> {
    const v = this.vpc.vpc(caller, req.vpcId);
    if (req.attribute === 'enableNetworkAddressUsageMetrics') return { action: 'ModifyVpcAttribute' };
    const a = vpcAttributes(this.c, this.vpc.c, v.id);
    await this.c.vpcAttributes.put({ ...a, [req.attribute]: req.value });
    this.resync(v.id);
    return { action: 'ModifyVpcAttribute' };
  }
}
