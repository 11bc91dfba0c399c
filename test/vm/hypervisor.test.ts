// Real guests under the hypervisor, driven over IPC exactly as the controller drives it:
// the whole lifecycle, forbidden QMP on a live guest, and a kill -9 of the hypervisor
// while a guest runs (the guest survives and is re-adopted). Sequential: TCG guests on
// two cores starve each other.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MARKERS } from '../../src/image/markers.js';
import type { HypervisorEvent } from '../../src/hypervisor/protocol/messages.js';
import { QMP_FORBIDDEN } from '../../src/hypervisor/protocol/qmp-allowlist.js';
import { instanceCgroups, jailIdOf } from './jail-fixtures.js';
import { componentIds } from '../../src/lib/privileges.js';
import { count, instanceSpec, pidAlive, pidCmdline, until, withHypervisor, consoleOf } from './hypervisor-fixtures.js';

const BOOT_MS = 90_000;
const isReady = (id: string) => (e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === id;
const isState = (id: string, state: string) => (e: HypervisorEvent) => e.event === 'instance.state' && e.instanceId === id && e.state === state;

function uidOf(pid: number): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

test('vm hypervisor: start, ready, ACPI stop, start again, reboot, terminate', { timeout: 600_000 }, async () => {
  await withHypervisor(async (h) => {
    const spec = await instanceSpec('t3.nano');
    const id = spec.instanceId;
    const ready1 = h.channel.waitEvent(isReady(id), BOOT_MS);
    const t0 = Date.now();
    const started = await h.channel.request('instance.start', { spec });
    assert.equal(started.state, 'running');
    assert.equal(started.instanceType, 't3.nano');
    const pid = started.pid as number;
    assert.ok(pidAlive(pid));
    await ready1;
    process.stderr.write(`[vm] instance.start → instance.ready: ${Date.now() - t0} ms (${started.accel})\n`);
    assert.ok(h.events.some(isState(id, 'starting')) && h.events.some(isState(id, 'running')));

    // Isolation: sandboxed QEMU; as root, in its jail: its own uid and gid (recorded in the
    // hypervisor's table), a 0710 directory of that group owned by the EBS card's user, its own run/ directory.
    const dir = join(h.stateDir, 'instances', id);
    const argv = pidCmdline(pid) ?? [];
    assert.ok(argv.includes('-sandbox') && argv.includes('-nodefaults') && argv.includes(`guest=${id}`));
    if (process.getuid?.() === 0) {
      const jailId = jailIdOf(h.stateDir, id);
      assert.ok(jailId !== undefined && jailId >= 1_700_000_000, 'the instance has a uid from the reserved range');
      assert.equal(uidOf(pid), jailId, 'QEMU runs as the instance\'s own uid');
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Gid:\\s+${jailId}\\s`, 'm'), 'and its own gid');
      const st = statSync(dir);
      assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o710, componentIds('ebs')?.uid, jailId], 'the instance directory is <the EBS card\'s user>:<its gid> 0710');
      const run = statSync(join(dir, 'run'));
      assert.deepEqual([run.mode & 0o777, run.uid], [0o700, jailId], 'run/ is the instance\'s own');
      // Its own cgroup, with a memory ceiling, that QEMU is in.
      const cgroups = instanceCgroups(dir);
      assert.ok(cgroups.length > 0, 'the launch recorded its cgroups');
      for (const cg of cgroups) {
        assert.ok(cg.includes(`nitride.slice/${id}`), cg);
        assert.ok(readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)), `QEMU is in ${cg}`);
      }
    } else {
      assert.equal(statSync(dir).mode & 0o777, 0o700);
    }
    const described = await h.channel.request('instance.describe', { instanceId: id });
    assert.equal(described.state, 'running');
    assert.ok(described.readyAt);
    const info = await h.channel.request('host.info', {});
    assert.equal(described.accel, info.accel);

    let text = await consoleOf(h, id);
    assert.ok(text.includes(MARKERS.start) && text.includes(MARKERS.ready), text);

    // ACPI stop: the guest sees the power button and powers off within the deadline.
    const stopped = await h.channel.request('instance.stop', { instanceId: id, deadlineMs: 60_000 });
    assert.equal(stopped.state, 'stopped');
    assert.ok(!pidAlive(pid));
    assert.ok((await consoleOf(h, id)).includes(MARKERS.powerdown), 'the guest must have seen the ACPI power button');
    assert.ok(h.events.some(isState(id, 'stopping')) && h.events.some(isState(id, 'stopped')));
    assert.ok(existsSync(join(dir, 'spec.json')), 'a stopped instance keeps its spec');

    // Start again from the persisted spec.
    const ready2 = h.channel.waitEvent(isReady(id), BOOT_MS);
    const again = await h.channel.request('instance.start', { spec });
    assert.equal(again.state, 'running');
    assert.notEqual(again.pid, pid);
    await ready2;

    // Reboot: the same QEMU, a second boot on the console.
    const boots = count(await consoleOf(h, id), MARKERS.start);
    const ready3 = h.channel.waitEvent((e) => isReady(id)(e) && e.event === 'instance.ready' && e.readyAt > (again.launchedAt ?? ''), BOOT_MS);
    h.events.length = 0;
    const rebooted = await h.channel.request('instance.reboot', { instanceId: id });
    assert.equal(rebooted.pid, again.pid);
    await until('the ready marker after reboot', () => h.events.some(isReady(id)), BOOT_MS);
    await ready3;
    text = await consoleOf(h, id);
    assert.equal(count(text, MARKERS.start), boots + 1, text);
    assert.equal(count(text, MARKERS.ready), boots + 1);

    // Terminate: no process, no directory, no cgroup, and the uid goes back to the range.
    const qpid = again.pid as number;
    const lastCgroups = instanceCgroups(dir);
    const term = await h.channel.request('instance.terminate', { instanceId: id });
    assert.equal(term.state, 'terminated');
    assert.ok(!pidAlive(qpid));
    assert.ok(!existsSync(dir));
    for (const cg of lastCgroups) assert.ok(!existsSync(cg), `${cg} is removed`);
    if (process.getuid?.() === 0) assert.equal(jailIdOf(h.stateDir, id), undefined, 'the uid allocation is released');
    assert.deepEqual(await h.channel.request('instance.list', {}), []);
  });
});

test('vm hypervisor: forbidden QMP commands on a live guest are refused and audited; guest powers itself off', { timeout: 300_000 }, async () => {
  await withHypervisor(async (h) => {
    const spec = await instanceSpec('t3.micro');
    const id = spec.instanceId;
    const ready = h.channel.waitEvent(isReady(id), BOOT_MS);
    const started = await h.channel.request('instance.start', { spec });
    await ready;
    for (const execute of [...Object.keys(QMP_FORBIDDEN), 'x-query-ramblock', 'x-debug-query-block-graph']) {
      const audits = h.events.filter((e) => e.event === 'audit').length;
      await assert.rejects(h.channel.request('instance.qmp', { instanceId: id, execute, arguments: { val: 0, size: 4096, filename: 'mem', 'command-line': 'info registers', uri: 'exec:cat' } }), (e: Error & { code?: string; kind?: string }) => {
        assert.equal(e.code, 'QmpCommandRefused', execute);
        assert.equal(e.kind, 'denied');
        return true;
      });
      const a = h.events.filter((e) => e.event === 'audit');
      assert.equal(a.length, audits + 1, execute);
      const last = a.at(-1);
      assert.ok(last?.event === 'audit' && last.record['command'] === execute && last.record['instanceId'] === id);
    }
    assert.ok(!existsSync(join(h.stateDir, 'instances', id, 'mem')), 'nothing was dumped');
    // Commands that name an endpoint may name only this instance's own unix sockets: a NIC on
    // a TCP or UDP address, or a disk from another socket, never reaches QEMU.
    const endpointAttempts: Record<string, unknown>[] = [
      { execute: 'netdev_add', arguments: { type: 'stream', id: 'evil0', server: false, addr: { type: 'inet', host: '127.0.0.1', port: '22' } } },
      { execute: 'netdev_add', arguments: { type: 'dgram', id: 'evil1', local: { type: 'inet', host: '0.0.0.0', port: '4789' }, remote: { type: 'inet', host: '127.0.0.1', port: '4789' } } },
      { execute: 'netdev_add', arguments: { type: 'stream', id: 'evil2', server: false, addr: { type: 'unix', path: '/run/other.sock' } } },
      { execute: 'blockdev-add', arguments: { driver: 'nbd', 'node-name': 'evil3', server: { type: 'unix', path: '/run/other.sock' }, export: 'x' } },
      { execute: 'blockdev-add', arguments: { driver: 'nbd', 'node-name': 'evil4', server: { type: 'inet', host: '127.0.0.1', port: '10809' }, export: 'x' } },
    ];
    for (const attempt of endpointAttempts) {
      const audits = h.events.filter((e) => e.event === 'audit').length;
      await assert.rejects(h.channel.request('instance.qmp', { instanceId: id, ...attempt } as never), (e: Error & { code?: string }) => e.code === 'QmpCommandRefused');
      assert.equal(h.events.filter((e) => e.event === 'audit').length, audits + 1, JSON.stringify(attempt));
    }
    const nodes = (await h.channel.request('instance.qmp', { instanceId: id, execute: 'query-named-block-nodes' })) as { 'node-name'?: string }[];
    assert.ok(!nodes.some((n) => String(n['node-name']).startsWith('evil')), 'no refused node reached QEMU');
    const status = (await h.channel.request('instance.qmp', { instanceId: id, execute: 'query-status' })) as { status: string };
    assert.equal(status.status, 'running');
    // The guest powers off by itself (ACPI button pressed through the allowlisted command).
    const stopped = h.channel.waitEvent(isState(id, 'stopped'), 60_000);
    await h.channel.request('instance.qmp', { instanceId: id, execute: 'system_powerdown' });
    const ev = await stopped;
    assert.ok(ev.event === 'instance.state' && ev.reason === 'guest powered off', JSON.stringify(ev));
    assert.ok(!pidAlive(started.pid as number));
    assert.equal((await h.channel.request('instance.describe', { instanceId: id })).state, 'stopped');
  });
});

test('vm hypervisor: kill -9 of the hypervisor leaves the guest running; a new one re-adopts it', { timeout: 600_000 }, async () => {
  await withHypervisor(async (h) => {
    const spec = await instanceSpec('t3.nano');
    const id = spec.instanceId;
    const started = await h.channel.request('instance.start', { spec });
    const pid = started.pid as number;
    // Killed while the guest boots: the ready marker arrives while no hypervisor runs.
    await h.kill9();
    assert.ok(!h.events.some(isReady(id)), 'the guest was not ready yet when the hypervisor died');
    assert.ok(pidAlive(pid), 'the guest must survive the hypervisor');
    const consoleLog = join(h.stateDir, 'instances', id, 'console.log');
    await until('the ready marker in console.log', () => readFileSync(consoleLog, 'utf8').includes(MARKERS.ready), BOOT_MS);
    assert.ok(pidAlive(pid));

    const ch = h.restart();
    const lateReady = ch.waitEvent(isReady(id), 30_000);
    const list = await ch.request('instance.list', {});
    await lateReady; // the new hypervisor finds the marker it missed
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${ch.pid as number}/status`, 'utf8'))?.[1];
    process.stderr.write(`[vm] hypervisor RSS with one guest: ${rss} kB\n`);
    assert.equal(list.length, 1);
    assert.equal(list[0]?.instanceId, id);
    assert.equal(list[0]?.state, 'running');
    assert.equal(list[0]?.pid, pid, 'the same QEMU, not a relaunch');
    if (process.getuid?.() === 0) assert.equal(uidOf(pid), jailIdOf(h.stateDir, id), 'the re-adopted guest keeps its uid, and the table still names it');
    assert.ok((await ch.request('instance.describe', { instanceId: id })).readyAt);
    const text = await consoleOf(h, id);
    assert.ok(text.includes(MARKERS.start) && text.includes(MARKERS.ready), 'the first boot is still on the console');

    // The re-adopted guest is fully controllable: its console tail and QMP work.
    const readyAgain = ch.waitEvent(isReady(id), BOOT_MS);
    await ch.request('instance.reboot', { instanceId: id });
    await readyAgain;
    assert.equal(count(await consoleOf(h, id), MARKERS.ready), 2);

    const adoptedCgroups = instanceCgroups(join(h.stateDir, 'instances', id));
    const stopped = await ch.request('instance.stop', { instanceId: id, deadlineMs: 60_000 });
    assert.equal(stopped.state, 'stopped');
    assert.ok(!pidAlive(pid));
    for (const cg of adoptedCgroups) assert.ok(!existsSync(cg), `the re-adopting hypervisor removed ${cg} once the guest stopped`);

    // A hypervisor that finds a stopped instance marks it stopped and does not start it.
    await h.kill9();
    const ch2 = h.restart();
    const l2 = await ch2.request('instance.list', {});
    assert.equal(l2[0]?.state, 'stopped');
    assert.deepEqual(h.qemuPids(), []);
  });
});

test('vm hypervisor: the KVM smoke boot decides the accelerator and the verdict is cached', { timeout: 300_000 }, async () => {
  await withHypervisor(async (h) => {
    // NITRIDE_ACCEL=probe makes the hypervisor smoke-boot KVM even where kvm_pvm says it is hopeless.
    const ch = h.restartWith({ NITRIDE_ACCEL: 'probe' });
    const before = await ch.request('host.info', {});
    if (existsSync('/dev/kvm')) assert.equal(before.accel, undefined, 'undecided until the first start');
    const spec = await instanceSpec('t3.nano');
    const ready = ch.waitEvent(isReady(spec.instanceId), BOOT_MS);
    const started = await ch.request('instance.start', { spec });
    await ready;
    const after = await ch.request('host.info', {});
    assert.ok(after.accel === 'kvm' || after.accel === 'tcg');
    assert.equal(started.accel, after.accel);
    const cached = JSON.parse(readFileSync(join(h.stateDir, 'accel.json'), 'utf8')) as { accel: string; reason: string };
    assert.equal(cached.accel, after.accel);
    if (existsSync('/sys/module/kvm_pvm')) {
      assert.equal(after.accel, 'tcg');
      assert.match(after.accelReason, /smoke boot did not reach the ready marker/);
    }
    assert.ok(!existsSync(join(h.stateDir, 'accel-smoke')), 'the smoke boot leaves nothing behind');
    assert.equal(h.qemuPids().length, 1, 'the smoke QEMU is gone');
    await ch.request('instance.terminate', { instanceId: spec.instanceId });
  });
});
