// The EBS direct APIs in the region: snapshots written and read block by block. The snapshots
// are the same records EC2's DescribeSnapshots shows (state pending → completed), owned per
// account; the bytes live on a host's EBS card, which encrypts them (src/ebs/card/
// snapshot-builder.ts). The region keeps, per snapshot, each block's SHA256 (for block tokens,
// ListChangedBlocks and CompleteSnapshot's aggregated checksum) and the session of a snapshot
// being written (client token, timeout, progress).
//
// Keys: an encrypted snapshot (Encrypted, a parent that is encrypted, or the account's
// encryption by default) gets its own data key from KMS, kept only wrapped (encryption context
// aws:ebs:id = the snapshot id) with a grant to the EBS service, exactly as a volume's. The
// card receives it sealed to its attested public key (EbsKeyRelease.sealSnapshotKey); the
// plaintext never exists in the region outside KMS, nor on disk.
import { createLogger } from '../../lib/log.js';
import { describeError } from '../../lib/errors.js';
import { aliasArn } from '../../kms/model.js';
import type { Collection } from '../repo.js';
import { newId } from '../ids.js';
import { isEc2Error } from '../protocol/errors.js';
import type { Caller, HostFleet } from '../ec2/instances.js';
import type { EbsAccountDefaults } from '../ec2/ebs/account-defaults.js';
import type { EbsKeyRelease } from '../ec2/ebs/key-release.js';
import type { SnapshotRecord } from '../ec2/ebs/records.js';
import { blockChecksum, blockToken, EBS_BLOCK_SIZE, linearAggregate } from '../protocol/ebs-direct/checksum.js';
import { EbsDirectError, snapshotNotFound, validation } from '../protocol/ebs-direct/errors.js';
import { decodePageToken, encodePageToken, type CompleteSnapshotRequest, type GetSnapshotBlockRequest, type ListChangedBlocksRequest, type ListSnapshotBlocksRequest, type PutSnapshotBlockRequest, type StartSnapshotRequest } from '../protocol/ebs-direct/requests.js';
import type { BlockPage, SnapshotSummary } from '../protocol/ebs-direct/responses.js';

const log = createLogger('region.ebs-direct');
const GiB = 2 ** 30;
const TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000;
const DEFAULT_TIMEOUT_MIN = 60;
/** Snapshots one account may have pending at once (ConcurrentLimitExceededException above). */
export const MAX_PENDING_PER_ACCOUNT = 100;

/** One block of a snapshot: its SHA256, and whether it was written to this snapshot (not inherited from the parent). */
export interface EbsBlockRecord {
  readonly id: string; // <snapshot id>/<index, 10 digits>
  readonly snapshotId: string;
  readonly index: number;
  readonly checksum: string;
  readonly changed: boolean;
}

/** A snapshot started through StartSnapshot. */
export interface EbsSessionRecord {
  readonly id: string; // the snapshot id
  readonly accountId: string;
  readonly clientToken: string | undefined;
  /** The StartSnapshot parameters, to recognise a retry with the same client token. */
  readonly requestKey: string;
  readonly parentSnapshotId: string | undefined;
  readonly timeoutAt: string;
  readonly state: 'pending' | 'completed' | 'error';
  /** StartSnapshot's SseType: the AWS managed key (sse-ebs), a customer key (sse-kms) or none. */
  readonly sseType?: 'sse-ebs' | 'sse-kms' | 'none';
}

export interface EbsDirectRepos {
  readonly snapshots: Collection<SnapshotRecord>;
  readonly blocks: Collection<EbsBlockRecord>;
  readonly sessions: Collection<EbsSessionRecord>;
}

const blockId = (snapshotId: string, index: number): string => `${snapshotId}/${String(index).padStart(10, '0')}`;

/** Errors of EC2's key path (KMS refusals as Ec2Error) as the EBS direct APIs report them. */
function fromEc2(e: unknown): unknown {
  if (!isEc2Error(e)) return e;
  switch (e.code) {
    case 'InvalidKMSKey.InvalidState':
    case 'InvalidParameterValue':
      return new EbsDirectError('ValidationException', e.message, { reason: 'INVALID_CUSTOMER_KEY', cause: e });
    case 'UnauthorizedOperation':
      return new EbsDirectError('AccessDeniedException', e.message, { reason: 'DEPENDENCY_ACCESS_DENIED', cause: e });
    case 'InsufficientInstanceCapacity':
    case 'InsufficientCapacity':
      return new EbsDirectError('ServiceQuotaExceededException', e.message, { reason: 'DEPENDENCY_SERVICE_QUOTA_EXCEEDED', cause: e });
    default:
      return new EbsDirectError('InternalServerException', 'The snapshot could not be processed.', { cause: e });
  }
}

/** A controller/card failure while moving blocks. */
function fromHost(e: unknown, what: string): EbsDirectError {
  if (e instanceof EbsDirectError) return e;
  const mapped = fromEc2(e);
  if (mapped instanceof EbsDirectError) return mapped;
  return new EbsDirectError('InternalServerException', `The EBS card could not ${what}.`, { cause: e });
}

export class EbsDirectService {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly repos: EbsDirectRepos,
    /** Seals a snapshot's data key to the attested card (src/region/ec2/ebs/key-release.ts). */
    private readonly keys: EbsKeyRelease,
    /** The account's encryption by default and default KMS key. */
    private readonly defaults: EbsAccountDefaults,
    private readonly fleet: HostFleet,
    private readonly now: () => Date = () => new Date(),
  ) {}

  // ---------------------------------------------------------------- lookups

  private owned(c: Caller, id: string): SnapshotRecord {
    const s = this.repos.snapshots.get(id);
    if (!s || s.accountId !== c.accountId) throw snapshotNotFound(id);
    return s;
  }

  private completed(c: Caller, id: string): SnapshotRecord {
    const s = this.owned(c, id);
    if (s.state !== 'completed') throw validation('INVALID_SNAPSHOT_ID', `The snapshot '${id}' is ${s.state}; only a completed snapshot can be read.`, { snapshotId: id, state: s.state });
    return s;
  }

  /** The pending snapshot a write goes to; a snapshot past its timeout becomes `error` first. */
  private async writable(c: Caller, id: string): Promise<{ snap: SnapshotRecord; session: EbsSessionRecord }> {
    const snap = this.owned(c, id);
    const session = this.repos.sessions.get(id);
    if (!session || snap.state !== 'pending' || session.state !== 'pending') {
      throw validation('INVALID_SNAPSHOT_ID', `The snapshot '${id}' is ${snap.state}; blocks can only be written to a snapshot started with StartSnapshot and not yet completed.`, { snapshotId: id, state: snap.state });
    }
    if (Date.parse(session.timeoutAt) <= this.now().getTime()) {
      await this.expire(session);
      throw validation('WRITE_REQUEST_TIMEOUT', `The snapshot '${id}' timed out before it was completed; it is in the error state.`, { snapshotId: id });
    }
    return { snap, session };
  }

  blocksOf(snapshotId: string): EbsBlockRecord[] {
    const prefix = `${snapshotId}/`;
    return this.repos.blocks.all().filter((b) => b.id.startsWith(prefix));
  }

  summary(s: SnapshotRecord): SnapshotSummary {
    const session = this.repos.sessions.get(s.id);
    return {
      snapshotId: s.id,
      ownerId: s.accountId,
      status: s.state,
      startTime: new Date(s.startTime),
      volumeSize: s.volumeSize,
      description: s.description === '' ? undefined : s.description,
      tags: Object.entries(s.tags).map(([key, value]) => ({ key, value })),
      parentSnapshotId: session?.parentSnapshotId,
      kmsKeyArn: s.kmsKeyArn,
      sseType: !s.encrypted ? 'none' : (session?.sseType ?? 'sse-kms'),
    };
  }

  // ---------------------------------------------------------------- StartSnapshot

  async start(c: Caller, req: StartSnapshotRequest): Promise<SnapshotSummary> {
    const requestKey = JSON.stringify([req.volumeSize, req.parentSnapshotId ?? null, req.encrypted ?? null, req.kmsKeyArn ?? null, req.description ?? null, req.timeout ?? null, req.tags]);
    if (req.clientToken !== undefined) {
      const prior = this.repos.sessions.all().find((x) => x.accountId === c.accountId && x.clientToken === req.clientToken);
      if (prior) {
        if (prior.requestKey !== requestKey) throw new EbsDirectError('ConflictException', 'The request uses the same client token as a previous, but non-identical request.', { context: { clientToken: req.clientToken } });
        const s = this.repos.snapshots.get(prior.id);
        if (s) return this.summary(s);
      }
    }
    const pending = this.repos.sessions.all().filter((x) => x.accountId === c.accountId && x.state === 'pending').length;
    if (pending >= MAX_PENDING_PER_ACCOUNT) throw new EbsDirectError('ConcurrentLimitExceededException', `An account may have at most ${MAX_PENDING_PER_ACCOUNT} snapshots pending at once.`);
    const parent = req.parentSnapshotId !== undefined ? this.completed(c, req.parentSnapshotId) : undefined;
    if (parent) await this.indexed(parent); // its blocks are the child's until overwritten
    if (parent && req.volumeSize < parent.volumeSize) {
      throw validation('INVALID_VOLUME_SIZE', `VolumeSize ${req.volumeSize} GiB is smaller than the parent snapshot's ${parent.volumeSize} GiB.`, { volumeSize: req.volumeSize });
    }
    const encrypted = req.encrypted === true || this.defaults.encryptionByDefault(c) || parent?.encrypted === true;
    if (req.kmsKeyArn !== undefined && !encrypted) throw validation('INVALID_PARAMETER_VALUE', 'KmsKeyArn needs Encrypted set to true.', { field: 'KmsKeyArn' });
    if (parent?.encrypted && req.encrypted === false) throw validation('INVALID_PARAMETER_VALUE', 'The parent snapshot is encrypted, so this snapshot must be encrypted too.', { field: 'Encrypted' });

    const hostId = parent?.hostId ?? (await this.pickHost());
    const id = newId('snap');
    let kmsKeyArn: string | undefined;
    let wrappedKey: string | undefined;
    let managed = false;
    if (encrypted) ({ kmsKeyArn, wrappedKey, managed } = await this.newDataKey(c, id, req.kmsKeyArn ?? (parent?.encrypted ? parent.kmsKeyArn : undefined)));
    const startTime = this.now().toISOString();
    const rec: SnapshotRecord = {
      id,
      accountId: c.accountId,
      volumeId: 'vol-ffffffff',
      volumeSize: req.volumeSize,
      encrypted,
      kmsKeyArn,
      wrappedKey,
      keyContextId: encrypted ? id : undefined,
      hostId,
      state: 'pending',
      startTime,
      description: req.description ?? '',
      tags: Object.fromEntries(req.tags.map((t) => [t.key, t.value])),
      progress: 0,
    };
    // the card first: if it cannot start the snapshot, no record is left behind
    try {
      const key = await this.keys.sealSnapshotKey(rec, hostId, id, `ebs-start:${id}`);
      const parentKey = parent ? await this.keys.sealSnapshotKey(parent, hostId, parent.id, `ebs-start:${id}:parent`) : undefined;
      await this.fleet.send(
        hostId,
        'snapshot.begin',
        { snapshotId: id, sizeBytes: req.volumeSize * GiB, key, ...(parent ? { parentSnapshotId: parent.id, parentKey: parentKey ?? null } : {}) },
        { id: `ebs-begin:${id}`, timeoutMs: 600_000 },
      );
    } catch (e) {
      throw fromHost(e, 'start the snapshot');
    }
    const session: EbsSessionRecord = {
      id,
      accountId: c.accountId,
      clientToken: req.clientToken,
      requestKey,
      parentSnapshotId: parent?.id,
      timeoutAt: new Date(Date.parse(startTime) + (req.timeout ?? DEFAULT_TIMEOUT_MIN) * 60_000).toISOString(),
      state: 'pending',
      sseType: !encrypted ? 'none' : managed ? 'sse-ebs' : 'sse-kms',
    };
    try {
      if (parent) {
        const inherited = this.blocksOf(parent.id).map((b): EbsBlockRecord => ({ id: blockId(id, b.index), snapshotId: id, index: b.index, checksum: b.checksum, changed: false }));
        for (let i = 0; i < inherited.length; i += 500) await this.repos.blocks.putMany(inherited.slice(i, i + 500));
      }
      await this.repos.sessions.put(session);
      await this.repos.snapshots.put(rec);
    } catch (e) {
      await this.discard(id, hostId);
      throw e;
    }
    log.info('snapshot started', { snapshotId: id, volumeSize: req.volumeSize, encrypted, parent: parent?.id });
    return this.summary(rec);
  }

  private async pickHost(): Promise<string> {
    const ids = this.fleet.hosts().map((h) => h.id);
    const ok = await this.fleet.placeable(ids);
    const hostId = ids.find((h) => ok.has(h));
    if (hostId === undefined) throw new EbsDirectError('ServiceQuotaExceededException', 'No host can store the snapshot.', { reason: 'DEPENDENCY_SERVICE_QUOTA_EXCEEDED' });
    return hostId;
  }

  /** A new data key for a snapshot, only wrapped, with the EBS service's grant: EbsKeyRelease.newDataKey, as CreateVolume makes one. */
  private async newDataKey(c: Caller, snapshotId: string, keyId0: string | undefined): Promise<{ kmsKeyArn: string; wrappedKey: string; managed: boolean }> {
    const managedArn = await this.keys.awsManagedKeyArn(c.accountId);
    const dflt = this.defaults.defaultKmsKeyId(c);
    const keyId = keyId0 ?? (dflt === aliasArn(c.accountId, 'alias/aws/ebs') ? managedArn : dflt);
    try {
      const dk = await this.keys.newDataKey(c, keyId, snapshotId);
      return { ...dk, managed: dk.kmsKeyArn === managedArn };
    } catch (e) {
      // KMS's refusal as EC2 reports it, then as the EBS direct APIs do (INVALID_CUSTOMER_KEY, DEPENDENCY_ACCESS_DENIED)
      throw fromEc2(e);
    }
  }

  /** Undoes a start whose records could not be written: the card drops its work volume. */
  private async discard(snapshotId: string, hostId: string): Promise<void> {
    await this.fleet.send(hostId, 'snapshot.abort', { snapshotId }, { id: `ebs-abort:${snapshotId}:${Date.now()}` }).catch((e: unknown) => log.warn('could not abort a snapshot on its card', { snapshotId, error: describeError(e) }));
    for (const b of this.blocksOf(snapshotId)) await this.repos.blocks.delete(b.id);
    await this.repos.sessions.delete(snapshotId);
  }

  // ---------------------------------------------------------------- PutSnapshotBlock

  async putBlock(c: Caller, req: PutSnapshotBlockRequest): Promise<string> {
    const { snap } = await this.writable(c, req.snapshotId);
    if ((req.blockIndex + 1) * EBS_BLOCK_SIZE > snap.volumeSize * GiB) {
      throw validation('INVALID_BLOCK', `Block ${req.blockIndex} lies past the end of the ${snap.volumeSize} GiB snapshot.`, { blockIndex: req.blockIndex });
    }
    const actual = blockChecksum(req.data);
    if (actual !== req.checksum) {
      // nothing is stored: the block never reaches the card
      throw validation('INVALID_BLOCK', 'The SHA256 checksum of the block data does not match x-amz-Checksum.', { blockIndex: req.blockIndex, checksum: 'mismatch' });
    }
    const params = { snapshotId: snap.id, blockIndex: req.blockIndex, data: req.data.toString('base64'), checksum: actual };
    const cmd = `ebs-put:${snap.id}:${req.blockIndex}:${actual}:${Date.now()}:${Math.random()}`;
    try {
      await this.fleet.send(snap.hostId, 'snapshot.put-block', params, { id: cmd, timeoutMs: 60_000 });
    } catch (e) {
      // a card that restarted has lost the snapshot's key: deliver it again and retry once
      if ((e as { code?: unknown }).code !== 'EBS_SNAPSHOT_NOT_FOUND') throw fromHost(e, 'store the block');
      try {
        await this.resume(snap);
        await this.fleet.send(snap.hostId, 'snapshot.put-block', params, { id: `${cmd}:again`, timeoutMs: 60_000 });
      } catch (e2) {
        throw fromHost(e2, 'store the block');
      }
    }
    await this.repos.blocks.put({ id: blockId(snap.id, req.blockIndex), snapshotId: snap.id, index: req.blockIndex, checksum: actual, changed: true });
    if (req.progress !== undefined && req.progress !== snap.progress) await this.repos.snapshots.update(snap.id, (cur) => (cur.state === 'pending' ? { ...cur, progress: req.progress } : undefined));
    return actual;
  }

  private async resume(snap: SnapshotRecord): Promise<void> {
    log.warn('the EBS card does not hold a pending snapshot (restarted?); delivering its key again', { snapshotId: snap.id, hostId: snap.hostId });
    const key = await this.keys.sealSnapshotKey(snap, snap.hostId, snap.id, `ebs-resume:${snap.id}:${Date.now()}`);
    await this.fleet.send(snap.hostId, 'snapshot.begin', { snapshotId: snap.id, sizeBytes: snap.volumeSize * GiB, key, resume: true }, { id: `ebs-resume:${snap.id}:${Date.now()}:${Math.random()}`, timeoutMs: 60_000 });
  }

  // ---------------------------------------------------------------- CompleteSnapshot

  async complete(c: Caller, req: CompleteSnapshotRequest): Promise<'completed'> {
    const { snap, session } = await this.writable(c, req.snapshotId);
    const changed = this.blocksOf(snap.id).filter((b) => b.changed);
    if (req.changedBlocksCount !== changed.length) {
      throw validation('INVALID_PARAMETER_VALUE', `ChangedBlocksCount is ${req.changedBlocksCount}, but ${changed.length} blocks were written to the snapshot.`, { expected: changed.length, given: req.changedBlocksCount });
    }
    if (req.checksum !== undefined) {
      const agg = linearAggregate(changed.map((b) => [b.index, b.checksum] as const));
      if (agg !== req.checksum) throw validation('INVALID_PARAMETER_VALUE', 'The aggregated checksum (SHA256, LINEAR) does not match the blocks written to the snapshot.', { snapshotId: snap.id, checksum: 'mismatch' });
    }
    try {
      await this.fleet.send(snap.hostId, 'snapshot.seal', { snapshotId: snap.id }, { id: `ebs-seal:${snap.id}`, timeoutMs: 600_000 });
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'EBS_SNAPSHOT_NOT_FOUND') throw fromHost(e, 'complete the snapshot');
      try {
        await this.resume(snap);
        await this.fleet.send(snap.hostId, 'snapshot.seal', { snapshotId: snap.id }, { id: `ebs-seal:${snap.id}:again:${Date.now()}`, timeoutMs: 600_000 });
      } catch (e2) {
        throw fromHost(e2, 'complete the snapshot');
      }
    }
    const done = this.now().toISOString();
    await this.repos.snapshots.update(snap.id, (cur) => ({ ...cur, state: 'completed', progress: 100, completionTime: done }));
    await this.repos.sessions.put({ ...session, state: 'completed' });
    log.info('snapshot completed', { snapshotId: snap.id, changedBlocks: changed.length });
    return 'completed';
  }

  // ---------------------------------------------------------------- reads

  private page<T extends { index: number }>(all: readonly T[], req: { nextToken: string | undefined; maxResults: number | undefined; startingBlockIndex: number | undefined }): { items: T[]; nextToken: string | undefined } {
    const from = req.nextToken !== undefined ? decodePageToken(req.nextToken) : (req.startingBlockIndex ?? 0);
    const max = req.maxResults ?? 10000;
    const rest = all.filter((b) => b.index >= from).sort((a, b) => a.index - b.index);
    const items = rest.slice(0, max);
    return { items, nextToken: rest.length > max ? encodePageToken(rest[max]!.index) : undefined };
  }

  /**
   * A completed snapshot not written through these APIs (CreateSnapshot, CopySnapshot,
   * CreateImage, CopyImage) has no block records yet: its card lists its blocks with their
   * checksums once, and the region keeps them (a snapshot never changes). A marker session
   * (requestKey 'indexed') remembers that it was done, also for a snapshot with no data.
   */
  private async indexed(s: SnapshotRecord): Promise<void> {
    if (this.repos.sessions.get(s.id) !== undefined) return;
    let blocks: { index: number; checksum: string }[];
    try {
      const key = await this.keys.sealSnapshotKey(s, s.hostId, s.id, `ebs-index:${s.id}:${Date.now()}`);
      const r = await this.fleet.send(s.hostId, 'snapshot.list-blocks', { snapshotId: s.id, key }, { id: `ebs-index:${s.id}:${Date.now()}:${Math.random()}`, timeoutMs: 600_000 });
      if (!Array.isArray(r?.blocks)) throw new Error('the card answered without blocks');
      blocks = r.blocks as { index: number; checksum: string }[];
    } catch (e) {
      throw fromHost(e, 'list the snapshot\'s blocks');
    }
    const recs = blocks.map((b): EbsBlockRecord => ({ id: blockId(s.id, b.index), snapshotId: s.id, index: b.index, checksum: b.checksum, changed: true }));
    for (let i = 0; i < recs.length; i += 500) await this.repos.blocks.putMany(recs.slice(i, i + 500));
    await this.repos.sessions.put({ id: s.id, accountId: s.accountId, clientToken: undefined, requestKey: 'indexed', parentSnapshotId: undefined, timeoutAt: s.startTime, state: 'completed' });
    log.info('indexed the blocks of a snapshot made outside the EBS direct APIs', { snapshotId: s.id, blocks: recs.length });
  }

  async listBlocks(c: Caller, req: ListSnapshotBlocksRequest): Promise<BlockPage<{ index: number; token: string }>> {
    const s = this.completed(c, req.snapshotId);
    await this.indexed(s);
    const { items, nextToken } = this.page(this.blocksOf(s.id), req);
    return {
      blocks: items.map((b) => ({ index: b.index, token: blockToken(s.id, b.index, b.checksum) })),
      volumeSize: s.volumeSize,
      expiryTime: new Date(this.now().getTime() + TOKEN_LIFETIME_MS),
      nextToken,
    };
  }

  async listChanged(c: Caller, req: ListChangedBlocksRequest): Promise<BlockPage<{ index: number; firstToken: string | undefined; secondToken: string | undefined }>> {
    const second = this.completed(c, req.secondSnapshotId);
    const first = req.firstSnapshotId !== undefined ? this.completed(c, req.firstSnapshotId) : undefined;
    await this.indexed(second);
    if (first) await this.indexed(first);
    if (first && first.volumeSize > second.volumeSize) throw validation('UNRELATED_SNAPSHOTS', 'The first snapshot is larger than the second.', { first: first.id, second: second.id });
    const a = new Map((first ? this.blocksOf(first.id) : []).map((b) => [b.index, b]));
    const b = new Map(this.blocksOf(second.id).map((x) => [x.index, x]));
    const out: { index: number; firstToken: string | undefined; secondToken: string | undefined }[] = [];
    for (const index of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(index);
      const y = b.get(index);
      if (x && y && x.checksum === y.checksum) continue;
      out.push({ index, firstToken: x && first ? blockToken(first.id, index, x.checksum) : undefined, secondToken: y ? blockToken(second.id, index, y.checksum) : undefined });
    }
    const { items, nextToken } = this.page(out, req);
    return { blocks: items, volumeSize: second.volumeSize, expiryTime: new Date(this.now().getTime() + TOKEN_LIFETIME_MS), nextToken };
  }

  async getBlock(c: Caller, req: GetSnapshotBlockRequest): Promise<{ data: Buffer; checksum: string }> {
    const s = this.completed(c, req.snapshotId);
    await this.indexed(s);
    const b = this.repos.blocks.get(blockId(s.id, req.blockIndex));
    if (!b || blockToken(s.id, b.index, b.checksum) !== req.blockToken) {
      throw validation('INVALID_BLOCK_TOKEN', `The block token is not valid for block ${req.blockIndex} of '${s.id}'.`, { snapshotId: s.id, blockIndex: req.blockIndex });
    }
    let data: Buffer;
    try {
      const key = await this.keys.sealSnapshotKey(s, s.hostId, s.id, `ebs-get:${s.id}:${req.blockIndex}:${Date.now()}`);
      const r = await this.fleet.send(s.hostId, 'snapshot.get-block', { snapshotId: s.id, blockIndex: req.blockIndex, key }, { id: `ebs-get:${s.id}:${req.blockIndex}:${Date.now()}:${Math.random()}`, timeoutMs: 60_000 });
      if (typeof r?.data !== 'string') throw new Error('the card answered without data');
      data = Buffer.from(r.data, 'base64');
    } catch (e) {
      throw fromHost(e, 'read the block');
    }
    const checksum = blockChecksum(data);
    if (checksum !== b.checksum) {
      log.error('a snapshot block read back differs from what was written', { snapshotId: s.id, blockIndex: b.index });
      throw new EbsDirectError('InternalServerException', 'The block could not be read intact.', { context: { snapshotId: s.id, blockIndex: b.index } });
    }
    return { data, checksum };
  }

  // ---------------------------------------------------------------- timeouts and leftovers

  /** A pending snapshot past its Timeout: the card drops what was written; the snapshot shows `error`. */
  private async expire(session: EbsSessionRecord): Promise<void> {
    const s = this.repos.snapshots.get(session.id);
    if (s) {
      await this.fleet.send(s.hostId, 'snapshot.abort', { snapshotId: s.id }, { id: `ebs-expire:${s.id}` }).catch((e: unknown) => log.warn('could not drop a timed-out snapshot on its card', { snapshotId: s.id, error: describeError(e) }));
      await this.repos.snapshots.update(s.id, (cur) => (cur.state === 'pending' ? { ...cur, state: 'error' } : undefined));
    }
    await this.repos.sessions.put({ ...session, state: 'error' });
    log.warn('a snapshot timed out before CompleteSnapshot', { snapshotId: session.id });
  }

  /** Expires timed-out snapshots and forgets the blocks and sessions of deleted snapshots. */
  async sweepOnce(): Promise<void> {
    const now = this.now().getTime();
    for (const x of this.repos.sessions.all()) {
      const s = this.repos.snapshots.get(x.id);
      if (!s) {
        await this.repos.sessions.delete(x.id);
        continue;
      }
      if (x.state === 'pending' && Date.parse(x.timeoutAt) <= now) await this.expire(x);
    }
    const gone = new Set<string>();
    for (const b of this.repos.blocks.all()) if (!this.repos.snapshots.get(b.snapshotId)) gone.add(b.id);
    for (const id of gone) await this.repos.blocks.delete(id);
  }

  startSweeping(intervalMs = 30_000): void {
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweepOnce()
        .catch((e: unknown) => log.warn('EBS direct sweep failed', { error: describeError(e) }))
        .finally(() => (this.sweeping = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }
}
