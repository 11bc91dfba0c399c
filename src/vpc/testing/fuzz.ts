// Seeded randomness and frame mutation for the card's fuzz tests (unit and process level).
import { buildArp, ARP_REQUEST } from '../protocol/arp.js';
import { buildDhcp, OPT_MESSAGE_TYPE, OPT_REQUESTED_IP, u32 } from '../protocol/dhcp.js';
import { buildEthernet, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../protocol/ethernet.js';
import { buildIcmp } from '../protocol/icmp.js';
import { buildIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../protocol/ipv4.js';
import { buildTcp, TCP_ACK, TCP_PSH, TCP_SYN } from '../protocol/tcp.js';
import { buildUdp } from '../protocol/udp.js';
import { buildQuery, TYPE_A } from '../dns/protocol/message.js';
import { seededRandom } from '../../lib/testing/seeded-rng.js';

/** The seeded PRNG of every fuzz test (src/lib/testing/seeded-rng.ts): deterministic runs, reproducible failures. */
export const rng = seededRandom;

export function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Flips, overwrites, truncates or extends a copy of `b`. */
export function mutate(r: () => number, b: Buffer): Buffer {
  let out = Buffer.from(b);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const op = Math.floor(r() * 6);
    const at = Math.floor(r() * Math.max(1, out.length));
    if (op === 0 && out.length > 0) out[at] = (out[at] as number) ^ (1 << Math.floor(r() * 8));
    else if (op === 1 && out.length > 0) out[at] = Math.floor(r() * 256);
    else if (op === 2) out = out.subarray(0, at);
    else if (op === 3) out = Buffer.concat([out, randomBytes(r, Math.floor(r() * 64))]);
    else if (op === 4 && out.length > 1) out.writeUInt16BE(Math.floor(r() * 65536), Math.min(at, out.length - 2));
    else if (out.length > 0) out[at] = [0, 0xff, 0x7f, 0x80][Math.floor(r() * 4)] as number;
  }
  return out;
}

/** Valid frames of every kind the card decodes, from `mac`/`ip` to `dstMac`/`dst`. */
export function seedFrames(mac: Buffer, ip: number, dstMac: Buffer, dst: number): Buffer[] {
  const eth = (p: Buffer, to: Buffer = dstMac) => buildEthernet(to, mac, ETHERTYPE_IPV4, p);
  const imds = 0xa9fea9fe;
  const http = Buffer.from('PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n\r\n');
  const dhcp = buildDhcp({ op: 1, xid: 1, flags: 0, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: mac, options: [[OPT_MESSAGE_TYPE, Buffer.from([3])], [OPT_REQUESTED_IP, u32(ip)]] });
  return [
    buildEthernet(BROADCAST_MAC, mac, ETHERTYPE_ARP, buildArp({ op: ARP_REQUEST, senderMac: mac, senderIp: ip, targetMac: Buffer.alloc(6), targetIp: dst })),
    buildEthernet(BROADCAST_MAC, mac, ETHERTYPE_IPV4, buildIpv4({ src: 0, dst: 0xffffffff, protocol: IPPROTO_UDP }, buildUdp(0, 0xffffffff, 68, 67, dhcp))),
    eth(buildIpv4({ src: ip, dst, protocol: IPPROTO_ICMP }, buildIcmp(8, 0, Buffer.from([0, 1, 0, 1]), Buffer.from('fuzz')))),
    eth(buildIpv4({ src: ip, dst, protocol: IPPROTO_UDP }, buildUdp(ip, dst, 1000, 2000, Buffer.from('payload')))),
    eth(buildIpv4({ src: ip, dst, protocol: IPPROTO_TCP }, buildTcp(ip, dst, { srcPort: 1000, dstPort: 22, seq: 1, ack: 0, flags: TCP_SYN, window: 1000, mss: 1460 }))),
    eth(buildIpv4({ src: ip, dst: imds, protocol: IPPROTO_TCP }, buildTcp(ip, imds, { srcPort: 1001, dstPort: 80, seq: 1, ack: 0, flags: TCP_SYN, window: 1000 }))),
    eth(buildIpv4({ src: ip, dst: imds, protocol: IPPROTO_TCP }, buildTcp(ip, imds, { srcPort: 1001, dstPort: 80, seq: 2, ack: 5, flags: TCP_ACK | TCP_PSH, window: 1000 }, http))),
    // A question to the VPC resolver at 169.254.169.253 (src/vpc/dns).
    eth(buildIpv4({ src: ip, dst: 0xa9fea9fd, protocol: IPPROTO_UDP }, buildUdp(ip, 0xa9fea9fd, 1002, 53, buildQuery(7, 'ip-10-0-0-10.local-1.compute.internal', TYPE_A)))),
  ];
}
