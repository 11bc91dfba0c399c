// NitroTPM: one swtpm (TPM 2.0) per instance whose image asks for TpmSupport v2.0.
//
//   <instance dir>/tpm/          swtpm's state (tpm2-00.permall), ENCRYPTED with AES-256-CBC
//                                under the instance's vTPM key (swtpm --key fd=…,mode=aes-256-cbc)
//   <instance dir>/run/tpm.sock  swtpm's control socket (0600, the instance's user), QEMU's -chardev socket
//   <instance dir>/run/tpm.pid   swtpm's pid, to re-adopt or end it after a hypervisor restart
//
// When the hypervisor is root, swtpm runs in the instance's jail (src/hypervisor/jail/) as the
// instance's own user, like its QEMU; provisioning (swtpm_setup, before any guest runs) runs
// as root and then gives the state directory to that user.
//   <instance dir>/tpm-ek.json   the EK public areas (TPMT_PUBLIC, base64): public, not secret
//
// The key never touches the disk: it is written into a pipe that swtpm (and swtpm_setup)
// reads as file descriptor 3. Where the key comes from is the caller's business (see
// docs/NITROTPM.md for the choice); this module only requires 32 bytes.
//
// Provisioning (first launch) runs swtpm_setup --createek, which creates the RSA 2048 EK at
// 0x81010001 and the ECC EK at 0x81010016, then reads both public areas once with
// TPM2_ReadPublic through a short-lived swtpm server socket, and records them: the EK is
// fixed for the life of the state, so GetInstanceTpmEkPub answers from the record.
import { spawn, spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { NitrideError } from '../lib/errors.js';
import type { QemuConfinement } from './qemu-process.js';
import { EK_HANDLE_ECC, EK_HANDLE_RSA, parseReadPublicResponse, parseTpmtPublic, readPublicCommand, responseSize } from './protocol/tpm2.js';

export class VtpmError extends NitrideError {}

export interface VtpmFiles {
  readonly stateDir: string;
  readonly ctrlSocket: string;
  readonly pidFile: string;
  readonly ekFile: string;
}

export function vtpmFiles(instanceDir: string): VtpmFiles {
  return { stateDir: join(instanceDir, 'tpm'), ctrlSocket: join(instanceDir, 'run', 'tpm.sock'), pidFile: join(instanceDir, 'run', 'tpm.pid'), ekFile: join(instanceDir, 'tpm-ek.json') };
}

/** QEMU arguments that connect a tpm-crb device to the instance's swtpm. */
export function vtpmQemuArgs(ctrlSocket: string): string[] {
  return ['-chardev', `socket,id=vtpmchr,path=${ctrlSocket}`, '-tpmdev', 'emulator,id=vtpm0,chardev=vtpmchr', '-device', 'tpm-crb,tpmdev=vtpm0'];
}

function checkKey(key: Buffer): string {
  if (key.length !== 32) throw new VtpmError('VtpmKeyInvalid', 'invalid', 'The vTPM state key must be 32 bytes (AES-256).');
  return `${key.toString('hex')}\n`;
}

function tool(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || p === '') throw new VtpmError('VtpmUnavailable', 'unavailable', `${name} is not installed (package swtpm / swtpm-tools).`, { tool: name });
  return p;
}

/** Runs a program with the key on fd 3 (a pipe); resolves with its exit code and output. */
function runWithKey(cmd: string, args: string[], keyHex: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const keyPipe = child.stdio[3] as NodeJS.WritableStream;
    keyPipe.on('error', () => undefined);
    keyPipe.end(keyHex);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

/** Waits until `done()` while swtpm is `alive()`; `what` names it in the error. */
async function waitForSwtpm(what: string, done: () => boolean, timeoutMs: number, alive: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (!alive()) throw new VtpmError('VtpmStartFailed', 'internal', `swtpm exited before ${what}.`);
    if (Date.now() > end) throw new VtpmError('VtpmStartFailed', 'internal', `swtpm did not get to ${what} within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const waitForPath = (p: string, timeoutMs: number, alive: () => boolean): Promise<void> => waitForSwtpm(`${p} appeared`, () => existsSync(p), timeoutMs, alive);

function tpmRequest(socket: string, cmd: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new VtpmError('VtpmTimeout', 'unavailable', 'The vTPM did not answer.'));
    }, timeoutMs);
    s.on('connect', () => s.write(cmd));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const n = responseSize(buf);
      if (n !== undefined && buf.length >= n) {
        clearTimeout(t);
        s.end();
        resolve(buf.subarray(0, n));
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/**
 * First launch: makes the encrypted state with both EKs and records their public areas.
 * Does nothing when the state exists (a restart keeps the TPM's identity and contents).
 */
export async function provisionVtpm(instanceDir: string, key: Buffer): Promise<void> {
  const f = vtpmFiles(instanceDir);
  const keyHex = checkKey(key);
  if (existsSync(join(f.stateDir, 'tpm2-00.permall')) && existsSync(f.ekFile)) return;
  mkdirSync(f.stateDir, { recursive: true, mode: 0o700 });
  const setup = await runWithKey(tool('swtpm_setup'), ['--tpm2', '--tpmstate', `dir://${f.stateDir}`, '--createek', '--cipher', 'aes-256-cbc', '--keyfile-fd', '3', '--overwrite'], keyHex, 60_000);
  if (setup.code !== 0) throw new VtpmError('VtpmProvisionFailed', 'internal', `swtpm_setup failed (exit ${String(setup.code)}).`, { output: setup.out.slice(-2000) });
  // Read the EKs' public areas once through a private server socket.
  const dataSock = join(instanceDir, 'tpm-setup.sock');
  const ctrlSock = join(instanceDir, 'tpm-setup.ctrl');
  rmSync(dataSock, { force: true });
  rmSync(ctrlSock, { force: true });
  const child = spawn(tool('swtpm'), ['socket', '--tpm2', '--tpmstate', `dir=${f.stateDir}`, '--server', `type=unixio,path=${dataSock},mode=0600`, '--ctrl', `type=unixio,path=${ctrlSock},mode=0600`, '--key', 'fd=3,mode=aes-256-cbc,format=hex', '--flags', 'startup-clear'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  (child.stdio[3] as NodeJS.WritableStream).end(keyHex);
  try {
    await waitForPath(dataSock, 10_000, () => child.exitCode === null);
    const rsa = parseReadPublicResponse(await tpmRequest(dataSock, readPublicCommand(EK_HANDLE_RSA)));
    const ecc = parseReadPublicResponse(await tpmRequest(dataSock, readPublicCommand(EK_HANDLE_ECC)));
    writeFileSync(f.ekFile, `${JSON.stringify({ rsa: rsa.toString('base64'), ecc: ecc.toString('base64') })}\n`, { mode: 0o644 });
  } catch (e) {
    throw new VtpmError('VtpmProvisionFailed', 'internal', `The EK public keys could not be read: ${(e as Error).message}`, { stderr: err.slice(-1000) }, { cause: e });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    rmSync(dataSock, { force: true });
    rmSync(ctrlSock, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running swtpm of an instance (pid file names a live swtpm), or undefined. */
export function runningVtpm(instanceDir: string): number | undefined {
  const f = vtpmFiles(instanceDir);
  try {
    const pid = Number(readFileSync(f.pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.endsWith('swtpm')) && argv.some((a) => a.startsWith(`type=unixio,path=${f.ctrlSocket},mode=0600`)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the instance's swtpm (detached, its own session, so that it outlives a hypervisor
 * restart like QEMU does) and waits for its control socket; re-adopts a running one. Returns its pid.
 */
export async function startVtpm(instanceDir: string, key: Buffer, confinement: QemuConfinement = {}): Promise<number> {
  const f = vtpmFiles(instanceDir);
  const keyHex = checkKey(key);
  const running = runningVtpm(instanceDir);
  if (running !== undefined) return running;
  mkdirSync(join(instanceDir, 'run'), { recursive: true, mode: 0o700 });
  rmSync(f.ctrlSocket, { force: true });
  rmSync(f.pidFile, { force: true });
  const { owner, jail } = confinement;
  const ownerOpt = owner && !jail ? `,uid=${owner.uid},gid=${owner.gid}` : '';
  const args = ['socket', '--tpm2', '--tpmstate', `dir=${f.stateDir}`, '--ctrl', `type=unixio,path=${f.ctrlSocket},mode=0600${ownerOpt}`, '--key', 'fd=3,mode=aes-256-cbc,format=hex', '--flags', 'startup-clear', '--terminate', '--pid', `file=${f.pidFile}`];
  const options = { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] as ('ignore' | 'pipe')[], detached: true };
  if (jail) await chownTree(f.stateDir, jail.plan.uid, jail.plan.gid);
  const child = jail ? jail.jailer.spawn(jail.plan, tool('swtpm'), args, options) : spawn(tool('swtpm'), args, options);
  (child.stdio[3] as NodeJS.WritableStream).on('error', () => undefined);
  (child.stdio[3] as NodeJS.WritableStream).end(keyHex);
  child.unref();
  await waitForPath(f.ctrlSocket, 10_000, () => child.exitCode === null);
  const pid = child.pid;
  if (pid === undefined) throw new VtpmError('VtpmStartFailed', 'internal', 'swtpm did not start.');
  // swtpm may write its pid file after the control socket: until it names this swtpm, a
  // stopVtpm() would not find it (and leave it running, still writing its state).
  await waitForSwtpm(`its pid file named it`, () => runningVtpm(instanceDir) === pid, 10_000, () => child.exitCode === null);
  return pid;
}

/** Gives a directory and everything in it to the instance's user (swtpm_setup made it as root). */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else if (e.isFile()) await chown(p, uid, gid);
  }
}

/** Ends the instance's swtpm (if running) and waits for it to exit; the state stays. */
export async function stopVtpm(instanceDir: string, timeoutMs = 5_000): Promise<void> {
  const pid = runningVtpm(instanceDir);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + timeoutMs;
    while (pidAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (pidAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      const killEnd = Date.now() + 2_000;
      while (pidAlive(pid) && Date.now() < killEnd) await new Promise((r) => setTimeout(r, 20));
    }
  }
  rmSync(vtpmFiles(instanceDir).ctrlSocket, { force: true });
}

/**
 * Terminate: the vTPM's state and EK record are destroyed. A swtpm that was just stopped (or
 * one started with --terminate that is ending with its QEMU) can still write its state file
 * while the directory is removed (ENOTEMPTY seen in CI): the removal is retried for 2 s.
 */
export async function destroyVtpm(instanceDir: string): Promise<void> {
  await stopVtpm(instanceDir);
  const f = vtpmFiles(instanceDir);
  for (let i = 0; ; i++) {
    try {
      rmSync(f.stateDir, { recursive: true, force: true });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || i >= 40) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  rmSync(f.ekFile, { force: true });
  rmSync(f.pidFile, { force: true });
}

export type EkKeyType = 'rsa' | 'ecc-sec-p384';
export type EkKeyFormat = 'der' | 'tpmt';

/** GetInstanceTpmEkPub's KeyValue: the EK public key as DER SubjectPublicKeyInfo or the raw TPMT_PUBLIC, base64. */
export function ekPublic(instanceDir: string, keyType: EkKeyType, format: EkKeyFormat): string {
  const f = vtpmFiles(instanceDir);
  if (!existsSync(f.ekFile)) throw new VtpmError('VtpmNotProvisioned', 'not-found', 'The instance has no vTPM (its image does not ask for TpmSupport v2.0, or it never launched).');
  const rec = JSON.parse(readFileSync(f.ekFile, 'utf8')) as { rsa: string; ecc: string };
  const tpmt = Buffer.from(keyType === 'rsa' ? rec.rsa : rec.ecc, 'base64');
  if (format === 'tpmt') return tpmt.toString('base64');
  const k = parseTpmtPublic(tpmt);
  const b64u = (b: Buffer): string => b.toString('base64url');
  if (k.type === 'rsa') {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(k.exponent);
    return createPublicKey({ key: { kty: 'RSA', n: b64u(k.modulus), e: b64u(e.subarray(e.findIndex((x) => x !== 0))) }, format: 'jwk' }).export({ type: 'spki', format: 'der' }).toString('base64');
  }
  if (k.curve !== 'P-384' && k.curve !== 'P-256') throw new VtpmError('VtpmKeyUnsupported', 'invalid', `The ECC EK is on an unsupported curve ${String(k.curve)}.`);
  return createPublicKey({ key: { kty: 'EC', crv: k.curve, x: b64u(k.x), y: b64u(k.y) }, format: 'jwk' }).export({ type: 'spki', format: 'der' }).toString('base64');
}
