// Loading and building the native addon (native/xts). The addon gives AES-XTS with one
// OpenSSL context per key and the file operations Node lacks (hole punching, SEEK_DATA).
// Everything works without it, slower (XTS) or with fewer features (holes become zeros).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { EbsError } from '../errors.js';
import { buildAddon } from '../../lib/native-addon.js';
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

/**
 * Build native/xts with node-gyp (idempotent: skipped while the .node file is newer than its
 * sources, unless `force`). Throws EbsError on failure with the compiler's output in context.
 */
export function buildNativeXts(opts: { force?: boolean; log?: (line: string) => void } = {}): string {
  const out = nativeXtsPath();
  const failed = buildAddon(nativeXtsDir(), out, opts);
  if (failed?.reason === 'no-node-gyp') throw new EbsError('EBS_NATIVE_BUILD_FAILED', 'unavailable', 'node-gyp (bundled with npm) was not found beside this Node.', { execPath: failed.execPath });
  if (failed) throw new EbsError('EBS_NATIVE_BUILD_FAILED', 'unavailable', 'Building the native XTS addon failed.', { status: failed.status, output: failed.output });
  cached = undefined;
  return out;
}
