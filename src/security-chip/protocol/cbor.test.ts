import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decoder, Encoder } from 'cbor-x';
import { CborError, CborTagged, decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { seededRandom } from '../../lib/testing/seeded-rng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 8949 Appendix A examples within the supported subset: [value, encoding].
const VECTORS: [CborValue, string][] = [
  [0, '00'],
  [1, '01'],
  [10, '0a'],
  [23, '17'],
  [24, '1818'],
  [25, '1819'],
  [100, '1864'],
  [1000, '1903e8'],
  [1000000, '1a000f4240'],
  [1000000000000, '1b000000e8d4a51000'],
  [18446744073709551615n, '1bffffffffffffffff'],
  [-18446744073709551616n, '3bffffffffffffffff'],
  [-1, '20'],
  [-10, '29'],
  [-100, '3863'],
  [-1000, '3903e7'],
  [false, 'f4'],
  [true, 'f5'],
  [null, 'f6'],
  [Buffer.alloc(0), '40'],
  [hex('01020304'), '4401020304'],
  ['', '60'],
  ['a', '6161'],
  ['IETF', '6449455446'],
  ['"\\', '62225c'],
  ['\u00fc', '62c3bc'],
  ['\u6c34', '63e6b0b4'],
  ['\u{10151}', '64f0908591'],
  [[], '80'],
  [[1, 2, 3], '83010203'],
  [[1, [2, 3], [4, 5]], '8301820203820405'],
  [Array.from({ length: 25 }, (_, i) => i + 1), '98190102030405060708090a0b0c0d0e0f101112131415161718181819'],
  [new Map(), 'a0'],
  [new Map([[1, 2], [3, 4]]), 'a201020304'],
  [new Map<string, CborValue>([['a', 1], ['b', [2, 3]]]), 'a26161016162820203'],
  [['a', new Map([['b', 'c']])], '826161a161626163'],
  [new CborTagged(18, [1]), 'd28101'],
];

// RFC 8949 Appendix A encodings (and others) outside the strict subset, with why.
const REJECTED: [string, string][] = [
  ['f90000', 'floating-point'],
  ['fb3ff199999999999a', 'floating-point'],
  ['f7', 'simple value 23'],
  ['f0', 'simple value 16'],
  ['f818', 'simple value'],
  ['c074323031332d30332d32315432303a30343a30305a', 'tag 0'],
  ['c249010000000000000000', 'tag 2'],
  ['5f42010243030405ff', 'indefinite'],
  ['7f657374726561646d696e67ff', 'indefinite'],
  ['9fff', 'indefinite'],
  ['bf61610161629f0203ffff', 'indefinite'],
  ['ff', 'break'],
  ['1817', 'non-minimal'],
  ['190017', 'non-minimal'],
  ['1a0000ffff', 'non-minimal'],
  ['1b00000000ffffffff', 'non-minimal'],
  ['5801ff', 'non-minimal'],
  ['1c', 'reserved'],
  ['0000', 'trailing'],
  ['', 'empty'],
  ['18', 'end of input'],
  ['4401', 'exceeds the 1 bytes left'],
  ['5bffffffffffffffff00', 'exceeds'],
  ['9bffffffffffffffff', 'exceeds'],
  ['bbffffffffffffffff', 'exceeds'],
  ['a20102', 'exceeds'],
  ['a201020103', 'twice'],
  ['a1f601', 'neither an integer nor a text'],
  ['a14001', 'neither an integer nor a text'],
  ['62c328', 'UTF-8'],
  ['63eda080', 'UTF-8'], // a UTF-16 surrogate encoded as UTF-8
];

describe('CBOR codec', () => {
  it('encodes and decodes the RFC 8949 Appendix A vectors it supports', () => {
    for (const [value, enc] of VECTORS) {
      assert.equal(encodeCbor(value).toString('hex'), enc, `encode ${enc}`);
      assert.deepEqual(decodeCbor(hex(enc)), value, `decode ${enc}`);
    }
  });

  it('refuses encodings outside the strict subset with CborMalformed and the offset', () => {
    for (const [enc, why] of REJECTED) {
      assert.throws(
        () => decodeCbor(hex(enc)),
        (e: unknown) => e instanceof CborError && e.code === 'CborMalformed' && typeof e.context['offset'] === 'number' && e.message.includes(why),
        `${enc} (${why})`,
      );
    }
  });

  it('refuses depth bombs, over-long input and unlisted tags', () => {
    const bomb = Buffer.concat([Buffer.alloc(100_000, 0x81), hex('00')]);
    assert.throws(() => decodeCbor(bomb, { maxBytes: 200_000 }), /nesting deeper than 16/);
    const mapBomb = Buffer.concat([Buffer.alloc(40, 0xa1).map((_, i) => (i % 2 === 0 ? 0xa1 : 0x01)), hex('00')]);
    assert.throws(() => decodeCbor(mapBomb), /nesting deeper|end of input/);
    assert.throws(() => decodeCbor(Buffer.alloc(2000, 0x00), { maxBytes: 1000 }), /more than the 1000 accepted/);
    assert.throws(() => decodeCbor(hex('d28101'), { allowedTags: [] }), /tag 18 is not accepted/);
    assert.throws(() => decodeCbor(hex('da0000001281 01'.replace(' ', ''))), /non-minimal|tag/);
    assert.deepEqual(decodeCbor(Buffer.concat([Buffer.alloc(16, 0x81), hex('00')])), [[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]);
  });

  it('encoder refuses what it cannot represent', () => {
    assert.throws(() => encodeCbor(1.5), /not an integer/);
    assert.throws(() => encodeCbor(undefined), /cannot encode/);
    assert.throws(() => encodeCbor(new Map([[true, 1]])), /map keys/);
    assert.throws(() => encodeCbor(2n ** 64n), /out of range/);
  });

  it('round-trips random values, and agrees with cbor-x both ways', () => {
    const rnd = prng(0x5eed);
    const ours = new Decoder({ mapsAsObjects: false });
    const theirs = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
    for (let n = 0; n < 2000; n++) {
      const v = randomValue(rnd, 0);
      const enc = encodeCbor(v);
      assert.deepEqual(decodeCbor(enc, { maxDepth: 64 }), v);
      assert.deepEqual(normalize(ours.decode(enc)), normalize(v), `cbor-x decodes ${enc.toString('hex')}`);
      if (!hasTag(v)) assert.deepEqual(decodeCbor(theirs.encode(wideAsBigint(v)), { maxDepth: 64 }), v, 'we decode cbor-x');
    }
  });

  it('fuzz: random and mutated bytes are decoded or refused with CborError, and what is accepted re-encodes identically', () => {
    const rnd = prng(0xf022);
    const seeds = VECTORS.map(([, e]) => hex(e)).concat([encodeCbor(randomValue(rnd, 0)), encodeCbor(randomValue(rnd, 0))]);
    let accepted = 0;
    for (let n = 0; n < 30_000; n++) {
      let input: Buffer;
      if (n % 2 === 0) input = Buffer.from(Array.from({ length: Math.floor(rnd() * 24) }, () => Math.floor(rnd() * 256)));
      else {
        input = Buffer.from(seeds[Math.floor(rnd() * seeds.length)] as Buffer);
        const edits = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < edits && input.length > 0; k++) {
          const at = Math.floor(rnd() * input.length);
          const op = rnd();
          if (op < 0.5) input[at] = Math.floor(rnd() * 256);
          else if (op < 0.75) input = input.subarray(0, at);
          else input = Buffer.concat([input.subarray(0, at), Buffer.from([Math.floor(rnd() * 256)]), input.subarray(at)]);
        }
      }
      let v: CborValue;
      try {
        v = decodeCbor(input);
      } catch (e) {
        assert.ok(e instanceof CborError, `a non-CborError escaped for ${input.toString('hex')}: ${String(e)}`);
        continue;
      }
      accepted++;
      assert.equal(encodeCbor(v).toString('hex'), input.toString('hex'), 'an accepted input re-encodes to the same bytes');
    }
    assert.ok(accepted > 1000, `the fuzzer exercised the accepting path (${accepted})`);
  });
});

const prng = seededRandom;

function randomValue(rnd: () => number, depth: number): CborValue {
  const r = Math.floor(rnd() * (depth > 4 ? 6 : 10));
  const ints = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER - 1];
  switch (r) {
    case 0: {
      const v = ints[Math.floor(rnd() * ints.length)] as number;
      return rnd() < 0.5 ? v : -v - 1;
    }
    case 1:
      return Math.floor(rnd() * 2 ** 40) - 2 ** 39;
    case 2:
      return Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
    case 3:
      return Array.from({ length: Math.floor(rnd() * 30) }, () => String.fromCodePoint(pick(rnd, [0x41 + Math.floor(rnd() * 26), 0xfc, 0x6c34, 0x1f600]))).join('');
    case 4:
      return pick(rnd, [true, false, null]);
    case 5:
      return rnd() < 0.5 ? 2n ** 63n + BigInt(Math.floor(rnd() * 1000)) : -(2n ** 63n) - BigInt(Math.floor(rnd() * 1000));
    case 6:
    case 7:
      return Array.from({ length: Math.floor(rnd() * 5) }, () => randomValue(rnd, depth + 1));
    case 8: {
      const m = new Map<number | string, CborValue>();
      const n = Math.floor(rnd() * 5);
      for (let i = 0; i < n; i++) m.set(rnd() < 0.5 ? Math.floor(rnd() * 100) - 50 : `k${Math.floor(rnd() * 100)}`, randomValue(rnd, depth + 1));
      return m;
    }
    default:
      return new CborTagged(18, randomValue(rnd, depth + 1));
  }
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

/** cbor-x writes integers beyond 32 bits given as numbers as floats; as bigints it writes integers. */
function wideAsBigint(v: CborValue): unknown {
  if (typeof v === 'number' && (v >= 0 ? v : -1 - v) >= 2 ** 32) return BigInt(v);
  if (Array.isArray(v)) return v.map(wideAsBigint);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, wideAsBigint(x)]));
  return v;
}

function hasTag(v: unknown): boolean {
  if (v instanceof CborTagged) return true;
  if (Array.isArray(v)) return v.some(hasTag);
  if (v instanceof Map) return [...v.values()].some(hasTag);
  return false;
}

/** cbor-x's shapes (Tag, Uint8Array, bigint for 64-bit) in ours, for comparison. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [normalizeInt(k), normalize(x)]));
  if (v instanceof CborTagged) return { tag: v.tag, value: normalize(v.value) };
  if (typeof v === 'object' && v !== null && 'tag' in v && 'value' in v) return { tag: (v as { tag: number }).tag, value: normalize((v as { value: unknown }).value) };
  return normalizeInt(v);
}

function normalizeInt(v: unknown): unknown {
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'number' && !Number.isSafeInteger(v)) return BigInt(v);
  return v;
}
