// QEMU runs as an unprivileged system user where the host allows it (root can create
// one), and so does each host component that need not be root (src/lib/privileges.ts
// COMPONENT_USERS); who they are and how to look them up is in src/lib/qemu-user.ts.
import { spawnSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { NitrideError } from '../lib/errors.js';
import { QEMU_USER, systemUserIds } from '../lib/qemu-user.js';
import { COMPONENT_USERS } from '../lib/privileges.js';

/** Creates `name` (system user, its own group, no home, no shell) when missing and possible; says what happened. */
export function ensureSystemUser(name: string): string {
  if (systemUserIds(name)) return `present (${name})`;
  if (process.getuid?.() !== 0) return `${name} absent and not creatable without root`;
  const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new NitrideError('SetupFailed', 'unavailable', `useradd ${name} failed: ${r.stderr.trim()}`, { user: name });
  }
  return `created system user ${name}`;
}

/** QEMU's user: when it cannot be made, QEMU runs as the current user. */
export function ensureQemuUser(): string {
  const said = ensureSystemUser(QEMU_USER);
  return said.includes('not creatable') ? `${said}; QEMU will run as the current user` : said;
}

/** The host components' own users (the EBS and VPC cards, the underlay bridge). */
export function ensureComponentUsers(): string {
  return Object.values(COMPONENT_USERS).map(ensureSystemUser).join('; ');
}

/**
 * The cards load Node and Nitride's code as their own users, so every directory on the way to
 * `paths` must be searchable by others. A checkout under a 0700 directory (root's home, where a
 * CI clone may sit) is not: as root, add the search bit (o+x, never read or write) to each such
 * directory and say which. Listing stays refused; a file there is reachable only by its exact
 * name and its own mode. Without root, say what is missing (the card then refuses to start with
 * ComponentCodeUnreachable).
 */
export function ensureCodeReachable(paths: readonly string[]): string {
  const closed = new Set<string>();
  for (const p of paths) {
    for (let d = p; ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) closed.add(d);
      if (d === dirname(d)) break;
    }
  }
  if (closed.size === 0) return 'the code is searchable by the component users';
  const list = [...closed].sort();
  if (process.getuid?.() !== 0) return `not searchable by the component users (run setup as root, or chmod o+x): ${list.join(' ')}`;
  for (const d of list) chmodSync(d, statSync(d).mode & 0o7777 | 0o001);
  return `let the component users search (chmod o+x, no listing) ${list.join(' ')}`;
}
