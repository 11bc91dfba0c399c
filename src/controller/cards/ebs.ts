// The controller's side of the EBS card: supervises the card process (ComponentSupervisor
// 'ebs', driven through its contract src/ebs/protocol/messages.ts) and serves the commands
// volume.attach / volume.detach / volume.delete / snapshot.* (with the EBS direct APIs'
// block-by-block ones) / ebs.info, the instance store of `d` types, and the card's live
// update (host.restart-component {component: 'ebs'}).
// The controller only relays: a sealed key goes from the region to the card unopened, and
// during a live update the old card seals its keys to the new card's public key, so the
// controller never holds a plaintext key either.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { giveToComponent } from '../../lib/privileges.js';
import type { EbsContract } from '../../ebs/protocol/messages.js';
import type { RootVolumeOpen } from '../../hypervisor/protocol/boot-disk.js';
import type { HypervisorContract } from '../../hypervisor/protocol/messages.js';
import { findInstanceType } from '../../lib/instance-types.js';
import type { Logger } from '../../lib/log.js';
import { ControllerError } from '../errors.js';
import type { ControllerCommandBody, EbsDirectCommandBody, ResultOf } from '../protocol/commands.js';
import { ComponentSupervisor, type ComponentEvent, type ComponentStatus } from '../supervisor.js';

type ResultOfEbs<O extends keyof EbsContract> = EbsContract[O]['result'];

export type EbsSupervisor = ComponentSupervisor<EbsContract>;
export type HypervisorSupervisor = ComponentSupervisor<HypervisorContract>;

export type EbsCommand =
  | Extract<ControllerCommandBody, { type: 'ebs.info' | 'volume.attach' | 'volume.detach' | 'volume.delete' | 'snapshot.create' | 'snapshot.delete' | 'volume.from-snapshot' | 'snapshot.copy' }>
  | EbsDirectCommandBody;

export const socketNameOf = (volumeId: string): string => `ebs-${volumeId}.sock`;
/** The NVMe serial EC2 gives a volume: its id without the dash. */
export const serialOf = (volumeId: string): string => volumeId.replace('-', '');

export interface HostEbsCardOptions {
  /** <host>/ebs: the card's volume store and sockets. */
  readonly dir: string;
  readonly entry: string;
  /** <host>/hypervisor/instances: each instance's directory is QEMU's working directory. */
  readonly instancesDir: string;
  readonly hypervisor: HypervisorSupervisor;
  readonly log: Logger;
  readonly onEvent?: (e: ComponentEvent) => void;
  readonly onLifecycle?: (e: Record<string, unknown> & { event: string }) => void;
}

/** The EBS card as the controller drives it. */
export class HostEbsCard {
  readonly supervisor: EbsSupervisor;

  constructor(private readonly o: HostEbsCardOptions) {
    this.supervisor = new ComponentSupervisor<EbsContract>({
      name: 'ebs',
      entry: o.entry,
      // As its own user the card cannot search NITRIDE_HOME's ancestors (a home under /root):
      // it works in the host's directory, its parent, by relative paths (EbsCard.at).
      args: ['--root', basename(o.dir), '--socket-dir', join(basename(o.dir), 'sockets')],
      cwd: dirname(o.dir),
      log: o.log,
      readyEvent: 'card.ready',
      onEvent: (e) => o.onEvent?.(e),
      onLifecycle: (e) => o.onLifecycle?.({ ...e }),
    });
  }

  start(): void {
    giveToComponent('ebs', this.o.dir); // its volume store and sockets are its user's alone (src/lib/privileges.ts)
    this.supervisor.start();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  /** The live update (host.restart-component ebs; host.update to `entry`): see restartEbsCard. */
  liveUpdate(entry?: string): Promise<EbsRestartResult> {
    return restartEbsCard({ card: this.supervisor, log: this.o.log, ...(entry !== undefined ? { entry } : {}) });
  }

  /**
   * The card's public key (raw X25519, from card.info), bound into host.attest documents as
   * public_key so that the region seals data keys only to the card of a measured host.
   * undefined when the card does not answer (the document then carries no public_key).
   */
  async publicKey(): Promise<Buffer | undefined> {
    try {
      const info = await this.supervisor.request('card.info', {}, 5_000);
      return typeof info.publicKey === 'string' ? Buffer.from(info.publicKey, 'base64') : undefined;
    } catch {
      return undefined;
    }
  }

  async execute<C extends EbsCommand>(c: C): Promise<ResultOf<C['type']>>;
  async execute(c: EbsCommand): Promise<unknown> {
    const card = this.supervisor;
    const hv = this.o.hypervisor;
    switch (c.type) {
      case 'ebs.info':
        return card.request('card.info', {}, 10_000);
      case 'volume.delete':
        return card.request('volume.delete', { volumeId: c.params.volumeId }, 30_000);
      case 'snapshot.create':
      case 'snapshot.delete':
      case 'volume.from-snapshot':
      case 'snapshot.copy':
        return card.request(c.type, c.params, 600_000);
      // the EBS direct APIs (src/ebs/card/snapshot-builder.ts)
      case 'snapshot.begin': // a parent's data is copied here
      case 'snapshot.list-blocks': // reads every allocated block
      case 'snapshot.seal':
      case 'snapshot.abort':
        return card.request(c.type, c.params, 600_000);
      case 'snapshot.put-block':
      case 'snapshot.get-block':
        return card.request(c.type, c.params, 60_000);
      case 'volume.attach': {
        const { instanceId, volumeId } = c.params;
        const dir = join(this.o.instancesDir, instanceId);
        if (!existsSync(dir)) throw new ControllerError('InvalidInstanceID.NotFound', 'not-found', `The instance '${instanceId}' does not exist on this host.`, { instanceId });
        const socketName = socketNameOf(volumeId);
        const opened = await card.request('volume.attach', { volumeId, sizeBytes: c.params.sizeBytes, sealedKey: c.params.sealedKey, ephemeral: c.params.ephemeral ?? false, socketPath: join(dir, socketName) }, 60_000);
        try {
          const plugged = await hv.request('instance.attach-volume', { instanceId, volume: { volumeId, serial: serialOf(volumeId), socketName } }, 60_000);
          return { instanceId, volumeId, serial: serialOf(volumeId), device: plugged.device, plugged: plugged.plugged, encrypted: opened.encrypted };
        } catch (e) {
          await card.request('volume.detach', { volumeId }, 30_000).catch(() => undefined);
          throw e;
        }
      }
      case 'volume.detach': {
        const { instanceId, volumeId } = c.params;
        const force = c.params.force ?? false;
        try {
          await hv.request('instance.detach-volume', { instanceId, volumeId, force }, 60_000);
        } catch (e) {
          const code = (e as { code?: unknown }).code;
          // A gone instance holds nothing; a guest that will not let go is forced only on request.
          if (code !== 'InvalidInstanceID.NotFound' && !force) throw e;
          this.o.log.warn('hypervisor detach failed; detaching from the card anyway', { instanceId, volumeId, code: String(code) });
        }
        const r = await card.request('volume.detach', { volumeId }, 30_000);
        return { instanceId, volumeId, detached: r.detached };
      }
    }
  }

  /**
   * Before QEMU starts an instance that boots from its EBS root volume: the card serves the
   * volume on ebs-<vol>.sock in the instance directory (made here on a first start; the
   * hypervisor adopts it), the same export a hot-plugged volume gets, so the live update, the
   * region's key redelivery and volume.detach/volume.delete work on it unchanged. Idempotent
   * (a start after a stop finds it served). `undo` closes an export this call opened, for a
   * start that failed; an export that was already open (an earlier start) is left alone.
   */
  async openRootVolume(instanceId: string, volumeId: string, open: RootVolumeOpen | undefined): Promise<{ undo: () => Promise<void> }> {
    if (!open) throw new ControllerError('InvalidParameter', 'invalid', 'An instance that boots from a root volume needs params.rootVolume (its size and sealed key).', { instanceId, volumeId });
    const card = this.supervisor;
    const dir = join(this.o.instancesDir, instanceId);
    // a new directory is the card's to put the socket in; the hypervisor gives it the jail's group at start
    if ((await mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined) giveToComponent('ebs', dir);
    const served = (await card.request('card.info', {}, 10_000)).volumeIds.includes(volumeId);
    await card.request('volume.attach', { volumeId, sizeBytes: open.sizeBytes, sealedKey: open.sealedKey, ephemeral: false, socketPath: join(dir, socketNameOf(volumeId)) }, 60_000);
    return {
      undo: async () => {
        if (!served) await card.request('volume.detach', { volumeId }, 30_000).catch((e: unknown) => this.o.log.warn('could not close the root volume export of a failed start', { instanceId, volumeId, error: String(e) }));
      },
    };
  }

  /**
   * After an instance of a type with local storage (EC2's `d` types) started: the card makes a
   * fresh key that it never stores or hands out, opens a sparse file of the type's size, and the
   * hypervisor hot-plugs it as NVMe with an "AWS…" serial. Idempotent.
   */
  async attachInstanceStore(instanceId: string, instanceType: string): Promise<void> {
    const type = findInstanceType(instanceType);
    if (!type || type.instanceStorageGiB <= 0) return;
    const volumeId = instanceStoreVolumeId(instanceId);
    const socketName = socketNameOf(volumeId);
    await this.supervisor.request('volume.attach', { volumeId, sizeBytes: type.instanceStorageGiB * 2 ** 30, sealedKey: null, ephemeral: true, socketPath: join(this.o.instancesDir, instanceId, socketName) }, 60_000);
    await this.o.hypervisor.request('instance.attach-volume', { instanceId, volume: { volumeId, serial: `AWS${volumeId.slice(4)}`, socketName } }, 60_000);
  }

  /** After stop or terminate: the hypervisor forgets the disk, the card destroys its key and deletes the file. */
  async releaseInstanceStore(instanceId: string, instanceType: string | undefined): Promise<void> {
    if (instanceType !== undefined) {
      const type = findInstanceType(instanceType);
      if (!type || type.instanceStorageGiB <= 0) return;
    }
    const volumeId = instanceStoreVolumeId(instanceId);
    await this.o.hypervisor.request('instance.detach-volume', { instanceId, volumeId, force: true }, 30_000).catch(() => undefined);
    await this.supervisor.request('volume.detach', { volumeId }, 30_000);
    await this.supervisor.request('volume.delete', { volumeId }, 30_000).catch(() => undefined);
  }
}

/** The card-internal volume id of an instance's local NVMe disk (EC2 gives instance store no volume id). */
export const instanceStoreVolumeId = (instanceId: string): string => `vol-${instanceId.slice(2).padEnd(17, '0').slice(0, 17)}`;

/** What a live update of the EBS card needs. */
export interface EbsLiveUpdateContext {
  readonly card: EbsSupervisor;
  readonly log: Logger;
  /** The entry point the new card runs (a bundle update); absent: the one the card runs now. */
  readonly entry?: string;
}

export interface EbsRestartResult {
  readonly previous: ComponentStatus;
  readonly current: ComponentStatus;
  readonly volumes: number;
  /** Live NBD connections handed to the new card (served on without a reconnect). */
  readonly connections: number;
  /** Bytes the old card had read from handed-over connections and not yet served (a write's payload, unparsed requests), carried to the new card. */
  readonly carriedBytes: number;
  /** Connections the old card dropped instead (the client reconnects, to the new card). */
  readonly dropped: number;
  /**
   * The guest-visible pause: from the old card's freeze (it stops reading) to the new card
   * reading on every handed connection; with no connection handed, from the old card's
   * unlisten to its last connection dropped.
   */
  readonly outageMs: number;
  /** Where the pause went: the old card's freeze (drain of in-flight requests), moving the sockets, the new card's resume. */
  readonly pause: { readonly freezeMs: number; readonly moveMs: number; readonly resumeMs: number };
  readonly totalMs: number;
}

/**
 * Live update: a second card starts beside the old one (ComponentSupervisor.handover); the old
 * card seals each key to the new card's public key (no plaintext key leaves a card); the new
 * card opens every export on a staged socket. Then the pause: the old card stops accepting and
 * freezes every live NBD connection at a request boundary (reading stops, in-flight requests
 * finish, their replies are written); the new card's sockets take the live paths; each
 * connection's socket handle goes old → controller → new card with its negotiated state and
 * unread bytes, and the new card reads on — QEMU sees no reconnect, only the pause. Last, the
 * old card closes its copies, flushes and wipes its keys. If the new card cannot open every
 * volume, it is stopped and the old one keeps serving; if a connection cannot be handed over,
 * the old card drops it and QEMU reconnects to the new card.
 */
export async function restartEbsCard(ctx: EbsLiveUpdateContext): Promise<EbsRestartResult> {
  const t0 = performance.now();
  const previous = ctx.card.status();
  // The new card runs the entry point it is given (a bundle update): the hand-over forks from
  // the current supervisor, so it takes that entry for this and later starts.
  const sup = ctx.card;
  const before = sup.entry;
  const switchEntry = ctx.entry !== undefined && ctx.entry !== before;
  if (switchEntry) sup.setEntry(ctx.entry as string);
  let volumes = 0;
  let connections = 0;
  let carriedBytes = 0;
  let dropped = 0;
  let outageMs = 0;
  let pause = { freezeMs: 0, moveMs: 0, resumeMs: 0 };
  if (previous.state !== 'running' || previous.pid === undefined) {
    // no card to hand over from (crashed, in backoff): start one now; the region delivers the keys again
    ctx.log.warn('no running EBS card to hand over from; starting one; the region will deliver the keys again', { state: previous.state });
    let current: ComponentStatus;
    try {
      current = await ctx.card.restart();
    } catch (e) {
      if (switchEntry) sup.setEntry(before);
      throw e;
    }
    return { previous, current, volumes: 0, connections: 0, carriedBytes: 0, dropped: 0, outageMs: 0, pause, totalMs: Math.round(performance.now() - t0) };
  }
  let current: ComponentStatus;
  try {
    current = await ctx.card.handover(async (old, next) => {
      const info = await next.request('card.info', {}, { timeoutMs: 10_000 });
      const sealed = await old.request('handover.seal-keys', { publicKey: info.publicKey }, { timeoutMs: 30_000 });
      // 1. the new card opens every export on a staged socket next to the live one
      const failed: string[] = [];
      for (const v of sealed) {
        try {
          await next.request('volume.attach', { volumeId: v.volumeId, sizeBytes: v.sizeBytes, sealedKey: v.sealedKey, ephemeral: v.ephemeral, socketPath: v.socketPath, stage: true }, { timeoutMs: 60_000 });
        } catch (e) {
          failed.push(v.volumeId);
          ctx.log.error('the new EBS card could not open a volume', { volumeId: v.volumeId, error: String(e) });
        }
      }
      if (failed.length) throw new ControllerError('EbsHandoverIncomplete', 'internal', 'The new EBS card could not open every volume; the old card keeps serving.', { failed });
      // 2. the pause: the old card stops accepting and freezes every connection at a request boundary
      const tFreeze = performance.now();
      let frozen: ResultOfEbs<'handover.freeze'>;
      try {
        frozen = await old.request('handover.freeze', {}, { timeoutMs: 15_000 });
      } catch (e) {
        await old.request('handover.thaw', {}, { timeoutMs: 15_000 }).catch(() => undefined);
        throw e;
      }
      try {
        const tFrozen = performance.now();
        // 3. the new card's sockets take the live paths (closing the old listeners unlinked them) and
        // 4. every live connection moves (handle from the old card, then to the new one); all at once,
        //    so the pause is a few IPC round trips whatever the number of volumes and connections.
        //    A connection that cannot move is dropped by the old card at release (the client reconnects).
        const promoted = Promise.all(sealed.map((v) => next.request('handover.promote', { volumeId: v.volumeId }, { timeoutMs: 10_000 })));
        const moves = frozen.volumes.flatMap((vol) =>
          vol.connections.map(async (c) => {
            try {
              const h = await old.requestWithHandle('handover.handle', { volumeId: vol.volumeId, cid: c.cid }, { timeoutMs: 10_000 });
              await next.request('handover.connection', { volumeId: vol.volumeId, state: c.state }, { handle: h.handle, timeoutMs: 10_000 });
              connections++;
              carriedBytes += Buffer.from(c.state.payloadBase64, 'base64').length + Buffer.from(c.state.unreadBase64, 'base64').length;
            } catch (e) {
              dropped++;
              ctx.log.warn('a live NBD connection could not be handed over; the client reconnects', { volumeId: vol.volumeId, error: String(e) });
            }
          }),
        );
        await Promise.all([promoted, ...moves]);
        const tMoved = performance.now();
        await next.request('handover.resume', {}, { timeoutMs: 10_000 });
        outageMs = performance.now() - tFreeze;
        const r1 = (x: number): number => Math.round(x * 10) / 10;
        pause = { freezeMs: r1(tFrozen - tFreeze), moveMs: r1(tMoved - tFrozen), resumeMs: r1(performance.now() - tMoved) };
      } catch (e) {
        // undo: the old card listens on the live paths again and reads on; a connection that
        // already moved dies with the new card (ended by the supervisor) and QEMU reconnects here
        ctx.log.error('live update failed after the freeze; the old card serves again', { error: String(e) });
        await old.request('handover.thaw', {}, { timeoutMs: 15_000 }).catch(() => undefined);
        throw e;
      }
      // 5. the old card closes its copies of the sockets, flushes, drops what was not handed over, wipes its keys
      const tRelease = performance.now();
      await old.request('handover.release', {}, { timeoutMs: 60_000 });
      if (dropped > 0) outageMs += performance.now() - tRelease;
      volumes = sealed.length;
    });
  } catch (e) {
    if (switchEntry) sup.setEntry(before); // the old card keeps serving, from its own entry
    throw e;
  }
  return { previous, current, volumes, connections, carriedBytes, dropped, outageMs: Math.round(outageMs * 10) / 10, pause, totalMs: Math.round(performance.now() - t0) };
}
