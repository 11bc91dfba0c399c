// Each instance's own cgroup, under a `nitride.slice`: memory capped at the instance type's
// memory plus QEMU's own overhead, and a ceiling on tasks (QEMU's threads and its swtpm).
// The jail script writes the process into it before anything else runs (jail-command.ts).
//
// cgroup v2 (a unified hierarchy at /sys/fs/cgroup with the memory and pids controllers):
//   /sys/fs/cgroup/nitride.slice/<instanceId>   memory.max, pids.max
// cgroup v1 or a hybrid host (v1 memory and pids hierarchies, as on these test machines):
//   /sys/fs/cgroup/memory/<own>/nitride.slice/<instanceId>   memory.limit_in_bytes
//   /sys/fs/cgroup/pids/<own>/nitride.slice/<instanceId>     pids.max
// where <own> is the hypervisor's own cgroup in that hierarchy, so a hypervisor that itself
// runs under a limit (a container) keeps its guests inside it. The directories made are
// recorded by the caller (runtime.json) and removed when the guest is gone, by whichever
// hypervisor process sees it go.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HypervisorError } from '../errors.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const CGROUP_SLICE = 'nitride.slice';
/** QEMU's own memory beside the guest's: TCG's translation cache, device models, swtpm. */
export const QEMU_OVERHEAD_MIB = { tcg: 768, kvm: 256 } as const;
export const INSTANCE_PIDS_MAX = 512;

export interface CgroupLimits {
  readonly memoryBytes: number;
  readonly pidsMax: number;
}

export function instanceLimits(memoryMiB: number, accel: 'kvm' | 'tcg'): CgroupLimits {
  return { memoryBytes: (memoryMiB + QEMU_OVERHEAD_MIB[accel]) * 1024 * 1024, pidsMax: INSTANCE_PIDS_MAX };
}

function isV2(): boolean {
  try {
    const c = readFileSync(join(CGROUP_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/);
    return c.includes('memory') && c.includes('pids');
  } catch {
    return false;
  }
}

/** This process's cgroup path in the v1 hierarchy of `controller` ('/' when at the top). */
function ownV1Path(controller: string): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (ctrls?.split(',').includes(controller)) return path ?? '/';
  }
  return '/';
}

/** Makes the instance's cgroup directories with their limits; returns them (one per hierarchy). */
export async function createInstanceCgroups(instanceId: string, limits: CgroupLimits): Promise<string[]> {
  try {
    if (isV2()) {
      const slice = join(CGROUP_ROOT, CGROUP_SLICE);
      await mkdir(slice, { recursive: true });
      await writeFile(join(CGROUP_ROOT, 'cgroup.subtree_control'), '+memory +pids');
      await writeFile(join(slice, 'cgroup.subtree_control'), '+memory +pids');
      const dir = join(slice, instanceId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
      await writeFile(join(dir, 'pids.max'), String(limits.pidsMax));
      return [dir];
    }
    const dirs: string[] = [];
    for (const [ctrl, file, value] of [
      ['memory', 'memory.limit_in_bytes', limits.memoryBytes],
      ['pids', 'pids.max', limits.pidsMax],
    ] as const) {
      const mount = join(CGROUP_ROOT, ctrl);
      if (!existsSync(join(mount, 'cgroup.procs'))) throw new Error(`no cgroup v1 ${ctrl} hierarchy at ${mount}`);
      const dir = join(mount, ownV1Path(ctrl), CGROUP_SLICE, instanceId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, file), String(value));
      dirs.push(dir);
    }
    return dirs;
  } catch (e) {
    throw new HypervisorError('CgroupUnavailable', 'unavailable', 'The instance\'s cgroup could not be made; QEMU is not started without one.', { instanceId }, { cause: e });
  }
}

/** The pids in a cgroup directory (empty when it is gone). */
export async function cgroupPids(dir: string): Promise<number[]> {
  try {
    return (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter((x) => x !== '').map(Number);
  } catch {
    return [];
  }
}

/**
 * Removes the directories once their processes are gone; true when all are gone. Whatever is
 * still in one after `graceMs` (a swtpm slow to end) belongs to this instance alone — only its
 * jail puts processes there — and is killed. Each directory gets its own time limit.
 */
export async function removeInstanceCgroups(dirs: readonly string[], graceMs = 3_000, timeoutMs = 5_000): Promise<boolean> {
  let all = true;
  for (const dir of dirs) {
    const start = Date.now();
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() - start >= graceMs + timeoutMs) {
          all = false;
          break;
        }
        if (Date.now() - start >= graceMs) {
          for (const pid of await cgroupPids(dir)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone, or a zombie waiting for its parent
            }
          }
        }
        await sleep(50);
      }
    }
  }
  return all;
}
