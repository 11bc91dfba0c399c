import type { HostUpdateFleet } from './host-updates.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AttestationPolicyRecord, HostVerdict, RegionAttestation } from './attestation-gate.js';
import { HostUpdateService, parseReleaseMeasurements } from './host-updates.js';
import { parseEc2Request } from './protocol/ec2/requests/index.js';
import { renderEc2Response } from './protocol/ec2/responses/index.js';
import type { ReleaseMeasurements } from '../security-chip/policy.js';

const H = (c: string): string => c.repeat(96);
const OP = '111122223333';

const req = (o: Record<string, string>): ReturnType<typeof parseEc2Request> => parseEc2Request(new Map(Object.entries({ Version: '2016-11-15', ...o })));
const code = (f: () => unknown): string => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

test('NitrideUpdateHostComponent / NitrideSetHostRelease parse, refuse bad input in EC2 terms, and render', () => {
  assert.deepEqual(req({ Action: 'NitrideUpdateHostComponent', Component: 'ebs', Bundle: '/rel/B/ebs-card' }), { action: 'NitrideUpdateHostComponent', dryRun: false, hostId: undefined, component: 'ebs', bundle: '/rel/B/ebs-card', rollback: false });
  assert.deepEqual(req({ Action: 'NitrideUpdateHostComponent', Component: 'controller', Rollback: 'true', HostId: 'h-1' }), { action: 'NitrideUpdateHostComponent', dryRun: false, hostId: 'h-1', component: 'controller', bundle: undefined, rollback: true });
  assert.equal(code(() => req({ Action: 'NitrideUpdateHostComponent', Component: 'qemu', Bundle: '/x' })), 'InvalidParameterValue');
  assert.equal(code(() => req({ Action: 'NitrideUpdateHostComponent', Bundle: '/x' })), 'MissingParameter');
  assert.equal(code(() => req({ Action: 'NitrideUpdateHostComponent', Component: 'ebs' })), 'InvalidParameterCombination');
  assert.equal(code(() => req({ Action: 'NitrideUpdateHostComponent', Component: 'ebs', Bundle: '/x', Rollback: 'true' })), 'InvalidParameterCombination');
  assert.equal(code(() => req({ Action: 'NitrideUpdateHostComponent', Component: 'ebs', Bundle: 'relative/dir' })), 'InvalidParameterValue');
  assert.equal(code(() => req({ Action: 'NitrideSetHostRelease' })), 'MissingParameter');
  const xml = renderEc2Response('rid-1', { action: 'NitrideUpdateHostComponent', hostId: 'h-1', component: 'ebs', version: '2', digest: H('a'), previousVersion: '1', release: 'r2', attested: true });
  assert.match(xml, /<NitrideUpdateHostComponentResponse[^>]*>/);
  for (const leaf of ['<hostId>h-1</hostId>', '<component>ebs</component>', '<version>2</version>', `<digest>${H('a')}</digest>`, '<previousVersion>1</previousVersion>', '<release>r2</release>', '<attested>true</attested>']) assert.ok(xml.includes(leaf), leaf);
});

test('NitrideAddHost parses only with a bootstrap fingerprint or a named TrustOnFirstUse, and renders', () => {
  const base = { Action: 'NitrideAddHost', Address: '10.0.0.5', Port: '7443', Token: 'tok' };
  const fp = 'ab'.repeat(32);
  assert.deepEqual(req({ ...base, BootstrapFingerprint: fp }), { action: 'NitrideAddHost', dryRun: false, address: '10.0.0.5', port: 7443, token: 'tok', bootstrapFingerprint: fp, trustOnFirstUse: false });
  assert.deepEqual(req({ ...base, TrustOnFirstUse: 'true' }), { action: 'NitrideAddHost', dryRun: false, address: '10.0.0.5', port: 7443, token: 'tok', bootstrapFingerprint: undefined, trustOnFirstUse: true });
  assert.equal(code(() => req(base)), 'MissingParameter', 'trust on first use is never the silent default');
  assert.equal(code(() => req({ ...base, TrustOnFirstUse: 'false' })), 'MissingParameter');
  assert.equal(code(() => req({ ...base, BootstrapFingerprint: fp, TrustOnFirstUse: 'true' })), 'InvalidParameterCombination');
  assert.equal(code(() => req({ Action: 'NitrideAddHost', Address: '10.0.0.5', Token: 'tok', BootstrapFingerprint: fp })), 'MissingParameter');
  const xml = renderEc2Response('rid-2', { action: 'NitrideAddHost', hostId: 'h-1', certFingerprint: fp, trust: 'pinned' });
  for (const leaf of ['<hostId>h-1</hostId>', `<certFingerprint>${fp}</certFingerprint>`, '<trust>pinned</trust>']) assert.ok(xml.includes(leaf), leaf);
});

test('a release policy document: the JSON of `nitride release policy --measurements`, checked', () => {
  assert.deepEqual(parseReleaseMeasurements(JSON.stringify({ release: 'rel-1', measurements: { '1': H('A'), '7': H('b') } })), { release: 'rel-1', measurements: { '1': H('a'), '7': H('b') } });
  for (const bad of ['nope', '{}', JSON.stringify({ release: 'x y', measurements: { '1': H('a') } }), JSON.stringify({ release: 'r', measurements: {} }), JSON.stringify({ release: 'r', measurements: { '16': H('a') } }), JSON.stringify({ release: 'r', measurements: { '1': 'abc' } })]) {
    assert.equal(code(() => parseReleaseMeasurements(bad)), 'InvalidParameterValue', bad);
  }
});

/** The region's policy store and verdicts as HostUpdateService uses them (the real store is exercised by the VM test). */
class Policies {
  releases = new Map<string, ReleaseMeasurements>();
  host: AttestationPolicyRecord | undefined;
  verdictOk = true;
  attests = 0;
  policyOf(): ReleaseMeasurements | undefined {
    return this.host ? this.releases.get(this.host.measurements.release) : undefined;
  }
  hostRecord(): AttestationPolicyRecord | undefined {
    return this.host;
  }
  releasePolicy(r: string): ReleaseMeasurements | undefined {
    return this.releases.get(r);
  }
  async setReleasePolicy(m: ReleaseMeasurements): Promise<void> {
    this.releases.set(m.release, m);
  }
  async assignRelease(hostId: string, release: string, previous?: string): Promise<void> {
    this.host = { id: `host:${hostId}`, kind: 'host-release', measurements: { release, measurements: {} }, recordedAt: '', ...(previous !== undefined ? { previous } : {}) };
  }
  async attest(hostId: string): Promise<HostVerdict> {
    this.attests++;
    return { hostId, ok: this.verdictOk, unreachable: false, at: '', reason: '', policy: null, code: null, message: null, mismatches: [] } as unknown as HostVerdict;
  }
}

test('HostUpdateService: operator only; the host must report the bundle the region measured; the derived release and the rollback', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-hu-'));
  try {
    const bundle = join(dir, 'ebs-card');
    mkdirSync(bundle);
    const manifest = JSON.stringify({ name: 'ebs-card', version: '2', files: [] });
    writeFileSync(join(bundle, 'manifest.json'), manifest);
    const digest = createHash('sha384').update(manifest).digest('hex');
    const sent: { type: string; params: Record<string, unknown> }[] = [];
    let reply: unknown = { current: { version: '2', digest }, previous: { version: '1' } };
    const fleet = {
      hosts: () => [{ id: 'h-1' }],
      send: (async (_h: string, type: string, params: unknown) => {
        sent.push({ type, params: params as Record<string, unknown> });
        if (reply instanceof Error) throw reply;
        return reply;
      }) as HostUpdateFleet['send'],
      enroll: () => Promise.reject(new Error('no enrolment in this test')),
    };
    const p = new Policies();
    const svc = new HostUpdateService({ fleet, attestation: p as unknown as RegionAttestation, operatorAccountId: OP, now: () => 42 });
    const op = { accountId: OP };
    const errCode = (x: Promise<unknown>): Promise<string> => x.then(() => 'no error', (e: { code: string }) => e.code);

    assert.equal(await errCode(svc.update({ accountId: '999988887777' }, undefined, 'ebs', { bundle })), 'UnauthorizedOperation', 'a tenant account administers no host');
    assert.equal(await errCode(svc.update(op, undefined, 'ebs', { bundle })), 'IncorrectState', 'a host held to no release');
    await svc.setRelease(op, undefined, JSON.stringify({ release: 'rel-a', measurements: { '1': H('1'), '3': H('3'), '7': H('7') } }));
    assert.equal(p.host?.measurements.release, 'rel-a');
    assert.equal(await errCode(svc.update(op, 'h-9', 'ebs', { bundle })), 'InvalidHostID.NotFound');
    assert.equal(await errCode(svc.update(op, undefined, 'vpc', { bundle })), 'InvalidParameterValue', 'an EBS bundle is not the VPC card');
    assert.equal(await errCode(svc.update(op, undefined, 'ebs', { bundle: join(dir, 'none') })), 'InvalidParameterValue');
    assert.equal(sent.length, 0, 'nothing reached the host');

    const r = await svc.update(op, undefined, 'ebs', { bundle });
    assert.deepEqual(sent.at(-1), { type: 'host.update', params: { component: 'ebs', bundle } });
    assert.equal(r.digest, digest);
    assert.equal(r.attested, true);
    assert.deepEqual(p.releases.get(r.release)?.measurements, { '1': H('1'), '3': digest, '7': H('7') }, 'PCR 3 (EBS card) replaced, the rest kept');
    assert.equal(p.host?.previous, 'rel-a');

    // The host refuses (tampered bundle): its code reaches the caller, the policy stays.
    const { ControllerError } = await import('../controller/errors.js');
    reply = new ControllerError('BundleFileMismatch', 'denied', 'dist/src/ebs/card/main.js differs');
    assert.equal(await errCode(svc.update(op, undefined, 'ebs', { bundle })), 'BundleFileMismatch');
    assert.equal(p.host?.measurements.release, r.release);

    // A host that reports another measurement is not trusted with the new release.
    reply = { current: { version: '2', digest: H('e') } };
    assert.equal(await errCode(svc.update(op, undefined, 'ebs', { bundle })), 'InternalError');
    assert.equal(p.host?.measurements.release, r.release);

    // Rollback: back to rel-a, whose PCR 3 the host must report.
    reply = { current: { version: '1', digest: H('3') }, previous: { version: '2' } };
    const back = await svc.update(op, undefined, 'ebs', { rollback: true });
    assert.deepEqual(sent.at(-1), { type: 'host.update', params: { component: 'ebs', rollback: true } });
    assert.equal(back.release, 'rel-a');
    assert.equal(p.host?.measurements.release, 'rel-a');
    assert.equal(await errCode(svc.update(op, undefined, 'ebs', { rollback: true })), 'IncorrectState', 'one step back only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
