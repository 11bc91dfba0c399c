// Restart and recovery with real guests and the real `nitride start`, driven through the
// AWS SDK v3: waitUntilInstanceRunning; capacity from NITRIDE_HOST_MEMORY_MIB; kill -9 of
// the region right after RunInstances is sent (at several delays), then a restart: every
// instance ends up running and recorded, or was never created — no QEMU without a record;
// a region restart while a guest runs; a controller killed with -9 (the region keeps
// answering; the next start re-adopts the guest, no duplicate).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
  type Instance,
} from '@aws-sdk/client-ec2';
import { signRequest } from '../../src/iam/sigv4/index.js';
import { BUILTIN_AMI, cleanupHome, controllerPid, ensureGuestImage, qemuPids, reconciledOnce, startRegion, unreachablePasses, waitFor, type RegionProcess, failureTracker } from '../region-fixtures.js';

const homes = new Map<string, RegionProcess[]>();
const run = failureTracker();

after(async () => {
  for (const [home, regions] of homes) await cleanupHome(home, regions, run.failed);
});

const guarded = run.guarded;

async function start(home: string, env: NodeJS.ProcessEnv = {}): Promise<RegionProcess> {
  const list = homes.get(home) ?? [];
  homes.set(home, list);
  const r = await startRegion({ home, env });
  list.push(r);
  return r;
}

const ec2 = (r: RegionProcess): EC2Client =>
  new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey }, maxAttempts: 1 });

async function instances(r: RegionProcess): Promise<Instance[]> {
  const out = await ec2(r).send(new DescribeInstancesCommand({}));
  return (out.Reservations ?? []).flatMap((x) => x.Instances ?? []);
}

const RUN = { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };

test(
  'SDK v3: waitUntilInstanceRunning, then terminate and waitUntilInstanceTerminated; capacity from NITRIDE_HOST_MEMORY_MIB',
  { timeout: 300_000 },
  guarded(async () => {
    await ensureGuestImage();
    const home = await mkdtemp(join(tmpdir(), 'nitride-region-rec-'));
    // 2048 MiB reserved for the host + 600: one t3.nano (512) fits, two do not.
    const r = await start(home, { NITRIDE_HOST_MEMORY_MIB: String(2048 + 600) });
    const c = ec2(r);
    const two = await c.send(new RunInstancesCommand({ ...RUN, MinCount: 2, MaxCount: 2 })).then(
      () => 'no error',
      (e: { name: string }) => e.name,
    );
    assert.equal(two, 'InsufficientInstanceCapacity');
    assert.deepEqual(await instances(r), [], 'a refused launch records nothing');
    const run = await c.send(new RunInstancesCommand(RUN));
    const id = run.Instances![0]!.InstanceId!;
    const w = await waitUntilInstanceRunning({ client: c, maxWaitTime: 180, minDelay: 2, maxDelay: 5 }, { InstanceIds: [id] });
    assert.equal(w.state, 'SUCCESS');
    assert.ok(qemuPids(home).has(id));
    const again = await c.send(new RunInstancesCommand(RUN)).then(
      () => 'no error',
      (e: { name: string }) => e.name,
    );
    assert.equal(again, 'InsufficientInstanceCapacity', 'the running t3.nano uses the capacity');
    await c.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    const t = await waitUntilInstanceTerminated({ client: c, maxWaitTime: 120, minDelay: 2, maxDelay: 5 }, { InstanceIds: [id] });
    assert.equal(t.state, 'SUCCESS');
    await waitFor('the QEMU is gone', () => (qemuPids(home).has(id) ? undefined : true), 15_000, 250);
    await r.stop();
  }),
);

/**
 * Sends a signed RunInstances without waiting for the answer. node:http with a ref'd
 * deadline, not fetch: a CI run saw this file's event loop drain while a request to a
 * region killed mid-answer was pending (undici's fetch held no handle), which cancelled
 * every test in the file.
 */
function sendRun(r: RegionProcess, token: string): Promise<string> {
  const form = `Action=RunInstances&Version=2016-11-15&ImageId=${BUILTIN_AMI}&InstanceType=t3.nano&MinCount=1&MaxCount=1&ClientToken=${token}`;
  const url = new URL(r.endpoint);
  const s = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: form },
    r.credentials,
    { region: 'local-1', service: 'ec2' },
  );
  return new Promise<string>((resolve) => {
    let done = false;
    const finish = (v: string): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve(v);
    };
    const deadline = setTimeout(() => {
      req.destroy();
      finish('failed: no answer within 60 s');
    }, 60_000);
    const req = httpRequest(
      { host: url.hostname, port: Number(url.port), method: 'POST', path: '/', headers: { ...s.headers, 'content-length': String(Buffer.byteLength(form)) }, agent: false },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (b += d));
        res.on('end', () => finish(`${res.statusCode} ${/<instanceId>([^<]+)</.exec(b)?.[1] ?? b.slice(0, 200)}`));
        res.on('error', (e) => finish(`failed: ${String(e)}`));
        res.on('aborted', () => finish('failed: answer cut off'));
        res.on('close', () => finish(`failed: closed after ${b.length} bytes`));
      },
    );
    req.on('error', (e) => finish(`failed: ${String(e)}`));
    req.end(form);
  });
}

test(
  'kill -9 of the region right after RunInstances: after a restart the instance is running and recorded, or never created',
  { timeout: 900_000 },
  guarded(async () => {
    await ensureGuestImage();
    const home = await mkdtemp(join(tmpdir(), 'nitride-region-rec-'));
    let r = await start(home);
    const outcomes: string[] = [];
    // A number is a delay after sending; 'answer' kills the moment the answer arrives (the
    // record is committed, the host's start command may still be in flight).
    for (const delay of [0, 5, 15, 'answer', 60] as const) {
      const answer = sendRun(r, `kill-${delay}`);
      if (delay === 'answer') await answer;
      else if (delay > 0) await sleep(delay);
      await r.kill9();
      const said = await answer;
      r = await start(home);
      // Let the new region reconcile, then check: every QEMU has a record; every live record runs.
      const settled = await waitFor(
        `the state to settle after kill at ${delay} ms`,
        async () => {
          const all = (await instances(r)).filter((i) => i.State?.Name !== 'terminated');
          return all.every((i) => i.State?.Name === 'running') ? all : undefined;
        },
        180_000,
        1_000,
      );
      await reconciledOnce(home); // a whole pass after the settle: orphans would be terminated by now
      const recorded = new Set(settled.map((i) => i.InstanceId!));
      const live = qemuPids(home);
      for (const id of live.keys()) assert.ok(recorded.has(id), `QEMU for ${id} has no live record (kill at ${delay} ms; answer: ${said})`);
      for (const id of recorded) assert.ok(live.has(id), `${id} is recorded running but has no QEMU (kill at ${delay} ms)`);
      const mine = settled.filter((i) => i.ClientToken === `kill-${delay}`);
      assert.ok(mine.length <= 1, 'never two instances for one RunInstances');
      if (said.startsWith('200 ')) assert.equal(mine.length, 1, `an answered RunInstances (${said}) was lost`);
      if (mine.length === 1 && !said.startsWith('200 ')) {
        // Recorded but never answered: the client's retry with its ClientToken gets the same instance.
        const retry = await ec2(r).send(new RunInstancesCommand({ ...RUN, ClientToken: `kill-${delay}` }));
        assert.equal(retry.Instances?.[0]?.InstanceId, mine[0]!.InstanceId, 'a retry with the ClientToken returns the recorded instance');
        assert.equal((await instances(r)).filter((i) => i.ClientToken === `kill-${delay}`).length, 1);
      }
      outcomes.push(`${delay === 'answer' ? 'on answer' : `${delay} ms`}: ${mine.length === 1 ? 'running and recorded' : 'never created'} (client saw: ${said.slice(0, 60)})`);
      // Clean up this round's guest to keep the machine light.
      if (mine.length === 1) {
        await ec2(r).send(new TerminateInstancesCommand({ InstanceIds: [mine[0]!.InstanceId!] }));
        await waitUntilInstanceTerminated({ client: ec2(r), maxWaitTime: 120, minDelay: 2, maxDelay: 4 }, { InstanceIds: [mine[0]!.InstanceId!] });
      }
    }
    process.stderr.write(`[recovery] ${outcomes.join('\n[recovery] ')}\n`);
    await r.stop();
  }),
);

test(
  'a region restart keeps a running guest; a killed controller leaves the region answering; the next start re-adopts the guest once',
  { timeout: 600_000 },
  guarded(async () => {
    await ensureGuestImage();
    const home = await mkdtemp(join(tmpdir(), 'nitride-region-rec-'));
    let r = await start(home);
    const run = await ec2(r).send(new RunInstancesCommand({ ...RUN, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'survivor' }] }] }));
    const id = run.Instances![0]!.InstanceId!;
    await waitUntilInstanceRunning({ client: ec2(r), maxWaitTime: 180, minDelay: 2, maxDelay: 5 }, { InstanceIds: [id] });
    const qemu1 = qemuPids(home).get(id);
    assert.ok(qemu1);

    // 1. Restart the region (SIGTERM: region and controller stop, the guest keeps running).
    await r.stop();
    assert.equal(qemuPids(home).get(id), qemu1, 'the guest survives a region stop');
    r = await start(home);
    await reconciledOnce(home); // the new region has compared its records with the host's guests and acted
    let all = await instances(r);
    assert.deepEqual(all.map((i) => [i.InstanceId, i.State?.Name]), [[id, 'running']]);
    assert.equal(qemuPids(home).get(id), qemu1, 'the same QEMU, not a second launch');
    assert.equal(qemuPids(home).size, 1);

    // 2. kill -9 the controller: the region keeps answering, the guest keeps running.
    const ctl = controllerPid(home);
    assert.ok(ctl, 'the controller runs');
    process.kill(ctl, 'SIGKILL');
    await waitFor('the controller to die', () => (controllerPid(home) === undefined ? true : undefined), 10_000, 100);
    const failedBefore = unreachablePasses(r);
    await waitFor('two reconciliation passes against the unreachable host', () => unreachablePasses(r) >= failedBefore + 2, 120_000, 250);
    all = await instances(r);
    assert.deepEqual(all.map((i) => [i.InstanceId, i.State?.Name]), [[id, 'running']], 'an unreachable host changes no record');
    assert.ok(qemuPids(home).has(id), 'the guest survives the controller');

    // 3. A new `nitride start` starts a controller that re-adopts the guest: still one instance, one QEMU.
    await r.stop();
    r = await start(home);
    await reconciledOnce(home); // the new controller has adopted the guest and the region has reconciled with it
    all = await instances(r);
    assert.deepEqual(all.map((i) => [i.InstanceId, i.State?.Name]), [[id, 'running']]);
    const live = qemuPids(home);
    assert.equal(live.size, 1, `one QEMU: ${[...live.keys()].join(', ')}`);
    assert.ok(live.has(id));
    // And the re-adopted guest is still driven: terminate works.
    await ec2(r).send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceTerminated({ client: ec2(r), maxWaitTime: 120, minDelay: 2, maxDelay: 4 }, { InstanceIds: [id] });
    await waitFor('the QEMU is gone', () => (qemuPids(home).has(id) ? undefined : true), 15_000, 250);
    await r.stop();
  }),
);

test(
  'kill -9 of region and controller together (one guest running, one launch just answered): both are re-adopted once; a guest whose record is gone is terminated',
  { timeout: 600_000 },
  guarded(async () => {
    await ensureGuestImage();
    const home = await mkdtemp(join(tmpdir(), 'nitride-region-rec-'));
    let r = await start(home);
    const a = (await ec2(r).send(new RunInstancesCommand(RUN))).Instances![0]!.InstanceId!;
    await waitUntilInstanceRunning({ client: ec2(r), maxWaitTime: 180, minDelay: 2, maxDelay: 5 }, { InstanceIds: [a] });
    const said = await sendRun(r, 'both-killed');
    assert.match(said, /^200 i-/);
    const b = said.slice(4);
    const ctl = controllerPid(home);
    assert.ok(ctl);
    process.kill(ctl, 'SIGKILL');
    await r.kill9();
    r = await start(home);
    const settled = await waitFor(
      'both instances running after the double kill',
      async () => {
        const all = await instances(r);
        return all.length === 2 && all.every((i) => i.State?.Name === 'running') ? all : undefined;
      },
      180_000,
      1_000,
    );
    assert.deepEqual(settled.map((i) => i.InstanceId).sort(), [a, b].sort());
    await reconciledOnce(home);
    const live = qemuPids(home);
    assert.deepEqual([...live.keys()].sort(), [a, b].sort(), 'one QEMU per instance, none extra');

    // A record lost (deleted from the store while the region is down): the guest is not left running unrecorded.
    await r.stop();
    const { SqliteStore } = await import('../../src/store/sqlite-store.js');
    const store = await SqliteStore.open(join(home, 'region', 'state.db'));
    assert.equal(await store.delete(`ec2/instances/${b}`), true);
    await store.close();
    r = await start(home);
    await waitFor('the unrecorded guest to be terminated', () => (qemuPids(home).has(b) ? undefined : true), 60_000, 500);
    assert.ok(qemuPids(home).has(a), 'the recorded guest keeps running');
    assert.deepEqual((await instances(r)).map((i) => [i.InstanceId, i.State?.Name]), [[a, 'running']]);
    await ec2(r).send(new TerminateInstancesCommand({ InstanceIds: [a] }));
    await waitUntilInstanceTerminated({ client: ec2(r), maxWaitTime: 120, minDelay: 2, maxDelay: 4 }, { InstanceIds: [a] });
    await waitFor('no QEMU left', () => (qemuPids(home).size === 0 ? true : undefined), 15_000, 250);
    await r.stop();
  }),
);
