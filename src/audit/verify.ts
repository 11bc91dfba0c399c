// What can be proven about an audit log: its chain across every segment, its head, and its
// sealed checkpoints. proveLog() names the first sign of tampering, or else says which
// records a checkpoint proves, which were sealed only when a writer reopened the log after a
// crash (adopted), and which no checkpoint covers yet (the unproven tail). See docs/AUDIT.md.
//
// Without a verification key the checkpoints' structure is still checked (numbering, their
// own chain, the records they name) but not their seals, so nothing counts as proven: a
// forger who rewrote the checkpoints file could have made them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { GENESIS, verifyChainText } from './record.js';
import { headPathFor, readHead, type TrailHead } from './head.js';
import { checkpointsPathFor, evolve, macMatches, readCheckpoints, type Checkpoint, type VerifyKey } from './seal.js';
import { sealedSegmentsOnDisk, segmentPath } from './segments.js';

export interface SegmentInfo {
  readonly segment: number;
  readonly file: string;
  /** The first and last seq it holds (firstSeq > lastSeq when it is empty). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly active: boolean;
  readonly bytes: number;
  /** For a sealed segment: the checkpoint that sealed it. */
  readonly sealedBy: Checkpoint | undefined;
}

export interface Tamper {
  readonly file: string;
  /** 1-based line in `file` (for a missing record: where it should be). */
  readonly line: number;
  readonly seq: number | undefined;
  readonly reason: string;
}

export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

export interface AuditProof {
  readonly path: string;
  /** The first sign of tampering; undefined when none was found. */
  readonly tamper: Tamper | undefined;
  /** The last record's seq and hash. */
  readonly records: number;
  readonly head: string;
  readonly segments: readonly SegmentInfo[];
  readonly activeSegment: number;
  readonly checkpoints: readonly Checkpoint[];
  /** True when every checkpoint's seal was checked with the verification key. */
  readonly authenticated: boolean;
  readonly keyId: string | undefined;
  /** The latest checkpoint (authenticated) and the seq it proves every record up to. */
  readonly provenBy: Checkpoint | undefined;
  readonly provenThrough: number;
  /** The anchor of segments deleted by retention. */
  readonly pruned: Checkpoint | undefined;
  /** Records a reopening writer found unsealed (a crash, or a log older than checkpoints) and sealed. */
  readonly adopted: readonly { readonly range: SeqRange; readonly by: Checkpoint; readonly after: Checkpoint | undefined }[];
  /** Records no checkpoint covers yet. */
  readonly unproven: SeqRange | undefined;
  /** Not tampering, but worth knowing (an unfinished write, records past the head, no head). */
  readonly warnings: readonly string[];
}

export interface ProveOptions {
  /** Checks every checkpoint's seal; without it nothing is proven. */
  readonly key?: VerifyKey;
  /** A missing head file is tampering once the log has records and checkpoints. */
  readonly requireHead?: boolean;
  /** The number of checkpoints the sealer made, when known: fewer in the file is a roll-back. */
  readonly sealerEpoch?: number;
}

interface Walk {
  records: number;
  head: string;
  segments: SegmentInfo[];
  hashes: Map<number, { hash: string; segment: number }>;
  warnings: string[];
  activeText: string;
  activeStart: number;
}

/**
 * Proves what it can about the log at `path`. A writer may append, seal or rotate while this
 * reads: when tampering is found and the checkpoints or the segment files changed meanwhile,
 * it looks again (at most twice) before it says so.
 */
export function proveLog(path: string, opts: ProveOptions = {}): AuditProof {
  for (let attempt = 0; ; attempt++) {
    const before = filesState(path);
    const p = proveOnce(path, opts);
    if (p.tamper === undefined || attempt >= 2 || filesState(path) === before) return p;
  }
}

function filesState(path: string): string {
  const cp = checkpointsPathFor(path);
  const size = existsSync(cp) ? statSync(cp).size : -1;
  return `${size}:${[...sealedSegmentsOnDisk(path).keys()].join(',')}`;
}

function proveOnce(path: string, opts: ProveOptions): AuditProof {
  const warnings: string[] = [];
  const base = {
    path,
    records: 0,
    head: GENESIS,
    segments: [] as SegmentInfo[],
    activeSegment: 1,
    checkpoints: [] as Checkpoint[],
    authenticated: false,
    keyId: opts.key?.keyId,
    provenBy: undefined,
    provenThrough: 0,
    pruned: undefined,
    adopted: [],
    unproven: undefined,
    warnings,
  };
  const fail = (extra: Partial<AuditProof>, tamper: Tamper): AuditProof => ({ ...base, ...extra, tamper });

  // The head and the checkpoints first, then the log: the writer updates both only after
  // the log's fsync, so a log read after them holds at least what they name.
  let head: TrailHead | undefined;
  try {
    head = readHead(path);
  } catch (e) {
    return fail({}, { file: headPathFor(path), line: 1, seq: undefined, reason: e instanceof Error ? e.message : String(e) });
  }
  const read = readCheckpoints(path);
  const cps = read.checkpoints;
  const cpFile = checkpointsPathFor(path);
  if (read.bad) return fail({ checkpoints: cps }, { file: cpFile, line: read.bad.line, seq: undefined, reason: read.bad.reason });
  if (read.tornBytes > 0) warnings.push(`the checkpoints file ends in an unfinished line (${read.tornBytes} bytes), ignored`);

  // The checkpoints' own chain, and their seals when there is a key.
  let cpTamper: Tamper | undefined;
  let key = opts.key?.seed;
  let prevMac = GENESIS;
  let lastSeq = 0;
  for (let i = 0; i < cps.length && cpTamper === undefined; i++) {
    const cp = cps[i] as Checkpoint;
    const at = (reason: string): Tamper => ({ file: cpFile, line: i + 1, seq: cp.seq, reason: `checkpoint #${i}: ${reason}` });
    if (cp.n !== i) cpTamper = at(`it is numbered ${cp.n} (checkpoints were removed, inserted or reordered)`);
    else if (cp.prev !== prevMac) cpTamper = at('it does not chain to the checkpoint before it');
    else if (opts.key && cp.keyId !== opts.key.keyId) cpTamper = at(`it was sealed by key ${cp.keyId}, not by the verification key ${opts.key.keyId}`);
    else if (key && !macMatches(key, cp)) cpTamper = at('its seal does not verify (forged or altered)');
    else if (cp.kind !== 'prune' && cp.seq < lastSeq) cpTamper = at(`it names seq ${cp.seq}, before seq ${lastSeq} of an earlier checkpoint`);
    prevMac = cp.mac;
    if (cp.kind !== 'prune') lastSeq = cp.seq;
    if (key) key = evolve(key);
  }
  if (cpTamper === undefined && opts.sealerEpoch !== undefined && cps.length < opts.sealerEpoch) {
    cpTamper = { file: cpFile, line: cps.length + 1, seq: undefined, reason: `the sealer made ${opts.sealerEpoch} checkpoints but the file holds ${cps.length}: checkpoints were removed (the log was rolled back)` };
  }
  const trusted = cpTamper === undefined ? cps : [];
  let pruned: Checkpoint | undefined;
  for (const cp of trusted) if (cp.kind === 'prune') pruned = cp;
  const rotations = new Map<number, Checkpoint>();
  for (const cp of trusted) if (cp.kind === 'rotate' && cp.segment > (pruned?.segment ?? 0)) rotations.set(cp.segment, cp);
  const lastRotate = [...trusted].reverse().find((c) => c.kind === 'rotate');
  const onDisk = sealedSegmentsOnDisk(path);
  const activeSegment = trusted.length > 0 ? (lastRotate?.segment ?? 0) + 1 : Math.max(0, ...onDisk.keys()) + 1;
  base.activeSegment = activeSegment;
  base.checkpoints = cps;

  // The records, segment by segment.
  const needed = new Set<number>(cps.map((c) => c.seq));
  if (head) needed.add(head.seq);
  const w: Walk = { records: pruned?.seq ?? 0, head: pruned?.hash ?? GENESIS, segments: [], hashes: new Map(), warnings, activeText: '', activeStart: 0 };
  const order: number[] = [];
  const floor = pruned?.segment ?? 0;
  if (trusted.length > 0) {
    for (const s of [...rotations.keys()].sort((a, b) => a - b)) order.push(s);
    for (const s of onDisk.keys()) {
      if (s > floor && !rotations.has(s)) return fail({ checkpoints: cps }, { file: onDisk.get(s) ?? segmentPath(path, s), line: 1, seq: undefined, reason: `segment ${s} is not sealed by any checkpoint (a file was added or renamed)` });
    }
  } else {
    for (const s of [...onDisk.keys()].sort((a, b) => a - b)) order.push(s);
  }
  // A rotation sealed but not yet renamed (in flight, or cut by a crash that the next writer
  // finishes): the active file is still that segment, and the next one has not begun.
  let activeFile: string | undefined = path;
  const pending = lastRotate !== undefined && lastRotate.segment > floor && !onDisk.has(lastRotate.segment) && existsSync(path) ? lastRotate.segment : undefined;
  if (pending !== undefined) {
    onDisk.set(pending, path);
    activeFile = undefined;
    warnings.push(`segment ${pending} is sealed but still named ${path} (a rotation in progress, or cut short by a crash)`);
  }
  for (const s of order) {
    const file = onDisk.get(s) ?? segmentPath(path, s);
    const sealedBy = rotations.get(s);
    const startSeq = w.records;
    if (!existsSync(file)) {
      const what = sealedBy ? ` (seq ${startSeq + 1}-${sealedBy.seq}, sealed by checkpoint #${sealedBy.n} at ${sealedBy.time})` : '';
      return fail({ checkpoints: cps, records: w.records }, { file, line: 1, seq: startSeq + 1, reason: `segment ${s}${what} is missing` });
    }
    const text = readFileSync(file, 'utf8');
    const res = verifyChainText(text, { start: { seq: w.records, hash: w.head }, onRecord: (r) => needed.has(r.seq) && w.hashes.set(r.seq, { hash: r.hash, segment: s }) });
    if (!res.ok) return fail({ checkpoints: cps, records: res.records }, { file, line: res.badLine, seq: res.badSeq, reason: res.reason });
    if (sealedBy && (res.records !== sealedBy.seq || res.head !== sealedBy.hash)) {
      return fail({ checkpoints: cps, records: res.records }, { file, line: Math.max(1, res.records - startSeq), seq: res.records, reason: `segment ${s} does not end where checkpoint #${sealedBy.n} sealed it (seq ${sealedBy.seq}, hash ${sealedBy.hash.slice(0, 12)}…) but at seq ${res.records} (hash ${res.head.slice(0, 12)}…): the segment was replaced or altered` });
    }
    w.segments.push({ segment: s, file, firstSeq: startSeq + 1, lastSeq: res.records, active: false, bytes: statSync(file).size, sealedBy });
    w.records = res.records;
    w.head = res.head;
  }
  const activeStart = w.records;
  let text = activeFile !== undefined && existsSync(activeFile) ? readFileSync(activeFile, 'utf8') : pending !== undefined ? '' : undefined;
  if (text === undefined) {
    const expected = Math.max(head?.seq ?? 0, lastSeq);
    if (expected > w.records) return fail({ checkpoints: cps, records: w.records }, { file: path, line: 1, seq: w.records + 1, reason: `the log file is missing but its head or checkpoints record ${expected} records` });
    if (w.records === 0) warnings.push('the log does not exist yet');
    text = '';
  }
  const chainOf = (t: string) => verifyChainText(t, { start: { seq: activeStart, hash: w.head }, onRecord: (r) => needed.has(r.seq) && w.hashes.set(r.seq, { hash: r.hash, segment: activeSegment }) });
  let res = chainOf(text);
  if (!res.ok && res.reason.startsWith('the last line is incomplete') && head !== undefined && head.seq <= res.records) {
    // A partial last line past the head is a write not yet acknowledged: in flight now, or
    // torn by a crash (the writer drops it on its next start). A record cut mid-line that
    // had been acknowledged is caught below: the head is then beyond the complete records.
    warnings.push(`line ${res.badLine} is an unfinished write that was never acknowledged`);
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    res = chainOf(text);
  }
  if (!res.ok) return fail({ checkpoints: cps, records: res.records }, { file: path, line: res.badLine, seq: res.badSeq, reason: res.reason });
  w.segments.push({ segment: activeSegment, file: path, firstSeq: activeStart + 1, lastSeq: res.records, active: true, bytes: Buffer.byteLength(text, 'utf8'), sealedBy: undefined });
  const records = res.records;
  const found = { checkpoints: cps, records, head: res.head, segments: w.segments, pruned };
  const lineOf = (seq: number): number => Math.max(1, seq - activeStart);

  // The head.
  if (head === undefined) {
    // (a log from before checkpoints has no head either: it is adopted, and gets one, at its next open)
    if (opts.requireHead && records > 0 && cps.length > 0) return fail(found, { file: path, line: lineOf(records + 1), seq: undefined, reason: `the head file ${headPathFor(path)} is missing, so truncation cannot be ruled out` });
    if (records > 0) warnings.push('no head file: the removal of whole records at the end cannot be detected');
  } else {
    if (head.seq > records) {
      const missing = records + 1;
      return fail(found, { file: path, line: lineOf(missing), seq: missing, reason: `record ${missing} is missing: the log ends at seq ${records} but its head records seq ${head.seq} (records were cut off the end)` });
    }
    const at = w.hashes.get(head.seq);
    if (head.seq > (pruned?.seq ?? 0) && at?.hash !== head.hash) return fail(found, { file: path, line: lineOf(head.seq), seq: head.seq, reason: `record ${head.seq} does not match the head's hash (the log was rewritten)` });
    if (head.seq < records) warnings.push(`${records - head.seq} record(s) after the head (being written, or written just before a crash)`);
  }

  // The checkpoints against the records.
  if (cpTamper) return fail(found, cpTamper);
  for (const cp of cps) {
    if (cp.kind === 'prune' || cp.seq <= (pruned?.seq ?? -1)) continue;
    const name = `checkpoint #${cp.n} (${cp.kind}, ${cp.time})`;
    if (cp.seq > records) {
      return fail(found, { file: path, line: lineOf(records + 1), seq: records + 1, reason: `record ${records + 1} is missing: ${name} sealed the log through seq ${cp.seq} but it ends at seq ${records} (records were cut off the end)` });
    }
    const at = cp.seq === 0 ? { hash: GENESIS, segment: 1 } : w.hashes.get(cp.seq);
    if (at?.hash !== cp.hash) return fail(found, { file: path, line: lineOf(cp.seq), seq: cp.seq, reason: `record ${cp.seq} does not match ${name} (the log was rewritten after it was sealed)` });
    if (cp.seq > 0 && at.segment !== cp.segment) return fail(found, { file: path, line: lineOf(cp.seq), seq: cp.seq, reason: `record ${cp.seq} is in segment ${at.segment} but ${name} sealed it in segment ${cp.segment} (segments were swapped)` });
  }

  // What follows a closing checkpoint, and what a reopening writer adopted.
  const adopted: { range: SeqRange; by: Checkpoint; after: Checkpoint | undefined }[] = [];
  const seqCps = cps.filter((c) => c.kind !== 'prune');
  for (let i = 0; i < seqCps.length; i++) {
    const cp = seqCps[i] as Checkpoint;
    const before = seqCps[i - 1];
    if (before?.kind === 'close' && (cp.kind !== 'open' || cp.seq !== before.seq)) {
      return fail(found, { file: path, line: lineOf(before.seq + 1), seq: before.seq + 1, reason: `records after seq ${before.seq} were written after the trail was closed (checkpoint #${before.n}) and before it was reopened, so not by the trail` });
    }
    if (cp.kind === 'open' && cp.seq > (before?.seq ?? 0) && before?.kind !== 'close') adopted.push({ range: { from: (before?.seq ?? 0) + 1, to: cp.seq }, by: cp, after: before });
  }
  const last = seqCps[seqCps.length - 1];
  if (last?.kind === 'close' && records > last.seq) {
    return fail(found, { file: path, line: lineOf(last.seq + 1), seq: last.seq + 1, reason: `record ${last.seq + 1} follows the closing checkpoint #${last.n} (${last.time}); the trail seals an opening checkpoint before it writes again, so this record was not written by it` });
  }

  const authenticated = opts.key !== undefined && cps.length > 0;
  const provenThrough = authenticated && last ? last.seq : 0;
  const unproven = records > provenThrough && !(authenticated && last?.kind === 'close') ? { from: Math.max(provenThrough, pruned?.seq ?? 0) + 1, to: records } : undefined;
  return {
    ...base,
    ...found,
    tamper: undefined,
    authenticated,
    provenBy: authenticated ? last : undefined,
    provenThrough,
    adopted,
    unproven,
  };
}
