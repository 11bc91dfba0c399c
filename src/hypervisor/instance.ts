// One guest: its directory, its QEMU process, its QMP connection and its console tail,
// and the state machine  starting → running → stopping → stopped (→ starting …) and
// terminated. State that must survive a restart of the hypervisor lives in the instance
// directory: spec.json (what to launch) and runtime.json (the current launch).
import { constants, existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readdir, rm, unlink, writeFile, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireInstanceType } from '../lib/instance-types.js';
import { MARKERS } from '../image/markers.js';
import type { Logger } from '../lib/log.js';
import { ConsoleTail, readConsoleTail } from './console-log.js';
import { HypervisorError } from './errors.js';
import { buildQemuArgs, DEFAULT_HOTPLUG_SLOTS, INSTANCE_FILES } from './protocol/qemu-args.js';
import { OVMF_VARS_FILE, OVMF_VARS_TEMPLATE_PATH } from './protocol/boot-disk.js';
import { destroyVtpm, provisionVtpm, startVtpm } from './vtpm.js';
import type { ConsoleOutput, HypervisorEvent, InstanceInfo, InstanceRunState, InstanceSpec } from './protocol/messages.js';
import { guardQmpCommand, QmpClient, type QmpAuditSink } from './qmp-client.js';
import { kvmGroup, launchQemu, pidAlive, pidIsInstance, type QemuConfinement, type QemuOwner, readPidfile, readQemuLog, stageImage, waitForExit } from './qemu-process.js';
import { createInstanceCgroups, instanceLimits, removeInstanceCgroups } from './jail/cgroup.js';
import type { JailIdentity } from './jail/jail-ids.js';
import type { Jailer } from './jail/jailer.js';

export interface Runtime {
  pid: number;
  accel: 'kvm' | 'tcg';
  launchedAt: string;
  readyAt: string | undefined;
  /** Offset in console.log where the current boot's output starts. */
  bootOffset: number;
  /** The launch's cgroup directories (jail/cgroup.ts), removed once QEMU is gone. */
  cgroups?: string[];
}

export interface InstanceEnv {
  readonly emit: (ev: HypervisorEvent) => void;
  readonly audit: QmpAuditSink;
  readonly owner: QemuOwner | undefined;
  /** Present when the hypervisor is root: every guest gets its own jail (src/hypervisor/jail/). */
  readonly jailer: Jailer | undefined;
  readonly log: Logger;
}

const QUIT_GRACE_MS = 3000;
/** Where QEMU's QMP socket was before the jail put it in run/ (re-adopting such a guest). */
const LEGACY_QMP_SOCKET = 'qmp.sock';

/** instance.state reasons of a requested stop. */
export const STOP_REASONS = {
  acpi: 'stopped by request',
  forced: 'stopped by request (forced: no ACPI power-down)',
  deadline: 'stopped hard: the guest did not power off by the stop deadline',
} as const;

let tmpSeq = 0;
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${tmpSeq++}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The EBS card's export socket names in an instance directory (controller/cards/ebs.ts socketNameOf). */
const EBS_SOCKET_NAME = /^ebs-vol-[0-9a-f]+\.sock$/;

export class Instance {
  state: InstanceRunState = 'stopped';
  private runtime: Runtime | undefined;
  private qmp: QmpClient | undefined;
  private tail: ConsoleTail | undefined;
  private lastShutdownReason: string | undefined;
  private stopRequested = false;
  /** Why a requested stop ended the guest: its own ACPI power-off, or a hard stop. */
  private stopHow: 'acpi' | 'forced' | 'deadline' = 'acpi';
  private terminating = false;
  private gone: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  /**
   * The QMP endpoint policy: a command may name only sockets Nitride made for this instance —
   * its VPC card NIC sockets (absolute paths from the spec) and the EBS card's export sockets
   * the controller creates in this instance's directory (`ebs-<volume>.sock`, relative to
   * QEMU's working directory, or the same file by absolute path).
   */
  private readonly ownSocket = (path: string): boolean => {
    if (this.spec.nics?.some((n) => n.socketPath === path)) return true;
    const name = path.startsWith('/') ? (dirname(path) === this.dir ? basename(path) : undefined) : path;
    return name !== undefined && EBS_SOCKET_NAME.test(name);
  };

  constructor(
    public spec: InstanceSpec,
    readonly dir: string,
    private readonly env: InstanceEnv,
  ) {}

  get id(): string {
    return this.spec.instanceId;
  }

  /** Runs mutating operations one at a time. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** `mayExist`: a root-volume instance's directory was made before its first start, for the card's socket. */
  static async createDir(dir: string, owner: QemuOwner | undefined, mayExist = false): Promise<void> {
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if (!mayExist || (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      await chmod(dir, 0o700);
    }
    if (owner) await chown(dir, owner.uid, owner.gid);
  }

  async saveSpec(): Promise<void> {
    // The vTPM key is never written: spec.json is saved without it.
    const { tpm: _key, ...rest } = this.spec;
    await writeJsonAtomic(join(this.dir, INSTANCE_FILES.spec), rest);
  }

  private async saveRuntime(): Promise<void> {
    if (this.runtime) await writeJsonAtomic(join(this.dir, INSTANCE_FILES.runtime), this.runtime);
  }

  private setState(state: InstanceRunState, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.env.log.info('instance state', { instanceId: this.id, state, reason });
    this.env.emit({ v: 1, event: 'instance.state', instanceId: this.id, state, ...(reason === undefined ? {} : { reason }) });
  }

  info(): InstanceInfo {
    const running = this.state !== 'stopped' && this.state !== 'terminated';
    return {
      instanceId: this.id,
      instanceType: this.spec.instanceType,
      state: this.state,
      pid: running ? this.runtime?.pid : undefined,
      accel: this.runtime?.accel ?? 'tcg',
      launchedAt: this.runtime?.launchedAt,
      readyAt: running ? this.runtime?.readyAt : undefined,
    };
  }

  /** Launches QEMU for this (stopped) instance. The image must already be verified. */
  async launch(accel: 'kvm' | 'tcg'): Promise<void> {
    const type = requireInstanceType(this.spec.instanceType);
    this.setState('starting');
    this.stopRequested = false;
    this.lastShutdownReason = undefined;
    let pid: number | undefined;
    let cgroups: string[] = [];
    try {
      await this.removeRunFiles();
      const ident = await this.prepareDir();
      const owner = ident ?? this.env.owner;
      if (this.spec.image) await stageImage(this.spec.image, this.dir, owner);
      if (this.spec.bootDisk?.firmware === 'uefi') await this.ensureUefiVars(owner);
      let confinement: QemuConfinement = this.env.owner ? { owner: this.env.owner } : {};
      const jailer = this.env.jailer;
      if (jailer && ident) {
        const nicSockets = (this.spec.nics ?? []).map((n) => n.socketPath);
        for (const s of nicSockets) await jailer.claimSocket(s, ident);
        for (const s of await this.ebsSockets()) await jailer.claimSocket(join(this.dir, s), ident);
        cgroups = await createInstanceCgroups(this.id, instanceLimits(type.memoryMiB, accel));
        const kvmGid = accel === 'kvm' ? await kvmGroup() : undefined;
        confinement = {
          jail: {
            jailer,
            plan: {
              root: jailer.root,
              dir: this.dir,
              uid: ident.uid,
              gid: ident.gid,
              cgroups,
              sockets: nicSockets,
              ...(accel === 'kvm' ? { devices: ['/dev/kvm'] } : {}),
              ...(kvmGid !== undefined ? { groups: [kvmGid] } : {}),
            },
          },
        };
      }
      const args = buildQemuArgs({
        instanceId: this.id,
        instanceType: this.spec.instanceType,
        vcpus: type.vcpus,
        memoryMiB: type.memoryMiB,
        accel,
        hotplugSlots: this.spec.hotplugSlots ?? DEFAULT_HOTPLUG_SLOTS,
        cmdline: this.spec.image?.cmdline ?? '',
        ...(this.spec.bootDisk ? { bootDisk: this.spec.bootDisk } : {}),
        ...(this.spec.nics ? { nics: this.spec.nics } : {}),
        ...(this.spec.tpm ? { tpm: true } : {}),
      });
      if (this.spec.tpm) {
        // NitroTPM: provision once (encrypted state, EKs), then a fresh swtpm for this launch;
        // it ends itself when QEMU closes its control connection (--terminate).
        const key = Buffer.from(this.spec.tpm.key, 'base64');
        await provisionVtpm(this.dir, key);
        await startVtpm(this.dir, key, confinement);
      }
      this.tail?.stop();
      const tail = new ConsoleTail(this.dir, (line) => this.onConsoleLine(line));
      await tail.start(Number.MAX_SAFE_INTEGER); // from the current end: this boot's output only
      this.tail = tail;
      const launchedAt = new Date().toISOString();
      const launched = await launchQemu(this.dir, args, confinement);
      pid = launched.pid;
      await writeFile(join(this.dir, INSTANCE_FILES.pidfile), `${pid}\n`, { mode: 0o600 });
      this.runtime = { pid, accel, launchedAt, readyAt: undefined, bootOffset: tail.offset, ...(cgroups.length > 0 ? { cgroups } : {}) };
      await this.saveRuntime();
      let exited = false;
      launched.child.once('exit', () => {
        exited = true;
      });
      const qmp = await Promise.race([
        QmpClient.connect(join(this.dir, INSTANCE_FILES.qmp), { instanceId: this.id, audit: this.env.audit, endpoints: this.ownSocket, connectTimeoutMs: 15_000 }),
        (async () => {
          while (!exited) await sleep(50);
          throw new HypervisorError('QemuExited', 'internal', 'QEMU exited while starting.', { instanceId: this.id });
        })(),
      ]);
      exited = true; // ends the watcher loop
      this.attach(qmp);
      await this.plugVolumesAtLaunch();
      this.setState('running');
    } catch (e) {
      const qemuLog = await readQemuLog(this.dir);
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
        await waitForExit(pid, 2000);
      }
      this.tail?.stop();
      this.tail = undefined;
      await this.removeRunFiles();
      if (cgroups.length > 0) await removeInstanceCgroups(cgroups);
      this.setState('stopped', 'launch failed');
      if (e instanceof HypervisorError) {
        throw new HypervisorError(e.code, e.kind, e.message, { ...e.context, qemuLog }, { cause: e.cause });
      }
      throw new HypervisorError('QemuLaunchFailed', 'internal', 'QEMU could not be launched.', { instanceId: this.id, qemuLog }, { cause: e });
    }
  }

  /**
   * UEFI: the instance's own copy of OVMF's variable store (boot entries, settings), made at
   * the first launch and kept in the 0700 instance directory across stop/start.
   */
  private async ensureUefiVars(owner: QemuOwner | undefined): Promise<void> {
    const path = join(this.dir, OVMF_VARS_FILE);
    try {
      await copyFile(OVMF_VARS_TEMPLATE_PATH, path, constants.COPYFILE_EXCL);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        // Kept from an earlier launch, possibly under another user (before the jail): QEMU's now.
        if (owner) await chown(path, owner.uid, owner.gid);
        return;
      }
      throw new HypervisorError('FirmwareMissing', 'unavailable', `The UEFI firmware's variable store ${OVMF_VARS_TEMPLATE_PATH} cannot be copied; install the ovmf package.`, { path: OVMF_VARS_TEMPLATE_PATH }, { cause: e });
    }
    await chmod(path, 0o600);
    if (owner) await chown(path, owner.uid, owner.gid);
  }

  /**
   * The instance's identity and directory layout for this launch. In a jail: the instance's
   * own uid/gid (allocated once, kept across stop/start and hypervisor restarts), the
   * directory root-owned and only traversable by that group, `run/` and the console log the
   * instance's own (jail/jailer.ts). Otherwise `run/` belongs to QEMU's user, if any.
   */
  private async prepareDir(): Promise<JailIdentity | undefined> {
    const jailer = this.env.jailer;
    if (jailer) {
      const ident = await jailer.ids.allocate(this.id);
      await jailer.prepareDir(this.dir, ident, INSTANCE_FILES.console);
      if (this.spec.tpm) await mkdir(join(this.dir, 'tpm'), { recursive: true, mode: 0o700 });
      return ident;
    }
    const run = join(this.dir, INSTANCE_FILES.run);
    await mkdir(run, { recursive: true, mode: 0o700 });
    if (this.env.owner) await chown(run, this.env.owner.uid, this.env.owner.gid);
    return undefined;
  }

  /** The EBS card's export sockets present in the instance directory. */
  private async ebsSockets(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => EBS_SOCKET_NAME.test(n));
  }

  /** Removes this launch's cgroups once its processes are gone. */
  private async releaseCgroups(): Promise<void> {
    const cgroups = this.runtime?.cgroups;
    if (!cgroups || cgroups.length === 0) return;
    if (await removeInstanceCgroups(cgroups)) {
      if (this.runtime) delete this.runtime.cgroups;
    } else {
      this.env.log.warn('an instance cgroup still holds processes; left in place', { instanceId: this.id, cgroups });
    }
  }

  /** Takes over a QEMU left running by a previous hypervisor process. Returns false if none is alive. */
  async adopt(): Promise<boolean> {
    const pid = await readPidfile(this.dir);
    let runtime: Runtime | undefined;
    try {
      runtime = JSON.parse(await readFile(join(this.dir, INSTANCE_FILES.runtime), 'utf8')) as Runtime;
    } catch {
      runtime = undefined;
    }
    if (pid === undefined || !(await pidIsInstance(pid, this.id))) {
      this.runtime = runtime;
      await this.releaseCgroups(); // the guest ended while no hypervisor watched
      await this.removeRunFiles();
      this.state = 'stopped';
      return false;
    }
    this.runtime = {
      pid,
      accel: runtime?.accel ?? 'tcg',
      launchedAt: runtime?.launchedAt ?? new Date().toISOString(),
      readyAt: runtime?.readyAt,
      bootOffset: runtime?.bootOffset ?? 0,
      ...(runtime?.cgroups ? { cgroups: runtime.cgroups } : {}),
    };
    let qmp: QmpClient;
    try {
      // A guest launched before the jail existed has its QMP socket in the directory itself.
      const legacy = join(this.dir, LEGACY_QMP_SOCKET);
      const qmpPath = !existsSync(join(this.dir, INSTANCE_FILES.qmp)) && existsSync(legacy) ? legacy : join(this.dir, INSTANCE_FILES.qmp);
      qmp = await QmpClient.connect(qmpPath, { instanceId: this.id, audit: this.env.audit, connectTimeoutMs: 5000 });
    } catch (e) {
      // Alive but deaf: it cannot be controlled, so it is stopped hard rather than left orphaned.
      this.env.log.warn('live QEMU without a usable QMP socket; killing it', { instanceId: this.id, pid, error: String(e) });
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(pid, 3000);
      await this.releaseCgroups();
      await this.removeRunFiles();
      this.state = 'stopped';
      return false;
    }
    this.state = 'running';
    await this.saveRuntime();
    this.attach(qmp);
    const tail = new ConsoleTail(this.dir, (line) => this.onConsoleLine(line));
    this.tail = tail;
    // Not yet ready: rescan this boot's output for the marker. Ready: only new output matters.
    await tail.start(this.runtime.readyAt ? Number.MAX_SAFE_INTEGER : this.runtime.bootOffset);
    this.env.log.info('re-adopted running instance', { instanceId: this.id, pid });
    return true;
  }

  private attach(qmp: QmpClient): void {
    this.qmp = qmp;
    qmp.on('event', (ev: { event: string; data: Record<string, unknown> }) => {
      if (ev.event === 'RESET' && this.runtime) {
        // A new boot (guest-initiated reboot or system_reset): its ready marker is news again.
        this.runtime.readyAt = undefined;
        this.runtime.bootOffset = this.tail?.offset ?? 0;
        void this.saveRuntime().catch(() => undefined);
      }
      if (ev.event === 'SHUTDOWN') {
        this.lastShutdownReason = typeof ev.data['reason'] === 'string' ? ev.data['reason'] : 'shutdown';
      }
    });
    qmp.once('close', () => {
      this.gone = this.onQmpClosed(qmp);
    });
  }

  private async onQmpClosed(qmp: QmpClient): Promise<void> {
    if (this.qmp !== qmp) return;
    this.qmp = undefined;
    const pid = this.runtime?.pid;
    if (pid !== undefined && !(await waitForExit(pid, 5000))) {
      // QMP went away but QEMU did not: nothing can control it any more.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(pid, 3000);
    }
    await this.tail?.pump();
    this.tail?.stop();
    this.tail = undefined;
    if (this.terminating) return;
    await this.releaseCgroups();
    await this.removeRunFiles();
    const reason = this.stopRequested ? STOP_REASONS[this.stopHow] : this.lastShutdownReason === 'guest-shutdown' ? 'guest powered off' : `QEMU exited (${this.lastShutdownReason ?? 'no shutdown event'})`;
    this.setState('stopped', reason);
  }

  private onConsoleLine(line: string): void {
    const rt = this.runtime;
    if (!rt || rt.readyAt || !line.includes(MARKERS.ready)) return;
    if (this.state !== 'running' && this.state !== 'starting') return;
    const readyAt = new Date().toISOString();
    rt.readyAt = readyAt;
    // Persisted before it is reported, so a hypervisor killed right after still knows.
    void this.saveRuntime()
      .catch((e: unknown) => this.env.log.warn('could not persist readyAt', { instanceId: this.id, error: String(e) }))
      .then(() => {
        if (this.runtime === rt && rt.readyAt === readyAt) this.env.emit({ v: 1, event: 'instance.ready', instanceId: this.id, readyAt });
      });
  }

  private async removeRunFiles(): Promise<void> {
    for (const f of [INSTANCE_FILES.qmp, LEGACY_QMP_SOCKET, INSTANCE_FILES.pidfile]) {
      await unlink(join(this.dir, f)).catch(() => undefined);
    }
  }

  /** ACPI power-down, up to deadlineMs, then quit and finally SIGKILL. `force` skips the ACPI step. */
  async stop(force: boolean, deadlineMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state !== 'running') {
      throw new HypervisorError('IncorrectInstanceState', 'conflict', `The instance is ${this.state} and cannot be stopped now.`, { instanceId: this.id, state: this.state });
    }
    const pid = this.runtime?.pid;
    this.stopRequested = true;
    this.stopHow = force ? 'forced' : 'acpi';
    this.setState('stopping');
    let exited = false;
    if (!force && this.qmp) {
      await this.qmp.execute('system_powerdown').catch(() => undefined);
      exited = pid === undefined || (await waitForExit(pid, deadlineMs));
      // The guest ignored the power button (or took too long): it is stopped hard, as a
      // power cut would, and the state's reason says so.
      if (!exited) this.stopHow = 'deadline';
    }
    if (!exited && this.qmp) {
      await this.qmp.execute('quit').catch(() => undefined);
      exited = pid === undefined || (await waitForExit(pid, QUIT_GRACE_MS));
    }
    if (!exited && pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(pid, QUIT_GRACE_MS);
    }
    await this.settled();
  }

  /** Waits until the QMP-closed handler has moved the instance to stopped. */
  private async settled(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.state !== 'stopped' && !this.terminating && Date.now() < deadline) {
      if (this.gone) await this.gone;
      await sleep(20);
    }
    if (this.terminating) return; // terminate() finishes the job
    if (this.state !== 'stopped') {
      // QMP never closed (should not happen once QEMU is gone): settle by hand.
      this.qmp?.close();
      this.tail?.stop();
      this.tail = undefined;
      await this.releaseCgroups();
      await this.removeRunFiles();
      this.setState('stopped', STOP_REASONS[this.stopHow]);
    }
  }

  /** A hard reset of the running guest: it boots again and its ready marker appears again. */
  async reboot(): Promise<void> {
    if (this.state !== 'running' || !this.qmp || !this.runtime) {
      throw new HypervisorError('IncorrectInstanceState', 'conflict', `The instance is ${this.state} and cannot be rebooted.`, { instanceId: this.id, state: this.state });
    }
    await this.tail?.pump();
    this.runtime.readyAt = undefined;
    this.runtime.bootOffset = this.tail?.offset ?? 0;
    await this.saveRuntime();
    await this.qmp.execute('system_reset');
  }

  /** Kills QEMU and removes the instance directory. */
  async terminate(): Promise<void> {
    this.terminating = true;
    const pid = this.runtime?.pid ?? (await readPidfile(this.dir));
    if (pid !== undefined && (await pidIsInstance(pid, this.id))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      if (!(await waitForExit(pid, 5000))) {
        throw new HypervisorError('TerminateFailed', 'internal', 'QEMU did not exit after SIGKILL.', { instanceId: this.id, pid });
      }
    }
    this.qmp?.close();
    this.qmp = undefined;
    this.tail?.stop();
    this.tail = undefined;
    await destroyVtpm(this.dir); // the vTPM state goes with the instance
    await this.releaseCgroups();
    await rm(this.dir, { recursive: true, force: true });
    await this.env.jailer?.ids.release(this.id); // its files are gone: the uid may serve another instance
    this.setState('terminated');
  }

  async console(): Promise<ConsoleOutput> {
    await this.tail?.pump();
    const { data, mtime } = await readConsoleTail(this.dir);
    return { instanceId: this.id, output: data.toString('base64'), timestamp: (mtime ?? new Date()).toISOString() };
  }

  async qmpCommand(execute: string, args: Record<string, unknown> | undefined): Promise<unknown> {
    // Refused commands are refused (and audited) whatever state the instance is in.
    guardQmpCommand(execute, args, this.id, this.env.audit, this.ownSocket);
    if (this.state !== 'running' || !this.qmp) {
      throw new HypervisorError('IncorrectInstanceState', 'conflict', `The instance is ${this.state}; QMP is available only while it runs.`, { instanceId: this.id, state: this.state });
    }
    return this.qmp.execute(execute, args);
  }

  // ---------------------------------------------------------------- EBS volumes (NVMe over NBD)

  private async plugVolumesAtLaunch(): Promise<void> {
    for (const v of this.spec.volumes ?? []) {
      try {
        await this.plug(v);
      } catch (e) {
        // The guest still boots; the volume's plug is retried by the next attach.
        this.env.log.warn('could not plug a volume at launch', { instanceId: this.id, volumeId: v.volumeId, error: String(e) });
      }
    }
  }

  /** The device id of a volume's NVMe controller and the node name of its NBD block node. */
  static volumeIds(volumeId: string): { dev: string; node: string } {
    return { dev: `ebs-${volumeId}`, node: `ebs-${volumeId}-nbd` };
  }

  /** Root ports with nothing plugged in, and whether the volume's device is already present. */
  private async pciState(dev: string): Promise<{ free: string[]; present: boolean }> {
    const qmp = this.qmp!;
    const buses = (await qmp.execute('query-pci')) as { devices?: { qdev_id?: string; pci_bridge?: { devices?: { qdev_id?: string }[] } }[] }[];
    const free: string[] = [];
    let present = false;
    for (const b of buses ?? []) {
      for (const d of b.devices ?? []) {
        const children = d.pci_bridge?.devices ?? [];
        if (children.some((c) => c.qdev_id === dev)) present = true;
        if (d.qdev_id && /^rp\d+$/.test(d.qdev_id) && children.length === 0) free.push(d.qdev_id);
      }
    }
    free.sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
    return { free, present };
  }

  private async plug(v: { volumeId: string; serial: string; socketName: string }): Promise<string> {
    const qmp = this.qmp;
    if (!qmp) throw new HypervisorError('IncorrectInstanceState', 'conflict', 'QMP is not connected.', { instanceId: this.id });
    const { dev, node } = Instance.volumeIds(v.volumeId);
    const st = await this.pciState(dev);
    if (st.present) return dev;
    const bus = st.free[0];
    if (!bus) throw new HypervisorError('HotplugSlotsExhausted', 'conflict', 'Every hot-plug root port of the instance is in use.', { instanceId: this.id });
    const ident = this.env.jailer?.ids.get(this.id);
    if (ident && this.env.jailer) await this.env.jailer.claimSocket(join(this.dir, v.socketName), ident);
    const nodes = (await qmp.execute('query-named-block-nodes')) as { 'node-name'?: string }[];
    if (!nodes.some((n) => n['node-name'] === node)) {
      // reconnect-delay: when the card goes away (live update, crash), QEMU holds the guest's
      // I/O and reconnects to the same socket path instead of failing it.
      await qmp.execute('blockdev-add', { driver: 'nbd', 'node-name': node, server: { type: 'unix', path: v.socketName }, export: v.volumeId, 'reconnect-delay': 30 });
    }
    try {
      await qmp.execute('device_add', { driver: 'nvme', id: dev, drive: node, serial: v.serial, bus });
    } catch (e) {
      await qmp.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
      throw e;
    }
    return dev;
  }

  /** Hot-plugs an EBS volume (NBD from the card's socket, as an NVMe controller) and records it in the spec. */
  async attachVolume(v: { volumeId: string; serial: string; socketName: string }): Promise<{ instanceId: string; volumeId: string; device: string; plugged: boolean }> {
    if (this.spec.bootDisk?.volumeId === v.volumeId) {
      // The root volume is attached at launch; an attach (the region delivering its key to a
      // restarted card again) has nothing to plug: QEMU reconnects to the served socket.
      return { instanceId: this.id, volumeId: v.volumeId, device: Instance.volumeIds(v.volumeId).dev, plugged: this.state === 'running' };
    }
    const vols = (this.spec.volumes ?? []).filter((x) => x.volumeId !== v.volumeId);
    this.spec = { ...this.spec, volumes: [...vols, v] };
    await this.saveSpec();
    const running = this.state === 'running' && this.qmp !== undefined;
    try {
      if (running) await this.plug(v);
    } catch (e) {
      this.spec = { ...this.spec, volumes: vols };
      await this.saveSpec();
      throw e;
    }
    return { instanceId: this.id, volumeId: v.volumeId, device: Instance.volumeIds(v.volumeId).dev, plugged: running };
  }

  /** device_del, the DEVICE_DELETED event, blockdev-del; then the spec forgets the volume. */
  async detachVolume(volumeId: string, force: boolean): Promise<{ instanceId: string; volumeId: string; detached: boolean }> {
    this.refuseRootVolume(volumeId);
    const known = (this.spec.volumes ?? []).some((x) => x.volumeId === volumeId);
    const qmp = this.qmp;
    if (this.state === 'running' && qmp) {
      const { dev, node } = Instance.volumeIds(volumeId);
      const st = await this.pciState(dev);
      if (st.present) {
        const deleted = new Promise<boolean>((resolve) => {
          const t = setTimeout(() => {
            qmp.off('event', on);
            resolve(false);
          }, force ? 5_000 : 30_000);
          const on = (ev: { event: string; data: Record<string, unknown> }): void => {
            if (ev.event === 'DEVICE_DELETED' && ev.data['device'] === dev) {
              clearTimeout(t);
              qmp.off('event', on);
              resolve(true);
            }
          };
          qmp.on('event', on);
        });
        await qmp.execute('device_del', { id: dev });
        if (!(await deleted)) {
          throw new HypervisorError('VolumeDetachTimeout', 'unavailable', 'The guest did not release the volume; it is still attached.', { instanceId: this.id, volumeId });
        }
      }
      const nodes = (await qmp.execute('query-named-block-nodes')) as { 'node-name'?: string }[];
      if (nodes.some((n) => n['node-name'] === node)) await qmp.execute('blockdev-del', { 'node-name': node });
    }
    this.spec = { ...this.spec, volumes: (this.spec.volumes ?? []).filter((x) => x.volumeId !== volumeId) };
    await this.saveSpec();
    return { instanceId: this.id, volumeId, detached: known };
  }

  /**
   * The root volume is part of the instance's launch, never unplugged from a guest. A stopped
   * instance lets it go (EC2 detaches a root volume while stopped): nothing is plugged, the
   * card closes its export, and the next instance.start brings the spec's bootDisk again.
   */
  private refuseRootVolume(volumeId: string): void {
    if (this.spec.bootDisk?.volumeId === volumeId && this.state !== 'stopped') {
      throw new HypervisorError('OperationNotPermitted', 'conflict', 'The volume is the root volume of the instance; it is attached at launch and cannot be unplugged.', { instanceId: this.id, volumeId });
    }
  }

  /** Lets go of QEMU without touching it (the hypervisor is exiting). */
  detach(): void {
    this.qmp?.removeAllListeners('close');
    this.qmp?.close();
    this.qmp = undefined;
    this.tail?.stop();
    this.tail = undefined;
  }

  /** True while a QEMU for this instance is alive. */
  async alive(): Promise<boolean> {
    return this.runtime !== undefined && (await pidAlive(this.runtime.pid));
  }
}
