import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JAIL_ID_BASE, JAIL_ID_SLOTS, JAIL_IDS_FILE, JailIds } from './jail-ids.js';

test('JailIds: one uid per instance from the reserved range, stable across a reload, released at terminate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-jail-ids-'));
  try {
    const t = new JailIds(dir);
    const a = await t.allocate('i-0000000000000000a');
    const b = await t.allocate('i-0000000000000000b');
    assert.notEqual(a.uid, b.uid);
    for (const x of [a, b]) {
      assert.equal(x.uid, x.gid);
      assert.ok(x.uid >= JAIL_ID_BASE && x.uid < JAIL_ID_BASE + JAIL_ID_SLOTS);
    }
    assert.deepEqual(await t.allocate('i-0000000000000000a'), a, 'allocating again returns the same');
    assert.equal(statSync(join(dir, JAIL_IDS_FILE)).mode & 0o777, 0o600);
    const reloaded = new JailIds(dir);
    assert.deepEqual(reloaded.get('i-0000000000000000a'), a, 'a restarted hypervisor sees the same uid');
    await reloaded.release('i-0000000000000000a');
    assert.equal(new JailIds(dir).get('i-0000000000000000a'), undefined);
    assert.deepEqual(new JailIds(dir).get('i-0000000000000000b'), b);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JailIds: a slot taken by another instance is skipped, even when the hash picks it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-jail-ids-'));
  try {
    const t = new JailIds(dir);
    const a = await t.allocate('i-1');
    // Forge a table where another instance holds the slot i-1's hash picks first.
    writeFileSync(join(dir, JAIL_IDS_FILE), JSON.stringify({ v: 1, base: JAIL_ID_BASE, ids: { 'i-other': a.uid } }));
    const t2 = new JailIds(dir);
    const again = await t2.allocate('i-1');
    assert.notEqual(again.uid, a.uid);
    assert.equal(again.uid, a.uid + 1 === JAIL_ID_BASE + JAIL_ID_SLOTS ? JAIL_ID_BASE : a.uid + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JailIds: an unreadable table is an error, never a fresh start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-jail-ids-'));
  try {
    writeFileSync(join(dir, JAIL_IDS_FILE), '{not json');
    assert.throws(() => new JailIds(dir), (e: Error & { code?: string }) => e.code === 'JailIdsUnreadable');
    assert.equal(readFileSync(join(dir, JAIL_IDS_FILE), 'utf8'), '{not json', 'left as it was');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
