// QEMU processes on this host: finding the binary, staging an image into an instance
// directory, launching QEMU detached (its own session, so it outlives the hypervisor and
// the controller), and recognising a live QEMU by pid without being fooled by pid reuse.
import { digestFileOnce, type FileDigests } from '../lib/file-digest.js';
import type { ImageDigests } from './protocol/messages.js';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, copyFile, link, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HypervisorError } from './errors.js';
import { guestNameArg, INSTANCE_FILES } from './protocol/qemu-args.js';
import type { GuestImageRef } from './protocol/messages.js';
import type { JailPlan } from './jail/jail-command.js';
import type { Jailer } from './jail/jailer.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface QemuOwner {
  readonly uid: number;
  readonly gid: number;
}

let qemuPathCache: string | undefined;

/** Absolute path of qemu-system-x86_64, or a clear error when it is not installed. */
export function qemuBinary(): string {
  if (qemuPathCache) return qemuPathCache;
  const r = spawnSync('sh', ['-c', `command -v ${QEMU_BINARY}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || p === '') {
    throw new HypervisorError('QemuMissing', 'unavailable', `${QEMU_BINARY} is not installed; run 'nitride setup'.`, { binary: QEMU_BINARY });
  }
  qemuPathCache = p;
  return p;
}

export function qemuVersion(): string | undefined {
  try {
    const r = spawnSync(qemuBinary(), ['--version'], { encoding: 'utf8', timeout: 5000 });
    return /version (\S+)/.exec(r.stdout)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Checks both image parts against their sha256 before anything is created, and returns both
 * digests of each (the sha384 is what the controller measures into PCR 6): one read per file,
 * none when the file is unchanged since the last check (src/lib/file-digest.ts).
 */
export async function verifyImage(image: GuestImageRef): Promise<ImageDigests> {
  const out: Partial<Record<'kernel' | 'initrd', FileDigests>> = {};
  for (const [part, path, want] of [
    ['kernel', image.kernel, image.kernelSha256],
    ['initrd', image.initrd, image.initrdSha256],
  ] as const) {
    let got: FileDigests;
    try {
      got = await digestFileOnce(path);
    } catch (e) {
      throw new HypervisorError('ImageNotFound', 'not-found', `The image ${part} cannot be read.`, { part, path }, { cause: e });
    }
    if (got.sha256 !== want.toLowerCase()) {
      throw new HypervisorError('ImageCorrupt', 'invalid', `The image ${part} does not match its sha256.`, { part, path, expected: want, actual: got.sha256 });
    }
    out[part] = got;
  }
  return { kernel: out.kernel!, initrd: out.initrd! };
}

/**
 * Puts the kernel and initrd into the instance directory, where QEMU (possibly running as
 * the unprivileged user, which cannot traverse root's directories) opens them by relative
 * path. A hard link when the file is world-readable and on the same filesystem, else a
 * private copy readable by QEMU's user only.
 */
export async function stageImage(image: GuestImageRef, dir: string, owner: QemuOwner | undefined): Promise<void> {
  for (const [src, name] of [
    [image.kernel, INSTANCE_FILES.kernel],
    [image.initrd, INSTANCE_FILES.initrd],
  ] as const) {
    const dst = join(dir, name);
    await rm(dst, { force: true });
    const st = await stat(src);
    let linked = false;
    if (!owner || (st.mode & 0o004) !== 0) {
      try {
        await link(src, dst);
        linked = true;
      } catch {
        linked = false;
      }
    }
    if (!linked) {
      await copyFile(src, dst, constants.COPYFILE_FICLONE);
      await chmod(dst, 0o400);
      if (owner) await chown(dst, owner.uid, owner.gid);
    }
  }
}

/** True when the process exists and is not a zombie. */
export async function pidAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when `pid` is a live QEMU launched for `instanceId` (guards against pid reuse). */
export async function pidIsInstance(pid: number, instanceId: string): Promise<boolean> {
  if (!(await pidAlive(pid))) return false;
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return argv.includes(guestNameArg(instanceId)) && (argv[0] ?? '').includes('qemu-system');
  } catch {
    return false;
  }
}

export async function readPidfile(dir: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(join(dir, INSTANCE_FILES.pidfile), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Polls until the pid is gone or the deadline passes; returns whether it exited. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await pidAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

export interface LaunchedQemu {
  readonly pid: number;
  readonly child: ChildProcess;
}

/** How QEMU is confined: in its instance's jail (the hypervisor is root), or only as another user. */
export interface QemuConfinement {
  readonly owner?: QemuOwner;
  readonly jail?: { readonly jailer: Jailer; readonly plan: JailPlan };
}

/** The group of /dev/kvm when its group may read and write it (a KVM guest needs it). */
export async function kvmGroup(): Promise<number | undefined> {
  const kvm = await stat('/dev/kvm').catch(() => undefined);
  return kvm && (kvm.mode & 0o060) === 0o060 ? kvm.gid : undefined;
}

/**
 * Starts QEMU in its own session with the instance directory as working directory: in the
 * instance's jail when one is given, else as the unprivileged user when one is given.
 * stdout/stderr go to qemu.log in that directory.
 */
export async function launchQemu(dir: string, args: readonly string[], confinement: QemuConfinement): Promise<LaunchedQemu> {
  const bin = qemuBinary();
  let owner = confinement.owner;
  // Switching uid drops supplementary groups (libuv calls setgroups(0)), so a KVM guest runs
  // with /dev/kvm's group as its primary group to be able to open the device.
  if (owner && args.includes('kvm')) {
    const kvm = await stat('/dev/kvm').catch(() => undefined);
    if (kvm && (kvm.mode & 0o060) === 0o060) owner = { uid: owner.uid, gid: kvm.gid };
  }
  const log = await open(join(dir, INSTANCE_FILES.qemuLog), 'a', 0o600);
  // QEMU inherits the umask: with 177 what it creates — the QMP socket, its pid file — is
  // 0600, its user's alone (not 0755/0644; QEMU creates no directory). spawn() forks
  // synchronously, so restoring the umask right after affects no other file of this process.
  const umask = process.umask(0o177);
  try {
    let child: ReturnType<typeof spawn>;
    try {
      const jail = confinement.jail;
      child = jail
        ? jail.jailer.spawn(jail.plan, bin, args, { cwd: dir, detached: true, stdio: ['ignore', log.fd, log.fd] })
        : spawn(bin, args, {
            cwd: dir,
            detached: true,
            stdio: ['ignore', log.fd, log.fd],
            ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
          });
    } finally {
      process.umask(umask);
    }
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', reject);
    }).catch((e: unknown) => {
      throw new HypervisorError('QemuLaunchFailed', 'internal', 'QEMU could not be started.', { dir }, { cause: e });
    });
    child.unref();
    return { pid, child };
  } finally {
    await log.close();
  }
}

export async function readQemuLog(dir: string, maxBytes = 4096): Promise<string> {
  try {
    const buf = await readFile(join(dir, INSTANCE_FILES.qemuLog));
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString('utf8');
  } catch {
    return '';
  }
}
