// `nitride audit verify|tail`: check and read the hash-chained audit logs.
//   nitride audit verify [--home DIR] [--host] [--file PATH] [--key FILE|HEX] [--strict] [--json]
//       says what it proves: the segments, the records proven and by which sealed checkpoint
//       (seq, time, key), records adopted at a reopening, the unproven tail. Exit 0 when no
//       tampering is found (3 with --strict while an unproven tail remains); 1 naming the
//       first bad record. The verification key defaults to the log's own P.seal/verify-key,
//       which proves nothing against root on this machine: keep it elsewhere (docs/AUDIT.md).
//   nitride audit tail [-n N] [--follow] [--json] [--home DIR] [--host] [--file PATH]
// The region's trail is $NITRIDE_HOME/region/audit.log (its segments audit.log.NNNNNN, head,
// checkpoints and sealer beside it); --host reads the host controller's, host/audit.log.
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChainRecord } from '../../audit/chain.js';
import { defaultVerifyKeyPath, loadVerifyKey, sealerEpoch, type Checkpoint, type VerifyKey } from '../../audit/seal.js';
import { sealedSegmentsOnDisk } from '../../audit/segments.js';
import { formatRecord, hostAuditPath, readLastRecords, regionTrailPath } from '../../audit/trail.js';
import { proveLog, type AuditProof } from '../../audit/verify.js';
import { nitrideHome } from '../../lib/paths.js';

export const summary = 'verify the hash-chained audit logs (verify) or show recent events (tail)';

const USAGE = `usage: nitride audit verify [--home DIR] [--host] [--file PATH] [--key FILE|HEX] [--strict] [--json]
       nitride audit tail [-n N] [--follow] [--json] [--home DIR] [--host] [--file PATH]`;

interface Args {
  home: string;
  host: boolean;
  file: string | undefined;
  n: number;
  follow: boolean;
  json: boolean;
  key: string | undefined;
  strict: boolean;
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { home: nitrideHome(), host: false, file: undefined, n: 20, follow: false, json: false, key: undefined, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const value = (): string | undefined => {
      const eq = arg.indexOf('=');
      if (eq >= 0) return arg.slice(eq + 1);
      i++;
      return argv[i];
    };
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    switch (name) {
      case '--home': {
        const v = value();
        if (v === undefined) return '--home needs a directory';
        a.home = resolve(v);
        break;
      }
      case '--file': {
        const v = value();
        if (v === undefined) return '--file needs a path';
        a.file = resolve(v);
        break;
      }
      case '-n':
      case '--lines': {
        const v = value();
        if (v === undefined || !/^\d+$/.test(v)) return `${name} needs a number`;
        a.n = Number(v);
        break;
      }
      case '--key': {
        const v = value();
        if (v === undefined) return '--key needs a file or 64 hex digits';
        a.key = v;
        break;
      }
      case '--strict':
        a.strict = true;
        break;
      case '--host':
        a.host = true;
        break;
      case '--follow':
      case '-f':
        a.follow = true;
        break;
      case '--json':
        a.json = true;
        break;
      default:
        return `unknown argument '${arg}'`;
    }
  }
  return a;
}

function logPath(a: Args): string {
  return a.file ?? (a.host ? hostAuditPath(a.home) : regionTrailPath(a.home));
}

function cpName(cp: Checkpoint): string {
  return `checkpoint #${cp.n} (${cp.kind}, seq ${cp.seq}, ${cp.time}, key ${cp.keyId} epoch ${cp.n})`;
}

function range(from: number, to: number): string {
  return from === to ? `seq ${from}` : `seq ${from}-${to}`;
}

/** The lines that say what was proven, segment by segment. */
function describeProof(p: AuditProof, keyNote: string): string[] {
  const out: string[] = [keyNote];
  if (p.pruned) out.push(`pruned: segments 1-${p.pruned.segment} (through seq ${p.pruned.seq}) deleted by retention; anchor ${cpName(p.pruned)}`);
  for (const s of p.segments) {
    const span = s.firstSeq > s.lastSeq ? 'empty' : range(s.firstSeq, s.lastSeq);
    const state = s.active ? 'active' : s.sealedBy ? `sealed by checkpoint #${s.sealedBy.n} at ${s.sealedBy.time}` : 'not sealed';
    const proven = s.firstSeq > s.lastSeq ? '' : s.lastSeq <= p.provenThrough ? ', proven' : s.firstSeq <= p.provenThrough ? `, proven through seq ${p.provenThrough}` : ', unproven';
    out.push(`segment ${s.segment} (${s.file}): ${span}, ${state}${proven}`);
  }
  if (p.provenBy) out.push(`proven: ${p.provenThrough === 0 ? 'no records yet' : range((p.pruned?.seq ?? 0) + 1, p.provenThrough)} by ${cpName(p.provenBy)}`);
  for (const ad of p.adopted) {
    const after = ad.after ? `after ${cpName(ad.after)}` : 'before the log had checkpoints';
    out.push(`adopted: ${range(ad.range.from, ad.range.to)}: written ${after}, sealed only when the log was reopened, by ${cpName(ad.by)}; unprotected in between`);
  }
  out.push(p.unproven ? `unproven tail: ${range(p.unproven.from, p.unproven.to)} (no checkpoint covers them yet)` : 'unproven tail: none');
  for (const w of p.warnings) out.push(`note: ${w}`);
  return out;
}

function verify(a: Args): number {
  const path = logPath(a);
  if (!existsSync(path) && !existsSync(`${path}.checkpoints`)) {
    process.stderr.write(`nitride audit: ${path} does not exist\n`);
    return 1;
  }
  let key: VerifyKey | undefined;
  let keyNote: string;
  const keyFile = a.key ?? (existsSync(defaultVerifyKeyPath(path)) ? defaultVerifyKeyPath(path) : undefined);
  try {
    key = keyFile === undefined ? undefined : loadVerifyKey(keyFile);
  } catch (e) {
    process.stderr.write(`nitride audit: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  if (key === undefined) keyNote = 'key: none (no --key and no verify-key beside the log): checkpoint seals are not checked, nothing is proven';
  else if (a.key === undefined) keyNote = `key: ${key.keyId} from ${keyFile} (on this machine: it proves the log against whoever can write the log files, not against root here)`;
  else keyNote = `key: ${key.keyId} from ${/^[0-9a-f]{64}$/i.test(a.key) ? 'the command line' : a.key}`;
  const epoch = sealerEpoch(path);
  const p = proveLog(path, { ...(key ? { key } : {}), requireHead: a.file === undefined, ...(epoch === undefined ? {} : { sealerEpoch: epoch }) });
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ ...p, tamper: p.tamper ?? null, unproven: p.unproven ?? null, provenBy: p.provenBy ?? null, checkpoints: p.checkpoints.length, key: key?.keyId ?? null, keySource: keyFile ?? null }, null, 2)}\n`);
  } else if (p.tamper) {
    const t = p.tamper;
    const seq = t.seq === undefined ? '' : ` (seq ${t.seq})`;
    process.stdout.write(`${t.file}: TAMPERED: first bad record at line ${t.line}${seq}: ${t.reason}\n`);
  } else {
    const all = p.unproven === undefined;
    const status = all ? `OK, ${p.records} records, all proven, head ${p.head}` : p.provenThrough > 0 ? `UNPROVEN TAIL, ${p.records} records, proven through seq ${p.provenThrough}, head ${p.head}` : `UNPROVEN, ${p.records} records, none proven, head ${p.head}`;
    process.stdout.write(`${path}: ${status}\n`);
    for (const l of describeProof(p, keyNote)) process.stdout.write(`  ${l}\n`);
  }
  if (p.tamper) return 1;
  return a.strict && p.unproven !== undefined ? 3 : 0;
}

function show(rec: ChainRecord, json: boolean): void {
  process.stdout.write(`${json ? JSON.stringify(rec) : formatRecord(rec)}\n`);
}

async function tail(a: Args): Promise<number> {
  const path = logPath(a);
  if (!existsSync(path) && !a.follow) {
    process.stderr.write(`nitride audit: ${path} does not exist\n`);
    return 1;
  }
  // Fix the end first, so a record appended meanwhile is followed, not lost or shown twice.
  let offset = existsSync(path) ? fstatSizeOf(path) : 0;
  let ino = existsSync(path) ? statSync(path).ino : -1;
  let last = readLastRecords(path, a.n, offset);
  // fewer in the active segment than asked for: the rest from the sealed segments before it
  for (const [, f] of [...sealedSegmentsOnDisk(path).entries()].sort(([x], [y]) => y - x)) {
    if (last.length >= a.n) break;
    last = [...readLastRecords(f, a.n - last.length), ...last];
  }
  for (const rec of last) show(rec, a.json);
  if (!a.follow) return 0;
  let partial = '';
  const readFrom = (file: string, from: number): number => {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= from) return size;
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      const lines = (partial + buf.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (l === '') continue;
        try {
          show(JSON.parse(l) as ChainRecord, a.json);
        } catch {
          process.stderr.write(`nitride audit: unparsable line: ${l.slice(0, 120)}\n`);
        }
      }
      return size;
    } finally {
      closeSync(fd);
    }
  };
  return new Promise<number>((resolveDone) => {
    const poll = (): void => {
      if (!existsSync(path)) return;
      const now = statSync(path).ino;
      if (now !== ino) {
        // Rotated: the file followed so far is now a sealed segment; finish it, then start on the new one.
        // (and any segment sealed whole since the last look)
        const sealed = [...sealedSegmentsOnDisk(path).entries()].sort(([x], [y]) => x - y);
        const at = sealed.findIndex(([, f]) => statSync(f).ino === ino);
        if (at >= 0) {
          readFrom(sealed[at]?.[1] ?? '', offset);
          for (const [, f] of sealed.slice(at + 1)) readFrom(f, 0);
        }
        ino = now;
        offset = 0;
        partial = '';
      }
      const size = fstatSizeOf(path);
      if (size < offset) {
        process.stderr.write(`nitride audit: ${path} shrank from ${offset} to ${size} bytes; run 'nitride audit verify'\n`);
        offset = size;
        partial = '';
        return;
      }
      if (size === offset) return;
      offset = readFrom(path, offset);
    };
    const timer = setInterval(poll, 250);
    const stop = (): void => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolveDone(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function fstatSizeOf(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const a = parseArgs(rest);
  if (typeof a === 'string') {
    process.stderr.write(`nitride audit: ${a}\n${USAGE}\n`);
    return 2;
  }
  switch (sub) {
    case 'verify':
      return verify(a);
    case 'tail':
      return tail(a);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`nitride audit: unknown subcommand '${sub}'\n${USAGE}\n`);
      return 2;
  }
}
