// ARP for IPv4 over Ethernet (RFC 826). Pure.
import { malformed } from '../errors.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpPacket {
  readonly op: number;
  readonly senderMac: Buffer;
  readonly senderIp: number;
  readonly targetMac: Buffer;
  readonly targetIp: number;
}

export function parseArp(b: Buffer): ArpPacket {
  if (b.length < ARP_LEN) throw malformed('ARP packet', { length: b.length });
  if (b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) throw malformed('ARP packet', { reason: 'not IPv4 over Ethernet' });
  const op = b.readUInt16BE(6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) throw malformed('ARP packet', { op });
  return {
    op,
    senderMac: b.subarray(8, 14),
    senderIp: b.readUInt32BE(14),
    targetMac: b.subarray(18, 24),
    targetIp: b.readUInt32BE(24),
  };
}

export function buildArp(p: ArpPacket): Buffer {
  const b = Buffer.alloc(ARP_LEN);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(p.op, 6);
  b.set(p.senderMac, 8);
  b.writeUInt32BE(p.senderIp >>> 0, 14);
  b.set(p.targetMac, 18);
  b.writeUInt32BE(p.targetIp >>> 0, 24);
  return b;
}
