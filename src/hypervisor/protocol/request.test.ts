import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHypervisorRequest } from './request.js';
import { parseInstanceSpec as validateSpec } from './instance-spec.js';

const sha = 'a'.repeat(64);
const spec = { instanceId: 'i-0123456789abcdef0', instanceType: 't3.nano', image: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0', kernelSha256: sha, initrdSha256: sha } };

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'no error';
};

test('request: well-formed requests come back typed', () => {
  assert.deepEqual(parseHypervisorRequest({ v: 1, id: 1, op: 'host.info' }), { v: 1, id: 1, op: 'host.info', params: {} });
  assert.deepEqual(parseHypervisorRequest({ v: 1, id: 2, op: 'instance.start', params: { spec } }).params, { spec });
  assert.deepEqual(parseHypervisorRequest({ v: 1, id: 3, op: 'instance.stop', params: { instanceId: spec.instanceId, force: true } }).params, { instanceId: spec.instanceId, force: true });
  assert.deepEqual(parseHypervisorRequest({ v: 1, id: 4, op: 'instance.qmp', params: { instanceId: spec.instanceId, execute: 'query-status' } }).params, {
    instanceId: spec.instanceId,
    execute: 'query-status',
  });
});

test('request: malformed envelopes, ids, specs and params are refused', () => {
  assert.equal(code(() => parseHypervisorRequest(null)), 'MalformedRequest');
  assert.equal(code(() => parseHypervisorRequest({ v: 2, id: 1, op: 'host.info' })), 'MalformedRequest');
  assert.equal(code(() => parseHypervisorRequest({ v: 1, op: 'host.info' })), 'MalformedRequest');
  assert.equal(code(() => parseHypervisorRequest({ v: 1, id: 1, op: 'nope' })), 'MalformedRequest');
  assert.equal(code(() => parseHypervisorRequest({ v: 1, id: 1, op: 'instance.describe', params: { instanceId: '../x' } })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parseHypervisorRequest({ v: 1, id: 1, op: 'instance.stop', params: { instanceId: spec.instanceId, deadlineMs: 1e9 } })), 'MalformedRequest');
  assert.equal(code(() => validateSpec({ ...spec, image: { ...spec.image, kernel: 'relative' } })), 'MalformedRequest');
  assert.equal(code(() => validateSpec({ ...spec, image: { ...spec.image, kernelSha256: 'abc' } })), 'MalformedRequest');
  assert.equal(code(() => validateSpec({ ...spec, hotplugSlots: 99 })), 'MalformedRequest');
  assert.equal(code(() => parseHypervisorRequest({ v: 1, id: 1, op: 'instance.tpm-ekpub', params: { instanceId: spec.instanceId, keyType: 'dsa', keyFormat: 'der' } })), 'MalformedRequest');
  assert.equal(parseHypervisorRequest({ v: 1, id: 1, op: 'instance.tpm-ekpub', params: { instanceId: spec.instanceId, keyType: 'rsa', keyFormat: 'tpmt' } }).op, 'instance.tpm-ekpub');
  assert.equal(code(() => validateSpec({ ...spec, tpm: { key: Buffer.alloc(16).toString('base64') } })), 'MalformedRequest'); // not 32 bytes
  assert.equal(code(() => validateSpec({ ...spec, tpm: { key: Buffer.alloc(32).toString('base64'), extra: 1 } })), 'MalformedRequest');
  assert.deepEqual(validateSpec({ ...spec, tpm: { key: Buffer.alloc(32, 7).toString('base64') } }).tpm, { key: Buffer.alloc(32, 7).toString('base64') });
  assert.equal(code(() => validateSpec({ ...spec, nics: [{ mac: 'zz', socketPath: '/s' }] })), 'MalformedRequest');
  assert.equal(code(() => validateSpec({ ...spec, nics: [{ mac: '02:00:00:00:00:01', socketPath: '/s,server=on' }] })), 'MalformedRequest');
});
