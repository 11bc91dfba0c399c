// The volume store: where the card keeps volumes and snapshots. Handles give raw bytes
// as stored (ciphertext for encrypted volumes: the encryption layer sits above, in
// BlockDevice). Every backend passes runVolumeStoreConformance().

export interface Extent {
  readonly offset: number;
  readonly length: number;
  /** True when the range is unallocated (reads as zero bytes). */
  readonly hole: boolean;
}

export interface VolumeHandle {
  readonly id: string;
  readonly readOnly: boolean;
  size(): number;
  /** Read `length` stored bytes at `position` into buf; bytes never written read as zero. */
  read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void>;
  write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void>;
  /** Make the range read as zero bytes, releasing storage where the backend can. */
  trim(position: number, length: number): Promise<void>;
  /** Durable: every write completed before the call survives a crash once it resolves (fdatasync). */
  flush(): Promise<void>;
  /** Grow to newSize (shrinking is refused). */
  resize(newSize: number): Promise<void>;
  /** Allocation map of [position, position+length), in order, covering the range. */
  allocation(position: number, length: number): Promise<Extent[]>;
  /** Write barrier: waits for in-flight writes, blocks new ones, flushes; call the result to release. */
  quiesce(): Promise<() => void>;
  close(): Promise<void>;
}

export interface VolumeInfo {
  readonly id: string;
  readonly sizeBytes: number;
  /** Bytes of storage actually allocated (sparse files use less than sizeBytes). */
  readonly allocatedBytes: number;
}

export interface SnapshotInfo {
  readonly id: string;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
}

export interface VolumeStore {
  readonly name: string;
  create(id: string, sizeBytes: number): Promise<void>;
  open(id: string, opts?: { readOnly?: boolean }): Promise<VolumeHandle>;
  /** Refused with EBS_VOLUME_IN_USE while a handle is open. */
  delete(id: string): Promise<void>;
  /** A consistent point-in-time copy: taken under a write barrier on every open handle. */
  snapshot(volumeId: string, snapshotId: string): Promise<SnapshotInfo>;
  /** A new volume holding the snapshot's bytes, grown to sizeBytes when given (never shrunk). */
  createFromSnapshot(volumeId: string, snapshotId: string, sizeBytes?: number): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** Open a snapshot's bytes read-only (e.g. to re-encrypt it for CopySnapshot). */
  openSnapshot(snapshotId: string): Promise<VolumeHandle>;
  list(): Promise<VolumeInfo[]>;
  listSnapshots(): Promise<SnapshotInfo[]>;
  /** The backing file of a volume, when the backend has one (for offline tools and tests). */
  pathOf?(volumeId: string): string;
}
