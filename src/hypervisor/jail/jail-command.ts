// The command line that starts one process (QEMU or swtpm) of an instance inside its jail,
// in the manner of Firecracker's jailer but with the tools Debian 12 has (util-linux
// `unshare`, `mount`, `pivot_root`, `setpriv`): pure, so it is unit-tested without root.
//
//   unshare --mount --propagation private -- sh -c JAIL_SCRIPT nitride-jail OPTIONS -- BIN ARGS…
//
// The script (a constant; every value arrives as an argument, never in the script text):
//   1. writes its own pid into each of the instance's cgroups (cgroup.procs), so the process
//      is in them before anything else runs — the pid stays the same through every exec;
//   2. mounts a small tmpfs on ROOT (an empty directory of the hypervisor) in the new mount
//      namespace and builds the jail there: /usr read-only (binaries, libraries, firmware),
//      /bin /lib /lib64 /sbin as the same symlinks as the host's (merged /usr), /etc/ld.so.cache
//      read-only, the few /dev nodes QEMU opens, the instance directory read-write at its own
//      absolute path, and each socket the process must reach outside it (the VPC card's NIC
//      sockets) bound file by file at its own absolute path — so every path on QEMU's command
//      line and in QMP means the same thing inside and outside;
//   3. pivot_root into it and detaches the old root: nothing else of the host is left in the
//      namespace (no /proc, no /sys, no other instance, no state directory);
//   4. remounts the jail's root read-only and execs setpriv: the instance's own uid and gid,
//      no supplementary groups (but /dev/kvm's group for a KVM guest), no_new_privs, empty
//      inheritable, ambient and bounding capability sets, umask 177 — then BIN.
// There is no network namespace on purpose: QEMU talks to the cards over unix sockets only
// and has no network of its own; and no pid namespace, so the hypervisor keeps QEMU's real pid.

export interface JailPlan {
  /** The empty host directory the jail's tmpfs is mounted on (inside the new namespace only). */
  readonly root: string;
  /** The instance directory: bound read-write at the same path; the working directory. */
  readonly dir: string;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (only /dev/kvm's, for a KVM guest). */
  readonly groups?: readonly number[];
  /** cgroup directories (one per hierarchy) the process joins before anything else. */
  readonly cgroups: readonly string[];
  /** Unix sockets outside the instance directory, bound file by file at the same path. */
  readonly sockets?: readonly string[];
  /** Device nodes besides null, zero, full, random and urandom (e.g. /dev/kvm). */
  readonly devices?: readonly string[];
}

export const JAIL_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom'] as const;

/** Read-only host files bound into every jail (besides /usr). */
export const JAIL_RO_FILES = ['/etc/ld.so.cache'] as const;

export const JAIL_SCRIPT = `set -eu
umask 022
root= dir= uid= gid= groups=
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2;;
    --dir) dir=$2; shift 2;;
    --uid) uid=$2; shift 2;;
    --gid) gid=$2; shift 2;;
    --groups) groups=$2; shift 2;;
    --cgroup) echo $$ >"$2/cgroup.procs"; shift 2;;
    --) shift; break;;
    *) echo "nitride-jail: unknown option $1" >&2; exit 2;;
  esac
done
mount -t tmpfs -o mode=0755,nosuid,nodev,size=1m nitride-jail "$root"
for p in /bin /sbin /lib /lib64; do
  if [ -L "$p" ]; then ln -s "$(readlink "$p")" "$root$p"; fi
done
bindro() { mount --bind "$1" "$2"; mount -o remount,bind,ro,nosuid "$2"; }
mkdir -p "$root/usr" "$root/etc" "$root/dev" "$root$dir" "$root/.old" "$root/proc"
bindro /usr "$root/usr"
for f in ${JAIL_RO_FILES.join(' ')}; do
  if [ -e "$f" ]; then touch "$root$f"; bindro "$f" "$root$f"; fi
done
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case $1 in
    --dev) touch "$root$2"; mount --bind "$2" "$root$2";;
    --sock) mkdir -p "$root$(dirname "$2")"; touch "$root$2"; mount --bind "$2" "$root$2";;
    *) echo "nitride-jail: unknown bind $1" >&2; exit 2;;
  esac
  shift 2
done
shift
mount --bind "$dir" "$root$dir"
mount -o remount,bind,nosuid,nodev "$root$dir"
mount -t proc proc "$root/proc"
cd "$root"
pivot_root . .old
umount -l /.old
umount /proc
rmdir /.old /proc
mount -o remount,bind,ro,nosuid,nodev /
cd "$dir"
umask 177
if [ -n "$groups" ]; then set -- --groups="$groups" "$@"; else set -- --clear-groups "$@"; fi
exec setpriv --reuid="$uid" --regid="$gid" "$@"
`;

/**
 * argv for spawn(): the program is `unshare`. The second half of the options (binds) is
 * read after the first `--`, the command after the second, so no value can be taken for an
 * option: every value is a separate argument.
 */
export function jailArgv(plan: JailPlan, bin: string, args: readonly string[]): string[] {
  const out = ['--mount', '--propagation', 'private', '--', 'sh', '-c', JAIL_SCRIPT, 'nitride-jail'];
  out.push('--root', plan.root, '--dir', plan.dir, '--uid', String(plan.uid), '--gid', String(plan.gid));
  if (plan.groups && plan.groups.length > 0) out.push('--groups', plan.groups.join(','));
  for (const cg of plan.cgroups) out.push('--cgroup', cg);
  out.push('--');
  for (const d of [...JAIL_DEVICES, ...(plan.devices ?? [])]) out.push('--dev', d);
  for (const s of plan.sockets ?? []) out.push('--sock', s);
  out.push('--', '--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--', bin, ...args);
  return out;
}
