// PCR-like registers: sha384, extend-only. A register starts as 48 zero bytes and can only
// be extended: new = sha384(old || measurement), where a measurement is itself a sha384
// digest. Every extension is written to the event log ({pcrIndex, digest, description}) so
// a verifier can replay the log to the register values (event-log.ts). Pure.
//
// Register assignment (docs/SECURITY-CHIP.md):
//   0 host configuration (canonical JSON)     4 VPC card bundle
//   1 controller bundle                       5 QEMU binary
//   2 hypervisor bundle                       6 guest images, one extension per image first used
//   3 EBS card bundle                         7 release public key the bundles were verified with
// Registers 8..15 are reserved (zero). A bundle's measurement is the sha384 of its signed
// manifest.json, which names the sha384 of every file.
import { createHash, timingSafeEqual } from 'node:crypto';
import { SecurityChipError } from './errors.js';

export const PCR_BANK_SIZE = 16;
export const DIGEST_BYTES = 48;

export const PCR = {
  HOST_CONFIG: 0,
  CONTROLLER: 1,
  HYPERVISOR: 2,
  EBS_CARD: 3,
  VPC_CARD: 4,
  QEMU: 5,
  GUEST_IMAGE: 6,
  RELEASE_KEY: 7,
} as const;

export type ComponentName = 'controller' | 'hypervisor' | 'ebs-card' | 'vpc-card';
export const COMPONENT_NAMES: readonly ComponentName[] = ['controller', 'hypervisor', 'ebs-card', 'vpc-card'];

/** The register each component's bundle is measured into. */
export const COMPONENT_PCR: Readonly<Record<ComponentName, number>> = {
  controller: PCR.CONTROLLER,
  hypervisor: PCR.HYPERVISOR,
  'ebs-card': PCR.EBS_CARD,
  'vpc-card': PCR.VPC_CARD,
};

export interface PcrEvent {
  readonly pcrIndex: number;
  /** sha384 of what was measured, lowercase hex (96 characters). */
  readonly digest: string;
  readonly description: string;
}

/** One register that differs: expected and actual values as lowercase hex (actual null when absent). */
export interface PcrMismatch {
  readonly pcr: number;
  readonly expected: string;
  readonly actual: string | null;
}

/** PCR values keyed by decimal index, lowercase hex. The JSON form used by policies and logs. */
export type PcrValues = Readonly<Record<string, string>>;

const HEX96 = /^[0-9a-f]{96}$/;

export function sha384(...parts: (Buffer | string)[]): Buffer {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function checkPcrIndex(i: number, size = PCR_BANK_SIZE): void {
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new SecurityChipError('PcrIndexInvalid', 'invalid', `The PCR index ${i} is outside 0..${size - 1}.`, { index: i });
}

/** A sha384 digest given as a Buffer or hex, as a Buffer; refuses anything else. */
export function digestBytes(d: Buffer | string, what = 'measurement'): Buffer {
  if (typeof d === 'string') {
    const s = d.toLowerCase();
    if (!HEX96.test(s)) throw new SecurityChipError('EventLogInvalid', 'invalid', `The ${what} is not a sha384 digest in hex.`, { what });
    return Buffer.from(s, 'hex');
  }
  if (d.length !== DIGEST_BYTES) throw new SecurityChipError('EventLogInvalid', 'invalid', `The ${what} is ${d.length} bytes, not ${DIGEST_BYTES}.`, { what });
  return d;
}

/** The extend operation: sha384(old || measurement). */
export function extendValue(old: Buffer, measurement: Buffer): Buffer {
  return sha384(old, measurement);
}

/** The value a register holds after exactly one extension from zero (how a bundle PCR is predicted). */
export function singleExtension(measurement: Buffer | string): string {
  return extendValue(Buffer.alloc(DIGEST_BYTES), digestBytes(measurement)).toString('hex');
}

export class PcrBank {
  private readonly regs: Buffer[];
  private readonly log: PcrEvent[] = [];

  constructor(readonly size: number = PCR_BANK_SIZE) {
    this.regs = Array.from({ length: size }, () => Buffer.alloc(DIGEST_BYTES));
  }

  /** Extends register index with a sha384 measurement and logs it; returns the new value. */
  extend(index: number, measurement: Buffer | string, description: string): Buffer {
    checkPcrIndex(index, this.size);
    const m = digestBytes(measurement);
    const next = extendValue(this.regs[index] as Buffer, m);
    this.regs[index] = next;
    this.log.push({ pcrIndex: index, digest: m.toString('hex'), description });
    return Buffer.from(next);
  }

  value(index: number): Buffer {
    checkPcrIndex(index, this.size);
    return Buffer.from(this.regs[index] as Buffer);
  }

  /** Every register, index → 48 bytes (the form attestation documents carry). */
  values(): Map<number, Buffer> {
    return new Map(this.regs.map((v, i) => [i, Buffer.from(v)]));
  }

  /** Every register as {"index": hex}. */
  toJSON(): Record<string, string> {
    return Object.fromEntries(this.regs.map((v, i) => [String(i), v.toString('hex')]));
  }

  events(): PcrEvent[] {
    return this.log.map((e) => ({ ...e }));
  }

  /** Rebuilds a bank by replaying events (e.g. a persisted log after a controller restart). */
  static fromEvents(events: readonly PcrEvent[], size = PCR_BANK_SIZE): PcrBank {
    const bank = new PcrBank(size);
    for (const e of events) bank.extend(e.pcrIndex, e.digest, e.description);
    return bank;
  }
}

function toHexMap(v: PcrValues | ReadonlyMap<number, Buffer>): Map<number, string> {
  if (v instanceof Map) return new Map([...v].map(([i, b]) => [i, b.toString('hex')]));
  return new Map(Object.entries(v as PcrValues).map(([i, h]) => [Number(i), h.toLowerCase()]));
}

/** Every register named in expected whose actual value differs or is absent, in index order. */
export function comparePcrs(expected: PcrValues | ReadonlyMap<number, Buffer>, actual: PcrValues | ReadonlyMap<number, Buffer>): PcrMismatch[] {
  const e = toHexMap(expected);
  const a = toHexMap(actual);
  const out: PcrMismatch[] = [];
  for (const [i, want] of [...e].sort(([x], [y]) => x - y)) {
    const got = a.get(i);
    const same = got !== undefined && got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
    if (!same) out.push({ pcr: i, expected: want, actual: got ?? null });
  }
  return out;
}
