import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildQemuArgs, guestNameArg, SANDBOX_ARG } from './qemu-args.js';

const plan = { instanceId: 'i-0123456789abcdef0', vcpus: 2, memoryMiB: 512, accel: 'tcg' as const, hotplugSlots: 8, cmdline: 'console=ttyS0 panic=-1' };

function valueOf(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1] ?? '');
  });
  return out;
}

test('qemu args: q35, no defaults, sandbox, serial to the log file, QMP on a relative unix socket', () => {
  const a = buildQemuArgs(plan);
  assert.deepEqual(valueOf(a, '-name'), [guestNameArg(plan.instanceId)]);
  assert.deepEqual(valueOf(a, '-M'), ['q35,smbus=off,sata=off,vmport=off']);
  assert.deepEqual(valueOf(a, '-accel'), ['tcg']);
  assert.deepEqual(valueOf(a, '-cpu'), [], 'no -cpu host under TCG');
  assert.deepEqual(valueOf(a, '-smp'), ['2']);
  assert.deepEqual(valueOf(a, '-m'), ['512M']);
  for (const f of ['-nodefaults', '-no-user-config']) assert.ok(a.includes(f), f);
  assert.deepEqual(valueOf(a, '-display'), ['none']);
  assert.deepEqual(valueOf(a, '-sandbox'), [SANDBOX_ARG]);
  assert.match(SANDBOX_ARG, /^on,.*obsolete=deny.*elevateprivileges=deny.*spawn=deny.*resourcecontrol=deny/);
  assert.deepEqual(valueOf(a, '-chardev'), ['null,id=ser0,logfile=console.log,logappend=on']);
  assert.deepEqual(valueOf(a, '-serial'), ['chardev:ser0']);
  assert.deepEqual(valueOf(a, '-qmp'), ['unix:run/qmp.sock,server=on,wait=off']);
  assert.deepEqual(valueOf(a, '-kernel'), ['kernel']);
  assert.deepEqual(valueOf(a, '-initrd'), ['initrd']);
  assert.deepEqual(valueOf(a, '-append'), ['console=ttyS0 panic=-1']);
  assert.ok(!a.includes('-daemonize'), 'spawn=deny forbids the fork -daemonize needs');
  assert.ok(!a.includes('-runas'), 'elevateprivileges=deny forbids the setuid -runas needs');
});

test('qemu args: one PCIe root port per hot-plug slot, and -cpu host only with KVM', () => {
  const a = buildQemuArgs({ ...plan, hotplugSlots: 3, accel: 'kvm' });
  assert.deepEqual(valueOf(a, '-device'), [
    'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2',
    'pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x3',
    'pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x4',
  ]);
  assert.deepEqual(valueOf(a, '-cpu'), ['host']);
  assert.equal(valueOf(buildQemuArgs({ ...plan, hotplugSlots: 24 }), '-device').at(-1), 'pcie-root-port,id=rp24,bus=pcie.0,chassis=24,slot=24,addr=0x19');
  assert.deepEqual(valueOf(buildQemuArgs({ ...plan, hotplugSlots: 0 }), '-device'), []);
});

test('qemu args: NICs become stream netdevs on the VPC card socket', () => {
  const a = buildQemuArgs({ ...plan, hotplugSlots: 0, nics: [{ mac: '02:00:00:00:00:01', socketPath: '/run/vpc/p1.sock' }] });
  assert.deepEqual(valueOf(a, '-netdev'), ['stream,id=net0,server=off,addr.type=unix,addr.path=/run/vpc/p1.sock']);
  assert.deepEqual(valueOf(a, '-device'), ['virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01']);
});

test('qemu args: NitroTPM adds a tpm-crb device on the relative swtpm control socket, only when asked', () => {
  assert.deepEqual(valueOf(buildQemuArgs(plan), '-tpmdev'), []);
  const a = buildQemuArgs({ ...plan, tpm: true });
  assert.ok(valueOf(a, '-chardev').includes('socket,id=vtpmchr,path=run/tpm.sock'));
  assert.deepEqual(valueOf(a, '-tpmdev'), ['emulator,id=vtpm0,chardev=vtpmchr']);
  assert.ok(valueOf(a, '-device').includes('tpm-crb,tpmdev=vtpm0'));
});
