// The StateStore conformance suite. Every backend runs it (sqlite-store.test.ts; the etcd
// backend later), so the region's logic can rely on the same semantics everywhere:
// ordering, prefixes, compare-and-swap, concurrency, pagination, durability.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { JsonValue, StateStore } from './store.js';

export interface StoreBackend {
  /**
   * Opens the store kept at `location`, a fresh empty directory the suite made for one test
   * (a backend without files, such as etcd, derives a key namespace from it). Opening the
   * same location again must reopen the same data.
   */
  open(location: string): Promise<StateStore>;
  /**
   * Absolute path of an ES module exporting `openStore(location): Promise<StateStore>` with
   * the same meaning as open(); a child process imports it for the kill -9 test.
   */
  readonly childModule: string;
}

const childEntry = fileURLToPath(new URL('./conformance-child.js', import.meta.url));

export function runStoreConformance(name: string, backend: StoreBackend): void {
  describe(`StateStore conformance: ${name}`, () => {
    let root = '';
    let n = 0;
    const open: StateStore[] = [];
    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'nitride-store-'));
    });
    after(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    });
    const location = (): string => join(root, `t${++n}`);
    const fresh = async (loc = location()): Promise<StateStore> => {
      const s = await backend.open(loc);
      open.push(s);
      return s;
    };
    const keys = async (s: StateStore, prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<string[]> => (await s.list(prefix, opts)).map((e) => e.key);

    it('starts empty at revision 0', async () => {
      const s = await fresh();
      assert.equal(await s.revision(), 0);
      assert.equal(await s.get('missing'), undefined);
      assert.deepEqual(await s.list(''), []);
    });

    it('round-trips JSON values with increasing versions', async () => {
      const s = await fresh();
      const values: JsonValue[] = [null, true, 0, -1.5, 'text ✓', [1, 'two', { three: 3 }], { a: { b: [null] }, 'é': '' }];
      let last = 0;
      for (const [i, v] of values.entries()) {
        const rev = await s.put(`k/${i}`, v);
        assert.ok(rev > last, 'each put advances the revision');
        last = rev;
        const got = await s.get(`k/${i}`);
        assert.deepEqual(got, { value: v, version: rev });
      }
      assert.equal(await s.revision(), last);
    });

    it('advances the revision by one per committed write txn, and versions equal the commit revision', async () => {
      const s = await fresh();
      const r0 = await s.revision();
      assert.equal(await s.txn({ put: [{ key: 'a', value: 1 }, { key: 'b', value: 2 }] }), true);
      assert.equal(await s.revision(), r0 + 1);
      assert.equal((await s.get('a'))?.version, r0 + 1);
      assert.equal((await s.get('b'))?.version, r0 + 1);
      assert.equal(await s.txn({ compare: [{ key: 'a', version: r0 + 1 }] }), true, 'a compare-only txn succeeds');
      assert.equal(await s.revision(), r0 + 1, 'a txn without writes does not advance the revision');
      assert.equal(await s.delete('a'), true);
      assert.equal(await s.revision(), r0 + 2);
      assert.equal(await s.delete('a'), false, 'deleting a missing key reports false');
      assert.equal(await s.revision(), r0 + 2, 'a no-op delete does not advance the revision');
    });

    it('orders keys by their bytes', async () => {
      const s = await fresh();
      const ks = ['b', 'a', 'a/b', 'A', 'é', 'z', 'a0', 'a/', '~', 'ab', 'a/b/c', '日本'];
      for (const k of ks) await s.put(k, k);
      const expected = [...ks].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(await keys(s, ''), expected);
      for (const e of await s.list('')) assert.equal(e.value, e.key);
    });

    it('returns exactly the keys under a prefix, with no bleed into siblings', async () => {
      const s = await fresh();
      for (const k of ['a/b', 'a/bc', 'a/b/1', 'a/b/2', 'a/c', 'a/a', 'a/b0', 'b/b/1', 'a/b\u00ff', 'a/c/1']) await s.put(k, 1);
      assert.deepEqual(await keys(s, 'a/b/'), ['a/b/1', 'a/b/2']);
      assert.deepEqual(await keys(s, 'a/b'), ['a/b', 'a/b/1', 'a/b/2', 'a/b0', 'a/bc', 'a/b\u00ff']);
      assert.deepEqual(await keys(s, 'a/c'), ['a/c', 'a/c/1']);
      assert.deepEqual(await keys(s, 'a/d'), []);
      assert.deepEqual(await keys(s, 'b/'), ['b/b/1']);
      assert.deepEqual(await keys(s, 'a/b/2'), ['a/b/2']);
    });

    it('paginates with startAfter and limit, within a prefix', async () => {
      const s = await fresh();
      const all: string[] = [];
      for (let i = 0; i < 25; i++) all.push(`p/${String(i).padStart(3, '0')}`);
      for (const k of [...all].reverse()) await s.put(k, k);
      await s.put('q/000', 'other');
      await s.put('o/999', 'other');
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const got = await s.list('p/', cursor === undefined ? { limit: 10 } : { limit: 10, startAfter: cursor });
        assert.ok(got.length <= 10);
        seen.push(...got.map((e) => e.key));
        if (got.length < 10) break;
        cursor = got[got.length - 1]?.key;
      }
      assert.deepEqual(seen, all);
      assert.deepEqual(await keys(s, 'p/', { startAfter: 'p/024' }), []);
      assert.deepEqual(await keys(s, 'p/', { startAfter: 'p/0235' }), ['p/024']);
      assert.deepEqual(await keys(s, 'p/', { startAfter: 'a', limit: 2 }), ['p/000', 'p/001'], 'a cursor before the prefix starts at the prefix');
      assert.deepEqual(await keys(s, 'p/', { startAfter: 'z' }), []);
      assert.deepEqual(await keys(s, 'p/', { limit: 0 }), []);
      assert.deepEqual(await keys(s, '', { startAfter: 'p/024' }), ['q/000']);
    });

    it('applies a txn only when every compare holds, atomically', async () => {
      const s = await fresh();
      assert.equal(await s.txn({ compare: [{ key: 'x', version: 0 }], put: [{ key: 'x', value: 'first' }] }), true);
      const v1 = (await s.get('x'))?.version ?? -1;
      assert.equal(await s.txn({ compare: [{ key: 'x', version: 0 }], put: [{ key: 'x', value: 'again' }] }), false, 'create-if-absent fails when present');
      assert.equal((await s.get('x'))?.value, 'first');
      const rev = await s.revision();
      // A failing compare on one key blocks every put and delete in the txn.
      assert.equal(await s.txn({ compare: [{ key: 'x', version: v1 }, { key: 'y', version: 7 }], put: [{ key: 'x', value: 'second' }, { key: 'z', value: 1 }], delete: ['w'] }), false);
      assert.equal((await s.get('x'))?.value, 'first');
      assert.equal(await s.get('z'), undefined);
      assert.equal(await s.revision(), rev, 'a failed txn does not advance the revision');
      await s.put('w', 'keep');
      const vw = (await s.get('w'))?.version ?? -1;
      assert.equal(await s.txn({ compare: [{ key: 'x', version: v1 }, { key: 'w', version: vw }, { key: 'y', version: 0 }], put: [{ key: 'x', value: 'second' }, { key: 'z', value: 1 }], delete: ['w'] }), true);
      assert.equal((await s.get('x'))?.value, 'second');
      assert.equal((await s.get('z'))?.value, 1);
      assert.equal(await s.get('w'), undefined);
      assert.equal(await s.txn({ compare: [{ key: 'x', version: v1 }], put: [{ key: 'x', value: 'stale' }] }), false, 'a stale version is refused');
      assert.equal(await s.txn({ compare: [{ key: 'w', version: vw }], delete: ['z'] }), false, 'a deleted key no longer has its old version');
    });

    it('rejects malformed keys and txns', async () => {
      const s = await fresh();
      await assert.rejects(s.put('', 1), /key/);
      await assert.rejects(s.get('a\0b'), /key/);
      await assert.rejects(s.txn({ put: [{ key: 'k', value: 1 }], delete: ['k'] }), /both/);
      await assert.rejects(s.txn({ put: [{ key: 'k', value: 1 }, { key: 'k', value: 2 }] }), /twice/);
      await assert.rejects(s.txn({ compare: [{ key: 'k', version: -1 }] }), /version/);
      assert.equal(await s.revision(), 0);
    });

    it('serializes concurrent compare-and-swap increments (one handle and two handles)', async () => {
      const loc = location();
      const a = await fresh(loc);
      const b = await fresh(loc);
      await a.put('counter', 0);
      const increment = async (s: StateStore): Promise<number> => {
        for (let attempt = 1; ; attempt++) {
          const cur = await s.get<number>('counter');
          assert.ok(cur);
          if (await s.txn({ compare: [{ key: 'counter', version: cur.version }], put: [{ key: 'counter', value: cur.value + 1 }] })) return attempt;
          assert.ok(attempt < 1000, 'a CAS loop made no progress');
        }
      };
      const workers: Promise<number>[] = [];
      for (let i = 0; i < 40; i++) workers.push(increment(i % 2 === 0 ? a : b));
      await Promise.all(workers);
      assert.equal((await a.get('counter'))?.value, 40);
      assert.equal((await b.get('counter'))?.value, 40);
      // Racing creators of one key: exactly one wins.
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).txn({ compare: [{ key: 'once', version: 0 }], put: [{ key: 'once', value: i }] })));
      assert.equal(wins.filter((w) => w).length, 1);
    });

    it('keeps data and revision across close and reopen', async () => {
      const loc = location();
      const s = await backend.open(loc);
      await s.put('keep/a', { deep: [1, 2, 3] });
      await s.put('keep/b', 'b');
      await s.delete('keep/b');
      const rev = await s.revision();
      const va = (await s.get('keep/a'))?.version;
      await s.close();
      const r = await fresh(loc);
      assert.equal(await r.revision(), rev);
      assert.deepEqual(await r.get('keep/a'), { value: { deep: [1, 2, 3] }, version: va });
      assert.equal(await r.get('keep/b'), undefined);
      assert.ok((await r.put('keep/c', 1)) > rev, 'the revision keeps increasing after a reopen');
    });

    it('keeps every acknowledged write when the writer is killed with SIGKILL', { timeout: 60_000 }, async () => {
      const loc = location();
      // Create the store first so the child is not racing schema creation with the reopen below.
      await (await backend.open(loc)).close();
      const child = spawn(process.execPath, [childEntry, backend.childModule, loc], { stdio: ['ignore', 'pipe', 'pipe'] });
      let acked = 0;
      let stderr = '';
      try {
        await new Promise<void>((resolve, reject) => {
          let buf = '';
          const target = 30 + Math.floor(Math.random() * 40);
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            const lines = buf.split('\n');
            buf = lines.pop() ?? '';
            for (const l of lines) {
              const m = /^ack (\d+)$/.exec(l);
              if (m) acked = Number(m[1]);
            }
            if (acked >= target) {
              child.kill('SIGKILL');
              resolve();
            }
          });
          child.on('exit', (code, signal) => {
            if (signal !== 'SIGKILL') reject(new Error(`the writer exited early (code ${String(code)}): ${stderr}`));
          });
        });
        await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      const s = await fresh(loc);
      const got = await s.list<{ n: number }>('crash/');
      assert.ok(got.length >= acked, `${acked} writes were acknowledged but only ${got.length} survived`);
      for (let i = 1; i <= acked; i++) {
        const e = got[i - 1];
        assert.equal(e?.key, `crash/${String(i).padStart(8, '0')}`);
        assert.deepEqual(e?.value, { n: i });
      }
      assert.ok((await s.revision()) >= acked);
    });
  });
}
