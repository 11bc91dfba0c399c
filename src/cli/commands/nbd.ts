// `nitride nbd serve`: the EBS card's NBD server, standalone, for any NBD client.
//   nitride nbd serve --file F [--key-file K] [--size N] (--socket PATH | --port N)
//                     [--read-only] [--export-name X] [--xts native|node]
// With --key-file (64 raw bytes or 128 hex characters) the file holds AES-256-XTS
// ciphertext (aes-xts-plain64, 4096-byte sectors); without it the file is served plain.
// Prints one line `ready {json}` on stdout once listening; SIGINT/SIGTERM close cleanly.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openFileExport } from '../../ebs/export.js';
import { parseXtsKey } from '../../ebs/xts/xts.js';

export const summary = 'serve a file over NBD, AES-256-XTS encrypted with a key file (nbd serve)';

const USAGE = `usage: nitride nbd serve --file F [--key-file K] [--size N] (--socket PATH | --port N)
                         [--read-only] [--export-name X] [--xts native|node]
  N accepts suffixes K, M, G, T (powers of 1024).`;

interface Args {
  file?: string;
  keyFile?: string;
  size?: number;
  socket?: string;
  port?: number;
  readOnly: boolean;
  exportName?: string;
  xts: 'auto' | 'native' | 'node';
}

export function parseSize(v: string): number | undefined {
  const m = /^(\d+)([KMGT]?)$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m[2] ?? '').toUpperCase()] ?? 1;
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { readOnly: false, xts: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq >= 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--file': {
        const v = value();
        if (!v) return '--file needs a path';
        a.file = resolve(v);
        break;
      }
      case '--key-file': {
        const v = value();
        if (!v) return '--key-file needs a path';
        a.keyFile = resolve(v);
        break;
      }
      case '--size': {
        const v = parseSize(value() ?? '');
        if (v === undefined || v <= 0) return '--size needs a positive size';
        a.size = v;
        break;
      }
      case '--socket': {
        const v = value();
        if (!v) return '--socket needs a path';
        a.socket = resolve(v);
        break;
      }
      case '--port': {
        const v = value() ?? '';
        if (!/^\d+$/.test(v) || Number(v) > 65535) return '--port needs a port number (0 = any)';
        a.port = Number(v);
        break;
      }
      case '--read-only':
        a.readOnly = true;
        break;
      case '--export-name': {
        const v = value();
        if (v === undefined) return '--export-name needs a name';
        a.exportName = v;
        break;
      }
      case '--xts': {
        const v = value();
        if (v !== 'native' && v !== 'node' && v !== 'auto') return '--xts is native, node or auto';
        a.xts = v;
        break;
      }
      default:
        return `unknown argument '${arg}'`;
    }
  }
  if (!a.file) return '--file is required';
  if (a.socket === undefined && a.port === undefined) return 'give --socket PATH or --port N';
  return a;
}

async function serve(a: Args): Promise<number> {
  let key: Buffer | null = null;
  if (a.keyFile) key = parseXtsKey(readFileSync(a.keyFile));
  const exp = await openFileExport(a.file as string, {
    key,
    readOnly: a.readOnly,
    xtsImpl: a.xts,
    ...(a.exportName !== undefined ? { exportName: a.exportName } : {}),
    ...(a.size !== undefined ? { sizeBytes: a.size } : {}),
    ...(a.socket !== undefined ? { socketPath: a.socket } : {}),
    ...(a.port !== undefined ? { tcpPort: a.port } : {}),
  });
  key?.fill(0);
  process.stdout.write(
    `ready ${JSON.stringify({ socket: exp.socketPath ?? null, port: exp.tcpPort ?? null, size: exp.device.size(), encrypted: exp.device.encrypted, xts: exp.device.cipherImpl, readOnly: exp.device.readOnly, pid: process.pid })}\n`,
  );
  await new Promise<void>((res) => {
    const stop = (): void => res();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await exp.close();
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'serve') {
    process.stderr.write(`nitride nbd: unknown subcommand '${sub}'\n${USAGE}\n`);
    return 2;
  }
  const a = parseArgs(rest);
  if (typeof a === 'string') {
    process.stderr.write(`nitride nbd: ${a}\n${USAGE}\n`);
    return 2;
  }
  return serve(a);
}
