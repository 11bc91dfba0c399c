// The check `nitride image import` runs on a disk before it registers it (issue 11 item 3:
// partition table, root filesystem, kernel and modules, initramfs; an image that cannot
// reach an NVMe root or has no virtio-net driver is refused). The inspection library is
// written separately (inspectDisk(path) in src/image/…); until it is merged, the import calls
// it through this interface, and the default below says that no inspection ran.
//
// MERGE: replace `defaultDiskInspector` with an adapter over the real inspectDisk().

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

/** Inspects a raw disk image at `path` without booting it. */
export type DiskInspector = (path: string) => Promise<DiskInspection>;

export const defaultDiskInspector: DiskInspector = async () => ({
  ok: true,
  problems: [],
  skipped: 'the disk inspector (issue 11 item 3) is not wired into this build yet',
});
