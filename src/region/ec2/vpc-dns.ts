// The region's side of the Amazon-provided DNS (src/vpc/dns): what DHCP tells each guest
// (the resolver at the VPC's base + 2, the region's private domain) and the names of a VPC's
// live instances, pushed as vpc.dns to every host with an ENI of that VPC, so that a card
// answers for instances on other hosts too. The VPC's enableDnsSupport and
// enableDnsHostnames are read from its record when it has them, with EC2's defaults
// otherwise (support on; host names on in a default VPC only).
import { parseCidr, intToIp } from '../../vpc/protocol/addr.js';
import { privateDomainOf, privateNameOf, publicDomainOf, publicNameOf, resolverIpOf } from '../../vpc/dns/names.js';
import type { VpcDnsParams } from '../../controller/protocol/vpc-commands.js';
import type { VpcDnsRecord } from '../../vpc/dns/protocol/records.js';
import { REGION_NAME } from './model.js';
import type { VpcRecord } from './vpc.js';

/** The DHCP options of an ENI in a VPC of `vpcCidr`: option 6 (the VPC resolver) and option 15. */
export function dhcpDnsOptions(vpcCidr: string | undefined): { dns?: string[]; domainName: string } {
  return { ...(vpcCidr ? { dns: [intToIp(resolverIpOf(parseCidr(vpcCidr)))] } : {}), domainName: privateDomainOf(REGION_NAME) };
}

/** The VPC's DNS attributes, EC2's defaults where its record has none. */
export function dnsAttributesOf(v: VpcRecord & { readonly enableDnsSupport?: boolean; readonly enableDnsHostnames?: boolean }): { enableDnsSupport: boolean; enableDnsHostnames: boolean } {
  return { enableDnsSupport: v.enableDnsSupport ?? true, enableDnsHostnames: v.enableDnsHostnames ?? v.isDefault };
}

/** vpc.dns for one VPC: a private name per live ENI, a public name per ENI with a public address. */
export function vpcDnsParams(
  v: VpcRecord,
  enis: readonly { readonly ip: string; readonly publicIp?: string | undefined }[],
  attributes: { readonly enableDnsSupport: boolean; readonly enableDnsHostnames: boolean } = dnsAttributesOf(v),
): VpcDnsParams {
  const records: VpcDnsRecord[] = [];
  for (const e of enis) {
    records.push({ name: privateNameOf(e.ip, privateDomainOf(REGION_NAME)), ip: e.ip, kind: 'private' });
    if (e.publicIp) records.push({ name: publicNameOf(e.publicIp, publicDomainOf(REGION_NAME)), ip: e.ip, kind: 'public' });
  }
  return { vpcId: v.id, enableDnsSupport: attributes.enableDnsSupport, enableDnsHostnames: attributes.enableDnsHostnames, records };
}
