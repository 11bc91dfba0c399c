import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { JAIL_DEVICES, JAIL_SCRIPT, jailArgv, type JailPlan } from './jail-command.js';

const plan: JailPlan = { root: '/s/jail-root', dir: '/s/instances/i-1', uid: 1700000001, gid: 1700000001, cgroups: ['/sys/fs/cgroup/pids/nitride.slice/i-1'], sockets: ['/v/eni-1.sock'] };

test('jailArgv: unshare a private mount namespace, the constant script, then every value as its own argument', () => {
  const a = jailArgv(plan, '/usr/bin/qemu-system-x86_64', ['-name', 'guest=i-1', '-append', 'console=ttyS0 x;$(reboot)']);
  assert.deepEqual(a.slice(0, 8), ['--mount', '--propagation', 'private', '--', 'sh', '-c', JAIL_SCRIPT, 'nitride-jail']);
  const opts = a.slice(8, a.indexOf('--', 8));
  assert.deepEqual(opts, ['--root', '/s/jail-root', '--dir', '/s/instances/i-1', '--uid', '1700000001', '--gid', '1700000001', '--cgroup', '/sys/fs/cgroup/pids/nitride.slice/i-1']);
  const binds = a.slice(a.indexOf('--', 8) + 1, a.indexOf('--', a.indexOf('--', 8) + 1));
  assert.deepEqual(binds, [...JAIL_DEVICES.flatMap((d) => ['--dev', d]), '--sock', '/v/eni-1.sock']);
  const tail = a.slice(a.lastIndexOf('--') + 1);
  assert.deepEqual(tail, ['/usr/bin/qemu-system-x86_64', '-name', 'guest=i-1', '-append', 'console=ttyS0 x;$(reboot)'], 'the command comes last, untouched');
  assert.ok(a.includes('--no-new-privs') && a.includes('--bounding-set=-all') && a.includes('--inh-caps=-all'));
});

test('jailArgv: a KVM guest gets /dev/kvm and its group, nothing else', () => {
  const a = jailArgv({ ...plan, devices: ['/dev/kvm'], groups: [993] }, 'q', []);
  assert.ok(a.join(' ').includes('--dev /dev/kvm'));
  assert.deepEqual(a.slice(a.indexOf('--groups'), a.indexOf('--groups') + 2), ['--groups', '993']);
});

test('the jail script is valid POSIX sh and takes no value from its text', () => {
  const r = spawnSync('sh', ['-n', '-c', JAIL_SCRIPT]);
  assert.equal(r.status, 0, String(r.stderr));
  assert.ok(!JAIL_SCRIPT.includes('${JAIL'), 'no template leftovers');
  assert.match(JAIL_SCRIPT, /exec setpriv --reuid="\$uid" --regid="\$gid" "\$@"\n$/);
});
