// Addresses: MACs as 6-byte buffers or "aa:bb:…" strings, IPv4 as unsigned 32-bit integers
// or dotted quads, CIDR blocks. Pure.
import { VpcError } from '../errors.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IP_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}

export function macToBytes(mac: string): Buffer {
  if (!MAC_RE.test(mac)) throw new VpcError('InvalidMac', 'invalid', `'${mac}' is not a MAC address.`, { mac });
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

export function macToString(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((b[off + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function isIp(s: string): boolean {
  const m = IP_RE.exec(s);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

export function ipToInt(ip: string): number {
  const m = IP_RE.exec(ip);
  if (!m || !m.slice(1).every((p) => Number(p) <= 255)) throw new VpcError('InvalidIp', 'invalid', `'${ip}' is not an IPv4 address.`, { ip });
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
  readonly mask: number;
}

export function parseCidr(s: string): Cidr {
  const [ip, len, ...rest] = s.split('/');
  const prefix = Number(len);
  if (ip === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len) || prefix > 32 || !isIp(ip)) {
    throw new VpcError('InvalidCidr', 'invalid', `'${s}' is not an IPv4 CIDR block.`, { cidr: s });
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, prefix, mask };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & c.mask) >>> 0) === c.base;
}

export function cidrToString(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}
