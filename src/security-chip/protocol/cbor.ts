// A small, strict CBOR (RFC 8949) codec for the attestation documents: unsigned and
// negative integers, byte and text strings, arrays, maps with integer or text keys, tags,
// false/true/null. Pure: bytes in, values out, and back.
//
// The decoder accepts only what the encoder produces (preferred serialization), so any
// accepted input re-encodes to the same bytes. It refuses: indefinite lengths, non-minimal
// length/integer encodings, floats and other simple values, tags outside an allow-list,
// duplicate or non int/text map keys, invalid UTF-8, trailing bytes, input longer than
// maxBytes, nesting deeper than maxDepth, and lengths or item counts the remaining input
// cannot hold (so a forged 2^64 length never allocates).
import { SecurityChipError } from '../errors.js';

export type CborKey = number | bigint | string;
export type CborValue = number | bigint | string | Buffer | boolean | null | readonly CborValue[] | CborMap | CborTagged;
export type CborMap = Map<CborKey, CborValue>;

/** A tagged item (major type 6), e.g. tag 18 around a COSE_Sign1. */
export class CborTagged {
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

export interface DecodeOptions {
  /** Longest input accepted, in bytes (default 1 MiB). */
  readonly maxBytes?: number;
  /** Deepest nesting of arrays, maps and tags (default 16). */
  readonly maxDepth?: number;
  /** Tags accepted (default: 18, COSE_Sign1). */
  readonly allowedTags?: readonly number[];
}

export class CborError extends SecurityChipError {
  constructor(reason: string, offset: number) {
    super('CborMalformed', 'invalid', `The CBOR input is malformed at byte ${offset}: ${reason}.`, { offset, reason });
  }
}

// Major types.
const MT_UINT = 0;
const MT_NINT = 1;
const MT_BSTR = 2;
const MT_TSTR = 3;
const MT_ARRAY = 4;
const MT_MAP = 5;
const MT_TAG = 6;
const MT_SIMPLE = 7;
const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const SIMPLE_NULL = 22;

const U64_MAX = (1n << 64n) - 1n;

// ---------------------------------------------------------------- encoder

class Writer {
  private chunks: Buffer[] = [];
  push(b: Buffer): void {
    this.chunks.push(b);
  }
  head(major: number, n: number | bigint): void {
    const m = major << 5;
    const v = BigInt(n);
    if (v < 0n || v > U64_MAX) throw new RangeError('CBOR argument out of range');
    if (v < 24n) this.push(Buffer.from([m | Number(v)]));
    else if (v < 0x100n) this.push(Buffer.from([m | 24, Number(v)]));
    else if (v < 0x10000n) {
      const b = Buffer.alloc(3);
      b[0] = m | 25;
      b.writeUInt16BE(Number(v), 1);
      this.push(b);
    } else if (v < 0x100000000n) {
      const b = Buffer.alloc(5);
      b[0] = m | 26;
      b.writeUInt32BE(Number(v), 1);
      this.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = m | 27;
      b.writeBigUInt64BE(v, 1);
      this.push(b);
    }
  }
  result(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function encodeInt(w: Writer, v: number | bigint): void {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new TypeError(`CBOR encoder: ${v} is not an integer (floats are not supported)`);
  const b = BigInt(v);
  if (b >= 0n) w.head(MT_UINT, b);
  else w.head(MT_NINT, -1n - b);
}

function encodeKey(w: Writer, k: unknown): void {
  if (typeof k === 'string') encodeItem(w, k, 0);
  else if (typeof k === 'number' || typeof k === 'bigint') encodeInt(w, k);
  else throw new TypeError('CBOR encoder: map keys must be integers or strings');
}

function encodeItem(w: Writer, v: unknown, depth: number): void {
  if (depth > 64) throw new TypeError('CBOR encoder: nesting too deep');
  if (v === null) w.push(Buffer.from([(MT_SIMPLE << 5) | SIMPLE_NULL]));
  else if (v === true) w.push(Buffer.from([(MT_SIMPLE << 5) | SIMPLE_TRUE]));
  else if (v === false) w.push(Buffer.from([(MT_SIMPLE << 5) | SIMPLE_FALSE]));
  else if (typeof v === 'number' || typeof v === 'bigint') encodeInt(w, v);
  else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    w.head(MT_TSTR, b.length);
    w.push(b);
  } else if (v instanceof Uint8Array) {
    w.head(MT_BSTR, v.length);
    w.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  } else if (Array.isArray(v)) {
    w.head(MT_ARRAY, v.length);
    for (const x of v) encodeItem(w, x, depth + 1);
  } else if (v instanceof Map) {
    w.head(MT_MAP, v.size);
    for (const [k, x] of v) {
      encodeKey(w, k);
      encodeItem(w, x, depth + 1);
    }
  } else if (v instanceof CborTagged) {
    w.head(MT_TAG, v.tag);
    encodeItem(w, v.value, depth + 1);
  } else if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    w.head(MT_MAP, entries.length);
    for (const [k, x] of entries) {
      encodeKey(w, k);
      encodeItem(w, x, depth + 1);
    }
  } else {
    throw new TypeError(`CBOR encoder: cannot encode ${typeof v}`);
  }
}

/**
 * Encodes a value. Maps keep their insertion order; plain objects become maps with text
 * keys (undefined members are left out). Numbers must be safe integers.
 */
export function encodeCbor(v: unknown): Buffer {
  const w = new Writer();
  encodeItem(w, v, 0);
  return w.result();
}

// ---------------------------------------------------------------- decoder

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly maxDepth: number,
    readonly tags: ReadonlySet<number>,
  ) {}

  fail(reason: string, at = this.pos): never {
    throw new CborError(reason, at);
  }

  byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail('unexpected end of input');
    this.pos++;
    return b;
  }

  /** Reads the argument of a head; returns a bigint to keep 64-bit values exact. */
  argument(info: number, start: number): bigint {
    if (info < 24) return BigInt(info);
    let n: bigint;
    let min: bigint;
    if (info === 24) {
      n = BigInt(this.take(1)[0] ?? 0);
      min = 24n;
    } else if (info === 25) {
      n = BigInt(this.take(2).readUInt16BE(0));
      min = 0x100n;
    } else if (info === 26) {
      n = BigInt(this.take(4).readUInt32BE(0));
      min = 0x10000n;
    } else if (info === 27) {
      n = this.take(8).readBigUInt64BE(0);
      min = 0x100000000n;
    } else if (info === 31) {
      this.fail('indefinite lengths are not supported', start);
    } else {
      this.fail(`reserved additional information ${info}`, start);
    }
    if (n < min) this.fail('non-minimal encoding of an integer or length', start);
    return n;
  }

  take(n: number): Buffer {
    if (n > this.buf.length - this.pos) this.fail(`a ${n}-byte item runs past the end of input`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A length that must fit in what is left (each counted item needs at least one byte). */
  length(arg: bigint, start: number): number {
    const left = this.buf.length - this.pos;
    if (arg > BigInt(left)) this.fail(`a length of ${arg} exceeds the ${left} bytes left`, start);
    return Number(arg);
  }

  item(depth: number): CborValue {
    const start = this.pos;
    const ib = this.byte();
    const major = ib >> 5;
    const info = ib & 0x1f;
    if (major === MT_SIMPLE) {
      if (info === SIMPLE_FALSE) return false;
      if (info === SIMPLE_TRUE) return true;
      if (info === SIMPLE_NULL) return null;
      if (info === 31) this.fail('a break outside an indefinite-length item', start);
      if (info >= 25 && info <= 27) this.fail('floating-point numbers are not supported', start);
      this.fail(`the simple value ${info} is not supported`, start);
    }
    const arg = this.argument(info, start);
    switch (major) {
      case MT_UINT:
        return arg <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(arg) : arg;
      case MT_NINT: {
        const v = -1n - arg;
        return v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
      }
      case MT_BSTR:
        return Buffer.from(this.take(this.length(arg, start)));
      case MT_TSTR: {
        const b = this.take(this.length(arg, start));
        let s: string;
        try {
          s = utf8.decode(b);
        } catch {
          return this.fail('a text string is not valid UTF-8', start);
        }
        return s;
      }
      case MT_ARRAY: {
        if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, start);
        const n = this.length(arg, start);
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case MT_MAP: {
        if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, start);
        const n = this.length(arg * 2n, start);
        const out: CborMap = new Map();
        for (let i = 0; i < n / 2; i++) {
          const kAt = this.pos;
          const k = this.item(depth + 1);
          if (typeof k !== 'string' && typeof k !== 'number' && typeof k !== 'bigint') this.fail('a map key is neither an integer nor a text string', kAt);
          if (out.has(k)) this.fail(`the map key ${JSON.stringify(typeof k === 'bigint' ? k.toString() : k)} appears twice`, kAt);
          out.set(k, this.item(depth + 1));
        }
        return out;
      }
      case MT_TAG: {
        if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, start);
        if (arg > 0xffffffffn || !this.tags.has(Number(arg))) this.fail(`the tag ${arg} is not accepted`, start);
        return new CborTagged(Number(arg), this.item(depth + 1));
      }
      default:
        return this.fail(`unknown major type ${major}`, start);
    }
  }
}

/** Decodes exactly one CBOR item that fills the whole input. Throws CborError. */
export function decodeCbor(input: Uint8Array, opts: DecodeOptions = {}): CborValue {
  const maxBytes = opts.maxBytes ?? 1 << 20;
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length > maxBytes) throw new CborError(`the input is ${buf.length} bytes, more than the ${maxBytes} accepted`, 0);
  if (buf.length === 0) throw new CborError('the input is empty', 0);
  const r = new Reader(buf, opts.maxDepth ?? 16, new Set(opts.allowedTags ?? [18]));
  const v = r.item(0);
  if (r.pos !== buf.length) r.fail(`${buf.length - r.pos} trailing bytes after the item`);
  return v;
}
