// DHCPv4 messages (RFC 2131) and options (RFC 2132). Pure.
import { malformed } from '../errors.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const DHCP_MAGIC = 0x63825363;
const FIXED_LEN = 236;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_HOSTNAME = 12;
export const OPT_DOMAIN_NAME = 15;
export const OPT_MTU = 26;
export const OPT_BROADCAST = 28;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MESSAGE_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_MESSAGE = 56;
export const OPT_RENEWAL_TIME = 58;
export const OPT_REBINDING_TIME = 59;

export interface DhcpMessage {
  readonly op: number; // 1 request, 2 reply
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  readonly ciaddr: number;
  readonly yiaddr: number;
  readonly siaddr: number;
  readonly giaddr: number;
  readonly chaddr: Buffer; // 6 bytes (Ethernet)
  /** Options by code; repeated codes are concatenated (RFC 3396). */
  readonly options: Map<number, Buffer>;
}

export function parseDhcp(b: Buffer): DhcpMessage {
  if (b.length < FIXED_LEN + 4) throw malformed('DHCP message', { length: b.length });
  if (b[1] !== 1 || b[2] !== 6) throw malformed('DHCP message', { htype: b[1], hlen: b[2] });
  if (b.readUInt32BE(FIXED_LEN) !== DHCP_MAGIC) throw malformed('DHCP message', { reason: 'magic cookie' });
  const options = new Map<number, Buffer>();
  let i = FIXED_LEN + 4;
  let ended = false;
  while (i < b.length) {
    const code = b[i] as number;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) {
      ended = true;
      break;
    }
    if (i + 1 >= b.length) throw malformed('DHCP option', { code });
    const len = b[i + 1] as number;
    if (i + 2 + len > b.length) throw malformed('DHCP option', { code, len });
    const val = b.subarray(i + 2, i + 2 + len);
    const prev = options.get(code);
    options.set(code, prev ? Buffer.concat([prev, val]) : Buffer.from(val));
    i += 2 + len;
  }
  if (!ended) throw malformed('DHCP message', { reason: 'no end option' });
  return {
    op: b[0] as number,
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: b.readUInt32BE(12),
    yiaddr: b.readUInt32BE(16),
    siaddr: b.readUInt32BE(20),
    giaddr: b.readUInt32BE(24),
    chaddr: Buffer.from(b.subarray(28, 34)),
    options,
  };
}

export function messageType(m: DhcpMessage): number | undefined {
  const v = m.options.get(OPT_MESSAGE_TYPE);
  return v && v.length === 1 ? v[0] : undefined;
}

export function optionIp(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
}

export interface DhcpBuild {
  readonly op: number;
  readonly xid: number;
  readonly flags: number;
  readonly ciaddr: number;
  readonly yiaddr: number;
  readonly siaddr: number;
  readonly giaddr: number;
  readonly chaddr: Uint8Array;
  /** In order; values longer than 255 bytes are split (RFC 3396). */
  readonly options: readonly (readonly [number, Uint8Array])[];
}

export function buildDhcp(m: DhcpBuild): Buffer {
  const opts: Buffer[] = [];
  for (const [code, val] of m.options) {
    for (let o = 0; o < val.length || o === 0; o += 255) {
      const part = val.subarray(o, o + 255);
      opts.push(Buffer.from([code, part.length]), Buffer.from(part));
      if (val.length === 0) break;
    }
  }
  opts.push(Buffer.from([255]));
  const body = Buffer.concat(opts);
  // Pad to the BOOTP minimum of 300 bytes; some clients drop shorter replies.
  const b = Buffer.alloc(Math.max(300, FIXED_LEN + 4 + body.length));
  b[0] = m.op;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(m.xid >>> 0, 4);
  b.writeUInt16BE(m.flags, 10);
  b.writeUInt32BE(m.ciaddr >>> 0, 12);
  b.writeUInt32BE(m.yiaddr >>> 0, 16);
  b.writeUInt32BE(m.siaddr >>> 0, 20);
  b.writeUInt32BE(m.giaddr >>> 0, 24);
  b.set(m.chaddr.subarray(0, 16), 28);
  b.writeUInt32BE(DHCP_MAGIC, FIXED_LEN);
  b.set(body, FIXED_LEN + 4);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
