import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyQmp, encodeQmpCommand, parseQmpLine, QMP_MAX_LINE, type QmpMessage, QmpDecoder } from './qmp.js';

// A greeting exactly as QEMU 7.2 sends it.
const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}}\r\n';

test('qmp: decodes a greeting, returns, errors and events split at arbitrary bytes', () => {
  const stream = Buffer.from(
    GREETING +
      '{"return": {}, "id": "n1"}\r\n' +
      '{"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}\r\n' +
      '{"id": "n2", "error": {"class": "CommandNotFound", "desc": "The command foo has not been found"}}\r\n' +
      '{"return": {"status": "running", "running": true}, "id": "n3"}\n',
  );
  for (const step of [1, 3, 7, 64, stream.length]) {
    const d = new QmpDecoder();
    const out: QmpMessage[] = [];
    for (let i = 0; i < stream.length; i += step) out.push(...d.push(stream.subarray(i, i + step)));
    assert.deepEqual(out, [
      { type: 'greeting', version: { major: 7, minor: 2, micro: 22 }, capabilities: ['oob'] },
      { type: 'return', id: 'n1', value: {} },
      { type: 'event', event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: { seconds: 1700000000, microseconds: 5 } },
      { type: 'error', id: 'n2', errorClass: 'CommandNotFound', desc: 'The command foo has not been found' },
      { type: 'return', id: 'n3', value: { status: 'running', running: true } },
    ]);
  }
});

test('qmp: malformed input becomes invalid messages, never an exception', () => {
  assert.equal(parseQmpLine('{').type, 'invalid');
  assert.equal(parseQmpLine('[1,2]').type, 'invalid');
  assert.equal(parseQmpLine('"x"').type, 'invalid');
  assert.equal(parseQmpLine('{"event": 5}').type, 'invalid');
  assert.equal(parseQmpLine('{"error": "x"}').type, 'invalid');
  assert.equal(parseQmpLine('{"QMP": 1}').type, 'invalid');
  assert.equal(classifyQmp(null).type, 'invalid');
  assert.deepEqual(parseQmpLine('{"return": 1, "id": {"x": 1}}'), { type: 'return', id: undefined, value: 1 });
});

test('qmp: an over-long line is dropped and the stream recovers', () => {
  const d = new QmpDecoder();
  const big = Buffer.alloc(QMP_MAX_LINE + 10, 0x61);
  const a = d.push(big);
  assert.equal(a.length, 1);
  assert.equal(a[0]?.type, 'invalid');
  assert.deepEqual(d.push(Buffer.from('aaaa\n{"return": {}, "id": "n9"}\n')), [{ type: 'return', id: 'n9', value: {} }]);
});

test('qmp: encodes commands as one JSON line with an id', () => {
  assert.equal(encodeQmpCommand('query-status', undefined, 'n1').toString(), '{"execute":"query-status","id":"n1"}\n');
  const b = encodeQmpCommand('device_del', { id: 'd0' }, 'n2');
  assert.deepEqual(JSON.parse(b.toString()), { execute: 'device_del', id: 'n2', arguments: { id: 'd0' } });
  assert.equal(b.toString().indexOf('\n'), b.length - 1);
});

/** xorshift32: a seeded generator so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test('qmp: fuzz — random bytes and mutated replies never throw out of the decoder', () => {
  const seed = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 0x5eed);
  const next = rng(seed);
  const corpus = [GREETING, '{"return": {}, "id": "n1"}\n', '{"event": "STOP", "data": {}}\n', '{"error": {"class": "GenericError", "desc": "x"}, "id": 3}\n'];
  const alphabet = Buffer.from('{}[]":,\\\n\r\t 0123456789abcdefnulltrue-+.eE\u00ff\u0000');
  let messages = 0;
  for (let iter = 0; iter < 3000; iter++) {
    const d = new QmpDecoder();
    const base = Buffer.from(corpus[next() % corpus.length] ?? '');
    let buf: Buffer;
    switch (next() % 3) {
      case 0: // pure random bytes
        buf = Buffer.alloc(next() % 512);
        for (let i = 0; i < buf.length; i++) buf[i] = next() & 0xff;
        break;
      case 1: // random JSON-ish tokens
        buf = Buffer.alloc(next() % 512);
        for (let i = 0; i < buf.length; i++) buf[i] = alphabet[next() % alphabet.length] ?? 0;
        break;
      default: // a valid reply with a few bytes flipped, dropped or duplicated
        buf = Buffer.from(base);
        for (let k = next() % 6; k > 0; k--) {
          const at = next() % Math.max(1, buf.length);
          const op = next() % 3;
          if (op === 0) buf[at] = next() & 0xff;
          else if (op === 1) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
          else buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at, at + 8), buf.subarray(at)]);
        }
    }
    let out: QmpMessage[] = [];
    assert.doesNotThrow(() => {
      for (let i = 0; i < buf.length; ) {
        const n = 1 + (next() % 64);
        out = out.concat(d.push(buf.subarray(i, i + n)));
        i += n;
      }
      out = out.concat(d.push(Buffer.from('\n')));
    }, `seed ${seed} iteration ${iter}`);
    for (const m of out) {
      assert.ok(['greeting', 'return', 'error', 'event', 'invalid'].includes(m.type));
      if (m.type === 'invalid') assert.equal(typeof m.reason, 'string');
    }
    messages += out.length;
  }
  assert.ok(messages > 0);
});
