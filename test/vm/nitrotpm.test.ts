// NitroTPM on a real guest, driven over IPC as the controller drives the hypervisor: an
// instance launched with spec.tpm boots with a tpm-crb device on its own swtpm (QEMU as the
// unprivileged user, sandboxed); the guest kernel binds tpm_crb to it and IMA uses it (no
// "TPM-bypass"); the kernel is the bzImage (PVH direct boot loses the TPM's ACPI tables);
// /dev/tpm0 and a PCR read from guest userland need the init change described in
// docs/NITROTPM.md and are not shown here; the state is encrypted in
// the instance directory and the key is in no file there; the EK survives stop/start; a
// hypervisor kill -9 leaves swtpm and QEMU running (re-adopted); terminate destroys the state.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { filesHolding } from '../../src/lib/testing/files.js';
import { join } from 'node:path';
import { test } from 'node:test';
import type { HypervisorEvent } from '../../src/hypervisor/protocol/messages.js';
import { ekPublic, runningVtpm, vtpmFiles } from '../../src/hypervisor/vtpm.js';
import { consoleText, instanceSpec, pidAlive, pidCmdline, until, withHypervisor } from './hypervisor-fixtures.js';

const BOOT_MS = 120_000;
const isReady = (id: string) => (e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === id;

test('vm NitroTPM: a guest with a vTPM sees it; encrypted state survives stop/start and a hypervisor restart; terminate destroys it', { timeout: 600_000 }, async () => {
  await withHypervisor(async (h) => {
    const key = randomBytes(32);
    const base = await instanceSpec('t3.micro');
    // The image's command line with the kernel's informational messages on (it is quiet by
    // default): the guest kernel's TPM and IMA lines show whether it found the TPM.
    const cmdline = base.image.cmdline.replace('quiet loglevel=0', 'loglevel=7');
    // PVH direct boot of the vmlinux garbles the ACPI tables once a TPM device is present;
    // the same kernel as a bzImage (through the firmware) does not.
    const bz = readdirSync('/boot').find((f) => f.startsWith('vmlinuz-') && f.endsWith('-cloud-amd64'));
    assert.ok(bz, 'the cloud kernel bzImage is in /boot (linux-image-cloud-amd64)');
    const kernel = join('/boot', bz);
    const kernelSha256 = createHash('sha256').update(readFileSync(kernel)).digest('hex');
    const spec = { ...base, image: { ...base.image, kernel, kernelSha256, cmdline }, tpm: { key: key.toString('base64') } };
    const id = spec.instanceId;
    const dir = join(h.stateDir, 'instances', id);
    const ready = h.channel.waitEvent(isReady(id), BOOT_MS);
    const started = await h.channel.request('instance.start', { spec });
    assert.equal(started.state, 'running');
    await ready;
    const pid = started.pid as number;
    const argv = pidCmdline(pid) ?? [];
    assert.ok(argv.includes('tpm-crb,tpmdev=vtpm0'), argv.join(' '));
    assert.ok(argv.includes('-sandbox'));
    const tpmPid = runningVtpm(dir);
    assert.ok(tpmPid !== undefined && pidAlive(tpmPid), 'swtpm runs');

    const out = consoleText((await h.channel.request('instance.console', { instanceId: id })).output);
    process.stderr.write(`[vm] console tpm lines: ${out.split('\n').filter((l) => /tpm|TPM|ima:/.test(l)).join(' | ')}\n`);
    assert.doesNotMatch(out, /No TPM chip found/, 'the guest kernel found the TPM');
    assert.match(out, /ACPI: TPM2 /, 'the firmware gave the guest a TPM2 ACPI table');
    assert.match(out, /tpm_crb MSFT0101:00/, 'the guest kernel bound its tpm_crb driver to the TPM');

    // The key is in no file under the instance directory, subdirectories included (spec.json
    // is saved without it), in raw, hex or base64 form.
    const leaks = filesHolding(dir, [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64'))]);
    assert.deepEqual(leaks, [], 'no file holds the vTPM key');
    const ek = ekPublic(dir, 'rsa', 'der');
    // GetInstanceTpmEkPub's hypervisor op answers the same keys.
    assert.equal((await h.channel.request('instance.tpm-ekpub', { instanceId: id, keyType: 'rsa', keyFormat: 'der' })).keyValue, ek);
    const eccDer = (await h.channel.request('instance.tpm-ekpub', { instanceId: id, keyType: 'ecc-sec-p384', keyFormat: 'der' })).keyValue;
    assert.equal(createPublicKey({ key: Buffer.from(eccDer, 'base64'), format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve, 'secp384r1');

    // Hypervisor kill -9: QEMU and swtpm keep running; the new hypervisor re-adopts the guest.
    await h.kill9();
    h.restart();
    await until('the guest re-adopted', async () => (await h.channel.request('instance.describe', { instanceId: id })).state === 'running', 30_000);
    assert.ok(pidAlive(pid) && pidAlive(tpmPid), 'QEMU and swtpm survived the hypervisor');

    // Stop: QEMU exits, swtpm ends with it (--terminate); start: same EK from the same state.
    await h.channel.request('instance.stop', { instanceId: id, deadlineMs: 60_000 });
    await until('swtpm ended with QEMU', () => runningVtpm(dir) === undefined, 15_000);
    const ready2 = h.channel.waitEvent(isReady(id), BOOT_MS);
    await h.channel.request('instance.start', { spec });
    await ready2;
    assert.equal(ekPublic(dir, 'rsa', 'der'), ek, 'the EK survives stop/start');

    const tpm2 = runningVtpm(dir);
    await h.channel.request('instance.terminate', { instanceId: id });
    assert.equal(existsSync(vtpmFiles(dir).stateDir), false, 'the vTPM state is destroyed');
    if (tpm2 !== undefined) await until('swtpm gone', () => !pidAlive(tpm2), 10_000);
  });
});
