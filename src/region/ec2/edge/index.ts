// The VPC edge of the region (issue 13): gateways and routes (routing.ts), public and Elastic
// IPs (addresses.ts), over the records in records.ts. EdgeService joins them for the action
// table, the VPC domain (the region wires routing and addresses into VpcEdgeHooks) and the host
// sync (what an ENI's EniConfig carries).
import type { Collection } from '../../repo.js';
import type { InstanceRecord } from '../model.js';
import type { EniRecord, VpcChange, VpcService } from '../vpc.js';
import { AddressService } from './addresses.js';
import type { PublicPool } from './pool.js';
import { hasInternetRoute, vpcAttributes, type EdgeCollections } from './records.js';
import { RoutingService } from './routing.js';

export type { EdgeCollections } from './records.js';
export { publicPoolFromEnv, parsePublicPool, DEFAULT_PUBLIC_POOL, type PublicPool } from './pool.js';

/** What the host sync adds to an ENI's configuration (src/vpc/protocol/config.ts EniConfig, ImdsConfig). */
export interface EniEdge {
  readonly publicIp: string | undefined;
  readonly internetRoute: boolean;
  readonly publicHostname: string | undefined;
}

export class EdgeService {
  readonly routing: RoutingService;
  readonly addresses: AddressService;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly c: EdgeCollections,
    private readonly vpc: VpcService,
    instances: Collection<InstanceRecord>,
    pool: PublicPool,
    onChange: (c: VpcChange) => void = () => undefined,
  ) {
    this.routing = new RoutingService(c, vpc, onChange);
    this.addresses = new AddressService(c, vpc, instances, pool, onChange);
  }

  /**
   * Runs the edge's changes one at a time: a check and the write it allows are never split by
   * another change (two gateways attached to one VPC, an address taken twice, a detach racing
   * an association).
   */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The VPC's enableDnsSupport and enableDnsHostnames (ModifyVpcAttribute; EC2's defaults until set). */
  dnsAttributes(vpcId: string): { readonly enableDnsSupport: boolean; readonly enableDnsHostnames: boolean } {
    const a = vpcAttributes(this.c, this.vpc.c, vpcId);
    return { enableDnsSupport: a.enableDnsSupport, enableDnsHostnames: a.enableDnsHostnames };
  }

  /** The ENI's public address, whether its subnet routes to an attached gateway, and its public name. */
  eniEdge(e: EniRecord): EniEdge {
    const pub = this.addresses.publicAddress(e);
    return { publicIp: pub?.publicIp, internetRoute: hasInternetRoute(this.c, e.vpcId, e.subnetId), publicHostname: pub && pub.publicDnsName !== '' ? pub.publicDnsName : undefined };
  }
}
