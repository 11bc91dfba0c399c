// The VPC edge's public addresses, with EC2's rules and error codes: Elastic IPs (allocate from
// the region's public pool, associate with an instance or ENI, disassociate, release) and the
// public IPs instances get at launch (AssociatePublicIpAddress, a subnet's MapPublicIpOnLaunch),
// held while the instance runs and given back at stop and terminate as EC2 does (Elastic IPs
// stay). Every check runs before any write. An address that comes or goes re-sends its ENI to
// the host through `onChange` (VpcHostSync: eni.put with publicIp).
import { createLogger } from '../../../lib/log.js';
import { describeError } from '../../../lib/errors.js';
import { Ec2Error } from '../../protocol/errors.js';
import type { RequestOf } from '../../protocol/ec2/requests/index.js';
import type { Address, ResponseFor } from '../../protocol/ec2/responses/index.js';
import type { Collection } from '../../repo.js';
import { compileFilters, isTagFilter, tagFilterValues } from '../filters.js';
import type { Caller } from '../instances.js';
import { REGION_NAME, type InstanceRecord } from '../model.js';
import { tagsFor } from '../tags.js';
import type { EniRecord, PublicAddressView, VpcChange, VpcService } from '../vpc.js';
import { publicDnsName, takeAddress, type PublicPool } from './pool.js';
import { edgeId, elasticIpOf, tagList, vpcAttributes, type AddressRecord, type EdgeCollections } from './records.js';
import { associationNotFound } from './routing.js';

const log = createLogger('region.edge-addresses');

export const allocationNotFound = (id: string): Ec2Error => new Ec2Error('InvalidAllocationID.NotFound', `The allocation ID '${id}' does not exist`, { context: { allocationId: id } });

export class AddressService {
  /** Addresses handed out but not yet in the store (two allocations never get the same one). */
  private readonly reserved = new Set<string>();

  constructor(
    private readonly c: EdgeCollections,
    private readonly vpc: VpcService,
    private readonly instances: Collection<InstanceRecord>,
    private readonly pool: PublicPool,
    private readonly onChange: (c: VpcChange) => void = () => undefined,
  ) {}

  /** The ENI's instance goes to its host again (eni.put with the new publicIp; the rules did not change). */
  private resync(e: EniRecord): void {
    if (e.instanceId) this.onChange({ kind: 'instance', instanceId: e.instanceId });
  }

  // ---- the pool --------------------------------------------------------------------------

  private async take<T>(write: (ip: string) => Promise<T>): Promise<T> {
    const used = new Set<string>([...this.reserved, ...this.c.addresses.all().map((a) => a.publicIp), ...this.c.publicIps.all().map((p) => p.publicIp)]);
    const ip = takeAddress(this.pool, used);
    this.reserved.add(ip);
    try {
      return await write(ip);
    } finally {
      this.reserved.delete(ip);
    }
  }

  // ---- what the VPC, the host sync and the launch read ------------------------------------

  /** The ENI's Elastic IP, else its public IP, as EC2 shows it. */
  publicAddress(e: EniRecord): PublicAddressView | undefined {
    const a = vpcAttributes(this.c, this.vpc.c, e.vpcId);
    const dns = (ip: string): string => (a.enableDnsHostnames && a.enableDnsSupport ? publicDnsName(ip, REGION_NAME) : '');
    const eip = elasticIpOf(this.c, e.id);
    if (eip) return { publicIp: eip.publicIp, publicDnsName: dns(eip.publicIp), ipOwnerId: eip.accountId, allocationId: eip.id, associationId: eip.association!.id };
    const p = this.c.publicIps.get(e.id);
    return p ? { publicIp: p.publicIp, publicDnsName: dns(p.publicIp), ipOwnerId: 'amazon' } : undefined;
  }

  /** Before a start: an ENI launched with a public IP gets one (unless an Elastic IP is on it). */
  async started(instanceId: string): Promise<void> {
    const e = this.vpc.eniOfInstance(instanceId);
    if (!e || !e.publicIpOnLaunch || elasticIpOf(this.c, e.id) || this.c.publicIps.get(e.id)) return;
    try {
      await this.take((ip) => this.c.publicIps.put({ id: e.id, accountId: e.accountId, publicIp: ip }));
    } catch (err) {
      // The instance still starts, without a public address (the launch checked the pool had room).
      log.warn('no public IP for a starting instance', { instanceId, eniId: e.id, error: describeError(err) });
    }
  }

  /** After a stop or a termination: the public IP goes back to the pool. */
  async stopped(instanceId: string): Promise<void> {
    const e = this.vpc.eniOfInstance(instanceId);
    if (e && this.c.publicIps.get(e.id)) await this.c.publicIps.delete(e.id);
  }

  /** The ENI is deleted with its instance: its public IP is freed and its Elastic IP disassociated. */
  async eniReleased(eniId: string): Promise<void> {
    if (this.c.publicIps.get(eniId)) await this.c.publicIps.delete(eniId);
    const eip = elasticIpOf(this.c, eniId);
    if (eip) await this.c.addresses.update(eip.id, (x) => ({ ...x, association: undefined }));
  }

  /** Launch check: the pool can give `count` public IPs now (else EC2's AddressLimitExceeded, before anything is made). */
  checkLaunch(count: number): void {
    const used = this.reserved.size + this.c.addresses.size + this.c.publicIps.size;
    const free = this.pool.last - this.pool.first + 1 - used;
    if (free < count) throw new Ec2Error('AddressLimitExceeded', 'The maximum number of addresses has been reached.', { context: { requested: count, free } });
  }

  // ---- views ---------------------------------------------------------------------------------

  private view(a: AddressRecord): Address {
    const e = a.association ? this.vpc.c.enis.get(a.association.eniId) : undefined;
    return {
      allocationId: a.id,
      publicIp: a.publicIp,
      domain: 'vpc',
      ...(a.association && e
        ? { associationId: a.association.id, networkInterfaceId: e.id, networkInterfaceOwnerId: e.accountId, privateIpAddress: e.privateIp, subnetId: e.subnetId, ...(e.instanceId ? { instanceId: e.instanceId } : {}) }
        : {}),
      publicIpv4Pool: 'amazon',
      networkBorderGroup: REGION_NAME,
      tags: tagList(a.tags),
    };
  }

  private byRef(caller: Caller, allocationId: string | undefined, publicIp: string | undefined): AddressRecord {
    const mine = this.c.addresses.all().filter((a) => a.accountId === caller.accountId);
    if (allocationId !== undefined) {
      const a = mine.find((x) => x.id === allocationId);
      if (!a) throw allocationNotFound(allocationId);
      return a;
    }
    const a = mine.find((x) => x.publicIp === publicIp);
    if (!a) throw new Ec2Error('InvalidAddress.NotFound', `Address '${publicIp ?? ''}' not found.`, { context: { publicIp } });
    return a;
  }

  private liveInstance(caller: Caller, id: string): InstanceRecord {
    const r = this.instances.get(id);
    if (!r || r.accountId !== caller.accountId || r.state === 'terminated' || r.state === 'shutting-down') throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, { context: { instanceId: id } });
    return r;
  }

  // ---- the actions -------------------------------------------------------------------------

  async allocateAddress(caller: Caller, req: RequestOf<'AllocateAddress'>): Promise<ResponseFor<'AllocateAddress'>> {
    const tags = tagsFor(req.tagSpecifications, 'elastic-ip');
    const a = await this.take(async (ip) => {
      const rec: AddressRecord = { id: edgeId('eipalloc'), accountId: caller.accountId, publicIp: ip, association: undefined, tags };
      await this.c.addresses.put(rec);
      return rec;
    });
    return { action: 'AllocateAddress', address: this.view(a) };
  }

  async associateAddress(caller: Caller, req: RequestOf<'AssociateAddress'>): Promise<ResponseFor<'AssociateAddress'>> {
    const a = this.byRef(caller, req.allocationId, req.publicIp);
    let e: EniRecord;
    if (req.instanceId !== undefined) {
      this.liveInstance(caller, req.instanceId);
      const found = this.vpc.eniOfInstance(req.instanceId);
      if (!found) throw new Ec2Error('InvalidInstanceID', `The instance '${req.instanceId}' has no network interface.`, { context: { instanceId: req.instanceId } });
      e = found;
    } else {
      e = this.vpc.eni(caller, req.networkInterfaceId!);
    }
    if (req.privateIpAddress !== undefined && req.privateIpAddress !== e.privateIp) {
      throw new Ec2Error('InvalidParameterValue', `The private IP address ${req.privateIpAddress} is not associated with network interface ${e.id}.`, { context: { privateIpAddress: req.privateIpAddress, networkInterfaceId: e.id } });
    }
    if (a.association?.eniId === e.id) return { action: 'AssociateAddress', associationId: a.association.id };
    if (a.association !== undefined && !req.allowReassociation) {
      throw new Ec2Error('Resource.AlreadyAssociated', `resource ${a.id} is already associated with associate-id ${a.association.id}`, { context: { allocationId: a.id, associationId: a.association.id } });
    }
    if (!this.c.igws.all().some((g) => g.vpcId === e.vpcId)) {
      throw new Ec2Error('Gateway.NotAttached', `Network ${e.vpcId} is not attached to any internet gateway`, { context: { vpcId: e.vpcId } });
    }
    const before = a.association?.eniId;
    const displaced = elasticIpOf(this.c, e.id);
    const association = { id: edgeId('eipassoc'), eniId: e.id };
    // One write: this address moves to the ENI, and the Elastic IP the ENI had (if any) is disassociated.
    await this.c.addresses.putMany([{ ...a, association }, ...(displaced ? [{ ...displaced, association: undefined }] : [])]);
    // EC2 gives the ENI's public IP back once an Elastic IP is on it.
    if (this.c.publicIps.get(e.id)) await this.c.publicIps.delete(e.id);
    this.resync(e);
    if (before !== undefined) await this.afterLoss(before);
    return { action: 'AssociateAddress', associationId: association.id };
  }

  /** An ENI lost its Elastic IP: one launched with a public IP gets a new one while it runs (EC2 does), then goes to its host. */
  private async afterLoss(eniId: string): Promise<void> {
    const e = this.vpc.c.enis.get(eniId);
    if (!e) return;
    const r = e.instanceId ? this.instances.get(e.instanceId) : undefined;
    if (r && (r.state === 'pending' || r.state === 'running')) await this.started(r.id);
    this.resync(e);
  }

  async disassociateAddress(caller: Caller, req: RequestOf<'DisassociateAddress'>): Promise<ResponseFor<'DisassociateAddress'>> {
    let a: AddressRecord | undefined;
    if (req.associationId !== undefined) {
      a = this.c.addresses.all().find((x) => x.accountId === caller.accountId && x.association?.id === req.associationId);
      if (!a) throw associationNotFound(req.associationId);
    } else {
      a = this.byRef(caller, undefined, req.publicIp);
      if (!a.association) throw new Ec2Error('InvalidAssociationID.NotFound', `The address '${a.publicIp}' is not associated.`, { context: { publicIp: a.publicIp } });
    }
    const eniId = a.association!.eniId;
    await this.c.addresses.update(a.id, (x) => ({ ...x, association: undefined }));
    await this.afterLoss(eniId);
    return { action: 'DisassociateAddress' };
  }

  async releaseAddress(caller: Caller, req: RequestOf<'ReleaseAddress'>): Promise<ResponseFor<'ReleaseAddress'>> {
    const a = this.byRef(caller, req.allocationId, req.publicIp);
    if (a.association) throw new Ec2Error('InvalidIPAddress.InUse', `Address ${a.publicIp} is in use.`, { context: { allocationId: a.id, associationId: a.association.id } });
    await this.c.addresses.delete(a.id);
    return { action: 'ReleaseAddress' };
  }

  async describeAddresses(caller: Caller, req: RequestOf<'DescribeAddresses'>): Promise<ResponseFor<'DescribeAddresses'>> {
    let base = this.c.addresses.all().filter((a) => a.accountId === caller.accountId);
    if (req.allocationIds.length > 0) base = req.allocationIds.map((id) => this.byRef(caller, id, undefined));
    if (req.publicIps.length > 0) base = req.publicIps.map((ip) => this.byRef(caller, undefined, ip)).filter((a) => base.includes(a));
    const names = ['allocation-id', 'association-id', 'domain', 'instance-id', 'network-interface-id', 'network-interface-owner-id', 'private-ip-address', 'public-ip', 'network-border-group', 'public-ipv4-pool'];
    const match = compileFilters<Address>(
      req.filters,
      (a, n) => {
        const one = (v: string | undefined): string[] => (v === undefined ? [] : [v]);
        switch (n) {
          case 'allocation-id':
            return [a.allocationId];
          case 'association-id':
            return one(a.associationId);
          case 'domain':
            return [a.domain];
          case 'instance-id':
            return one(a.instanceId);
          case 'network-interface-id':
            return one(a.networkInterfaceId);
          case 'network-interface-owner-id':
            return one(a.networkInterfaceOwnerId);
          case 'private-ip-address':
            return one(a.privateIpAddress);
          case 'public-ip':
            return [a.publicIp];
          case 'network-border-group':
            return [a.networkBorderGroup];
          case 'public-ipv4-pool':
            return [a.publicIpv4Pool];
          default:
            return tagFilterValues(Object.fromEntries(a.tags.map((t) => [t.key, t.value])), n);
        }
      },
      (n) => names.includes(n) || isTagFilter(n),
    );
    return { action: 'DescribeAddresses', addresses: base.map((a) => this.view(a)).filter(match) };
  }

  async modifySubnetAttribute(caller: Caller, req: RequestOf<'ModifySubnetAttribute'>): Promise<ResponseFor<'ModifySubnetAttribute'>> {
    const s = this.vpc.subnet(caller, req.subnetId);
    await this.vpc.c.subnets.update(s.id, (x) => ({ ...x, mapPublicIpOnLaunch: req.mapPublicIpOnLaunch }));
    return { action: 'ModifySubnetAttribute' };
  }
}
