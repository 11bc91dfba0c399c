// A key release is judged on an attestation made for it, never on a cached verdict. A real
// controller is enrolled (trust on first attestation records its PCRs); it is restarted on
// the same host home with another host configuration (a fixed port: PCR 0 changes), and the
// region learns its new address. The placement verdict cached at enrolment still says ok
// (that is what a key release used to get for up to 60 s); the next key release attests
// afresh, with a fresh region nonce, and is refused with AttestationPcrMismatch on PCR 0 —
// audited, and shown in the host's record that `nitride host status` reads.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readChain } from '../../src/audit/chain.js';
import { regionTrailPath, type StoredAuditEvent } from '../../src/audit/trail.js';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { Region } from '../../src/region/region.js';

function releaseEvents(home: string): StoredAuditEvent[] {
  return readChain<StoredAuditEvent>(regionTrailPath(home))
    .map((r) => r.event)
    .filter((e) => e.eventName === 'NitrideHostAttestation' && e.requestParameters?.['reason'] === 'key-release');
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('a key release attests afresh: a PCR changed after the cached verdict gets no key, audited and in the host record', { timeout: 180_000 }, async () => {
  const hostHome = mkdtempSync(join(tmpdir(), 'nitride-fresh-host-'));
  const regionHome = mkdtempSync(join(tmpdir(), 'nitride-fresh-region-'));
  let ctl: ControllerProcess | undefined;
  let region: Region | undefined;
  try {
    ctl = await startController(hostHome);
    region = await Region.open({ home: regionHome, port: 0, localHost: false, reconcileIntervalMs: 60_000 });
    const r = region;
    const att = r.fleet.attestation;
    const host = await r.fleet.enroll('127.0.0.1', ctl.runtime.port, readToken(hostHome), { fingerprint: ctl.runtime.fingerprint });
    assert.equal(att.statusOf(host.id)?.ok, true);

    // Two releases in a row: each is an attestation of its own (both audited as key-release).
    const a1 = await r.fleet.requireAttestedHost(host.id);
    const a2 = await r.fleet.requireAttestedHost(host.id);
    assert.ok(a1?.ebsCardPublicKey && a2?.ebsCardPublicKey);
    assert.notStrictEqual(a1.verdict, a2.verdict, 'not one cached verdict handed out twice');
    assert.equal(releaseEvents(regionHome).length, 2, 'one attestation per release');

    // The host's measurements change after its last ok verdict (another host configuration).
    await ctl.stop();
    ctl = await startController(hostHome, { port: await freePort() });
    await r.fleet.relocate(host.id, '127.0.0.1', ctl.runtime.port);
    const cached = await att.verdict(host.id, 'placement');
    assert.equal(cached.ok, true, 'the cached verdict still says ok: a release judged on it would have had a key');

    await assert.rejects(r.fleet.requireAttestedHost(host.id), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'InsufficientInstanceCapacity');
      assert.match(e.message ?? '', /AttestationPcrMismatch/);
      return true;
    });
    const st = r.fleet.hostStatus().find((h) => h.hostId === host.id)?.attestation;
    assert.equal(st?.ok, false);
    assert.equal(st?.reason, 'key-release');
    assert.equal(st?.code, 'AttestationPcrMismatch');
    assert.equal(st?.mismatches[0]?.pcr, 0);
    const refused = releaseEvents(regionHome).at(-1);
    assert.equal(refused?.errorCode, 'AttestationPcrMismatch');
    assert.equal(refused?.responseElements?.['verdict'], 'refused');
    assert.equal((refused?.responseElements?.['mismatches'] as { pcr: number }[])[0]?.pcr, 0);
    // The host record `nitride host status` shows on the region's machine.
    const file = JSON.parse(readFileSync(join(regionHome, 'region', 'host-attestation.json'), 'utf8')) as Record<string, { ok: boolean; code: string; reason: string }>;
    assert.deepEqual({ ok: file[host.id]?.ok, code: file[host.id]?.code, reason: file[host.id]?.reason }, { ok: false, code: 'AttestationPcrMismatch', reason: 'key-release' });
  } finally {
    await region?.close();
    await ctl?.stop();
    rmSync(hostHome, { recursive: true, force: true });
    rmSync(regionHome, { recursive: true, force: true });
  }
});
