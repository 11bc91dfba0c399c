// Carries the region's VPC state to the hosts' VPC cards, through the controllers (which
// never dial out: the region sends, they answer):
//   - before instance.start: eni.put with the ENI (MAC, address, subnet, VPC, groups,
//     SourceDestCheck, hostname, MTU), the IMDS configuration (instance metadata, user data,
//     options, the region's identity-signing key) and every group of the VPC with its rules
//     and members; the card creates the ENI's socket and the spec's nics point QEMU at it;
//   - after a rule, membership or attribute change: vpc.rules / eni.put to every host with a
//     live ENI in that VPC, at once (no polling), so a change reaches the cards well within a
//     second;
//   - after an edge change (an Elastic or public IP mapped or unmapped, a gateway attached or
//     detached, a route or subnet association changed, DNS hostnames switched): eni.put again,
//     whose EniConfig carries publicIp (absent: none), internetRoute (always a boolean) and
//     imds.publicHostname (src/region/ec2/edge/);
//   - after a stop or a termination: eni.remove (on the host it ran on, and as a remote ENI on
//     its peers), so no card keeps answering for the public address of an instance it does not run.
// The identity-document key is the region's own P-256 key, $NITRIDE_HOME/region/imds-signing-key.pem
// (public half beside it as imds-signing-key.pub.pem, for users to verify signatures).
import type { InstanceSpec } from '../../hypervisor/protocol/messages.js';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { GroupState } from '../../controller/protocol/vpc-commands.js';
import type { EniConfig, SgRule } from '../../vpc/model.js';
import type { Collection } from '../repo.js';
import type { HostFleet } from './instances.js';
import { REGION_NAME, type InstanceRecord } from './model.js';
import { blockDeviceMetadata } from './root-volumes.js';
import type { EniRecord, RuleRecord, VpcChange, VpcService } from './vpc.js';
import type { EniEdge } from './edge/index.js';

/** What VpcHostSync reads from the VPC edge (EdgeService). */
export interface EdgeView {
  eniEdge(e: EniRecord): EniEdge;
  dnsAttributes(vpcId: string): { readonly enableDnsSupport: boolean; readonly enableDnsHostnames: boolean };
}
import { dhcpDnsOptions, vpcDnsParams } from './vpc-dns.js';

const log = createLogger('region.vpc-host-sync');

/** Guest MTU handed out by DHCP: room for the underlay's encapsulation (src/vpc/underlay). */
export const GUEST_MTU = 1420;

export function imdsKeyPaths(home: string): { privatePem: string; publicPem: string } {
  const dir = join(home, 'region');
  return { privatePem: join(dir, 'imds-signing-key.pem'), publicPem: join(dir, 'imds-signing-key.pub.pem') };
}

/** The region's identity-document signing key (EC P-256), created on first use. */
export function loadOrCreateImdsKey(home: string): string {
  const p = imdsKeyPaths(home);
  if (!existsSync(p.privatePem)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(p.privatePem, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const pem = readFileSync(p.privatePem, 'utf8');
  writeFileSync(p.publicPem, createPublicKey(pem).export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return pem;
}

function cardRule(r: RuleRecord): SgRule {
  return {
    protocol: r.protocol === '-1' ? 'all' : (r.protocol as SgRule['protocol']),
    fromPort: r.fromPort,
    toPort: r.toPort,
    ...(r.cidr !== undefined ? { cidrs: [r.cidr] } : {}),
    ...(r.groupId !== undefined ? { groupIds: [r.groupId] } : {}),
  };
}

/** Host-pair underlay secrets are replaced this often (NITRIDE_UNDERLAY_ROTATE_MS). */
export const ROTATE_MS = Number(process.env['NITRIDE_UNDERLAY_ROTATE_MS'] ?? 3_600_000);

/** The VPC's number on the underlay (carried, authenticated, in every datagram). */
export const vniOf = (vpcId: string): number => parseInt(vpcId.slice(-8), 16) || 1;

interface PairKey {
  secret: string;
  epoch: number;
}

const live = (r: InstanceRecord | undefined): r is InstanceRecord & { hostId: string } =>
  r !== undefined && r.hostId !== undefined && (r.state === 'pending' || r.state === 'running' || r.state === 'stopping');

export class VpcHostSync {
  private seq = 0;
  /** Underlay state: each host's bridge port, the secret of each host pair, who peers with whom. */
  private readonly bridgePorts = new Map<string, number>();
  private readonly pairs = new Map<string, PairKey>();
  private readonly peersOf = new Map<string, Set<string>>();
  private lastEpoch = 0;
  private rotateTimer: NodeJS.Timeout | undefined;
  private rejoinTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly vpc: VpcService,
    private readonly instances: Collection<InstanceRecord>,
    private readonly fleet: HostFleet,
    private readonly signingKeyPem: string,
    /** The VPC edge's part of an ENI's configuration and a VPC's DNS attributes (EdgeService); absent: no public side, EC2's default attributes. */
    private readonly edgeView?: EdgeView,
  ) {}

  groupStates(vpcId: string): GroupState[] {
    return this.vpc.groupsOfVpc(vpcId).map((g) => ({
      groupId: g.id,
      rules: { ingress: g.ingress.map(cardRule), egress: g.egress.map(cardRule) },
      members: this.vpc.membersOf(g.id),
    }));
  }

  eniConfig(e: EniRecord, r: InstanceRecord): EniConfig {
    const subnet = this.vpc.c.subnets.get(e.subnetId);
    const vpc = this.vpc.c.vpcs.get(e.vpcId);
    const edge = this.edgeView?.eniEdge(e);
    return {
      eniId: e.id,
      mac: e.mac,
      ip: e.privateIp,
      subnetCidr: subnet?.cidrBlock ?? `${e.privateIp}/32`,
      subnetId: e.subnetId,
      vpcId: e.vpcId,
      ...(vpc ? { vpcCidr: vpc.cidrBlock } : {}),
      securityGroups: [...e.groups],
      sourceDestCheck: e.sourceDestCheck,
      hostname: `ip-${e.privateIp.replace(/\./g, '-')}`,
      ...dhcpDnsOptions(vpc?.cidrBlock),
      mtu: GUEST_MTU,
      ...(edge ? { internetRoute: edge.internetRoute, ...(edge.publicIp !== undefined ? { publicIp: edge.publicIp } : {}) } : {}),
      imds: {
        instanceId: r.id,
        amiId: r.imageId,
        instanceType: r.instanceType,
        region: REGION_NAME,
        availabilityZone: r.availabilityZone,
        accountId: r.accountId,
        pendingTime: r.launchTime,
        reservationId: r.reservationId,
        ...(r.userData !== undefined ? { userDataBase64: r.userData } : {}),
        ...(r.keyName !== undefined && r.publicKey !== undefined ? { publicKeys: [{ name: r.keyName, openssh: r.publicKey }] } : {}),
        securityGroupNames: e.groups.map((g) => this.vpc.c.groups.get(g)?.name ?? g),
        httpTokens: r.metadataOptions.httpTokens,
        hopLimit: r.metadataOptions.httpPutResponseHopLimit,
        endpoint: r.metadataOptions.httpEndpoint,
        identitySigningKeyPem: this.signingKeyPem,
        ...(r.rootDevice ? { extraMetadata: blockDeviceMetadata(r) } : {}),
        ...(edge?.publicHostname !== undefined ? { publicHostname: edge.publicHostname } : {}),
      },
    };
  }

  /** The EniConfig eni.put carries for an instance's ENI now (undefined: no instance or no ENI). */
  configOf(instanceId: string): EniConfig | undefined {
    const r = this.instances.get(instanceId);
    const e = this.vpc.eniOfInstance(instanceId);
    return r && e ? this.eniConfig(e, r) : undefined;
  }

  private cmdId(kind: string, key: string): string {
    return `vpc:${kind}:${key}:${Date.now()}:${this.seq++}`;
  }

  /** Before instance.start: the card gets the ENI; returns the spec's nics. */
  async beforeStart(r: InstanceRecord): Promise<Pick<InstanceSpec, 'nics'>> {
    const e = this.vpc.eniOfInstance(r.id);
    if (!e || r.hostId === undefined) return {};
    const res = await this.fleet.send(r.hostId, 'eni.put', { eni: this.eniConfig(e, r), groups: this.groupStates(e.vpcId) }, { id: this.cmdId('put', e.id) });
    // Other hosts' cards learn the new member of the groups.
    this.pushRules(e.vpcId, r.hostId);
    await this.pushDns(e.vpcId, r.hostId);
    try {
      await this.joinUnderlay(e, r.hostId);
    } catch (err) {
      log.warn('the underlay could not be set up for this ENI; it reaches only its own host for now', { eniId: e.id, error: describeError(err) });
    }
    return { nics: [{ mac: e.mac, socketPath: res.socketPath }] };
  }

  // ---- the underlay between hosts ----------------------------------------------------

  private pairId(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private nextEpoch(): number {
    // Seconds since 1970, strictly increasing: a restarted region never reuses an epoch.
    this.lastEpoch = Math.max(this.lastEpoch + 1, Math.floor(Date.now() / 1000));
    return this.lastEpoch >>> 0;
  }

  private pairKey(a: string, b: string): PairKey {
    const id = this.pairId(a, b);
    let k = this.pairs.get(id);
    if (!k) {
      k = { secret: randomBytes(32).toString('base64'), epoch: this.nextEpoch() };
      this.pairs.set(id, k);
      if (!this.rotateTimer && ROTATE_MS > 0) {
        this.rotateTimer = setInterval(() => void this.rotate().catch((e: unknown) => log.warn('underlay key rotation failed', { error: describeError(e) })), ROTATE_MS);
        this.rotateTimer.unref();
      }
    }
    return k;
  }

  private async bridgePort(hostId: string): Promise<number> {
    const have = this.bridgePorts.get(hostId);
    if (have !== undefined) return have;
    const res = await this.fleet.send(hostId, 'vpc.keys', { peers: [] }, { id: this.cmdId('keys', hostId) });
    this.bridgePorts.set(hostId, res.port);
    return res.port;
  }

  /** Sends a host its current keys for every peer it has. */
  private async sendKeys(hostId: string): Promise<void> {
    const hosts = new Map(this.fleet.hosts().map((h) => [h.id, h]));
    const peers = [];
    for (const p of this.peersOf.get(hostId) ?? []) {
      const h = hosts.get(p);
      const port = this.bridgePorts.get(p);
      if (!h || port === undefined) continue;
      const k = this.pairKey(hostId, p);
      peers.push({ hostId: p, address: h.address, port, secret: k.secret, epoch: k.epoch });
    }
    await this.fleet.send(hostId, 'vpc.keys', { peers }, { id: this.cmdId('keys', hostId) });
  }

  /** New host-pair secrets under a new epoch, delivered to both hosts of every pair. */
  async rotate(): Promise<void> {
    for (const id of this.pairs.keys()) this.pairs.set(id, { secret: randomBytes(32).toString('base64'), epoch: this.nextEpoch() });
    for (const h of this.peersOf.keys()) await this.sendKeys(h);
  }

  private remoteConfig(e: EniRecord): EniConfig {
    const r = e.instanceId ? this.instances.get(e.instanceId) : undefined;
    // Only the host that runs the instance answers for its public address: a remote ENI has none.
    const { imds: _imds, publicIp: _publicIp, internetRoute: _internetRoute, ...cfg } = this.eniConfig(e, r ?? ({ metadataOptions: { httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' } } as InstanceRecord));
    return cfg;
  }

  /**
   * The ENI's host and every other host with a live ENI of the same VPC: bridges started,
   * keys for the new pairs delivered, and each side's ENIs added to the other's card.
   */
  private async joinUnderlay(e: EniRecord, hostId: string): Promise<void> {
    const others = new Map<string, EniRecord[]>();
    for (const x of this.vpc.c.enis.all()) {
      if (x.vpcId !== e.vpcId || x.id === e.id || !x.instanceId) continue;
      const r = this.instances.get(x.instanceId);
      if (!live(r) || r.hostId === hostId) continue;
      others.set(r.hostId, [...(others.get(r.hostId) ?? []), x]);
    }
    if (others.size === 0) return;
    await this.bridgePort(hostId);
    for (const o of others.keys()) {
      await this.bridgePort(o);
      this.peersOf.set(hostId, new Set([...(this.peersOf.get(hostId) ?? []), o]));
      this.peersOf.set(o, new Set([...(this.peersOf.get(o) ?? []), hostId]));
    }
    await this.sendKeys(hostId);
    for (const o of others.keys()) await this.sendKeys(o);
    const vni = vniOf(e.vpcId);
    const groups = this.groupStates(e.vpcId);
    for (const [o, enis] of others) {
      await this.fleet.send(o, 'vpc.rules', { groups, deleted: [] }, { id: this.cmdId('rules', o) });
      await this.fleet.send(o, 'vpc.remote', { eni: this.remoteConfig(e), hostId, vni }, { id: this.cmdId('remote', e.id) });
      for (const x of enis) await this.fleet.send(hostId, 'vpc.remote', { eni: this.remoteConfig(x), hostId: o, vni }, { id: this.cmdId('remote', x.id) });
    }
  }

  close(): void {
    if (this.rotateTimer) clearInterval(this.rotateTimer);
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    this.rejoinTimer = undefined;
  }

  /**
   * After a region start. Host-pair secrets are kept in no store (not even sealed): a region
   * that starts again knows none, so the hosts would keep sealing under the last epoch the
   * previous region gave them, and rotate() would never reach them. Instead every VPC whose
   * live ENIs span several hosts is joined again: each pair gets a fresh secret under a new
   * epoch (the bridges keep the previous epoch for opening during the switch), bridges that
   * died with a restarted controller come back, and remote ENIs are re-sent (idempotent on
   * the host). A VPC whose hosts do not all answer is retried every `retryMs`.
   */
  startRejoin(firstDelayMs = 500, retryMs = 10_000): void {
    const attempt = (): void => {
      this.rejoinTimer = undefined;
      void this.rejoin().then(
        (r) => {
          if (r.failed > 0) schedule(retryMs);
        },
        () => schedule(retryMs),
      );
    };
    const schedule = (ms: number): void => {
      if (this.rejoinTimer) return;
      this.rejoinTimer = setTimeout(attempt, ms);
      this.rejoinTimer.unref();
    };
    schedule(firstDelayMs);
  }

  /** Joins again the hosts of every VPC that spans several (see startRejoin). */
  async rejoin(): Promise<{ joined: number; failed: number }> {
    let joined = 0;
    let failed = 0;
    for (const v of this.vpc.c.vpcs.all()) {
      const byHost = new Map<string, EniRecord>();
      for (const e of this.vpc.c.enis.all()) {
        if (e.vpcId !== v.id || !e.instanceId) continue;
        const r = this.instances.get(e.instanceId);
        if (live(r) && !byHost.has(r.hostId)) byHost.set(r.hostId, e);
      }
      if (byHost.size < 2) continue;
      try {
        for (const [h, e] of byHost) await this.joinUnderlay(e, h);
        joined++;
      } catch (err) {
        failed++;
        log.warn('rejoining the underlay of a VPC failed; retrying', { vpcId: v.id, error: describeError(err) });
      }
    }
    if (joined > 0) log.info('underlay rejoined after the region start', { vpcs: joined, failed });
    return { joined, failed };
  }

  /** After a stop or a termination: the ENI leaves every card (the next start puts it again). */
  async released(r: InstanceRecord, eniId: string | undefined, vpcId: string | undefined): Promise<void> {
    if (r.hostId === undefined || eniId === undefined) return;
    try {
      await this.fleet.send(r.hostId, 'eni.remove', { eniId }, { id: this.cmdId('remove', eniId) });
    } catch (e) {
      log.warn('eni.remove failed', { eniId, error: describeError(e) });
    }
    // The other hosts' cards drop it too (it was a remote ENI there).
    for (const o of this.peersOf.get(r.hostId) ?? []) {
      await this.fleet.send(o, 'eni.remove', { eniId }, { id: this.cmdId('remove', eniId) }).catch((e: unknown) => log.warn('remote eni.remove failed', { hostId: o, eniId, error: describeError(e) }));
    }
    if (vpcId) {
      this.pushRules(vpcId);
      void this.pushDns(vpcId);
    }
  }

  /**
   * The VPC's DNS attributes and the names of its live instances, to every host with an ENI in
   * it (vpc.dns, src/region/ec2/vpc-dns.ts). Call it after a change of either. Resolves once
   * `waitFor` (a launching instance's host) has them; the other hosts get them in the background.
   */
  async pushDns(vpcId: string, waitFor?: string): Promise<void> {
    const v = this.vpc.c.vpcs.get(vpcId);
    if (!v) return;
    const enis = [];
    for (const e of this.vpc.c.enis.all()) {
      const r = e.vpcId === vpcId && e.instanceId ? this.instances.get(e.instanceId) : undefined;
      if (live(r)) enis.push(this.eniConfig(e, r));
    }
    const params = vpcDnsParams(v, enis, this.edgeView?.dnsAttributes(vpcId));
    let mine: Promise<unknown> | undefined;
    for (const h of this.hostsOf(vpcId)) {
      const p = this.fleet.send(h, 'vpc.dns', params, { id: this.cmdId('dns', vpcId) }).catch((err: unknown) => log.warn('vpc.dns failed; the next change or launch carries it again', { hostId: h, vpcId, error: describeError(err) }));
      if (h === waitFor) mine = p;
    }
    await mine;
  }

  /** Hosts with a live ENI in this VPC. */
  private hostsOf(vpcId: string): Set<string> {
    const hosts = new Set<string>();
    for (const e of this.vpc.c.enis.all()) {
      if (e.vpcId !== vpcId || !e.instanceId) continue;
      const r = this.instances.get(e.instanceId);
      if (live(r)) hosts.add(r.hostId);
    }
    return hosts;
  }

  private pushRules(vpcId: string, except?: string, deleted: readonly string[] = []): void {
    const groups = this.groupStates(vpcId);
    for (const h of this.hostsOf(vpcId)) {
      if (h === except) continue;
      void this.fleet
        .send(h, 'vpc.rules', { groups, deleted: [...deleted] }, { id: this.cmdId('rules', vpcId) })
        .catch((e: unknown) => log.warn('vpc.rules failed; the next change or launch carries it again', { hostId: h, vpcId, error: describeError(e) }));
    }
  }

  private pushEni(e: EniRecord): void {
    const r = e.instanceId ? this.instances.get(e.instanceId) : undefined;
    if (!live(r)) return;
    void this.fleet
      .send(r.hostId, 'eni.put', { eni: this.eniConfig(e, r), groups: this.groupStates(e.vpcId) }, { id: this.cmdId('put', e.id) })
      .catch((err: unknown) => log.warn('eni.put failed', { eniId: e.id, error: describeError(err) }));
  }

  /** VpcService.onChange: push what changed to the hosts that need it. */
  onChange(c: VpcChange): void {
    if (c.kind === 'group') {
      const g = this.vpc.c.groups.get(c.groupId);
      if (g) this.pushRules(g.vpcId);
      else for (const v of this.vpc.c.vpcs.all()) this.pushRules(v.id, undefined, [c.groupId]);
    } else if (c.kind === 'eni') {
      const e = this.vpc.c.enis.get(c.eniId);
      if (e) {
        this.pushEni(e);
        this.pushRules(e.vpcId);
        void this.pushDns(e.vpcId);
      }
    } else {
      const e = this.vpc.eniOfInstance(c.instanceId);
      if (e) this.pushEni(e);
    }
  }
}
