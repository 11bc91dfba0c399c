// The check `nitride image import` runs on a disk before it registers it (issue 11 item 3:
// partition table, root filesystem, kernel and modules, initramfs; an image that cannot
// reach an NVMe root or has no virtio-net driver is refused). The inspection library is
// the library in src/image/inspect/; the import calls it through this interface so that its
// own tests can exercise the refusal path.

import { inspectDisk } from './inspect/inspect-disk.js';

export interface DiskProblem {
  /** A stable code (EC2 ImportImage's style, e.g. ClientError.NoNvmeDriver). */
  readonly code: string;
  readonly message: string;
}

export interface DiskInspection {
  readonly ok: boolean;
  readonly problems: readonly DiskProblem[];
  /** Set when no inspection ran (the reason); the import says so and goes on. */
  readonly skipped?: string;
}

/** Inspects a raw disk image at `path` without booting it; `bootMode` is the mode the image will be registered with. */
export type DiskInspector = (path: string, opts?: { readonly bootMode?: 'legacy-bios' | 'uefi' }) => Promise<DiskInspection>;

/**
 * The real check: inspectDisk (src/image/inspect/inspect-disk.ts) reads the partition table,
 * the root filesystem, the kernels and their initramfs without booting the disk. A boot mode
 * the disk cannot do (no BIOS loader for legacy-bios, no EFI loader for uefi) is refused too.
 */
export const defaultDiskInspector: DiskInspector = async (path, opts = {}) => {
  const report = await inspectDisk(path);
  const problems: DiskProblem[] = report.verdict.problems.map((p) => ({ code: `ClientError.${p.code}`, message: `${p.statusMessage} ${p.detail}`.trim() }));
  if (opts.bootMode !== undefined && report.verdict.ok && !report.bootModes.includes(opts.bootMode)) {
    problems.push({ code: 'ClientError.UnsupportedBootMode', message: `ClientError: The disk cannot boot in ${opts.bootMode} mode; it boots in ${report.bootModes.join(', ') || 'no mode'}.` });
  }
  return { ok: problems.length === 0, problems };
};
