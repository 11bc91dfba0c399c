// The unprivileged system user QEMU runs as where the host has it (created by setup:
// src/setup/qemu-user.ts). The hypervisor passes `-runas nitride-qemu` when it exists, and
// the cards give it their guest-facing sockets.
import { spawnSync } from 'node:child_process';

export const QEMU_USER = 'nitride-qemu';

export function qemuUserIds(): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', QEMU_USER], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const g = spawnSync('id', ['-g', QEMU_USER], { encoding: 'utf8' });
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}
