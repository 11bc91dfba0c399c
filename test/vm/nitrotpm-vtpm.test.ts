// NitroTPM's vTPM with the real swtpm: provisioning with both EKs, the EK public keys as DER
// and TPMT (checked by Node's crypto parsing the DER), state encrypted at rest (the state file
// does not contain the EK modulus it holds, and swtpm refuses it under another key), a
// restart keeps the EK (stop/start), and terminate destroys the state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTpmtPublic } from '../../src/hypervisor/protocol/tpm2.js';
import { destroyVtpm, ekPublic, provisionVtpm, runningVtpm, startVtpm, stopVtpm, vtpmFiles } from '../../src/hypervisor/vtpm.js';

test('vTPM: encrypted state, EK public keys, survives a restart, destroyed on terminate', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-vtpm-'));
  const key = randomBytes(32);
  try {
    await provisionVtpm(dir, key);
    const f = vtpmFiles(dir);
    const rsaDer = ekPublic(dir, 'rsa', 'der');
    const rsa = createPublicKey({ key: Buffer.from(rsaDer, 'base64'), format: 'der', type: 'spki' });
    assert.equal(rsa.asymmetricKeyType, 'rsa');
    assert.equal(rsa.asymmetricKeyDetails?.modulusLength, 2048);
    const ecc = createPublicKey({ key: Buffer.from(ekPublic(dir, 'ecc-sec-p384', 'der'), 'base64'), format: 'der', type: 'spki' });
    assert.equal(ecc.asymmetricKeyType, 'ec');
    assert.equal(ecc.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    const tpmt = parseTpmtPublic(Buffer.from(ekPublic(dir, 'rsa', 'tpmt'), 'base64'));
    assert.equal(tpmt.type, 'rsa');

    // Encrypted at rest: the state holds the EK, yet its modulus is nowhere in the file.
    const state = readFileSync(join(f.stateDir, 'tpm2-00.permall'));
    assert.ok(state.length > 1000);
    if (tpmt.type === 'rsa') assert.equal(state.indexOf(tpmt.modulus.subarray(0, 32)), -1, 'the EK modulus is not in the state file in plaintext');
    assert.equal(statSync(f.stateDir).mode & 0o777, 0o700);

    // Another key cannot open the state: swtpm exits.
    const wrong = spawn('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${f.stateDir}`, '--ctrl', `type=unixio,path=${join(dir, 'w.sock')}`, '--key', 'fd=3,mode=aes-256-cbc,format=hex', '--flags', 'startup-clear'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let wrongErr = '';
    wrong.stderr?.on('data', (d: Buffer) => (wrongErr += d.toString()));
    (wrong.stdio[3] as NodeJS.WritableStream).end(`${randomBytes(32).toString('hex')}\n`);
    const code = await Promise.race([new Promise<number | null>((r) => wrong.once('exit', (c) => r(c))), new Promise<string>((r) => setTimeout(() => r('running'), 5_000))]);
    if (code === 'running') wrong.kill('SIGKILL');
    assert.notEqual(code, 'running', 'swtpm must refuse a state under another key');
    assert.notEqual(code, 0, wrongErr);

    // Start, re-adopt, stop, start again: same EK (the state survives).
    const pid = await startVtpm(dir, key);
    assert.ok(existsSync(f.ctrlSocket));
    assert.equal(statSync(f.ctrlSocket).mode & 0o777, 0o600);
    assert.equal(runningVtpm(dir), pid);
    assert.equal(await startVtpm(dir, key), pid, 'a running swtpm is re-adopted');
    await stopVtpm(dir);
    assert.equal(runningVtpm(dir), undefined);
    await provisionVtpm(dir, key); // no-op: state exists
    assert.equal(ekPublic(dir, 'rsa', 'der'), rsaDer);
    await startVtpm(dir, key);

    await destroyVtpm(dir);
    assert.equal(runningVtpm(dir), undefined);
    assert.equal(existsSync(f.stateDir), false);
    assert.throws(() => ekPublic(dir, 'rsa', 'der'), (e: { code?: string }) => e.code === 'VtpmNotProvisioned');
  } finally {
    await stopVtpm(dir).catch(() => undefined);
    // A swtpm killed a moment ago may still be flushing its state into the directory
    // (ENOTEMPTY on rmdir); rmSync retries that.
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
