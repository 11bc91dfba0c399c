// The host controller: the host's only door, and the one process that drives every other
// component on the host. This file puts the parts together and routes each verified command
// to the part that serves it:
//   front.ts               the TLS front door and enrolment (the only listening socket)
//   dispatcher.ts          verify, audit before effect, execute
//   cards/hypervisor.ts    the hypervisor (instance.*)
//   cards/ebs.ts           the EBS card (volume.*, snapshot.*, ebs.info, the instance store)
//   cards/vpc.ts           the VPC card and the underlay bridge (eni.*, vpc.*)
//   live-update.ts         host.update / host.restart-component, and handing over to a successor
//   takeover.ts            the successor's side of a controller live update
//   host-status.ts         host.status
//   host-security-chip.ts  measured start, signed bundles, attestation (host.attest)
// The controller never opens a connection.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditChain, readRecentRecords } from '../audit/chain.js';
import { firmwareCodePath } from '../hypervisor/protocol/boot-disk.js';
import { qemuBinary } from '../hypervisor/qemu-process.js';
import { HostEbsCard } from './cards/ebs.js';
import { HostHypervisor } from './cards/hypervisor.js';
import { HostVpcCard } from './cards/vpc.js';
import { Dispatcher } from './dispatcher.js';
import { toReplyError } from './errors.js';
import { HostFront } from './front.js';
import { HostSecurityChip } from './host-security-chip.js';
import { currentFingerprint, hostPaths, initHost, writeRuntime, type HostIdentity } from './host-state.js';
import { hostStatus } from './host-status.js';
import { LiveUpdates } from './live-update.js';
import type { ControllerOptions, ControllerParts } from './parts.js';
import type { ControllerCommandBody, ResultOf } from './protocol/commands.js';
import { isVpcCommandType, type VpcCommandBody } from './protocol/vpc-commands.js';
import { awaitTakeover } from './takeover.js';

export type { ControllerOptions } from './parts.js';

export class Controller {
  private parts: ControllerParts | undefined;
  private identity!: HostIdentity;
  private audit: AuditChain | undefined;
  /** Records written before the audit log is open (a successor controller before it takes over) or after it was handed on. */
  private auditQueue: Record<string, unknown>[] = [];
  private dispatcher: Dispatcher | undefined;
  private updates: LiveUpdates | undefined;
  private retiredResolve: (code: number) => void = () => undefined;
  /** Resolves with an exit code when this process has handed over to a successor (or a successor gave up): main exits then. */
  readonly retired: Promise<number> = new Promise<number>((r) => (this.retiredResolve = r));
  private readonly started = Date.now();
  private readonly address: string;

  constructor(private readonly o: ControllerOptions) {
    this.address = o.listen ?? '127.0.0.1';
  }

  get listeningPort(): number {
    return this.parts?.front.port ?? 0;
  }

  async start(): Promise<void> {
    const o = this.o;
    const paths = hostPaths(o.home);
    this.identity = await initHost(o.home, { bootstrapIps: [this.address] });
    if (o.takeover !== true) this.openAudit();
    this.auditAppend({
      type: 'controller.start',
      pid: process.pid,
      hostId: this.identity.hostId,
      enrolled: this.identity.enrolment !== undefined,
      ...(o.takeover === true ? { takeover: true, from: process.ppid } : {}),
    });

    // Measured start (host-security-chip.ts): verify every bundle (signed mode) and extend the
    // PCRs before any component is forked; a bundle that fails stops the start here.
    let qemuPath: string | undefined;
    try {
      qemuPath = qemuBinary();
    } catch {
      qemuPath = undefined;
    }
    let chip: HostSecurityChip;
    try {
      chip = await HostSecurityChip.measuredStart({
        hostConfig: { address: this.address, port: o.port },
        ...(qemuPath !== undefined ? { qemuPath } : {}),
        ...(o.bundlesDir !== undefined ? { bundlesDir: o.bundlesDir } : {}),
        ...(o.releasePubKeyPem !== undefined ? { releasePubKeyPem: o.releasePubKeyPem } : {}),
        recordPath: join(paths.dir, 'components.json'),
      });
    } catch (e) {
      const err = toReplyError(e);
      this.auditAppend({ type: 'controller.refused-start', error: err.code, message: err.message, file: (e as { context?: { file?: unknown } }).context?.file ?? null });
      this.audit?.close();
      throw e;
    }
    this.auditAppend({ type: 'security-chip.measured', mode: chip.mode, pcrs: chip.status()['pcrs'] });

    const lifecycle = (component: string) => (e: Record<string, unknown>) => this.auditAppend({ type: `component.${String(e['event'])}`, component, ...e });
    // The VPC card: guest NICs, switch, DHCP, IMDS, security groups, the underlay bridge.
    const vpc = new HostVpcCard({
      home: o.home,
      log: o.log.child('vpc'),
      entry: chip.entryFor('vpc-card'),
      onEvent: (e) => o.log.info('vpc card event', { ...e }),
      onLifecycle: lifecycle('vpc'),
      hostId: () => this.identity.hostId,
      listenAddress: this.address,
      ...(o.publicSide ? { publicSide: o.publicSide } : {}),
    });
    // Every fork of a component (its first start, a crash restart) measures its code first.
    vpc.supervisor.measureBeforeSpawn((entry) => chip.measureBeforeFork('vpc-card', entry));
    vpc.start();
    const hypervisor = new HostHypervisor({
      entry: o.hypervisorEntry ?? chip.entryFor('hypervisor'),
      stateDir: paths.hypervisorDir,
      log: o.log,
      audit: (e) => this.auditAppend(e),
      onLifecycle: lifecycle('hypervisor'),
    });
    if (o.hypervisorEntry === undefined) hypervisor.supervisor.measureBeforeSpawn((entry) => chip.measureBeforeFork('hypervisor', entry));
    // A successor starts the hypervisor only once its predecessor's has exited (two would fight over the guests).
    if (o.takeover !== true) hypervisor.start();
    // The EBS card: volumes as encrypted NBD exports.
    const ebs = new HostEbsCard({
      dir: join(paths.dir, 'ebs'),
      entry: chip.entryFor('ebs-card'),
      instancesDir: join(paths.hypervisorDir, 'instances'),
      hypervisor: hypervisor.supervisor,
      log: o.log.child('ebs'),
      onEvent: (e) => o.log.info('ebs card event', { ...e }),
      onLifecycle: lifecycle('ebs'),
    });
    ebs.supervisor.measureBeforeSpawn((entry) => chip.measureBeforeFork('ebs-card', entry));
    ebs.start();

    const front = new HostFront(
      {
        home: o.home,
        address: this.address,
        log: o.log,
        identity: () => this.identity,
        setIdentity: (id) => (this.identity = id),
        audit: (e) => this.auditAppend(e),
        dispatch: (raw, jsonError, who, source) => (this.dispatcher as Dispatcher).dispatch(raw, jsonError, who, source),
        afterReply: () => this.updates?.afterReply(),
        onEnrolled: () => this.writeRuntime(),
      },
      { hold: o.takeover === true },
    );
    const parts: ControllerParts = {
      options: o,
      log: o.log,
      address: this.address,
      started: this.started,
      chip,
      hypervisor,
      ebs,
      vpc,
      front,
      identity: () => this.identity,
      audit: (e) => this.auditAppend(e),
      auditRecords: () => this.audit?.length ?? 0,
      openAudit: () => this.openAudit(),
      closeAudit: () => {
        this.audit?.close();
        this.audit = undefined;
      },
      writeRuntime: () => this.writeRuntime(),
      retire: (code) => this.retiredResolve(code),
    };
    this.parts = parts;
    this.updates = new LiveUpdates(parts);

    if (o.takeover === true) {
      await awaitTakeover(parts);
      return;
    }
    await front.listen(o.port);
    this.writeRuntime();
    o.log.info('controller listening', { address: this.address, port: front.port, hostId: this.identity.hostId, enrolled: this.identity.enrolment !== undefined });
  }

  /** Opens the audit log (verifying its chain), the dispatcher over it, and writes what was queued. */
  private openAudit(): void {
    const paths = hostPaths(this.o.home);
    this.audit = new AuditChain(paths.audit);
    this.dispatcher = new Dispatcher(this.audit, (c) => this.execute(c));
    for (const r of readRecentRecords(paths.audit)) {
      const ev = r.event as { type?: string; id?: string; digest?: string };
      if (ev.type === 'command.accepted' && ev.id && ev.digest) this.dispatcher.remember(ev.id, ev.digest, Date.parse(r.time));
    }
    const queued = this.auditQueue;
    this.auditQueue = [];
    for (const ev of queued) this.audit.append(ev);
  }

  private auditAppend(event: Record<string, unknown>): void {
    if (this.audit) this.audit.append(event);
    else if (this.updates?.handingOver !== true) this.auditQueue.push(event);
    else this.o.log.info('after the hand-over, not audited here', { ...event });
  }

  private writeRuntime(): void {
    writeRuntime(this.o.home, {
      port: this.listeningPort,
      address: this.address,
      pid: process.pid,
      hostId: this.identity.hostId,
      fingerprint: currentFingerprint(this.identity),
      enrolled: this.identity.enrolment !== undefined,
    });
  }

  /** Runs one verified, audited command: each goes to the part that serves it. */
  private async execute(c: ControllerCommandBody): Promise<unknown> {
    const p = this.parts as ControllerParts;
    const updates = this.updates as LiveUpdates;
    if (isVpcCommandType(c.type)) return p.vpc.execute(c as VpcCommandBody);
    switch (c.type) {
      case 'host.status':
        return hostStatus(p);
      case 'host.attest':
        return p.chip.attest(this.identity, c.params, await p.ebs.publicKey());
      case 'host.update':
        return updates.update(c.params);
      case 'host.restart-component':
        return updates.restartComponent(c.params.component);
      case 'ebs.info':
      case 'volume.attach':
      case 'volume.detach':
      case 'volume.delete':
      case 'snapshot.create':
      case 'snapshot.delete':
      case 'volume.from-snapshot':
      case 'snapshot.copy':
      case 'snapshot.begin':
      case 'snapshot.put-block':
      case 'snapshot.seal':
      case 'snapshot.abort':
      case 'snapshot.get-block':
      case 'snapshot.list-blocks':
        return p.ebs.execute(c);
      case 'instance.start': {
        const { spec } = c.params;
        const image = spec.image;
        // PCR 6 at the first use of the image, from the digests of the hypervisor's one read of it
        if (image) await p.chip.measureGuestImage(image, () => p.hypervisor.digestImage(image));
        // an EBS root volume: PCR 6 gets the firmware QEMU loads (the volume is ciphertext here),
        // and the card serves the volume before QEMU starts (QEMU opens it at launch)
        if (spec.bootDisk) await p.chip.measureBootFirmware(spec.bootDisk.firmware, firmwareCodePath(spec.bootDisk.firmware));
        const root = spec.bootDisk ? await p.ebs.openRootVolume(spec.instanceId, spec.bootDisk.volumeId, c.params.rootVolume) : undefined;
        const started = await p.hypervisor.execute(c).catch(async (e: unknown) => {
          await root?.undo();
          throw e;
        });
        // a `d` type's local NVMe disk: a fresh key in the EBS card, never stored
        await p.ebs.attachInstanceStore(spec.instanceId, spec.instanceType);
        return started satisfies ResultOf<'instance.start'>;
      }
      case 'instance.stop':
      case 'instance.terminate': {
        const gone = await p.hypervisor.execute(c);
        await p.ebs.releaseInstanceStore(c.params.instanceId, gone.instanceType ?? '');
        return gone;
      }
      case 'instance.reboot':
      case 'instance.describe':
      case 'instance.list':
      case 'instance.console':
      case 'instance.qmp':
      case 'instance.tpm-ekpub':
        return p.hypervisor.execute(c);
    }
  }

  /** Closes the listener and lets the hypervisor exit; guests keep running. */
  async stop(): Promise<void> {
    const p = this.parts;
    if (p) {
      await p.front.close();
      await p.hypervisor.stop();
      await p.vpc.stop();
      await p.ebs.stop();
    }
    this.auditAppend({ type: 'controller.stop', pid: process.pid });
    this.audit?.close();
  }
}

export function isEnrolled(home: string): boolean {
  const p = hostPaths(home);
  return existsSync(p.cert) && existsSync(p.ca);
}

export function readHostCa(home: string): string | undefined {
  const p = hostPaths(home);
  return existsSync(p.ca) ? readFileSync(p.ca, 'utf8') : undefined;
}
