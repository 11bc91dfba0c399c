// Security groups: stateful rules evaluated per ENI in both directions, with a connection
// table per ENI. A flow first allowed by a rule (egress of the sender, ingress of the
// receiver) is recorded on that side; later packets of the flow in either direction pass
// on the record alone, as in EC2. Ingress is default-deny; a group nobody has set rules
// for yet allows all egress (EC2's default rule). Rule changes recompile every ENI's
// policy at once and drop connection records the new rules would no longer admit, so a
// revoke takes effect immediately (EC2 keeps tracked flows; this is stricter).
import { cidrContains, parseCidr, type Cidr } from './protocol/addr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './protocol/ipv4.js';
import type { GroupRules, SgRule } from './model.js';

export type Direction = 'ingress' | 'egress';

interface CompiledRule {
  readonly proto: number; // -1 = all
  readonly from: number; // -1 = any
  readonly to: number;
  readonly cidrs: readonly Cidr[];
  readonly ips: ReadonlySet<number>;
}

export interface Policy {
  readonly ingress: readonly CompiledRule[];
  readonly egress: readonly CompiledRule[];
}

const PROTO: Record<SgRule['protocol'], number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP, all: -1 };
const DEFAULT_RULES: GroupRules = { ingress: [], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] };

export function compileRule(r: SgRule, membersOf: (groupId: string) => Iterable<number>): CompiledRule {
  const proto = PROTO[r.protocol];
  const all = proto === -1 || r.fromPort === undefined || r.fromPort === -1;
  const ips = new Set<number>();
  for (const g of r.groupIds ?? []) for (const ip of membersOf(g)) ips.add(ip);
  return {
    proto,
    from: all ? -1 : (r.fromPort as number),
    to: all ? -1 : r.toPort === undefined || r.toPort === -1 ? (proto === IPPROTO_ICMP ? -1 : 65535) : r.toPort,
    cidrs: (r.cidrs ?? []).map(parseCidr),
    ips,
  };
}

/**
 * Whether a packet matches one of the rules. `port` is the destination port (tcp/udp) or
 * the ICMP type, `code` the ICMP code; `port` −1 (a later fragment) matches only rules
 * that cover every port.
 */
export function matches(rules: readonly CompiledRule[], proto: number, remote: number, port: number, code: number): boolean {
  for (const r of rules) {
    if (r.proto !== -1 && r.proto !== proto) continue;
    if (r.from !== -1) {
      if (port === -1) continue;
      if (proto === IPPROTO_ICMP) {
        if (r.from !== port || (r.to !== -1 && r.to !== code)) continue;
      } else if (port < r.from || port > r.to) continue;
    }
    if (r.ips.has(remote)) return true;
    for (const c of r.cidrs) if (cidrContains(c, remote)) return true;
  }
  return false;
}

export class SecurityGroupTable {
  private readonly groups = new Map<string, GroupRules>();
  private readonly remoteMembers = new Map<string, readonly number[]>();

  setRules(groupId: string, rules: GroupRules): void {
    this.groups.set(groupId, rules);
  }

  deleteGroup(groupId: string): void {
    this.groups.delete(groupId);
  }

  rulesOf(groupId: string): GroupRules {
    return this.groups.get(groupId) ?? DEFAULT_RULES;
  }

  /** Members of a group on other hosts (the region tells); local members come from the ENIs. */
  setRemoteMembers(groupId: string, ips: readonly number[]): void {
    this.remoteMembers.set(groupId, ips);
  }

  remoteMembersOf(groupId: string): readonly number[] {
    return this.remoteMembers.get(groupId) ?? [];
  }

  /** Every group the table knows (rules or remote members): what a live update carries over. */
  groupIds(): string[] {
    return [...new Set([...this.groups.keys(), ...this.remoteMembers.keys()])];
  }

  /** The rules set for a group, or undefined when only its members are known. */
  explicitRulesOf(groupId: string): GroupRules | undefined {
    return this.groups.get(groupId);
  }

  compile(groupIds: readonly string[], membersOf: (groupId: string) => Iterable<number>): Policy {
    const ingress: CompiledRule[] = [];
    const egress: CompiledRule[] = [];
    for (const g of groupIds) {
      const r = this.rulesOf(g);
      for (const rule of r.ingress) ingress.push(compileRule(rule, membersOf));
      for (const rule of r.egress) egress.push(compileRule(rule, membersOf));
    }
    return { ingress, egress };
  }
}

interface Tracked {
  expires: number;
  readonly dir: Direction;
  readonly proto: number;
  readonly remote: number;
  readonly port: number;
  readonly code: number;
}

export type TrackedTuple = [remote: number, key: number, msLeft: number, dir: Direction, proto: number, port: number, code: number];

const TIMEOUT_MS: Record<number, number> = { [IPPROTO_TCP]: 432_000, [IPPROTO_UDP]: 180_000, [IPPROTO_ICMP]: 30_000 };
export const CONNTRACK_MAX = 16_384;

/**
 * One ENI's connection table, keyed by remote address, then (protocol, local port, remote
 * port) packed in one number: two numeric Map lookups per packet, no string building.
 * When the table is full (CONNTRACK_MAX records after a sweep), new flows are refused.
 */
export class ConnTrack {
  private readonly flows = new Map<number, Map<number, Tracked>>();
  private count = 0;
  // The last flow looked up: most packets belong to the flow before them.
  private lastRemote = -1;
  private lastKey = -1;
  private lastRec: Tracked | undefined;

  get size(): number {
    return this.count;
  }

  /**
   * Decides one packet as seen from this ENI. `localPort`/`remotePort` are the flow's
   * ports from this ENI's side (for ICMP echo: the identifier and 0; −1 when untracked);
   * `port`/`code` are what the rules match (destination port, or ICMP type and code).
   */
  check(policy: Policy, dir: Direction, proto: number, remote: number, localPort: number, remotePort: number, port: number, code: number, now: number): boolean {
    const key = localPort < 0 ? -1 : proto * 4294967296 + localPort * 65536 + remotePort;
    const last = this.lastRec;
    if (last !== undefined && remote === this.lastRemote && key === this.lastKey && last.expires > now) {
      last.expires = now + (TIMEOUT_MS[proto] ?? 60_000);
      return true;
    }
    const byRemote = this.flows.get(remote);
    const t = byRemote?.get(key);
    if (t !== undefined && t.expires > now) {
      t.expires = now + (TIMEOUT_MS[proto] ?? 60_000);
      this.remember(remote, key, t);
      return true;
    }
    if (!matches(dir === 'ingress' ? policy.ingress : policy.egress, proto, remote, port, code)) return false;
    // A later fragment or an untracked protocol is decided by the rules alone.
    if (localPort < 0) return true;
    if (t === undefined && this.count >= CONNTRACK_MAX) {
      this.sweep(now);
      if (this.count >= CONNTRACK_MAX) return false;
    }
    const rec: Tracked = { expires: now + (TIMEOUT_MS[proto] ?? 60_000), dir, proto, remote, port, code };
    if (byRemote) {
      if (t === undefined) this.count++;
      byRemote.set(key, rec);
    } else {
      this.flows.set(remote, new Map([[key, rec]]));
      this.count++;
    }
    this.remember(remote, key, rec);
    return true;
  }

  /** The live records as [remote, key, msLeft, dir, proto, port, code] (a live update carries them). */
  export(now: number): TrackedTuple[] {
    const out: TrackedTuple[] = [];
    for (const [remote, m] of this.flows) for (const [k, t] of m) if (t.expires > now) out.push([remote, k, t.expires - now, t.dir, t.proto, t.port, t.code]);
    return out;
  }

  /** Adds records another card exported (malformed tuples and those beyond CONNTRACK_MAX are skipped). */
  import(tuples: readonly unknown[], now: number): number {
    let n = 0;
    for (const x of tuples) {
      if (this.count >= CONNTRACK_MAX) break;
      if (!Array.isArray(x) || x.length !== 7) continue;
      const [remote, key, left, dir, proto, port, code] = x as unknown[];
      if (![remote, key, left, proto, port, code].every((v) => typeof v === 'number' && Number.isFinite(v)) || (dir !== 'ingress' && dir !== 'egress')) continue;
      const rec: Tracked = { expires: now + Math.min(left as number, 432_000), dir, proto: proto as number, remote: remote as number, port: port as number, code: code as number };
      const m = this.flows.get(remote as number) ?? new Map<number, Tracked>();
      if (!m.has(key as number)) this.count++;
      m.set(key as number, rec);
      this.flows.set(remote as number, m);
      n++;
    }
    return n;
  }

  private remember(remote: number, key: number, rec: Tracked | undefined): void {
    this.lastRemote = remote;
    this.lastKey = key;
    this.lastRec = rec;
  }

  /** Drops the records the policy would no longer admit in the direction that created them. */
  revalidate(policy: Policy): number {
    this.remember(-1, -1, undefined);
    let dropped = 0;
    for (const [remote, m] of this.flows) {
      for (const [k, t] of m) {
        if (!matches(t.dir === 'ingress' ? policy.ingress : policy.egress, t.proto, t.remote, t.port, t.code)) {
          m.delete(k);
          dropped++;
        }
      }
      if (m.size === 0) this.flows.delete(remote);
    }
    this.count -= dropped;
    return dropped;
  }

  sweep(now: number): void {
    this.remember(-1, -1, undefined);
    for (const [remote, m] of this.flows) {
      for (const [k, t] of m) {
        if (t.expires <= now) {
          m.delete(k);
          this.count--;
        }
      }
      if (m.size === 0) this.flows.delete(remote);
    }
  }

  clear(): void {
    this.remember(-1, -1, undefined);
    this.flows.clear();
    this.count = 0;
  }
}
