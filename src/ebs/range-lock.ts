// FIFO locks over ranges of sectors. A request waits only for earlier requests whose
// range overlaps its own, so pipelined writes to different sectors run concurrently
// while read-modify-write of one sector is serialized.
interface Entry {
  readonly start: number;
  readonly end: number; // exclusive
  readonly done: Promise<void>;
}

export class RangeLock {
  private entries: Entry[] = [];

  /** Lock [start, end); resolves with the release function once every earlier overlapping holder released. */
  async acquire(start: number, end: number): Promise<() => void> {
    const waits: Promise<void>[] = [];
    for (const e of this.entries) if (e.start < end && start < e.end) waits.push(e.done);
    let release!: () => void;
    const entry: Entry = { start, end, done: new Promise<void>((r) => (release = r)) };
    this.entries.push(entry);
    if (waits.length > 0) await Promise.all(waits);
    return () => {
      const i = this.entries.indexOf(entry);
      if (i >= 0) this.entries.splice(i, 1);
      release();
    };
  }

  get size(): number {
    return this.entries.length;
  }
}
