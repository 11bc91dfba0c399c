// Entry point of the host controller process:
//   node dist/src/controller/main.js --home DIR [--port N] [--listen ADDR]
//     [--public-iface NAME --public-cidr CIDR --public-gateway IP [--public-host-address IP/LEN]]
// (the public-side options default to NITRIDE_PUBLIC_IFACE, _CIDR, _GATEWAY, _HOST_ADDRESS)
// (also `nitride controller run`). SIGTERM/SIGINT stop it cleanly; guests keep running.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { nitrideHome } from '../lib/paths.js';
import { Controller } from './controller.js';
import type { PublicSideOptions } from './cards/vpc.js';

export interface RunArgs {
  readonly home: string;
  readonly port: number;
  readonly listen: string;
  /** --bundles DIR --release-pubkey FILE: start the components from signed bundles (src/controller/host-security-chip.ts). */
  readonly bundlesDir?: string;
  readonly releasePubKeyPath?: string;
  /** Started by a running controller to take its place (a live update of the controller; src/controller/controller.ts). */
  readonly takeover?: boolean;
  /** The VPC edge's public side (the card's TAP device), if any. */
  readonly publicSide?: PublicSideOptions;
}

const PUBLIC_FLAGS: Readonly<Record<string, string>> = { '--public-iface': 'NITRIDE_PUBLIC_IFACE', '--public-cidr': 'NITRIDE_PUBLIC_CIDR', '--public-gateway': 'NITRIDE_PUBLIC_GATEWAY', '--public-host-address': 'NITRIDE_PUBLIC_HOST_ADDRESS' };

/** The public side from the flags, else the environment; none when no interface is named (or it is "none"). */
function publicSideOf(flags: Record<string, string>): PublicSideOptions | undefined {
  const v = (flag: string): string | undefined => flags[flag] ?? (process.env[PUBLIC_FLAGS[flag] as string] || undefined);
  const iface = v('--public-iface');
  if (iface === undefined || iface === 'none') return undefined;
  const cidr = v('--public-cidr');
  const gateway = v('--public-gateway');
  if (cidr === undefined || gateway === undefined) throw new Error('--public-iface needs --public-cidr and --public-gateway (or NITRIDE_PUBLIC_CIDR and NITRIDE_PUBLIC_GATEWAY)');
  const hostAddress = v('--public-host-address');
  return { iface, cidr, gateway, ...(hostAddress !== undefined ? { hostAddress } : {}) };
}

export function parseRunArgs(argv: readonly string[]): RunArgs {
  let home = nitrideHome();
  let port = 0;
  let listen = '127.0.0.1';
  let bundlesDir: string | undefined;
  let releasePubKeyPath: string | undefined;
  let takeover = false;
  const pub: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--takeover') {
      takeover = true;
      continue;
    }
    if ((a === '--home' || a === '--port' || a === '--listen' || a === '--bundles' || a === '--release-pubkey') && v === undefined) throw new Error(`${a} needs a value`);
    if (a !== undefined && a in PUBLIC_FLAGS) {
      if (v === undefined) throw new Error(`${a} needs a value`);
      pub[a] = v;
      i++;
      continue;
    }
    if (a === '--home') home = v as string;
    else if (a === '--port') {
      port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0..65535');
    } else if (a === '--listen') listen = v as string;
    else if (a === '--bundles') bundlesDir = v as string;
    else if (a === '--release-pubkey') releasePubKeyPath = v as string;
    else throw new Error(`unknown option ${String(a)}`);
    i++;
  }
  if ((bundlesDir === undefined) !== (releasePubKeyPath === undefined)) throw new Error('--bundles and --release-pubkey go together');
  if (takeover && bundlesDir === undefined) throw new Error('--takeover needs --bundles and --release-pubkey');
  const publicSide = publicSideOf(pub);
  return { home, port, listen, ...(publicSide ? { publicSide } : {}), ...(bundlesDir !== undefined ? { bundlesDir } : {}), ...(releasePubKeyPath !== undefined ? { releasePubKeyPath } : {}), ...(takeover ? { takeover } : {}) };
}

/** Runs the controller until SIGTERM/SIGINT; resolves with the exit code. */
export async function runController(args: RunArgs): Promise<number> {
  const log = createLogger('controller');
  const c = new Controller({
    home: args.home,
    port: args.port,
    listen: args.listen,
    log,
    ...(args.releasePubKeyPath !== undefined ? { releasePubKeyPem: readFileSync(args.releasePubKeyPath, 'utf8'), releasePubKeyPath: resolve(args.releasePubKeyPath) } : {}),
    ...(args.bundlesDir !== undefined ? { bundlesDir: resolve(args.bundlesDir) } : {}),
    ...(args.takeover === true ? { takeover: true } : {}),
    ...(args.publicSide ? { publicSide: args.publicSide } : {}),
  });
  await c.start();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal: sig });
      c.stop().then(
        () => resolve(0),
        (e: unknown) => {
          log.error('stop failed', { error: describeError(e) });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // A live update of the controller: this process handed everything to its successor (0), or
    // a successor that was never activated was told to give up (1).
    void c.retired.then((code) => {
      if (stopping) return;
      stopping = true;
      log.info('retired', { code });
      resolve(code);
    });
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  let args: RunArgs;
  try {
    args = parseRunArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`controller: ${describeError(e)}\nusage: controller --home DIR [--port N] [--listen ADDR] [--bundles DIR --release-pubkey FILE]\n`);
    process.exit(2);
  }
  runController(args).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`controller: ${describeError(e)}\n`);
      process.exit(1);
    },
  );
}
