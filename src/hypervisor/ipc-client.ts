// The controller's side of the hypervisor channel: forks the hypervisor with an IPC
// channel, sends typed requests, correlates replies by id and surfaces events. Used by the
// controller and by the tests, so both talk to the hypervisor the same way.
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { distEntry } from '../lib/paths.js';
import type { ErrorKind } from '../lib/errors.js';
import { HypervisorError } from './errors.js';
import type { HypervisorEvent, HypervisorOp, HypervisorReply, HypervisorResults } from './protocol/messages.js';

type OpName = HypervisorOp['op'];
type ParamsOf<O extends OpName> = Extract<HypervisorOp, { op: O }>['params'];

export interface ForkOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Where the child's stderr goes; default inherits. */
  readonly stdio?: 'inherit' | 'pipe' | 'ignore';
  readonly entry?: string;
}

/** Emits 'event' (HypervisorEvent) and 'exit' (code, signal). */
export class HypervisorChannel extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout | undefined; op: string }>();

  constructor(readonly child: ChildProcess) {
    super();
    child.on('message', (m: HypervisorReply | HypervisorEvent) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      for (const [, p] of this.pending) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(new HypervisorError('HypervisorExited', 'unavailable', `The hypervisor exited before answering '${p.op}'.`, { code, signal }));
      }
      this.pending.clear();
      this.emit('exit', code, signal);
    });
  }

  static fork(stateDir: string, opts: ForkOptions = {}): HypervisorChannel {
    const stdio = opts.stdio ?? 'inherit';
    const child = fork(opts.entry ?? distEntry('hypervisor/main.js'), ['--state-dir', stateDir], {
      env: opts.env ?? process.env,
      stdio: [stdio, stdio, stdio, 'ipc'],
      serialization: 'json',
    });
    return new HypervisorChannel(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  request<O extends OpName>(op: O, params: ParamsOf<O>, timeoutMs = 120_000): Promise<HypervisorResults[O]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new HypervisorError('HypervisorTimeout', 'unavailable', `The hypervisor did not answer '${op}' in time.`, { op, timeoutMs }));
      }, timeoutMs) : undefined;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, op });
      this.child.send({ v: 1, id, op, params });
    });
  }

  /** Sends any value as-is (tests use it for malformed requests). */
  sendRaw(msg: unknown): void {
    this.child.send(msg as object);
  }

  /** Resolves with the first event matching `pred`. */
  waitEvent(pred: (ev: HypervisorEvent) => boolean, timeoutMs: number): Promise<HypervisorEvent> {
    return new Promise((resolve, reject) => {
      const on = (ev: HypervisorEvent): void => {
        if (!pred(ev)) return;
        clearTimeout(t);
        this.off('event', on);
        resolve(ev);
      };
      const t = setTimeout(() => {
        this.off('event', on);
        reject(new HypervisorError('EventTimeout', 'unavailable', 'The expected hypervisor event did not arrive in time.', { timeoutMs }));
      }, timeoutMs);
      this.on('event', on);
    });
  }

  /** Closes the channel; the hypervisor exits and leaves guests running. */
  disconnect(): void {
    if (this.child.connected) this.child.disconnect();
  }

  private onMessage(m: HypervisorReply | HypervisorEvent): void {
    if ('event' in m) {
      this.emit('event', m);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (p.timer) clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new HypervisorError(m.error.code, m.error.kind as ErrorKind, m.error.message, m.error.context ?? {}));
  }
}
