// Live update of host components (host.update, host.restart-component) and of the controller
// itself. A component (hypervisor, EBS card, VPC card) moves through its own live path in
// src/controller/cards/; the controller hands everything to a successor process it forks from
// the new bundle, talking to it over the successor contract (protocol/takeover.ts) with the
// channel library. The successor's side is src/controller/takeover.ts.
import type { Server as NetServer } from 'node:net';
import { forkChild, type ChildChannel } from '../lib/channel/child.js';
import type { RequestOptions } from '../lib/channel/client.js';
import type { ComponentName } from '../security-chip/pcr.js';
import type { VerifiedBundle } from '../security-chip/bundle.js';
import type { EbsContract } from '../ebs/protocol/messages.js';
import type { VpcContract } from '../vpc/protocol/messages.js';
import { ControllerError, toReplyError } from './errors.js';
import { bundleEntry } from './host-security-chip.js';
import type { ControllerParts } from './parts.js';
import type { HostUpdateParams, HostUpdateResult, ResultOf } from './protocol/commands.js';
import type { SuccessorContract, TakeoverReady } from './protocol/takeover.js';
import type { ComponentChannel } from './supervisor.js';

type Successor = ChildChannel<SuccessorContract>;

export class LiveUpdates {
  /** One host.update at a time. */
  private updating: string | undefined;
  /** Set by a controller live update: after the reply to host.update, hand everything to this successor and exit. */
  private successor: Successor | undefined;
  private retireAfterReply = false;

  constructor(private readonly p: ControllerParts) {}

  /** Whether this controller has a successor (records after the hand-over are not audited here). */
  get handingOver(): boolean {
    return this.successor !== undefined;
  }

  /** host.restart-component: the component's live path from the entry it runs now. */
  restartComponent(component: 'hypervisor' | 'ebs' | 'vpc'): Promise<ResultOf<'host.restart-component'>> {
    if (component === 'vpc') return this.p.vpc.liveUpdate(); // hands the guests' sockets over
    if (component === 'ebs') return this.p.ebs.liveUpdate();
    return this.p.hypervisor.supervisor.restart();
  }

  /** host.update: a component, or the controller. */
  update(p: HostUpdateParams): Promise<HostUpdateResult> {
    return p.component === 'controller' ? this.updateController(p) : this.updateComponent(p as HostUpdateParams & { component: 'hypervisor' | 'ebs' | 'vpc' });
  }

  /** After the reply to a command was written: a controller live update retires now. */
  afterReply(): void {
    if (!this.retireAfterReply) return;
    this.retireAfterReply = false;
    void this.retire();
  }

  /**
   * host.update (issue 6 item 6): a live update of one component to a signed bundle, or a
   * rollback to the bundle it ran before. The dispatcher has already written command.accepted
   * to the audit log. Order: verify the bundle with the host's release key (refused: the
   * running version stays, nothing is measured) → extend the component's PCR with the new
   * measurement → start the new version through the component's live hand-over path (EBS card:
   * sealed keys and exports move to a new card; VPC card: every ENI's sockets move; hypervisor:
   * the new process re-adopts the running guests) → retire the old one → record it.
   */
  private async updateComponent(p: HostUpdateParams & { component: 'hypervisor' | 'ebs' | 'vpc' }): Promise<HostUpdateResult> {
    const name: Exclude<ComponentName, 'controller'> = p.component === 'ebs' ? 'ebs-card' : p.component === 'vpc' ? 'vpc-card' : 'hypervisor';
    const kind: 'update' | 'rollback' = p.rollback === true ? 'rollback' : 'update';
    if (this.updating !== undefined) {
      throw new ControllerError('UpdateInProgress', 'conflict', `An update of the ${this.updating} component is running; try again when it has finished.`, { component: this.updating });
    }
    this.updating = p.component;
    const t0 = performance.now();
    try {
      let dir = p.bundle;
      if (kind === 'rollback') {
        this.p.chip.requireSignedMode(); // dev mode: UpdateNeedsSignedMode
        const prev = this.p.chip.previousBundle(name);
        if (prev === undefined) throw new ControllerError('NoPreviousBundle', 'not-found', `The ${p.component} component has not been updated; there is no earlier bundle to roll back to.`, { component: p.component });
        dir = prev.dir;
      }
      const old = this.p.chip.currentBundle(name);
      let next: VerifiedBundle;
      try {
        next = await this.p.chip.verifyUpdate(name, dir as string);
      } catch (e) {
        const err = toReplyError(e);
        this.p.audit({ type: 'component.update-refused', component: p.component, kind, bundle: dir ?? null, error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null, running: old?.manifest.version ?? null });
        throw e;
      }
      const event = this.p.chip.measureUpdate(next, kind);
      this.p.audit({ type: 'component.update-measured', component: p.component, kind, bundle: next.dir, version: next.manifest.version, digest: next.digest, pcr: event.pcrIndex, from: old ? { version: old.manifest.version, digest: old.digest } : null });
      const entry = bundleEntry(next);
      let detail: unknown;
      try {
        detail = await this.startVersion(p.component, entry);
      } catch (e) {
        this.p.chip.measureStillRunning(name);
        const err = toReplyError(e);
        this.p.audit({ type: 'component.update-failed', component: p.component, kind, version: next.manifest.version, error: err.code, message: err.message, running: old?.manifest.version ?? null });
        throw e;
      }
      this.p.chip.commitUpdate(next, kind);
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.p.audit({ type: 'component.updated', component: p.component, kind, version: next.manifest.version, digest: next.digest, from: old ? { version: old.manifest.version, digest: old.digest } : null, ms });
      this.p.log.info('component updated', { component: p.component, kind, version: next.manifest.version, ms });
      return {
        component: p.component,
        kind,
        previous: old ? { version: old.manifest.version, digest: old.digest, dir: old.dir } : null,
        current: { version: next.manifest.version, digest: next.digest, dir: next.dir },
        measurement: event,
        totalMs: ms,
        handover: detail,
      };
    } finally {
      this.updating = undefined;
    }
  }

  // ------------------------------------------------------------ live update of the controller
  //
  // The old controller (this process, on host.update {component: 'controller'}):
  //   1. verifies the new controller bundle and measures it (PCR 1), records it as current;
  //   2. forks the successor from the bundle (--takeover, detached): it verifies and measures
  //      every bundle (measured start, from the record), starts an EBS card and a VPC card that
  //      serve nothing yet, holds its audit log closed and answers takeover.ready;
  //   3. stops its hypervisor (QEMU keeps running) and has the successor start one, which
  //      re-adopts every guest;
  //   4. hands the EBS card and the VPC card over with their own live paths, the successor's
  //      fresh card as the target (requests and socket handles relayed through the successor);
  //   5. answers host.update, then hands the listening socket over, closes its connections and
  //      its audit log, lets the successor open the log and serve (takeover.activate), and exits.
  // A failure up to step 4 aborts: the successor ends and this controller carries on.

  private async updateController(p: HostUpdateParams): Promise<HostUpdateResult> {
    const kind: 'update' | 'rollback' = p.rollback === true ? 'rollback' : 'update';
    if (this.updating !== undefined) throw new ControllerError('UpdateInProgress', 'conflict', `An update of the ${this.updating} component is running; try again when it has finished.`, { component: this.updating });
    this.updating = 'controller';
    const t0 = performance.now();
    try {
      let dir = p.bundle;
      if (kind === 'rollback') {
        this.p.chip.requireSignedMode(); // dev mode: UpdateNeedsSignedMode
        const prev = this.p.chip.previousBundle('controller');
        if (prev === undefined) throw new ControllerError('NoPreviousBundle', 'not-found', 'The controller has not been updated; there is no earlier bundle to roll back to.', { component: 'controller' });
        dir = prev.dir;
      }
      const old = this.p.chip.currentBundle('controller');
      let next: VerifiedBundle;
      try {
        next = await this.p.chip.verifyUpdate('controller', dir as string);
        if (!next.manifest.files.some((f) => f.path === 'dist/src/controller/main.js')) {
          throw new ControllerError('BundleEntryMissing', 'invalid', 'The controller bundle has no entry point dist/src/controller/main.js.', { bundle: next.dir, file: 'dist/src/controller/main.js' });
        }
        if (this.p.options.bundlesDir === undefined || this.p.options.releasePubKeyPath === undefined) {
          throw new ControllerError('UpdateNeedsSignedMode', 'conflict', 'This controller was not started with --bundles and --release-pubkey files; it cannot start a successor.', {});
        }
      } catch (e) {
        const err = toReplyError(e);
        this.p.audit({ type: 'component.update-refused', component: 'controller', kind, bundle: dir ?? null, error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null, running: old?.manifest.version ?? null });
        throw e;
      }
      const event = this.p.chip.measureUpdate(next, kind);
      this.p.audit({ type: 'component.update-measured', component: 'controller', kind, bundle: next.dir, version: next.manifest.version, digest: next.digest, pcr: event.pcrIndex, from: old ? { version: old.manifest.version, digest: old.digest } : null });
      const recordBefore = this.p.chip.recordSnapshot();
      this.p.chip.commitUpdate(next, kind); // the successor's measured start reads it: it measures `next` as the controller
      let handover: Record<string, unknown>;
      try {
        handover = await this.handToSuccessor(bundleEntry(next));
      } catch (e) {
        this.p.chip.restoreRecord(recordBefore, old);
        this.p.chip.measureStillRunning('controller');
        const err = toReplyError(e);
        this.p.audit({ type: 'component.update-failed', component: 'controller', kind, version: next.manifest.version, error: err.code, message: err.message, running: old?.manifest.version ?? null });
        throw e;
      }
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.p.audit({ type: 'component.updated', component: 'controller', kind, version: next.manifest.version, digest: next.digest, from: old ? { version: old.manifest.version, digest: old.digest } : null, ms, successorPid: this.successor?.pid ?? null });
      this.retireAfterReply = true;
      return {
        component: 'controller',
        kind,
        previous: old ? { version: old.manifest.version, digest: old.digest, dir: old.dir } : null,
        current: { version: next.manifest.version, digest: next.digest, dir: next.dir },
        measurement: event,
        totalMs: ms,
        handover,
      };
    } finally {
      this.updating = undefined;
    }
  }

  /** Steps 2–4: the successor measured and ready, the hypervisor and the cards moved to it. */
  private async handToSuccessor(entry: string): Promise<Record<string, unknown>> {
    const o = this.p.options;
    const args = ['--home', o.home, '--port', String(o.port), '--listen', this.p.address, '--bundles', o.bundlesDir as string, '--release-pubkey', o.releasePubKeyPath as string, '--takeover'];
    // The successor keeps the VPC edge's public side (the card's device stays attached: vpc.ts attachPublicSide).
    const ps = o.publicSide;
    if (ps) args.push('--public-iface', ps.iface, '--public-cidr', ps.cidr, '--public-gateway', ps.gateway, ...(ps.hostAddress !== undefined ? ['--public-host-address', ps.hostAddress] : []));
    const succ: Successor = forkChild<SuccessorContract>(entry, args, { component: 'successor', detached: true, readyEvent: 'takeover.ready' });
    const failed = new Promise<never>((_, reject) => {
      succ.on('event', (e: { event: string; error?: { code?: string; message?: string } }) => {
        if (e.event === 'takeover.failed') reject(new ControllerError('SuccessorFailed', 'internal', `The new controller could not start: ${String(e.error?.message ?? '')}`, { code: e.error?.code ?? null }));
      });
    });
    failed.catch(() => undefined);
    const exitedEarly = (code: number | null, signal: string | null): void => this.p.log.warn('the new controller exited during the hand-over', { code, signal });
    succ.on('exit', exitedEarly);
    this.successor = succ;
    const abort = async (): Promise<void> => {
      this.successor = undefined;
      if (!succ.exited) {
        const gone = succ.whenExited();
        await succ.client.request('takeover.abort', {}, 10_000).catch(() => undefined);
        const t = setTimeout(() => succ.child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      }
    };
    const { hypervisor, ebs, vpc } = this.p;
    const t0 = performance.now();
    let hypervisorMoved = false;
    try {
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new ControllerError('SuccessorTimeout', 'unavailable', 'The new controller was not ready within 60 s.', {})), 60_000).unref());
      const r = (await Promise.race([succ.ready, failed, timeout])) as TakeoverReady;
      const readyMs = Math.round(performance.now() - t0);
      // 3. the hypervisor: ours exits (QEMU keeps running); the successor's re-adopts the guests
      const t1 = performance.now();
      await hypervisor.stop();
      hypervisorMoved = true;
      const hv = await succ.client.request('takeover.hypervisor', {}, 60_000);
      const hypervisorMs = Math.round(performance.now() - t1);
      // 4. the cards, each through its own live path, to the successor's fresh card
      const ebsResult = await ebs.supervisor.handingOverTo(relay<EbsContract>(succ, 'ebs', r.ebsPid), () => ebs.liveUpdate());
      const vpcResult = await vpc.supervisor.handingOverTo(relay<VpcContract>(succ, 'vpc', r.vpcPid), () => vpc.liveUpdate());
      // 5. the underlay bridge (cross-host traffic): ours stops, the successor's starts on the
      // same UDP port with the keys and remote ENIs ours had (its counters start at the clock,
      // so no nonce repeats). Frames to other hosts pause for the fork of the new bridge.
      let underlay: unknown = null;
      const ul = vpc.underlayState();
      if (ul) {
        await vpc.stopUnderlay();
        underlay = await succ.client.request('takeover.underlay', { state: ul }, 30_000);
      }
      succ.off('exit', exitedEarly);
      return { successorPid: succ.pid ?? null, readyMs, hypervisor: { ...hv, ms: hypervisorMs }, ebs: ebsResult, vpc: vpcResult, underlay };
    } catch (e) {
      await abort();
      if (hypervisorMoved) hypervisor.start(); // re-adopts the guests again
      // A card already handed to the successor went with it: start a fresh one here (the EBS
      // card gets its keys again from the region's volume watcher; a VPC ENI whose guest socket
      // had moved cannot be reconnected by QEMU).
      if (ebs.supervisor.status().state === 'stopped') ebs.start();
      if (vpc.supervisor.status().state === 'stopped') vpc.supervisor.start();
      throw e;
    }
  }

  /** Step 5, after the reply to host.update: the listening socket and the audit log go to the successor; this process exits. */
  private async retire(): Promise<void> {
    const s = this.successor;
    if (!s) return;
    try {
      const listener: NetServer | undefined = this.p.front.releaseListener();
      if (listener) {
        await s.client.request('takeover.listener', {}, { handle: listener, timeoutMs: 10_000 });
        listener.close(); // stops accepting here at once (its callback would wait for our open connections)
      }
      this.p.front.dropConnections();
      this.p.audit({ type: 'controller.handover', pid: process.pid, successorPid: s.pid ?? null });
      this.p.closeAudit();
      await s.client.request('takeover.activate', {}, 30_000);
      this.p.log.info('handed over to the new controller; exiting', { successorPid: s.pid });
      if (s.child.connected) s.child.disconnect();
      s.child.unref();
      this.p.retire(0);
    } catch (e) {
      this.p.log.error('the hand-over to the new controller failed after host.update answered', { error: String(e) });
      this.p.retire(1);
    }
  }

  /** Starts the component from `entry` through its live hand-over path; on failure the old process keeps running from the old entry. */
  private async startVersion(component: 'hypervisor' | 'ebs' | 'vpc', entry: string): Promise<unknown> {
    if (component === 'ebs') return this.p.ebs.liveUpdate(entry);
    if (component === 'vpc') {
      const sup = this.p.vpc.supervisor;
      const before = sup.entry;
      sup.setEntry(entry);
      try {
        return await this.p.vpc.liveUpdate();
      } catch (e) {
        sup.setEntry(before);
        throw e;
      }
    }
    return this.p.hypervisor.liveUpdate(entry);
  }
}

/** A card of the successor, reached through it: requests (and handles) relayed by takeover.relay. */
function relay<C>(succ: Successor, component: 'ebs' | 'vpc', pid: number | null): ComponentChannel<C> {
  const send = (op: string, params: unknown, opts: RequestOptions, wantHandle: boolean): Promise<{ result: unknown; handle: unknown }> => {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return succ.client.requestWithHandle('takeover.relay', { component, op, params, timeoutMs, ...(wantHandle ? { wantHandle: true } : {}) }, { handle: opts.handle, timeoutMs: timeoutMs + 5_000 });
  };
  return {
    pid: pid ?? undefined,
    request: async (op, params, opts = {}) => (await send(op, params, opts, false)).result as never,
    requestWithHandle: async (op, params, opts = {}) => (await send(op, params, opts, true)) as never,
  };
}
