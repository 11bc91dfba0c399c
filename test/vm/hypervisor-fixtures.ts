// The fixture ladder for hypervisor tests: a guest image (built once into the shared
// cache), a hypervisor forked exactly as the controller forks it (IPC channel, temporary
// state directory), helpers that poll with deadlines, and a cleanup that always kills
// every QEMU the test started (found by pidfile) and prints the consoles when a test fails.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureImage } from '../../src/image/build.js';
import { imageCacheDir } from '../../src/lib/paths.js';
import { letComponentSearch } from '../../src/lib/privileges.js';
import { forkHypervisor, type HypervisorChannel } from '../../src/hypervisor/client.js';
import { instanceCgroups, removeCgroups } from './jail-fixtures.js';
import type { GuestImageRef, HypervisorEvent, InstanceSpec } from '../../src/hypervisor/protocol/messages.js';

const say = (line: string): void => void process.stderr.write(`[image] ${line}\n`);

let imageRef: Promise<GuestImageRef> | undefined;

/** The nitride-minimal image as the hypervisor takes it (built into the shared cache once). */
export function guestImage(): Promise<GuestImageRef> {
  imageRef ??= ensureImage({ cacheDir: imageCacheDir(), say }).then((m) => ({
    kernel: m.kernel.path,
    initrd: m.initrd.path,
    cmdline: m.cmdline,
    kernelSha256: m.kernel.sha256,
    initrdSha256: m.initrd.sha256,
  }));
  return imageRef;
}

export function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export async function instanceSpec(instanceType = 't3.nano', instanceId = newInstanceId()): Promise<InstanceSpec & { image: GuestImageRef }> {
  return { instanceId, instanceType, image: await guestImage() };
}

/** Reads the cmdline of a pid, or undefined when it is gone. */
export function pidCmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A hypervisor process and its temporary state directory. */
export class HypervisorHarness {
  channel: HypervisorChannel;
  readonly events: HypervisorEvent[] = [];
  /** Every message the hypervisor sent, in order (replies and events). */
  readonly messages: unknown[] = [];
  stderr = '';

  private constructor(readonly stateDir: string) {
    this.channel = this.forkOne();
  }

  static async create(): Promise<HypervisorHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'nitride-hv-'));
    // the EBS card's user searches it on its way to the instance directories, as it searches the host's directory
    letComponentSearch('ebs', dir);
    return new HypervisorHarness(join(dir, 'hv'));
  }

  private forkOne(env?: NodeJS.ProcessEnv): HypervisorChannel {
    const ch = forkHypervisor(this.stateDir, { stdio: 'pipe', ...(env ? { env } : {}) });
    ch.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    ch.child.stdout?.resume();
    ch.child.on('message', (m) => this.messages.push(m));
    ch.on('event', (ev: HypervisorEvent) => this.events.push(ev));
    return ch;
  }

  /** kill -9 the hypervisor (guests are left alone) and wait until it is gone. */
  async kill9(): Promise<void> {
    const ch = this.channel;
    if (ch.child.exitCode !== null || ch.child.signalCode !== null) return;
    const gone = new Promise((r) => ch.child.once('exit', r));
    ch.child.kill('SIGKILL');
    await gone;
  }

  /** Replaces the hypervisor (kill -9) by one forked with extra environment variables. */
  restartWith(extra: NodeJS.ProcessEnv): HypervisorChannel {
    const old = this.channel;
    old.child.kill('SIGKILL');
    this.channel = this.forkOne({ ...process.env, ...extra });
    return this.channel;
  }

  /** Forks a fresh hypervisor on the same state directory. */
  restart(): HypervisorChannel {
    this.channel = this.forkOne();
    return this.channel;
  }

  instanceDirs(): string[] {
    const d = join(this.stateDir, 'instances');
    return existsSync(d) ? readdirSync(d).map((n) => join(d, n)) : [];
  }

  /** QEMU pids from every instance's pidfile that still belong to that instance. */
  qemuPids(): number[] {
    const out: number[] = [];
    for (const dir of this.instanceDirs()) {
      try {
        const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
        const id = dir.split('/').pop() ?? '';
        if (pid > 1 && pidCmdline(pid)?.includes(`guest=${id}`)) out.push(pid);
      } catch {
        // no pidfile
      }
    }
    return out;
  }

  dump(): string {
    const parts: string[] = [`--- hypervisor stderr (tail) ---\n${this.stderr.slice(-8000)}`];
    for (const dir of this.instanceDirs()) {
      for (const f of ['console.prev.log', 'console.log', 'qemu.log']) {
        try {
          parts.push(`--- ${join(dir, f)} ---\n${readFileSync(join(dir, f), 'utf8').slice(-8000)}`);
        } catch {
          // absent
        }
      }
    }
    return parts.join('\n');
  }

  /** Kills every QEMU and the hypervisor, removes the state directory. */
  async cleanup(failed: boolean): Promise<void> {
    if (failed) process.stderr.write(`${this.dump()}\n`);
    for (const pid of this.qemuPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const cgroups = this.instanceDirs().flatMap((d) => instanceCgroups(d));
    await this.kill9();
    const deadline = Date.now() + 5000;
    while (this.qemuPids().some(pidAlive) && Date.now() < deadline) await sleep(50);
    // The jails' cgroups (the hypervisor removes them when it sees a guest go; it was killed).
    await removeCgroups(cgroups);
    await rm(join(this.stateDir, '..'), { recursive: true, force: true });
  }
}

/** Runs `fn` with a fresh harness; always cleans up, dumping consoles when `fn` throws. */
export async function withHypervisor(fn: (h: HypervisorHarness) => Promise<void>): Promise<void> {
  const h = await HypervisorHarness.create();
  let failed = true;
  try {
    await fn(h);
    failed = false;
  } finally {
    await h.cleanup(failed);
  }
}

export function consoleText(output: string): string {
  return Buffer.from(output, 'base64').toString('utf8');
}

/** The guest's console (the hypervisor's ring buffer), as text. */
export async function consoleOf(h: HypervisorHarness, instanceId: string): Promise<string> {
  return consoleText((await h.channel.request('instance.console', { instanceId })).output);
}

/** Waits until `re` matches the guest's console and returns the match. */
export async function waitLine(h: HypervisorHarness, instanceId: string, re: RegExp, ms: number): Promise<string> {
  let found = '';
  await until(`${re} on ${instanceId}'s console`, async () => {
    const m = re.exec(await consoleOf(h, instanceId));
    if (m) found = m[0];
    return m !== null;
  }, ms);
  return found;
}

export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** Polls `fn` until it returns true or the deadline passes. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
