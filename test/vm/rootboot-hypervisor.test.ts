// Instances that boot from a root disk instead of a kernel and initrd, at the hypervisor's
// level: the nitride-minimal disk (src/image/minimal-disk.ts) served by Nitride's own NBD
// server on the instance's ebs-<vol>.sock (where the EBS card puts a volume's export), booted
// as NVMe with bootindex=0 through SeaBIOS and GRUB, then through OVMF and GRUB; the guest
// prints its DMI values, which must be EC2's (cloud-init's ds-identify reads the same files).
// Sequential: TCG guests on two cores starve each other.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openFileExport, type NbdExportHandle } from '../../src/ebs/export.js';
import { ec2SystemUuid, bootSerialOf, type BootFirmware } from '../../src/hypervisor/protocol/boot-disk.js';
import type { HypervisorEvent } from '../../src/hypervisor/protocol/messages.js';
import { ensureMinimalDisk } from '../../src/image/minimal-disk.js';
import { MARKERS } from '../../src/image/markers.js';
import { qemuUserIds } from '../../src/lib/qemu-user.js';
import { consoleOf, pidCmdline, until, withHypervisor, type HypervisorHarness } from './hypervisor-fixtures.js';

const BOOT_MS = 180_000;
const isReady = (id: string) => (e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === id;

function newId(prefix: string, hexLen: number): string {
  let s = '';
  while (s.length < hexLen) s += Math.floor(Math.random() * 16).toString(16);
  return `${prefix}-${s}`;
}

/** The DMI lines /rootdisk-init printed, as a map (the last boot's values win). */
function dmiOf(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.replaceAll('\r', '').split('\n')) {
    const x = /nitride-disk: dmi (\w+)=(.*)$/.exec(line);
    if (x) m.set(x[1]!, x[2]!.trim());
  }
  return m;
}

/** Serves a private copy of the disk where the EBS card would: <instance dir>/ebs-<vol>.sock. */
async function serveDisk(h: HypervisorHarness, work: string, instanceId: string, volumeId: string): Promise<NbdExportHandle> {
  const disk = await ensureMinimalDisk({ say: (l) => process.stderr.write(`[disk] ${l}\n`) });
  const copy = join(work, `${volumeId}.raw`);
  const cp = spawnSync('cp', ['--sparse=always', disk.path, copy]);
  assert.equal(cp.status, 0, String(cp.stderr));
  // As the controller does before a root-volume start: the instance directory exists for the socket.
  const dir = join(h.stateDir, 'instances', instanceId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const socketPath = join(dir, `ebs-${volumeId}.sock`);
  const exp = await openFileExport(copy, { socketPath, key: null, exportName: volumeId });
  const owner = process.getuid?.() === 0 ? qemuUserIds() : undefined;
  if (owner) await chown(socketPath, owner.uid, owner.gid);
  return exp;
}

async function bootAndCheck(h: HypervisorHarness, work: string, firmware: BootFirmware, instanceType: string): Promise<void> {
  const instanceId = newId('i', 17);
  const volumeId = newId('vol', 17);
  const exp = await serveDisk(h, work, instanceId, volumeId);
  try {
    const spec = { instanceId, instanceType, bootDisk: { volumeId, firmware } };
    const ready = h.channel.waitEvent(isReady(instanceId), BOOT_MS);
    const t0 = Date.now();
    const started = await h.channel.request('instance.start', { spec });
    assert.equal(started.state, 'running');
    await ready;
    process.stderr.write(`[vm] ${firmware}: instance.start → ready from the NVMe root disk in ${Date.now() - t0} ms\n`);

    const argv = pidCmdline(started.pid as number) ?? [];
    assert.ok(!argv.includes('-kernel') && !argv.includes('-initrd'), 'no direct kernel boot');
    assert.ok(argv.some((a) => a.startsWith('nvme,') && a.includes(`serial=${bootSerialOf(volumeId)}`) && a.includes('bootindex=0')), argv.join(' '));
    assert.ok(argv.includes('-sandbox'), 'the sandbox stays on');

    const text = await consoleOf(h, instanceId);
    assert.ok(text.includes(MARKERS.start) && text.includes(MARKERS.ready), text);
    assert.ok(text.includes(`nitride-disk: firmware ${firmware === 'uefi' ? 'uefi' : 'bios'}`), text);
    const dmi = dmiOf(text);
    const uuid = ec2SystemUuid(instanceId);
    assert.match(uuid, /^ec2[0-9a-f]{5}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(dmi.get('product_uuid'), uuid, 'the system UUID starts with ec2 and is stable for the instance');
    assert.equal(dmi.get('product_serial'), uuid, 'serial == UUID, as ds-identify requires for AWS');
    assert.equal(dmi.get('sys_vendor'), 'Amazon EC2');
    assert.equal(dmi.get('product_name'), instanceType);
    assert.equal(dmi.get('chassis_vendor'), 'Amazon EC2');
    assert.equal(dmi.get('chassis_asset_tag'), instanceId);
    assert.equal(dmi.get('board_vendor'), 'Amazon EC2');
    if (firmware === 'legacy-bios') assert.equal(dmi.get('bios_vendor'), 'Amazon EC2');

    const dir = join(h.stateDir, 'instances', instanceId);
    let varsIno: number | undefined;
    if (firmware === 'uefi') {
      const st = await stat(join(dir, 'ovmf-vars.fd'));
      assert.equal(st.mode & 0o777, 0o600, 'the UEFI variable store is private to the instance');
      varsIno = st.ino;
    }

    // stop and start: the disk is attached again at launch and boots again (same identity)
    await h.channel.request('instance.stop', { instanceId, deadlineMs: 60_000 });
    if (varsIno !== undefined) assert.equal((await stat(join(dir, 'ovmf-vars.fd'))).ino, varsIno, 'the UEFI variables are kept across stop/start');
    const ready2 = h.channel.waitEvent(isReady(instanceId), BOOT_MS);
    await h.channel.request('instance.start', { spec });
    await ready2;
    await until('the second boot printed its DMI lines', async () => (await consoleOf(h, instanceId)).includes('nitride-disk: dmi product_uuid'), 10_000);
    assert.equal(dmiOf(await consoleOf(h, instanceId)).get('product_uuid'), uuid);

    // the root volume belongs to the launch: no hot-unplug of it
    await assert.rejects(h.channel.request('instance.detach-volume', { instanceId, volumeId }), (e: { code?: string }) => e.code === 'OperationNotPermitted');
    await h.channel.request('instance.terminate', { instanceId });
  } finally {
    await exp.close();
  }
}

test('vm root disk: boots from NVMe over NBD with SeaBIOS, EC2 SMBIOS identity, stop/start', { timeout: 900_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'nitride-rootboot-'));
  try {
    await withHypervisor(async (h) => {
      await h.channel.request('host.info', {}); // the hypervisor made its state directory
      await bootAndCheck(h, work, 'legacy-bios', 't3.micro');
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('vm root disk: boots with OVMF (uefi), per-instance variable store kept across stop/start', { timeout: 900_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'nitride-rootboot-'));
  try {
    await withHypervisor(async (h) => {
      await h.channel.request('host.info', {});
      await bootAndCheck(h, work, 'uefi', 't3.small');
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
