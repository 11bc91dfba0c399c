// QEMU runs as an unprivileged system user where the host allows it (root can create
// one); who it is and how to look it up is in src/lib/qemu-user.ts.
import { spawnSync } from 'node:child_process';
import { NitrideError } from '../lib/errors.js';
import { QEMU_USER, qemuUserIds } from '../lib/qemu-user.js';

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
