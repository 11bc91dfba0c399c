// The text form of a disk report, as `nitride image check FILE` prints it. Pure.
import type { DiskReport } from './inspect-disk.js';

const MiB = 1024 * 1024;

export function formatReport(r: DiskReport): string {
  const lines: string[] = [];
  const add = (s = ''): void => {
    lines.push(s);
  };
  add(`disk            ${r.path} (${r.format}, ${(r.virtualBytes / MiB).toFixed(0)} MiB virtual)`);
  const t = r.partitionTable;
  add(`partition table ${t.kind === 'none' ? `none (${t.note ?? ''})` : t.kind === 'gpt' ? `GPT, disk GUID ${t.diskGuid}` : `MBR, disk signature ${t.diskSignature}`}`);
  for (const p of r.partitions) {
    const fs = p.fs.type + (p.fs.uuid ? ` ${p.fs.uuid}` : '') + (p.fs.label ? ` "${p.fs.label}"` : '');
    const holds = p.holds.length > 0 ? `  [${p.holds.join(', ')}]` : '';
    add(`  ${String(p.index).padStart(2)}  ${p.role.padEnd(9)} ${p.type.padEnd(8)} start ${String(p.startSector).padStart(9)}  ${((p.sectors * 512) / MiB).toFixed(0).padStart(6)} MiB${p.bootable ? ' *' : '  '} ${fs}${holds}`);
  }
  add(`os              ${r.os ? `${r.os.prettyName} (partition ${r.os.partition})` : 'not found'}`);
  add(`boot loaders    BIOS: ${r.bootLoaders.bios ?? 'none'}; UEFI: ${r.bootLoaders.uefi ?? 'none'}`);
  add(`boot modes      ${r.bootModes.length > 0 ? r.bootModes.join(', ') : 'none'}`);
  for (const k of r.kernels) {
    add(`kernel          ${k.release}${k.release === r.defaultKernel ? ' (default)' : ''}: ${k.path}`);
    add(`  modules       ${k.modulesDir ?? 'no module directory'}: ${k.modulesBuiltin} built in, ${k.modulesAvailable} in modules.dep`);
    add(`  initramfs     ${k.initramfs ?? 'none'}${k.initramfsEntries !== undefined ? `: ${k.initramfsEntries} entries` : ''}`);
    for (const a of k.initramfsArchives ?? []) add(`                  ${a}`);
    add(`  nvme          ${k.nvme}: ${k.nvmeDetail}`);
    add(`  virtio-net    ${k.virtioNet}: ${k.virtioNetDetail}`);
  }
  if (r.verdict.ok) add(`verdict         accepted: boots from an NVMe root with virtio-net (${r.elapsedMs} ms)`);
  else {
    add(`verdict         refused (${r.elapsedMs} ms)`);
    for (const p of r.verdict.problems) {
      add(`  ${p.code}: ${p.statusMessage}`);
      add(`    ${p.detail}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
