// The controller's side of the card's channel: forks the card with an IPC channel, sends
// typed requests and correlates replies by id. Tests use it too.
import { type ChildProcess, fork } from 'node:child_process';
import { distEntry } from '../lib/paths.js';
import type { ErrorKind } from '../lib/errors.js';
import { VpcError } from './errors.js';
import type { VpcOp, VpcReply } from './protocol/messages.js';

type OpName = VpcOp['op'];
type ParamsOf<O extends OpName> = Extract<VpcOp, { op: O }>['params'];

export class VpcChannel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  readonly ready: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let onReady: () => void = () => undefined;
    this.ready = new Promise((r) => (onReady = r));
    child.on('message', (m: VpcReply) => {
      if (m.id === 0) {
        onReady();
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new VpcError(m.error.code, m.error.kind as ErrorKind, m.error.message, m.error.context ?? {}));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new VpcError('CardExited', 'unavailable', 'The VPC card exited before answering.', { code, signal }));
      }
      this.pending.clear();
    });
  }

  static fork(socketDir: string, opts: { stdio?: 'inherit' | 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv } = {}): VpcChannel {
    const stdio = opts.stdio ?? 'inherit';
    const child = fork(distEntry('vpc/main.js'), ['--socket-dir', socketDir], {
      env: opts.env ?? process.env,
      stdio: [stdio, stdio, stdio, 'ipc'],
      serialization: 'json',
    });
    return new VpcChannel(child);
  }

  request<O extends OpName>(op: O, params: ParamsOf<O>, timeoutMs = 10_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VpcError('CardTimeout', 'unavailable', `The VPC card did not answer '${op}' in time.`, { op }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ v: 1, id, op, params });
    });
  }

  sendRaw(msg: unknown): void {
    this.child.send(msg as object);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }
}
