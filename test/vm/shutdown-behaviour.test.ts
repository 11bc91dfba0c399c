// InstanceInitiatedShutdownBehavior with real busybox guests that power themselves off (their
// user data runs `poweroff -f`): with `terminate` the region terminates the instance once its
// host reports the guest gone, with `stop` (the default) it is stopped and can start again.
// Termination protection holds for the stopped one until it is cleared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as E from '@aws-sdk/client-ec2';
import { BUILTIN_AMI, backgroundUserData, waitFor, withLocalRegion } from '../region-fixtures.js';

test('a guest that powers itself off: terminated with shutdown behaviour terminate, stopped with stop', { timeout: 900_000 }, async () => {
  await withLocalRegion('nitride-shutdown-behaviour-', async ({ ec2 }) => {
    const poweroff = backgroundUserData('sleep 2\npoweroff -f');
    const run = async (behaviour: 'stop' | 'terminate'): Promise<string> =>
      (await ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: poweroff, InstanceInitiatedShutdownBehavior: behaviour, DisableApiTermination: behaviour === 'stop' })))
        .Instances![0]!.InstanceId!;
    const term = await run('terminate');
    const stop = await run('stop');
    const state = async (id: string): Promise<E.Instance | undefined> => (await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];

    const t = await waitFor('the terminate-behaviour instance to be terminated', async () => {
      const i = await state(term);
      return i?.State?.Name === 'terminated' ? i : undefined;
    }, 600_000, 1000);
    assert.equal(t.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
    const s = await waitFor('the stop-behaviour instance to be stopped', async () => {
      const i = await state(stop);
      return i?.State?.Name === 'stopped' ? i : undefined;
    }, 600_000, 1000);
    assert.equal(s.StateReason?.Code, 'Client.InstanceInitiatedShutdown');
    assert.deepEqual((await ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: stop, Attribute: 'instanceInitiatedShutdownBehavior' }))).InstanceInitiatedShutdownBehavior, { Value: 'stop' });

    // termination protection holds for it; cleared, it terminates
    await assert.rejects(ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [stop] })), (e: Error) => e.name === 'OperationNotPermitted');
    await ec2.send(new E.ModifyInstanceAttributeCommand({ InstanceId: stop, DisableApiTermination: { Value: false } }));
    await ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [stop] }));
    await waitFor('the stopped instance to be terminated', async () => (await state(stop))?.State?.Name === 'terminated', 300_000, 1000);
  });
});
