// Loading and building the native AES-256-GCM addon (native/gcm): one OpenSSL context per
// key, reused for every frame. Without it the underlay falls back to node:crypto (correct,
// slower: a new context and key schedule per frame). NITRIDE_NATIVE=off disables it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../lib/paths.js';
import { VpcError } from '../errors.js';

export interface NativeGcm {
  createKey(key: Buffer): unknown;
  seal(key: unknown, nonce: Buffer, aad: Buffer, plain: Buffer, out: Buffer): void;
  open(key: unknown, nonce: Buffer, aad: Buffer, cipherAndTag: Buffer, out: Buffer): boolean;
}

export const nativeGcmDir = (): string => join(projectRoot(), 'native', 'gcm');
export const nativeGcmPath = (): string => join(nativeGcmDir(), 'build', 'Release', 'nitride_gcm.node');

let cached: NativeGcm | null | undefined;

export function loadNativeGcm(): NativeGcm | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (process.env['NITRIDE_NATIVE'] === 'off' || !existsSync(nativeGcmPath())) return undefined;
  cached = createRequire(import.meta.url)(nativeGcmPath()) as NativeGcm;
  return cached;
}

/** Builds native/gcm with the node-gyp bundled beside this Node (idempotent unless force). */
export function buildNativeGcm(opts: { force?: boolean; log?: (line: string) => void } = {}): string {
  const out = nativeGcmPath();
  if (!opts.force && existsSync(out)) return out;
  const prefix = dirname(dirname(process.execPath));
  const gyp = [join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')].find(existsSync);
  if (!gyp) throw new VpcError('GcmNativeBuildFailed', 'unavailable', 'node-gyp (bundled with npm) was not found beside this Node.', { execPath: process.execPath });
  const args = [gyp, 'rebuild'];
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  opts.log?.(`building native/gcm: node ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: nativeGcmDir(), encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(out)) {
    throw new VpcError('GcmNativeBuildFailed', 'unavailable', 'Building the native GCM addon failed.', { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-4000) });
  }
  cached = undefined;
  return out;
}
