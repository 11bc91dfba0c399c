import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditTrail, verifyTrail, type AuditEvent } from '../../audit/trail.js';
import { apiLimits } from './limits.js';
import { REFUSALS_EVENT_NAME, RefusalLedger, isCountedRefusal, sourceKey, type RefusalCount } from './refusals.js';

const ev = (over: Partial<AuditEvent>): AuditEvent => ({
  eventSource: 'ec2.amazonaws.com',
  eventName: 'DescribeInstances',
  awsRegion: 'local-1',
  sourceIPAddress: '192.0.2.1',
  userIdentity: { type: 'Unknown' },
  requestID: 'r',
  readOnly: true,
  ...over,
});

const lines = (path: string): Record<string, unknown>[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);

test('sourceKey: IPv4 as is (also v4-mapped), IPv6 by its /64', () => {
  assert.equal(sourceKey('192.0.2.7'), '192.0.2.7');
  assert.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(sourceKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
  assert.equal(sourceKey(undefined), '-');
});

test('what is counted: no principal, or a throttle code; everything else is written', () => {
  assert.equal(isCountedRefusal(ev({ errorCode: 'AuthFailure' })), true);
  assert.equal(isCountedRefusal(ev({ userIdentity: { type: 'Root', accountId: '1' }, errorCode: 'RequestLimitExceeded' })), true);
  assert.equal(isCountedRefusal(ev({ userIdentity: { type: 'Root', accountId: '1' }, errorCode: 'UnauthorizedOperation' })), false);
  assert.equal(isCountedRefusal(ev({ userIdentity: { type: 'IAMUser', accountId: '1' } })), false);
});

test('the ledger writes authenticated events through, counts refusals into one bounded record per flush', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-refusals-'));
  try {
    const path = join(dir, 'audit.log');
    const trail = new AuditTrail(path);
    let now = Date.parse('2026-12-07T20:00:30Z');
    const ledger = new RefusalLedger(trail, apiLimits({ refusalMaxKeys: 3, refusalRatePerSource: 0, refusalIntervalMs: 3_600_000 }, {}), () => now);
    await ledger.record(ev({ userIdentity: { type: 'Root', accountId: '1' }, requestID: 'ok-1' }));
    for (let i = 0; i < 100; i++) await ledger.record(ev({ errorCode: 'AuthFailure', userIdentity: { type: 'Unknown', accessKeyId: 'AKIAX' } }));
    for (let i = 0; i < 50; i++) await ledger.record(ev({ errorCode: 'MissingAuthenticationToken' }));
    now += 60_000; // the next minute is a new counter
    for (let i = 0; i < 7; i++) await ledger.record(ev({ errorCode: 'MissingAuthenticationToken' }));
    for (let i = 0; i < 5; i++) await ledger.record(ev({ sourceIPAddress: `192.0.2.${10 + i}`, errorCode: 'AuthFailure' })); // over refusalMaxKeys: "*"
    await ledger.flush();
    await ledger.flush(); // nothing new: no record
    await ledger.close();
    await trail.close();
    const events = lines(path);
    assert.deepEqual(events.map((e) => e['eventName']), ['DescribeInstances', REFUSALS_EVENT_NAME]);
    const p = events[1]!['requestParameters'] as { total: number; counts: RefusalCount[] };
    assert.equal(p.total, 162);
    assert.deepEqual(
      p.counts.map((c) => [c.minute, c.sourceIPAddress, c.errorCode, c.accessKeyId ?? null, c.count]),
      [
        ['2026-12-07T20:00Z', '192.0.2.1', 'AuthFailure', 'AKIAX', 100],
        ['2026-12-07T20:00Z', '192.0.2.1', 'MissingAuthenticationToken', null, 50],
        ['2026-12-07T20:01Z', '192.0.2.1', 'MissingAuthenticationToken', null, 7],
        ['2026-12-07T20:01Z', '*', '*', null, 5],
      ],
    );
    assert.equal(verifyTrail(path).ok, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
