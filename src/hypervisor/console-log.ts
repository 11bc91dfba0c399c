// The serial console. QEMU appends every byte the guest writes to console.log (a null
// chardev with a logfile), so nothing is lost while the hypervisor is down or restarting.
// The hypervisor tails that file — inotify through fs.watch, with a slow poll as a safety
// net — to see markers promptly, and bounds disk use by rotating: when the log passes
// ROTATE_AT bytes its last KEEP bytes move to console.prev.log and the log is truncated
// (QEMU writes with O_APPEND, so it carries on at the new end).
import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, stat, truncate, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { INSTANCE_FILES } from './protocol/qemu-args.js';

export const CONSOLE_OUTPUT_BYTES = 64 * 1024;
export const ROTATE_AT = 1024 * 1024;

export class ConsoleTail {
  /** Bytes of console.log already consumed. */
  offset = 0;
  private carry = '';
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly onLine: (line: string) => void,
  ) {}

  get path(): string {
    return join(this.dir, INSTANCE_FILES.console);
  }

  /** Starts reading at `fromOffset` (clamped to the file size). */
  async start(fromOffset: number): Promise<void> {
    const size = await stat(this.path).then((s) => s.size, () => 0);
    this.offset = Math.min(Math.max(0, fromOffset), size);
    this.stopped = false;
    try {
      this.watcher = watch(this.path, () => void this.pump());
      this.watcher.on('error', () => {});
    } catch {
      this.watcher = undefined; // the file does not exist yet; the poll picks it up
    }
    this.poll = setInterval(() => {
      if (!this.watcher) {
        try {
          this.watcher = watch(this.path, () => void this.pump());
          this.watcher.on('error', () => {});
        } catch {
          // still missing
        }
      }
      void this.pump();
    }, 500);
    this.poll.unref();
    await this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Reads everything new; safe to call at any time (calls coalesce). */
  pump(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.readNew();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async readNew(): Promise<void> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return;
    }
    try {
      const { size } = await fh.stat();
      if (size < this.offset) {
        this.offset = 0; // truncated by someone else
        this.carry = '';
      }
      while (this.offset < size) {
        const len = Math.min(size - this.offset, 256 * 1024);
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.feed(buf.subarray(0, bytesRead).toString('latin1'));
      }
      if (size > ROTATE_AT) await this.rotate();
    } finally {
      await fh.close();
    }
  }

  private feed(text: string): void {
    const parts = (this.carry + text).split('\n');
    this.carry = parts.pop() ?? '';
    if (this.carry.length > 64 * 1024) this.carry = this.carry.slice(-64 * 1024);
    for (const p of parts) this.onLine(p.replace(/\r$/, ''));
  }

  private async rotate(): Promise<void> {
    const full = await readFile(this.path);
    // Anything that arrived after our last read is consumed here too, then the file is emptied.
    if (full.length > this.offset) this.feed(full.subarray(this.offset).toString('latin1'));
    await truncate(this.path, 0);
    const tmp = join(this.dir, `${INSTANCE_FILES.consolePrev}.tmp`);
    await writeFile(tmp, full.subarray(Math.max(0, full.length - CONSOLE_OUTPUT_BYTES)), { mode: 0o600 });
    await rename(tmp, join(this.dir, INSTANCE_FILES.consolePrev));
    this.offset = 0;
  }
}

/** The last `max` bytes of the console (the rotated tail followed by the live log) and its mtime. */
export async function readConsoleTail(dir: string, max = CONSOLE_OUTPUT_BYTES): Promise<{ data: Buffer; mtime: Date | undefined }> {
  const cur = await readFile(join(dir, INSTANCE_FILES.console)).catch(() => Buffer.alloc(0));
  let data = cur;
  if (cur.length < max) {
    const prev = await readFile(join(dir, INSTANCE_FILES.consolePrev)).catch(() => Buffer.alloc(0));
    data = Buffer.concat([prev, cur]);
  }
  const mtime = await stat(join(dir, INSTANCE_FILES.console)).then((s) => s.mtime, () => undefined);
  return { data: data.subarray(Math.max(0, data.length - max)), mtime };
}
