// The host controller's audit log: an append-only, hash-chained JSON-lines log (record
// format in ./record.ts) written one record at a time. append() writes and fsyncs the record
// before it returns, so a caller that appends before acting has its record on disk before
// the effect ("audit before effect"). The log has the same protection as the region's trail
// (./keeper.ts): a head file, sealed checkpoints, rotation and retention. See docs/AUDIT.md.
import { existsSync, fsyncSync, readFileSync, writeSync } from 'node:fs';
import { AuditError } from './errors.js';
import { completeRotation, LogKeeper, type AuditLogOptions } from './keeper.js';
import { recordHash, type ChainRecord } from './record.js';
import { sealedSegmentsOnDisk } from './segments.js';
import { proveLog } from './verify.js';

export { canonicalJson, GENESIS, recordHash, verifyChainText, type ChainRecord, type ChainTextOptions, type VerifyResult } from './record.js';

/** An open chain file. One writer per file. */
export class AuditChain<E = Record<string, unknown>> {
  private seq: number;
  private head: string;
  private readonly keeper: LogKeeper;
  private closed = false;

  /** Opens (creating if needed) the log at `path`; refuses one that fails verification. */
  constructor(
    readonly path: string,
    opts: AuditLogOptions = {},
  ) {
    completeRotation(path);
    const found = proveLog(path);
    if (found.tamper) {
      const t = found.tamper;
      throw new AuditError('AuditChainBroken', 'internal', `The audit log ${t.file} fails verification at line ${t.line}: ${t.reason}.`, { path, file: t.file, badLine: t.line, badSeq: t.seq, reason: t.reason });
    }
    this.seq = found.records;
    this.head = found.head;
    this.keeper = new LogKeeper(path, found, opts);
  }

  /** Appends and fsyncs one record; returns it. */
  append(event: E, time: Date = new Date()): ChainRecord<E> {
    if (this.closed) throw new AuditError('AuditTrailClosed', 'internal', 'The audit log is closed.', { path: this.path });
    this.keeper.assertHealthy();
    const seq = this.seq + 1;
    const t = time.toISOString();
    const hash = recordHash(seq, this.head, t, event);
    const rec: ChainRecord<E> = { seq, prev: this.head, time: t, event, hash };
    const line = Buffer.from(`${JSON.stringify(rec)}\n`, 'utf8');
    writeSync(this.keeper.fd, line);
    fsyncSync(this.keeper.fd);
    this.seq = seq;
    this.head = hash;
    this.keeper.durable(seq, hash, line.length);
    return rec;
  }

  get length(): number {
    return this.seq;
  }

  get headHash(): string {
    return this.head;
  }

  /** Seals a closing checkpoint and closes the files. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.keeper.close();
  }
}

/** The records of one file (a segment; by default the active one). */
export function readChain<E = Record<string, unknown>>(path: string): ChainRecord<E>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ChainRecord<E>);
}

/** The records of the active segment and of the one sealed just before it, oldest first. */
export function readRecentRecords<E = Record<string, unknown>>(path: string): ChainRecord<E>[] {
  const sealed = sealedSegmentsOnDisk(path);
  const last = Math.max(0, ...sealed.keys());
  const file = sealed.get(last);
  return [...(file === undefined ? [] : readChain<E>(file)), ...readChain<E>(path)];
}
