// The hypervisor's domain logic: the table of instances under <stateDir>/instances, the
// operations of the controller protocol, and re-adoption of guests left running by a
// previous hypervisor process. Transport-free: main.ts feeds it requests from the IPC
// channel and forwards its events.
import { ekPublic } from './vtpm.js';
import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/log.js';
import { qemuUserIds, QEMU_USER } from '../lib/qemu-user.js';
import { AccelSelector } from './accel.js';
import { Jailer } from './jail/jailer.js';
import { letComponentSearch } from '../lib/privileges.js';
import { HypervisorError } from './errors.js';
import { Instance, type InstanceEnv } from './instance.js';
import { INSTANCE_FILES } from './protocol/qemu-args.js';
import {
  HYPERVISOR_PROTOCOL_VERSION,
  type ConsoleOutput,
  type HostInfo,
  type HypervisorEvent,
  type HypervisorRequest,
  type InstanceInfo,
  type InstanceSpec,
} from './protocol/messages.js';
import { INSTANCE_ID_RE, parseInstanceSpec } from './protocol/instance-spec.js';
import { guardQmpCommand, type QmpAuditRecord } from './qmp-client.js';
import { type QemuOwner, qemuBinary, qemuVersion, verifyImage } from './qemu-process.js';

export const DEFAULT_STOP_DEADLINE_MS = 30_000;
/** host.info's qemuUser when every guest has its own uid. */
export const JAIL_USER_DESCRIPTION = 'per-instance uid (jail)';

export interface HypervisorOptions {
  readonly stateDir: string;
  readonly emit: (ev: HypervisorEvent) => void;
  readonly log: Logger;
}

export class Hypervisor {
  private readonly instances = new Map<string, Instance>();
  private readonly owner: QemuOwner | undefined;
  private readonly jailer: Jailer | undefined;
  private readonly accel: AccelSelector;
  private readonly env: InstanceEnv;
  private readonly starting = new Set<string>();

  constructor(private readonly opts: HypervisorOptions) {
    // QEMU runs as the unprivileged user when we can switch to it (we are root and it exists).
    this.owner = process.getuid?.() === 0 ? qemuUserIds() : undefined;
    // As root, every guest runs in a jail of its own (own uid/gid, mount namespace, cgroup);
    // the shared QEMU user is left to the accelerator's smoke boot.
    this.jailer = process.getuid?.() === 0 ? new Jailer(opts.stateDir) : undefined;
    this.accel = new AccelSelector(opts.stateDir, this.owner);
    this.env = {
      emit: opts.emit,
      audit: (record: QmpAuditRecord) => opts.emit({ v: 1, event: 'audit', record: { ...record } }),
      owner: this.owner,
      jailer: this.jailer,
      log: opts.log,
    };
  }

  get instancesDir(): string {
    return join(this.opts.stateDir, 'instances');
  }

  /** Creates the state directory and re-adopts every instance found in it. */
  async init(): Promise<void> {
    await mkdir(this.instancesDir, { recursive: true, mode: 0o700 });
    // the EBS card's user searches both to reach the instance directories, where it puts its sockets
    letComponentSearch('ebs', this.opts.stateDir);
    letComponentSearch('ebs', this.instancesDir);
    await this.jailer?.init();
    for (const name of await readdir(this.instancesDir)) {
      if (!INSTANCE_ID_RE.test(name)) continue;
      const dir = join(this.instancesDir, name);
      let spec: InstanceSpec;
      try {
        spec = parseInstanceSpec(JSON.parse(await readFile(join(dir, INSTANCE_FILES.spec), 'utf8')));
      } catch (e) {
        this.opts.log.warn('skipping an instance directory without a valid spec', { dir, error: String(e) });
        continue;
      }
      await this.jailer?.adoptDir(dir); // a jail's directory made before the EBS card had a user of its own
      const inst = new Instance(spec, dir, this.env);
      await inst.adopt();
      this.instances.set(spec.instanceId, inst);
    }
  }

  /** Lets go of every QEMU without stopping it (the hypervisor is exiting). */
  detach(): void {
    for (const inst of this.instances.values()) inst.detach();
  }

  private get(instanceId: string): Instance {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new HypervisorError('InvalidInstanceID.NotFound', 'not-found', `The instance '${instanceId}' does not exist.`, { instanceId });
    return inst;
  }

  async handle(req: HypervisorRequest): Promise<unknown> {
    switch (req.op) {
      case 'host.info':
        return this.hostInfo();
      case 'instance.list':
        return [...this.instances.values()].map((i) => i.info());
      case 'instance.start':
        return this.start(req.params.spec);
      case 'image.digest':
        return verifyImage(req.params);
      case 'instance.stop': {
        const inst = this.get(req.params.instanceId);
        await inst.serialize(() => inst.stop(req.params.force ?? false, req.params.force ? 0 : (req.params.deadlineMs ?? DEFAULT_STOP_DEADLINE_MS)));
        return inst.info();
      }
      case 'instance.reboot': {
        const inst = this.get(req.params.instanceId);
        await inst.serialize(() => inst.reboot());
        return inst.info();
      }
      case 'instance.terminate': {
        const inst = this.get(req.params.instanceId);
        await inst.terminate();
        this.instances.delete(inst.id);
        return inst.info();
      }
      case 'instance.describe':
        return this.get(req.params.instanceId).info();
      case 'instance.console':
        return this.console(req.params.instanceId);
      case 'instance.qmp': {
        const { instanceId, execute } = req.params;
        const inst = this.instances.get(instanceId);
        if (!inst) {
          // Refusal does not depend on the instance existing.
          guardQmpCommand(execute, req.params.arguments, instanceId, this.env.audit);
          return this.get(instanceId);
        }
        return inst.qmpCommand(execute, req.params.arguments);
      }
      case 'instance.tpm-ekpub': {
        const { instanceId, keyType, keyFormat } = req.params;
        const inst = this.get(instanceId);
        return { instanceId, keyType, keyFormat, keyValue: ekPublic(inst.dir, keyType, keyFormat) };
      }
      case 'instance.attach-volume': {
        const inst = this.get(req.params.instanceId);
        return inst.serialize(() => inst.attachVolume(req.params.volume));
      }
      case 'instance.detach-volume': {
        const inst = this.get(req.params.instanceId);
        return inst.serialize(() => inst.detachVolume(req.params.volumeId, req.params.force ?? false));
      }
    }
  }

  async hostInfo(): Promise<HostInfo> {
    const verdict = await this.accel.known();
    let version: string | undefined;
    try {
      qemuBinary();
      version = qemuVersion();
    } catch {
      version = undefined;
    }
    return {
      protocolVersion: HYPERVISOR_PROTOCOL_VERSION,
      pid: process.pid,
      accel: verdict?.accel,
      accelReason: verdict?.reason ?? 'not decided yet: a KVM smoke boot runs at the first start',
      qemuVersion: version,
      qemuUser: this.jailer ? JAIL_USER_DESCRIPTION : this.owner ? QEMU_USER : undefined,
      instances: this.instances.size,
      running: [...this.instances.values()].filter((i) => i.state === 'running').length,
    };
  }

  private async start(spec: InstanceSpec): Promise<InstanceInfo> {
    const existing = this.instances.get(spec.instanceId);
    if (existing) {
      return existing.serialize(async () => {
        if (existing.state === 'running' || existing.state === 'starting') return existing.info();
        if (existing.state !== 'stopped') {
          throw new HypervisorError('IncorrectInstanceState', 'conflict', `The instance is ${existing.state} and cannot be started.`, { instanceId: spec.instanceId, state: existing.state });
        }
        if (spec.image) await verifyImage(spec.image); // the spec's instance type was checked where it was parsed (protocol/instance-spec.ts)
        const verdict = await this.accel.get(spec.image);
        // The attached volumes are the hypervisor's record, not the caller's: keep them.
        existing.spec = existing.spec.volumes ? { ...spec, volumes: existing.spec.volumes } : spec;
        await existing.saveSpec();
        await existing.launch(verdict.accel);
        return existing.info();
      });
    }
    if (this.starting.has(spec.instanceId)) {
      throw new HypervisorError('IncorrectInstanceState', 'conflict', 'The instance is being created.', { instanceId: spec.instanceId });
    }
    this.starting.add(spec.instanceId);
    try {
      // Everything that can be refused is refused before anything is created (the instance
      // type was checked where the spec was parsed: protocol/instance-spec.ts).
      qemuBinary();
      if (spec.image) await verifyImage(spec.image);
      const verdict = await this.accel.get(spec.image);
      const dir = join(this.instancesDir, spec.instanceId);
      // A root-volume instance's directory exists already: the controller made it for the
      // EBS card's export socket before this start (src/controller/cards/ebs.ts).
      await Instance.createDir(dir, this.jailer ? undefined : this.owner, spec.bootDisk !== undefined);
      const inst = new Instance(spec, dir, this.env);
      this.instances.set(spec.instanceId, inst);
      try {
        await inst.saveSpec();
        await inst.launch(verdict.accel);
      } catch (e) {
        this.instances.delete(spec.instanceId);
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
      return inst.info();
    } finally {
      this.starting.delete(spec.instanceId);
    }
  }

  private async console(instanceId: string): Promise<ConsoleOutput> {
    return this.get(instanceId).console();
  }
}
