import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VpcError } from '../../errors.js';
import { buildQuery, buildResponse, encodeName, parseDnsMessage, questionSectionEnd, readName, truncateForUdp, rdataA, TYPE_A, TYPE_OPT, RCODE_NOERROR } from './message.js';

const isMalformed = (e: unknown): boolean => e instanceof VpcError && e.code === 'MalformedFrame';

// A query as `dig +edns ip-10-0-1-4.local-1.compute.internal A` writes it, by hand:
// id 0xbeef, RD, one question, one OPT record (UDP size 1232).
const DIG_QUERY = Buffer.from(
  'beef' + '0100' + '0001' + '0000' + '0000' + '0001' +
  '0b' + Buffer.from('ip-10-0-1-4').toString('hex') + '07' + Buffer.from('local-1').toString('hex') +
  '07' + Buffer.from('compute').toString('hex') + '08' + Buffer.from('internal').toString('hex') + '00' +
  '0001' + '0001' +
  '00' + '0029' + '04d0' + '00000000' + '0000',
  'hex',
);

test('a query as dig sends it: header, question, EDNS size', () => {
  const m = parseDnsMessage(DIG_QUERY);
  assert.equal(m.header.id, 0xbeef);
  assert.equal(m.header.rd, true);
  assert.equal(m.header.qr, false);
  assert.deepEqual(m.questions, [{ name: 'ip-10-0-1-4.local-1.compute.internal', type: TYPE_A, class: 1 }]);
  assert.equal(m.additional[0]?.type, TYPE_OPT);
  assert.equal(m.ednsUdpSize, 1232);
  assert.equal(m.questionEnd, DIG_QUERY.length - 11);
  assert.equal(questionSectionEnd(DIG_QUERY), m.questionEnd);
  assert.deepEqual(buildQuery(0xbeef, 'ip-10-0-1-4.local-1.compute.internal', TYPE_A, { ednsUdpSize: 1232 }), DIG_QUERY);
});

test('names: compression pointers backwards only, no loops, 255 octets at most, mixed case folded', () => {
  // "Foo.example" at 12, then "www" + pointer to 12.
  const b = Buffer.concat([Buffer.alloc(12), encodeName('Foo.example'), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12])]);
  assert.deepEqual(readName(b, 12), { name: 'foo.example', next: 25 });
  assert.deepEqual(readName(b, 25), { name: 'www.foo.example', next: 31 });
  // A pointer to itself, a pointer forwards, and a reserved label type are refused.
  assert.throws(() => readName(Buffer.from([0, 0, 0xc0, 2]), 2), isMalformed);
  assert.throws(() => readName(Buffer.from([0xc0, 2, 0]), 0), isMalformed);
  assert.throws(() => readName(Buffer.from([0x40, 0]), 0), isMalformed);
  // Two names pointing at each other.
  assert.throws(() => readName(Buffer.from([1, 0x61, 0xc0, 4, 1, 0x62, 0xc0, 0]), 4), isMalformed);
  // 128 one-octet labels are 257 octets with the root.
  assert.throws(() => readName(Buffer.from([...Array.from({ length: 128 }, () => [1, 0x61]).flat(), 0]), 0), isMalformed);
  assert.throws(() => encodeName('a'.repeat(64)), isMalformed);
  // Truncated in the middle of a label, of a pointer, of a question.
  assert.throws(() => readName(Buffer.from([3, 0x61]), 0), isMalformed);
  assert.throws(() => readName(Buffer.from([0xc0]), 0), isMalformed);
  assert.throws(() => parseDnsMessage(DIG_QUERY.subarray(0, 40)), isMalformed);
  assert.throws(() => parseDnsMessage(Buffer.alloc(11)), isMalformed);
});

test('a response: the question echoed, answers named by a pointer to it, read back', () => {
  const question = DIG_QUERY.subarray(12, DIG_QUERY.length - 11);
  const r = buildResponse({ id: 7, opcode: 0, rd: true, ra: false, aa: true, rcode: RCODE_NOERROR, question, answers: [{ type: TYPE_A, ttl: 60, data: rdataA(0x0a000104) }] });
  const m = parseDnsMessage(r);
  assert.equal(m.header.qr, true);
  assert.equal(m.header.aa, true);
  assert.equal(m.header.ra, false);
  assert.equal(m.answers.length, 1);
  assert.deepEqual({ ...m.answers[0], data: m.answers[0]?.data.toString('hex') }, { name: 'ip-10-0-1-4.local-1.compute.internal', type: TYPE_A, class: 1, ttl: 60, data: '0a000104' });
});

test('oversize for UDP: header and question alone, TC set', () => {
  const question = DIG_QUERY.subarray(12, DIG_QUERY.length - 11);
  const answers = Array.from({ length: 60 }, (_, i) => ({ type: TYPE_A, ttl: 60, data: rdataA(i) }));
  const big = buildResponse({ id: 9, opcode: 0, rd: true, ra: true, aa: false, rcode: 0, question, answers });
  assert.ok(big.length > 512);
  const cut = truncateForUdp(big, 12 + question.length, 512);
  const m = parseDnsMessage(cut);
  assert.equal(m.header.tc, true);
  assert.equal(m.header.id, 9);
  assert.equal(m.answers.length, 0);
  assert.equal(m.questions[0]?.name, 'ip-10-0-1-4.local-1.compute.internal');
  assert.equal(truncateForUdp(big, 12 + question.length, 4096), big);
});
