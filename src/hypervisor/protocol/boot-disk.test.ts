import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootDiskArgs, ec2SystemUuid, firmwareCodePath, parseBootDisk, parseRootVolumeOpen, smbiosArgs } from './boot-disk.js';
import { buildQemuArgs } from './qemu-args.js';
import { parseInstanceSpec } from './instance-spec.js';

const id = 'i-0123456789abcdef0';
const vol = 'vol-0123456789abcdef0';

test('boot disk: parse accepts {volumeId, firmware}, defaults to legacy-bios, refuses the rest', () => {
  assert.deepEqual(parseBootDisk({ volumeId: vol }), { volumeId: vol, firmware: 'legacy-bios' });
  assert.deepEqual(parseBootDisk({ volumeId: vol, firmware: 'uefi' }), { volumeId: vol, firmware: 'uefi' });
  for (const bad of [null, 'x', { volumeId: 'vol-XYZ' }, { volumeId: vol, firmware: 'coreboot' }, { volumeId: vol, extra: 1 }]) {
    assert.throws(() => parseBootDisk(bad), (e: { code?: string }) => e.code === 'MalformedRequest', JSON.stringify(bad));
  }
  assert.deepEqual(parseRootVolumeOpen({ sizeBytes: 2 ** 30, sealedKey: null }), { sizeBytes: 2 ** 30, sealedKey: null });
  assert.throws(() => parseRootVolumeOpen({ sizeBytes: 1000, sealedKey: null }));
  assert.throws(() => parseRootVolumeOpen({ sizeBytes: 512, sealedKey: 'not base64!' }));
});

test('boot disk: the spec takes bootDisk instead of image, never both, never neither', () => {
  const s = parseInstanceSpec({ instanceId: id, instanceType: 't3.micro', bootDisk: { volumeId: vol, firmware: 'uefi' } });
  assert.equal(s.image, undefined);
  assert.deepEqual(s.bootDisk, { volumeId: vol, firmware: 'uefi' });
  assert.throws(() => parseInstanceSpec({ instanceId: id, instanceType: 't3.micro' }));
  const image = { kernel: '/k', initrd: '/i', cmdline: '', kernelSha256: '0'.repeat(64), initrdSha256: '0'.repeat(64) };
  assert.throws(() => parseInstanceSpec({ instanceId: id, instanceType: 't3.micro', image, bootDisk: { volumeId: vol } }));
});

test('boot disk: NBD blockdev with reconnect-delay, NVMe serial without the dash, bootindex=0 on its own root port', () => {
  const a = bootDiskArgs({ volumeId: vol, firmware: 'legacy-bios' });
  const bd = JSON.parse(a[a.indexOf('-blockdev') + 1]!) as Record<string, unknown>;
  assert.deepEqual(bd, { driver: 'nbd', 'node-name': `ebs-${vol}-nbd`, server: { type: 'unix', path: `ebs-${vol}.sock` }, export: vol, 'reconnect-delay': 30 });
  assert.ok(a.includes(`nvme,id=ebs-${vol},drive=ebs-${vol}-nbd,serial=vol0123456789abcdef0,bus=rproot,bootindex=0`));
  assert.ok(!a.some((x) => x.includes('pflash')), 'SeaBIOS, not OVMF');
  assert.equal(a[a.indexOf('-bios') + 1], firmwareCodePath('legacy-bios'), 'SeaBIOS named explicitly: the file PCR 6 measures is the file QEMU loads');
  assert.equal(firmwareCodePath('uefi'), '/usr/share/OVMF/OVMF_CODE.fd');
  const u = bootDiskArgs({ volumeId: vol, firmware: 'uefi' });
  assert.ok(u.includes('if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd'));
  assert.ok(u.includes('if=pflash,format=raw,unit=1,file=ovmf-vars.fd'), 'the per-instance variables, relative to the instance directory');
  const q = buildQemuArgs({ instanceId: id, instanceType: 't3.micro', vcpus: 2, memoryMiB: 1024, accel: 'tcg', hotplugSlots: 8, cmdline: '', bootDisk: { volumeId: vol, firmware: 'legacy-bios' } });
  assert.ok(!q.includes('-kernel') && !q.includes('-initrd') && !q.includes('-append'));
  assert.ok(q.includes('-sandbox'));
  assert.equal(q.filter((x) => /^pcie-root-port,id=rp\d+,/.test(x)).length, 8, 'the hot-plug ports are unchanged');
});

test('smbios: EC2 identity; UUID and serial equal, start with ec2, stable per instance', () => {
  const u = ec2SystemUuid(id);
  assert.match(u, /^ec2[0-9a-f]{5}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(ec2SystemUuid(id), u);
  assert.notEqual(ec2SystemUuid('i-0123456789abcdef1'), u);
  const a = smbiosArgs(id, 't3.micro');
  assert.ok(a.includes(`type=1,manufacturer=Amazon EC2,product=t3.micro,serial=${u},uuid=${u}`));
  assert.ok(a.includes(`type=3,manufacturer=Amazon EC2,asset=${id}`));
  const q = buildQemuArgs({ instanceId: id, instanceType: 't3.micro', vcpus: 2, memoryMiB: 1024, accel: 'tcg', hotplugSlots: 0, cmdline: 'x' });
  assert.ok(q.includes('-kernel') && q.includes('-smbios'), 'a kernel-booted instance gets the identity too');
});
