// EC2's host names, as the Amazon-provided DNS of a VPC answers them. Pure.
//   private: ip-172-31-0-4.<region>.compute.internal   (us-east-1: ip-172-31-0-4.ec2.internal)
//   public:  ec2-198-51-100-20.<region>.compute.amazonaws.com
//            (us-east-1: ec2-198-51-100-20.compute-1.amazonaws.com)
// The resolver sits at the VPC's base address + 2 and at 169.254.169.253.
import { intToIp, ipToInt, type Cidr } from '../protocol/addr.js';

/** The link-local address of the Amazon-provided DNS (reachable from every subnet). */
export const DNS_LINK_LOCAL_IP = ipToInt('169.254.169.253');

/** The domain of the private names in `region` (what DHCP hands out as the domain name). */
export function privateDomainOf(region: string): string {
  return region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
}

/** The domain of the public names in `region`. */
export function publicDomainOf(region: string): string {
  return region === 'us-east-1' ? 'compute-1.amazonaws.com' : `${region}.compute.amazonaws.com`;
}

/** The public domain that goes with a private one (undefined for a domain EC2 does not use). */
export function publicDomainFor(privateDomain: string): string | undefined {
  const d = privateDomain.toLowerCase();
  if (d === 'ec2.internal') return publicDomainOf('us-east-1');
  const m = /^([a-z0-9-]+)\.compute\.internal$/.exec(d);
  return m ? publicDomainOf(m[1] as string) : undefined;
}

export function privateNameOf(ip: string, domain: string): string {
  return `ip-${ip.replaceAll('.', '-')}.${domain}`;
}

export function publicNameOf(ip: string, domain: string): string {
  return `ec2-${ip.replaceAll('.', '-')}.${domain}`;
}

/** The resolver's address in a VPC: its primary CIDR's base + 2. */
export function resolverIpOf(vpc: Cidr): number {
  return (vpc.base + 2) >>> 0;
}

/** `d.c.b.a.in-addr.arpa` → a.b.c.d as an integer, or undefined for any other name. */
export function reverseNameToIp(name: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const parts = [m[4], m[3], m[2], m[1]].map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ipToInt(parts.join('.'));
}

export function reverseNameOf(ip: number): string {
  return `${intToIp(ip).split('.').reverse().join('.')}.in-addr.arpa`;
}
