// The shapes the controller (and through it the region) hands to the VPC card: an ENI with its
// metadata service, and a security group's rules. Types only: the card checks the values
// (src/vpc/model.ts), and the controller's command parser shares these declarations.

export type HttpTokens = 'optional' | 'required';
export type HttpEndpoint = 'enabled' | 'disabled';

export interface PublicKey {
  readonly name: string;
  /** The OpenSSH public key line. */
  readonly openssh: string;
}

export interface ImdsConfig {
  readonly instanceId: string;
  readonly amiId?: string;
  readonly instanceType?: string;
  readonly region?: string;
  readonly availabilityZone?: string;
  readonly accountId?: string;
  /** ISO time the instance was launched (identity document pendingTime). */
  readonly pendingTime?: string;
  /** User data, base64 (as RunInstances takes it). Absent: 404 on /latest/user-data. */
  readonly userDataBase64?: string;
  readonly publicKeys?: readonly PublicKey[];
  /** Group names served at meta-data/security-groups. */
  readonly securityGroupNames?: readonly string[];
  readonly deviceNumber?: number;
  /** The reservation the instance was launched in (meta-data/reservation-id). */
  readonly reservationId?: string;
  readonly httpTokens: HttpTokens;
  /** 1..64: the IP TTL of the token PUT response. */
  readonly hopLimit: number;
  readonly endpoint: HttpEndpoint;
  /**
   * PEM private key (PKCS#8 or traditional, RSA or EC P-256) that signs the instance identity
   * document; the region provides it. Absent: /signature answers 404.
   */
  readonly identitySigningKeyPem?: string;
  /** Extra meta-data leaves, path (relative to meta-data/) → value. */
  readonly extraMetadata?: Readonly<Record<string, string>>;
  /** meta-data/public-hostname (EC2's ec2-a-b-c-d.<region>.compute.amazonaws.com form); absent → 404. */
  readonly publicHostname?: string;
}

export interface EniConfig {
  readonly eniId: string; // eni-…
  readonly mac: string; // aa:bb:cc:dd:ee:ff, unicast
  readonly ip: string; // primary private IPv4
  readonly subnetCidr: string; // e.g. 172.31.16.0/20
  readonly subnetId?: string;
  readonly vpcId: string;
  readonly vpcCidr?: string;
  readonly securityGroups: readonly string[]; // group ids
  readonly sourceDestCheck: boolean;
  readonly hostname: string;
  readonly mtu: number; // 576..9001
  readonly dns?: readonly string[];
  readonly domainName?: string;
  readonly imds?: ImdsConfig;
  /**
   * The public IPv4 address (a public or Elastic IP) the VPC edge maps one-to-one onto `ip`, in
   * both directions. Absent: the ENI has no public address, so nothing from outside reaches it
   * and it has no path out.
   */
  readonly publicIp?: string;
  /**
   * Whether the ENI's subnet route table sends 0.0.0.0/0 to an internet gateway attached to the
   * VPC. Without it the edge drops (and counts) traffic both ways even when publicIp is set.
   */
  readonly internetRoute?: boolean;
}

/**
 * The host's public side: a Linux network interface the card owns (a TAP device it opens by name),
 * the prefix on it and the next hop for addresses off that prefix. Public IPs mapped on this host
 * are answered for (ARP) on this interface.
 */
export interface PublicSideConfig {
  readonly iface: string;
  /** e.g. 198.51.100.0/24 — the on-link prefix of the public side. */
  readonly cidr: string;
  /** The next hop for destinations outside cidr (e.g. the host's 198.51.100.1). */
  readonly gateway: string;
}

/**
 * Fields updateEni may change; an absent field stays as it is. `publicIp: null` removes the
 * ENI's public address (the one removal a patch can say): the edge stops answering for it at once.
 */
export type EniUpdate = Partial<Pick<EniConfig, 'securityGroups' | 'sourceDestCheck' | 'hostname' | 'mtu' | 'dns' | 'domainName' | 'imds' | 'internetRoute'>> & { readonly publicIp?: string | null };

export type SgProtocol = 'tcp' | 'udp' | 'icmp' | 'all';

export interface SgRule {
  readonly protocol: SgProtocol;
  /** tcp/udp: port range; icmp: fromPort = type, toPort = code; -1 or absent = all. */
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly cidrs?: readonly string[];
  /** Source (ingress) or destination (egress) security groups. */
  readonly groupIds?: readonly string[];
}

export interface GroupRules {
  readonly ingress: readonly SgRule[];
  readonly egress: readonly SgRule[];
}
