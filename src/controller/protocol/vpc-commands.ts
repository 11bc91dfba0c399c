// The controller commands that drive the VPC card (issue 5), parsed here and merged into
// the command union of commands.ts. Pure. The card validates every value again (it is the
// component that acts on them); this layer checks shapes and sizes so that nothing
// malformed crosses to the card.
//
//   eni.put     { eni: EniConfig, groups: GroupState[] }    add the ENI, or update it in place
//   eni.remove  { eniId }
//   eni.stats   { eniId }                                    counters (drops per ENI)
//   vpc.rules   { groups: GroupState[], deleted: string[] }  rule/membership changes
//   vpc.keys    { peers: UnderlayPeer[], listenPort? }       underlay keys (src/vpc/underlay): starts
//               the host's underlay bridge on first use, rotates epochs after; → { port }
//   vpc.remote  { eni: EniConfig, hostId, vni }              an ENI of another host: added to the
//               card like a local one and joined to the bridge
//   vpc.dns     { vpcId, enableDnsSupport, enableDnsHostnames, records: [{ name, ip, kind }] }
//               the VPC resolver's attributes and the region's names (src/vpc/dns), replacing
//               the previous ones
import type { EniConfig, GroupRules } from '../../vpc/protocol/config.js';
import type { VpcResults } from '../../vpc/protocol/messages.js';
import type { VpcDnsRecord } from '../../vpc/dns/protocol/records.js';
import type { UnderlayCounters, UnderlayPeer } from '../../vpc/protocol/underlay.js';
import type { ControllerError } from '../errors.js';
import { bad as invalid, isObject, onlyKeys } from './fields.js';

export interface GroupState {
  readonly groupId: string;
  readonly rules: GroupRules;
  /** Private IPs of the ENIs in the group (for rules that name it as a peer). */
  readonly members: readonly string[];
}

export type VpcCommandBody =
  | { readonly type: 'eni.put'; readonly params: { readonly eni: EniConfig; readonly groups: readonly GroupState[] } }
  | { readonly type: 'eni.remove'; readonly params: { readonly eniId: string } }
  | { readonly type: 'eni.stats'; readonly params: { readonly eniId: string } }
  | { readonly type: 'vpc.rules'; readonly params: { readonly groups: readonly GroupState[]; readonly deleted: readonly string[] } }
  | { readonly type: 'vpc.keys'; readonly params: { readonly peers: readonly UnderlayPeer[]; readonly listenPort?: number } }
  | { readonly type: 'vpc.remote'; readonly params: { readonly eni: EniConfig; readonly hostId: string; readonly vni: number } }
  | { readonly type: 'vpc.dns'; readonly params: VpcDnsParams };

export interface VpcDnsParams {
  readonly vpcId: string;
  readonly enableDnsSupport: boolean;
  readonly enableDnsHostnames: boolean;
  readonly records: readonly VpcDnsRecord[];
}

/** What each VPC command answers with. */
export interface VpcCommandResults {
  /** The ENI as the card has it (added, or updated in place). */
  'eni.put': VpcResults['eni.add'];
  'eni.remove': null;
  'eni.stats': VpcResults['eni.stats'];
  'vpc.rules': { readonly groups: number; readonly deleted: number };
  'vpc.keys': { readonly port: number; readonly address: string | undefined; readonly peers: readonly { readonly hostId: string; readonly epoch: number }[]; readonly counters: UnderlayCounters | null };
  /** The ENI as the card has it (its socketPath is what the bridge delivers to). */
  'vpc.remote': VpcResults['eni.add'];
  'vpc.dns': VpcResults['dns.records'];
}

export const VPC_COMMAND_TYPES = ['eni.put', 'eni.remove', 'eni.stats', 'vpc.rules', 'vpc.keys', 'vpc.remote', 'vpc.dns'] as const;
const HOST_ID = /^[a-z0-9][a-z0-9.-]{0,62}$/;

const ENI_ID = /^eni-[0-9a-f]{8,17}$/;
const GROUP_ID = /^sg-[0-9a-f]{8,17}$/;
const MAX_JSON = 256 * 1024;

const bad = (message: string, context: Record<string, unknown> = {}): ControllerError => invalid('InvalidParameter', message, context);

function eniId(o: Record<string, unknown>, where: string): string {
  const v = o['eniId'];
  if (typeof v !== 'string' || !ENI_ID.test(v)) throw bad(`${where}.eniId must be an ENI id.`, { field: 'eniId' });
  return v;
}

function rules(v: unknown, where: string): GroupRules {
  if (!isObject(v) || !Array.isArray(v['ingress']) || !Array.isArray(v['egress'])) throw bad(`${where} must be {ingress: [], egress: []}.`);
  onlyKeys(v, ['ingress', 'egress'], where);
  for (const r of [...v['ingress'], ...v['egress']] as unknown[]) {
    if (!isObject(r) || typeof r['protocol'] !== 'string') throw bad(`${where}: each rule needs a protocol.`);
    onlyKeys(r, ['protocol', 'fromPort', 'toPort', 'cidrs', 'groupIds'], `${where} rule`);
  }
  return v as unknown as GroupRules;
}

function groups(v: unknown, where: string): GroupState[] {
  if (!Array.isArray(v) || v.length > 64) throw bad(`${where} must be a list of at most 64 groups.`);
  return v.map((g, i) => {
    const w = `${where}[${i}]`;
    if (!isObject(g)) throw bad(`${w} must be an object.`);
    onlyKeys(g, ['groupId', 'rules', 'members'], w);
    if (typeof g['groupId'] !== 'string' || !GROUP_ID.test(g['groupId'])) throw bad(`${w}.groupId must be a group id.`);
    const m = g['members'];
    if (!Array.isArray(m) || m.length > 65536 || !m.every((x) => typeof x === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(x))) throw bad(`${w}.members must be IPv4 addresses.`);
    return { groupId: g['groupId'], rules: rules(g['rules'], `${w}.rules`), members: m as string[] };
  });
}

export function isVpcCommandType(t: string): t is VpcCommandBody['type'] {
  return (VPC_COMMAND_TYPES as readonly string[]).includes(t);
}

export function parseVpcCommand(type: VpcCommandBody['type'], params: Record<string, unknown>): VpcCommandBody {
  const w = 'params';
  if (JSON.stringify(params).length > MAX_JSON) throw bad('params are too large.');
  switch (type) {
    case 'eni.put': {
      onlyKeys(params, ['eni', 'groups'], w);
      const e = params['eni'];
      if (!isObject(e)) throw bad('params.eni must be an object.');
      eniId(e, 'params.eni');
      return { type, params: { eni: e as unknown as EniConfig, groups: groups(params['groups'] ?? [], 'params.groups') } };
    }
    case 'eni.remove':
    case 'eni.stats':
      onlyKeys(params, ['eniId'], w);
      return { type, params: { eniId: eniId(params, w) } };
    case 'vpc.rules': {
      onlyKeys(params, ['groups', 'deleted'], w);
      const d = params['deleted'] ?? [];
      if (!Array.isArray(d) || !d.every((x) => typeof x === 'string' && GROUP_ID.test(x))) throw bad('params.deleted must be group ids.');
      return { type, params: { groups: groups(params['groups'] ?? [], 'params.groups'), deleted: d as string[] } };
    }
    case 'vpc.keys': {
      onlyKeys(params, ['peers', 'listenPort'], w);
      const lp = params['listenPort'];
      if (lp !== undefined && (!Number.isInteger(lp) || (lp as number) < 0 || (lp as number) > 65535)) throw bad('params.listenPort must be a port number.');
      const ps = params['peers'];
      if (!Array.isArray(ps) || ps.length > 1024) throw bad('params.peers must be a list of at most 1024 peers.');
      const peers = ps.map((p, i) => {
        const pw = `params.peers[${i}]`;
        if (!isObject(p)) throw bad(`${pw} must be an object.`);
        onlyKeys(p, ['hostId', 'address', 'port', 'secret', 'epoch'], pw);
        if (typeof p['hostId'] !== 'string' || !HOST_ID.test(p['hostId'])) throw bad(`${pw}.hostId must be a host id.`);
        if (typeof p['address'] !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(p['address'])) throw bad(`${pw}.address must be an IPv4 address.`);
        if (!Number.isInteger(p['port']) || (p['port'] as number) < 1 || (p['port'] as number) > 65535) throw bad(`${pw}.port must be a port number.`);
        if (typeof p['secret'] !== 'string' || Buffer.from(p['secret'], 'base64').length !== 32) throw bad(`${pw}.secret must be 32 bytes, base64.`);
        if (!Number.isInteger(p['epoch']) || (p['epoch'] as number) < 0 || (p['epoch'] as number) > 0xffffffff) throw bad(`${pw}.epoch must be a u32.`);
        return { hostId: p['hostId'], address: p['address'], port: p['port'] as number, secret: p['secret'], epoch: p['epoch'] as number };
      });
      return { type, params: { peers, ...(lp !== undefined ? { listenPort: lp as number } : {}) } };
    }
    case 'vpc.remote': {
      onlyKeys(params, ['eni', 'hostId', 'vni'], w);
      const e = params['eni'];
      if (!isObject(e)) throw bad('params.eni must be an object.');
      eniId(e, 'params.eni');
      if (typeof params['hostId'] !== 'string' || !HOST_ID.test(params['hostId'])) throw bad('params.hostId must be a host id.');
      const vni = params['vni'];
      if (!Number.isInteger(vni) || (vni as number) < 1 || (vni as number) > 0xffffffff) throw bad('params.vni must be a u32 above 0.');
      return { type, params: { eni: e as unknown as EniConfig, hostId: params['hostId'], vni: vni as number } };
    }
    case 'vpc.dns': {
      onlyKeys(params, ['vpcId', 'enableDnsSupport', 'enableDnsHostnames', 'records'], w);
      const vpcId = params['vpcId'];
      if (typeof vpcId !== 'string' || !/^vpc-[0-9a-z]{1,32}$/.test(vpcId)) throw bad('params.vpcId must be a VPC id.');
      const sup = params['enableDnsSupport'];
      const hn = params['enableDnsHostnames'];
      if (typeof sup !== 'boolean' || typeof hn !== 'boolean') throw bad('params.enableDnsSupport and params.enableDnsHostnames must be booleans.');
      const rs = params['records'];
      if (!Array.isArray(rs) || rs.length > 65536) throw bad('params.records must be a list of at most 65536 records.');
      const records = rs.map((r, i) => {
        const rw = `params.records[${i}]`;
        if (!isObject(r)) throw bad(`${rw} must be an object.`);
        onlyKeys(r, ['name', 'ip', 'kind'], rw);
        if (typeof r['name'] !== 'string' || r['name'].length > 253) throw bad(`${rw}.name must be a host name.`);
        if (typeof r['ip'] !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(r['ip'])) throw bad(`${rw}.ip must be an IPv4 address.`);
        if (r['kind'] !== 'private' && r['kind'] !== 'public') throw bad(`${rw}.kind must be private or public.`);
        return { name: r['name'], ip: r['ip'], kind: r['kind'] } as VpcDnsRecord;
      });
      return { type, params: { vpcId, enableDnsSupport: sup, enableDnsHostnames: hn, records } };
    }
  }
}

/** One well-formed params object per command type (documentation, and the generic parser test). */
export const VPC_COMMAND_EXAMPLES: Readonly<Record<VpcCommandBody['type'], Record<string, unknown>>> = {
  'eni.put': {
    eni: { eniId: 'eni-0123456789abcdef0', mac: '02:00:00:00:00:01', ip: '10.0.1.4', subnetCidr: '10.0.1.0/24', vpcId: 'vpc-0123456789abcdef0', securityGroups: ['sg-0123456789abcdef0'], sourceDestCheck: true, hostname: 'ip-10-0-1-4', mtu: 1500 },
    groups: [{ groupId: 'sg-0123456789abcdef0', rules: { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] }, members: ['10.0.1.4'] }],
  },
  'eni.remove': { eniId: 'eni-0123456789abcdef0' },
  'eni.stats': { eniId: 'eni-0123456789abcdef0' },
  'vpc.rules': { groups: [], deleted: ['sg-0123456789abcdef0'] },
  'vpc.keys': { peers: [{ hostId: 'h-2', address: '127.0.0.1', port: 4789, secret: Buffer.alloc(32, 7).toString('base64'), epoch: 1 }] },
  'vpc.remote': {
    eni: { eniId: 'eni-0123456789abcdef1', mac: '02:00:00:00:00:02', ip: '10.0.1.5', subnetCidr: '10.0.1.0/24', vpcId: 'vpc-0123456789abcdef0', securityGroups: ['sg-0123456789abcdef0'], sourceDestCheck: true, hostname: 'ip-10-0-1-5', mtu: 1420 },
    hostId: 'h-2',
    vni: 1,
  },
  'vpc.dns': { vpcId: 'vpc-0123456789abcdef0', enableDnsSupport: true, enableDnsHostnames: true, records: [{ name: 'ip-10-0-1-4.local-1.compute.internal', ip: '10.0.1.4', kind: 'private' }] },
};
