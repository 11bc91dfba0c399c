import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { counterStart, directionKey, HEADER_BYTES, KIND_SYNC_REPLY, KIND_SYNC_REQUEST, Opener, OVERHEAD_BYTES, ReplayWindow, REPLAY_WINDOW, Sealer } from './seal.js';

const secret = randomBytes(32);

function pair(epoch = 1): { s: Sealer; o: Opener } {
  const s = new Sealer(directionKey(secret, epoch, 'h-a', 'h-b'), epoch);
  const o = new Opener();
  o.addEpoch(epoch, directionKey(secret, epoch, 'h-a', 'h-b'));
  return { s, o };
}

test('a sealed frame opens to the same frame and VPC number, and carries no plaintext', () => {
  const { s, o } = pair();
  const frame = Buffer.from('PLAINTEXT-PAYLOAD-'.repeat(80));
  const d = s.seal(42, frame);
  assert.equal(d.length, frame.length + OVERHEAD_BYTES - 28);
  assert.equal(d.indexOf('PLAINTEXT'), -1);
  const r = o.open(d);
  assert.ok(r.ok);
  assert.equal(r.vni, 42);
  assert.deepEqual(r.frame, frame);
});

test('tampering with the header, the VPC number or the body fails authentication', () => {
  const { s, o } = pair();
  for (const at of [8, 11, HEADER_BYTES + 3]) {
    const d = s.seal(7, Buffer.alloc(100, 1));
    d[at]! ^= 1;
    assert.deepEqual(o.open(d), { ok: false, reason: 'auth' });
  }
  assert.deepEqual(o.open(Buffer.alloc(10)), { ok: false, reason: 'malformed' });
});

test('the other direction, another pair secret and an unknown epoch do not open', () => {
  const { s } = pair();
  const back = new Opener();
  back.addEpoch(1, directionKey(secret, 1, 'h-b', 'h-a'));
  assert.deepEqual(back.open(s.seal(1, Buffer.alloc(64))), { ok: false, reason: 'auth' });
  const other = new Opener();
  other.addEpoch(1, directionKey(randomBytes(32), 1, 'h-a', 'h-b'));
  assert.deepEqual(other.open(s.seal(1, Buffer.alloc(64))), { ok: false, reason: 'auth' });
  const { o } = pair();
  const s2 = new Sealer(directionKey(secret, 2, 'h-a', 'h-b'), 2);
  assert.deepEqual(o.open(s2.seal(1, Buffer.alloc(64))), { ok: false, reason: 'unknown-epoch' });
});

test('replays are refused; reordering inside the window is accepted; old counters are refused', () => {
  const { s, o } = pair();
  const ds = Array.from({ length: REPLAY_WINDOW + 10 }, (_, i) => s.seal(1, Buffer.from(`f${i}`)));
  assert.ok(o.open(ds[5]!).ok);
  assert.deepEqual(o.open(ds[5]!), { ok: false, reason: 'replay' });
  assert.ok(o.open(ds[3]!).ok, 'out of order within the window');
  assert.ok(o.open(ds[REPLAY_WINDOW + 9]!).ok);
  assert.deepEqual(o.open(ds[4]!), { ok: false, reason: 'replay' }, 'behind the window');
  assert.ok(o.open(ds[REPLAY_WINDOW + 8]!).ok);
});

test('rotation: both epochs open while the old one is live, then only the new one', () => {
  const { s, o } = pair(1);
  const s2 = new Sealer(directionKey(secret, 2, 'h-a', 'h-b'), 2);
  o.addEpoch(2, directionKey(secret, 2, 'h-a', 'h-b'));
  assert.ok(o.open(s.seal(1, Buffer.alloc(64))).ok);
  assert.ok(o.open(s2.seal(1, Buffer.alloc(64))).ok);
  o.dropEpoch(1);
  assert.deepEqual(o.open(s.seal(1, Buffer.alloc(64))), { ok: false, reason: 'unknown-epoch' });
});

test('the replay window against a reference set', () => {
  const w = new ReplayWindow();
  const seen = new Set<number>();
  let top = -1;
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 20000; i++) {
    const c = Math.max(0, top + (rnd() % 1500) - 1200);
    const want = !seen.has(c) && !(top - c >= REPLAY_WINDOW);
    assert.equal(w.check(BigInt(c)), want, `counter ${c} (top ${top})`);
    if (want) {
      seen.add(c);
      top = Math.max(top, c);
    }
  }
});

test('a restarted sender under the same key never reuses a counter (nonce) and its receiver accepts it at once', () => {
  const k = (): ReturnType<typeof directionKey> => directionKey(secret, 5, 'h-a', 'h-b');
  const o = new Opener();
  o.addEpoch(5, k());
  const first = new Sealer(k(), 5, counterStart(1_800_000_000_000));
  const sent = new Set<bigint>();
  for (let i = 0; i < 3000; i++) {
    const d = first.seal(1, Buffer.alloc(32, i & 0xff));
    sent.add(d.readBigUInt64BE(12));
    assert.ok(o.open(d).ok);
  }
  // The bridge crashed and was restarted 5 ms later with the keys the controller holds.
  const second = new Sealer(k(), 5, counterStart(1_800_000_000_005));
  const d = second.seal(1, Buffer.alloc(32));
  const c = d.readBigUInt64BE(12);
  assert.ok(!sent.has(c), 'no counter (and so no GCM nonce) is used twice under one key');
  assert.ok([...sent].every((x) => x < c));
  assert.ok(o.open(d).ok, 'the receiver does not take the restarted sender for a replay');
  assert.equal(counterStart(2 ** 41) < 2n ** 64n, true, 'the counter fits the 64-bit header field for decades');
  const fresh = new Sealer(k(), 5);
  assert.ok(fresh.seal(1, Buffer.alloc(1)).readBigUInt64BE(12) >= counterStart(Date.now() - 1000), 'the default start is the clock');
});

test('vouch: counters below the vouched one are refused in that epoch, older epochs close, newer ones stay open; kinds are authenticated', () => {
  const s1 = new Sealer(directionKey(secret, 1, 'h-a', 'h-b'), 1);
  const s2 = new Sealer(directionKey(secret, 2, 'h-a', 'h-b'), 2);
  const s3 = new Sealer(directionKey(secret, 3, 'h-a', 'h-b'), 3);
  const o = new Opener();
  for (const e of [1, 2, 3]) o.addEpoch(e, directionKey(secret, e, 'h-a', 'h-b'));
  const old1 = s1.seal(1, Buffer.from('epoch 1'));
  const old2 = [0, 1, 2].map((i) => s2.seal(1, Buffer.from(`old ${i}`)));
  const reply = s2.seal(0, Buffer.alloc(16, 7), KIND_SYNC_REPLY);
  const later2 = s2.seal(1, Buffer.from('after the reply'));
  const r = o.open(reply);
  assert.ok(r.ok);
  assert.equal(r.kind, KIND_SYNC_REPLY);
  assert.equal(r.epoch, 2);
  o.vouch(r.epoch, r.counter);
  for (const d of old2) assert.deepEqual(o.open(d), { ok: false, reason: 'replay' }, 'sent before the reply');
  assert.deepEqual(o.open(old1), { ok: false, reason: 'replay' }, 'an older epoch is closed');
  assert.ok(o.open(later2).ok, 'sent after the reply');
  assert.ok(o.open(s3.seal(1, Buffer.from('newer epoch'))).ok, 'a newer epoch is untouched');
  // The kind byte is in the authenticated header: a frame cannot be turned into a sync message.
  const f = s2.seal(1, Buffer.alloc(16));
  f[3] = KIND_SYNC_REQUEST;
  assert.deepEqual(o.open(f), { ok: false, reason: 'auth' });
  const unknown = s2.seal(1, Buffer.alloc(16));
  unknown[3] = 9;
  assert.deepEqual(o.open(unknown), { ok: false, reason: 'malformed' });
});
