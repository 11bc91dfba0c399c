// Where an audit log's pieces live, and the policy that rotates, checkpoints and prunes it.
// For a log at P (the region's $NITRIDE_HOME/region/audit.log, the host's host/audit.log):
//   P                 the active segment (JSON lines, ./chain.ts)
//   P.000001, …       sealed segments, oldest first; the chain runs on across them
//   P.head            the last durable record's seq and hash (rewritten in place)
//   P.checkpoints     sealed checkpoints (./seal.ts), one per line
//   P.seal/           the sealer: sealing-key (the current epoch) and verify-key (to move away)
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AuditError } from './errors.js';

export interface AuditLogPolicy {
  /** A checkpoint after this many records not yet covered by one. */
  readonly checkpointRecords: number;
  /** …or when the oldest record not covered is this old (checked every this many seconds). */
  readonly checkpointSeconds: number;
  /** The active segment is sealed and a new one begun past this size… */
  readonly segmentBytes: number;
  /** …or age (both checked when a record is written). */
  readonly segmentSeconds: number;
  /** Sealed segments kept (0: all). Older ones are deleted after a signed prune anchor. */
  readonly retainSegments: number;
  /** Sealed segments kept at most this many days after they were sealed (0: no limit). */
  readonly retainDays: number;
}

export const DEFAULT_AUDIT_POLICY: AuditLogPolicy = {
  checkpointRecords: 1000,
  checkpointSeconds: 10,
  segmentBytes: 64 * 1024 * 1024,
  segmentSeconds: 24 * 3600,
  retainSegments: 0,
  retainDays: 0,
};

const ENV: Record<keyof AuditLogPolicy, string> = {
  checkpointRecords: 'NITRIDE_AUDIT_CHECKPOINT_RECORDS',
  checkpointSeconds: 'NITRIDE_AUDIT_CHECKPOINT_SECONDS',
  segmentBytes: 'NITRIDE_AUDIT_SEGMENT_BYTES',
  segmentSeconds: 'NITRIDE_AUDIT_SEGMENT_SECONDS',
  retainSegments: 'NITRIDE_AUDIT_RETAIN_SEGMENTS',
  retainDays: 'NITRIDE_AUDIT_RETAIN_DAYS',
};

/** The defaults, overridden by NITRIDE_AUDIT_* environment variables, then by `over`. */
export function auditPolicy(over: Partial<AuditLogPolicy> = {}, env: NodeJS.ProcessEnv = process.env): AuditLogPolicy {
  const out: Record<string, number> = { ...DEFAULT_AUDIT_POLICY };
  for (const [k, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new AuditError('AuditPolicyInvalid', 'invalid', `${name} must be a number ≥ 0, not '${v}'.`, { name, value: v });
      out[k] = n;
    }
  }
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = v;
  if ((out['checkpointRecords'] ?? 0) < 1) out['checkpointRecords'] = 1;
  return out as unknown as AuditLogPolicy;
}

export function segmentPath(path: string, segment: number): string {
  return `${path}.${String(segment).padStart(6, '0')}`;
}

/** The sealed segment files present next to `path`, by number. */
export function sealedSegmentsOnDisk(path: string): Map<number, string> {
  const out = new Map<number, string>();
  const base = basename(path);
  let names: string[] = [];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const rest = name.slice(base.length + 1);
    if (/^\d{6,}$/.test(rest)) out.set(Number(rest), join(dirname(path), name));
  }
  return out;
}
