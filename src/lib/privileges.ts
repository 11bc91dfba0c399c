// Least privilege for the host's components: the Linux capabilities each one keeps, as data,
// with the reason for each. When the controller (root) forks a component it goes through
// util-linux `setpriv`: no_new_privs, empty inheritable and ambient sets, and a bounding set
// of exactly these capabilities — for a root process that is also all it can ever hold, and
// all that anything it starts can hold. A component missing from the table keeps what its
// parent has (the controller's own successor during a live update). The region starts its
// local host's controller the same way (src/region/local-host.ts).
import { existsSync } from 'node:fs';

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
    chown: 'gives an export socket to the guest\'s group (or to nitride-qemu)',
    fowner: 'sets the mode of a socket it has given away',
    dac_override: 'listens in a socket directory that belongs to nitride-qemu',
  },
  vpc: {
    chown: 'gives an ENI socket to nitride-qemu',
    fowner: 'sets the mode of a socket it has given away',
    net_admin: 'opens (creating it when missing) and keeps the TAP device of the VPC edge\'s public side (TUNSETIFF, TUNSETPERSIST)',
  },
  underlay: {
    net_bind_service: 'the region may give the underlay a UDP port below 1024',
    dac_override: 'connects to the local ENI sockets, which belong to QEMU\'s user',
  },
};

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

/** setpriv's arguments (before `--`) that confine a component; undefined when it keeps its parent's. */
export function setprivArgs(component: string): string[] | undefined {
  const caps = COMPONENT_CAPABILITIES[component];
  if (!caps) return undefined;
  const keep = Object.keys(caps).map((c) => `,+${c}`).join('');
  return ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=-all${keep}`];
}

/**
 * How to fork `component`: through setpriv when this process is root (otherwise there is
 * nothing to drop), else directly. A missing setpriv is an error, never a silent full set.
 */
export function forkConfinement(component: string, nodeArgv: readonly string[] = process.execArgv): { execPath: string; execArgv: string[] } | undefined {
  const args = setprivArgs(component);
  if (!args || process.getuid?.() !== 0) return undefined;
  if (!existsSync(SETPRIV)) throw new Error(`${SETPRIV} (util-linux) is missing: the ${component} component is not started with more privilege than it needs`);
  return { execPath: SETPRIV, execArgv: [...args, '--', process.execPath, ...nodeArgv] };
}
