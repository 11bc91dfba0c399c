import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControllerError } from '../errors.js';
import { checkFreshness, COMMAND_TYPES, EBS_DIRECT_COMMAND_EXAMPLES, parseCommand, parseCommandBody, peekIdentity, redact } from './commands.js';
import { isVpcCommandType, VPC_COMMAND_EXAMPLES } from './vpc-commands.js';

const ID = '0b6f8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const env = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  v: 1,
  id: ID,
  type: 'host.status',
  params: {},
  issuedAt: '2026-01-01T00:00:00.000Z',
  sig: 'AAAA',
  ...over,
});
const spec = {
  instanceId: 'i-0123456789abcdef0',
  instanceType: 't3.micro',
  image: { kernel: '/c/vmlinux', initrd: '/c/initrd', cmdline: 'console=ttyS0', kernelSha256: 'a'.repeat(64), initrdSha256: 'b'.repeat(64) },
};

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ControllerError, `expected a ControllerError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected a refusal');
}

test('a well-formed envelope parses into the discriminated union', () => {
  const c = parseCommand(env());
  assert.equal(c.type, 'host.status');
  assert.equal(c.id, ID);
  const s = parseCommand(env({ type: 'instance.start', params: { spec } }));
  assert.equal(s.type, 'instance.start');
  if (s.type === 'instance.start') assert.equal(s.params.spec.instanceType, 't3.micro');
  const q = parseCommand(env({ type: 'instance.qmp', params: { instanceId: 'i-0123456789abcdef0', execute: 'query-status' } }));
  assert.deepEqual(q.params, { instanceId: 'i-0123456789abcdef0', execute: 'query-status' });
  const st = parseCommand(env({ type: 'instance.stop', params: { instanceId: 'i-0123456789abcdef0', force: true, deadlineMs: 1000 } }));
  assert.deepEqual(st.params, { instanceId: 'i-0123456789abcdef0', force: true, deadlineMs: 1000 });
});

test('every listed type has a parser', () => {
  for (const t of COMMAND_TYPES) {
    const params = isVpcCommandType(t)
      ? VPC_COMMAND_EXAMPLES[t]
      : t in EBS_DIRECT_COMMAND_EXAMPLES ? EBS_DIRECT_COMMAND_EXAMPLES[t as keyof typeof EBS_DIRECT_COMMAND_EXAMPLES]
      : t === 'host.attest' ? { nonce: 'ab'.repeat(32) } : t === 'instance.tpm-ekpub' ? { instanceId: 'i-01234567', keyType: 'rsa', keyFormat: 'der' } : t === 'instance.start' ? { spec } : t === 'host.restart-component' ? { component: 'hypervisor' } : t === 'host.update' ? { component: 'ebs', bundle: '/opt/nitride/rel/ebs-card' } : t === 'volume.attach' ? { instanceId: 'i-01234567', volumeId: 'vol-01234567', sizeBytes: 4096, sealedKey: null } : t === 'volume.detach' ? { instanceId: 'i-01234567', volumeId: 'vol-01234567' } : t === 'volume.delete' ? { volumeId: 'vol-01234567' } : t === 'snapshot.delete' ? { snapshotId: 'snap-01234567' } : t === 'snapshot.copy' ? { sourceSnapshotId: 'snap-01234567', snapshotId: 'snap-89abcdef', sourceKey: null, key: null } : t === 'snapshot.create' || t === 'volume.from-snapshot' ? { volumeId: 'vol-01234567', snapshotId: 'snap-01234567', sizeBytes: 4096 } : t === 'instance.qmp' ? { instanceId: 'i-01234567', execute: 'query-status' } : t.startsWith('instance.') && t !== 'instance.list' ? { instanceId: 'i-01234567' } : {};
    assert.equal(parseCommandBody(t, params).type, t);
  }
});

test('EBS direct commands: a block is exactly 512 KiB of base64, and the audit record keeps only its size', () => {
  const put = EBS_DIRECT_COMMAND_EXAMPLES['snapshot.put-block'];
  assert.equal(code(() => parseCommandBody('snapshot.put-block', { ...put, data: 'AAAA' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('snapshot.put-block', { ...put, checksum: 'x' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('snapshot.begin', { snapshotId: 'snap-01234567', sizeBytes: 4096, key: null })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('snapshot.get-block', { snapshotId: 'vol-01234567', blockIndex: 0, key: null })), 'InvalidParameter');
  assert.deepEqual(redact(put), { snapshotId: 'snap-01234567', blockIndex: 0, data: `[${(put['data'] as string).length} base64 characters]`, checksum: put['checksum'] });
});

test('envelope refusals have stable codes', () => {
  assert.equal(code(() => parseCommand('x')), 'MalformedCommand');
  assert.equal(code(() => parseCommand(null)), 'MalformedCommand');
  assert.equal(code(() => parseCommand([])), 'MalformedCommand');
  assert.equal(code(() => parseCommand(env({ v: 2 }))), 'UnsupportedVersion');
  assert.equal(code(() => parseCommand(env({ v: undefined }))), 'UnsupportedVersion');
  assert.equal(code(() => parseCommand(env({ id: 'nope' }))), 'MalformedCommand');
  assert.equal(code(() => parseCommand(env({ issuedAt: 'yesterday' }))), 'MalformedCommand');
  assert.equal(code(() => parseCommand(env({ sig: 42 }))), 'MalformedCommand');
  assert.equal(code(() => parseCommand(env({ sig: 'not base64!' }))), 'MalformedCommand');
  assert.equal(code(() => parseCommand(env({ extra: 1 }))), 'InvalidParameter');
  assert.equal(code(() => parseCommand(env({ type: 'host.shell' }))), 'UnknownCommandType');
  assert.equal(code(() => parseCommand(env({ type: 7 }))), 'MalformedCommand');
});

test('params refusals name the field', () => {
  assert.equal(code(() => parseCommandBody('host.attest', { nonce: 'ab' })), 'InvalidParameter'); // shorter than 16 bytes
  assert.equal(code(() => parseCommandBody('host.attest', { nonce: 'ab'.repeat(32), extra: 1 })), 'InvalidParameter');
  assert.deepEqual(parseCommandBody('host.attest', { nonce: 'ab'.repeat(32), userData: '00' }).params, { nonce: 'ab'.repeat(32), userData: '00' });
  assert.equal(code(() => parseCommandBody('host.status', { x: 1 })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('host.status', [])), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('host.restart-component', { component: 'vpc-x' })), 'InvalidParameter');
  assert.equal(parseCommandBody('host.restart-component', { component: 'ebs' }).type, 'host.restart-component');
  assert.equal(code(() => parseCommandBody('volume.attach', { instanceId: 'i-01234567', volumeId: 'vol-01234567', sizeBytes: 4095, sealedKey: null })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('volume.attach', { instanceId: 'i-01234567', volumeId: 'vol-01234567', sizeBytes: 4096, sealedKey: 'not base64!' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.describe', { instanceId: 'vol-1' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.describe', {})), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.stop', { instanceId: 'i-01234567', force: 'yes' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.stop', { instanceId: 'i-01234567', deadlineMs: -1 })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.qmp', { instanceId: 'i-01234567', execute: 'a b' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.qmp', { instanceId: 'i-01234567', execute: 'x', arguments: [] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, image: { ...spec.image, kernel: 'relative' } } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, image: { ...spec.image, kernelSha256: 'xyz' } } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, hotplugSlots: 99 } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, nics: [{ mac: 'zz', socketPath: '/s' }] } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, surprise: true } })), 'InvalidParameter');
  try {
    parseCommandBody('instance.describe', { instanceId: 'i-01234567', other: 1 });
  } catch (e) {
    assert.match((e as Error).message, /unknown field 'other'/);
    assert.equal((e as ControllerError).kind, 'invalid');
  }
});

test('instance.start of an EBS-backed instance: spec.bootDisk instead of image, with rootVolume for the card; refusals are InvalidParameter', () => {
  const { image: _image, ...noImage } = spec;
  const bootDisk = { volumeId: 'vol-0123456789abcdef0', firmware: 'uefi' };
  const rootVolume = { sizeBytes: 2 ** 30, sealedKey: null };
  const s = parseCommandBody('instance.start', { spec: { ...noImage, bootDisk }, rootVolume });
  assert.ok(s.type === 'instance.start');
  assert.deepEqual(s.params.spec.bootDisk, bootDisk);
  assert.equal(s.params.spec.image, undefined);
  assert.deepEqual(s.params.rootVolume, rootVolume);
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...spec, bootDisk }, rootVolume })), 'InvalidParameter'); // both
  assert.equal(code(() => parseCommandBody('instance.start', { spec: noImage })), 'InvalidParameter'); // neither
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...noImage, bootDisk: { volumeId: 'vol-x' } } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...noImage, bootDisk }, rootVolume: { sizeBytes: 1000, sealedKey: null } })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('instance.start', { spec: { ...noImage, bootDisk }, rootVolume: { ...rootVolume, extra: 1 } })), 'InvalidParameter');
});

test('freshness window: 5 minutes old, 1 minute ahead', () => {
  const now = Date.parse('2026-01-01T00:10:00.000Z');
  checkFreshness('2026-01-01T00:05:30.000Z', now);
  checkFreshness('2026-01-01T00:10:50.000Z', now);
  assert.equal(code(() => checkFreshness('2026-01-01T00:04:59.000Z', now)), 'CommandExpired');
  assert.equal(code(() => checkFreshness('2026-01-01T00:11:30.000Z', now)), 'CommandFromFuture');
});

test('peekIdentity and redact', () => {
  assert.deepEqual(peekIdentity({ id: 'x', type: 'y' }), { id: 'x', type: 'y' });
  assert.deepEqual(peekIdentity('nope'), {});
  assert.deepEqual(redact({ a: 1, userData: 'x', nested: [{ kmsKeyId: 'k', token: 't', Secret: 's' }] }), {
    a: 1,
    userData: '[redacted]',
    nested: [{ kmsKeyId: '[redacted]', token: '[redacted]', Secret: '[redacted]' }],
  });
});

test('a seeded random-bytes loop only ever yields clean refusals', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pieces = ['{', '}', '"v":1', '"id":', `"${ID}"`, '"type":', '"instance.qmp"', '"params":', '{}', '[', ']', ',', 'null', '"x"', '1e999', '"issuedAt":"2026-01-01T00:00:00Z"', '"sig":"AA=="'];
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 14);
    for (let j = 0; j < n; j++) s += pieces[Math.floor(rnd() * pieces.length)];
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch {
      continue;
    }
    try {
      parseCommand(v);
    } catch (e) {
      assert.ok(e instanceof ControllerError, `non-clean error for ${s}: ${String(e)}`);
      assert.equal(e.kind, 'invalid');
    }
  }
});
