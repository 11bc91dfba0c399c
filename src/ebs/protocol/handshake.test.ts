import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as C from './constants.js';
import {
  decodeInfoRequest,
  decodeMetaContextRequest,
  decodeOptionHeader,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeMetaContext,
  encodeOptionReply,
  encodeServerEntry,
  encodeServerGreeting,
} from './handshake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('server greeting: NBDMAGIC IHAVEOPT and handshake flags', () => {
  assert.deepEqual(encodeServerGreeting(C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES), hex('4e42444d41474943 49484156454f5054 0003'));
});

test('option header: IHAVEOPT, option, length', () => {
  const h = decodeOptionHeader(hex('49484156454f5054 00000007 0000000a'));
  assert.deepEqual(h, { magicOk: true, option: C.NBD_OPT_GO, length: 10 });
  assert.equal(decodeOptionHeader(hex('49484156454f5055 00000007 0000000a')).magicOk, false);
});

test('option reply: magic 0x3e889045565a9, option, type, length, payload', () => {
  assert.deepEqual(encodeOptionReply(C.NBD_OPT_GO, C.NBD_REP_ACK), hex('0003e889045565a9 00000007 00000001 00000000'));
  assert.deepEqual(encodeOptionReply(C.NBD_OPT_LIST, C.NBD_REP_ERR_UNSUP, Buffer.from('x')), hex('0003e889045565a9 00000003 80000001 00000001 78'));
});

test('INFO/GO data: name and info requests; malformed data is rejected with a reason', () => {
  // name "ab", 2 requests: NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE
  const r = decodeInfoRequest(hex('00000002 6162 0002 0001 0003'));
  assert.deepEqual(r, { ok: true, value: { name: 'ab', infos: [1, 3] } });
  assert.equal(decodeInfoRequest(hex('00000002 6162 0002 0001')).ok, false); // count too large
  assert.equal(decodeInfoRequest(hex('000000ff 6162 0000')).ok, false); // name runs past the end
  assert.equal(decodeInfoRequest(hex('00000001 00 0000')).ok, false); // NUL in name
  assert.equal(decodeInfoRequest(hex('0000')).ok, false);
});

test('meta context data: name, count, queries', () => {
  const r = decodeMetaContextRequest(hex('00000000 00000001 0000000f')); // query runs past the end
  assert.equal(r.ok, false);
  const q = Buffer.concat([hex('00000000 00000001 0000000f'), Buffer.from('base:allocation')]);
  assert.deepEqual(decodeMetaContextRequest(q), { ok: true, value: { name: '', queries: ['base:allocation'] } });
  assert.equal(decodeMetaContextRequest(Buffer.concat([q, hex('00')])).ok, false); // trailing byte
  assert.deepEqual(encodeMetaContext(1, 'base:allocation'), Buffer.concat([hex('00000001'), Buffer.from('base:allocation')]));
});

test('info payloads and EXPORT_NAME reply', () => {
  assert.deepEqual(encodeInfoExport(0x100000000, 0x01ed), hex('0000 0000000100000000 01ed'));
  assert.deepEqual(encodeInfoBlockSize(1, 4096, 33554432), hex('0003 00000001 00001000 02000000'));
  assert.deepEqual(encodeExportNameReply(4096, 3, true), hex('0000000000001000 0003'));
  const full = encodeExportNameReply(4096, 3, false);
  assert.equal(full.length, 134);
  assert.ok(full.subarray(10).equals(Buffer.alloc(124)));
  assert.deepEqual(encodeServerEntry('ab', 'd'), hex('00000002 6162 64'));
});

test('decoders never throw on random bytes (seeded)', () => {
  let s = 12345;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.alloc(rnd(64));
    for (let j = 0; j < b.length; j++) b[j] = rnd(4) === 0 ? 0 : rnd(256);
    if (rnd(2) && b.length >= 4) b.writeUInt32BE(rnd(b.length), 0);
    const r1 = decodeInfoRequest(b);
    const r2 = decodeMetaContextRequest(b);
    assert.equal(typeof r1.ok, 'boolean');
    assert.equal(typeof r2.ok, 'boolean');
    if (b.length >= 16) decodeOptionHeader(b);
  }
});
