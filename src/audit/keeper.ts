// The writer's side of an audit log's protection, shared by the region's AuditTrail
// (./trail.ts, group commit) and the host's AuditChain (./chain.ts, one fsync per record):
// the head file, sealed checkpoints (./seal.ts) at open, every N records or T seconds, at
// rotation and at close, rotation of the active segment by size and age, and retention.
// Every step is synchronous and runs between fsynced writes, never during one; a checkpoint
// covers only records already durable. See docs/AUDIT.md.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { headLine, headPathFor } from './head.js';
import { readCheckpoints, Sealer, type Checkpoint, type CheckpointKind } from './seal.js';
import { auditPolicy, segmentPath, type AuditLogPolicy } from './segments.js';
import type { AuditProof } from './verify.js';

export interface AuditLogOptions extends Partial<AuditLogPolicy> {
  /** Milliseconds since the epoch; tests move time with it. */
  readonly clock?: () => number;
}

function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Finishes a rotation that a crash interrupted after its checkpoint was sealed and before
 * the active file was renamed. Call before verifying the log on open.
 */
export function completeRotation(path: string): void {
  const { checkpoints } = readCheckpoints(path);
  const last = checkpoints[checkpoints.length - 1];
  if (last?.kind !== 'rotate') return;
  const sealed = segmentPath(path, last.segment);
  if (!existsSync(sealed) && existsSync(path)) {
    renameSync(path, sealed);
    fsyncDir(path);
  }
}

export class LogKeeper {
  /** The active segment, open for appending. Changes at rotation. */
  fd: number;
  private readonly headFd: number;
  private readonly sealer: Sealer;
  private readonly policy: AuditLogPolicy;
  private readonly clock: () => number;
  private segment: number;
  private segmentBytes: number;
  private segmentStarted: number;
  private headSegment: number;
  private durableSeq: number;
  private durableHash: string;
  private sealedSeq: number;
  private readonly sealedSegments: Checkpoint[];
  private timer: NodeJS.Timeout | undefined;
  private error: unknown;

  /** Opens the keeper over a log that `found` (proveLog, without a key) showed intact, and seals an opening checkpoint. */
  constructor(
    readonly path: string,
    found: AuditProof,
    opts: AuditLogOptions = {},
  ) {
    this.policy = auditPolicy(opts);
    this.clock = opts.clock ?? Date.now;
    this.sealer = Sealer.open(path);
    this.segment = found.activeSegment;
    const active = found.segments.find((s) => s.active);
    this.segmentBytes = active?.bytes ?? 0;
    const lastRotate = [...found.checkpoints].reverse().find((c) => c.kind === 'rotate');
    const began = lastRotate?.time ?? found.checkpoints[0]?.time;
    this.segmentStarted = began !== undefined ? Date.parse(began) : this.clock();
    this.durableSeq = found.records;
    this.durableHash = found.head;
    this.headSegment = found.segments.find((s) => s.firstSeq <= found.records && s.lastSeq >= found.records)?.segment ?? this.segment;
    this.sealedSegments = found.segments.filter((s) => !s.active && s.sealedBy !== undefined).map((s) => s.sealedBy as Checkpoint);
    this.fd = openSync(path, 'a', 0o600);
    this.headFd = openSync(headPathFor(path), existsSync(headPathFor(path)) ? 'r+' : 'w+', 0o600);
    this.writeHead();
    this.checkpoint('open');
    this.sealedSeq = this.durableSeq;
    if (this.policy.checkpointSeconds > 0) {
      this.timer = setInterval(() => {
        try {
          if (this.durableSeq > this.sealedSeq) this.checkpoint('interval');
        } catch (e) {
          this.error ??= e;
        }
      }, this.policy.checkpointSeconds * 1000);
      this.timer.unref();
    }
  }

  /** The checkpoint count so far (the sealer's epoch). */
  get epoch(): number {
    return this.sealer.epoch;
  }

  /** Throws the error of a checkpoint that could not be written, so no more records are. */
  assertHealthy(): void {
    if (this.error !== undefined) throw this.error;
  }

  /**
   * Records that everything through (seq, hash) is durable, `bytes` more in the active
   * segment: rewrites the head, seals a checkpoint every N records, and rotates when the
   * segment is full or old. Throws when a checkpoint could not be written (now or earlier).
   */
  durable(seq: number, hash: string, bytes: number): void {
    this.assertHealthy();
    this.durableSeq = seq;
    this.durableHash = hash;
    this.headSegment = this.segment;
    this.segmentBytes += bytes;
    this.writeHead();
    const p = this.policy;
    try {
      if ((p.segmentBytes > 0 && this.segmentBytes >= p.segmentBytes) || (p.segmentSeconds > 0 && this.clock() - this.segmentStarted >= p.segmentSeconds * 1000)) this.rotate();
      else if (seq - this.sealedSeq >= p.checkpointRecords) this.checkpoint('interval');
    } catch (e) {
      this.error ??= e;
      throw e;
    }
  }

  /** Seals the active segment, renames it P.NNNNNN and starts the next; the chain runs on. */
  rotate(): void {
    const cp = this.checkpoint('rotate');
    closeSync(this.fd);
    renameSync(this.path, segmentPath(this.path, this.segment));
    this.fd = openSync(this.path, 'a', 0o600);
    fsyncDir(this.path);
    this.sealedSegments.push(cp);
    this.segment += 1;
    this.segmentBytes = 0;
    this.segmentStarted = this.clock();
    this.prune();
  }

  /** Deletes the sealed segments that retention lets go, after sealing their anchor. */
  private prune(): void {
    const { retainSegments, retainDays } = this.policy;
    let drop = 0;
    if (retainSegments > 0) drop = Math.max(0, this.sealedSegments.length - retainSegments);
    if (retainDays > 0) {
      const cutoff = this.clock() - retainDays * 86_400_000;
      while (drop < this.sealedSegments.length && Date.parse((this.sealedSegments[drop] as Checkpoint).time) < cutoff) drop++;
    }
    if (drop === 0) return;
    const gone = this.sealedSegments.splice(0, drop);
    const anchor = gone[gone.length - 1] as Checkpoint;
    this.sealer.seal({ kind: 'prune', segment: anchor.segment, seq: anchor.seq, hash: anchor.hash, time: new Date(this.clock()).toISOString() });
    for (const cp of gone) {
      const file = segmentPath(this.path, cp.segment);
      if (existsSync(file)) unlinkSync(file);
    }
    fsyncDir(this.path);
  }

  checkpoint(kind: CheckpointKind): Checkpoint {
    const cp = this.sealer.seal({ kind, segment: this.headSegment, seq: this.durableSeq, hash: this.durableHash, time: new Date(this.clock()).toISOString() });
    this.sealedSeq = this.durableSeq;
    return cp;
  }

  /** Seals the closing checkpoint and closes every file. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    try {
      this.checkpoint('close');
    } finally {
      this.sealer.close();
      closeSync(this.fd);
      closeSync(this.headFd);
    }
  }

  private writeHead(): void {
    const buf = headLine(this.durableSeq, this.durableHash);
    writeSync(this.headFd, buf, 0, buf.length, 0);
  }
}
