// EBS snapshots: point-in-time copies the host's EBS card takes and copies (ciphertext as
// stored; a copy is re-encrypted by the card under keys the region seals to it).
import { newId } from '../../ids.js';
import { Ec2Error } from '../../protocol/errors.js';
import type { Collection } from '../../repo.js';
import { compileFilterTable, type Filter, type FilterTable } from '../filters.js';
import type { Caller, HostFleet } from '../instances.js';
import type { EbsAccountDefaults } from './account-defaults.js';
import type { EbsKeyRelease } from './key-release.js';
import { GiB, ownedSnapshot, type SnapshotRecord } from './records.js';
import type { VolumeService } from './volumes.js';

const SNAPSHOT_FILTERS: FilterTable<SnapshotRecord> = {
  'snapshot-id': (s) => [s.id],
  'volume-id': (s) => [s.volumeId],
  status: (s) => [s.state],
  encrypted: (s) => [String(s.encrypted)],
  'owner-id': (s) => [s.accountId],
  'volume-size': (s) => [String(s.volumeSize)],
  description: (s) => [s.description],
  'start-time': (s) => [s.startTime],
};

export class SnapshotService {
  constructor(
    private readonly snapshots: Collection<SnapshotRecord>,
    private readonly volumes: VolumeService,
    private readonly fleet: HostFleet,
    private readonly keys: EbsKeyRelease,
    private readonly defaults: EbsAccountDefaults,
  ) {}

  owned(c: Caller, id: string): SnapshotRecord {
    return ownedSnapshot(this.snapshots, c, id);
  }

  /** A consistent point-in-time copy taken by the host's card (under a write barrier), ciphertext as stored. */
  async create(c: Caller, volumeId: string, description: string | undefined, tags: Readonly<Record<string, string>>): Promise<SnapshotRecord> {
    const v = this.volumes.owned(c, volumeId);
    const hostId = v.storeHostId ?? this.fleet.hosts()[0]?.id;
    if (!hostId) throw new Ec2Error('InsufficientCapacity', 'No host can store the snapshot.');
    const id = newId('snap');
    await this.fleet.send(hostId, 'snapshot.create', { volumeId, snapshotId: id, sizeBytes: v.size * GiB }, { id: `snap:${id}`, timeoutMs: 600_000 });
    if (!v.storeHostId) await this.volumes.setStoreHost(volumeId, hostId);
    const rec: SnapshotRecord = {
      id,
      accountId: c.accountId,
      volumeId,
      volumeSize: v.size,
      encrypted: v.encrypted,
      kmsKeyArn: v.kmsKeyArn,
      wrappedKey: v.wrappedKey,
      keyContextId: v.encrypted ? (v.keyContextId ?? v.id) : undefined,
      hostId,
      state: 'completed',
      startTime: new Date().toISOString(),
      description: description ?? '',
      tags,
    };
    await this.snapshots.put(rec);
    return rec;
  }

  /**
   * CopySnapshot (same region): a new snapshot whose bytes the host's card re-encrypts under a
   * new data key (Encrypted / KmsKeyId; an unencrypted source becomes encrypted). The region
   * only relays sealed keys; it never sees the data.
   */
  async copy(c: Caller, req: { sourceSnapshotId: string; sourceRegion: string; description: string | undefined; encrypted: boolean | undefined; kmsKeyId: string | undefined }, tags: Readonly<Record<string, string>>): Promise<SnapshotRecord> {
    if (req.sourceRegion !== 'local-1') throw new Ec2Error('InvalidParameterValue', `Invalid source region: ${req.sourceRegion}`);
    const src = this.owned(c, req.sourceSnapshotId);
    const defaults = this.defaults.of(c.accountId);
    const encrypted = src.encrypted || req.encrypted === true || defaults.encryptionByDefault;
    if (req.kmsKeyId !== undefined && !encrypted) throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    const id = newId('snap');
    let kmsKeyArn: string | undefined;
    let wrappedKey: string | undefined;
    if (encrypted) {
      const keyId = req.kmsKeyId ?? src.kmsKeyArn ?? defaults.kmsKeyArn ?? (await this.keys.awsManagedKeyArn(c.accountId));
      ({ kmsKeyArn, wrappedKey } = await this.keys.newDataKey(c, keyId, id));
    }
    const info = { publicKey: src.encrypted || encrypted ? await this.keys.cardKey(src.hostId, `copy:${id}`) : '' };
    const sourceKey = src.encrypted ? await this.keys.sealFor(c.accountId, src.wrappedKey!, src.keyContextId ?? src.volumeId, src.kmsKeyArn ?? '', info.publicKey, src.id) : null;
    const key = encrypted ? await this.keys.sealFor(c.accountId, wrappedKey!, id, kmsKeyArn!, info.publicKey, id) : null;
    await this.fleet.send(src.hostId, 'snapshot.copy', { sourceSnapshotId: src.id, snapshotId: id, sourceKey, key }, { id: `copy:${id}`, timeoutMs: 600_000 });
    const rec: SnapshotRecord = {
      id,
      accountId: c.accountId,
      volumeId: 'vol-ffffffff',
      volumeSize: src.volumeSize,
      encrypted,
      kmsKeyArn,
      wrappedKey,
      keyContextId: encrypted ? id : undefined,
      hostId: src.hostId,
      state: 'completed',
      startTime: new Date().toISOString(),
      description: req.description ?? `[Copied ${src.id} from local-1]`,
      tags,
    };
    await this.snapshots.put(rec);
    return rec;
  }

  describe(c: Caller, ids: readonly string[], filters: readonly Filter[]): SnapshotRecord[] {
    const match = compileFilterTable(filters, SNAPSHOT_FILTERS, (x) => x.tags);
    const base = ids.length > 0 ? ids.map((id) => this.owned(c, id)) : this.snapshots.all().filter((s) => s.accountId === c.accountId);
    return base.filter(match);
  }

  async delete(c: Caller, id: string): Promise<void> {
    const s = this.owned(c, id);
    // a snapshot still being written through the EBS direct APIs: its work volume goes too
    if (s.state === 'pending') await this.fleet.send(s.hostId, 'snapshot.abort', { snapshotId: id }, { id: `abortsnap:${id}` });
    await this.fleet.send(s.hostId, 'snapshot.delete', { snapshotId: id }, { id: `delsnap:${id}` });
    await this.snapshots.delete(id);
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.snapshots.update(id, (cur) => ({ ...cur, tags }));
  }

  find(c: Caller, id: string): SnapshotRecord | undefined {
    const s = this.snapshots.get(id);
    return s && s.accountId === c.accountId ? s : undefined;
  }

  list(c: Caller): SnapshotRecord[] {
    return this.snapshots.all().filter((s) => s.accountId === c.accountId);
  }
}
