// Attestation gates everything, region side: a Region opened in this process enrols a real
// controller, which attests at enrolment (trust on first attestation recorded); the verdict
// is in the fleet's host status and the region audit trail; requireAttestedHost hands out
// the attested EBS card key; a host whose PCRs do not match its release policy gets no
// instances (RunInstances → InsufficientInstanceCapacity through the SDK, instance.start
// refused) and no keys; with a matching policy it is placed again.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { readChain } from '../../src/audit/chain.js';
import { regionTrailPath, type StoredAuditEvent } from '../../src/audit/trail.js';
import { devTreeDigest } from '../../src/controller/host-security-chip.js';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { ImageService } from '../../src/region/ec2/images.js';
import { Region } from '../../src/region/region.js';

function attestationEvents(home: string): StoredAuditEvent[] {
  return readChain<StoredAuditEvent>(regionTrailPath(home))
    .map((r) => r.event)
    .filter((e) => e.eventName === 'NitrideHostAttestation');
}

test('the region attests hosts at enrolment and before placement and key release; a mismatching host gets nothing', { timeout: 180_000 }, async () => {
  const hostHome = mkdtempSync(join(tmpdir(), 'nitride-attest-host-'));
  const regionHome = mkdtempSync(join(tmpdir(), 'nitride-attest-region-'));
  let ctl: ControllerProcess | undefined;
  let region: Region | undefined;
  try {
    ctl = await startController(hostHome);
    // A built-in image whose files exist (the controller measures them into PCR 6) but whose
    // recorded sha256 is wrong: a launch that gets through placement ends at the hypervisor's
    // ImageCorrupt check, without a guest.
    const kernel = join(regionHome, 'vmlinuz');
    const initrd = join(regionHome, 'initrd');
    writeFileSync(kernel, 'not a kernel');
    writeFileSync(initrd, 'not an initrd');
    region = await Region.open({
      home: regionHome,
      port: 0,
      localHost: false,
      reconcileIntervalMs: 500,
      builtinImage: { kernel: { path: kernel, sha256: '0'.repeat(64) }, initrd: { path: initrd, sha256: '0'.repeat(64) }, cmdline: 'console=ttyS0', kernelVersion: 'test', version: 'test' },
    });
    const r = region;
    const host = await r.fleet.enroll('127.0.0.1', ctl.runtime.port, readToken(hostHome), { fingerprint: ctl.runtime.fingerprint });
    const att = r.fleet.attestation;
    assert.ok(att);

    // Enrolment attested the host and recorded trust on first attestation.
    const st = r.fleet.hostStatus().find((h) => h.hostId === host.id)?.attestation;
    assert.equal(st?.ok, true, JSON.stringify(st));
    assert.equal(st?.reason, 'enrolment');
    assert.equal(st?.policy, `tofu:${host.id}`);
    assert.ok(attestationEvents(regionHome).some((e) => e.requestParameters?.['hostId'] === host.id && e.requestParameters['reason'] === 'enrolment' && e.responseElements?.['verdict'] === 'attested'));

    // The key-release hook hands out the card key the attested document bound.
    const attested = await r.fleet.requireAttestedHost(host.id);
    const card = (await r.fleet.send(host.id, 'ebs.info', {}, { id: `t:${Date.now()}` })) as { publicKey: string };
    assert.equal(attested?.ebsCardPublicKey?.toString('base64'), card.publicKey);

    // Hold the host to a release whose hypervisor measurement it does not have.
    const wrong = 'ab'.repeat(48);
    await att.setReleasePolicy({ release: 'r-wrong', measurements: { '2': wrong } });
    await att.assignRelease(host.id, 'r-wrong');
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey }, maxAttempts: 1 });
    const run = { ImageId: ImageService.builtinId(), InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };
    await assert.rejects(ec2.send(new RunInstancesCommand(run)), (e: { name?: string }) => e.name === 'InsufficientInstanceCapacity');
    const refused = r.fleet.hostStatus().find((h) => h.hostId === host.id)?.attestation;
    assert.equal(refused?.ok, false);
    assert.equal(refused?.code, 'AttestationPcrMismatch');
    assert.equal(refused?.mismatches[0]?.pcr, 2);
    assert.equal(refused?.mismatches[0]?.expected, wrong);
    assert.equal(refused?.mismatches[0]?.actual, devTreeDigest().digest);
    await assert.rejects(r.fleet.requireAttestedHost(host.id), (e: { code?: string }) => e.code === 'InsufficientInstanceCapacity');
    // What `nitride host status` shows on the region's machine.
    const file = JSON.parse(readFileSync(join(regionHome, 'region', 'host-attestation.json'), 'utf8')) as Record<string, { ok: boolean; code: string }>;
    assert.equal(file[host.id]?.ok, false);
    assert.equal(file[host.id]?.code, 'AttestationPcrMismatch');
    await assert.rejects(r.fleet.send(host.id, 'instance.start', {} as never /* refused before the params are read */, { id: `t2:${Date.now()}` }), (e: { code?: string }) => e.code === 'InsufficientInstanceCapacity');
    const ev = attestationEvents(regionHome).find((e) => e.errorCode === 'AttestationPcrMismatch');
    assert.ok(ev, 'the refusal is in the region audit trail');
    assert.equal(ev.responseElements?.['verdict'], 'refused');

    // The release the host really runs (its dev tree): attested and placed again.
    const d = devTreeDigest().digest;
    await att.setReleasePolicy({ release: 'r-dev', measurements: { '1': d, '2': d, '3': d, '4': d } });
    await att.assignRelease(host.id, 'r-dev');
    const out = await ec2.send(new RunInstancesCommand(run));
    assert.equal(out.Instances?.length, 1);
    assert.equal(r.fleet.hostStatus().find((h) => h.hostId === host.id)?.attestation?.policy, 'r-dev');
    ec2.destroy();
  } finally {
    await region?.close();
    await ctl?.stop();
    rmSync(hostHome, { recursive: true, force: true });
    rmSync(regionHome, { recursive: true, force: true });
  }
});
