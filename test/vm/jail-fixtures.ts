// Reading a guest's jail from outside, for the VM tests: its uid from the hypervisor's table,
// the cgroups its launch recorded, and the credentials and namespaces of a process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
