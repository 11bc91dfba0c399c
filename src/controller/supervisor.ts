// Starts and supervises one host component (the hypervisor, and the cards). Each is forked
// with an IPC channel as its only channel to the controller (no socket, no listening port),
// in its own process group and session (detached), so that a signal sent to the
// controller's group does not reach it or the guests it serves. When the controller dies,
// the IPC channel closes and the component exits without touching guests; the next
// controller forks a new one that re-adopts them. A crashed component is restarted with
// backoff. Requests and replies use the hypervisor's message shape ({v, id, op, params} →
// {v, id, ok, result|error}; unsolicited {v, event, …}) for every component.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { HypervisorReply } from '../hypervisor/protocol/messages.js';
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

interface Pending {
  resolve(v: unknown, handle?: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  op: string;
}

/** An unsolicited message from a component: `{ v: 1, event: '…', … }`. */
export interface ComponentEvent {
  readonly v: 1;
  readonly event: string;
  readonly [k: string]: unknown;
}

/**
 * One process's request channel during a live update. `handle` rides beside a request (a raw
 * libuv handle or a net.Socket/net.Server); requestHandle() resolves with the handle that came
 * beside the reply. The controller's own copy of a forwarded handle is closed once it is sent.
 */
export interface ComponentChannel {
  readonly pid: number | undefined;
  request(op: string, params: unknown, handle?: unknown, timeoutMs?: number): Promise<unknown>;
  requestHandle(op: string, params: unknown, timeoutMs?: number): Promise<{ result: unknown; handle: unknown }>;
}

export interface SupervisorOptions {
  /** The component's name, e.g. 'hypervisor', 'ebs', 'vpc'. */
  readonly name: string;
  readonly entry: string;
  /** Arguments for the entry point, e.g. ['--state-dir', DIR]. */
  readonly args: readonly string[];
  readonly log: Logger;
  readonly onEvent: (e: ComponentEvent) => void;
  readonly onLifecycle?: (e: { event: 'started' | 'exited' | 'restarting'; pid?: number; code?: number | null; signal?: string | null; delayMs?: number }) => void;
}

const MAX_BACKOFF_MS = 30_000;
const STABLE_MS = 30_000;

const title = (name: string): string => (name === 'ebs' || name === 'vpc' ? `${name.toUpperCase()}Card` : `${name.charAt(0).toUpperCase()}${name.slice(1)}`);

export class ComponentSupervisor {
  private child: ChildProcess | undefined;
  private state: ComponentState = 'stopped';
  private restarts = 0;
  private failures = 0;
  private startedAt: number | undefined;
  private lastExit: ComponentStatus['lastExit'];
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private stopping = false;
  private backoffTimer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];
  private entryPath: string;
  private remoteNext: ComponentChannel | undefined;

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
    this.state = 'starting';
    const child = fork(this.entryPath, [...this.o.args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      serialization: 'json',
    });
    this.child = child;
    this.startedAt = Date.now();
    child.on('spawn', () => {
      if (this.child === child) this.state = 'running';
      this.o.onLifecycle?.({ event: 'started', pid: child.pid ?? 0 });
      this.o.log.info(`${this.o.name} started`, { pid: child.pid });
    });
    child.on('message', (m: unknown, handle: unknown) => this.onMessage(m, handle));
    child.on('error', (e) => this.o.log.error(`${this.o.name} process error`, { error: e.message }));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
  }

  private onMessage(m: unknown, handle?: unknown): void {
    if (typeof m !== 'object' || m === null) return;
    const msg = m as Partial<HypervisorReply> & { id?: unknown; event?: unknown };
    if (typeof msg.event === 'string') {
      this.o.onEvent(m as ComponentEvent);
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    const reply = m as HypervisorReply;
    if (reply.ok) p.resolve(reply.result, handle);
    else {
      const err = reply.error ?? { code: `${title(this.o.name)}Error`, kind: 'internal', message: `The ${this.o.name} component refused the request.` };
      const kind = (['invalid', 'not-found', 'conflict', 'denied', 'unavailable', 'internal'] as const).find((k) => k === err.kind) ?? 'internal';
      p.reject(new ControllerError(String(err.code), kind, String(err.message), { ...(err.context ?? {}), component: this.o.name }));
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.lastExit = { code, signal, at: new Date().toISOString() };
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ControllerError(`${title(this.o.name)}Unavailable`, 'unavailable', `The ${this.o.name} component exited before it answered.`, { op: p.op, code, signal }));
      this.pending.delete(id);
    }
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

  /** Sends one request; rejects with the component's error as a ControllerError. */
  request(op: string, params: unknown, timeoutMs = 30_000): Promise<unknown> {
    return this.requestOn(this.child, op, params, timeoutMs).then((r) => r.result);
  }

  private requestOn(child: ChildProcess | undefined, op: string, params: unknown, timeoutMs: number, handle?: unknown): Promise<{ result: unknown; handle: unknown }> {
    const T = title(this.o.name);
    if (!child || !child.connected) {
      return Promise.reject(new ControllerError(`${T}Unavailable`, 'unavailable', `The ${this.o.name} component is not running; it is being restarted.`, { op, state: this.state }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControllerError(`${T}Timeout`, 'unavailable', `The ${this.o.name} component did not answer ${op} within ${timeoutMs} ms.`, { op, timeoutMs }));
      }, timeoutMs);
      this.pending.set(id, { resolve: (result, h) => resolve({ result, handle: h }), reject, timer, op });
      const sent = (err: Error | null): void => {
        // A forwarded raw handle is the controller's own copy: close it once it has left.
        if (handle !== undefined && !err) (handle as { close?: () => void }).close?.();
        if (err) {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(new ControllerError(`${T}Unavailable`, 'unavailable', `The request could not be sent to the ${this.o.name} component.`, { op }, { cause: err }));
        }
      };
      if (handle !== undefined) child.send({ v: 1, id, op, params }, handle as never, { keepOpen: false }, sent);
      else child.send({ v: 1, id, op, params }, sent);
    });
  }

  private channel(child: ChildProcess): ComponentChannel {
    return {
      pid: child.pid,
      request: (op, params, handle, timeoutMs = 30_000) => this.requestOn(child, op, params, timeoutMs, handle).then((r) => r.result),
      requestHandle: (op, params, timeoutMs = 30_000) => this.requestOn(child, op, params, timeoutMs),
    };
  }

  /** The current process's request channel (a controller live update relays to it), or undefined when none runs. */
  currentChannel(): ComponentChannel | undefined {
    const c = this.child;
    return c && c.connected ? this.channel(c) : undefined;
  }

  /**
   * One shot, for a live update of the controller itself: the next handover() hands over to
   * `remote` — the same component already started by the NEW controller, reached through it —
   * instead of forking a process of its own. On success the old process is retired and this
   * supervisor stops (state 'stopped'): the component now belongs to the other controller.
   */
  handoverToRemote(remote: ComponentChannel | undefined): void {
    this.remoteNext = remote;
  }

  /**
   * Live update: forks the next process beside the running one, lets `transfer` move state and
   * handles from the old (`from`) to the new (`to`), then makes the new one current and ends
   * the old. If `transfer` fails the new process is ended and the old one stays current (the
   * transfer must undo its own steps on the old process). Counts as a restart.
   */
  async handover(transfer: (from: ComponentChannel, to: ComponentChannel) => Promise<void>): Promise<ComponentStatus> {
    const old = this.child;
    const T = title(this.o.name);
    if (!old || !old.connected) throw new ControllerError(`${T}Unavailable`, 'unavailable', `The ${this.o.name} component is not running; nothing to hand over.`, { state: this.state });
    const remote = this.remoteNext;
    this.remoteNext = undefined;
    if (remote !== undefined) {
      await transfer(this.channel(old), remote);
      // The component now belongs to the other controller: retire ours, supervise nothing.
      if (this.backoffTimer) clearTimeout(this.backoffTimer);
      this.stopping = true;
      const gone = new Promise<void>((r) => (old.exitCode !== null || old.signalCode !== null ? r() : old.once('exit', () => r())));
      if (old.connected) old.disconnect();
      const t = setTimeout(() => old.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
      this.state = 'stopped';
      this.o.log.info(`${this.o.name} handed over to another controller`, { oldPid: old.pid, pid: remote.pid });
      return { ...this.status(), pid: remote.pid };
    }
    const next = fork(this.entryPath, [...this.o.args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, serialization: 'json' });
    next.on('message', (m: unknown, handle: unknown) => this.onMessage(m, handle));
    next.on('error', (e) => this.o.log.error(`${this.o.name} process error`, { error: e.message }));
    next.on('exit', (code, signal) => this.onExit(next, code, signal));
    const endNext = async (): Promise<void> => {
      if (next.exitCode !== null || next.signalCode !== null) return;
      const gone = new Promise((r) => next.once('exit', r));
      next.kill('SIGKILL');
      await gone;
    };
    try {
      const to = this.channel(next);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await to.request('card.info', {}, undefined, 2_000);
          break;
        } catch (e) {
          if (Date.now() > deadline || next.exitCode !== null) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await transfer(this.channel(old), to);
    } catch (e) {
      await endNext();
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
    const gone = new Promise<void>((r) => (old.exitCode !== null || old.signalCode !== null ? r() : old.once('exit', () => r())));
    if (old.connected) old.disconnect();
    const t = setTimeout(() => old.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
    return this.status();
  }

  /** Ends the current process (guests keep running) and waits for it to exit. */
  private async endChild(graceMs: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((r) => this.exitWaiters.push(r));
    if (child.connected) child.disconnect(); // a component exits on disconnect, leaving guests running
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
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
      else c.once('spawn', () => resolve());
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
