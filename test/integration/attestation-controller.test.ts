// Measured start and host.attest on a real controller process: the dev (working tree)
// measurement, the region-initiated attestation verified against the CA, a fresh nonce and
// a policy, the EBS card's key bound as public_key, replay and policy refusals; signed
// bundles: components forked from verified bundles with the PCRs the release implies, a
// bundle file changed under a running controller refused before the component is forked
// again (PCR 3 marked), and a tampered bundle refused at start, naming the file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { devTreeDigest } from '../../src/controller/host-security-chip.js';
import type { ControllerClient } from '../../src/controller/client.js';
import { readRuntime } from '../../src/controller/host-state.js';
import { enrollAndConnect, makeRegion, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { distEntry, projectRoot } from '../../src/lib/paths.js';
import { buildBundle, generateReleaseKey, type VerifiedBundle } from '../../src/security-chip/bundle.js';
import { defaultBundleSources, isTestFile } from '../../src/security-chip/bundle-sources.js';
import { gateHostAttestation } from '../../src/security-chip/attestation-exchange.js';
import { NonceBook } from '../../src/security-chip/nonce-book.js';
import { COMPONENT_NAMES, singleExtension } from '../../src/security-chip/pcr.js';
import { policyFromBundles } from '../../src/security-chip/policy.js';
import { parseAttestReply } from '../../src/security-chip/protocol/attest-wire.js';
import { waitFor } from '../../src/lib/wait.js';

test('dev mode: measured start, host.attest gated by the region, replay and policy refusals', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-attest-'));
  let ctl: ControllerProcess | undefined;
  let client: ControllerClient | undefined;
  try {
    ctl = await startController(home);
    const region = await makeRegion();
    const c = await enrollAndConnect(ctl, region);
    client = c.client;
    const hostId = c.hostId;

    const st = (await client.send('host.status', {})) as { securityChip: { mode: string; note: string; pcrs: Record<string, string> } };
    assert.equal(st.securityChip.mode, 'dev');
    assert.match(st.securityChip.note, /unsigned/);
    const dev = singleExtension(devTreeDigest().digest);
    for (const i of ['1', '2', '3', '4']) assert.equal(st.securityChip.pcrs[i], dev, `PCR ${i} is the dev tree measurement`);
    assert.ok(st.securityChip.pcrs['0'], 'PCR 0 (host configuration) is extended');

    const book = new NonceBook();
    const nonce = book.issue().toString('hex');
    const reply = await client.send('host.attest', { nonce });
    const card = (await client.send('ebs.info', {})) as { publicKey: string };
    const ok = gateHostAttestation(reply, {
      caPem: region.ca.certPem,
      nonceBook: book,
      hostId,
      policy: { release: 'dev', pcrs: { '1': dev, '2': dev, '3': dev, '4': dev } },
      expectPublicKey: Buffer.from(card.publicKey, 'base64'),
    });
    assert.equal(ok.ok, true, JSON.stringify(ok));

    // The same document again: its nonce was consumed.
    const replay = gateHostAttestation(reply, { caPem: region.ca.certPem, nonceBook: book, hostId });
    assert.equal(replay.ok, false);
    assert.equal(replay.ok ? '' : replay.code, 'AttestationNonceReplayed');

    // A policy for another release: refused with the differing registers.
    const n2 = book.issue().toString('hex');
    const other = singleExtension('00'.repeat(48));
    const bad = gateHostAttestation(await client.send('host.attest', { nonce: n2 }), { caPem: region.ca.certPem, nonceBook: book, hostId, policy: { release: 'r2', pcrs: { '2': other } } });
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.code, 'AttestationPcrMismatch');
      assert.deepEqual(bad.mismatches, [{ pcr: 2, expected: other, actual: dev }]);
    }

    // Another host's id: refused.
    const n3 = book.issue().toString('hex');
    const wrongHost = gateHostAttestation(await client.send('host.attest', { nonce: n3 }), { caPem: region.ca.certPem, nonceBook: book, hostId: 'h-someone-else' });
    assert.equal(wrongHost.ok ? '' : wrongHost.code, 'AttestationHostMismatch');

    // Bad params are refused by the command layer.
    await assert.rejects(client.send('host.attest', { nonce: 'zz' }), (e: { code?: string }) => e.code === 'InvalidParameter');
  } finally {
    client?.close();
    await ctl?.stop();
    rmSync(home, { recursive: true, force: true });
  }
});

function runController(home: string, args: string[]): { proc: ReturnType<typeof spawn>; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [distEntry('controller/main.js'), '--home', home, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NITRIDE_HOME: home } });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

test('signed mode: components run from verified bundles; a tampered bundle stops the start naming the file', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-attest-bundles-'));
  chmodSync(dir, 0o711); // the cards load their bundles as their own users (docs/THREAT-MODEL.md "Users and privileges …")
  const home = mkdtempSync(join(tmpdir(), 'nitride-attest-home-'));
  const home2 = mkdtempSync(join(tmpdir(), 'nitride-attest-home2-'));
  let run: ReturnType<typeof runController> | undefined;
  let run2: ReturnType<typeof runController> | undefined;
  let client: ControllerClient | undefined;
  try {
    const key = generateReleaseKey();
    const pub = join(dir, 'release.pub');
    writeFileSync(pub, key.publicKeyPem);
    const root = projectRoot();
    // The components' code only: dist/src, package.json and the native addon (no node_modules;
    // the components the controller forks use none).
    const from = defaultBundleSources(root).filter((p) => !p.startsWith('node_modules'));
    const bundles: VerifiedBundle[] = [];
    for (const name of COMPONENT_NAMES) {
      bundles.push(await buildBundle({ name, version: '9.9.9-test', from, root, out: join(dir, 'bundles', name), exclude: isTestFile }, key.privateKeyPem));
    }
    run = runController(home, ['--bundles', join(dir, 'bundles'), '--release-pubkey', pub]);
    const r0 = run;
    const end = Date.now() + 30_000;
    while (readRuntime(home)?.pid !== r0.proc.pid) {
      if (Date.now() > end || r0.proc.exitCode !== null) throw new Error(`the controller did not start\n${r0.out()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const region = await makeRegion();
    const fake: ControllerProcess = { proc: r0.proc, home, runtime: readRuntime(home)!, output: r0.out, stop: async () => undefined };
    const c = await enrollAndConnect(fake, region);
    client = c.client;
    const st = (await client.send('host.status', {})) as { securityChip: { mode: string; bundles: { name: string; digest: string }[] }; components: { name: string; state: string; pid: number }[] };
    assert.equal(st.securityChip.mode, 'signed');
    assert.deepEqual(st.securityChip.bundles.map((b) => b.name), [...COMPONENT_NAMES]);
    // The hypervisor runs from its bundle: its process's entry point is inside the bundle directory.
    const hv = st.components.find((x) => x.name === 'hypervisor');
    assert.ok(hv?.pid);
    const { readFileSync } = await import('node:fs');
    const cmdline = readFileSync(`/proc/${hv.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes(join(dir, 'bundles', 'hypervisor', 'dist', 'src', 'hypervisor', 'main.js')), cmdline.join(' '));

    const book = new NonceBook();
    const verdict = gateHostAttestation(await client.send('host.attest', { nonce: book.issue().toString('hex') }), {
      caPem: region.ca.certPem,
      nonceBook: book,
      hostId: c.hostId,
      policy: policyFromBundles('9.9.9-test', bundles),
    });
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    if (verdict.ok) assert.deepEqual(verdict.checked, [1, 2, 3, 4, 7]);

    // Tamper with one file of the EBS card's bundle (as root on the host could) and kill the
    // card: the running controller checks the bundle before it forks the card again, so the
    // changed code never runs; it keeps refusing at each retry, and PCR 3 says why.
    const victim = 'dist/src/ebs/card/main.js';
    appendFileSync(join(dir, 'bundles', 'ebs-card', victim), '\n// tampered\n');
    const card0 = st.components.find((x) => x.name === 'ebs') as { pid: number; restarts?: number };
    process.kill(card0.pid, 'SIGKILL');
    type Comp = { name: string; state: string; pid?: number; restarts: number };
    await waitFor('the card refused twice and not started', async () => {
      const s = (await client!.send('host.status', {})) as { components: Comp[] };
      const e = s.components.find((x) => x.name === 'ebs');
      return e !== undefined && e.pid === undefined && e.state === 'backoff' && e.restarts >= (card0.restarts ?? 0) + 2 ? true : undefined;
    }, 30_000, 100);
    const refusedReply = await client.send('host.attest', { nonce: book.issue().toString('hex') });
    const last3 = parseAttestReply(refusedReply).eventLog.filter((e) => e.pcrIndex === 3).at(-1);
    assert.match(last3?.description ?? '', new RegExp(`failed its check before a restart: ${victim.replace(/[./]/g, '\\$&')} differs; not started`));
    const refusedVerdict = gateHostAttestation(refusedReply, { caPem: region.ca.certPem, nonceBook: book, hostId: c.hostId, policy: policyFromBundles('9.9.9-test', bundles) });
    assert.equal(refusedVerdict.ok ? '' : refusedVerdict.code, 'AttestationPcrMismatch');
    assert.deepEqual(refusedVerdict.ok ? [] : refusedVerdict.mismatches.map((m) => m.pcr), [3]);
    assert.ok(!run.out().includes('// tampered'), 'the changed code never ran');

    // The next controller refuses to start at all.
    run2 = runController(home2, ['--bundles', join(dir, 'bundles'), '--release-pubkey', pub]);
    const code = await Promise.race([run2.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
    assert.equal(code, 1, run2.out());
    assert.match(run2.out(), /BundleFileMismatch|does not match|differs/);
    assert.ok(run2.out().includes(victim), run2.out());
    assert.equal(readRuntime(home2), undefined, 'it never listened');
  } finally {
    client?.close();
    for (const r of [run, run2]) {
      if (r && r.proc.exitCode === null) {
        r.proc.kill('SIGTERM');
        const t = setTimeout(() => r.proc.kill('SIGKILL'), 5_000);
        await r.exited;
        clearTimeout(t);
      }
    }
    for (const d of [dir, home, home2]) rmSync(d, { recursive: true, force: true });
  }
});
