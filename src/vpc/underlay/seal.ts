// The underlay's encapsulation between hosts: a guest frame travels in one UDP datagram,
// sealed with AES-256-GCM under a key per (sending host → receiving host) direction,
// derived from the host pair's key that the region delivers and rotates (epochs).
//
//   0  magic 0x4e35 ('N5')      2  version 1      3  kind (0 frame, 1 sync request, 2 sync reply)
//   4  key epoch (u32)          8  VPC number (u32, the VNI)
//   12 counter (u64)            20 ciphertext of the frame ‖ 16-byte GCM tag
//
// The 20-byte header is the AAD (so the VPC id and epoch cannot be altered), the nonce is
// a 4-byte per-direction salt ‖ the counter. The receiver keeps a sliding replay window of
// REPLAY_WINDOW counters per (sender, epoch), above a floor the sender vouches for in a
// sync reply (a bridge that starts knows nothing of what was sent before: see bridge.ts). Overhead on the wire: 20 + 16 bytes plus UDP
// and IPv4 headers (28): 64 bytes, so a 1500-byte underlay MTU carries guest frames of
// 1436 bytes (an IP MTU of 1422; the region's DHCP hands out 1420).
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { VpcError } from '../errors.js';
import { loadNativeGcm } from './native.js';

export const HEADER_BYTES = 20;
export const TAG_BYTES = 16;
export const OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES + 8 + 20;
export const REPLAY_WINDOW = 1024;
const MAGIC = 0x4e35;
/** The kinds of datagram (header byte 3, authenticated with the rest of the header). */
export const KIND_FRAME = 0;
export const KIND_SYNC_REQUEST = 1;
export const KIND_SYNC_REPLY = 2;

export interface DirectionKey {
  readonly key: Buffer; // 32 bytes
  readonly salt: Buffer; // 4 bytes
  /** The native addon's context for the key (native/gcm), when the addon is built. */
  readonly native?: unknown;
}

/** The key of one direction (from → to) of a host pair, from the pair's 32-byte secret. */
export function directionKey(pairSecret: Buffer, epoch: number, from: string, to: string): DirectionKey {
  if (pairSecret.length !== 32) throw new VpcError('InvalidKey', 'invalid', 'A host-pair secret is 32 bytes.');
  const okm = Buffer.from(hkdfSync('sha256', pairSecret, Buffer.from(`epoch:${epoch}`), Buffer.from(`nitride-underlay-v1 ${from}->${to}`), 36));
  const key = okm.subarray(0, 32);
  const n = loadNativeGcm();
  return { key, salt: okm.subarray(32, 36), ...(n ? { native: n.createKey(key) } : {}) };
}

/**
 * Where a new Sealer's counter starts: the wall clock in ms, shifted left by 20 bits. A key
 * (pair secret + epoch + direction) can outlive the process that sealed with it — the
 * bridge is restarted after a crash with the keys the controller still holds — and GCM
 * must never see a nonce twice under one key. A restarted sender starts above everything its
 * predecessor sent unless that one averaged more than 2^20 datagrams per ms since it started
 * (about 1000× what a 10 Gbit/s link carries), and a receiver's replay window, which only
 * moves forward, accepts the restarted sender at once. 2^41 ms (year 2039) × 2^20 < 2^64.
 */
export function counterStart(nowMs: number = Date.now()): bigint {
  return BigInt(Math.floor(nowMs)) << 20n;
}

export class Sealer {
  private counter: bigint;
  /** Reused for every frame (sealing is synchronous): salt ‖ counter. */
  private readonly nonce = Buffer.allocUnsafe(12);

  constructor(
    private readonly k: DirectionKey,
    readonly epoch: number,
    start: bigint = counterStart(),
  ) {
    this.counter = start;
  }

  /** Seals one frame for the VPC `vni` (or a sync message of `kind`); returns the datagram. */
  seal(vni: number, frame: Buffer, kind = KIND_FRAME): Buffer {
    const out = Buffer.allocUnsafe(HEADER_BYTES + frame.length + TAG_BYTES);
    out.writeUInt16BE(MAGIC, 0);
    out[2] = 1;
    out[3] = kind;
    out.writeUInt32BE(this.epoch >>> 0, 4);
    out.writeUInt32BE(vni >>> 0, 8);
    const c = this.counter++;
    out.writeBigUInt64BE(c, 12);
    const nonce = this.nonce;
    this.k.salt.copy(nonce, 0);
    out.copy(nonce, 4, 12, 20);
    const gcm = this.k.native !== undefined ? loadNativeGcm() : undefined;
    if (gcm) {
      gcm.seal(this.k.native, nonce, out.subarray(0, HEADER_BYTES), frame, out.subarray(HEADER_BYTES));
      return out;
    }
    const cipher = createCipheriv('aes-256-gcm', this.k.key, nonce);
    cipher.setAAD(out.subarray(0, HEADER_BYTES));
    const n = cipher.update(frame).copy(out, HEADER_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, HEADER_BYTES + n);
    return out;
  }
}

/** A sliding window of seen counters: accepts each counter once, refuses what is too old. */
export class ReplayWindow {
  private top = -1n;
  private readonly bits = new Uint32Array(REPLAY_WINDOW / 32);
  /** Counters below this are refused whatever the window holds. */
  private floor = 0n;

  /** Refuses every counter below `c` from now on (what the sender vouched it had passed). */
  raiseFloor(c: bigint): void {
    if (c > this.floor) this.floor = c;
  }

  /** True when `c` is new (and records it); false for a replay or a counter behind the window. */
  check(c: bigint): boolean {
    if (c < this.floor) return false;
    if (c > this.top) {
      const shift = c - this.top;
      if (shift >= BigInt(REPLAY_WINDOW)) this.bits.fill(0);
      else for (let i = this.top + 1n; i <= c; i++) this.clear(i);
      this.top = c;
      this.set(c);
      return true;
    }
    if (this.top - c >= BigInt(REPLAY_WINDOW)) return false;
    if (this.get(c)) return false;
    this.set(c);
    return true;
  }

  private idx(c: bigint): [number, number] {
    const i = Number(c % BigInt(REPLAY_WINDOW));
    return [i >>> 5, 1 << (i & 31)];
  }
  private get(c: bigint): boolean {
    const [w, m] = this.idx(c);
    return (this.bits[w]! & m) !== 0;
  }
  private set(c: bigint): void {
    const [w, m] = this.idx(c);
    this.bits[w]! |= m;
  }
  private clear(c: bigint): void {
    const [w, m] = this.idx(c);
    this.bits[w]! &= ~m;
  }
}

export type OpenResult =
  | { readonly ok: true; readonly vni: number; readonly frame: Buffer; readonly kind: number; readonly epoch: number; readonly counter: bigint }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-epoch' | 'auth' | 'replay' };

/** A counter no sender reaches: the floor of an epoch the sender no longer seals under. */
const CLOSED = 2n ** 64n;

/** The receiving side of one direction: several epochs may be live during a rotation. */
export class Opener {
  private readonly epochs = new Map<number, { k: DirectionKey; window: ReplayWindow }>();
  private readonly nonce = Buffer.allocUnsafe(12);

  addEpoch(epoch: number, k: DirectionKey): void {
    if (!this.epochs.has(epoch)) this.epochs.set(epoch, { k, window: new ReplayWindow() });
  }

  dropEpoch(epoch: number): void {
    this.epochs.delete(epoch);
  }

  get liveEpochs(): number[] {
    return [...this.epochs.keys()];
  }

  /**
   * The sender vouched (in a sync reply sealed under `epoch` with counter `counter`) that it
   * seals under `epoch` and has sent nothing at or above `counter` before: anything older in
   * that epoch, and anything in an older epoch, is refused from now on. Newer epochs are
   * untouched (the sender had not sealed under them yet).
   */
  vouch(epoch: number, counter: bigint): void {
    for (const [e, st] of this.epochs) {
      if (e === epoch) st.window.raiseFloor(counter);
      else if (e < epoch) st.window.raiseFloor(CLOSED);
    }
  }

  open(d: Buffer): OpenResult {
    if (d.length < HEADER_BYTES + TAG_BYTES || d.readUInt16BE(0) !== MAGIC || d[2] !== 1 || (d[3] as number) > KIND_SYNC_REPLY) return { ok: false, reason: 'malformed' };
    const epoch = d.readUInt32BE(4);
    const e = this.epochs.get(epoch);
    if (!e) return { ok: false, reason: 'unknown-epoch' };
    const nonce = this.nonce;
    e.k.salt.copy(nonce, 0);
    d.copy(nonce, 4, 12, 20);
    const gcm = e.k.native !== undefined ? loadNativeGcm() : undefined;
    if (gcm) {
      const frame = Buffer.allocUnsafe(d.length - HEADER_BYTES - TAG_BYTES);
      if (!gcm.open(e.k.native, nonce, d.subarray(0, HEADER_BYTES), d.subarray(HEADER_BYTES), frame)) return { ok: false, reason: 'auth' };
      const counter = d.readBigUInt64BE(12);
      if (!e.window.check(counter)) return { ok: false, reason: 'replay' };
      return { ok: true, vni: d.readUInt32BE(8), frame, kind: d[3] as number, epoch, counter };
    }
    const decipher = createDecipheriv('aes-256-gcm', e.k.key, nonce);
    decipher.setAAD(d.subarray(0, HEADER_BYTES));
    decipher.setAuthTag(d.subarray(d.length - TAG_BYTES));
    let frame: Buffer;
    try {
      frame = Buffer.concat([decipher.update(d.subarray(HEADER_BYTES, d.length - TAG_BYTES)), decipher.final()]);
    } catch {
      return { ok: false, reason: 'auth' };
    }
    // Only an authentic datagram moves the window (a forged counter cannot close it).
    const counter = d.readBigUInt64BE(12);
    if (!e.window.check(counter)) return { ok: false, reason: 'replay' };
    return { ok: true, vni: d.readUInt32BE(8), frame, kind: d[3] as number, epoch, counter };
  }
}
