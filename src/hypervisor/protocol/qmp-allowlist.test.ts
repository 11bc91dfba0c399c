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
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: '/run/x.sock' }, 'reconnect-delay': 30 }).allowed, true);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'inet', host: '10.0.0.1', port: '10809' } }).allowed, false);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'file', filename: '/etc/shadow', 'node-name': 'f' }).allowed, false);
  assert.equal(checkQmpCommand('blockdev-add', { driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: '/etc/shadow' } }).allowed, false);
  assert.equal(checkQmpCommand('netdev_add', { type: 'stream', id: 'n0', server: false, addr: { type: 'unix', path: '/run/v.sock' } }).allowed, true);
  assert.equal(checkQmpCommand('netdev_add', { type: 'user', id: 'n0' }).allowed, false);
  assert.equal(checkQmpCommand('query-status', [1]).allowed, false);
});
