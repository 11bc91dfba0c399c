// The region's state store: an ordered key-value map of JSON values with a global,
// monotonically increasing revision and atomic compare-and-swap transactions.
//
// The interface is async because a distributed backend (etcd) sits behind it later; the
// semantics follow etcd's so that swap is mechanical:
//   - every committed write (a txn with at least one put or delete) advances the store's
//     revision by exactly one; every key it puts gets `version` = that revision
//     (etcd's mod_revision);
//   - a compare names a key and the version it must have; version 0 means "must not exist";
//   - keys are ordered by their UTF-8 bytes; list(prefix) returns exactly the keys that
//     start with prefix (no bleed from 'a/b' into 'a/bc' unless the prefix is 'a/b');
//   - a write is committed (durable) before its promise resolves.
import { NitrideError } from '../lib/errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface StoreEntry<V = JsonValue> {
  readonly key: string;
  readonly value: V;
  /** The revision at which this key was last written (> 0). */
  readonly version: number;
}

export interface VersionedValue<V = JsonValue> {
  readonly value: V;
  readonly version: number;
}

export interface ListOptions {
  /** Return only keys strictly after this one (pagination cursor: the last key of the previous page). */
  readonly startAfter?: string;
  /** Most entries to return (default: all). */
  readonly limit?: number;
}

export interface TxnCompare {
  readonly key: string;
  /** The version the key must have; 0 = the key must not exist. */
  readonly version: number;
}

export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly put?: readonly { readonly key: string; readonly value: JsonValue }[];
  readonly delete?: readonly string[];
}

export interface StateStore {
  get<V = JsonValue>(key: string): Promise<VersionedValue<V> | undefined>;
  /** Entries whose key starts with prefix ('' = all), ordered by key. */
  list<V = JsonValue>(prefix: string, opts?: ListOptions): Promise<StoreEntry<V>[]>;
  /**
   * Atomically: if every compare holds, apply every put and delete and return true;
   * otherwise change nothing and return false. A key may not be both put and deleted.
   */
  txn(req: TxnRequest): Promise<boolean>;
  /** Unconditional put; returns the new version of the key (the new revision). */
  put(key: string, value: JsonValue): Promise<number>;
  /** Unconditional delete; returns whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** The current revision (0 for an empty, never-written store). */
  revision(): Promise<number>;
  close(): Promise<void>;
}

export class StoreError extends NitrideError {}

export const MAX_KEY_BYTES = 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws unless key is a usable store key: non-empty, well-formed UTF-16, no NUL, ≤ MAX_KEY_BYTES UTF-8 bytes. */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new StoreError('InvalidStoreKey', 'invalid', 'A store key must be a non-empty string.', { key });
  if (key.includes('\0') || LONE_SURROGATE.test(key)) throw new StoreError('InvalidStoreKey', 'invalid', 'A store key must be well-formed text without NUL characters.', { key });
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new StoreError('InvalidStoreKey', 'invalid', `A store key must be at most ${MAX_KEY_BYTES} bytes.`, { key: key.slice(0, 64) });
}

/** Checks a txn's shape (keys valid, no key both put and deleted, no duplicate puts). */
export function checkTxn(req: TxnRequest): void {
  const puts = new Set<string>();
  for (const c of req.compare ?? []) {
    checkKey(c.key);
    if (!Number.isSafeInteger(c.version) || c.version < 0) throw new StoreError('InvalidStoreTxn', 'invalid', 'A compare version must be a non-negative integer.', { key: c.key, version: c.version });
  }
  for (const p of req.put ?? []) {
    checkKey(p.key);
    if (puts.has(p.key)) throw new StoreError('InvalidStoreTxn', 'invalid', 'A transaction puts the same key twice.', { key: p.key });
    if (p.value === undefined) throw new StoreError('InvalidStoreTxn', 'invalid', 'A put needs a JSON value.', { key: p.key });
    puts.add(p.key);
  }
  for (const d of req.delete ?? []) {
    checkKey(d);
    if (puts.has(d)) throw new StoreError('InvalidStoreTxn', 'invalid', 'A transaction both puts and deletes the same key.', { key: d });
  }
}
