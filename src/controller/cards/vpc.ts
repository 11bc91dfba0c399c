// The controller's side of the VPC card: supervises the card process (ComponentSupervisor
// 'vpc', forked with an IPC channel and the ENI socket directory) and turns the region's VPC
// commands into card requests. The socket directory lives outside $NITRIDE_HOME (which is
// 0700) because QEMU, running as nitride-qemu, must be able to reach it: /tmp/nitride-vpc-<id>/
// with 0711 on the parent and the card's 0710 + group nitride-qemu on the directory itself.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { forkChild, type ChildChannel } from '../../lib/channel/child.js';
import { giveToComponent } from '../../lib/privileges.js';
import type { Logger } from '../../lib/log.js';
import { distEntry } from '../../lib/paths.js';
import type { EniConfig } from '../../vpc/protocol/config.js';
import type { VpcContract } from '../../vpc/protocol/messages.js';
import type { PublicSideConfig } from '../../vpc/model.js';
import type { UnderlayContract } from '../../vpc/protocol/underlay.js';
import type { RemoteEni, UnderlayPeer } from '../../vpc/underlay/bridge.js';
import { ControllerError } from '../errors.js';
import type { UnderlayState } from '../protocol/takeover.js';
import type { GroupState, VpcCommandBody, VpcCommandResults } from '../protocol/vpc-commands.js';

export type { UnderlayState };
import { ComponentSupervisor, type ComponentEvent, type ComponentStatus } from '../supervisor.js';

/** What a live update of the card did (also returned by `host.restart-component vpc`). */
export interface VpcLiveUpdateResult extends ComponentStatus {
  readonly liveUpdate: {
    readonly oldPid: number | undefined;
    readonly enis: number;
    readonly sockets: number;
    readonly frozenMs: number;
    /** Bytes of guest frames the old card had read only in part, carried to the new card. */
    readonly pendingBytes: number;
  };
}

export interface HostVpcCardOptions {
  readonly home: string;
  readonly log: Logger;
  readonly entry?: string;
  readonly onLifecycle?: (e: Record<string, unknown>) => void;
  readonly onEvent?: (e: ComponentEvent) => void;
  /** This host's id (the underlay's sender identity) and the address its bridge binds to. */
  readonly hostId?: () => string;
  readonly listenAddress?: string;
  /** The VPC edge's public side the card attaches (edge.attach), after each start of the card. */
  readonly publicSide?: PublicSideOptions;
}

/**
 * The public side of this host: a TAP device the card opens by name, and optionally the
 * host's own address on it (`hostAddress`, e.g. 198.51.100.1/24: the host-only network `nitride
 * start` sets up by default, with forwarding off for packets arriving on it, so nothing from
 * the instances leaves the host unless the operator routes it).
 */
export interface PublicSideOptions extends PublicSideConfig {
  readonly hostAddress?: string;
}

const IP_TOOL = '/usr/sbin/ip';
const run = promisify(execFile);

/** The host's underlay bridge (src/vpc/underlay/main.ts), forked on the first vpc.keys. */
type BridgeProcess = ChildChannel<UnderlayContract>;

/** The per-home socket directory the card listens in (short enough for unix socket paths). */
export function vpcSocketDir(home: string): string {
  const id = createHash('sha256').update(resolve(home)).digest('hex').slice(0, 12);
  return join(tmpdir(), `nitride-vpc-${id}`, 'sockets');
}

/** The underlay bridge's restart backoff: from 200 ms, doubling, at most 5 s. */
const BRIDGE_BACKOFF_MS = [200, 400, 800, 1600, 3200, 5000] as const;

type RemoteParams = RemoteEni;


/** The VPC card as the controller drives it, with the host's underlay bridge. */
/**
 * The VPC edge's fields of an eni.put, as an eni.update patch (docs/VPC.md, "The edge on the
 * wire"). The region sends internetRoute (a boolean) with every ENI once the edge exists, and
 * publicIp only while the ENI has one: so when internetRoute is present, an absent publicIp means
 * the address is gone and the patch clears it with publicIp: null. An eni.put without
 * internetRoute (an older region) leaves both untouched.
 */
export function edgePatch(e: EniConfig): { internetRoute?: boolean; publicIp?: string | null } {
  if (e.internetRoute === undefined) return e.publicIp !== undefined ? { publicIp: e.publicIp } : {};
  return { internetRoute: e.internetRoute, publicIp: e.publicIp ?? null };
}

export class HostVpcCard {
  readonly supervisor: ComponentSupervisor<VpcContract>;
  readonly socketDir: string;
  private bridge: BridgeProcess | undefined;
  private bridgePort = 0;
  /**
   * What the bridge was told, so that a bridge that dies is restarted with it: the same UDP
   * port (the other hosts send there), the region's latest peers and keys, the remote ENIs.
   * The keys are in this process's memory already (they come with vpc.keys); nothing is
   * written to disk. A restarted sender's counters start at the clock (seal.ts), so no GCM
   * nonce repeats under a key that outlived the old process.
   */
  private bridgePeers: UnderlayPeer[] | undefined;
  private readonly remotes = new Map<string, RemoteParams>();
  private bridgeRestarts = 0;
  private bridgeFailures = 0;
  private bridgeTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** The card process the public side was last attached in (a new process needs it again). */
  private edgePid: number | undefined;
  private edgeAttaching: Promise<void> | undefined;

  constructor(private readonly o: HostVpcCardOptions) {
    this.socketDir = vpcSocketDir(o.home);
    const parent = join(this.socketDir, '..');
    mkdirSync(parent, { recursive: true, mode: 0o711 });
    chmodSync(parent, 0o711);
    giveToComponent('vpc', this.socketDir, 0o710); // the card runs as its own user (src/lib/privileges.ts)
    this.supervisor = new ComponentSupervisor<VpcContract>({
      name: 'vpc',
      readyEvent: 'card.ready',
      entry: o.entry ?? distEntry('vpc/main.js'),
      args: ['--socket-dir', this.socketDir],
      log: o.log,
      onEvent: (e) => o.onEvent?.(e),
      onLifecycle: (e) => {
        o.onLifecycle?.({ ...e });
        // Every card process gets the public side as soon as it serves (not at the first command).
        if (e.event === 'started' && o.publicSide && !this.stopping) void this.ready().catch(() => undefined);
      },
    });
  }

  start(): void {
    this.supervisor.start();
  }

  /**
   * Replaces the card process without disconnecting a guest: the new card starts beside the old,
   * the old one stops reading (frames wait in the kernel), and its state and every ENI's
   * listening and guest socket move to the new one, which then reads on. QEMU's stream netdev
   * never sees its connection drop. Connection tracking and counters start afresh.
   */
  async liveUpdate(): Promise<VpcLiveUpdateResult> {
    await this.ready();
    let oldPid: number | undefined;
    let enis = 0;
    let sockets = 0;
    let frozenMs = 0;
    let pendingBytes = 0;
    const status = await this.supervisor.handover(async (from, to) => {
      oldPid = from.pid;
      const t0 = performance.now();
      const state = await from.request('handover.freeze', {}, { timeoutMs: 10_000 });
      let moved = false;
      try {
        await to.request('handover.groups', { groups: state.groups }, { timeoutMs: 10_000 });
        // The edge's public side: the old card closed its TAP device (kept), the new one opens it by name.
        if (state.edge) await to.request('handover.edge', { edge: state.edge }, { timeoutMs: 10_000 });
        for (const d of state.dns ?? []) await to.request('dns.records', { vpcId: d.vpcId, ...d.settings }, { timeoutMs: 10_000 });
        for (const e of state.enis) {
          const server = await from.requestWithHandle('handover.handle', { eniId: e.cfg.eniId, kind: 'server' }, { timeoutMs: 10_000 });
          moved = true;
          await to.request('handover.eni', { eni: e.cfg, conntrack: e.conntrack, imdsTokens: e.imdsTokens }, { handle: server.handle, timeoutMs: 10_000 });
          enis++;
          if (e.connected) {
            const sock = await from.requestWithHandle('handover.handle', { eniId: e.cfg.eniId, kind: 'socket' }, { timeoutMs: 10_000 });
            await to.request('handover.socket', { eniId: e.cfg.eniId, pendingBase64: e.pendingBase64 }, { handle: sock.handle, timeoutMs: 10_000 });
            sockets++;
            pendingBytes += Buffer.from(e.pendingBase64, 'base64').length;
          }
        }
        await to.request('handover.resume', {}, { timeoutMs: 10_000 });
      } catch (err) {
        // Before any handle left, the old card can simply read on; after, it cannot be undone.
        if (!moved) await from.request('handover.thaw', {}, { timeoutMs: 10_000 }).catch(() => undefined);
        throw err;
      }
      frozenMs = performance.now() - t0;
      // The new card took the public side over (handover.edge): no fresh attach needed.
      if (state.edge) this.edgePid = to.pid;
    });
    return { ...status, liveUpdate: { oldPid, enis, sockets, frozenMs: Math.round(frozenMs * 1000) / 1000, pendingBytes } };
  }

  /**
   * Attaches the public side in the card process `pid` (persistent, so the device and the host's
   * address on it outlive card restarts), then gives the host its address there when asked. A
   * failure is logged, not thrown: the host runs on without a public side (the guests' VPC
   * traffic is unaffected), and the next command tries again.
   */
  private async attachPublicSide(pid: number): Promise<void> {
    const s = this.o.publicSide as PublicSideOptions;
    try {
      // A card a predecessor controller attached already keeps its device (no blip).
      const now = await this.supervisor.request('edge.stats', {}, 10_000);
      if (!now.attached || now.iface !== s.iface || now.cidr !== s.cidr || now.gateway !== s.gateway) {
        await this.supervisor.request('edge.attach', { side: { iface: s.iface, cidr: s.cidr, gateway: s.gateway }, persist: true }, 10_000);
      }
      this.edgePid = pid;
      if (s.hostAddress !== undefined) {
        await run(IP_TOOL, ['addr', 'replace', s.hostAddress, 'dev', s.iface]);
        await run(IP_TOOL, ['link', 'set', s.iface, 'up']);
        // Host-only: what arrives on the public side is for the host, never routed on.
        writeFileSync(`/proc/sys/net/ipv4/conf/${s.iface}/forwarding`, '0');
      }
      this.o.log.info('public side attached', { iface: s.iface, cidr: s.cidr, gateway: s.gateway, hostAddress: s.hostAddress ?? null });
    } catch (e) {
      this.o.log.warn('the public side could not be attached', { iface: s.iface, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The edge's state and counters (host.status, tests); undefined without a public side. */
  async edgeStats(): Promise<unknown> {
    if (!this.o.publicSide) return undefined;
    await this.ready();
    return this.supervisor.request('edge.stats', {}, 10_000);
  }

  /** Stops the card (it removes its sockets as it exits) and then its directory. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.bridgeTimer) clearTimeout(this.bridgeTimer);
    await this.endBridge();
    await this.supervisor.stop();
    this.removeSocketDir();
  }

  /** Removes the socket directory (tests; a stopped host). */
  removeSocketDir(): void {
    rmSync(join(this.socketDir, '..'), { recursive: true, force: true });
  }

  private async ready(): Promise<void> {
    // The card answers card.info once its entry point listens on the channel.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const info = await this.supervisor.request('card.info', {}, 2_000);
        if (this.o.publicSide && info.pid !== this.edgePid) {
          // One attach at a time (a start and a command may both get here).
          this.edgeAttaching ??= this.attachPublicSide(info.pid).finally(() => (this.edgeAttaching = undefined));
          await this.edgeAttaching;
        }
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * What the bridge runs with — its UDP port, the region's latest peers and keys, the remote
   * ENIs — for a controller live update: the successor starts its own bridge with it once this
   * one has stopped (stopUnderlay). undefined when no bridge was ever started.
   */
  underlayState(): UnderlayState | undefined {
    return this.bridgePeers ? { listenPort: this.bridgePort, peers: this.bridgePeers, remotes: [...this.remotes.values()] } : undefined;
  }

  /** Stops the bridge for good (no restart): the successor controller's bridge takes the port. */
  async stopUnderlay(): Promise<void> {
    if (this.bridgeTimer) clearTimeout(this.bridgeTimer);
    this.bridgeTimer = undefined;
    this.bridgePeers = undefined;
    await this.endBridge();
  }

  /** Lets the bridge process go: its channel closes (it exits), SIGKILL after 3 s. */
  private async endBridge(): Promise<void> {
    const b = this.bridge;
    this.bridge = undefined;
    if (b && !b.exited) await b.end(3_000);
  }

  /** A controller live update's successor: starts the bridge as the predecessor ran it (same port, keys, remotes). */
  async adoptUnderlay(s: UnderlayState): Promise<{ pid: number | undefined; port: number; remotes: number }> {
    if (!this.o.hostId || !this.o.listenAddress) throw new ControllerError('UnderlayUnavailable', 'unavailable', 'This host has no underlay address.');
    await this.startBridge(s.listenPort, [...s.peers]);
    this.bridgePeers = [...s.peers];
    for (const r of s.remotes) {
      await (this.bridge as BridgeProcess | undefined)?.request('underlay.remote', r);
      this.remotes.set(r.eniId, r);
    }
    return { pid: (this.bridge as BridgeProcess | undefined)?.pid, port: this.bridgePort, remotes: this.remotes.size };
  }

  /** The underlay bridge's pid and restarts (host.status, tests). */
  underlayStatus(): { pid: number | undefined; port: number; restarts: number } {
    return { pid: this.bridge?.pid, port: this.bridgePort, restarts: this.bridgeRestarts };
  }

  /** Forks a bridge, starts it with `peers` on `listenPort`, and watches it for a crash. */
  private async startBridge(listenPort: number, peers: UnderlayPeer[]): Promise<void> {
    const b: BridgeProcess = forkChild<UnderlayContract>(distEntry('vpc/underlay/main.js'), [], { component: 'underlay', readyEvent: 'underlay.ready', timeoutMs: 0 });
    const exited = new Promise<never>((_, reject) => b.child.once('exit', (code, sig) => reject(new ControllerError('UnderlayUnavailable', 'unavailable', `The underlay bridge exited while starting (${code ?? sig}).`))));
    exited.catch(() => undefined);
    try {
      await Promise.race([b.ready, exited]);
      const r = await Promise.race([b.request('underlay.start', { hostId: this.o.hostId!(), listenAddress: this.o.listenAddress as string, listenPort, peers, remoteEnis: [] }), exited]);
      this.bridge = b;
      this.bridgePort = r.port;
    } catch (e) {
      b.child.kill('SIGKILL');
      throw e;
    }
    b.child.once('exit', (code, signal) => {
      if (this.stopping || this.bridge !== b) return;
      this.bridge = undefined;
      this.o.log.warn('underlay bridge exited; restarting it', { code, signal, restarts: this.bridgeRestarts });
      this.o.onLifecycle?.({ component: 'underlay', event: 'exited', code, signal });
      this.scheduleBridgeRestart();
    });
  }

  private scheduleBridgeRestart(): void {
    if (this.stopping || this.bridgeTimer) return;
    const delay = BRIDGE_BACKOFF_MS[Math.min(this.bridgeFailures, BRIDGE_BACKOFF_MS.length - 1)]!;
    this.bridgeTimer = setTimeout(() => {
      this.bridgeTimer = undefined;
      void this.restartBridge();
    }, delay);
    this.bridgeTimer.unref();
  }

  /** Brings the bridge back as it was: same port, the latest peers, every remote ENI still on the card. */
  private async restartBridge(): Promise<void> {
    if (this.stopping || this.bridge || !this.bridgePeers) return;
    try {
      await this.startBridge(this.bridgePort, this.bridgePeers);
      const onCard = new Set((await this.supervisor.request('eni.list', {}, 10_000)).map((e) => e.eniId));
      for (const [id, r] of this.remotes) {
        if (!onCard.has(id)) {
          this.remotes.delete(id);
          continue;
        }
        await (this.bridge as BridgeProcess | undefined)?.request('underlay.remote', r);
      }
      this.bridgeRestarts++;
      this.bridgeFailures = 0;
      const pid = (this.bridge as BridgeProcess | undefined)?.pid;
      this.o.log.info('underlay bridge restarted', { pid, port: this.bridgePort, remotes: this.remotes.size, restarts: this.bridgeRestarts });
      this.o.onLifecycle?.({ component: 'underlay', event: 'restarted', pid, restarts: this.bridgeRestarts });
    } catch (e) {
      this.bridgeFailures++;
      this.o.log.warn('underlay bridge restart failed; retrying', { error: e instanceof Error ? e.message : String(e), failures: this.bridgeFailures });
      const b = this.bridge as BridgeProcess | undefined;
      this.bridge = undefined;
      if (b) b.child.kill('SIGKILL');
      this.scheduleBridgeRestart();
    }
  }

  private async applyGroups(groups: readonly GroupState[]): Promise<void> {
    for (const g of groups) {
      await this.supervisor.request('sg.set', { groupId: g.groupId, rules: g.rules }, 10_000);
      await this.supervisor.request('sg.members', { groupId: g.groupId, ips: g.members }, 10_000);
    }
  }

  async execute<C extends VpcCommandBody>(c: C): Promise<VpcCommandResults[C['type']]>;
  async execute(c: VpcCommandBody): Promise<VpcCommandResults[VpcCommandBody['type']]> {
    await this.ready();
    switch (c.type) {
      case 'eni.put': {
        await this.applyGroups(c.params.groups);
        const e = c.params.eni;
        const known = await this.supervisor.request('eni.list', {}, 10_000);
        const have = known.find((k) => k.eniId === e.eniId);
        if (have && (have.mac !== e.mac || have.ip !== e.ip)) {
          throw new ControllerError('EniConflict', 'conflict', 'The ENI exists on this host with another MAC or address.', { eniId: e.eniId });
        }
        if (have) {
          return this.supervisor.request('eni.update', {
            eniId: e.eniId,
            patch: { securityGroups: e.securityGroups, sourceDestCheck: e.sourceDestCheck, hostname: e.hostname, mtu: e.mtu, ...(e.imds ? { imds: e.imds } : {}), ...edgePatch(e) },
          }, 10_000);
        }
        return this.supervisor.request('eni.add', { eni: e }, 10_000);
      }
      case 'eni.remove':
        this.remotes.delete(c.params.eniId);
        return this.supervisor.request('eni.remove', { eniId: c.params.eniId }, 10_000);
      case 'eni.stats':
        return this.supervisor.request('eni.stats', { eniId: c.params.eniId }, 10_000);
      case 'vpc.keys': {
        if (!this.o.hostId || !this.o.listenAddress) throw new ControllerError('UnderlayUnavailable', 'unavailable', 'This host has no underlay address.');
        if (!this.bridge || this.bridge.exited) {
          // A bridge that is being restarted is replaced by this start (with these newer keys).
          if (this.bridgeTimer) clearTimeout(this.bridgeTimer);
          this.bridgeTimer = undefined;
          await this.startBridge(c.params.listenPort ?? this.bridgePort, [...c.params.peers]);
          for (const r of this.remotes.values()) await this.bridge!.request('underlay.remote', r).catch(() => undefined);
        } else await this.bridge.request('underlay.peers', { peers: c.params.peers });
        this.bridgePeers = [...c.params.peers];
        const bridge = this.bridge as BridgeProcess | undefined;
        if (!bridge) throw new ControllerError('UnderlayUnavailable', 'unavailable', 'The underlay bridge exited.');
        const counters = await bridge.request('underlay.stats', {});
        return { port: this.bridgePort, address: this.o.listenAddress, peers: c.params.peers.map((p) => ({ hostId: p.hostId, epoch: p.epoch })), counters };
      }
      case 'vpc.remote': {
        if (!this.bridge) throw new ControllerError('UnderlayUnavailable', 'unavailable', 'vpc.keys must come first: the underlay bridge is not running.');
        const e = c.params.eni;
        const known = await this.supervisor.request('eni.list', {}, 10_000);
        // An ENI of another host: its public IP is answered for by that host's edge, not this one.
        const { publicIp: _elsewhere, ...local } = e;
        const info = known.find((k) => k.eniId === e.eniId) ?? (await this.supervisor.request('eni.add', { eni: local }, 10_000));
        const remote: RemoteParams = { eniId: e.eniId, hostId: c.params.hostId, vni: c.params.vni, ip: e.ip, mac: e.mac, subnetCidr: e.subnetCidr, socketPath: info.socketPath };
        await this.bridge.request('underlay.remote', remote);
        this.remotes.set(e.eniId, remote);
        return info;
      }
      case 'vpc.dns':
        return this.supervisor.request('dns.records', c.params, 10_000);
      case 'vpc.rules':
        await this.applyGroups(c.params.groups);
        for (const g of c.params.deleted) await this.supervisor.request('sg.delete', { groupId: g }, 10_000);
        return { groups: c.params.groups.length, deleted: c.params.deleted.length };
    }
  }
}
