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

type ArgCheck = (args: Record<string, unknown>) => string | undefined;

const noCheck: ArgCheck = () => undefined;

/** Drivers the hypervisor hot-plugs: NVMe/virtio disks and virtio NICs. */
export const DEVICE_DRIVERS = new Set(['nvme', 'virtio-blk-pci', 'virtio-net-pci']);
/** Block drivers: NBD to the EBS card, and raw on top of it. Never host files. */
export const BLOCK_DRIVERS = new Set(['nbd', 'raw']);
/** Netdev types: stream/dgram sockets to the VPC card. */
export const NETDEV_TYPES = new Set(['stream', 'dgram']);

const deviceAddCheck: ArgCheck = (a) =>
  typeof a['driver'] === 'string' && DEVICE_DRIVERS.has(a['driver']) ? undefined : `device driver '${String(a['driver'])}' is not allowed`;

const blockdevAddCheck: ArgCheck = (a) => {
  if (typeof a['driver'] !== 'string' || !BLOCK_DRIVERS.has(a['driver'])) return `block driver '${String(a['driver'])}' is not allowed`;
  // A raw node must sit on a node or an nbd child, never a host file.
  const file = a['file'];
  if (isObject(file)) {
    const sub = blockdevAddCheck(file);
    if (sub) return sub;
  }
  if (a['driver'] === 'nbd') {
    const server = a['server'];
    if (!isObject(server) || server['type'] !== 'unix') return 'nbd servers must be unix sockets';
  }
  return undefined;
};

const netdevAddCheck: ArgCheck = (a) => {
  if (typeof a['type'] !== 'string' || !NETDEV_TYPES.has(a['type'])) return `netdev type '${String(a['type'])}' is not allowed`;
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

/** Decides whether `execute` with `args` may be sent to QEMU. */
export function checkQmpCommand(execute: unknown, args?: unknown): QmpVerdict {
  if (typeof execute !== 'string' || execute === '') return { allowed: false, reason: 'the command name is missing' };
  const forbidden = QMP_FORBIDDEN[execute];
  if (forbidden !== undefined) return { allowed: false, reason: forbidden };
  if (execute.startsWith('x-') || execute.startsWith('x_') || execute.includes('debug')) {
    return { allowed: false, reason: 'experimental and debug commands are not allowed' };
  }
  const check = QMP_ALLOWED.get(execute);
  if (!check) return { allowed: false, reason: 'it is not on the allowlist' };
  if (args !== undefined && !isObject(args)) return { allowed: false, reason: 'arguments must be an object' };
  const why = check(args ?? {});
  return why === undefined ? { allowed: true } : { allowed: false, reason: why };
}
