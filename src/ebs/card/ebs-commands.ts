// The controller's side of the EBS card: the commands volume.attach / volume.detach /
// volume.delete / ebs.info and the live update host.restart-component {component: 'ebs'}.
// The controller only relays: a sealed key goes from the region to the card unopened, and
// during a live update the old card seals its keys to the new card's public key, so the
// controller never holds a plaintext key either.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerError } from '../../controller/errors.js';
import type { ControllerCommandBody } from '../../controller/protocol/commands.js';
import type { ComponentStatus, ComponentSupervisor } from '../../controller/supervisor.js';
import { findInstanceType } from '../../lib/instance-types.js';
import type { Logger } from '../../lib/log.js';

export interface EbsContext {
  readonly card: ComponentSupervisor;
  readonly hypervisor: ComponentSupervisor;
  /** <host>/hypervisor/instances: each instance's directory is QEMU's working directory. */
  readonly instancesDir: string;
  readonly log: Logger;
  /** A new, not yet started, supervisor for a second card process (live update). */
  readonly makeCard: () => ComponentSupervisor;
  /** Makes `next` the card the controller talks to from now on. */
  readonly setCard: (next: ComponentSupervisor) => void;
}

type EbsCommand = Extract<ControllerCommandBody, { type: 'ebs.info' | 'volume.attach' | 'volume.detach' | 'volume.delete' | 'snapshot.create' | 'snapshot.delete' | 'volume.from-snapshot' | 'snapshot.copy' }>;

export const socketNameOf = (volumeId: string): string => `ebs-${volumeId}.sock`;
/** The NVMe serial EC2 gives a volume: its id without the dash. */
export const serialOf = (volumeId: string): string => volumeId.replace('-', '');

export async function executeEbs(ctx: EbsContext, c: EbsCommand): Promise<unknown> {
  switch (c.type) {
    case 'ebs.info':
      return ctx.card.request('card.info', {}, 10_000);
    case 'volume.delete':
      return ctx.card.request('volume.delete', { volumeId: c.params.volumeId }, 30_000);
    case 'snapshot.create':
    case 'snapshot.delete':
    case 'volume.from-snapshot':
    case 'snapshot.copy':
      return ctx.card.request(c.type, c.params, 600_000);
    case 'volume.attach': {
      const { instanceId, volumeId } = c.params;
      const dir = join(ctx.instancesDir, instanceId);
      if (!existsSync(dir)) throw new ControllerError('InvalidInstanceID.NotFound', 'not-found', `The instance '${instanceId}' does not exist on this host.`, { instanceId });
      const socketName = socketNameOf(volumeId);
      const opened = (await ctx.card.request(
        'volume.attach',
        { volumeId, sizeBytes: c.params.sizeBytes, sealedKey: c.params.sealedKey, ephemeral: c.params.ephemeral ?? false, socketPath: join(dir, socketName) },
        60_000,
      )) as { encrypted: boolean };
      try {
        const plugged = (await ctx.hypervisor.request('instance.attach-volume', { instanceId, volume: { volumeId, serial: serialOf(volumeId), socketName } }, 60_000)) as { device: string; plugged: boolean };
        return { instanceId, volumeId, serial: serialOf(volumeId), device: plugged.device, plugged: plugged.plugged, encrypted: opened.encrypted };
      } catch (e) {
        await ctx.card.request('volume.detach', { volumeId }, 30_000).catch(() => undefined);
        throw e;
      }
    }
    case 'volume.detach': {
      const { instanceId, volumeId } = c.params;
      const force = c.params.force ?? false;
      try {
        await ctx.hypervisor.request('instance.detach-volume', { instanceId, volumeId, force }, 60_000);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        // A gone instance holds nothing; a guest that will not let go is forced only on request.
        if (code !== 'InvalidInstanceID.NotFound' && !force) throw e;
        ctx.log.warn('hypervisor detach failed; detaching from the card anyway', { instanceId, volumeId, code: String(code) });
      }
      const r = (await ctx.card.request('volume.detach', { volumeId }, 30_000)) as { detached: boolean };
      return { instanceId, volumeId, detached: r.detached };
    }
  }
}

async function waitReady(sup: ComponentSupervisor, deadlineMs: number): Promise<{ publicKey: string; pid: number }> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return (await sup.request('card.info', {}, 5_000)) as { publicKey: string; pid: number };
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface EbsRestartResult {
  readonly previous: ComponentStatus;
  readonly current: ComponentStatus;
  readonly volumes: number;
  /** From the new card's sockets taking the live paths to the old card having dropped every connection (drain). */
  readonly outageMs: number;
  readonly totalMs: number;
}

/**
 * Live update: start a second card; the old one seals each key to the new card's public key
 * (no plaintext key leaves a card); the new card opens every export on a staged socket and
 * renames it over the live socket path; then the old card drains its in-flight requests,
 * flushes and drops its connections, and QEMU's NBD client reconnects at once — to the new
 * card. If the new card cannot open every volume, it is stopped and the old one keeps serving.
 */
export async function restartEbsCard(ctx: EbsContext): Promise<EbsRestartResult> {
  const t0 = Date.now();
  const old = ctx.card;
  const previous = old.status();
  const next = ctx.makeCard();
  next.start();
  let info: { publicKey: string; pid: number };
  try {
    info = await waitReady(next, 30_000);
  } catch (e) {
    await next.stop();
    throw new ControllerError('EbsCardUnavailable', 'unavailable', 'The new EBS card did not start; the old one keeps serving.', {}, { cause: e });
  }
  type Handed = { volumeId: string; sizeBytes: number; socketPath: string; ephemeral: boolean; sealedKey: string | null };
  let sealed: Handed[] | undefined;
  try {
    sealed = (await old.request('card.seal-keys', { publicKey: info.publicKey }, 30_000)) as Handed[];
  } catch (e) {
    ctx.log.warn('the old EBS card cannot seal its keys (crashed?); the region will deliver them again', { error: String(e) });
  }
  const failed: string[] = [];
  let tClosed = Date.now();
  let handedCount = 0;
  if (sealed) {
    // 1. the new card opens every export on a staged socket next to the live one
    const staged: Handed[] = [];
    for (const v of sealed) {
      try {
        await next.request('volume.attach', { volumeId: v.volumeId, sizeBytes: v.sizeBytes, sealedKey: v.sealedKey, ephemeral: v.ephemeral, socketPath: v.socketPath, stage: true }, 60_000);
        staged.push(v);
      } catch (e) {
        failed.push(v.volumeId);
        ctx.log.error('the new EBS card could not open a volume', { volumeId: v.volumeId, error: String(e) });
      }
    }
    if (failed.length) {
      await next.stop();
      throw new ControllerError('EbsHandoverIncomplete', 'internal', 'The new EBS card could not open every volume; the old card keeps serving.', { failed });
    }
    // 2. the old card stops accepting (closing a unix listener unlinks its file), and the new
    //    card's sockets take the paths: QEMU's next connection goes there
    tClosed = Date.now();
    await old.request('card.unlisten', {}, 10_000);
    for (const v of staged) await next.request('volume.promote', { volumeId: v.volumeId }, 10_000);
    // 3. the old card drains, flushes and drops its connections: QEMU reconnects at once
    await old.request('card.release', {}, 60_000);
    handedCount = staged.length;
  }
  const outageMs = Date.now() - tClosed;
  ctx.setCard(next);
  await old.stop();
  return { previous, current: next.status(), volumes: handedCount, outageMs, totalMs: Date.now() - t0 };
}

// ---------------------------------------------------------------- instance store

/** The card-internal volume id of an instance's local NVMe disk (EC2 gives instance store no volume id). */
export const instanceStoreVolumeId = (instanceId: string): string => `vol-${instanceId.slice(2).padEnd(17, '0').slice(0, 17)}`;

/**
 * After an instance of a type with local storage (EC2's `d` types) started: the card makes a
 * fresh key that it never stores or hands out, opens a sparse file of the type's size, and the
 * hypervisor hot-plugs it as NVMe with an "AWS…" serial. Idempotent.
 */
export async function attachInstanceStore(ctx: EbsContext, instanceId: string, instanceType: string): Promise<void> {
  const type = findInstanceType(instanceType);
  if (!type || type.instanceStorageGiB <= 0) return;
  const volumeId = instanceStoreVolumeId(instanceId);
  const socketName = socketNameOf(volumeId);
  await ctx.card.request(
    'volume.attach',
    { volumeId, sizeBytes: type.instanceStorageGiB * 2 ** 30, sealedKey: null, ephemeral: true, socketPath: join(ctx.instancesDir, instanceId, socketName) },
    60_000,
  );
  await ctx.hypervisor.request('instance.attach-volume', { instanceId, volume: { volumeId, serial: `AWS${volumeId.slice(4)}`, socketName } }, 60_000);
}

/** After stop or terminate: the hypervisor forgets the disk, the card destroys its key and deletes the file. */
export async function releaseInstanceStore(ctx: EbsContext, instanceId: string, instanceType: string | undefined): Promise<void> {
  if (instanceType !== undefined) {
    const type = findInstanceType(instanceType);
    if (!type || type.instanceStorageGiB <= 0) return;
  }
  const volumeId = instanceStoreVolumeId(instanceId);
  await ctx.hypervisor.request('instance.detach-volume', { instanceId, volumeId, force: true }, 30_000).catch(() => undefined);
  await ctx.card.request('volume.detach', { volumeId }, 30_000);
  await ctx.card.request('volume.delete', { volumeId }, 30_000).catch(() => undefined);
}
