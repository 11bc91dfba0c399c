// A guest that ignores the ACPI power button is stopped hard at the stop deadline, and the
// state's reason says so. The guest is nitride-minimal booted with `acpi=off` on its kernel
// command line: it has no ACPI, so no power-button device (its init says so on the console),
// and system_powerdown reaches nothing in it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MARKERS } from '../../src/image/markers.js';
import type { HypervisorEvent } from '../../src/hypervisor/protocol/messages.js';
import { STOP_REASONS } from '../../src/hypervisor/instance.js';
import { instanceCgroups } from './jail-fixtures.js';
import { consoleOf, instanceSpec, pidAlive, withHypervisor } from './hypervisor-fixtures.js';

const BOOT_MS = 120_000;

test('vm hypervisor: a guest that ignores ACPI is stopped hard at the deadline, and the state says so', { timeout: 300_000 }, async () => {
  await withHypervisor(async (h) => {
    const base = await instanceSpec('t3.nano');
    const spec = { ...base, image: { ...base.image, cmdline: `${base.image.cmdline} acpi=off` } };
    const id = spec.instanceId;
    const ready = h.channel.waitEvent((e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === id, BOOT_MS);
    const started = await h.channel.request('instance.start', { spec });
    await ready;
    const pid = started.pid as number;
    const before = await consoleOf(h, id);
    assert.ok(before.includes('no power button device'), `the guest has no power button to press:\n${before}`);
    const cgroups = instanceCgroups(join(h.stateDir, 'instances', id));

    const deadlineMs = 5_000;
    const t0 = Date.now();
    const stopped = await h.channel.request('instance.stop', { instanceId: id, deadlineMs });
    const took = Date.now() - t0;
    process.stderr.write(`[vm] stop of a guest that ignores ACPI, deadline ${deadlineMs} ms: ${took} ms\n`);
    assert.equal(stopped.state, 'stopped');
    assert.ok(took >= deadlineMs, `the hypervisor waited for the deadline before the hard stop (${took} ms)`);
    assert.ok(!pidAlive(pid), 'QEMU is gone');
    const ev = h.events.find((e) => e.event === 'instance.state' && e.instanceId === id && e.state === 'stopped');
    assert.ok(ev?.event === 'instance.state' && ev.reason === STOP_REASONS.deadline, `the state's reason names the hard stop: ${JSON.stringify(ev)}`);
    assert.ok(!(await consoleOf(h, id)).includes(MARKERS.powerdown), 'the guest never saw a power button');
    for (const cg of cgroups) assert.ok(!existsSync(cg), `${cg} is removed after the hard stop`);
    assert.equal((await h.channel.request('instance.describe', { instanceId: id })).state, 'stopped');
  });
});
