// HostSecurityChip's live-update side: verifying an update bundle with the host's release key,
// measuring it (the event names the version), recording current and previous bundles in
// components.json, rollback popping the history, a restarted chip starting from the record,
// and dev mode refusing updates. Tiny bundles (one entry file each) keep this fast.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildBundle, generateReleaseKey } from '../security-chip/bundle.js';
import { replayEventLog } from '../security-chip/event-log.js';
import { guestImageDigest } from '../security-chip/measure.js';
import { COMPONENT_NAMES, COMPONENT_PCR, type ComponentName } from '../security-chip/pcr.js';
import { bundleEntry, COMPONENT_ENTRY, HostSecurityChip, readComponentRecord } from './host-security-chip.js';

const ENTRY: Record<ComponentName, string> = { controller: 'dist/src/controller/main.js', ...Object.fromEntries(Object.entries(COMPONENT_ENTRY).map(([k, v]) => [k, `dist/src/${v}`])) } as Record<ComponentName, string>;

/** A stand-in source tree under `root`: one small file at each component's entry path. */
function writeComponentSources(root: string): void {
  for (const f of Object.values(ENTRY)) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), `// ${f}\n`);
  }
}

test('live update bookkeeping: verify, measure, record, rollback, restart from the record, refusals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-chip-update-'));
  try {
    const key = generateReleaseKey();
    const root = join(dir, 'src');
    writeComponentSources(root);
    const build = (which: string, name: ComponentName, version: string, pem = key.privateKeyPem): ReturnType<typeof buildBundle> =>
      buildBundle({ name, version, from: [ENTRY[name]], root, out: join(dir, which, name) }, pem);
    for (const n of COMPONENT_NAMES) await build('A', n, '1.0-a');
    const b = await build('B', 'ebs-card', '1.0-b');
    const recordPath = join(dir, 'components.json');
    const chip = await HostSecurityChip.measuredStart({ bundlesDir: join(dir, 'A'), releasePubKeyPem: key.publicKeyPem, hostConfig: { t: 1 }, recordPath });
    assert.equal(chip.previousBundle('ebs-card'), undefined);
    assert.equal(chip.entryFor('ebs-card'), join(dir, 'A', 'ebs-card', ENTRY['ebs-card']));

    // refusals: another component's bundle, another key, an edited file
    await assert.rejects(chip.verifyUpdate('ebs-card', join(dir, 'A', 'vpc-card')), { code: 'BundleWrongComponent' });
    const foreign = await build('K', 'ebs-card', 'evil', generateReleaseKey().privateKeyPem);
    await assert.rejects(chip.verifyUpdate('ebs-card', foreign.dir), { code: 'BundleSignatureInvalid' });
    await build('T', 'ebs-card', '1.0-t');
    appendFileSync(join(dir, 'T', 'ebs-card', ENTRY['ebs-card']), 'x');
    await assert.rejects(chip.verifyUpdate('ebs-card', join(dir, 'T', 'ebs-card')), (e: Error & { code?: string; context?: { file?: string } }) => {
      assert.equal(e.code, 'BundleFileMismatch');
      assert.equal(e.context?.file, ENTRY['ebs-card']);
      return true;
    });

    // update: measured (event names the version), then recorded with A as previous
    const v = await chip.verifyUpdate('ebs-card', b.dir);
    const ev = chip.measureUpdate(v, 'update');
    assert.equal(ev.pcrIndex, COMPONENT_PCR['ebs-card']);
    assert.equal(ev.description, 'bundle ebs-card 1.0-b (live update)');
    assert.deepEqual(chip.bank.events().at(-1), { pcrIndex: 3, digest: b.digest, description: ev.description });
    chip.commitUpdate(v, 'update');
    assert.equal(chip.currentBundle('ebs-card')?.manifest.version, '1.0-b');
    assert.equal(chip.previousBundle('ebs-card')?.version, '1.0-a');
    assert.equal(bundleEntry(v), join(b.dir, ENTRY['ebs-card']));
    const rec = readComponentRecord(recordPath);
    assert.equal(rec?.components['ebs-card']?.current.version, '1.0-b');
    assert.deepEqual(rec?.components['ebs-card']?.history.map((h) => h.version), ['1.0-a']);
    const versions = chip.versions() as Record<string, { version: string; previous: { version: string } | null }>;
    assert.equal(versions['ebs-card']?.version, '1.0-b');
    assert.equal(versions['ebs-card']?.previous?.version, '1.0-a');

    // a restarted chip with the same --bundles starts each component from its recorded bundle
    const again = await HostSecurityChip.measuredStart({ bundlesDir: join(dir, 'A'), releasePubKeyPem: key.publicKeyPem, hostConfig: { t: 1 }, recordPath });
    assert.equal(again.currentBundle('ebs-card')?.manifest.version, '1.0-b');
    assert.equal(again.previousBundle('ebs-card')?.version, '1.0-a');
    assert.equal(again.entryFor('ebs-card'), join(b.dir, ENTRY['ebs-card']));

    // a failed start: the still-running version is measured again
    chip.measureStillRunning('ebs-card');
    assert.equal(chip.bank.events().at(-1)?.description, 'bundle ebs-card 1.0-b (update failed; still running)');

    // rollback pops the history
    const prev = chip.previousBundle('ebs-card');
    assert.ok(prev);
    const back = await chip.verifyUpdate('ebs-card', prev.dir);
    chip.measureUpdate(back, 'rollback');
    chip.commitUpdate(back, 'rollback');
    assert.equal(chip.currentBundle('ebs-card')?.manifest.version, '1.0-a');
    assert.equal(chip.previousBundle('ebs-card'), undefined);
    assert.deepEqual(readComponentRecord(recordPath)?.components['ebs-card']?.history, []);

    // another --bundles directory: the record is not used
    for (const n of COMPONENT_NAMES) if (n !== 'ebs-card') await build('B', n, '1.0-b');
    const fresh = await HostSecurityChip.measuredStart({ bundlesDir: join(dir, 'B'), releasePubKeyPem: key.publicKeyPem, hostConfig: { t: 1 }, recordPath });
    assert.equal(fresh.currentBundle('controller')?.manifest.version, '1.0-b');
    assert.equal(fresh.previousBundle('ebs-card'), undefined);

    // dev mode: no key, no update
    const dev = await HostSecurityChip.measuredStart({ hostConfig: { t: 1 } });
    await assert.rejects(dev.verifyUpdate('ebs-card', b.dir), { code: 'UpdateNeedsSignedMode' });
    assert.throws(() => dev.requireSignedMode(), { code: 'UpdateNeedsSignedMode' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PCR 6 for root-volume boots: the firmware file QEMU loads, once per file, replayable from the event log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-chip-fw-'));
  try {
    const fw = join(dir, 'bios-256k.bin');
    writeFileSync(fw, Buffer.alloc(4096, 7));
    const chip = await HostSecurityChip.measuredStart({ hostConfig: { t: 1 } });
    const before = chip.bank.events().length;
    await chip.measureBootFirmware('legacy-bios', fw);
    await chip.measureBootFirmware('legacy-bios', fw); // a second start through the same file
    const added = chip.bank.events().slice(before);
    assert.equal(added.length, 1, 'one extension per firmware file');
    assert.equal(added[0]!.pcrIndex, 6);
    const sha384 = createHash('sha384').update(readFileSync(fw)).digest('hex');
    assert.equal(added[0]!.digest, guestImageDigest({ imageId: 'firmware:legacy-bios', files: { firmware: sha384 } }), 'the measurement is the firmware\'s own sha384, read by the host');
    assert.deepEqual(replayEventLog(chip.bank.events()), chip.bank.toJSON(), 'a verifier replays it');
    // a changed file (a firmware package upgrade) is measured again
    writeFileSync(fw, Buffer.alloc(8192, 9));
    await chip.measureBootFirmware('legacy-bios', fw);
    assert.equal(chip.bank.events().length, before + 2);
    await assert.rejects(chip.measureBootFirmware('uefi', join(dir, 'missing.fd')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signed mode, before every fork: a bundle file changed on disk is not started and marks the register; verified again, the bundle is measured again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-chip-refork-'));
  try {
    const key = generateReleaseKey();
    const root = join(dir, 'src');
    writeComponentSources(root);
    for (const n of COMPONENT_NAMES) await buildBundle({ name: n, version: '1.0', from: [ENTRY[n]], root, out: join(dir, 'A', n) }, key.privateKeyPem);
    const chip = await HostSecurityChip.measuredStart({ bundlesDir: join(dir, 'A'), releasePubKeyPem: key.publicKeyPem, hostConfig: { t: 1 } });
    const good = chip.currentBundle('ebs-card')!.digest;
    const pcr3 = (): string => chip.bank.value(3).toString('hex');
    const at0 = pcr3();
    const events0 = chip.bank.events().length;

    // unchanged: nothing is extended
    chip.measureBeforeFork('ebs-card');
    assert.equal(pcr3(), at0);
    assert.equal(chip.bank.events().length, events0);

    // a file edited on disk (as root on the host could): refused, the register marked once
    const file = join(dir, 'A', 'ebs-card', ENTRY['ebs-card']);
    const original = readFileSync(file);
    appendFileSync(file, '// changed\n');
    assert.throws(() => chip.measureBeforeFork('ebs-card'), (e: Error & { code?: string; context?: { file?: string } }) => {
      assert.equal(e.code, 'BundleFileMismatch');
      assert.equal(e.context?.file, ENTRY['ebs-card']);
      return true;
    });
    const marked = chip.bank.events().at(-1)!;
    assert.equal(marked.pcrIndex, 3);
    assert.match(marked.description, /failed its check before a restart: dist\/src\/ebs\/card\/main\.js differs; not started/);
    assert.notEqual(pcr3(), at0);
    assert.throws(() => chip.measureBeforeFork('ebs-card'), { code: 'BundleFileMismatch' });
    assert.equal(chip.bank.events().length, events0 + 1, 'a retry does not mark it again');
    // a live update forking its next bundle (verified and measured by the update itself) is not this check's
    chip.measureBeforeFork('ebs-card', join(dir, 'B', 'ebs-card', ENTRY['ebs-card']));
    assert.equal(chip.bank.events().length, events0 + 1);
    // other components are untouched
    chip.measureBeforeFork('vpc-card');
    assert.equal(chip.bank.events().length, events0 + 1);

    // restored: it starts again, and the latest measurement of PCR 3 is the bundle that runs
    writeFileSync(file, original);
    chip.measureBeforeFork('ebs-card');
    assert.deepEqual(chip.bank.events().at(-1), { pcrIndex: 3, digest: good, description: 'bundle ebs-card 1.0 (verified again before a restart)' });
    assert.equal(replayEventLog(chip.bank.events())['3'], pcr3(), 'the log replays to the register');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
