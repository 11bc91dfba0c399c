// The Amazon-provided DNS's contract with the region (through the controller): a VPC's DNS
// attributes and the names the region knows in it. Types only; src/vpc/dns/resolver.ts checks
// the values.

export type DnsRecordKind = 'private' | 'public';

/** `name` answers `ip` inside the VPC. A private record answers the PTR of `ip` too. */
export interface VpcDnsRecord {
  readonly name: string;
  readonly ip: string;
  readonly kind: DnsRecordKind;
}

/** The VPC's DNS attributes (as DescribeVpcAttribute has them) and the region's records for it. */
export interface VpcDnsSettings {
  readonly enableDnsSupport: boolean;
  readonly enableDnsHostnames: boolean;
  readonly records: readonly VpcDnsRecord[];
}
