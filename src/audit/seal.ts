// Forward-secure sealing of an audit log's checkpoints, after systemd-journald's Forward
// Secure Sealing (FSS). See docs/AUDIT.md.
//
// A checkpoint names the log's head at one moment (segment, seq, record hash, time) and is
// authenticated with HMAC-SHA256 under the key of its epoch n; checkpoint n uses key n:
//   key 0     = the seed (32 random bytes, made once per log)
//   key n+1   = SHA-256("nitride-audit-evolve" || key n)
// After sealing checkpoint n the writer replaces key n by key n+1 on disk, so the key that
// sealed a checkpoint no longer exists on the machine: whoever later takes the machine (root
// included) cannot re-seal a rewritten past, only the future. The verification key is the
// seed: it derives every epoch's key, so it belongs with an auditor, off the machine (it is
// written once to $path.seal/verify-key, for the operator to move away).
//
// Checkpoints are chained too (each carries the MAC of the one before), so one cannot be
// dropped from the middle. The sealer's epoch (in $path.seal/sealing-key) counts the
// checkpoints it made, so dropping the last ones (a roll-back) is visible to a verifier that
// can read that number, and to the writer when it next opens the log.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AuditError } from './errors.js';
import { canonicalJson, GENESIS } from './record.js';

/**
 * open: the writer opened the log (it seals what it found); interval: every N records or T
 * seconds; rotate: the segment is sealed and the next one begins; close: the writer stopped
 * cleanly (nothing may follow but an open); prune: segments up to this one were deleted by
 * retention, and this is their anchor.
 */
export type CheckpointKind = 'open' | 'interval' | 'rotate' | 'close' | 'prune';

export interface CheckpointBody {
  readonly kind: CheckpointKind;
  /** The segment that holds record `seq` (for prune: the last deleted segment). */
  readonly segment: number;
  readonly seq: number;
  /** The hash of record `seq` (GENESIS for seq 0). */
  readonly hash: string;
  readonly time: string;
}

export interface Checkpoint extends CheckpointBody {
  readonly v: 1;
  /** The checkpoint's index in the file, which is also its key epoch. */
  readonly n: number;
  readonly keyId: string;
  /** The MAC of checkpoint n-1 (GENESIS for n = 0). */
  readonly prev: string;
  readonly mac: string;
}

export interface VerifyKey {
  readonly keyId: string;
  readonly seed: Buffer;
}

const EVOLVE = 'nitride-audit-evolve';

export function checkpointsPathFor(path: string): string {
  return `${path}.checkpoints`;
}

export function sealDirFor(path: string): string {
  return `${path}.seal`;
}

export function defaultVerifyKeyPath(path: string): string {
  return join(sealDirFor(path), 'verify-key');
}

function sealingKeyPath(path: string): string {
  return join(sealDirFor(path), 'sealing-key');
}

export function keyIdOf(seed: Buffer): string {
  return createHash('sha256').update('nitride-audit-key-id').update(seed).digest('hex').slice(0, 16);
}

export function evolve(key: Buffer): Buffer {
  return createHash('sha256').update(EVOLVE).update(key).digest();
}

export function checkpointMac(key: Buffer, cp: Omit<Checkpoint, 'mac'>): string {
  return createHmac('sha256', key).update(canonicalJson(cp)).digest('hex');
}

export function macMatches(key: Buffer, cp: Checkpoint): boolean {
  const { mac, ...body } = cp;
  const want = Buffer.from(checkpointMac(key, body), 'hex');
  const got = Buffer.from(typeof mac === 'string' ? mac : '', 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Parses the checkpoints file: complete lines only; a torn last line is reported apart. */
export function readCheckpoints(path: string): { checkpoints: Checkpoint[]; bad: { line: number; reason: string } | undefined; tornBytes: number } {
  const file = checkpointsPathFor(path);
  if (!existsSync(file)) return { checkpoints: [], bad: undefined, tornBytes: 0 };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const out: Checkpoint[] = [];
  for (let i = 0; i < lines.length; i++) {
    try {
      const cp = JSON.parse(lines[i] ?? '') as Checkpoint;
      if (typeof cp !== 'object' || cp === null || cp.v !== 1 || typeof cp.n !== 'number' || typeof cp.seq !== 'number' || typeof cp.hash !== 'string' || typeof cp.mac !== 'string') throw new Error('shape');
      out.push(cp);
    } catch {
      return { checkpoints: out, bad: { line: i + 1, reason: 'the line is not a checkpoint' }, tornBytes: 0 };
    }
  }
  return { checkpoints: out, bad: undefined, tornBytes: Buffer.byteLength(last, 'utf8') };
}

/** The seed from a verify-key file (as written by the sealer) or a 64-hex-digit string. */
export function loadVerifyKey(fileOrHex: string): VerifyKey {
  let hex = fileOrHex.trim();
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    if (!existsSync(fileOrHex)) throw new AuditError('AuditVerifyKeyInvalid', 'invalid', `${fileOrHex} is neither a file nor 64 hex digits.`, { file: fileOrHex });
    const text = readFileSync(fileOrHex, 'utf8');
    try {
      hex = String((JSON.parse(text) as { seed?: unknown }).seed ?? '');
    } catch {
      hex = text.trim();
    }
  }
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new AuditError('AuditVerifyKeyInvalid', 'invalid', `${fileOrHex} is not an audit verification key.`, { file: fileOrHex });
  const seed = Buffer.from(hex, 'hex');
  return { keyId: keyIdOf(seed), seed };
}

/** The number of checkpoints the sealer has made (its epoch), if its state is readable here. */
export function sealerEpoch(path: string): number | undefined {
  try {
    const s = JSON.parse(readFileSync(sealingKeyPath(path), 'utf8')) as { n?: unknown };
    return typeof s.n === 'number' ? s.n : undefined;
  } catch {
    return undefined;
  }
}

function writeFileDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** The writer's side: holds the current epoch's key and appends sealed checkpoints. One per log. */
export class Sealer {
  private key: Buffer;
  private n: number;
  private prev: string;
  private readonly fd: number;
  readonly keyId: string;

  private constructor(
    readonly path: string,
    state: { key: Buffer; n: number; keyId: string; prev: string },
  ) {
    this.key = state.key;
    this.n = state.n;
    this.keyId = state.keyId;
    this.prev = state.prev;
    this.fd = openSync(checkpointsPathFor(path), 'a', 0o600);
  }

  /**
   * Opens the sealer of the log at `path`, creating its key when the log has never been
   * sealed. Refuses when the checkpoints and the sealer disagree: checkpoints removed (a
   * roll-back), or checkpoints without a key. Repairs the one gap a crash leaves: the last
   * checkpoint written but the key not yet evolved; and drops a torn last checkpoint line.
   */
  static open(path: string): Sealer {
    const dir = sealDirFor(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const read = readCheckpoints(path);
    if (read.bad) throw new AuditError('AuditCheckpointsBroken', 'internal', `The checkpoints of ${path} are unreadable at line ${read.bad.line}.`, { path, line: read.bad.line });
    if (read.tornBytes > 0) {
      const file = checkpointsPathFor(path);
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, Buffer.byteLength(readFileSync(file, 'utf8'), 'utf8') - read.tornBytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const cps = read.checkpoints;
    const last = cps[cps.length - 1];
    const keyFile = sealingKeyPath(path);
    if (!existsSync(keyFile)) {
      if (cps.length > 0) throw new AuditError('AuditSealingKeyMissing', 'internal', `The audit log ${path} has ${cps.length} checkpoints but its sealing key is gone.`, { path });
      const seed = randomBytes(32);
      const keyId = keyIdOf(seed);
      writeFileDurably(
        join(dir, 'verify-key'),
        `${JSON.stringify({ keyId, seed: seed.toString('hex'), created: new Date().toISOString(), log: path, note: 'Move this file off the machine; verify with nitride audit verify --key FILE.' })}\n`,
      );
      writeFileDurably(keyFile, `${JSON.stringify({ n: 0, keyId, key: seed.toString('hex') })}\n`);
      return new Sealer(path, { key: seed, n: 0, keyId, prev: GENESIS });
    }
    const st = JSON.parse(readFileSync(keyFile, 'utf8')) as { n: number; keyId: string; key: string };
    let key: Buffer = Buffer.from(st.key, 'hex');
    let n = st.n;
    if (cps.length === n + 1 && last !== undefined && last.n === n && macMatches(key, last)) {
      // crashed after appending checkpoint n and before evolving the key
      key = evolve(key);
      n += 1;
      writeFileDurably(keyFile, `${JSON.stringify({ n, keyId: st.keyId, key: key.toString('hex') })}\n`);
    }
    if (cps.length !== n) {
      throw new AuditError('AuditCheckpointsRolledBack', 'internal', `The audit log ${path} holds ${cps.length} checkpoints but its sealer made ${n}: checkpoints were removed.`, { path, present: cps.length, made: n });
    }
    return new Sealer(path, { key, n, keyId: st.keyId, prev: last?.mac ?? GENESIS });
  }

  get epoch(): number {
    return this.n;
  }

  /** Seals one checkpoint: append + fsync, then the key evolves and the old one is overwritten. */
  seal(body: CheckpointBody): Checkpoint {
    const unsigned: Omit<Checkpoint, 'mac'> = { v: 1, n: this.n, keyId: this.keyId, prev: this.prev, kind: body.kind, segment: body.segment, seq: body.seq, hash: body.hash, time: body.time };
    const cp: Checkpoint = { ...unsigned, mac: checkpointMac(this.key, unsigned) };
    writeSync(this.fd, `${JSON.stringify(cp)}\n`);
    fsyncSync(this.fd);
    const next = evolve(this.key);
    this.key.fill(0);
    this.key = next;
    this.n += 1;
    this.prev = cp.mac;
    writeFileDurably(sealingKeyPath(this.path), `${JSON.stringify({ n: this.n, keyId: this.keyId, key: this.key.toString('hex') })}\n`);
    return cp;
  }

  close(): void {
    this.key.fill(0);
    closeSync(this.fd);
  }
}
