// QEMU runs as an unprivileged system user where the host allows it (root can create
// one). The hypervisor passes `-runas nitride-qemu` when this user exists.
import { spawnSync } from 'node:child_process';
import { NitrideError } from '../lib/errors.js';

export const QEMU_USER = 'nitride-qemu';

export function qemuUserIds(): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', QEMU_USER], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const g = spawnSync('id', ['-g', QEMU_USER], { encoding: 'utf8' });
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Creates the user when missing and possible; returns a sentence saying what happened. */
export function ensureQemuUser(): string {
  if (qemuUserIds()) return `present (${QEMU_USER})`;
  if (process.getuid?.() !== 0) return `absent and not creatable without root; QEMU will run as the current user`;
  const r = spawnSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', QEMU_USER], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new NitrideError('SetupFailed', 'unavailable', `useradd ${QEMU_USER} failed: ${r.stderr.trim()}`, { user: QEMU_USER });
  }
  return `created system user ${QEMU_USER}`;
}
