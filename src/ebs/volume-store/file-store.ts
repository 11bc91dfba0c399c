// The embedded volume store: one sparse file per volume under <root>/volumes and one per
// snapshot under <root>/snapshots (root is normally $NITRIDE_HOME/ebs). Files hold exactly
// what the card writes: ciphertext for encrypted volumes. Snapshots are `cp --reflink=auto
// --sparse=always` copies taken while every open handle of the volume is quiesced (no
// write in flight, data flushed), so they are a crash-consistent point in time; on
// reflink-capable file systems (btrfs, XFS) the copy is instant, elsewhere it costs a read
// of the allocated data.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { EbsError } from '../errors.js';
import { nitrideHome } from '../../lib/paths.js';
import { FileVolume } from './file-volume.js';
import type { SnapshotInfo, VolumeHandle, VolumeInfo, VolumeStore } from './types.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkId(id: string, what: string): void {
  if (!ID.test(id)) throw new EbsError('EBS_BAD_REQUEST', 'invalid', `That is not a valid ${what} id.`, { id });
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 4096 !== 0) {
    throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A volume size is a positive multiple of 4096 bytes.', { sizeBytes });
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function copySparse(src: string, dst: string): Promise<void> {
  return new Promise((res, rej) =>
    execFile('cp', ['--reflink=auto', '--sparse=always', '--', src, dst], (e, _out, err) =>
      e ? rej(new EbsError('EBS_IO', 'internal', 'Copying the volume file failed.', { src, dst, stderr: String(err) }, { cause: e })) : res(),
    ),
  );
}

export function defaultEbsRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(nitrideHome(env), 'ebs');
}

export class FileVolumeStore implements VolumeStore {
  readonly name = 'file';
  private readonly open_ = new Map<string, Set<FileVolume>>();
  private readonly volumesDir: string;
  private readonly snapshotsDir: string;

  constructor(readonly root: string = defaultEbsRoot()) {
    this.volumesDir = join(root, 'volumes');
    this.snapshotsDir = join(root, 'snapshots');
  }

  pathOf(volumeId: string): string {
    checkId(volumeId, 'volume');
    return join(this.volumesDir, `${volumeId}.vol`);
  }

  private snapPath(snapshotId: string): string {
    checkId(snapshotId, 'snapshot');
    return join(this.snapshotsDir, `${snapshotId}.snap`);
  }

  private async dirs(): Promise<void> {
    await mkdir(this.volumesDir, { recursive: true, mode: 0o700 });
    await mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
  }

  async create(id: string, sizeBytes: number): Promise<void> {
    checkSize(sizeBytes);
    const path = this.pathOf(id);
    await this.dirs();
    if (await exists(path)) throw new EbsError('EBS_VOLUME_EXISTS', 'conflict', 'The volume already exists.', { id });
    const v = await FileVolume.open(path, { create: sizeBytes, id });
    await v.close();
  }

  async open(id: string, opts: { readOnly?: boolean } = {}): Promise<VolumeHandle> {
    const path = this.pathOf(id);
    if (!(await exists(path))) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume does not exist.', { id });
    let set = this.open_.get(id);
    if (!set) this.open_.set(id, (set = new Set()));
    const s = set;
    const v: FileVolume = await FileVolume.open(path, {
      readOnly: opts.readOnly ?? false,
      id,
      onClose: () => {
        s.delete(v);
        if (s.size === 0 && this.open_.get(id) === s) this.open_.delete(id);
      },
    });
    s.add(v);
    return v;
  }

  async delete(id: string): Promise<void> {
    const path = this.pathOf(id);
    if (this.open_.get(id)?.size) throw new EbsError('EBS_VOLUME_IN_USE', 'conflict', 'The volume is open.', { id });
    if (!(await exists(path))) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume does not exist.', { id });
    await rm(path);
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<SnapshotInfo> {
    const src = this.pathOf(volumeId);
    const dst = this.snapPath(snapshotId);
    await this.dirs();
    if (!(await exists(src))) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume does not exist.', { id: volumeId });
    if (await exists(dst)) throw new EbsError('EBS_SNAPSHOT_EXISTS', 'conflict', 'The snapshot already exists.', { id: snapshotId });
    const releases: Array<() => void> = [];
    try {
      for (const h of this.open_.get(volumeId) ?? []) releases.push(await h.quiesce());
      const tmp = `${dst}.tmp-${process.pid}`;
      await copySparse(src, tmp);
      await rename(tmp, dst);
    } finally {
      for (const r of releases) r();
    }
    return this.snapInfo(snapshotId);
  }

  private async snapInfo(snapshotId: string): Promise<SnapshotInfo> {
    const st = await stat(this.snapPath(snapshotId));
    return { id: snapshotId, sizeBytes: st.size, allocatedBytes: st.blocks * 512 };
  }

  async createFromSnapshot(volumeId: string, snapshotId: string, sizeBytes?: number): Promise<void> {
    const src = this.snapPath(snapshotId);
    const dst = this.pathOf(volumeId);
    await this.dirs();
    if (!(await exists(src))) throw new EbsError('EBS_SNAPSHOT_NOT_FOUND', 'not-found', 'The snapshot does not exist.', { id: snapshotId });
    if (await exists(dst)) throw new EbsError('EBS_VOLUME_EXISTS', 'conflict', 'The volume already exists.', { id: volumeId });
    const snapSize = (await stat(src)).size;
    if (sizeBytes !== undefined) {
      checkSize(sizeBytes);
      if (sizeBytes < snapSize) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A volume from a snapshot cannot be smaller than the snapshot.', { sizeBytes, snapSize });
    }
    const tmp = `${dst}.tmp-${process.pid}`;
    await copySparse(src, tmp);
    if (sizeBytes !== undefined && sizeBytes > snapSize) await truncate(tmp, sizeBytes);
    await rename(tmp, dst);
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const p = this.snapPath(snapshotId);
    if (!(await exists(p))) throw new EbsError('EBS_SNAPSHOT_NOT_FOUND', 'not-found', 'The snapshot does not exist.', { id: snapshotId });
    await rm(p);
  }

  async openSnapshot(snapshotId: string): Promise<VolumeHandle> {
    const p = this.snapPath(snapshotId);
    if (!(await exists(p))) throw new EbsError('EBS_SNAPSHOT_NOT_FOUND', 'not-found', 'The snapshot does not exist.', { id: snapshotId });
    return FileVolume.open(p, { readOnly: true, id: snapshotId });
  }

  private async listDir(dir: string, ext: string): Promise<Array<{ id: string; sizeBytes: number; allocatedBytes: number }>> {
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: Array<{ id: string; sizeBytes: number; allocatedBytes: number }> = [];
    for (const n of names.sort()) {
      if (!n.endsWith(ext)) continue;
      const st = await stat(join(dir, n)).catch(() => undefined);
      if (st) out.push({ id: n.slice(0, -ext.length), sizeBytes: st.size, allocatedBytes: st.blocks * 512 });
    }
    return out;
  }

  list(): Promise<VolumeInfo[]> {
    return this.listDir(this.volumesDir, '.vol');
  }

  listSnapshots(): Promise<SnapshotInfo[]> {
    return this.listDir(this.snapshotsDir, '.snap');
  }
}
