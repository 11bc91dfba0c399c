// Each instance's own uid and gid (the same number), from a reserved range, recorded in a
// table in the hypervisor's state directory (`jail-ids.json`, 0600) so that the numbers are
// stable across restarts of the hypervisor and re-adoption of running guests: a stopped
// instance starts again as the same user (its files are that user's), a terminated one
// gives its number back.
//
// No /etc/passwd entry is made: the kernel needs only numbers, and a name would let other
// software on the host treat the uid as a login. The range sits far above the ranges
// Debian hands out (system users < 1000, regular users < 60000, subordinate ids from
// 100000 in steps of 65536) and below 2^31, which some tools mishandle. Within one host the
// table guarantees uniqueness; the first slot tried is a hash of the instance id, so that
// several hosts that share one kernel (as the multi-host tests do, in network namespaces)
// practically never pick the same number for two instances.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../errors.js';

export const JAIL_ID_BASE = 1_700_000_000;
export const JAIL_ID_SLOTS = 1 << 24;
export const JAIL_IDS_FILE = 'jail-ids.json';

export interface JailIdentity {
  readonly uid: number;
  readonly gid: number;
}

interface TableFile {
  v: 1;
  base: number;
  /** instanceId → uid (= gid). */
  ids: Record<string, number>;
}

export class JailIds {
  private readonly path: string;
  private ids: Map<string, number>;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.path = join(stateDir, JAIL_IDS_FILE);
    this.ids = new Map();
    try {
      const t = JSON.parse(readFileSync(this.path, 'utf8')) as TableFile;
      for (const [id, n] of Object.entries(t.ids ?? {})) {
        if (Number.isSafeInteger(n) && n >= JAIL_ID_BASE && n < JAIL_ID_BASE + JAIL_ID_SLOTS) this.ids.set(id, n);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new HypervisorError('JailIdsUnreadable', 'internal', 'The table of instance uids cannot be read; refusing to guess (a guessed uid could be another instance\'s).', { path: this.path }, { cause: e });
      }
    }
  }

  get(instanceId: string): JailIdentity | undefined {
    const n = this.ids.get(instanceId);
    return n === undefined ? undefined : { uid: n, gid: n };
  }

  /** The instance's identity, allocating (and recording, before it is returned) a new one. */
  async allocate(instanceId: string): Promise<JailIdentity> {
    const have = this.get(instanceId);
    if (have) return have;
    const used = new Set(this.ids.values());
    const start = createHash('sha256').update(instanceId).digest().readUInt32BE(0) % JAIL_ID_SLOTS;
    for (let i = 0; i < JAIL_ID_SLOTS; i++) {
      const n = JAIL_ID_BASE + ((start + i) % JAIL_ID_SLOTS);
      if (used.has(n)) continue;
      this.ids.set(instanceId, n);
      await this.save();
      return { uid: n, gid: n };
    }
    throw new HypervisorError('JailIdsExhausted', 'unavailable', 'Every uid of the reserved range is in use.', {});
  }

  /** Gives the number back (the instance was terminated and its files are gone). */
  async release(instanceId: string): Promise<void> {
    if (!this.ids.delete(instanceId)) return;
    await this.save();
  }

  entries(): [string, number][] {
    return [...this.ids.entries()];
  }

  private save(): Promise<void> {
    const body: TableFile = { v: 1, base: JAIL_ID_BASE, ids: Object.fromEntries(this.ids) };
    const run = this.writing.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}
