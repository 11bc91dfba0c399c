// A live-update rig shared by test/vm/host-update.test.ts and bench/live-update.ts (issue 6,
// items 6 and 8): signed bundles of two versions (A and B) built with a fresh release key, a
// real controller in signed mode started from the A bundles, an in-process region that holds
// the host to A's release measurements and enrols it, and a real guest (QEMU, TCG) with an
// encrypted EBS volume that writes and fsyncs 4 KiB blocks in a loop and pings its VPC
// gateway every 50 ms. Updates go through `nitride host update` (the region's credential →
// the controller). The guest's console file is tailed every 10 ms so each line gets a host
// arrival time; an update's window [t0, t1] is then judged from what the guest printed: the
// largest gap between I/O completions and between ping replies that spans the window, the
// I/O errors, and the ping replies that never came.
import { cgroupsUnder, removeCgroups } from './vm/jail-fixtures.js';
import type { CommandType, ParamsOf, ResultOf } from '../src/controller/protocol/commands.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AttachVolumeCommand, CreateVolumeCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { hostPaths, readRuntime } from '../src/controller/host-state.js';
import { vpcSocketDir } from '../src/controller/cards/vpc.js';
import { ensureImage } from '../src/image/build.js';
import { distEntry, imageCacheDir, projectRoot } from '../src/lib/paths.js';
import { waitFor as waitForLib } from '../src/lib/wait.js';
import { Region } from '../src/region/region.js';
import { ImageService } from '../src/region/ec2/images.js';
import { buildBundle, generateReleaseKey, type VerifiedBundle } from '../src/security-chip/bundle.js';
import { defaultBundleSources, isTestFile } from '../src/security-chip/bundle-sources.js';
import { COMPONENT_NAMES, type ComponentName } from '../src/security-chip/pcr.js';
import { releaseMeasurements } from '../src/security-chip/policy.js';

export type UpdatableComponent = 'ebs' | 'vpc' | 'hypervisor' | 'controller';
export const BUNDLE_OF: Readonly<Record<UpdatableComponent, ComponentName>> = { ebs: 'ebs-card', vpc: 'vpc-card', hypervisor: 'hypervisor', controller: 'controller' };

export interface RigOptions {
  readonly log?: (line: string) => void;
  /** The two release versions (default 'a' and 'b' suffixes of 2026.11.28). */
  readonly versions?: readonly [string, string];
  /** Milliseconds to wait before the guest boots (ms): default 300 s (TCG). */
  readonly bootMs?: number;
}

export interface CliRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly ms: number;
}

/** What the guest saw during one update. */
export interface WindowFigures {
  /** Largest gap (ms) between two consecutive I/O completions that spans the window. */
  readonly ioMaxGapMs: number;
  /** Median gap (ms) between I/O completions in the 5 s before the window (the guest's own pace under TCG). */
  readonly ioBaselineMs: number;
  readonly ioOps: number;
  readonly ioErrors: number;
  /** Largest gap (ms) between two consecutive ping replies that spans the window. */
  readonly netMaxGapMs: number;
  /** Median gap between ping replies before the window (the 50 ms interval, plus TCG jitter). */
  readonly netBaselineMs: number;
  /** Pings sent around the window that were never answered. */
  readonly netLost: number;
}

export interface UpdateRun extends WindowFigures {
  readonly component: UpdatableComponent;
  readonly kind: 'update' | 'rollback';
  /** The CLI's round trip (process start to exit). */
  readonly cliMs: number;
  /** The controller's own time for host.update (verify, measure, hand over, retire). */
  readonly updateMs: number;
  readonly result: Record<string, unknown>;
}

/** A crash of the EBS card (SIGKILL) while the guest works: the supervisor's restart, as the guest sees it. */
export interface CrashRun extends WindowFigures {
  /** From the kill until a new card process serves the volume again (ebs.info). */
  readonly servedAgainMs: number;
}

interface Line {
  readonly t: number;
  readonly text: string;
}

/** Tails a console.log every 10 ms and timestamps each complete line on arrival. */
class ConsoleWatch {
  readonly lines: Line[] = [];
  private offset = 0;
  private carry = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly path: string) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), 10);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private poll(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // the hypervisor rotated the log
      if (size === this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const now = performance.now();
      const parts = (this.carry + buf.subarray(0, n).toString('latin1')).split(/\r?\n/);
      this.carry = parts.pop() ?? '';
      for (const p of parts) this.lines.push({ t: now, text: p });
    } finally {
      closeSync(fd);
    }
  }

  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
}

const IO = /hu-io (\d+) (ok|error)/;
const PING = /seq=(\d+) ttl=\d+ time=/;

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Largest gap between consecutive times that spans [t0, t1]: from the last time before t0 to the first after t1. */
function spanningGap(times: readonly number[], t0: number, t1: number): number {
  let i0 = 0;
  for (let i = 0; i < times.length; i++) if ((times[i] as number) <= t0) i0 = i;
  let i1 = times.length - 1;
  for (let i = times.length - 1; i >= 0; i--) if ((times[i] as number) >= t1) i1 = i;
  let max = 0;
  for (let i = i0 + 1; i <= i1; i++) max = Math.max(max, (times[i] as number) - (times[i - 1] as number));
  return Math.round(max * 10) / 10;
}

function baseline(times: readonly number[], t0: number): number {
  const before = times.filter((t) => t < t0 && t > t0 - 5_000);
  return Math.round(median(before.slice(1).map((t, k) => t - (before[k] as number))) * 10) / 10;
}

const waitFor = <T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> => waitForLib(what, fn, timeoutMs, everyMs);

const GUEST_SCRIPT = [
  'while [ ! -b /dev/nvme0n1 ]; do sleep 0.2; done',
  "gw=$(ip route | awk '/^default/ {print $3; exit}')",
  'echo "hu-start gw=$gw"',
  'ping -i 0.05 "$gw" &',
  'i=0',
  'while :; do',
  '  if printf "T%08d" $i | dd of=/dev/nvme0n1 bs=4096 seek=$((i % 256)) conv=sync,fsync 2>/dev/null; then echo "hu-io $i ok"; else echo "hu-io $i error"; fi',
  '  i=$((i + 1))',
  'done',
].join('\n');

export class LiveUpdateRig {
  readonly releasePubPath: string;
  readonly bundles: { readonly A: Record<ComponentName, VerifiedBundle>; readonly B: Partial<Record<ComponentName, VerifiedBundle>> } = { A: {} as Record<ComponentName, VerifiedBundle>, B: {} };
  region: Region | undefined;
  ec2: EC2Client | undefined;
  hostId = '';
  instanceId = '';
  volumeId = '';
  private controller: ChildProcess | undefined;
  private watch: ConsoleWatch | undefined;
  private readonly log: (line: string) => void;
  private readonly versions: readonly [string, string];
  private release = 0;

  private constructor(
    readonly home: string,
    readonly releaseKeyPem: string,
    releasePubPem: string,
    o: RigOptions,
  ) {
    this.releasePubPath = join(home, 'release.pub');
    writeFileSync(this.releasePubPath, releasePubPem);
    this.log = o.log ?? (() => undefined);
    this.versions = o.versions ?? ['2026.11.28-a', '2026.11.28-b'];
  }

  /** Bundles, controller, region, guest: everything up and the guest writing and pinging. */
  static async start(o: RigOptions = {}): Promise<LiveUpdateRig> {
    // short: the EBS card's staged socket (instance dir + ebs-vol-….sock.next-PID) must fit a unix socket path (107 bytes)
    const home = await mkdtemp(join(tmpdir(), 'hu-'));
    await chmod(home, 0o711); // the cards load their bundles (home/rel) as their own users (docs/THREAT-MODEL.md "Users and privileges …")
    const key = generateReleaseKey();
    const rig = new LiveUpdateRig(home, key.privateKeyPem, key.publicKeyPem, o);
    try {
      await rig.setUp(o.bootMs ?? 300_000);
    } catch (e) {
      rig.log(`rig start failed: ${String(e)}\n${rig.diagnostics()}`);
      await rig.close();
      throw e;
    }
    return rig;
  }

  /** The A or B bundle directory of a component. */
  dir(which: 'A' | 'B', name: ComponentName): string {
    return join(this.home, 'rel', which, name);
  }

  /** Builds one bundle (the components' code: dist/src without tests, package.json, the XTS addon). */
  async build(name: ComponentName, version: string, out: string, privateKeyPem = this.releaseKeyPem): Promise<VerifiedBundle> {
    const root = projectRoot();
    const from = defaultBundleSources(root).filter((p) => !p.startsWith('node_modules'));
    const t0 = performance.now();
    const b = await buildBundle({ name, version, from, root, out, exclude: isTestFile }, privateKeyPem);
    this.log(`built ${name} ${version} (${b.manifest.files.length} files) in ${Math.round(performance.now() - t0)} ms`);
    return b;
  }

  private async setUp(bootMs: number): Promise<void> {
    const [va, vb] = this.versions;
    for (const name of COMPONENT_NAMES) this.bundles.A[name] = await this.build(name, va, this.dir('A', name));
    for (const name of COMPONENT_NAMES) this.bundles.B[name] = await this.build(name, vb, this.dir('B', name));

    // The controller in signed mode from the A bundles.
    const logFd = openSync(join(this.home, 'controller-test.log'), 'a', 0o600);
    const child = spawn(process.execPath, [distEntry('controller/main.js'), '--home', this.home, '--port', '0', '--bundles', join(this.home, 'rel', 'A'), '--release-pubkey', this.releasePubPath], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, NITRIDE_HOME: this.home },
    });
    closeSync(logFd);
    this.controller = child;
    const rt = await waitFor('the signed controller to listen', () => {
      if (child.exitCode !== null) throw new Error(`the controller exited with ${child.exitCode}`);
      const r = readRuntime(this.home);
      return r && r.pid === child.pid ? r : undefined;
    }, 60_000, 100);
    this.hostId = rt.hostId;

    // The region: holds this host to release A's measurements, then enrols it.
    const m = await ensureImage({ cacheDir: imageCacheDir(), say: (l) => this.log(`[image] ${l}`) });
    const region = await Region.open({
      home: this.home,
      port: 0,
      localHost: false,
      builtinImage: { kernel: { path: m.kernel.path, sha256: m.kernel.sha256 }, initrd: { path: m.initrd.path, sha256: m.initrd.sha256 }, cmdline: m.cmdline, kernelVersion: m.kernelVersion, version: m.version },
    });
    this.region = region;
    await this.assignCurrentRelease();
    const token = readFileSync(hostPaths(this.home).token, 'utf8').trim();
    await region.fleet.enroll(rt.address, rt.port, token, { fingerprint: rt.fingerprint });
    const v = await this.regionVerdict();
    if (!v.ok) throw new Error(`the region refused the signed host at enrolment: ${JSON.stringify(v)}`);

    // The guest: an encrypted volume, written and fsync'd in a loop; a ping to the gateway every 50 ms.
    const ec2 = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey } });
    this.ec2 = ec2;
    const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, VolumeType: 'gp3', Encrypted: true }));
    this.volumeId = vol.VolumeId as string;
    const UserData = Buffer.from(`#!/bin/sh\n(\n${GUEST_SCRIPT}\n) </dev/null >/dev/console 2>&1 &\n`).toString('base64');
    const res = await ec2.send(new RunInstancesCommand({ ImageId: ImageService.builtinId(), InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData }));
    this.instanceId = res.Instances?.[0]?.InstanceId as string;
    this.log(`guest ${this.instanceId} launched; waiting for it to run (TCG)`);
    await waitFor(`${this.instanceId} running`, async () => {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [this.instanceId] }));
      return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined;
    }, bootMs, 1000);
    this.watch = new ConsoleWatch(join(hostPaths(this.home).hypervisorDir, 'instances', this.instanceId, 'console.log'));
    this.watch.start();
    await ec2.send(new AttachVolumeCommand({ VolumeId: this.volumeId, InstanceId: this.instanceId, Device: '/dev/sdf' }));
    await waitFor('the guest to write and ping', () => {
      const w = this.watch as ConsoleWatch;
      const io = w.lines.filter((l) => IO.test(l.text)).length;
      const net = w.lines.filter((l) => PING.test(l.text)).length;
      return io >= 10 && net >= 10 ? true : undefined;
    }, bootMs, 500);
    this.log(`guest ${this.instanceId} writes to ${this.volumeId} and pings its gateway`);
  }

  /** The guest's console as tailed so far. */
  consoleText(): string {
    return this.watch?.text() ?? '';
  }

  /** The release measurements of what the host runs now, stored and assigned to the host (what an operator does after an update). */
  async assignCurrentRelease(current?: Partial<Record<ComponentName, VerifiedBundle>>): Promise<string> {
    const att = this.region?.fleet.attestation;
    if (!att) throw new Error('the region has no attestation');
    const set = { ...this.bundles.A, ...(current ?? {}) };
    const name = `rig-${this.release++}`;
    await att.setReleasePolicy(releaseMeasurements(name, COMPONENT_NAMES.map((n) => set[n])));
    await att.assignRelease(this.hostId, name);
    return name;
  }

  /** A fresh attestation judged by the region (no cache). */
  regionVerdict(): Promise<{ ok: boolean; code: string | null; mismatches: readonly { pcr: number }[] }> {
    const att = this.region?.fleet.attestation;
    if (!att) throw new Error('the region has no attestation');
    return att.attest(this.hostId, 'live-update-test');
  }

  /** A controller command sent by the region (its credential). */
  send<T extends CommandType>(type: T, params: ParamsOf<T>): Promise<ResultOf<T>> {
    if (!this.region) throw new Error('no region');
    return this.region.fleet.send(this.hostId, type, params, { id: `rig:${type}:${Date.now()}:${Math.random()}`, timeoutMs: 60_000 });
  }

  /** `nitride host <args> --home HOME` as the region's operator runs it. */
  cli(args: readonly string[]): Promise<CliRun> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('NITRIDE_')) env[k] = v;
      // The rig drives the controller directly (its region runs in-process and the test sets the
      // release policies itself); the region API path is test/vm/host-update-region.test.ts.
      const all = args[0] === 'update' ? [...args, '--direct'] : args;
      const ch = spawn(process.execPath, [distEntry('cli/main.js'), 'host', ...all, '--home', this.home], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, NITRIDE_HOME: this.home } });
      let out = '';
      let err = '';
      ch.stdout.on('data', (d: Buffer) => (out += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
      ch.on('close', (code) => resolve({ code, out, err, ms: Math.round(performance.now() - t0) }));
    });
  }

  /** What the guest printed around [t0, t1] (performance.now() times), after letting a second of output arrive. */
  async window(t0: number, t1: number): Promise<WindowFigures> {
    const w = this.watch;
    if (!w) throw new Error('no guest');
    const need = performance.now() + 1_500;
    await waitFor('guest output after the update', () => {
      const io = w.lines.filter((l) => l.t > t1 && IO.test(l.text)).length;
      const net = w.lines.filter((l) => l.t > t1 && PING.test(l.text)).length;
      return performance.now() >= need && io >= 3 && net >= 3 ? true : undefined;
    }, 60_000, 100);
    const io = w.lines.map((l) => ({ t: l.t, m: IO.exec(l.text) })).filter((x) => x.m !== null);
    const ioOk = io.filter((x) => x.m?.[2] === 'ok').map((x) => x.t);
    const ioErrors = io.filter((x) => x.m?.[2] === 'error' && x.t >= t0 - 1_000).length;
    const pings = w.lines.map((l) => ({ t: l.t, m: PING.exec(l.text) })).filter((x) => x.m !== null).map((x) => ({ t: x.t, seq: Number(x.m?.[1]) }));
    const netTimes = pings.map((p) => p.t);
    // pings sent from the last reply before t0 to the first after t1: each must have been answered
    const before = pings.filter((p) => p.t <= t0).pop();
    const after = pings.find((p) => p.t >= t1);
    let netLost = 0;
    if (before && after) {
      const seen = new Set(pings.map((p) => p.seq));
      for (let s = before.seq + 1; s < after.seq; s++) if (!seen.has(s)) netLost++;
    }
    return {
      ioMaxGapMs: spanningGap(ioOk, t0, t1),
      ioBaselineMs: baseline(ioOk, t0),
      ioOps: ioOk.filter((t) => t >= t0 && t <= t1).length,
      ioErrors,
      netMaxGapMs: spanningGap(netTimes, t0, t1),
      netBaselineMs: baseline(netTimes, t0),
      netLost,
    };
  }

  /** One `nitride host update` (or --rollback) while the guest works; the guest's view of it. */
  async update(component: UpdatableComponent, target: { bundle: string } | { rollback: true }): Promise<UpdateRun> {
    const args = ['update', '--component', component, '--json', ...('bundle' in target ? ['--bundle', target.bundle] : ['--rollback'])];
    await sleep(1_000); // a quiet second before, for the baseline
    const t0 = performance.now();
    const before = readRuntime(this.home)?.pid;
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`nitride host ${args.join(' ')} failed (${r.code}): ${r.err}${r.out}`);
    const result = JSON.parse(r.out) as Record<string, unknown> & { totalMs: number; kind: 'update' | 'rollback' };
    if (component === 'controller') {
      // the update ends when the successor has taken the listening socket and written controller.json
      await waitFor('the new controller to take over', () => (readRuntime(this.home)?.pid !== before ? true : undefined), 30_000, 20);
    }
    const t1 = performance.now();
    const w = await this.window(t0, t1);
    return { component, kind: result.kind, cliMs: r.ms, updateMs: result.totalMs, result, ...w };
  }

  /** SIGKILL of the EBS card while the guest writes: the supervisor starts a new one and QEMU reconnects. */
  async crashEbsCard(): Promise<CrashRun> {
    await sleep(1_000); // a quiet second before, for the baseline
    const before = (await this.send('ebs.info', {})).pid;
    const t0 = performance.now();
    process.kill(before, 'SIGKILL');
    await waitFor('a new EBS card serving the volume', async () => {
      try {
        const i = await this.send('ebs.info', {});
        return i.pid !== before && i.volumeIds.includes(this.volumeId) ? true : undefined;
      } catch {
        return undefined;
      }
    }, 120_000, 50);
    const t1 = performance.now();
    return { servedAgainMs: Math.round(t1 - t0), ...(await this.window(t0, t1)) };
  }

  /** The pid of the controller serving now (controller.json). */
  controllerPid(): number | undefined {
    return readRuntime(this.home)?.pid;
  }

  /** The controller's log and the guest's console tail, for a failure report. */
  diagnostics(): string {
    const p = join(this.home, 'controller-test.log');
    const log = existsSync(p) ? readFileSync(p, 'utf8').slice(-4000) : '';
    return `--- controller log (tail)\n${log}\n--- guest console (tail)\n${this.consoleText().slice(-3000)}`;
  }

  /** Stops everything this rig started (region, controller, components, QEMU) and removes its files. */
  async close(): Promise<void> {
    // The guests' jail cgroups, read before anything is killed (a killed hypervisor leaves them).
    const cgroups = cgroupsUnder(join(hostPaths(this.home).hypervisorDir, 'instances'));
    this.watch?.stop();
    this.ec2?.destroy();
    try {
      await this.region?.close();
    } catch (e) {
      this.log(`region close: ${String(e)}`);
    }
    // After a live update of the controller the one serving is not our child: SIGTERM it and wait.
    const now = this.controllerPid();
    if (now !== undefined && now !== this.controller?.pid) {
      try {
        process.kill(now, 'SIGTERM');
        for (let i = 0; i < 100; i++) {
          process.kill(now, 0);
          await sleep(100);
        }
      } catch {
        // gone
      }
    }
    const c = this.controller;
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    // Whatever still runs with this home on its command line or as its cwd: QEMU, cards, hypervisor.
    for (let round = 0; round < 3; round++) {
      for (const pid of processesOf(this.home)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(200);
    }
    await removeCgroups(cgroups);
    rmSync(join(vpcSocketDir(this.home), '..'), { recursive: true, force: true });
    rmSync(this.home, { recursive: true, force: true });
  }
}

/**
 * Pids of the processes whose command line names `home` or whose working directory is inside
 * it (not this process). QEMU and swtpm run in their instance directory with relative paths on
 * their command line: matching the command line alone left every rig's guest running.
 */
export function processesOf(home: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(home)) {
        out.push(Number(d));
        continue;
      }
      const cwd = readlinkSync(`/proc/${d}/cwd`);
      if (cwd === home || cwd.startsWith(`${home}/`)) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

