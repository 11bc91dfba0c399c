// Least privilege for the host's components: the system user each one runs as and the Linux
// capabilities it keeps, as data, with the reason for each. When the controller (root) forks a
// component it goes through util-linux `setpriv`: no_new_privs, a bounding set of exactly these
// capabilities, and
//  - for a component with a user of its own (COMPONENT_USERS, made by `nitride setup`): that
//    uid and gid, no supplementary group, and the same capabilities inheritable and ambient —
//    the only way a non-root process keeps a capability across exec;
//  - for one that stays uid 0 (the hypervisor; why: docs/THREAT-MODEL.md "Users and privileges
//    of the host components"): empty inheritable and ambient sets — for a root process the
//    bounding set is then all it can ever hold, and all that anything it starts can hold.
// A component missing from the table keeps what its parent has (the controller's own
// successor during a live update). The region starts its local host's controller the same
// way (src/region/local-host.ts).
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NitrideError } from './errors.js';
import { systemUserIds } from './qemu-user.js';

export const SETPRIV = '/usr/bin/setpriv';

const CHILDREN: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  hypervisor: {
    chown: 'gives each guest its files and sockets (jail/jailer.ts)',
    dac_override: 'reads, connects to and removes what a guest owns in its run/ and tpm/ directories',
    dac_read_search: 'walks directories a guest owns when it removes them',
    fowner: 'sets modes on files it has just given to a guest',
    kill: 'stops QEMU and swtpm, which run as the guests\' uids',
    setuid: 'the jail switches to the guest\'s uid (setpriv), the KVM smoke boot to nitride-qemu',
    setgid: 'the same for groups',
    setpcap: 'the jail empties the bounding set of QEMU and swtpm',
    sys_admin: 'the jail\'s mount namespace: unshare --mount, mount, pivot_root',
  },
  ebs: {
    chown: 'gives an export socket to the guest\'s group (root:<gid> 0660), or to nitride-qemu outside a jail',
  },
  vpc: {
    chown: 'gives an ENI socket to QEMU\'s user and the underlay bridge\'s group, and its socket directory to that group',
    net_admin: 'opens (creating it when missing) and keeps the TAP device of the VPC edge\'s public side (TUNSETIFF, TUNSETPERSIST)',
  },
  underlay: {
    net_bind_service: 'the region may give the underlay a UDP port below 1024',
  },
};

/**
 * The system user each component runs as (`nitride setup` makes them: useradd --system, own
 * group, no home, no shell). A component not named here stays uid 0 with only its capabilities.
 */
export const COMPONENT_USERS: Readonly<Record<string, string>> = {
  ebs: 'nitride-ebs',
  vpc: 'nitride-vpc',
  underlay: 'nitride-underlay',
};

/** uid and gid of a component's own user; undefined when it has none; an error when setup has not made it. */
export function componentIds(component: string): { uid: number; gid: number } | undefined {
  const user = COMPONENT_USERS[component];
  if (user === undefined) return undefined;
  const ids = systemUserIds(user);
  if (!ids) throw new NitrideError('ComponentUserMissing', 'unavailable', `The system user ${user} is missing: run \`nitride setup\` (as root) so that the ${component} component does not run as root.`, { user, component });
  return ids;
}

/**
 * Makes `dir` (and its parents) and gives it, with everything under it, to the component's own
 * user — state written by an earlier run as root included. It descends only into what is not
 * the user's yet (the user could change what it owns while this runs) and gives a directory
 * after its contents, so an interrupted run is finished by the next; symbolic links are
 * changed, never followed. Does nothing when this process is not root or the component has no user.
 */
export function giveToComponent(component: string, dir: string, mode = 0o700): void {
  if (process.getuid?.() !== 0) return;
  const ids = componentIds(component);
  if (!ids) return;
  mkdirSync(dir, { recursive: true, mode });
  chmodSync(dir, mode);
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.uid === ids.uid && st.gid === ids.gid) return;
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    lchownSync(p, ids.uid, ids.gid);
  };
  walk(dir);
}

/**
 * A directory of root's that a component's user must search but not list or write (the host's
 * directory and the hypervisor's, on the way to the instance directories where the EBS card
 * puts its sockets): group the component's, 0710. 0700 when this process is not root or the
 * component has no user.
 */
export function letComponentSearch(component: string, dir: string): void {
  const user = COMPONENT_USERS[component];
  const ids = process.getuid?.() === 0 && user !== undefined ? systemUserIds(user) : undefined;
  if (ids) chownSync(dir, lstatSync(dir).uid, ids.gid);
  chmodSync(dir, ids ? 0o710 : 0o700);
}

/**
 * A component with a user of its own loads its code (and Node) as that user: every directory
 * on the way must be searchable by it. A checkout under /root (0700) is not: say so, never
 * start it with more privilege instead.
 */
function mustReach(component: string, ids: { uid: number; gid: number }, file: string): void {
  for (let d = dirname(file); ; d = dirname(d)) {
    const st = lstatSync(d);
    const bit = st.uid === ids.uid ? 0o100 : st.gid === ids.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new NitrideError('ComponentCodeUnreachable', 'unavailable', `The ${component} component runs as ${COMPONENT_USERS[component]}, which cannot search ${d} to load ${file}: put Nitride where other users may read it (or chmod o+x ${d}).`, { component, dir: d, file });
    }
    if (d === dirname(d)) break;
  }
}

/** Whether this process holds `cap` in its effective set (/proc/self/status CapEff). */
export function holdsCapability(cap: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const n = CAPABILITY_NUMBERS[cap];
  return m !== null && n !== undefined && ((BigInt(`0x${m[1]}`) >> BigInt(n)) & 1n) === 1n;
}

/**
 * The controller is the parent of every component, and a child can hold nothing its parent's
 * bounding set lacks: it keeps the union of theirs (and a port below 1024 for its listener).
 * Its successor during a live update inherits the same set.
 */
function controllerCapabilities(): Record<string, string> {
  const out: Record<string, string> = { net_bind_service: 'its mTLS listener may be on a port below 1024' };
  for (const [component, caps] of Object.entries(CHILDREN)) {
    for (const cap of Object.keys(caps)) out[cap] ??= `the ${component} component needs it (a child holds nothing its parent lacks)`;
  }
  return out;
}

export const COMPONENT_CAPABILITIES: Readonly<Record<string, Readonly<Record<string, string>>>> = { ...CHILDREN, controller: controllerCapabilities() };

/** Linux capability numbers (include/uapi/linux/capability.h). */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  chown: 0,
  dac_override: 1,
  dac_read_search: 2,
  fowner: 3,
  fsetid: 4,
  kill: 5,
  setgid: 6,
  setuid: 7,
  setpcap: 8,
  net_bind_service: 10,
  net_admin: 12,
  net_raw: 13,
  sys_chroot: 18,
  sys_ptrace: 19,
  sys_admin: 21,
};

/** The capability mask /proc/<pid>/status shows (CapBnd, CapEff) for a component, as 16 hex digits. */
export function capabilityMask(component: string): string {
  let m = 0n;
  for (const c of Object.keys(COMPONENT_CAPABILITIES[component] ?? {})) m |= 1n << BigInt(CAPABILITY_NUMBERS[c] ?? 63);
  return m.toString(16).padStart(16, '0');
}

/**
 * setpriv's arguments (before `--`) that confine a component; undefined when it keeps its
 * parent's. `ids` is its own user's uid and gid (componentIds), undefined when it stays uid 0.
 */
export function setprivArgs(component: string, ids?: { uid: number; gid: number }): string[] | undefined {
  const caps = COMPONENT_CAPABILITIES[component];
  if (!caps) return undefined;
  const keep = Object.keys(caps).map((c) => `,+${c}`).join('');
  if (!ids) return ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=-all${keep}`];
  return ['--no-new-privs', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', `--inh-caps=-all${keep}`, `--ambient-caps=-all${keep}`, `--bounding-set=-all${keep}`];
}

/**
 * How to fork `component`: through setpriv when this process is root (otherwise there is
 * nothing to drop), else directly. A missing setpriv is an error, never a silent full set.
 */
export function forkConfinement(component: string, nodeArgv: readonly string[] = process.execArgv, entry?: string): { execPath: string; execArgv: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const ids = componentIds(component);
  const args = setprivArgs(component, ids);
  if (!args) return undefined;
  if (ids) {
    mustReach(component, ids, process.execPath);
    if (entry !== undefined) mustReach(component, ids, entry);
  }
  if (!existsSync(SETPRIV)) throw new Error(`${SETPRIV} (util-linux) is missing: the ${component} component is not started with more privilege than it needs`);
  return { execPath: SETPRIV, execArgv: [...args, '--', process.execPath, ...nodeArgv] };
}
