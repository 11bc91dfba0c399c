// Ethernet II frames (no 802.1Q: a tagged frame from a guest is not ours to switch). Pure.
import { malformed } from '../errors.js';

export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const BROADCAST_MAC = Buffer.from('ffffffffffff', 'hex');
/** The largest frame the card accepts from a guest: 64 KiB covers virtio-net without GSO. */
export const MAX_FRAME_LEN = 65535 + ETH_HEADER_LEN;

export interface EthernetHeader {
  readonly dst: Buffer; // views into the frame, not copies
  readonly src: Buffer;
  readonly ethertype: number;
}

export function parseEthernet(frame: Buffer): EthernetHeader {
  if (frame.length < ETH_HEADER_LEN) throw malformed('Ethernet frame', { length: frame.length });
  if (frame.length > MAX_FRAME_LEN) throw malformed('Ethernet frame', { length: frame.length });
  return { dst: frame.subarray(0, 6), src: frame.subarray(6, 12), ethertype: frame.readUInt16BE(12) };
}

export function buildEthernet(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(ETH_HEADER_LEN + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f.writeUInt16BE(ethertype, 12);
  f.set(payload, ETH_HEADER_LEN);
  return f;
}

export function isBroadcastOrMulticast(mac: Uint8Array): boolean {
  return ((mac[0] ?? 0) & 1) === 1;
}

export function macEquals(a: Uint8Array, b: Uint8Array, aOff = 0, bOff = 0): boolean {
  return (
    a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5]
  );
}
