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

type EbsCommand = Extract<ControllerCommandBody, { type: 'ebs.info' | 'volume.attach' | 'volume.detach' | 'volume.delete' | 'snapshot.create' | 'snapshot.delete' | 'volume.from-snapshot' }>;

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
  /** From the old card closing its exports to the new card listening on every socket again. */
  readonly outageMs: number;
  readonly totalMs: number;
}

/**
 * Live update: start a second card, ask the old one to drain and close its exports and to
 * seal each key to the new card's public key, open the same exports on the same socket
 * paths in the new card (QEMU's NBD client reconnects: reconnect-delay), then let the old
 * process exit. Volumes the new card cannot open are reported, not dropped silently.
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
  let handed: { volumeId: string; sizeBytes: number; socketPath: string; ephemeral: boolean; sealedKey: string | null }[] = [];
  try {
    handed = (await old.request('card.handover', { publicKey: info.publicKey }, 60_000)) as typeof handed;
  } catch (e) {
    // The old card is gone or cannot hand over (crashed): the new card starts empty and the
    // region re-delivers keys with volume.attach.
    ctx.log.warn('the old EBS card did not hand over; its volumes need the region to attach them again', { error: String(e) });
  }
  const tClosed = Date.now();
  const failed: string[] = [];
  for (const v of handed) {
    try {
      await next.request('volume.attach', { volumeId: v.volumeId, sizeBytes: v.sizeBytes, sealedKey: v.sealedKey, ephemeral: false, socketPath: v.socketPath }, 60_000);
    } catch (e) {
      failed.push(v.volumeId);
      ctx.log.error('the new EBS card could not open a handed-over volume', { volumeId: v.volumeId, error: String(e) });
    }
  }
  const outageMs = Date.now() - tClosed;
  ctx.setCard(next);
  await old.stop();
  if (failed.length) throw new ControllerError('EbsHandoverIncomplete', 'internal', 'Some volumes could not be opened by the new EBS card.', { failed });
  return { previous, current: next.status(), volumes: handed.length, outageMs, totalMs: Date.now() - t0 };
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
