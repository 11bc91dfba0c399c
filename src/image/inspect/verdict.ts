// The verdict on an inspected disk: can it boot on a Nitride host (NVMe root, virtio-net NIC,
// BIOS or UEFI firmware)? Pure: facts in, problems out. The problems follow EC2 VM Import's
// task status messages ("ClientError: …") so an import can report them the way EC2 does; the
// detail names exactly what is missing.

export type ProblemCode =
  | 'UnsupportedDiskFormat'
  | 'NoValidPartitions'
  | 'UnsupportedFileSystem'
  | 'UnknownOS'
  | 'NoBootablePartition'
  | 'UnableToDetermineKernelVersion'
  | 'UnsupportedKernelVersion'
  | 'MissingNvmeDriver'
  | 'MissingVirtioNetDriver';

export interface Problem {
  readonly code: ProblemCode;
  /** As EC2 VM Import puts it in an import task's StatusMessage. */
  readonly statusMessage: string;
  /** What exactly is missing, and where it was looked for. */
  readonly detail: string;
}

/** How a kernel gets a driver: built in, a module in the initramfs, a module on the root fs only, or not at all. */
export type DriverSource = 'builtin' | 'initramfs' | 'rootfs-module' | 'absent';

export interface KernelFacts {
  readonly release: string;
  readonly path: string;
  readonly modulesDir?: string;
  readonly initramfs?: string;
  readonly nvme: DriverSource;
  readonly nvmeDetail: string;
  readonly virtioNet: DriverSource;
  readonly virtioNetDetail: string;
}

export interface VerdictFacts {
  readonly partitionsFound: boolean;
  readonly unsupportedFs: readonly { partition: number; type: string }[];
  readonly osFound: boolean;
  readonly biosBoot: boolean;
  readonly uefiBoot: boolean;
  readonly kernels: readonly KernelFacts[];
}

/** NVMe appeared in Linux 3.3; older kernels cannot reach an NVMe root at all. */
export const MIN_KERNEL: readonly [number, number] = [3, 3];

export function kernelVersionOf(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The kernel a boot loader would pick by default: the newest release. */
export function defaultKernel(kernels: readonly KernelFacts[]): KernelFacts | undefined {
  const cmp = (a: string, b: string): number => {
    const pa = a.split(/(\d+)/);
    const pb = b.split(/(\d+)/);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const x = pa[i] ?? '';
      const y = pb[i] ?? '';
      if (x === y) continue;
      if (i % 2 === 1) return Number(x) - Number(y);
      return x < y ? -1 : 1;
    }
    return 0;
  };
  return [...kernels].sort((a, b) => cmp(b.release, a.release))[0];
}

export function decide(f: VerdictFacts): Problem[] {
  const problems: Problem[] = [];
  const p = (code: ProblemCode, statusMessage: string, detail: string): void => {
    problems.push({ code, statusMessage, detail });
  };
  if (!f.partitionsFound) {
    p('NoValidPartitions', 'ClientError: No valid partitions found.', 'The disk has neither an MBR nor a GPT partition table, nor a file system at its start.');
    return problems;
  }
  if (!f.osFound) {
    if (f.unsupportedFs.length > 0) {
      const list = f.unsupportedFs.map((u) => `partition ${u.partition} (${u.type})`).join(', ');
      p('UnsupportedFileSystem', 'ClientError: Unsupported file system.', `No ext2/3/4 root file system was found; these partitions hold file systems this inspector cannot read: ${list}.`);
    } else {
      p('UnknownOS', 'ClientError: Unknown OS / Missing OS files.', 'No partition holds a Linux root file system (/etc/os-release or /usr/lib/os-release).');
    }
    return problems;
  }
  if (!f.biosBoot && !f.uefiBoot) {
    p(
      'NoBootablePartition',
      'ClientError: Unable to find a bootable partition.',
      'The MBR holds no boot code (legacy BIOS) and no EFI system partition holds \\EFI\\BOOT\\BOOTX64.EFI (UEFI).',
    );
  }
  const k = defaultKernel(f.kernels);
  if (!k) {
    p('UnableToDetermineKernelVersion', 'ClientError: Unable to determine kernel version.', 'No kernel (vmlinuz-<release>) was found in /boot.');
    return problems;
  }
  const v = kernelVersionOf(k.release);
  if (!v) {
    p('UnableToDetermineKernelVersion', 'ClientError: Unable to determine kernel version.', `The kernel file ${k.path} does not name a release of the form N.N.`);
    return problems;
  }
  if (v[0] < MIN_KERNEL[0] || (v[0] === MIN_KERNEL[0] && v[1] < MIN_KERNEL[1])) {
    p('UnsupportedKernelVersion', 'ClientError: Unsupported kernel version.', `The kernel ${k.release} is older than ${MIN_KERNEL.join('.')}, the first with an NVMe driver.`);
    return problems;
  }
  if (k.nvme === 'rootfs-module' || k.nvme === 'absent') {
    p('MissingNvmeDriver', `ClientError: Unable to find an initramfs containing the nvme driver for kernel ${k.release}.`, k.nvmeDetail);
  }
  if (k.virtioNet === 'absent') {
    p('MissingVirtioNetDriver', `ClientError: Unable to find the virtio_net driver for kernel ${k.release}.`, k.virtioNetDetail);
  }
  return problems;
}
