// Session tokens: sealed for one access key id; any change, a cut, or another key id does not open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootKey } from './root-key.js';
import { openSessionToken, sealSessionToken, type SessionPayload } from './session.js';

test('a session token opens only unchanged, whole, and for its own access key id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-session-'));
  try {
    const key = RootKey.loadOrCreate(join(dir, 'root.key'));
    const other = RootKey.loadOrCreate(join(dir, 'other.key'));
    const p: SessionPayload = { v: 1, acct: '123456789012', secret: 's'.repeat(40), iat: 1, exp: 2, role: { name: 'r', id: 'AROAAAAAAAAAAAAAAAAAA', session: 'x' }, src: 'arn:aws:iam::123456789012:user/bob' };
    const t = sealSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', p);
    assert.deepEqual(openSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', t), p);
    assert.equal(openSessionToken(key, 'ASIABBBBBBBBBBBBBBBB', t), undefined, 'another key id');
    assert.equal(openSessionToken(other, 'ASIAAAAAAAAAAAAAAAAA', t), undefined, 'another region root key');
    for (let i = 0; i < t.length; i++) {
      if (t[i] === '.') continue;
      const flipped = t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
      const opened = openSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', flipped);
      // a flip in a base64url character's unused low bits can leave the bytes as they were
      if (opened !== undefined) assert.equal(Buffer.from(flipped.split('.')[i < t.indexOf('.') ? 0 : i < t.lastIndexOf('.') ? 1 : 2]!, 'base64url').equals(Buffer.from(t.split('.')[i < t.indexOf('.') ? 0 : i < t.lastIndexOf('.') ? 1 : 2]!, 'base64url')), true, `flip at ${i} opened`);
    }
    for (let cut = 1; cut <= 8; cut++) assert.equal(openSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', t.slice(0, -cut)), undefined, `the tag cut by ${cut} characters`);
    assert.equal(openSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', 'a.b'), undefined);
    assert.equal(openSessionToken(key, 'ASIAAAAAAAAAAAAAAAAA', ''), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
