// `nitride audit verify|tail`: check and read the hash-chained audit logs.
//   nitride audit verify [--home DIR] [--host] [--file PATH]
//       exit 0 when the log is intact; exit 1 naming the first bad record.
//   nitride audit tail [-n N] [--follow] [--json] [--home DIR] [--host] [--file PATH]
// The region's trail is $NITRIDE_HOME/region/audit.log (with its head file audit.log.head);
// --host reads the host controller's log, $NITRIDE_HOME/host/audit.log.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChainRecord } from '../../audit/chain.js';
import { formatRecord, hostAuditPath, readLastRecords, regionTrailPath, verifyTrail } from '../../audit/trail.js';
import { nitrideHome } from '../../lib/paths.js';

export const summary = 'verify the hash-chained audit logs (verify) or show recent events (tail)';

const USAGE = `usage: nitride audit verify [--home DIR] [--host] [--file PATH]
       nitride audit tail [-n N] [--follow] [--json] [--home DIR] [--host] [--file PATH]`;

interface Args {
  home: string;
  host: boolean;
  file: string | undefined;
  n: number;
  follow: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { home: nitrideHome(), host: false, file: undefined, n: 20, follow: false, json: false };
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

function verify(a: Args): number {
  const path = logPath(a);
  if (!existsSync(path)) {
    process.stderr.write(`nitride audit: ${path} does not exist\n`);
    return 1;
  }
  // The region's trail always keeps a head file; the host's AuditChain log has none.
  const res = verifyTrail(path, { requireHead: !a.host && a.file === undefined });
  if (res.ok) {
    process.stdout.write(`${path}: OK, ${res.records} records, head ${res.head}\n`);
    for (const w of res.warnings) process.stdout.write(`  note: ${w}\n`);
    return 0;
  }
  const seq = res.badSeq === undefined ? '' : ` (seq ${res.badSeq})`;
  process.stdout.write(`${path}: TAMPERED: first bad record at line ${res.badLine}${seq}: ${res.reason}\n`);
  return 1;
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
  for (const rec of readLastRecords(path, a.n, offset)) show(rec, a.json);
  if (!a.follow) return 0;
  let partial = '';
  return new Promise<number>((resolveDone) => {
    const poll = (): void => {
      if (!existsSync(path)) return;
      const size = fstatSizeOf(path);
      if (size < offset) {
        process.stderr.write(`nitride audit: ${path} shrank from ${offset} to ${size} bytes; run 'nitride audit verify'\n`);
        offset = size;
        partial = '';
        return;
      }
      if (size === offset) return;
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        offset = size;
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
      } finally {
        closeSync(fd);
      }
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
