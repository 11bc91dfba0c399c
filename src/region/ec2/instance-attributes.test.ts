// Instance attributes the region honours, over a real SQLite state store: termination and stop
// protection refuse TerminateInstances / StopInstances with EC2's OperationNotPermitted before
// anything changes; a guest that powers itself off is terminated when its shutdown behaviour is
// terminate, stopped otherwise (and a guest its host lost is only ever stopped); type and user
// data change only while stopped. The "host" records the commands the region sends it and
// reports what a controller would (the real path runs in test/vm/ansible.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../store/sqlite-store.js';
import { Collection } from '../repo.js';
import { Ec2Error } from '../protocol/errors.js';
import { changedInstance } from './instance-attributes.js';
import { InstanceService, type HostFleet } from './instances.js';
import { attributesOf, type ImageRecord, type InstanceRecord } from './model.js';
import { testCaller as caller, testHost as host, testImage } from './instances.test-helper.js';

const AMI = 'ami-0123456789abcdef0';
const image = testImage(AMI);

const code = (e: unknown): string => (e instanceof Ec2Error ? e.code : `not an Ec2Error: ${String(e)}`);

async function withService(fn: (svc: InstanceService, instances: Collection<InstanceRecord>, sent: string[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-instance-attrs-'));
  const store = await SqliteStore.open(join(dir, 'state.db'));
  try {
    const instances = new Collection<InstanceRecord>(store, 'ec2/instances/');
    const images = new Collection<ImageRecord>(store, 'ec2/images/');
    await images.put(image);
    const sent: string[] = [];
    const fleet: HostFleet = {
      hosts: () => [host],
      placeable: async (ids) => new Set(ids),
      send: (async (_h: string, type: string, params: unknown) => {
        sent.push(`${type} ${(params as { instanceId?: string; spec?: { instanceId: string } }).instanceId ?? (params as { spec: { instanceId: string } }).spec.instanceId}`);
        return type === 'instance.start' ? { state: 'running', accel: 'tcg' } : {};
      }) as HostFleet['send'],
    };
    const svc = new InstanceService(instances, images, fleet);
    try {
      await fn(svc, instances, sent);
    } finally {
      await svc.idle();
      svc.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const run = (attributes: Partial<InstanceRecord['attributes']> = {}) => ({
  imageId: AMI,
  instanceType: 't3.nano',
  minCount: 1,
  maxCount: 1,
  userData: undefined,
  clientToken: undefined,
  tags: {},
  subnetId: undefined,
  securityGroupIds: [],
  privateIpAddress: undefined,
  keyName: undefined,
  attributes,
});

const info = (instanceId: string, state: 'running' | 'stopped') => ({ instanceId, state, pid: undefined, accel: 'tcg', readyAt: undefined });

test('a guest poweroff: terminated with shutdown behaviour terminate, stopped with stop, and a guest the host lost is only stopped', async () => {
  await withService(async (svc, instances, sent) => {
    const [term] = await svc.run(caller, run({ instanceInitiatedShutdownBehavior: 'terminate' }));
    const [stop] = await svc.run(caller, run());
    const [lost] = await svc.run(caller, run({ instanceInitiatedShutdownBehavior: 'terminate' }));
    await svc.idle();
    for (const r of [term!, stop!, lost!]) assert.equal(instances.get(r.id)?.state, 'running');
    // the host reports the first two guests powered off, and knows nothing of the third
    await svc.reconcileHost(host.id, [info(term!.id, 'stopped'), info(stop!.id, 'stopped')]);
    await svc.idle();
    const t = instances.get(term!.id)!;
    assert.equal(t.state, 'terminated');
    assert.equal(t.stateReason?.code, 'Client.InstanceInitiatedShutdown');
    assert.ok(sent.includes(`instance.terminate ${term!.id}`), 'the host was told to terminate it');
    assert.equal(instances.get(stop!.id)?.state, 'stopped');
    assert.equal(instances.get(stop!.id)?.stateReason?.code, 'Client.InstanceInitiatedShutdown');
    assert.equal(instances.get(lost!.id)?.state, 'stopped', 'a lost guest is not terminated');
    assert.ok(!sent.includes(`instance.terminate ${stop!.id}`) && !sent.includes(`instance.terminate ${lost!.id}`));
  });
});

test('termination and stop protection: OperationNotPermitted, nothing changes, until the attribute is cleared', async () => {
  await withService(async (svc, instances) => {
    const [a] = await svc.run(caller, run({ disableApiTermination: true, disableApiStop: true }));
    const [b] = await svc.run(caller, run());
    await svc.idle();
    await assert.rejects(svc.terminate(caller, [b!.id, a!.id]), (e) => code(e) === 'OperationNotPermitted');
    await assert.rejects(svc.stop(caller, [b!.id, a!.id], false), (e) => code(e) === 'OperationNotPermitted');
    assert.equal(instances.get(b!.id)?.state, 'running', 'a refused call changes no instance it names');
    await svc.modify(caller, a!.id, (r) => changedInstance(r, { attribute: 'disableApiStop', value: false }));
    await svc.stop(caller, [a!.id], false);
    await svc.idle();
    assert.equal(instances.get(a!.id)?.state, 'stopped');
    await assert.rejects(svc.terminate(caller, [a!.id]), (e) => code(e) === 'OperationNotPermitted');
    await svc.modify(caller, a!.id, (r) => changedInstance(r, { attribute: 'disableApiTermination', value: false }));
    await svc.terminate(caller, [a!.id]);
    await svc.idle();
    assert.equal(instances.get(a!.id)?.state, 'terminated');
  });
});

test('instance type, user data, ebsOptimized and enaSupport change only while stopped; an unknown type is InvalidInstanceAttributeValue', async () => {
  await withService(async (svc, instances) => {
    const [r] = await svc.run(caller, run());
    await svc.idle();
    const id = r!.id;
    await assert.rejects(svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'instanceType', value: 't3.micro' })), (e) => code(e) === 'IncorrectInstanceState');
    await assert.rejects(svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'userData', value: Buffer.from('x') })), (e) => code(e) === 'IncorrectInstanceState');
    await assert.rejects(svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'ebsOptimized', value: true })), (e) => code(e) === 'IncorrectInstanceState');
    // protection and shutdown behaviour change in any state
    await svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'instanceInitiatedShutdownBehavior', value: 'terminate' }));
    assert.equal(attributesOf(instances.get(id)!).instanceInitiatedShutdownBehavior, 'terminate');
    await svc.stop(caller, [id], false);
    await svc.idle();
    await assert.rejects(svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'instanceType', value: 'x9.huge' })), (e) => code(e) === 'InvalidInstanceAttributeValue');
    await svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'instanceType', value: 't3.micro' }));
    await svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'userData', value: Buffer.from('#!/bin/sh\n') }));
    await svc.modify(caller, id, (x) => changedInstance(x, { attribute: 'enaSupport', value: true }));
    const after = instances.get(id)!;
    assert.equal(after.instanceType, 't3.micro');
    assert.equal(Buffer.from(after.userData!, 'base64').toString(), '#!/bin/sh\n');
    assert.equal(attributesOf(after).enaSupport, true);
    assert.equal(attributesOf(after).instanceInitiatedShutdownBehavior, 'terminate', 'other attributes are kept');
    assert.throws(() => changedInstance(after, { attribute: 'kernel', value: 'aki-12345678' }), (e) => code(e) === 'InvalidParameterValue');
  });
});
