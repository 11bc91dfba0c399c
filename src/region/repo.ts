// A typed collection of records kept in the state store under one key prefix, with an
// in-memory copy for fast reads. The region is the store's only writer, so the copy
// stays exact: every change is committed to the store first and applied to memory only
// after the commit resolved ("recorded before reported"). Updates to one record are
// serialized so concurrent requests cannot lose each other's writes.
import type { JsonValue, StateStore } from '../store/store.js';

export class Collection<T extends { readonly id: string }> {
  private readonly items = new Map<string, T>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: StateStore,
    readonly prefix: string,
  ) {}

  async load(): Promise<void> {
    this.items.clear();
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list<T>(this.prefix, startAfter === undefined ? { limit: 1000 } : { startAfter, limit: 1000 });
      for (const e of page) this.items.set(e.value.id, e.value);
      if (page.length < 1000) break;
      startAfter = page[page.length - 1]?.key;
    }
  }

  key(id: string): string {
    return `${this.prefix}${id}`;
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  /** Every record, ordered by id. */
  all(): T[] {
    return [...this.items.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get size(): number {
    return this.items.size;
  }

  /** Commits several new or replaced records atomically. */
  async putMany(values: readonly T[]): Promise<void> {
    const ok = await this.store.txn({ compare: [], put: values.map((v) => ({ key: this.key(v.id), value: v as unknown as JsonValue })), delete: [] });
    if (!ok) throw new Error('state store refused an unconditional transaction');
    for (const v of values) this.items.set(v.id, v);
  }

  async put(value: T): Promise<void> {
    await this.putMany([value]);
  }

  async delete(id: string): Promise<void> {
    await this.store.txn({ compare: [], put: [], delete: [this.key(id)] });
    this.items.delete(id);
  }

  /**
   * Applies fn to the current record under a per-record lock and commits the result.
   * fn returns undefined to leave the record unchanged. Returns the record as stored.
   */
  async update(id: string, fn: (cur: T) => T | undefined): Promise<T | undefined> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => mine);
    this.locks.set(id, chained);
    await prev.catch(() => undefined);
    try {
      const cur = this.items.get(id);
      if (!cur) return undefined;
      const next = fn(cur);
      if (next === undefined) return cur;
      await this.put(next);
      return next;
    } finally {
      release();
      if (this.locks.get(id) === chained) this.locks.delete(id);
    }
  }
}
