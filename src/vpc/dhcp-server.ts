// The DHCP server of one ENI: it leases the ENI's own address and nothing else. DISCOVER
// gets an OFFER, a REQUEST for the ENI's address an ACK, a REQUEST for anything else a
// NAK; INFORM gets the options without an address. Pure: message in, message out.
import {
  buildDhcp,
  DHCPACK,
  DHCPDISCOVER,
  DHCPINFORM,
  DHCPNAK,
  DHCPOFFER,
  DHCPREQUEST,
  messageType,
  optionIp,
  OPT_BROADCAST,
  OPT_DNS,
  OPT_DOMAIN_NAME,
  OPT_HOSTNAME,
  OPT_LEASE_TIME,
  OPT_MESSAGE,
  OPT_MESSAGE_TYPE,
  OPT_MTU,
  OPT_REBINDING_TIME,
  OPT_RENEWAL_TIME,
  OPT_REQUESTED_IP,
  OPT_ROUTER,
  OPT_SERVER_ID,
  OPT_SUBNET_MASK,
  u16,
  u32,
  type DhcpMessage,
} from './protocol/dhcp.js';
import { ipToInt } from './protocol/addr.js';

export const LEASE_SECONDS = 3600;

export interface DhcpLeaseFacts {
  readonly ip: number;
  readonly mask: number;
  readonly gateway: number;
  readonly mtu: number;
  readonly hostname: string;
  readonly dns?: readonly string[];
  readonly domainName?: string;
}

export interface DhcpAnswer {
  readonly reply: Buffer;
  /** Send to 255.255.255.255 (else to the leased address). */
  readonly broadcast: boolean;
  readonly type: number;
}

/** The server's answer to one client message, or undefined when it gets none. */
export function answerDhcp(m: DhcpMessage, f: DhcpLeaseFacts): DhcpAnswer | undefined {
  if (m.op !== 1) return undefined;
  const type = messageType(m);
  const serverId = optionIp(m, OPT_SERVER_ID);
  let replyType: number;
  let yiaddr = f.ip;
  if (type === DHCPDISCOVER) replyType = DHCPOFFER;
  else if (type === DHCPREQUEST) {
    // A REQUEST naming another server means the client chose that server's offer.
    if (serverId !== undefined && serverId !== f.gateway) return undefined;
    const requested = optionIp(m, OPT_REQUESTED_IP) ?? m.ciaddr;
    replyType = requested === f.ip ? DHCPACK : DHCPNAK;
  } else if (type === DHCPINFORM) {
    replyType = DHCPACK;
    yiaddr = 0;
  } else return undefined;

  const opts: (readonly [number, Uint8Array])[] = [
    [OPT_MESSAGE_TYPE, Buffer.from([replyType])],
    [OPT_SERVER_ID, u32(f.gateway)],
  ];
  if (replyType === DHCPNAK) {
    opts.push([OPT_MESSAGE, Buffer.from('requested address is not this interface\'s address')]);
  } else {
    if (type !== DHCPINFORM) {
      opts.push([OPT_LEASE_TIME, u32(LEASE_SECONDS)], [OPT_RENEWAL_TIME, u32(LEASE_SECONDS / 2)], [OPT_REBINDING_TIME, u32((LEASE_SECONDS * 7) / 8)]);
    }
    opts.push(
      [OPT_SUBNET_MASK, u32(f.mask)],
      [OPT_ROUTER, u32(f.gateway)],
      [OPT_BROADCAST, u32((f.ip | ~f.mask) >>> 0)],
      [OPT_MTU, u16(f.mtu)],
      [OPT_HOSTNAME, Buffer.from(f.hostname)],
    );
    if (f.dns && f.dns.length > 0) opts.push([OPT_DNS, Buffer.concat(f.dns.map((d) => u32(ipToInt(d))))]);
    if (f.domainName) opts.push([OPT_DOMAIN_NAME, Buffer.from(f.domainName)]);
  }
  const reply = buildDhcp({
    op: 2,
    xid: m.xid,
    flags: m.flags,
    ciaddr: m.ciaddr,
    yiaddr: replyType === DHCPNAK ? 0 : yiaddr,
    siaddr: 0,
    giaddr: m.giaddr,
    chaddr: m.chaddr,
    options: opts,
  });
  const broadcast = replyType === DHCPNAK || (m.ciaddr === 0 && (m.flags & 0x8000) !== 0);
  return { reply, broadcast, type: replyType };
}
