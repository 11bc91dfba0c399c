// The EBS card's side of the EBS direct APIs: snapshots written block by block
// (StartSnapshot / PutSnapshotBlock / CompleteSnapshot) and read block by block
// (GetSnapshotBlock). A snapshot being built is a work volume in the card's store; the
// region's blocks come through the controller in plaintext and are encrypted here with the
// snapshot's data key, which arrives sealed to this card (aad: the snapshot id) and lives
// only in this process's memory. Sealing turns the work volume into the snapshot; aborting
// deletes it. Nothing about a snapshot is written outside the store's 0600 files.
//
// Ops (IPC, through the controller):
//   snapshot.begin     {snapshotId, sizeBytes, key, parentSnapshotId?, parentKey?, resume?}
//   snapshot.put-block {snapshotId, blockIndex, data (base64, 512 KiB), checksum (base64 SHA256)}
//   snapshot.seal      {snapshotId}
//   snapshot.abort     {snapshotId}
//   snapshot.get-block {snapshotId, blockIndex, key}  → {data (base64)}
//   snapshot.list-blocks {snapshotId, key}           → {blocks: [{index, checksum}]}
import { recryptAllocated } from '../recrypt.js';
import { KeyedQueue } from '../../lib/keyed-queue.js';
import { createHash } from 'node:crypto';
import { EbsError } from '../errors.js';
import { createXtsCipher, type XtsCipher } from '../xts/xts.js';
import type { VolumeHandle, VolumeStore } from '../volume-store/types.js';

export const EBS_DIRECT_BLOCK_SIZE = 512 * 1024;
const SNAPSHOT_ID_RE = /^snap-[0-9a-f]{8,17}$/;

/** Opens a key sealed to this card for `aad` (the card's X25519 pair never leaves EbsCard). */
export type OpenSealedKey = (sealed: string, aad: string) => Buffer;

/** The work volume of a snapshot being built: a card-internal store id no region volume id can take. */
export const workVolumeIdOf = (snapshotId: string): string => `build-${snapshotId}`;

interface Building {
  readonly snapshotId: string;
  readonly workId: string;
  readonly sizeBytes: number;
  readonly handle: VolumeHandle;
  readonly cipher: XtsCipher | null;
}

export interface BeginParams {
  readonly snapshotId: string;
  readonly sizeBytes: number;
  /** base64, sealed to this card with aad = snapshotId; null: unencrypted. */
  readonly key: string | null;
  readonly parentSnapshotId?: string | undefined;
  /** The parent's key, sealed with aad = parentSnapshotId; null when the parent is unencrypted. */
  readonly parentKey?: string | null | undefined;
  /** After a card restart: reopen the existing work volume instead of starting over. */
  readonly resume?: boolean | undefined;
}

function checkSnapshotId(id: unknown): string {
  if (typeof id !== 'string' || !SNAPSHOT_ID_RE.test(id)) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'snapshotId must look like snap-0123456789abcdef0.', { snapshotId: String(id).slice(0, 64) });
  return id;
}

function checkIndex(i: unknown, sizeBytes: number): number {
  if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'blockIndex must be a non-negative integer.');
  if ((i + 1) * EBS_DIRECT_BLOCK_SIZE > sizeBytes) throw new EbsError('EBS_OUT_OF_RANGE', 'invalid', 'The block lies past the end of the snapshot.', { blockIndex: i, sizeBytes });
  return i;
}

const isZero = (b: Buffer): boolean => {
  for (let i = 0; i < b.length; i += 8192) {
    const end = Math.min(b.length, i + 8192);
    for (let j = i; j < end; j++) if (b[j] !== 0) return false;
  }
  return true;
};

export class SnapshotBuilder {
  private readonly building = new Map<string, Building>();
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly store: VolumeStore,
    private readonly openKey: OpenSealedKey,
  ) {}

  /** One begin/seal/abort per snapshot at a time; block writes run beside each other. */
  private one<T>(snapshotId: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(snapshotId, fn);
  }

  private cipherOf(sealed: string | null | undefined, aad: string): XtsCipher | null {
    if (!sealed) return null;
    const key = this.openKey(sealed, aad);
    try {
      if (key.length !== 64) throw new EbsError('EBS_BAD_KEY', 'invalid', 'A snapshot key is 64 bytes.', { snapshotId: aad });
      return createXtsCipher(key);
    } finally {
      key.fill(0);
    }
  }

  list(): string[] {
    return [...this.building.keys()].sort();
  }

  begin(p: BeginParams): Promise<{ snapshotId: string; resumed: boolean }> {
    const snapshotId = checkSnapshotId(p.snapshotId);
    if (!Number.isSafeInteger(p.sizeBytes) || p.sizeBytes <= 0 || p.sizeBytes % EBS_DIRECT_BLOCK_SIZE !== 0) {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'sizeBytes must be a positive multiple of 512 KiB.', { sizeBytes: p.sizeBytes });
    }
    return this.one(snapshotId, async () => {
      if (this.building.has(snapshotId)) return { snapshotId, resumed: true };
      const workId = workVolumeIdOf(snapshotId);
      const exists = (await this.store.list()).some((v) => v.id === workId);
      if (p.resume === true && !exists) throw new EbsError('EBS_SNAPSHOT_NOT_FOUND', 'not-found', 'The snapshot is not being built on this card.', { snapshotId });
      const cipher = this.cipherOf(p.key, snapshotId);
      let handle: VolumeHandle | undefined;
      try {
        if (p.resume !== true) {
          if (exists) await this.store.delete(workId); // a half-built leftover of an aborted earlier try
          if ((await this.store.listSnapshots()).some((s) => s.id === snapshotId)) throw new EbsError('EBS_SNAPSHOT_EXISTS', 'conflict', 'The snapshot already exists.', { snapshotId });
          await this.store.create(workId, p.sizeBytes);
        }
        handle = await this.store.open(workId);
        if (p.resume !== true && p.parentSnapshotId !== undefined) await this.copyParent(checkSnapshotId(p.parentSnapshotId), p.parentKey ?? null, handle, cipher);
      } catch (e) {
        cipher?.destroy();
        await handle?.close().catch(() => undefined);
        if (p.resume !== true) await this.store.delete(workId).catch(() => undefined);
        throw e;
      }
      this.building.set(snapshotId, { snapshotId, workId, sizeBytes: p.sizeBytes, handle, cipher });
      return { snapshotId, resumed: p.resume === true };
    });
  }

  /** The parent's data, re-encrypted under this snapshot's key (only allocated ranges; holes stay holes). */
  private async copyParent(parentId: string, parentKey: string | null, dst: VolumeHandle, dstCipher: XtsCipher | null): Promise<void> {
    const src = await this.store.openSnapshot(parentId);
    const srcCipher = this.cipherOf(parentKey, parentId);
    try {
      await recryptAllocated(src, dst, Math.min(src.size(), dst.size()), srcCipher, dstCipher);
    } finally {
      srcCipher?.destroy();
      await src.close();
    }
  }

  private open(snapshotId: string): Building {
    const b = this.building.get(snapshotId);
    if (!b) throw new EbsError('EBS_SNAPSHOT_NOT_FOUND', 'not-found', 'The snapshot is not being built on this card.', { snapshotId, building: false });
    return b;
  }

  /** Writes one 512 KiB block (checked against its SHA256 first); an all-zero block becomes a hole. */
  async putBlock(p: { snapshotId: string; blockIndex: number; data: string; checksum: string }): Promise<{ snapshotId: string; blockIndex: number }> {
    const b = this.open(checkSnapshotId(p.snapshotId));
    const index = checkIndex(p.blockIndex, b.sizeBytes);
    if (typeof p.data !== 'string' || typeof p.checksum !== 'string') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'data and checksum must be base64.');
    const data = Buffer.from(p.data, 'base64');
    if (data.length !== EBS_DIRECT_BLOCK_SIZE) throw new EbsError('EBS_BAD_REQUEST', 'invalid', `A block is ${EBS_DIRECT_BLOCK_SIZE} bytes.`, { length: data.length });
    if (createHash('sha256').update(data).digest('base64') !== p.checksum) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'The block does not match its checksum.', { blockIndex: index });
    const pos = index * EBS_DIRECT_BLOCK_SIZE;
    if (isZero(data)) {
      await b.handle.trim(pos, data.length);
    } else {
      b.cipher?.encrypt(data, 0, data.length, pos);
      await b.handle.write(data, 0, data.length, pos);
    }
    data.fill(0);
    return { snapshotId: b.snapshotId, blockIndex: index };
  }

  /** Makes the work volume the snapshot (durable first), then forgets the key. */
  seal(snapshotIdRaw: string): Promise<{ snapshotId: string; sizeBytes: number }> {
    const snapshotId = checkSnapshotId(snapshotIdRaw);
    return this.one(snapshotId, async () => {
      const b = this.open(snapshotId);
      await b.handle.flush();
      await b.handle.close();
      this.building.delete(snapshotId);
      b.cipher?.destroy();
      try {
        const info = await this.store.snapshot(b.workId, snapshotId);
        return { snapshotId, sizeBytes: info.sizeBytes };
      } finally {
        await this.store.delete(b.workId).catch(() => undefined);
      }
    });
  }

  /** Drops a snapshot being built (its work volume and key); idempotent. */
  abort(snapshotIdRaw: string): Promise<{ snapshotId: string; aborted: boolean }> {
    const snapshotId = checkSnapshotId(snapshotIdRaw);
    return this.one(snapshotId, async () => {
      const b = this.building.get(snapshotId);
      this.building.delete(snapshotId);
      if (b) {
        b.cipher?.destroy();
        await b.handle.close().catch(() => undefined);
      }
      const workId = workVolumeIdOf(snapshotId);
      const exists = (await this.store.list()).some((v) => v.id === workId);
      if (exists) await this.store.delete(workId);
      return { snapshotId, aborted: b !== undefined || exists };
    });
  }

  /** One 512 KiB block of a completed snapshot, decrypted (never-written sectors read as zeros). */
  async getBlock(p: { snapshotId: string; blockIndex: number; key: string | null }): Promise<{ data: string }> {
    const snapshotId = checkSnapshotId(p.snapshotId);
    const h = await this.store.openSnapshot(snapshotId);
    const cipher = this.cipherOf(p.key, snapshotId);
    try {
      const index = checkIndex(p.blockIndex, h.size());
      const buf = Buffer.alloc(EBS_DIRECT_BLOCK_SIZE);
      const pos = index * EBS_DIRECT_BLOCK_SIZE;
      await h.read(buf, 0, buf.length, pos);
      cipher?.decrypt(buf, 0, buf.length, pos);
      const out = buf.toString('base64');
      buf.fill(0);
      return { data: out };
    } finally {
      cipher?.destroy();
      await h.close();
    }
  }

  /**
   * The blocks of a completed snapshot that hold data (made by CreateSnapshot or CopySnapshot,
   * whose blocks the region has not seen), each with the SHA256 of its plaintext: only
   * allocated ranges are read; blocks that decrypt to zeros are left out.
   */
  async listBlocks(p: { snapshotId: string; key: string | null }): Promise<{ blocks: { index: number; checksum: string }[] }> {
    const snapshotId = checkSnapshotId(p.snapshotId);
    const h = await this.store.openSnapshot(snapshotId);
    const cipher = this.cipherOf(p.key, snapshotId);
    try {
      const size = h.size();
      const indexes = new Set<number>();
      for (const ext of await h.allocation(0, size)) {
        if (ext.hole || ext.length === 0) continue;
        for (let i = Math.floor(ext.offset / EBS_DIRECT_BLOCK_SIZE); i * EBS_DIRECT_BLOCK_SIZE < ext.offset + ext.length; i++) indexes.add(i);
      }
      const buf = Buffer.alloc(EBS_DIRECT_BLOCK_SIZE);
      const blocks: { index: number; checksum: string }[] = [];
      for (const index of [...indexes].sort((a, b) => a - b)) {
        const pos = index * EBS_DIRECT_BLOCK_SIZE;
        if (pos + EBS_DIRECT_BLOCK_SIZE > size) break;
        await h.read(buf, 0, buf.length, pos);
        cipher?.decrypt(buf, 0, buf.length, pos);
        if (isZero(buf)) continue;
        blocks.push({ index, checksum: createHash('sha256').update(buf).digest('base64') });
      }
      buf.fill(0);
      return { blocks };
    } finally {
      cipher?.destroy();
      await h.close();
    }
  }

  /** The card is exiting: close every work volume (they stay for a resume) and drop the keys. */
  async close(): Promise<void> {
    const all = [...this.building.values()];
    this.building.clear();
    for (const b of all) {
      b.cipher?.destroy();
      await b.handle.close().catch(() => undefined);
    }
  }
}
