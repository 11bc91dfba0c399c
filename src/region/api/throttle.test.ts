import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiLimitsError, apiLimitEnvName, apiLimits, DEFAULT_API_LIMITS } from './limits.js';
import { PrincipalThrottle } from './throttle.js';

test('per key and per account buckets; a refused request spends nothing', () => {
  let now = 0;
  const t = new PrincipalThrottle({ keyRatePerSec: 1, keyBurst: 2, accountRatePerSec: 1, accountBurst: 3 }, () => now);
  const a1 = { accessKeyId: 'AKIA1', accountId: 'A' };
  const a2 = { accessKeyId: 'AKIA2', accountId: 'A' };
  const b1 = { accessKeyId: 'AKIA3', accountId: 'B' };
  assert.deepEqual([t.admit(a1), t.admit(a1), t.admit(a1)], [true, true, false], 'the key bucket');
  assert.deepEqual([t.admit(a2), t.admit(a2)], [true, false], 'the account bucket is shared by its keys');
  assert.equal(t.admit(b1), true, 'another account is not affected');
  now = 1000;
  assert.equal(t.admit(a2), true, 'a refused call did not spend the key token: a2 still had one');
  assert.equal(t.admit(a1), false, 'the account is empty again');
});

test('a rate of 0 turns a bucket off', () => {
  const t = new PrincipalThrottle({ keyRatePerSec: 0, keyBurst: 1, accountRatePerSec: 0, accountBurst: 1 }, () => 0);
  for (let i = 0; i < 100; i++) assert.equal(t.admit({ accessKeyId: 'K', accountId: 'A' }), true);
});

test('limits: defaults, NITRIDE_API_* from the environment, overrides, and refusal of malformed values', () => {
  assert.equal(apiLimitEnvName('maxConnectionsPerSource'), 'NITRIDE_API_MAX_CONNECTIONS_PER_SOURCE');
  assert.equal(apiLimitEnvName('keyRatePerSec'), 'NITRIDE_API_KEY_RATE_PER_SEC');
  assert.deepEqual(apiLimits({}, {}), DEFAULT_API_LIMITS);
  const l = apiLimits({ keyBurst: 7 }, { NITRIDE_API_MAX_CONNECTIONS: '10', NITRIDE_API_KEY_RATE_PER_SEC: '0.5', NITRIDE_API_KEY_BURST: '9' });
  assert.equal(l.maxConnections, 10);
  assert.equal(l.keyRatePerSec, 0.5);
  assert.equal(l.keyBurst, 7, 'an override beats the environment');
  assert.throws(() => apiLimits({}, { NITRIDE_API_MAX_CONNECTIONS: '1.5' }), ApiLimitsError);
  assert.throws(() => apiLimits({}, { NITRIDE_API_PRE_AUTH_BODY_BYTES: 'lots' }), ApiLimitsError);
  assert.throws(() => apiLimits({ keyBurst: -1 }, {}), ApiLimitsError);
});
