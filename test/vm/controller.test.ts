// nitride-minimal guests driven through a real controller over mTLS, with this test as the
// region: boot and console markers, forbidden QMP refused and audited, hypervisor restart and
// controller kill -9 with the guest surviving and re-adopted, reboot, stop/start, terminate
// with nothing left; a socket census runs through the whole scenario.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readChain, verifyChainText } from '../../src/audit/chain.js';
import { ControllerClient } from '../../src/controller/client.js';
import { hostPaths } from '../../src/controller/host-state.js';
import { childPids, enrollAndConnect, makeRegion, processGroupOf, startController, watchForOutbound, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { dumpInstances, guestSpec, killAllQemu, pidAlive, qemuPids, waitForConsole, waitForState } from '../../src/controller/testing/vm.js';
import type { InstanceInfo } from '../../src/hypervisor/protocol/messages.js';
import { MARKERS } from '../../src/image/markers.js';
import { waitFor } from '../../src/lib/wait.js';

const BOOT_MS = 120_000;

interface Ev {
  type: string;
  id?: string;
  command?: string;
  params?: { execute?: string };
  record?: { command?: string; type?: string; instanceId?: string };
  [k: string]: unknown;
}

test('controller VM scenario: boot, forbidden QMP, restarts, kill -9, reboot, stop/start, terminate, no outbound', { timeout: 900_000 }, async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-ctlvm-'));
  const scratch = mkdtempSync(join(tmpdir(), 'nitride-ctlvm-scratch-'));
  let ctl: ControllerProcess | undefined;
  let client: ControllerClient | undefined;
  const outputs: string[] = [];
  const seenQemu = new Set<number>();
  let watcher: ReturnType<typeof watchForOutbound> | undefined;
  let failed = true;
  const allViolations: unknown[] = [];
  try {
    const spec = await guestSpec('t3.nano');
    const id = spec.instanceId;
    ctl = await startController(home, { ownProcessGroup: true });
    const port = ctl.runtime.port;
    const region = await makeRegion();
    const conn = await enrollAndConnect(ctl, region);
    client = conn.client;
    const cl = client;
    const watch = (c: ControllerProcess): ReturnType<typeof watchForOutbound> =>
      watchForOutbound(() => {
        const q = qemuPids(home);
        for (const p of q) seenQemu.add(p);
        return { controller: c.proc.pid, others: [...childPids(c.proc.pid ?? 0), ...q] };
      }, port);
    watcher = watch(ctl);
    let qemuPid = 0;

    await t.test('instance.start boots nitride-minimal; its markers are on the console', async () => {
      const t0 = Date.now();
      const info = (await cl.send('instance.start', { spec })) as InstanceInfo;
      assert.equal(info.instanceId, id);
      const text = await waitForConsole(cl, id, MARKERS.ready, 1, BOOT_MS);
      t.diagnostic(`start → ready marker through the controller: ${Date.now() - t0} ms`);
      assert.ok(text.includes(MARKERS.start));
      const d = await waitForState(cl, id, 'running', 10_000);
      assert.ok(d.pid !== undefined && pidAlive(d.pid));
      qemuPid = d.pid ?? 0;
      assert.ok(qemuPids(home).includes(qemuPid));
    });

    await t.test('each forbidden QMP command is refused and in the host audit log', async () => {
      const f = (n: string): string => join(scratch, n);
      const forbidden: [string, Record<string, unknown> | undefined][] = [
        ['pmemsave', { val: 0, size: 4096, filename: f('pmem') }],
        ['memsave', { val: 0, size: 4096, filename: f('mem') }],
        ['dump-guest-memory', { paging: false, protocol: `file:${f('dump')}` }],
        ['human-monitor-command', { 'command-line': 'info registers' }],
        ['migrate', { uri: `file:${f('migrate')}` }],
        ['migrate', { uri: `exec:cat > ${f('exec')}` }],
        ['gdbserver', { device: 'tcp::1234' }],
        ['x-query-virtio', undefined],
        ['x-debug-query-block-graph', undefined],
      ];
      for (const [execute, args] of forbidden) {
        await assert.rejects(cl.send('instance.qmp', { instanceId: id, execute, ...(args ? { arguments: args } : {}) }), (e: { code?: string; kind?: string }) => {
          assert.equal(e.kind, 'denied', `${execute}: ${String(e.code)}`);
          assert.equal(e.code, 'QmpCommandRefused');
          return true;
        });
      }
      for (const n of ['pmem', 'mem', 'dump', 'migrate', 'exec']) assert.equal(existsSync(f(n)), false, `${n} was not written`);
      const ev = readChain<Ev>(hostPaths(home).audit).map((r) => r.event);
      for (const [execute] of forbidden) {
        assert.ok(ev.some((e) => e.type === 'command.accepted' && e.command === 'instance.qmp' && e.params?.execute === execute), `command record for ${execute}`);
        assert.ok(ev.some((e) => e.type === 'hypervisor.audit' && e.record?.command === execute && e.record?.instanceId === id), `refusal record for ${execute}`);
      }
      assert.equal(ev.filter((e) => e.type === 'hypervisor.audit' && e.record?.command === 'migrate').length, 2);
      const ok = (await cl.send('instance.qmp', { instanceId: id, execute: 'query-status' })) as { status?: string };
      assert.equal(ok.status, 'running');
    });

    await t.test('host.restart-component hypervisor while the guest runs: same QEMU, re-adopted', async () => {
      const before = (await cl.send('host.status', {})) as { components: { pid: number }[] };
      const r = (await cl.send('host.restart-component', { component: 'hypervisor' })) as { pid: number };
      assert.notEqual(r.pid, before.components[0]?.pid);
      const d = await waitForState(cl, id, 'running', 30_000);
      assert.equal(d.pid, qemuPid);
      assert.ok(pidAlive(qemuPid));
      const list = (await cl.send('instance.list', {})) as InstanceInfo[];
      assert.ok(list.some((i) => i.instanceId === id && i.state === 'running'));
      await waitForConsole(cl, id, MARKERS.ready, 1, 5_000); // the console survived the restart
    });

    await t.test("kill -9 of the controller's whole process group: the guest keeps running; a new controller finds it", async () => {
      const c0 = ctl as ControllerProcess;
      const hv = childPids(c0.proc.pid ?? 0);
      const group = processGroupOf(c0.proc.pid ?? 0);
      assert.equal(group, c0.proc.pid, 'the test started the controller as its own group leader');
      for (const p of hv) assert.notEqual(processGroupOf(p), group, 'the hypervisor is not in the controller group');
      assert.notEqual(processGroupOf(qemuPid), group, 'QEMU is not in the controller group');
      outputs.push(c0.output());
      const w = watcher?.stop();
      if (w) allViolations.push(...w.violations);
      watcher = undefined;
      const exited = new Promise((r) => c0.proc.once('exit', r));
      process.kill(-(group ?? 0), 'SIGKILL');
      await exited;
      await waitFor('the old hypervisors to exit when their channel closed', () => hv.every((p) => !pidAlive(p)), 10_000, 50);
      assert.ok(pidAlive(qemuPid), 'the guest survived the controller and its hypervisor');
      ctl = await startController(home, { port, ownProcessGroup: true });
      watcher = watch(ctl);
      const d = await waitForState(cl, id, 'running', 30_000);
      assert.equal(d.pid, qemuPid);
      const list = (await cl.send('instance.list', {})) as InstanceInfo[];
      assert.ok(list.some((i) => i.instanceId === id && i.state === 'running'));
    });

    await t.test('reboot: the guest boots again', async () => {
      await cl.send('instance.reboot', { instanceId: id });
      await waitForConsole(cl, id, MARKERS.ready, 2, BOOT_MS);
      await waitForState(cl, id, 'running', 10_000);
    });

    await t.test('stop and start', async () => {
      const stopped = (await cl.send('instance.stop', { instanceId: id, deadlineMs: 30_000 })) as InstanceInfo;
      assert.equal(stopped.state, 'stopped');
      await waitFor('QEMU to be gone after stop', () => !pidAlive(qemuPid), 10_000, 50);
      const text0 = await waitForConsole(cl, id, MARKERS.ready, 2, 5_000);
      const readyBefore = text0.split(MARKERS.ready).length - 1;
      await cl.send('instance.start', { spec });
      await waitForConsole(cl, id, MARKERS.ready, readyBefore + 1, BOOT_MS);
      const d = await waitForState(cl, id, 'running', 10_000);
      assert.notEqual(d.pid, qemuPid);
      qemuPid = d.pid ?? 0;
    });

    await t.test('terminate leaves nothing running', async () => {
      await cl.send('instance.terminate', { instanceId: id });
      await waitFor('every QEMU seen to be gone after terminate', () => [...seenQemu].every((p) => !pidAlive(p)), 10_000, 50);
      assert.deepEqual(qemuPids(home), []);
      const list = (await cl.send('instance.list', {})) as InstanceInfo[];
      assert.ok(!list.some((i) => i.instanceId === id && i.state !== 'terminated'));
    });

    await t.test('the audit log verifies; no outbound connection during the whole scenario', () => {
      const w = watcher?.stop();
      watcher = undefined;
      if (w) allViolations.push(...w.violations);
      assert.ok(w && w.samples > 10 && w.listenerSeen > 0);
      assert.deepEqual(allViolations, []);
      assert.ok(verifyChainText(readFileSync(hostPaths(home).audit, 'utf8')).ok);
      const ev = readChain<Ev>(hostPaths(home).audit).map((r) => r.event);
      for (const type of ['instance.start', 'instance.reboot', 'instance.stop', 'instance.terminate', 'host.restart-component']) {
        assert.ok(ev.some((e) => e.type === 'command.accepted' && e.command === type), type);
      }
    });
    failed = false;
  } finally {
    watcher?.stop();
    if (failed) {
      process.stderr.write(`${[...outputs, ctl?.output() ?? ''].join('\n--- next controller ---\n')}\n${dumpInstances(home)}\n`);
    }
    client?.close();
    await ctl?.stop();
    await killAllQemu(home, [...seenQemu]);
    rmSync(home, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
});
