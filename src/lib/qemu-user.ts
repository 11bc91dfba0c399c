// The unprivileged system users Nitride runs things as where the host has them (created by
// setup: src/setup/qemu-user.ts): QEMU's shared user, and one user per host component
// (src/lib/privileges.ts COMPONENT_USERS). The hypervisor passes `-runas nitride-qemu` when
// it exists, and the cards give it their guest-facing sockets.
import { spawnSync } from 'node:child_process';

export const QEMU_USER = 'nitride-qemu';

/** uid and primary gid of a local user, undefined when there is none. */
export function systemUserIds(name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export function qemuUserIds(): { uid: number; gid: number } | undefined {
  return systemUserIds(QEMU_USER);
}
