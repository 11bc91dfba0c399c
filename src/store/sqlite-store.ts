// The embedded state-store backend: one SQLite file (better-sqlite3) in WAL mode with
// synchronous=FULL, so a transaction is fsynced to the WAL before it returns and survives
// kill -9 or a power cut. Keys are stored as BLOBs of their UTF-8 bytes so SQLite orders
// and range-scans them bytewise (etcd's order); values are JSON text.
//
// better-sqlite3 is synchronous: each method runs to completion on the calling thread and
// its promise resolves after the commit. Cross-process safety (two handles on one file)
// comes from BEGIN IMMEDIATE: a txn takes the write lock before reading its compares, and
// busy_timeout makes a second writer wait for it instead of failing.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkKey, checkTxn, StoreError, type JsonValue, type ListOptions, type StateStore, type StoreEntry, type TxnRequest, type VersionedValue } from './store.js';

interface Row {
  readonly key: Buffer;
  readonly value: string;
  readonly version: number;
}

/** The smallest byte string greater than every string that starts with `prefix`, or undefined (no upper bound). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

export class SqliteStore implements StateStore {
  private readonly db: Database.Database;
  private readonly stmts;
  /** Runs a txn under the write lock: false when a compare fails, else the revision after it. */
  private readonly txnFn: (req: TxnRequest) => number | false;
  private closed = false;

  /** Opens (creating if needed) the store in `path`. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    return new SqliteStore(path, opts);
  }

  private constructor(readonly path: string, opts: SqliteStoreOptions) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      this.db = new Database(path);
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta (id, revision) VALUES (1, 0);
      `);
    } catch (e) {
      throw new StoreError('StoreOpenFailed', 'unavailable', `The state store ${path} could not be opened.`, { path }, { cause: e });
    }
    const db = this.db;
    this.stmts = {
      get: db.prepare<[Buffer], Row>('SELECT key, value, version FROM kv WHERE key = ?'),
      version: db.prepare<[Buffer], { version: number }>('SELECT version FROM kv WHERE key = ?'),
      rangeFrom: db.prepare<[Buffer, Buffer, number], Row>('SELECT key, value, version FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      rangeAfter: db.prepare<[Buffer, Buffer, number], Row>('SELECT key, value, version FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?'),
      openFrom: db.prepare<[Buffer, number], Row>('SELECT key, value, version FROM kv WHERE key >= ? ORDER BY key LIMIT ?'),
      openAfter: db.prepare<[Buffer, number], Row>('SELECT key, value, version FROM kv WHERE key > ? ORDER BY key LIMIT ?'),
      upsert: db.prepare<[Buffer, string, number]>('INSERT INTO kv (key, value, version) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version'),
      del: db.prepare<[Buffer]>('DELETE FROM kv WHERE key = ?'),
      rev: db.prepare<[], { revision: number }>('SELECT revision FROM meta WHERE id = 1'),
      setRev: db.prepare<[number]>('UPDATE meta SET revision = ? WHERE id = 1'),
    };
    const txn = (req: TxnRequest): number | false => {
      for (const c of req.compare ?? []) {
        const cur = this.stmts.version.get(Buffer.from(c.key, 'utf8'))?.version ?? 0;
        if (cur !== c.version) return false;
      }
      const puts = req.put ?? [];
      const dels = req.delete ?? [];
      if (puts.length === 0 && dels.length === 0) return this.stmts.rev.get()?.revision ?? 0;
      const next = (this.stmts.rev.get()?.revision ?? 0) + 1;
      for (const p of puts) this.stmts.upsert.run(Buffer.from(p.key, 'utf8'), JSON.stringify(p.value), next);
      for (const d of dels) this.stmts.del.run(Buffer.from(d, 'utf8'));
      this.stmts.setRev.run(next);
      return next;
    };
    const wrapped = db.transaction(txn);
    this.txnFn = (req) => wrapped.immediate(req);
  }

  private live(): void {
    if (this.closed) throw new StoreError('StoreClosed', 'internal', 'The state store is closed.', { path: this.path });
  }

  async get<V = JsonValue>(key: string): Promise<VersionedValue<V> | undefined> {
    this.live();
    checkKey(key);
    const row = this.stmts.get.get(Buffer.from(key, 'utf8'));
    return row === undefined ? undefined : { value: JSON.parse(row.value) as V, version: row.version };
  }

  async list<V = JsonValue>(prefix: string, opts: ListOptions = {}): Promise<StoreEntry<V>[]> {
    this.live();
    if (prefix !== '') checkKey(prefix);
    const limit = opts.limit === undefined ? -1 : Math.max(0, Math.floor(opts.limit));
    if (limit === 0) return [];
    const lo = Buffer.from(prefix, 'utf8');
    const hi = prefixEnd(lo);
    let after = opts.startAfter === undefined ? undefined : Buffer.from(opts.startAfter, 'utf8');
    if (after !== undefined && Buffer.compare(after, lo) < 0) after = undefined; // the cursor lies before the range
    let rows: Row[];
    if (hi === undefined) rows = after === undefined ? this.stmts.openFrom.all(lo, limit) : this.stmts.openAfter.all(after, limit);
    else rows = after === undefined ? this.stmts.rangeFrom.all(lo, hi, limit) : this.stmts.rangeAfter.all(after, hi, limit);
    return rows.map((r) => ({ key: r.key.toString('utf8'), value: JSON.parse(r.value) as V, version: r.version }));
  }

  async txn(req: TxnRequest): Promise<boolean> {
    return (await this.txnRevision(req)) !== false;
  }

  /** Like txn, but returns the revision the txn committed at (false when a compare failed). */
  async txnRevision(req: TxnRequest): Promise<number | false> {
    this.live();
    checkTxn(req);
    try {
      return this.txnFn(req);
    } catch (e) {
      throw new StoreError('StoreWriteFailed', 'unavailable', 'A state-store transaction could not be committed.', { path: this.path }, { cause: e });
    }
  }

  async put(key: string, value: JsonValue): Promise<number> {
    const rev = await this.txnRevision({ put: [{ key, value }] });
    if (rev === false) throw new StoreError('StoreWriteFailed', 'internal', 'An unconditional put was refused.', { key });
    return rev;
  }

  async delete(key: string): Promise<boolean> {
    this.live();
    checkKey(key);
    const cur = this.stmts.version.get(Buffer.from(key, 'utf8'));
    if (cur === undefined) return false;
    // Compare on the version just read so the answer is exact even with another writer.
    if (await this.txn({ compare: [{ key, version: cur.version }], delete: [key] })) return true;
    return this.delete(key);
  }

  async revision(): Promise<number> {
    this.live();
    return this.stmts.rev.get()?.revision ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** The conformance suite's child-process entry: the store kept in directory `location`. */
export async function openStore(location: string): Promise<StateStore> {
  return SqliteStore.open(`${location}/state.db`);
}
