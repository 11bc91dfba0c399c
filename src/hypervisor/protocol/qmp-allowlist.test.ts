import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkQmpCommand, QMP_ALLOWED } from './qmp-allowlist.js';

test('allowlist: memory, dump, monitor, migration and debugger commands are refused by name', () => {
  for (const c of ['pmemsave', 'memsave', 'dump-guest-memory', 'human-monitor-command', 'migrate', 'gdbserver', 'migrate-incoming', 'snapshot-save', 'screendump']) {
    const v = checkQmpCommand(c, {});
    assert.equal(v.allowed, false, c);
    if (!v.allowed) assert.doesNotMatch(v.reason, /allowlist/, `${c} should have a specific reason`);
  }
  assert.equal(checkQmpCommand('migrate', { uri: 'file:/tmp/mem' }).allowed, false);
  assert.equal(checkQmpCommand('migrate', { uri: 'exec:cat > /tmp/mem' }).allowed, false);
});

test('allowlist: x- and debug commands and anything unlisted are refused', () => {
  for (const c of ['x-exit-preconfig', 'x-debug-block-dirty-bitmap-sha256', 'x-query-ramblock', 'trace-event-set-state', 'qom-set', 'qom-get', 'object-add', 'inject-nmi', '', 'QUIT']) {
    assert.equal(checkQmpCommand(c).allowed, false, c);
  }
  assert.equal(checkQmpCommand(42).allowed, false);
});

test('allowlist: the lifecycle and hot-plug commands pass, with argument checks', () => {
  for (const c of ['qmp_capabilities', 'query-status', 'system_powerdown', 'system_reset', 'quit', 'stop', 'cont', 'query-pci', 'device_del', 'blockdev-del']) {
    assert.ok(QMP_ALLOWED.has(c));
    assert.equal(checkQmpCommand(c).allowed, true, c);
  }
  assert.equal(checkQmpCommand('device_add', { driver: 'nvme', id: 'd0', drive: 'n0', serial: 'vol1', bus: 'rp1' }).allowed, true);
  assert.equal(checkQmpCommand('device_add', { driver: 'ivshmem-plain', memdev: 'm' }).allowed, false);
  const own = (p: string) => p === '/run/x.sock' || p === '/run/v.sock';
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: '/run/x.sock' }, 'reconnect-delay': 30 }, own).allowed, true);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'inet', host: '10.0.0.1', port: '10809' } }).allowed, false);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'file', filename: '/etc/shadow', 'node-name': 'f' }).allowed, false);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: '/etc/shadow' } }).allowed, false);
  assert.equal(checkQmpCommand('netdev_add', { type: 'stream', id: 'n0', server: false, addr: { type: 'unix', path: '/run/v.sock' } }, own).allowed, true);
  assert.equal(checkQmpCommand('netdev_add', { type: 'user', id: 'n0' }).allowed, false);
  assert.equal(checkQmpCommand('query-status', [1]).allowed, false);
});

test('allowlist: commands that name an endpoint accept only the unix sockets the instance owns', () => {
  const own = (p: string) => p === 'ebs-vol-0123456789abcdef0.sock' || p === '/tmp/nitride-vpc-h/sockets/eni-1.sock';
  const refused = (execute: string, args: Record<string, unknown>, want: RegExp) => {
    const v = checkQmpCommand(execute, args, own);
    assert.equal(v.allowed, false, JSON.stringify(args));
    if (!v.allowed) assert.match(v.reason, want);
  };
  // NICs: inet, vsock, fd and foreign unix sockets are refused, for stream and dgram alike.
  refused('netdev_add', { type: 'stream', id: 'n1', server: false, addr: { type: 'inet', host: '127.0.0.1', port: '22' } }, /must be a unix socket/);
  refused('netdev_add', { type: 'stream', id: 'n1', server: true, addr: { type: 'inet', host: '0.0.0.0', port: '4444' } }, /must be a unix socket/);
  refused('netdev_add', { type: 'stream', id: 'n1', addr: { type: 'vsock', cid: '2', port: '1' } }, /must be a unix socket/);
  refused('netdev_add', { type: 'stream', id: 'n1', addr: { type: 'fd', str: '3' } }, /must be a unix socket/);
  refused('netdev_add', { type: 'stream', id: 'n1' }, /must be a unix socket/);
  refused('netdev_add', { type: 'stream', id: 'n1', addr: { type: 'unix', path: '/tmp/nitride-vpc-h/sockets/eni-2.sock' } }, /not a socket Nitride created for this instance/);
  refused('netdev_add', { type: 'dgram', id: 'n1', remote: { type: 'inet', host: '10.0.0.1', port: '4789' }, local: { type: 'inet', host: '0.0.0.0', port: '4789' } }, /must be a unix socket/);
  refused('netdev_add', { type: 'dgram', id: 'n1', local: { type: 'unix', path: '/tmp/nitride-vpc-h/sockets/eni-1.sock' }, remote: { type: 'inet', host: '10.0.0.1', port: '1' } }, /remote address must be a unix socket/);
  refused('netdev_add', { type: 'dgram', id: 'n1' }, /must name a unix socket/);
  refused('netdev_add', { type: 'socket', id: 'n1', connect: '127.0.0.1:1' }, /not allowed/);
  // Disks: another instance's export socket, a path outside, or a TCP server.
  refused('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: '../i-other/ebs-vol-0123456789abcdef0.sock' }, export: 'vol-0123456789abcdef0' }, /not a socket Nitride created/);
  refused('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: '/var/run/docker.sock' } }, /not a socket Nitride created/);
  refused('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'inet', host: '127.0.0.1', port: '10809' } }, /must be a unix socket/);
  refused('blockdev-add', { driver: 'raw', 'node-name': 'r', file: { driver: 'nbd', 'node-name': 'n', server: { type: 'unix', path: '/etc/x.sock' } } }, /not a socket Nitride created/);
  // With no policy at all (no instance), no endpoint passes.
  assert.equal(checkQmpCommand('netdev_add', { type: 'stream', id: 'n1', addr: { type: 'unix', path: '/tmp/nitride-vpc-h/sockets/eni-1.sock' } }).allowed, false);
  // The instance's own sockets pass.
  assert.equal(checkQmpCommand('netdev_add', { type: 'stream', id: 'n1', server: false, addr: { type: 'unix', path: '/tmp/nitride-vpc-h/sockets/eni-1.sock' } }, own).allowed, true);
  assert.equal(checkQmpCommand('netdev_add', { type: 'dgram', id: 'n1', local: { type: 'unix', path: '/tmp/nitride-vpc-h/sockets/eni-1.sock' } }, own).allowed, true);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: 'ebs-vol-0123456789abcdef0.sock' }, export: 'vol-0123456789abcdef0' }, own).allowed, true);
});
