// The QMP allowlist: the only commands the hypervisor ever sends to QEMU. It is the rule
// "nothing exposes guest memory" in code. Pure: qmp-client.ts consults it for every
// command it sends (its own and the controller's pass-through alike), so no code path
// reaches QEMU around it. Anything not listed is refused; the commands that read or dump
// guest memory, or open a debugger or a monitor shell, get a specific reason.

export type QmpVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Commands refused with a named reason (they read memory, dump it, or give a shell/debugger). */
export const QMP_FORBIDDEN: Readonly<Record<string, string>> = {
  pmemsave: 'it reads guest physical memory',
  memsave: 'it reads guest virtual memory',
  'dump-guest-memory': 'it dumps guest memory',
  'query-dump': 'it belongs to guest memory dumps',
  'query-dump-guest-memory-capability': 'it belongs to guest memory dumps',
  'human-monitor-command': 'it opens the human monitor, which can read guest memory',
  migrate: 'migration streams guest memory (to files and exec targets included)',
  'migrate-incoming': 'migration streams guest memory',
  'migrate-recover': 'migration streams guest memory',
  'migrate-set-capabilities': 'migration streams guest memory',
  'migrate-set-parameters': 'migration streams guest memory',
  'snapshot-save': 'snapshots write guest memory to disk',
  'snapshot-load': 'snapshots load guest memory from disk',
  gdbserver: 'it starts a debugger with access to guest memory',
  screendump: 'it reads the guest framebuffer',
  'object-add': 'it can create memory backends and other host objects',
  'chardev-add': 'it can attach new host endpoints to the guest',
  'add-fd': 'it passes host file descriptors',
  getfd: 'it passes host file descriptors',
  'ringbuf-read': 'the console is read from its log file, not over QMP',
};

/**
 * Which unix socket paths a command may name: the ones Nitride created for this instance
 * (its EBS export sockets, its VPC card sockets). With none given, no endpoint is allowed.
 */
export type QmpEndpointPolicy = (unixPath: string) => boolean;

const NO_ENDPOINTS: QmpEndpointPolicy = () => false;

type ArgCheck = (args: Record<string, unknown>, endpoints: QmpEndpointPolicy) => string | undefined;

const noCheck: ArgCheck = () => undefined;

/** Drivers the hypervisor hot-plugs: NVMe/virtio disks and virtio NICs. */
export const DEVICE_DRIVERS = new Set(['nvme', 'virtio-blk-pci', 'virtio-net-pci']);
/** Block drivers: NBD to the EBS card, and raw on top of it. Never host files. */
export const BLOCK_DRIVERS = new Set(['nbd', 'raw']);
/** Netdev types: stream/dgram sockets to the VPC card. */
export const NETDEV_TYPES = new Set(['stream', 'dgram']);

const deviceAddCheck: ArgCheck = (a) =>
  typeof a['driver'] === 'string' && DEVICE_DRIVERS.has(a['driver']) ? undefined : `device driver '${String(a['driver'])}' is not allowed`;

/** An address object (QAPI SocketAddress) must be a unix socket this instance owns. */
function unixEndpointCheck(addr: unknown, what: string, endpoints: QmpEndpointPolicy): string | undefined {
  if (!isObject(addr) || addr['type'] !== 'unix') return `${what} must be a unix socket`;
  const path = addr['path'];
  if (typeof path !== 'string' || path === '') return `${what} must name a socket path`;
  if (!endpoints(path)) return `${what} '${path}' is not a socket Nitride created for this instance`;
  return undefined;
}

const blockdevAddCheck: ArgCheck = (a, endpoints) => {
  if (typeof a['driver'] !== 'string' || !BLOCK_DRIVERS.has(a['driver'])) return `block driver '${String(a['driver'])}' is not allowed`;
  // A raw node must sit on a node or an nbd child, never a host file.
  const file = a['file'];
  if (isObject(file)) {
    const sub = blockdevAddCheck(file, endpoints);
    if (sub) return sub;
  }
  if (a['driver'] === 'nbd') return unixEndpointCheck(a['server'], 'the nbd server', endpoints);
  return undefined;
};

const netdevAddCheck: ArgCheck = (a, endpoints) => {
  if (typeof a['type'] !== 'string' || !NETDEV_TYPES.has(a['type'])) return `netdev type '${String(a['type'])}' is not allowed`;
  if (a['type'] === 'stream') return unixEndpointCheck(a['addr'], 'the stream address', endpoints);
  // dgram: both ends, when given, must be this instance's unix sockets; at least one is needed.
  if (a['local'] === undefined && a['remote'] === undefined) return 'a dgram netdev must name a unix socket';
  for (const end of ['local', 'remote'] as const) {
    if (a[end] === undefined) continue;
    const why = unixEndpointCheck(a[end], `the dgram ${end} address`, endpoints);
    if (why) return why;
  }
  return undefined;
};

/** Allowed commands and the check each one's arguments must pass. */
export const QMP_ALLOWED: ReadonlyMap<string, ArgCheck> = new Map<string, ArgCheck>([
  ['qmp_capabilities', noCheck],
  ['query-status', noCheck],
  ['query-version', noCheck],
  ['query-name', noCheck],
  ['query-kvm', noCheck],
  ['query-block', noCheck],
  ['query-named-block-nodes', noCheck],
  ['query-pci', noCheck],
  ['query-chardev', noCheck],
  ['query-cpus-fast', noCheck],
  ['system_powerdown', noCheck],
  ['system_reset', noCheck],
  ['quit', noCheck],
  ['stop', noCheck],
  ['cont', noCheck],
  ['blockdev-add', blockdevAddCheck],
  ['blockdev-del', noCheck],
  ['device_add', deviceAddCheck],
  ['device_del', noCheck],
  ['netdev_add', netdevAddCheck],
  ['netdev_del', noCheck],
]);

/**
 * Decides whether `execute` with `args` may be sent to QEMU. `endpoints` says which unix
 * sockets the instance owns; a command naming any other endpoint (or an inet/vsock/fd one)
 * is refused.
 */
export function checkQmpCommand(execute: unknown, args?: unknown, endpoints: QmpEndpointPolicy = NO_ENDPOINTS): QmpVerdict {
  if (typeof execute !== 'string' || execute === '') return { allowed: false, reason: 'the command name is missing' };
  const forbidden = QMP_FORBIDDEN[execute];
  if (forbidden !== undefined) return { allowed: false, reason: forbidden };
  if (execute.startsWith('x-') || execute.startsWith('x_') || execute.includes('debug')) {
    return { allowed: false, reason: 'experimental and debug commands are not allowed' };
  }
  const check = QMP_ALLOWED.get(execute);
  if (!check) return { allowed: false, reason: 'it is not on the allowlist' };
  if (args !== undefined && !isObject(args)) return { allowed: false, reason: 'arguments must be an object' };
  const why = check(args ?? {}, endpoints);
  return why === undefined ? { allowed: true } : { allowed: false, reason: why };
}
