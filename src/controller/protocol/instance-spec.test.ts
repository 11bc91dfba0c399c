import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandBody } from './commands.js';
import { parseInstanceSpec, SPEC_LIMITS } from '../../hypervisor/protocol/instance-spec.js';
import { parseHypervisorRequest } from '../../hypervisor/protocol/request.js';

const sha = 'a'.repeat(64);
const spec = { instanceId: 'i-0123456789abcdef0', instanceType: 't3.nano', image: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0', kernelSha256: sha, initrdSha256: sha } };
const nic = (i: number): { mac: string; socketPath: string } => ({ mac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, socketPath: `/run/eni-${i}.sock` });

/** What the controller (from the region) and the hypervisor (from the controller) say about one spec. */
function verdicts(s: unknown): [string, string] {
  const one = (f: () => unknown): string => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return (e as { code: string }).code;
    }
  };
  return [one(() => parseCommandBody('instance.start', { spec: s })), one(() => parseHypervisorRequest({ v: 1, id: 1, op: 'instance.start', params: { spec: s } }))];
}

test('instance spec: the controller and the hypervisor hold a spec to the same limits', () => {
  assert.deepEqual(verdicts(spec), ['ok', 'ok']);
  const long = { ...spec, image: { ...spec.image, cmdline: 'x'.repeat(3000) } };
  assert.deepEqual(verdicts(long), ['InvalidParameter', 'MalformedRequest'], 'a 3000-character cmdline is refused at the first door, not at the second');
  const atLimit = { ...spec, image: { ...spec.image, cmdline: 'x'.repeat(SPEC_LIMITS.cmdlineChars) } };
  assert.deepEqual(verdicts(atLimit), ['ok', 'ok']);
  const eight = { ...spec, nics: Array.from({ length: SPEC_LIMITS.nics }, (_, i) => nic(i)) };
  assert.deepEqual(verdicts(eight), ['ok', 'ok']);
  const nine = { ...spec, nics: Array.from({ length: SPEC_LIMITS.nics + 1 }, (_, i) => nic(i)) };
  assert.deepEqual(verdicts(nine), ['InvalidParameter', 'MalformedRequest']);
  assert.deepEqual(verdicts({ ...spec, hotplugSlots: SPEC_LIMITS.hotplugSlots + 1 }), ['InvalidParameter', 'MalformedRequest']);
  assert.deepEqual(verdicts({ ...spec, surprise: 1 }), ['InvalidParameter', 'MalformedRequest']);
  assert.deepEqual(verdicts({ ...spec, instanceType: 'T3 nano' }), ['InvalidParameter', 'MalformedRequest']);
  assert.deepEqual(verdicts({ ...spec, instanceType: 'z9.galactic' }), ['InvalidInstanceType', 'InvalidInstanceType'], 'the catalogue is checked once, where the spec is parsed, with the same code at both doors');
});

test('instance spec: volumes are kept by the hypervisor (spec.json) but come from the region only through volume.attach', () => {
  const withVolume = { ...spec, volumes: [{ volumeId: 'vol-0123456789abcdef0', serial: 'vol0123456789abcdef0', socketName: 'ebs-vol-0123456789abcdef0.sock' }] };
  assert.deepEqual(parseInstanceSpec(withVolume).volumes, withVolume.volumes);
  assert.deepEqual(verdicts(withVolume), ['InvalidParameter', 'ok']);
});
