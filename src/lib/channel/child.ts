// A component forked with an IPC channel as its only way in, and the channel client that
// talks to it. The controller's supervisor forks every card with this, and the tests and
// benchmarks fork the same cards with it: one client, one set of errors, one matcher.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { ChannelClient, type RequestOptions } from './client.js';
import type { EventMessage, OpOf, ParamsOf, ResultOf } from './envelope.js';
import { ChannelError, componentTitle } from './errors.js';
import { forkConfinement } from '../privileges.js';

export interface ForkChildOptions {
  /** The component's name: 'hypervisor', 'ebs', 'vpc', 'underlay', 'successor'. */
  readonly component: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Its working directory (default the parent's). */
  readonly cwd?: string;
  /** Where the child's stdout/stderr go (default inherit). */
  readonly stdio?: 'inherit' | 'pipe' | 'ignore';
  /** In its own process group and session, so a signal to the parent's group does not reach it. */
  readonly detached?: boolean;
  /** Default time limit of a request (default 30 s). */
  readonly timeoutMs?: number;
  readonly onEvent?: (e: EventMessage) => void;
  /** The event the component sends once it serves (e.g. 'card.ready'): `ready` resolves with it. */
  readonly readyEvent?: string;
}

/**
 * A forked component: `client` sends typed requests; emits 'event' (EventMessage) and 'exit'
 * (code, signal). When the process exits every waiting request fails with <Title>Unavailable.
 */
export class ChildChannel<C, E extends EventMessage = EventMessage> extends EventEmitter {
  readonly client: ChannelClient<C>;
  /** Resolves with the ready event (options.readyEvent), rejects if the process exits first; resolves at once without one. */
  readonly ready: Promise<EventMessage | undefined>;

  constructor(
    readonly child: ChildProcess,
    private readonly o: ForkChildOptions,
  ) {
    super();
    const readyEvent = o.readyEvent;
    this.ready =
      readyEvent === undefined
        ? Promise.resolve(undefined)
        : new Promise((resolve, reject) => {
            const onEvent = (e: EventMessage): void => {
              if (e.event !== readyEvent) return;
              this.off('event', onEvent);
              resolve(e);
            };
            this.on('event', onEvent);
            child.once('exit', (code, signal) => reject(new ChannelError(`${componentTitle(o.component)}Unavailable`, 'unavailable', `The ${o.component} component exited before it was ready.`, { code, signal })));
          });
    this.ready.catch(() => undefined);
    this.client = new ChannelClient<C>(child, {
      component: o.component,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      onEvent: (e) => {
        o.onEvent?.(e);
        this.emit('event', e);
      },
    });
    child.on('exit', (code, signal) => {
      this.client.close(new ChannelError(`${componentTitle(o.component)}Unavailable`, 'unavailable', `The ${o.component} component exited before it answered.`, { code, signal }));
      this.emit('exit', code, signal);
    });
    // An error event (e.g. EPIPE on a closed channel) must not crash the parent.
    child.on('error', () => undefined);
  }

  get component(): string {
    return this.o.component;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get connected(): boolean {
    return this.child.connected;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** client.request(): one typed request. */
  request<O extends OpOf<C>>(op: O, params: ParamsOf<C, O>, timeoutOrOptions?: number | RequestOptions): Promise<ResultOf<C, O>> {
    return this.client.request(op, params, timeoutOrOptions);
  }

  /** client.sendRaw(): any value as-is (tests of malformed input). */
  sendRaw(msg: unknown): void {
    this.client.sendRaw(msg);
  }

  /** Resolves with the first event matching `pred`. */
  waitEvent(pred: (ev: E) => boolean, timeoutMs: number): Promise<E> {
    return new Promise((resolve, reject) => {
      const on = (ev: E): void => {
        if (!pred(ev)) return;
        clearTimeout(t);
        this.off('event', on);
        resolve(ev);
      };
      const t = setTimeout(() => {
        this.off('event', on);
        reject(new ChannelError('EventTimeout', 'unavailable', `The expected ${this.o.component} event did not arrive in time.`, { timeoutMs }));
      }, timeoutMs);
      this.on('event', on);
    });
  }

  /** Closes the channel: the component exits (guests keep running). */
  disconnect(): void {
    if (this.child.connected) this.child.disconnect();
  }

  /** Resolves when the process has exited (at once if it has). */
  whenExited(): Promise<void> {
    return new Promise((r) => (this.exited ? r() : this.child.once('exit', () => r())));
  }

  /** Disconnects and waits for the exit; SIGKILL after `graceMs`. */
  async end(graceMs = 5_000): Promise<void> {
    const gone = this.whenExited();
    this.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = this.whenExited();
    this.child.kill('SIGKILL');
    await gone;
  }
}

/** Forks `entry` with `args` and an IPC channel (JSON serialization) and returns its channel. */
export function forkChild<C, E extends EventMessage = EventMessage>(entry: string, args: readonly string[], o: ForkChildOptions): ChildChannel<C, E> {
  const stdio = o.stdio ?? 'inherit';
  // Only the capabilities the component needs, and no_new_privs (src/lib/privileges.ts).
  const confined = forkConfinement(o.component, process.execArgv, entry);
  const child = fork(entry, [...args], {
    ...(confined ?? {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    stdio: [stdio === 'inherit' ? 'ignore' : stdio, stdio, stdio, 'ipc'],
    detached: o.detached === true,
    serialization: 'json',
  });
  return new ChildChannel<C, E>(child, o);
}
