// The head file next to an audit log ($path.head): the last durable record's seq and hash,
// one fixed-size JSON line rewritten in place after each fsynced batch. The chain alone
// cannot show that whole records were cut off its end; the head can, as far as the head
// itself was not rewritten too (the checkpoints of ./seal.ts cover that).
import { existsSync, readFileSync } from 'node:fs';
import { AuditError } from './errors.js';

export interface TrailHead {
  readonly seq: number;
  readonly hash: string;
}

export const HEAD_BYTES = 128;

export function headPathFor(path: string): string {
  return `${path}.head`;
}

/** Reads $path.head: undefined when absent; throws AuditError when unreadable. */
export function readHead(path: string): TrailHead | undefined {
  const hp = headPathFor(path);
  if (!existsSync(hp)) return undefined;
  const text = readFileSync(hp, 'utf8').trim();
  try {
    const h = JSON.parse(text) as { seq?: unknown; hash?: unknown };
    if (typeof h.seq === 'number' && Number.isSafeInteger(h.seq) && h.seq >= 0 && typeof h.hash === 'string' && /^[0-9a-f]{64}$/.test(h.hash)) return { seq: h.seq, hash: h.hash };
  } catch {
    // fall through
  }
  throw new AuditError('AuditHeadUnreadable', 'internal', `The audit head file ${hp} is not a valid head record.`, { path: hp });
}

/** The head's fixed-size line. */
export function headLine(seq: number, hash: string): Buffer {
  return Buffer.from(`${JSON.stringify({ seq, hash }).padEnd(HEAD_BYTES - 1, ' ')}\n`, 'utf8');
}
