// What the card knows about each ENI and security group: the shapes the controller (and
// through it the region) hands to the card, with their validation. Pure.
import { VpcError } from './errors.js';
import { cidrContains, intToIp, ipToInt, isIp, isMac, parseCidr } from './protocol/addr.js';

export type { HttpTokens, HttpEndpoint, PublicKey, ImdsConfig, EniConfig, EniUpdate, PublicSideConfig, SgProtocol, SgRule, GroupRules } from './protocol/config.js';
import type { HttpTokens, HttpEndpoint, PublicKey, ImdsConfig, EniConfig, EniUpdate, SgProtocol, SgRule, GroupRules } from './protocol/config.js';

const ENI_RE = /^eni-[0-9a-z]{1,32}$/;
const ID_RE = /^[a-z]+-[0-9a-zA-Z]{1,32}$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

function bad(message: string, context: Record<string, unknown> = {}): VpcError {
  return new VpcError('InvalidParameterValue', 'invalid', message, context);
}

export function validateImds(m: ImdsConfig): void {
  if (!/^i-[0-9a-f]{8,17}$/.test(m.instanceId)) throw bad('imds.instanceId is not an instance id.', { instanceId: m.instanceId });
  if (m.httpTokens !== 'optional' && m.httpTokens !== 'required') throw bad('imds.httpTokens must be optional or required.');
  if (m.endpoint !== 'enabled' && m.endpoint !== 'disabled') throw bad('imds.endpoint must be enabled or disabled.');
  if (!Number.isInteger(m.hopLimit) || m.hopLimit < 1 || m.hopLimit > 64) throw bad('imds.hopLimit must be an integer 1..64.');
  if (m.publicHostname !== undefined && (typeof m.publicHostname !== 'string' || !HOST_RE.test(m.publicHostname))) throw bad('imds.publicHostname is not a host name.');
  if (m.userDataBase64 !== undefined && (!/^[A-Za-z0-9+/]*={0,2}$/.test(m.userDataBase64) || m.userDataBase64.length > 87_384)) {
    throw bad('imds.userDataBase64 must be base64 of at most 64 KiB.');
  }
}

export function validateEni(c: EniConfig): void {
  if (!ENI_RE.test(c.eniId)) throw bad('eniId is not an ENI id.', { eniId: c.eniId });
  if (!isMac(c.mac) || (parseInt(c.mac.slice(0, 2), 16) & 1) === 1) throw bad('mac must be a unicast MAC address.', { mac: c.mac });
  if (!isIp(c.ip)) throw bad('ip is not an IPv4 address.', { ip: c.ip });
  const subnet = parseCidr(c.subnetCidr);
  if (subnet.prefix > 28 || subnet.prefix < 8) throw bad('subnetCidr must be /8 to /28.', { subnetCidr: c.subnetCidr });
  const ip = ipToInt(c.ip);
  if (!cidrContains(subnet, ip)) throw bad('ip is outside its subnet.', { ip: c.ip, subnetCidr: c.subnetCidr });
  const host = (ip - subnet.base) >>> 0;
  const size = 2 ** (32 - subnet.prefix);
  // EC2 reserves the network address, .1 (router), .2 (DNS), .3 and the last address.
  if (host < 4 || host >= size - 1) throw bad('ip is a reserved address of its subnet.', { ip: c.ip, gateway: intToIp(subnet.base + 1) });
  if (!ID_RE.test(c.vpcId)) throw bad('vpcId is not an id.', { vpcId: c.vpcId });
  if (c.vpcCidr !== undefined) parseCidr(c.vpcCidr);
  if ((c as { publicIp?: unknown }).publicIp === null) throw bad('publicIp must be an address or absent.');
  validateMutable(c);
}

export function validateMutable(c: EniUpdate): void {
  if (c.securityGroups !== undefined) {
    if (!Array.isArray(c.securityGroups) || c.securityGroups.length > 16 || !c.securityGroups.every((g) => typeof g === 'string' && ID_RE.test(g))) {
      throw bad('securityGroups must be up to 16 group ids.');
    }
  }
  if (c.sourceDestCheck !== undefined && typeof c.sourceDestCheck !== 'boolean') throw bad('sourceDestCheck must be a boolean.');
  if (c.hostname !== undefined && (typeof c.hostname !== 'string' || !HOST_RE.test(c.hostname))) throw bad('hostname is not a host name.', { hostname: c.hostname });
  if (c.mtu !== undefined && (!Number.isInteger(c.mtu) || c.mtu < 576 || c.mtu > 9001)) throw bad('mtu must be an integer 576..9001.', { mtu: c.mtu });
  if (c.dns !== undefined && (!Array.isArray(c.dns) || c.dns.length > 4 || !c.dns.every(isIp))) throw bad('dns must be up to 4 IPv4 addresses.');
  if (c.domainName !== undefined && (typeof c.domainName !== 'string' || !HOST_RE.test(c.domainName))) throw bad('domainName is not a domain name.');
  if (c.imds !== undefined) validateImds(c.imds);
  // null (in a patch: remove the public address) is told apart by validateEni, which refuses it.
  if (c.publicIp !== undefined && c.publicIp !== null && (typeof c.publicIp !== 'string' || !isIp(c.publicIp) || !publicUnicast(ipToInt(c.publicIp)))) {
    throw bad('publicIp must be a unicast IPv4 address.', { publicIp: c.publicIp });
  }
  if (c.internetRoute !== undefined && typeof c.internetRoute !== 'boolean') throw bad('internetRoute must be a boolean.');
}

/** Not this network, loopback, link-local, multicast or broadcast: an address the edge may route. */
export function publicUnicast(ip: number): boolean {
  const a = ip >>> 24;
  return a !== 0 && a !== 127 && a < 224 && ip >>> 16 !== 0xa9fe;
}

export function validateRules(r: GroupRules): void {
  for (const dir of ['ingress', 'egress'] as const) {
    const list = r[dir];
    if (!Array.isArray(list) || list.length > 120) throw bad(`${dir} must be a list of at most 120 rules.`);
    for (const rule of list) {
      if (!['tcp', 'udp', 'icmp', 'all'].includes(rule.protocol)) throw bad('protocol must be tcp, udp, icmp or all.', { protocol: rule.protocol });
      for (const p of [rule.fromPort, rule.toPort]) {
        if (p !== undefined && (!Number.isInteger(p) || p < -1 || p > 65535)) throw bad('ports must be integers -1..65535.', { port: p });
      }
      for (const c of rule.cidrs ?? []) parseCidr(c);
      for (const g of rule.groupIds ?? []) if (!ID_RE.test(g)) throw bad('groupIds must be group ids.', { groupId: g });
    }
  }
}
