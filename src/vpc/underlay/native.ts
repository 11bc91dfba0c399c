// Loading and building the VPC's native addon (native/gcm): AES-256-GCM with one OpenSSL
// context per key, reused for every frame; batched UDP (sendmmsg/recvmmsg) for the underlay
// bridge; the switch's flow-cache fast path (switchChunk); and the VPC edge's TAP device (tap*). Without it everything works in
// TypeScript (node:crypto, dgram, VpcSwitch.forwardFast), slower. NITRIDE_NATIVE=off disables it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { buildAddon } from '../../lib/native-addon.js';
import { projectRoot } from '../../lib/paths.js';
import { VpcError } from '../errors.js';

export interface NativeGcm {
  createKey(key: Buffer): unknown;
  seal(key: unknown, nonce: Buffer, aad: Buffer, plain: Buffer, out: Buffer): void;
  open(key: unknown, nonce: Buffer, aad: Buffer, cipherAndTag: Buffer, out: Buffer): boolean;
  /** The switch's flow-cache fast path over a chunk (see native/gcm/gcm.c); absent in older builds. */
  switchChunk?(
    buf: Buffer, idx: Int32Array, count: number, portMac: Buffer, portIp: number, sourceDestCheck: boolean, gen: number, now: number,
    fcGen: Int32Array, fcDst: Uint32Array, fcPorts: Uint32Array, fcProto: Uint8Array, fcUntil: Float64Array, fcMac: Uint8Array, fcFlags: Uint8Array, out: Int32Array,
  ): number;
  /** The VPC edge's TAP device (native/gcm/tap.c); absent in older builds. */
  tapOpen?(name: string): number;
  tapPersist?(fd: number, on: boolean): number;
  tapClose?(fd: number): void;
  tapRead?(fd: number, buf: Buffer, idx: Int32Array, maxFrames: number): number;
  tapWrite?(fd: number, buf: Buffer, off: number, len: number): number;
  tapWatch?(fd: number, onReadable: (status: number) => void): unknown;
  tapUnwatch?(handle: unknown): void;
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

/** Builds native/gcm (idempotent: skipped while the .node file is newer than its sources, unless force). */
export function buildNativeGcm(opts: { force?: boolean; log?: (line: string) => void } = {}): string {
  const out = nativeGcmPath();
  const failed = buildAddon(nativeGcmDir(), out, opts);
  if (failed?.reason === 'no-node-gyp') throw new VpcError('GcmNativeBuildFailed', 'unavailable', 'node-gyp (bundled with npm) was not found beside this Node.', { execPath: failed.execPath });
  if (failed) throw new VpcError('GcmNativeBuildFailed', 'unavailable', 'Building the native GCM addon failed.', { status: failed.status, output: failed.output });
  cached = undefined;
  return out;
}
