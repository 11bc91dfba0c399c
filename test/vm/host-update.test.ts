// Live update of host components from signed bundles (issue 6 item 6), end to end: two
// releases (A, B) signed by a fresh release key; a real controller in signed mode started
// from A; an in-process region that holds the host to A's release measurements; a real guest
// (QEMU under TCG) writing and fsyncing an encrypted EBS volume in a loop and pinging its VPC
// gateway every 50 ms. Through `nitride host update` (the region's credential → controller):
//   - a tampered bundle, a bundle signed by another key, another component's bundle and a
//     rollback with no earlier bundle are refused precisely, and the running version stays;
//   - ebs, vpc and hypervisor go to B, then back to A with --rollback; for each, the guest
//     shows no I/O error and no lost ping, and its pause is measured and printed;
//   - the component's PCR gets the new measurement (the event names the version), the region
//     refuses the host under the old release policy and accepts it under the new one;
//   - the host audit log holds each request before its effect.
// A second test: a dev-mode controller (no release key) refuses host.update.
import type { AttestReply } from '../../src/security-chip/protocol/attest-wire.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readChain, verifyChainText } from '../../src/audit/chain.js';
import type { ControllerClient } from '../../src/controller/client.js';
import { hostPaths } from '../../src/controller/host-state.js';
import { enrollAndConnect, makeRegion, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { generateReleaseKey } from '../../src/security-chip/bundle.js';
import { distEntry } from '../../src/lib/paths.js';
import { COMPONENT_PCR, type ComponentName } from '../../src/security-chip/pcr.js';
import { BUNDLE_OF, LiveUpdateRig, type UpdatableComponent, type UpdateRun } from '../live-update-rig.js';

interface Status {
  components: { name: string; pid: number; version: string; state: string }[];
  componentVersions: Record<string, { version: string; digest: string | null; previous: { version: string } | null }>;
  instances: { instanceId: string; state: string; pid?: number }[];
  controller: { pid: number };
}


async function waitGone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > end) assert.fail(`process ${pid} is still running`);
    await sleep(50);
  }
}

const say = (l: string): void => void process.stderr.write(`[host-update] ${l}\n`);

function figures(r: UpdateRun): string {
  return (
    `${r.component} ${r.kind}: controller ${r.updateMs} ms (CLI ${r.cliMs} ms); guest I/O: largest gap ${r.ioMaxGapMs} ms ` +
    `(normal ${r.ioBaselineMs} ms), ${r.ioErrors} errors; network: largest gap between ping replies ${r.netMaxGapMs} ms ` +
    `(normal ${r.netBaselineMs} ms), ${r.netLost} lost`
  );
}

test('vm host update: ebs, vpc and hypervisor to B and back while the guest writes and pings; refusals; PCRs; audit', { timeout: 1_800_000 }, async () => {
  let rig: LiveUpdateRig | undefined;
  let ok = false;
  try {
    rig = await LiveUpdateRig.start({ log: say });
    const r = rig;
    const [vA, vB] = ['2026.11.28-a', '2026.11.28-b'];
    const status = async (): Promise<Status> => (await r.send('host.status', {})) as Status;
    const eventLog = async (): Promise<AttestReply['eventLog']> => (await r.send('host.attest', { nonce: randomBytes(32).toString('hex') })).eventLog;
    const latest = (log: AttestReply['eventLog'], pcr: number): { digest: string; description: string } | undefined => log.filter((e) => e.pcrIndex === pcr).pop();
    const pidOf = (s: Status, name: string): number => s.components.find((c) => c.name === name)?.pid as number;
    const qemuPid = async (): Promise<number | undefined> => (await status()).instances.find((i) => i.instanceId === r.instanceId)?.pid;

    const s0 = await status();
    for (const c of ['hypervisor', 'ebs', 'vpc']) assert.equal(s0.components.find((x) => x.name === c)?.version, vA, `${c} runs A`);
    const guestPid = await qemuPid();

    // --- refusals: the running version stays and nothing is measured
    const log0 = await eventLog();
    const tampered = join(r.home, 'rel', 'T', 'ebs-card');
    cpSync(r.dir('B', 'ebs-card'), tampered, { recursive: true });
    const victim = 'dist/src/ebs/card/main.js';
    appendFileSync(join(tampered, victim), '\n// tampered\n');
    const t1 = await r.cli(['update', '--component', 'ebs', '--bundle', tampered]);
    assert.equal(t1.code, 1, t1.out);
    assert.match(t1.err, /BundleFileMismatch/);
    assert.ok(t1.err.includes(victim), t1.err);
    say(`tampered bundle refused: ${t1.err.trim()}`);

    const other = generateReleaseKey();
    const foreign = await r.build('ebs-card', 'evil', join(r.home, 'rel', 'K', 'ebs-card'), other.privateKeyPem);
    const t2 = await r.cli(['update', '--component', 'ebs', '--bundle', foreign.dir]);
    assert.equal(t2.code, 1, t2.out);
    assert.match(t2.err, /BundleSignatureInvalid/);
    assert.ok(t2.err.includes('manifest.json'), t2.err);

    const t3 = await r.cli(['update', '--component', 'ebs', '--bundle', r.dir('B', 'vpc-card')]);
    assert.equal(t3.code, 1);
    assert.match(t3.err, /BundleWrongComponent/);

    const t4 = await r.cli(['update', '--component', 'vpc', '--rollback']);
    assert.equal(t4.code, 1);
    assert.match(t4.err, /NoPreviousBundle/);

    const s1 = await status();
    assert.equal(pidOf(s1, 'ebs'), pidOf(s0, 'ebs'), 'the EBS card was not replaced');
    assert.equal(s1.components.find((x) => x.name === 'ebs')?.version, vA);
    assert.deepEqual(await eventLog(), log0, 'a refused bundle is not measured');

    // --- updates to B, then rollbacks to A
    const runs: UpdateRun[] = [];
    const current: Partial<Record<ComponentName, (typeof r.bundles.A)[ComponentName]>> = {};
    const step = async (component: UpdatableComponent, kind: 'update' | 'rollback'): Promise<void> => {
      const name = BUNDLE_OF[component];
      const before = await status();
      const policyBefore = kind === 'update' && component === 'ebs';
      const run = await r.update(component, kind === 'update' ? { bundle: r.dir('B', name) } : { rollback: true });
      runs.push(run);
      say(figures(run));
      const want = kind === 'update' ? vB : vA;
      const b = kind === 'update' ? r.bundles.B[name] : r.bundles.A[name];
      assert.ok(b);
      assert.equal(run.ioErrors, 0, `${component} ${kind}: guest I/O errors\n${r.consoleText().slice(-2000)}`);
      assert.equal(run.netLost, 0, `${component} ${kind}: pings lost`);
      assert.ok(run.ioOps >= 0);
      const after = await status();
      if (component === 'controller') {
        assert.notEqual(after.controller.pid, before.controller.pid, 'a new controller process');
      } else {
        assert.equal(after.components.find((x) => x.name === component)?.version, want);
        assert.equal(after.components.find((x) => x.name === component)?.state, 'running');
        assert.notEqual(pidOf(after, component), pidOf(before, component), `${component}: a new process`);
      }
      assert.equal(after.componentVersions[name]?.version, want);
      assert.equal(after.componentVersions[name]?.digest, b.digest);
      assert.equal(after.componentVersions[name]?.previous?.version ?? null, kind === 'update' ? vA : null);
      // the register's latest event is the new measurement, naming the version
      const ev = latest(await eventLog(), COMPONENT_PCR[name]);
      assert.equal(ev?.digest, b.digest);
      assert.ok(ev?.description.includes(want), ev?.description);
      // the region: refused under the old release policy, accepted once the policy names the new bundle
      if (policyBefore) {
        const v = await r.regionVerdict();
        assert.equal(v.ok, false, 'the old release policy refuses the updated host');
        assert.equal(v.code, 'AttestationPcrMismatch');
        assert.deepEqual(v.mismatches.map((m) => m.pcr), [COMPONENT_PCR[name]]);
      }
      current[name] = b;
      if (policyBefore) {
        // what the operator does: `nitride release policy --measurements` over the bundles the host now runs
        const cli = spawnSync(process.execPath, [
          distEntry('cli/main.js'), 'release', 'policy', '--measurements', '--pubkey', r.releasePubPath, '--release', 'after-ebs-update',
          '--bundle', r.dir('A', 'controller'), '--bundle', r.dir('A', 'hypervisor'), '--bundle', r.dir('B', 'ebs-card'), '--bundle', r.dir('A', 'vpc-card'),
        ], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(cli.status, 0, cli.stderr);
        const m = JSON.parse(cli.stdout) as { release: string; measurements: Record<string, string> };
        assert.equal(m.measurements['3'], b.digest);
        const att = r.region?.fleet.attestation;
        assert.ok(att);
        await att.setReleasePolicy(m);
        await att.assignRelease(r.hostId, m.release);
        const v1 = await r.regionVerdict();
        assert.equal(v1.ok, true, `accepted under the policy the CLI printed: ${JSON.stringify(v1)}`);
      }
      await r.assignCurrentRelease(current);
      const v2 = await r.regionVerdict();
      assert.equal(v2.ok, true, `the region accepts the host under the new policy: ${JSON.stringify(v2)}`);
      // the guest kept running in the same QEMU
      assert.equal(await qemuPid(), guestPid, 'the same QEMU process');
    };
    for (const c of ['ebs', 'vpc', 'hypervisor'] as const) await step(c, 'update');
    for (const c of ['ebs', 'vpc', 'hypervisor'] as const) await step(c, 'rollback');

    // --- the controller itself: a successor from the bundle takes the components, the listening
    // socket and the audit log; the old process exits; the guest keeps running in the same QEMU
    for (const kind of ['update', 'rollback'] as const) {
      const oldPid = r.controllerPid();
      assert.ok(oldPid);
      await step('controller', kind);
      const newPid = r.controllerPid();
      assert.notEqual(newPid, oldPid);
      await waitGone(oldPid, 10_000);
      const st = await status();
      for (const c of ['hypervisor', 'ebs', 'vpc']) assert.equal(st.components.find((x) => x.name === c)?.state, 'running', `${c} runs under the new controller`);
      assert.equal(st.instances.find((i) => i.instanceId === r.instanceId)?.state, 'running');
      const run = runs[runs.length - 1] as UpdateRun;
      say(`controller ${kind}: pid ${String(oldPid)} -> ${String(newPid)}; hand-over ${JSON.stringify(run.result['handover'])}`);
    }

    // the cards' own pause: EBS exports closed→reopened, VPC card frozen
    const ebsUp = runs.find((x) => x.component === 'ebs' && x.kind === 'update');
    const vpcUp = runs.find((x) => x.component === 'vpc' && x.kind === 'update');
    say(`EBS card hand-over: ${JSON.stringify((ebsUp?.result['handover'] as { outageMs?: number })?.outageMs)} ms exports closed; VPC card frozen ${JSON.stringify((vpcUp?.result['handover'] as { liveUpdate?: { frozenMs?: number } })?.liveUpdate?.frozenMs)} ms`);

    // --- the audit log: every host.update accepted before any of its effects
    const recs = readChain<Record<string, unknown>>(hostPaths(r.home).audit).map((x) => x.event);
    const updateIds = new Set(recs.filter((e) => e['type'] === 'command.accepted' && e['command'] === 'host.update').map((e) => e['id'] as string));
    assert.equal(updateIds.size, 4 + 6 + 2, 'twelve host.update requests');
    let open = 0;
    let effects = 0;
    for (const e of recs) {
      if (e['type'] === 'command.accepted' && e['command'] === 'host.update') open++;
      else if (e['type'] === 'command.result' && e['command'] === 'host.update') open--;
      else if (typeof e['type'] === 'string' && (e['type'] as string).startsWith('component.update')) {
        effects++;
        assert.equal(open, 1, `${String(e['type'])} comes between its request's command.accepted and command.result`);
      }
    }
    assert.equal(recs.filter((e) => e['type'] === 'component.updated').length, 8);
    // the chain is one: each controller hand-over is followed by the successor's start and takeover
    const types = recs.map((e) => e['type']);
    const handovers = types.flatMap((t, i) => (t === 'controller.handover' ? [i] : []));
    assert.equal(handovers.length, 2);
    for (const i of handovers) {
      const next = recs.slice(i + 1);
      assert.equal(next[0]?.['type'], 'controller.start');
      assert.equal(next[0]?.['takeover'], true);
      assert.ok(next.some((e) => e['type'] === 'controller.takeover'));
    }
    assert.equal(verifyChainText(readFileSync(hostPaths(r.home).audit, 'utf8')).ok, true, 'the audit chain verifies across both controllers');
    assert.equal(recs.filter((e) => e['type'] === 'component.update-refused').length, 3);
    assert.ok(effects >= 8 + 8 + 3);
    const refused = recs.find((e) => e['type'] === 'component.update-refused' && e['error'] === 'BundleFileMismatch');
    assert.equal(refused?.['file'], victim);
    ok = true;
  } finally {
    if (!ok && rig) say(rig.diagnostics());
    await rig?.close();
  }
});

test('dev mode: host.update is refused (no release key verifies a bundle)', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-hu-dev-'));
  let ctl: ControllerProcess | undefined;
  let client: ControllerClient | undefined;
  try {
    ctl = await startController(home);
    const region = await makeRegion();
    client = (await enrollAndConnect(ctl, region)).client;
    const c = client;
    await assert.rejects(c.send('host.update', { component: 'ebs', bundle: '/nonexistent/ebs-card' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'UpdateNeedsSignedMode');
      assert.match(e.message, /dev mode/);
      return true;
    });
    await assert.rejects(c.send('host.update', { component: 'hypervisor', rollback: true }), { code: 'UpdateNeedsSignedMode' });
    await assert.rejects(c.send('host.update', { component: 'ebs' }), { code: 'InvalidParameter' });
    await assert.rejects(c.send('host.update', { component: 'ebs', bundle: 'relative/dir' }), { code: 'InvalidParameter' });
    await assert.rejects(c.send('host.update', { component: 'controller', bundle: '/x' }), { code: 'UpdateNeedsSignedMode' });
    await assert.rejects(c.sendUntyped('host.update', { component: 'card', bundle: '/x' }), { code: 'InvalidParameter' });
    const st = (await c.send('host.status', {})) as Status;
    assert.equal(st.components.find((x) => x.name === 'ebs')?.version, 'dev');
  } finally {
    client?.close();
    await ctl?.stop();
    rmSync(home, { recursive: true, force: true });
  }
});
