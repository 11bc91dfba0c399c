// The region's public IPv4 pool: the addresses AllocateAddress and public IPs on launch come
// from. Configured with NITRIDE_PUBLIC_POOL as a range "first-last" or a CIDR; the default is a
// small part of TEST-NET-2 (RFC 5737, routed nowhere), 198.51.100.16-198.51.100.254, with
// 198.51.100.1 left for the host side of the public interface.
import { Ec2Error } from '../../protocol/errors.js';

export const DEFAULT_PUBLIC_POOL = '198.51.100.16-198.51.100.254';

export interface PublicPool {
  readonly first: number;
  readonly last: number;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function ipToNumber(ip: string): number {
  if (!IPV4.test(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
}

export const numberToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** "a.b.c.d-e.f.g.h" or "a.b.c.d/n" (network and broadcast addresses left out). */
export function parsePublicPool(spec: string): PublicPool {
  const s = spec.trim();
  const range = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(s);
  if (range) {
    const first = ipToNumber(range[1]!);
    const last = ipToNumber(range[2]!);
    if (last < first) throw new Error(`public pool ${spec}: the last address is before the first`);
    return { first, last };
  }
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (cidr && Number(cidr[2]) >= 8 && Number(cidr[2]) <= 30) {
    const size = 2 ** (32 - Number(cidr[2]));
    const base = ipToNumber(cidr[1]!);
    const net = base - (base % size);
    return { first: net + 1, last: net + size - 2 };
  }
  throw new Error(`public pool ${spec}: expected first-last or a CIDR /8../30`);
}

/** The pool the region is configured with (NITRIDE_PUBLIC_POOL, else the default). */
export function publicPoolFromEnv(env: NodeJS.ProcessEnv = process.env): PublicPool {
  return parsePublicPool(env['NITRIDE_PUBLIC_POOL'] || DEFAULT_PUBLIC_POOL);
}

/** The lowest free address of the pool; EC2's AddressLimitExceeded when none is left. */
export function takeAddress(pool: PublicPool, used: ReadonlySet<string>): string {
  for (let n = pool.first; n <= pool.last; n++) {
    const ip = numberToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw new Ec2Error('AddressLimitExceeded', 'The maximum number of addresses has been reached.', { context: { poolSize: pool.last - pool.first + 1 } });
}

/** EC2's public DNS name of a public address in this region: ec2-a-b-c-d.<region>.compute.amazonaws.com. */
export const publicDnsName = (ip: string, region: string): string => `ec2-${ip.replace(/\./g, '-')}.${region}.compute.amazonaws.com`;
