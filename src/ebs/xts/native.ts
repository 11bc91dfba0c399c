// Loading and building the native addon (native/xts). The addon gives AES-XTS with one
// OpenSSL context per key and the file operations Node lacks (hole punching, SEEK_DATA).
// Everything works without it, slower (XTS) or with fewer features (holes become zeros).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EbsError } from '../errors.js';
import { projectRoot } from '../../lib/paths.js';

export interface NativeXts {
  createKey(key: Buffer): unknown;
  destroyKey(handle: unknown): void;
  crypt(handle: unknown, encrypt: boolean, buf: Buffer, offset: number, length: number, firstSector512: number, sectorSize: number): void;
  /** 0, or a negative errno. */
  punchHole(fd: number, offset: number, length: number): number;
  /** The offset, or a negative errno (-6 = ENXIO: no data/hole at or after offset). */
  seek(fd: number, offset: number, whence: 3 | 4): number;
  /** Write each buffer at its position on one thread-pool job; done(0) or done(errno). Older builds lack it. */
  pwriteBatch?(fd: number, buffers: Buffer[], positions: number[], done: (errno: number) => void): void;
}

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

export function nativeXtsDir(): string {
  return join(projectRoot(), 'native', 'xts');
}

export function nativeXtsPath(): string {
  return join(nativeXtsDir(), 'build', 'Release', 'nitride_xts.node');
}

let cached: NativeXts | null | undefined;

/** The addon, or undefined when it is not built (or NITRIDE_NATIVE=off). */
export function loadNativeXts(): NativeXts | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (process.env['NITRIDE_NATIVE'] === 'off') return undefined;
  const path = nativeXtsPath();
  if (!existsSync(path)) return undefined;
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeXts;
  return cached;
}

/** node-gyp as bundled with npm next to this Node. */
function nodeGypScript(): string | undefined {
  const prefix = dirname(dirname(process.execPath));
  for (const p of [join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')]) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Build native/xts with node-gyp (idempotent: skipped when the .node file exists unless
 * `force`). Uses Node's own headers (including its OpenSSL headers) when they are installed
 * beside the node binary, so it needs no download. Throws EbsError on failure with the
 * compiler's output in context.
 */
export function buildNativeXts(opts: { force?: boolean; log?: (line: string) => void } = {}): string {
  const out = nativeXtsPath();
  if (!opts.force && existsSync(out)) return out;
  const gyp = nodeGypScript();
  if (!gyp) throw new EbsError('EBS_NATIVE_BUILD_FAILED', 'unavailable', 'node-gyp (bundled with npm) was not found beside this Node.', { execPath: process.execPath });
  const prefix = dirname(dirname(process.execPath));
  const args = [gyp, 'rebuild'];
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  opts.log?.(`building native/xts: node ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: nativeXtsDir(), encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(out)) {
    throw new EbsError('EBS_NATIVE_BUILD_FAILED', 'unavailable', 'Building the native XTS addon failed.', { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-4000) });
  }
  cached = undefined;
  return out;
}
