// Boots the image straight under qemu-system-x86_64, without the hypervisor component:
// how the image is checked on its own (`nitride image check`, test/vm/image-*.test.ts)
// and how its boot time is measured. The console is QEMU's stdout (-serial stdio); QMP
// is a unix socket in a private temporary directory. Only unix sockets: a NIC, when
// asked for, is a `-netdev stream` to a unix socket path.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImageError } from './errors.js';
import { MARKERS } from './markers.js';
import type { ImageManifest } from './build.js';

export interface BootOptions {
  /** Default tcg: the only accelerator that works for stock guests on these machines (qemu-notes.md). */
  readonly accel?: 'tcg' | 'kvm';
  /** Boot this kernel file instead of the manifest's (e.g. the bzImage, for comparison). */
  readonly kernelPath?: string;
  /** Attach a virtio-net NIC whose backend is a unix stream socket at this path (QEMU connects to it). */
  readonly nicSocketPath?: string;
  readonly mac?: string;
  readonly memoryMiB?: number;
}

export interface BootedGuest {
  readonly child: ChildProcess;
  readonly spawnedAt: number;
  readonly args: readonly string[];
  /** Everything QEMU wrote on the serial console so far. */
  console(): string;
  /** QEMU's own stderr so far. */
  stderr(): string;
  /** Resolves with ms since spawn when the console contains `text` (after `from` chars); rejects on deadline or exit. */
  waitFor(text: string, timeoutMs: number, from?: number): Promise<number>;
  /** Sends one QMP command and resolves with its `return` value. */
  qmp(execute: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Resolves with the exit code (or signal) when QEMU exits; rejects on deadline. */
  waitExit(timeoutMs: number): Promise<number | string>;
  /** CPU time (user + system) QEMU has used so far, in ms (10 ms resolution); undefined once it exited. */
  cpuMs(): number | undefined;
  /** Kills QEMU if it still runs and removes the temporary directory. Idempotent. */
  dispose(): Promise<void>;
}

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on Linux x86.
const CLOCK_TICKS = 100;

export function qemuArgs(manifest: ImageManifest, qmpPath: string, opts: BootOptions = {}): string[] {
  const args = [
    '-accel', opts.accel ?? 'tcg',
    '-M', 'q35,smbus=off,sata=off,vmport=off',
    '-m', String(opts.memoryMiB ?? 256),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-serial', 'stdio',
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-kernel', opts.kernelPath ?? manifest.kernel.path,
    '-initrd', manifest.initrd.path,
    '-append', manifest.cmdline,
  ];
  if (opts.nicSocketPath !== undefined) {
    args.push('-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${opts.nicSocketPath}`);
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${opts.mac ?? '52:54:00:12:34:56'}`);
  }
  return args;
}

class QmpConnection {
  private buf = '';
  private readonly waiters: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as { return?: unknown; error?: { class: string; desc: string }; event?: string; QMP?: unknown };
        if (msg.event !== undefined || msg.QMP !== undefined) continue;
        const w = this.waiters.shift();
        if (!w) continue;
        if (msg.error) w.reject(new ImageError('QmpError', 'internal', `QMP answered ${msg.error.class}: ${msg.error.desc}`, { ...msg.error }));
        else w.resolve(msg.return);
      }
    });
    const fail = (): void => {
      for (const w of this.waiters.splice(0)) w.reject(new ImageError('QmpClosed', 'unavailable', 'The QMP connection closed before an answer came.'));
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  static async open(path: string, deadline: number): Promise<QmpConnection> {
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const c = new QmpConnection(sock);
        await c.send('qmp_capabilities');
        return c;
      } catch (e) {
        if (Date.now() > deadline) throw new ImageError('QmpUnavailable', 'unavailable', `QEMU's QMP socket ${path} did not answer.`, { path }, { cause: e });
        await sleep(50);
      }
    }
  }

  send(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.sock.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Spawns QEMU on the image. The caller must `dispose()` the guest in a finally block. */
export function bootImage(manifest: ImageManifest, opts: BootOptions = {}): BootedGuest {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-imgboot-'));
  const qmpPath = join(dir, 'qmp.sock');
  const args = qemuArgs(manifest, qmpPath, opts);
  const spawnedAt = Date.now();
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let consoleText = '';
  let stderrText = '';
  let exit: number | string | undefined;
  let spawnError: Error | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    consoleText += d;
    notify();
  });
  child.stderr.on('data', (d: string) => {
    stderrText += d;
  });
  child.on('error', (e) => {
    spawnError = e;
    exit = 'spawn-error';
    notify();
  });
  child.on('exit', (code, signal) => {
    exit = code ?? signal ?? 'unknown';
    notify();
  });
  let qmp: QmpConnection | undefined;

  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const run = (): boolean => {
        try {
          const v = check();
          if (v === undefined) return false;
          resolve(v);
        } catch (e) {
          reject(e);
        }
        return true;
      };
      if (run()) return;
      const timer = setTimeout(() => {
        listeners.delete(l);
        reject(new ImageError('BootTimeout', 'unavailable', `Timed out after ${timeoutMs} ms waiting for ${what}.`, { what, console: consoleText.slice(-4000), stderr: stderrText.slice(-2000) }));
      }, timeoutMs);
      const l = (): void => {
        if (run()) {
          clearTimeout(timer);
          listeners.delete(l);
        }
      };
      listeners.add(l);
    });

  return {
    child,
    spawnedAt,
    args,
    console: () => consoleText,
    stderr: () => stderrText,
    waitFor: (text, timeoutMs, from = 0) =>
      until(
        () => {
          if (consoleText.indexOf(text, from) >= 0) return Date.now() - spawnedAt;
          if (exit !== undefined) {
            throw new ImageError('BootExited', 'unavailable', `QEMU exited (${String(exit)}) before the console showed '${text}'.`, {
              text,
              stderr: stderrText.slice(-2000),
              spawnError: spawnError?.message,
            });
          }
          return undefined;
        },
        timeoutMs,
        `'${text}' on the console`,
      ),
    qmp: async (execute, a) => {
      qmp ??= await QmpConnection.open(qmpPath, Date.now() + 10_000);
      return qmp.send(execute, a);
    },
    cpuMs: () => {
      try {
        // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
      } catch {
        return undefined;
      }
    },
    waitExit: (timeoutMs) => until(() => exit, timeoutMs, 'QEMU to exit'),
    dispose: async () => {
      qmp?.close();
      if (exit === undefined) {
        child.kill('SIGKILL');
        await until(() => exit, 10_000, 'QEMU to exit after SIGKILL').catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Boots once to the ready marker and powers off by the ACPI button; returns the timings. */
export async function checkImage(manifest: ImageManifest, opts: BootOptions = {}): Promise<{ readyMs: number; readyCpuMs: number | undefined; powerdownMs: number; console: string }> {
  const readyMarker = MARKERS.ready;
  const powerdownMarker = MARKERS.powerdown;
  const g = bootImage(manifest, opts);
  try {
    const readyMs = await g.waitFor(readyMarker, 120_000);
    const readyCpuMs = g.cpuMs();
    const t = Date.now();
    await g.qmp('system_powerdown');
    await g.waitExit(20_000);
    const powerdownMs = Date.now() - t;
    if (!g.console().includes(powerdownMarker)) {
      throw new ImageError('BootNoPowerdownMarker', 'internal', `QEMU exited after system_powerdown but the console lacks '${powerdownMarker}'.`, { console: g.console().slice(-4000) });
    }
    return { readyMs, readyCpuMs, powerdownMs, console: g.console() };
  } finally {
    await g.dispose();
  }
}
