// The controller's side of the hypervisor: supervises its process (ComponentSupervisor
// 'hypervisor', driven through its contract src/hypervisor/protocol/messages.ts), relays the
// instance.* commands, knows when a (new) hypervisor has re-adopted the guests, and reports
// its facts for host.status. The instance store and the measurement of a guest image that
// go with a start are the controller's (src/controller/controller.ts routes them).
import type { GuestImageRef, HypervisorContract, HypervisorEvent, HypervisorResults } from '../../hypervisor/protocol/messages.js';
import type { Logger } from '../../lib/log.js';
import { ControllerError, toReplyError, type ReplyError } from '../errors.js';
import type { ControllerCommandBody } from '../protocol/commands.js';
import { ComponentSupervisor, type ComponentStatus } from '../supervisor.js';

export type HypervisorCommand = Extract<ControllerCommandBody, { type: `instance.${string}` }>;

export interface HostHypervisorOptions {
  readonly entry: string;
  readonly stateDir: string;
  readonly log: Logger;
  /** QMP refusals the hypervisor reports go to the host audit log. */
  readonly audit: (event: Record<string, unknown>) => void;
  readonly onLifecycle?: (e: Record<string, unknown> & { event: string }) => void;
}

/** What host.status shows of the hypervisor. */
export interface HypervisorReport {
  readonly info: HypervisorResults['host.info'] | null;
  readonly instances: HypervisorResults['instance.list'] | [];
  readonly error: ReplyError | null;
}

export class HostHypervisor {
  readonly supervisor: ComponentSupervisor<HypervisorContract>;
  /** host.info (accelerator, QEMU version) does not change while one hypervisor process lives. */
  private infoCache: { pid: number | undefined; info: HypervisorResults['host.info'] } | undefined;

  constructor(private readonly o: HostHypervisorOptions) {
    this.supervisor = new ComponentSupervisor<HypervisorContract>({
      name: 'hypervisor',
      entry: o.entry,
      args: ['--state-dir', o.stateDir],
      log: o.log.child('supervisor'),
      onEvent: (e) => this.onEvent(e as unknown as HypervisorEvent),
      onLifecycle: (e) => o.onLifecycle?.({ ...e }),
    });
  }

  private onEvent(e: HypervisorEvent): void {
    if (e.event === 'audit') this.o.audit({ type: 'hypervisor.audit', record: e.record });
    else this.o.log.info('hypervisor event', { ...e });
  }

  start(): void {
    this.supervisor.start();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  /** Relays one instance.* command with its time limit. */
  execute<C extends HypervisorCommand>(c: C): Promise<HypervisorResults[C['type']]>;
  execute(c: HypervisorCommand): Promise<unknown> {
    // instance.start's rootVolume is for the EBS card (served before the start), not the hypervisor
    if (c.type === 'instance.start') return this.supervisor.request(c.type, { spec: c.params.spec }, timeLimitOf(c));
    return this.supervisor.request(c.type, c.params, timeLimitOf(c));
  }

  /** Checks a kernel image's files against their sha256 and answers their sha256 and sha384 (one read each). */
  digestImage(image: GuestImageRef): Promise<HypervisorResults['image.digest']> {
    return this.supervisor.request('image.digest', image, 120_000);
  }

  /** How many guests the running hypervisor has, or -1 when it does not answer. */
  async guestCount(): Promise<number> {
    try {
      return (await this.supervisor.request('instance.list', {}, 10_000)).length;
    } catch {
      return -1;
    }
  }

  /** Waits until the (new) hypervisor answers host.info and lists its guests; resolves with their number. */
  async whenReadopted(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.supervisor.request('host.info', {}, 5_000);
        return (await this.supervisor.request('instance.list', {}, 10_000)).length;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /**
   * A live update of the hypervisor: the old process exits leaving QEMU running; the new one,
   * from `entry`, re-adopts every guest from the instance directories. It must answer host.info
   * and list the guests it had; otherwise the version that ran comes back and re-adopts them.
   */
  async liveUpdate(entry: string): Promise<ComponentStatus & { guests: number; readyMs: number }> {
    const sup = this.supervisor;
    const before = sup.entry;
    const had = await this.guestCount();
    const t0 = performance.now();
    sup.setEntry(entry);
    try {
      await sup.restart();
      const now = await this.whenReadopted();
      if (had >= 0 && now < had) throw new ControllerError('HypervisorReadoptionIncomplete', 'internal', `The new hypervisor re-adopted ${now} of ${had} guests.`, { had, now });
      return { ...sup.status(), guests: now, readyMs: Math.round((performance.now() - t0) * 10) / 10 };
    } catch (e) {
      // Back to the version that ran: it re-adopts the guests again.
      sup.setEntry(before);
      await sup.restart().catch(() => undefined);
      throw e;
    }
  }

  /** host.info (cached per process) with the counts from a fresh instance.list, or the error. */
  async report(): Promise<HypervisorReport> {
    const pid = this.supervisor.status().pid;
    let info: HypervisorResults['host.info'] | null = null;
    try {
      if (this.infoCache === undefined || this.infoCache.pid !== pid) {
        info = await this.supervisor.request('host.info', {}, 10_000);
        if (info.accel) this.infoCache = { pid, info };
      } else info = this.infoCache.info;
      const instances = await this.supervisor.request('instance.list', {}, 10_000);
      // counts come from the fresh list, not from the cached facts
      return { info: { ...info, instances: instances.length, running: instances.filter((i) => i.state === 'running').length }, instances, error: null };
    } catch (e) {
      return { info, instances: [], error: toReplyError(e) };
    }
  }
}

/** How long the hypervisor may take over a command: a start boots QEMU, a stop waits for the guest's own shutdown first. */
function timeLimitOf(c: HypervisorCommand): number {
  switch (c.type) {
    case 'instance.start':
      return 180_000;
    case 'instance.stop':
      return (c.params.deadlineMs ?? 60_000) + 60_000;
    case 'instance.terminate':
    case 'instance.reboot':
      return 120_000;
    default:
      return 30_000;
  }
}
