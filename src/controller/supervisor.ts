// Starts and supervises one host component (the hypervisor, and the cards). Each is forked
// with an IPC channel as its only channel to the controller (no socket, no listening port),
// in its own process group and session (detached), so that a signal sent to the
// controller's group does not reach it or the guests it serves. When the controller dies,
// the IPC channel closes and the component exits without touching guests; the next
// controller forks a new one that re-adopts them. A crashed component is restarted with
// backoff. Every component is forked and driven through src/lib/channel (ChildChannel: the
// same client the tests and benchmarks fork the cards with), typed by its contract.
import { existsSync } from 'node:fs';
import { forkChild, type ChildChannel } from '../lib/channel/child.js';
import type { RequestOptions } from '../lib/channel/client.js';
import type { EventMessage, OpOf, ParamsOf, ResultOf } from '../lib/channel/envelope.js';
import { componentTitle as title } from '../lib/channel/errors.js';
import type { Logger } from '../lib/log.js';
import { ControllerError } from './errors.js';

export type ComponentState = 'starting' | 'running' | 'backoff' | 'stopped' | 'missing';

export interface ComponentStatus {
  readonly name: string;
  readonly state: ComponentState;
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly startedAt: string | undefined;
  readonly lastExit: { readonly code: number | null; readonly signal: string | null; readonly at: string } | undefined;
}

/** An unsolicited message from a component: `{ v: 1, event: '…', … }`. */
export type ComponentEvent = EventMessage;

/**
 * One process's request channel during a live update, typed by the component's contract.
 * `handle` rides beside a request (a raw libuv handle or a net.Socket/net.Server);
 * requestWithHandle() resolves with the handle that came beside the reply. The sender's own
 * copy of a forwarded handle is closed once it is sent.
 */
export interface ComponentChannel<C> {
  readonly pid: number | undefined;
  request<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, opts?: RequestOptions): Promise<ResultOf<C, O>>;
  requestWithHandle<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, opts?: RequestOptions): Promise<{ result: ResultOf<C, O>; handle: unknown }>;
}

export interface SupervisorOptions {
  /** The component's name, e.g. 'hypervisor', 'ebs', 'vpc'. */
  readonly name: string;
  readonly entry: string;
  /** Arguments for the entry point, e.g. ['--state-dir', DIR]. */
  readonly args: readonly string[];
  /** Its working directory (default the controller's). */
  readonly cwd?: string;
  readonly log: Logger;
  readonly onEvent: (e: ComponentEvent) => void;
  /** The event the component sends once it serves ('card.ready'); a live update waits for it. */
  readonly readyEvent?: string;
  readonly onLifecycle?: (e: { event: 'started' | 'exited' | 'restarting'; pid?: number; code?: number | null; signal?: string | null; delayMs?: number }) => void;
}

const MAX_BACKOFF_MS = 30_000;
const STABLE_MS = 30_000;

/** Supervises one component's process; requests are typed by the component's contract C. */
export class ComponentSupervisor<C> {
  private child: ChildChannel<C> | undefined;
  private state: ComponentState = 'stopped';
  private restarts = 0;
  private failures = 0;
  private startedAt: number | undefined;
  private lastExit: ComponentStatus['lastExit'];
  private stopping = false;
  private backoffTimer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];
  private entryPath: string;
  private remoteNext: ComponentChannel<C> | undefined;
  private measure: ((entry: string) => void) | undefined;

  constructor(private readonly o: SupervisorOptions) {
    this.entryPath = o.entry;
  }

  /** The entry point the next spawn, restart or hand-over forks. */
  get entry(): string {
    return this.entryPath;
  }

  /**
   * Changes the entry point for the next spawn, restart() or handover() (a live update to
   * another signed bundle: src/controller/controller.ts host.update). The running process is
   * not touched.
   */
  setEntry(entry: string): void {
    this.entryPath = entry;
  }

  /**
   * Called before every fork by spawn() (the first start, a crash restart, restart()): the
   * security chip measures the code about to run (src/controller/host-security-chip.ts
   * measureBeforeFork). When it throws, nothing is forked and the start is retried with
   * backoff, measured again each time. A live update's handover() forks code its caller has
   * verified and measured already.
   */
  measureBeforeSpawn(fn: (entry: string) => void): void {
    this.measure = fn;
  }

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  status(): ComponentStatus {
    return {
      name: this.o.name,
      state: this.state,
      pid: this.child?.pid,
      restarts: this.restarts,
      startedAt: this.startedAt === undefined ? undefined : new Date(this.startedAt).toISOString(),
      lastExit: this.lastExit,
    };
  }

  private spawn(): void {
    this.backoffTimer = undefined;
    if (this.stopping) return;
    if (!existsSync(this.entryPath)) {
      this.state = 'missing';
      this.o.log.error(`the ${this.o.name} entry point is missing; build the project`, { entry: this.entryPath });
      this.scheduleRestart(null, null);
      return;
    }
    try {
      this.measure?.(this.entryPath);
    } catch (e) {
      this.o.log.error(`the ${this.o.name} code failed its measurement; it is not started`, { entry: this.entryPath, error: e instanceof Error ? e.message : String(e) });
      this.scheduleRestart(null, null);
      return;
    }
    this.state = 'starting';
    const child = this.fork();
    this.child = child;
    this.startedAt = Date.now();
    child.child.on('spawn', () => {
      if (this.child === child) this.state = 'running';
      this.o.onLifecycle?.({ event: 'started', pid: child.pid ?? 0 });
      this.o.log.info(`${this.o.name} started`, { pid: child.pid });
    });
    child.child.on('error', (e) => this.o.log.error(`${this.o.name} process error`, { error: e.message }));
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(child, code, signal));
  }

  /** Forks the entry point with the channel every component is driven through (src/lib/channel). */
  private fork(): ChildChannel<C> {
    return forkChild<C>(this.entryPath, this.o.args, {
      component: this.o.name,
      detached: true,
      ...(this.o.cwd !== undefined ? { cwd: this.o.cwd } : {}),
      onEvent: (e) => this.o.onEvent(e),
      ...(this.o.readyEvent !== undefined ? { readyEvent: this.o.readyEvent } : {}),
    });
  }

  private onExit(child: ChildChannel<C>, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.lastExit = { code, signal, at: new Date().toISOString() };
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
    this.o.onLifecycle?.({ event: 'exited', pid: child.pid ?? 0, code, signal });
    if (this.stopping) {
      this.state = 'stopped';
      return;
    }
    this.o.log.warn(`${this.o.name} exited; restarting it`, { code, signal });
    this.scheduleRestart(code, signal);
  }

  private scheduleRestart(code: number | null, signal: string | null): void {
    const ranMs = this.startedAt === undefined ? 0 : Date.now() - this.startedAt;
    if (ranMs > STABLE_MS) this.failures = 0;
    const delayMs = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.failures);
    this.failures++;
    if (this.state !== 'missing') this.state = 'backoff';
    this.restarts++;
    this.o.onLifecycle?.({ event: 'restarting', code, signal, delayMs });
    this.backoffTimer = setTimeout(() => this.spawn(), delayMs);
    this.backoffTimer.unref();
  }

  /** Sends one request; rejects with the component's error (its code, kind and context, the component named). */
  request<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, timeoutMs = 30_000): Promise<ResultOf<C, O>> {
    const child = this.child;
    if (!child || !child.connected) {
      return Promise.reject(new ControllerError(`${title(this.o.name)}Unavailable`, 'unavailable', `The ${this.o.name} component is not running; it is being restarted.`, { op, state: this.state }));
    }
    return child.client.request(op, params, timeoutMs);
  }

  /** The current process's request channel (a controller live update relays to it), or undefined when none runs. */
  currentChannel(): ComponentChannel<C> | undefined {
    const c = this.child;
    return c && c.connected ? channelOf(c) : undefined;
  }

  /**
   * For a live update of the controller itself: while `run` runs, the next handover() hands
   * over to `remote` — the same component already started by the NEW controller, reached
   * through it — instead of forking a process of its own. On success the old process is
   * retired and this supervisor stops (state 'stopped'): the component now belongs to the
   * other controller.
   */
  async handingOverTo<R>(remote: ComponentChannel<C>, run: () => Promise<R>): Promise<R> {
    this.remoteNext = remote;
    try {
      return await run();
    } finally {
      this.remoteNext = undefined;
    }
  }

  /**
   * Live update: forks the next process beside the running one, lets `transfer` move state and
   * handles from the old (`from`) to the new (`to`), then makes the new one current and ends
   * the old. If `transfer` fails the new process is ended and the old one stays current (the
   * transfer must undo its own steps on the old process). Counts as a restart.
   */
  async handover(transfer: (from: ComponentChannel<C>, to: ComponentChannel<C>) => Promise<void>): Promise<ComponentStatus> {
    const old = this.child;
    const T = title(this.o.name);
    if (!old || !old.connected) throw new ControllerError(`${T}Unavailable`, 'unavailable', `The ${this.o.name} component is not running; nothing to hand over.`, { state: this.state });
    const remote = this.remoteNext;
    this.remoteNext = undefined;
    if (remote !== undefined) {
      await transfer(channelOf(old), remote);
      // The component now belongs to the other controller: retire ours, supervise nothing.
      if (this.backoffTimer) clearTimeout(this.backoffTimer);
      this.stopping = true;
      await old.end(5_000);
      this.state = 'stopped';
      this.o.log.info(`${this.o.name} handed over to another controller`, { oldPid: old.pid, pid: remote.pid });
      return { ...this.status(), pid: remote.pid };
    }
    const next = this.fork();
    next.child.on('error', (e) => this.o.log.error(`${this.o.name} process error`, { error: e.message }));
    next.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(next, code, signal));
    try {
      const to = channelOf(next);
      // ready: the card's ready event (or, without one, its first answer to card.info)
      const ready = this.o.readyEvent !== undefined ? next.ready : untypedReady(next);
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new ControllerError(`${T}Timeout`, 'unavailable', `The new ${this.o.name} process was not ready within 10 s.`, {})), 10_000).unref());
      await Promise.race([ready, timeout]);
      await transfer(channelOf(old), to);
    } catch (e) {
      await next.kill();
      throw e;
    }
    this.child = next;
    this.state = 'running';
    this.startedAt = Date.now();
    this.restarts++;
    this.failures = 0;
    this.o.onLifecycle?.({ event: 'started', pid: next.pid ?? 0 });
    this.o.log.info(`${this.o.name} replaced by a live update`, { oldPid: old.pid, pid: next.pid });
    // The old process is no longer current: its exit is not a crash.
    await old.end(5_000);
    return this.status();
  }

  /** Ends the current process (guests keep running) and waits for it to exit. */
  private async endChild(graceMs: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((r) => this.exitWaiters.push(r));
    child.disconnect(); // a component exits on disconnect, leaving guests running
    const t = setTimeout(() => child.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  /** Restarts the component now (operator request); counts as a restart. */
  async restart(): Promise<ComponentStatus> {
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.stopping = true;
    await this.endChild(5_000);
    this.stopping = false;
    this.restarts++;
    this.failures = 0;
    this.spawn();
    await new Promise<void>((resolve) => {
      const c = this.child;
      if (!c || c.pid !== undefined) resolve();
      else c.child.once('spawn', () => resolve());
    });
    return this.status();
  }

  /** Stops supervising: the component is disconnected and exits; guests keep running. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    await this.endChild(graceMs);
    this.state = 'stopped';
  }
}

function channelOf<C>(c: ChildChannel<C>): ComponentChannel<C> {
  return {
    pid: c.pid,
    request: (op, params, opts) => c.client.request(op, params, opts),
    requestWithHandle: (op, params, opts) => c.client.requestWithHandle(op, params, opts),
  };
}

/** A component without a ready event is ready once it answers card.info. */
async function untypedReady<C>(c: ChildChannel<C>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await c.client.requestUntyped('card.info', {}, { timeoutMs: 2_000 });
      return;
    } catch (e) {
      if (Date.now() > deadline || c.exited) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
