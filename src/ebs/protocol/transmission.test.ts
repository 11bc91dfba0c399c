import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as C from './constants.js';
import { decodeRequestHeader, encodeBlockStatus, encodeRequest, encodeSimpleReply, encodeStructuredError, writeOffsetDataPrefix } from './transmission.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('request header: magic, flags, type, cookie halves, offset, length', () => {
  const b = hex('25609513 0001 0001 0102030405060708 0000000100000200 00001000');
  assert.deepEqual(decodeRequestHeader(b), {
    magicOk: true,
    flags: C.NBD_CMD_FLAG_FUA,
    type: C.NBD_CMD_WRITE,
    cookieHi: 0x01020304,
    cookieLo: 0x05060708,
    offset: 0x100000200,
    length: 4096,
  });
  assert.deepEqual(encodeRequest(C.NBD_CMD_WRITE, 1, 0x0102030405060708n, 0x100000200n, 4096), b);
  assert.equal(decodeRequestHeader(hex('25609514 0000 0000 0000000000000000 0000000000000000 00000000')).magicOk, false);
  // offsets beyond 2^53 stay huge (never inside an export)
  assert.ok(decodeRequestHeader(hex('25609513 0000 0000 0000000000000000 ffffffffffffffff 00000001')).offset > 2 ** 63);
});

test('simple reply and structured chunks', () => {
  assert.deepEqual(encodeSimpleReply(C.NBD_EPERM, 1, 2), hex('67446698 00000001 00000001 00000002'));
  assert.deepEqual(encodeStructuredError(0, 9, C.NBD_EINVAL, 'no'), hex('668e33ef 0001 8001 00000000 00000009 00000008 00000016 0002 6e6f'));
  const b = Buffer.alloc(28 + 3);
  writeOffsetDataPrefix(b, 0, 0, 7, 0x100000000, 3, true);
  assert.deepEqual(b.subarray(0, 28), hex('668e33ef 0001 0001 00000000 00000007 0000000b 0000000100000000'));
  assert.deepEqual(
    encodeBlockStatus(0, 1, 1, [{ length: 4096, flags: 0 }, { length: 8192, flags: 3 }], true),
    hex('668e33ef 0001 0005 00000000 00000001 00000014 00000001 00001000 00000000 00002000 00000003'),
  );
});
