// The socket side of QMP: connects to QEMU's unix socket, negotiates capabilities,
// correlates replies by id and delivers events. Every command — the hypervisor's own and
// the controller's pass-through — goes through execute(), and execute() asks the allowlist
// first: a refused command is audited (the callback runs before the error is thrown) and
// never written to the socket.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HypervisorError, QmpCommandRefusedError } from './errors.js';
import { checkQmpCommand, type QmpEndpointPolicy } from './protocol/qmp-allowlist.js';
import { encodeQmpCommand, type QmpEvent, QmpDecoder } from './protocol/qmp.js';

export interface QmpAuditRecord {
  readonly type: 'qmp.refused';
  readonly instanceId: string | undefined;
  readonly command: string;
  readonly reason: string;
  readonly time: string;
}
export type QmpAuditSink = (record: QmpAuditRecord) => void;

/**
 * The allowlist gate. Throws QmpCommandRefused after handing the audit record to `audit`.
 * Used by QmpClient.execute() and by callers that must refuse even when no QEMU runs.
 */
export function guardQmpCommand(
  execute: string,
  args: Record<string, unknown> | undefined,
  instanceId: string | undefined,
  audit: QmpAuditSink,
  endpoints?: QmpEndpointPolicy,
): void {
  const verdict = checkQmpCommand(execute, args, endpoints);
  if (verdict.allowed) return;
  audit({ type: 'qmp.refused', instanceId, command: execute, reason: verdict.reason, time: new Date().toISOString() });
  throw new QmpCommandRefusedError(execute, verdict.reason, instanceId);
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  command: string;
}

export interface QmpClientOptions {
  readonly instanceId?: string;
  readonly audit: QmpAuditSink;
  /** The unix sockets commands may name (the instance's own); none when absent. */
  readonly endpoints?: QmpEndpointPolicy;
  /** How long to keep retrying while the socket does not exist yet. */
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

/** Emits 'event' (QmpEvent) and 'close' (). */
export class QmpClient extends EventEmitter {
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly decoder = new QmpDecoder();
  private greeted: ((ok: boolean) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: QmpClientOptions,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
  }

  /** Connects (retrying until the socket appears), waits for the greeting and negotiates. */
  static async connect(path: string, opts: QmpClientOptions): Promise<QmpClient> {
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
    let lastErr: unknown;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => {
            s.off('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
        const client = new QmpClient(sock, opts);
        await client.handshake(Math.max(1000, deadline - Date.now()));
        return client;
      } catch (e) {
        lastErr = e;
        if (Date.now() >= deadline) break;
        await sleep(50);
      }
    }
    throw new HypervisorError('QmpUnavailable', 'unavailable', 'QEMU did not answer on its QMP socket in time.', { path, instanceId: opts.instanceId }, { cause: lastErr });
  }

  private async handshake(timeoutMs: number): Promise<void> {
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.greeted = (v) => {
        clearTimeout(t);
        resolve(v);
      };
    });
    if (!ok) {
      this.close();
      throw new HypervisorError('QmpUnavailable', 'unavailable', 'QEMU sent no QMP greeting.', { instanceId: this.opts.instanceId });
    }
    await this.execute('qmp_capabilities');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one allowed command and resolves with its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    guardQmpCommand(command, args, this.opts.instanceId, this.opts.audit, this.opts.endpoints);
    if (this.closed) {
      return Promise.reject(new HypervisorError('QmpClosed', 'unavailable', 'The QMP connection is closed.', { command, instanceId: this.opts.instanceId }));
    }
    const id = `n${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HypervisorError('QmpTimeout', 'unavailable', `QEMU did not answer '${command}' in time.`, { command, instanceId: this.opts.instanceId }));
      }, this.opts.commandTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer, command });
      this.socket.write(encodeQmpCommand(command, args, id));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    for (const m of this.decoder.push(chunk)) {
      switch (m.type) {
        case 'greeting':
          this.greeted?.(true);
          this.greeted = undefined;
          break;
        case 'return':
        case 'error': {
          const p = m.id === undefined ? undefined : this.pending.get(m.id);
          if (!p) break;
          this.pending.delete(m.id as string);
          clearTimeout(p.timer);
          if (m.type === 'return') p.resolve(m.value);
          else p.reject(new HypervisorError('QmpCommandFailed', 'internal', `QEMU refused '${p.command}': ${m.desc}`, { command: p.command, errorClass: m.errorClass, desc: m.desc }));
          break;
        }
        case 'event':
          this.emit('event', m satisfies QmpEvent);
          break;
        case 'invalid':
          break;
      }
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.greeted?.(false);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new HypervisorError('QmpClosed', 'unavailable', 'The QMP connection closed before QEMU answered.', { command: p.command, instanceId: this.opts.instanceId }));
    }
    this.pending.clear();
    this.emit('close');
  }
}
