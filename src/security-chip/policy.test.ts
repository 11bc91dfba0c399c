import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAttestationDocument, verifyAttestationDocument } from './attestation-document.js';
import { generateReleaseKey, signBundle, verifyBundle, type VerifiedBundle } from './bundle.js';
import { SecurityChipError } from './errors.js';
import { verifyEventLog } from './event-log.js';
import { guestImageDigest, hostConfigDigest, measureBundle, measureGuestImage, measureHostConfig, measureQemu, measureReleaseKey } from './measure.js';
import { COMPONENT_NAMES, PCR, PcrBank, type ComponentName } from './pcr.js';
import { assertPolicy, checkLatestMeasurements, checkPolicy, parsePcrPolicy, policyFromBundles, releaseMeasurements } from './policy.js';
import { makeHostIdentity, type HostIdentity } from './testing/host-identity.js';

let dir: string;
let id: HostIdentity;
const key = generateReleaseKey();

async function bundle(name: ComponentName, content: string): Promise<VerifiedBundle> {
  const b = join(dir, `${name}-${createHash('sha256').update(content).digest('hex').slice(0, 8)}`);
  mkdirSync(b, { recursive: true });
  writeFileSync(join(b, 'main.js'), content);
  await signBundle(b, key.privateKeyPem, { name, version: '1.0.0', createdAt: '2026-11-28T00:00:00.000Z' });
  return verifyBundle(b, key.publicKeyPem, { expectName: name });
}

/** The security chip's measured start, in the documented order. */
async function measuredStart(bundles: VerifiedBundle[], config: unknown): Promise<PcrBank> {
  const bank = new PcrBank();
  measureHostConfig(bank, config);
  measureReleaseKey(bank, (bundles[0] as VerifiedBundle).releaseKeyDigest);
  for (const b of bundles) measureBundle(bank, b);
  await measureQemu(bank, join(dir, 'qemu'));
  await measureGuestImage(bank, { imageId: 'ami-0123456789abcdef0', cmdline: 'console=ttyS0', files: { kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd') } });
  return bank;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nitride-policy-'));
  id = await makeHostIdentity();
  writeFileSync(join(dir, 'qemu'), 'qemu binary');
  writeFileSync(join(dir, 'vmlinux'), 'kernel');
  writeFileSync(join(dir, 'initrd'), 'initrd');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('measured start and the PCR policy', () => {
  it('measures what it says it measures', async () => {
    const bank = new PcrBank();
    const sha = (s: string): string => createHash('sha384').update(s).digest('hex');
    assert.equal(await measureQemu(bank, join(dir, 'qemu')), sha('qemu binary'));
    assert.equal(measureHostConfig(bank, { b: 1, a: [1, 2] }), hostConfigDigest({ a: [1, 2], b: 1 }), 'canonical JSON: key order does not matter');
    assert.equal(measureHostConfig(bank, { b: 1, a: [1, 2] }), sha('{"a":[1,2],"b":1}'));
    const d = await measureGuestImage(bank, { imageId: 'ami-1', files: { kernel: join(dir, 'vmlinux') } });
    assert.equal(d, guestImageDigest({ imageId: 'ami-1', files: { kernel: sha('kernel') } }));
    assert.deepEqual(bank.events().map((e) => e.pcrIndex), [PCR.QEMU, PCR.HOST_CONFIG, PCR.HOST_CONFIG, PCR.GUEST_IMAGE]);
  });

  it('a host running the release passes the policy its bundles imply; its event log replays', async () => {
    const bundles = await Promise.all(COMPONENT_NAMES.map((n) => bundle(n, `${n} v1`)));
    const policy = policyFromBundles('2026.11.28-1', bundles);
    assert.deepEqual(Object.keys(policy.pcrs).sort(), ['1', '2', '3', '4', '7']);
    const bank = await measuredStart(bundles, { hostId: 'h-1', cpus: 2 });
    const doc = createAttestationDocument({ hostKeyPem: id.hostKeyPem, hostCertPem: id.hostCertPem, caChainPem: [id.ca.certPem], moduleId: 'h-1', pcrs: bank.values() });
    const att = verifyAttestationDocument(doc, { caPem: id.ca.certPem, expectedPcrs: policy.pcrs });
    assert.deepEqual(checkPolicy(att, policy), { ok: true, release: '2026.11.28-1', checked: [1, 2, 3, 4, 7] });
    assertPolicy(att, policy);
    verifyEventLog(JSON.parse(JSON.stringify(bank.events())), att.pcrs);
  });

  it('a host with one changed component fails on exactly that register', async () => {
    const good = await Promise.all(COMPONENT_NAMES.map((n) => bundle(n, `${n} v1`)));
    const policy = policyFromBundles('2026.11.28-1', good);
    const evil = [...good];
    evil[1] = await bundle('hypervisor', 'hypervisor v1 with a debug port');
    const bank = await measuredStart(evil, { hostId: 'h-1', cpus: 2 });
    const att = verifyAttestationDocument(createAttestationDocument({ hostKeyPem: id.hostKeyPem, hostCertPem: id.hostCertPem, caChainPem: [id.ca.certPem], moduleId: 'h-1', pcrs: bank.values() }), { caPem: id.ca.certPem });
    const r = checkPolicy(att, policy);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.mismatches, [{ pcr: PCR.HYPERVISOR, expected: policy.pcrs['2'], actual: bank.value(PCR.HYPERVISOR).toString('hex') }]);
    assert.throws(() => assertPolicy(att, policy), (e: unknown) => e instanceof SecurityChipError && e.code === 'AttestationPcrMismatch' && e.context['release'] === '2026.11.28-1');
    // A component measured twice (e.g. a second, unannounced start) also fails the policy.
    const twice = await measuredStart(good, {});
    measureBundle(twice, good[2] as VerifiedBundle);
    assert.deepEqual(checkPolicy({ pcrs: twice.toJSON() }, policy).ok, false);
  });

  it('after a live update, exact PCR values change but the latest measurements name the new release', async () => {
    const v1 = await Promise.all(COMPONENT_NAMES.map((n) => bundle(n, `${n} v1`)));
    const v2 = [...v1];
    v2[2] = await bundle('ebs-card', 'ebs-card v2');
    const bank = await measuredStart(v1, { hostId: 'h-1' });
    measureBundle(bank, v2[2] as VerifiedBundle); // the live update measures the new card before starting it
    const log = JSON.parse(JSON.stringify(bank.events())) as unknown;
    assert.equal(checkPolicy({ pcrs: bank.toJSON() }, policyFromBundles('r2', v2)).ok, false, 'exact values no longer match any single-start policy');
    assert.deepEqual(checkLatestMeasurements(log, bank.values(), releaseMeasurements('r2', v2)), { ok: true, release: 'r2', checked: [1, 2, 3, 4, 7] });
    const r1 = checkLatestMeasurements(log, bank.values(), releaseMeasurements('r1', v1));
    assert.deepEqual(!r1.ok && r1.mismatches, [{ pcr: 3, expected: (v1[2] as VerifiedBundle).digest, actual: (v2[2] as VerifiedBundle).digest }]);
    // A log edited to hide the update does not replay to the attested values.
    const hidden = bank.events().slice(0, -1);
    assert.throws(() => checkLatestMeasurements(hidden, bank.values(), releaseMeasurements('r1', v1)), (e: unknown) => e instanceof SecurityChipError && e.code === 'EventLogMismatch');
    assert.deepEqual(PcrBank.fromEvents(bank.events()).toJSON(), bank.toJSON());
  });

  it('parses policies strictly', () => {
    const ok = parsePcrPolicy({ release: 'r1', pcrs: { '1': 'AB'.repeat(48) }, description: 'x' });
    assert.equal(ok.pcrs['1'], 'ab'.repeat(48));
    for (const bad of [null, [], { release: '', pcrs: { '1': 'ab'.repeat(48) } }, { release: 'r', pcrs: {} }, { release: 'r', pcrs: { '01': 'ab'.repeat(48) } }, { release: 'r', pcrs: { '32': 'ab'.repeat(48) } }, { release: 'r', pcrs: { '1': 'ab' } }, { release: 'r', pcrs: { '1': 'ab'.repeat(48) }, extra: 1 }]) {
      assert.throws(() => parsePcrPolicy(bad), (e: unknown) => e instanceof SecurityChipError && e.code === 'PolicyInvalid', JSON.stringify(bad));
    }
  });
});
