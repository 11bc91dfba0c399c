// Reading a guest's jail from outside, for the VM tests: its uid from the hypervisor's table,
// the cgroups its launch recorded, and the credentials and namespaces of a process.
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The instance's uid (= gid) in the hypervisor's jail table, or undefined. */
export function jailIdOf(stateDir: string, instanceId: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'jail-ids.json'), 'utf8')) as { ids: Record<string, number> }).ids[instanceId];
  } catch {
    return undefined;
  }
}

/** The cgroup directories of the instance's current launch (runtime.json), or []. */
export function instanceCgroups(instanceDir: string): string[] {
  try {
    return (JSON.parse(readFileSync(join(instanceDir, 'runtime.json'), 'utf8')) as { cgroups?: string[] }).cgroups ?? [];
  } catch {
    return [];
  }
}

/** Uid, gid, supplementary groups, NoNewPrivs and the capability sets of a process. */
export function credentialsOf(pid: number): { uid: number; gid: number; groups: string; noNewPrivs: string; capEff: string; capBnd: string } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(st)?.[1]?.trim() ?? '';
  return {
    uid: Number(field('Uid').split(/\s+/)[0]),
    gid: Number(field('Gid').split(/\s+/)[0]),
    groups: field('Groups'),
    noNewPrivs: field('NoNewPrivs'),
    capEff: field('CapEff'),
    capBnd: field('CapBnd'),
  };
}

/** The jail cgroups of every instance under a hypervisor's `instances` directory (read before its guests are killed). */
export function cgroupsUnder(instancesDir: string): string[] {
  return existsSync(instancesDir) ? readdirSync(instancesDir).flatMap((id) => instanceCgroups(join(instancesDir, id))) : [];
}

/**
 * Removes jail cgroups a test's teardown left behind: a hypervisor removes a guest's cgroups when
 * it sees the guest go, but a teardown that kills the hypervisor first leaves them. An empty
 * cgroup can be removed once its last task has exited (EBUSY until then), so each is retried
 * for up to 5 s.
 */
export async function removeCgroups(cgroups: readonly string[]): Promise<void> {
  for (const cg of cgroups) {
    const until = Date.now() + 5000;
    while (existsSync(cg) && Date.now() < until) {
      try {
        rmdirSync(cg);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
        await sleep(50);
      }
    }
  }
}
