// instance.start's spec.tpm (NitroTPM): the region's per-instance vTPM key, base64 of 32
// bytes; anything else is refused, and a refusal never echoes the value.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ControllerError } from '../errors.js';
import { parseCommandBody, redact } from './commands.js';

const spec = {
  instanceId: 'i-0123456789abcdef0',
  instanceType: 't3.micro',
  image: { kernel: '/c/vmlinuz', initrd: '/c/initrd', cmdline: 'console=ttyS0', kernelSha256: 'a'.repeat(64), initrdSha256: 'b'.repeat(64) },
};

function refusal(fn: () => unknown): ControllerError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ControllerError, `expected a ControllerError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

test('instance.start accepts spec.tpm {key: base64 of 32 bytes} and keeps it in the typed spec', () => {
  const key = randomBytes(32).toString('base64');
  const c = parseCommandBody('instance.start', { spec: { ...spec, tpm: { key } } });
  assert.equal(c.type, 'instance.start');
  if (c.type === 'instance.start') assert.deepEqual(c.params.spec.tpm, { key });
  const plain = parseCommandBody('instance.start', { spec });
  if (plain.type === 'instance.start') assert.equal('tpm' in plain.params.spec, false);
});

test('instance.start refuses a malformed spec.tpm without echoing the key', () => {
  const short = randomBytes(31).toString('base64');
  const long = randomBytes(33).toString('base64');
  const good = randomBytes(32).toString('base64');
  for (const tpm of [{ key: short }, { key: long }, { key: good.replace(/=$/, '') }, { key: `${good.slice(0, 10)}*${good.slice(11)}` }, { key: '' }, { key: 7 }, {}, { key: good, extra: 1 }, 'x', null, [good]]) {
    const e = refusal(() => parseCommandBody('instance.start', { spec: { ...spec, tpm } }));
    assert.equal(e.code, 'InvalidParameter', JSON.stringify(tpm));
    const said = `${e.message} ${JSON.stringify(e.context)}`;
    for (const k of [short, long, good]) assert.ok(!said.includes(k), 'the refusal does not carry the key');
  }
});

test('the audit redaction hides spec.tpm.key', () => {
  const key = randomBytes(32).toString('base64');
  const out = JSON.stringify(redact({ spec: { ...spec, tpm: { key } } }));
  assert.ok(!out.includes(key));
  assert.match(out, /"tpm":\{"key":"\[redacted\]"\}/);
});
