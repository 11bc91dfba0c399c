// The VPC card's contract: the typed messages between the controller and the card, with
// each operation's result. They travel over the Node IPC channel the controller creates when
// it forks the card (no listening socket), in the channel envelope (src/lib/channel):
//   controller → card:  { v: 1, id, op, params }
//   card → controller:  { v: 1, id, ok: true, result } | { v: 1, id, ok: false, error }
//                       { v: 1, event: 'card.ready', pid } once it serves
// Pure: shapes and the first validation (types); the card validates values.
import { isObject, requestIdOf, type Operation, type ReplyMessage } from '../../lib/channel/envelope.js';
import { VpcError } from '../errors.js';
import type { EdgeHandover, EdgeStats, EniInfo, EniStats, HandoverState } from '../card.js';
import type { EniConfig, EniUpdate, GroupRules, PublicSideConfig } from '../model.js';
import type { VpcDnsRecord } from '../dns/protocol/records.js';

export type { WireError } from '../../lib/channel/envelope.js';

export const VPC_PROTOCOL_VERSION = 1;

export type VpcOp =
  | { readonly op: 'card.info'; readonly params: Record<string, never> }
  | { readonly op: 'eni.add'; readonly params: { readonly eni: EniConfig } }
  | { readonly op: 'eni.update'; readonly params: { readonly eniId: string; readonly patch: EniUpdate } }
  | { readonly op: 'eni.remove'; readonly params: { readonly eniId: string } }
  | { readonly op: 'eni.list'; readonly params: Record<string, never> }
  | { readonly op: 'eni.stats'; readonly params: { readonly eniId: string } }
  | { readonly op: 'sg.set'; readonly params: { readonly groupId: string; readonly rules: GroupRules } }
  | { readonly op: 'sg.delete'; readonly params: { readonly groupId: string } }
  | { readonly op: 'sg.members'; readonly params: { readonly groupId: string; readonly ips: readonly string[] } }
  // The VPC edge's public side: a TAP device the card opens by name (persist: it outlives the card).
  | { readonly op: 'edge.attach'; readonly params: { readonly side: PublicSideConfig; readonly persist?: boolean } }
  | { readonly op: 'edge.detach'; readonly params: Record<string, never> }
  | { readonly op: 'edge.stats'; readonly params: Record<string, never> }
  // The Amazon-provided DNS (src/vpc/dns): a VPC's attributes and the region's records for it
  // (replacing the previous ones), and the card's upstream resolver (absent: none).
  | { readonly op: 'dns.records'; readonly params: { readonly vpcId: string; readonly enableDnsSupport: boolean; readonly enableDnsHostnames: boolean; readonly records: readonly VpcDnsRecord[] } }
  | { readonly op: 'dns.configure'; readonly params: { readonly upstream?: string } }
  // Live update (`nitride host restart-component vpc`): the old card freezes and hands each
  // socket over as a handle beside the reply to handover.handle; the new card adopts them.
  | { readonly op: 'handover.freeze'; readonly params: Record<string, never> }
  | { readonly op: 'handover.thaw'; readonly params: Record<string, never> }
  | { readonly op: 'handover.resume'; readonly params: Record<string, never> }
  | { readonly op: 'handover.handle'; readonly params: { readonly eniId: string; readonly kind: 'server' | 'socket' } }
  | { readonly op: 'handover.groups'; readonly params: { readonly groups: readonly { readonly groupId: string; readonly rules?: GroupRules; readonly members: readonly string[] }[] } }
  | { readonly op: 'handover.eni'; readonly params: { readonly eni: EniConfig; readonly conntrack?: readonly unknown[]; readonly imdsTokens?: readonly unknown[] } }
  | { readonly op: 'handover.socket'; readonly params: { readonly eniId: string; readonly pendingBase64: string } }
  | { readonly op: 'handover.edge'; readonly params: { readonly edge: EdgeHandover } };

/** The ops whose request carries a handle (a listening or connected unix socket). */
export const HANDLE_OPS: ReadonlySet<string> = new Set(['handover.eni', 'handover.socket']);

export type VpcRequest = { readonly v: 1; readonly id: number } & VpcOp;

export type VpcReply = ReplyMessage;

/** What each operation answers with. */
export interface VpcResults {
  'card.info': { readonly pid: number; readonly enis: number; readonly protocol: number };
  'eni.add': EniInfo;
  'eni.update': EniInfo;
  'eni.remove': null;
  'eni.list': EniInfo[];
  'eni.stats': EniStats;
  'sg.set': null;
  'sg.delete': null;
  'sg.members': null;
  'edge.attach': EdgeStats;
  'edge.detach': null;
  'edge.stats': EdgeStats;
  'dns.records': { readonly vpcId: string; readonly records: number };
  'dns.configure': { readonly upstream: string | null };
  'handover.freeze': HandoverState;
  'handover.thaw': null;
  'handover.resume': { readonly sockets: number };
  /** The socket travels beside the reply. */
  'handover.handle': { readonly eniId: string; readonly kind: 'server' | 'socket' };
  'handover.groups': null;
  'handover.eni': EniInfo;
  'handover.socket': null;
  'handover.edge': EdgeStats;
}

/** The contract the controller's client and the card's server share. */
export type VpcContract = { readonly [O in VpcOp['op']]: Operation<Extract<VpcOp, { op: O }>['params'], VpcResults[O]> };

const OPS = new Set(['card.info', 'eni.add', 'eni.update', 'eni.remove', 'eni.list', 'eni.stats', 'sg.set', 'sg.delete', 'sg.members', 'dns.records', 'dns.configure', 'handover.freeze', 'handover.thaw', 'handover.resume', 'handover.handle', 'handover.groups', 'handover.eni', 'handover.socket', 'edge.attach', 'edge.detach', 'edge.stats', 'handover.edge']);

function bad(message: string): VpcError {
  return new VpcError('InvalidRequest', 'invalid', message);
}

const STRINGS_ENI = ['eniId', 'mac', 'ip', 'subnetCidr', 'vpcId', 'hostname'] as const;

function checkImds(v: unknown): void {
  if (v === undefined) return;
  if (!isObject(v)) throw bad('imds must be an object.');
  for (const k of ['instanceId', 'httpTokens', 'endpoint']) if (typeof v[k] !== 'string') throw bad(`imds.${k} must be a string.`);
  if (typeof v['hopLimit'] !== 'number') throw bad('imds.hopLimit must be a number.');
  for (const k of ['amiId', 'instanceType', 'region', 'availabilityZone', 'accountId', 'pendingTime', 'userDataBase64', 'identitySigningKeyPem', 'reservationId']) {
    if (v[k] !== undefined && typeof v[k] !== 'string') throw bad(`imds.${k} must be a string.`);
  }
  if (v['publicKeys'] !== undefined && (!Array.isArray(v['publicKeys']) || !v['publicKeys'].every((k) => isObject(k) && typeof k['name'] === 'string' && typeof k['openssh'] === 'string'))) {
    throw bad('imds.publicKeys must be a list of {name, openssh}.');
  }
  if (v['securityGroupNames'] !== undefined && (!Array.isArray(v['securityGroupNames']) || !v['securityGroupNames'].every((s) => typeof s === 'string'))) throw bad('imds.securityGroupNames must be strings.');
  if (v['extraMetadata'] !== undefined && (!isObject(v['extraMetadata']) || !Object.values(v['extraMetadata']).every((s) => typeof s === 'string'))) throw bad('imds.extraMetadata must map strings to strings.');
}

function checkSide(v: unknown): void {
  if (!isObject(v) || typeof v['iface'] !== 'string' || typeof v['cidr'] !== 'string' || typeof v['gateway'] !== 'string') throw bad('side must be {iface, cidr, gateway} (strings).');
}

function checkRules(v: unknown): void {
  if (!isObject(v) || !Array.isArray(v['ingress']) || !Array.isArray(v['egress'])) throw bad('rules must be {ingress: [], egress: []}.');
  for (const r of [...v['ingress'], ...v['egress']] as unknown[]) {
    if (!isObject(r) || typeof r['protocol'] !== 'string') throw bad('each rule needs a protocol.');
    for (const k of ['cidrs', 'groupIds']) if (r[k] !== undefined && (!Array.isArray(r[k]) || !(r[k] as unknown[]).every((s) => typeof s === 'string'))) throw bad(`rule.${k} must be strings.`);
  }
}

export function parseVpcRequest(raw: unknown): VpcRequest {
  if (!isObject(raw) || raw['v'] !== VPC_PROTOCOL_VERSION) throw bad('A request must be an object with v: 1.');
  const id = requestIdOf(raw);
  if (id === undefined) throw bad('A request needs an integer id.');
  const op = raw['op'];
  if (typeof op !== 'string' || !OPS.has(op)) throw new VpcError('UnknownOperation', 'invalid', 'The operation is not one the card knows.', { op });
  const p = raw['params'];
  if (!isObject(p)) throw bad('params must be an object.');
  const str = (k: string): void => {
    if (typeof p[k] !== 'string') throw bad(`params.${k} must be a string.`);
  };
  switch (op) {
    case 'handover.eni':
    case 'eni.add': {
      if (p['conntrack'] !== undefined && !Array.isArray(p['conntrack'])) throw bad('params.conntrack must be a list.');
      if (p['imdsTokens'] !== undefined && !Array.isArray(p['imdsTokens'])) throw bad('params.imdsTokens must be a list.');
      const e = p['eni'];
      if (!isObject(e)) throw bad('params.eni must be an object.');
      for (const k of STRINGS_ENI) if (typeof e[k] !== 'string') throw bad(`eni.${k} must be a string.`);
      if (!Array.isArray(e['securityGroups'])) throw bad('eni.securityGroups must be a list.');
      if (typeof e['sourceDestCheck'] !== 'boolean') throw bad('eni.sourceDestCheck must be a boolean.');
      if (typeof e['mtu'] !== 'number') throw bad('eni.mtu must be a number.');
      for (const k of ['subnetId', 'vpcCidr', 'domainName', 'publicIp']) if (e[k] !== undefined && typeof e[k] !== 'string') throw bad(`eni.${k} must be a string.`);
      if (e['internetRoute'] !== undefined && typeof e['internetRoute'] !== 'boolean') throw bad('eni.internetRoute must be a boolean.');
      checkImds(e['imds']);
      break;
    }
    case 'eni.update': {
      str('eniId');
      const patch = p['patch'];
      if (!isObject(patch)) throw bad('params.patch must be an object.');
      // publicIp: null removes the public address.
      if (patch['publicIp'] !== undefined && patch['publicIp'] !== null && typeof patch['publicIp'] !== 'string') throw bad('patch.publicIp must be a string or null.');
      if (patch['internetRoute'] !== undefined && typeof patch['internetRoute'] !== 'boolean') throw bad('patch.internetRoute must be a boolean.');
      checkImds(patch['imds']);
      break;
    }
    case 'edge.attach':
      checkSide(p['side']);
      if (p['persist'] !== undefined && typeof p['persist'] !== 'boolean') throw bad('params.persist must be a boolean.');
      break;
    case 'handover.edge': {
      const e = p['edge'];
      if (!isObject(e) || typeof e['persist'] !== 'boolean' || typeof e['mac'] !== 'string' || !Array.isArray(e['neighbours'])) throw bad('params.edge must be {side, persist, mac, neighbours}.');
      checkSide(e['side']);
      break;
    }
    case 'eni.remove':
    case 'eni.stats':
      str('eniId');
      break;
    case 'sg.set':
      str('groupId');
      checkRules(p['rules']);
      break;
    case 'sg.delete':
      str('groupId');
      break;
    case 'dns.records':
      str('vpcId');
      if (typeof p['enableDnsSupport'] !== 'boolean' || typeof p['enableDnsHostnames'] !== 'boolean') throw bad('params.enableDnsSupport and enableDnsHostnames must be booleans.');
      if (!Array.isArray(p['records']) || !p['records'].every((r) => isObject(r) && typeof r['name'] === 'string' && typeof r['ip'] === 'string' && typeof r['kind'] === 'string')) throw bad('params.records must be a list of {name, ip, kind}.');
      break;
    case 'dns.configure':
      if (p['upstream'] !== undefined && typeof p['upstream'] !== 'string') throw bad('params.upstream must be a string.');
      break;
    case 'handover.handle':
      str('eniId');
      if (p['kind'] !== 'server' && p['kind'] !== 'socket') throw bad('params.kind must be server or socket.');
      break;
    case 'handover.socket':
      str('eniId');
      str('pendingBase64');
      break;
    case 'handover.groups':
      if (!Array.isArray(p['groups'])) throw bad('params.groups must be a list.');
      for (const g of p['groups'] as unknown[]) {
        if (!isObject(g) || typeof g['groupId'] !== 'string' || !Array.isArray(g['members']) || !g['members'].every((s) => typeof s === 'string')) throw bad('each group needs a groupId and members.');
        if (g['rules'] !== undefined) checkRules(g['rules']);
      }
      break;
    case 'sg.members':
      str('groupId');
      if (!Array.isArray(p['ips']) || !p['ips'].every((s) => typeof s === 'string')) throw bad('params.ips must be strings.');
      break;
    default:
      break;
  }
  return raw as unknown as VpcRequest;
}
