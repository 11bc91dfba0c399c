// The front door under unauthenticated pressure (issue 12, "no unauthenticated exhaustion"):
// refusals of unauthenticated requests are counted and written as one audit record per
// interval while authenticated calls are audited one by one; a flooding source's refusals
// are paced; connections are capped per source and in total; a connection that sends
// nothing, or is idle, is closed; headers and, before a known key is presented, bodies are
// small; and a principal over its rate gets each service's throttling error through the
// SDK and both AWS CLIs. Each test runs its own region (port 0, temporary home).
import { ListAccountsCommand, OrganizationsClient } from '@aws-sdk/client-organizations';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { EBSClient, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { signRequest } from '../../src/iam/sigv4/index.js';
import type { ApiLimits } from '../../src/region/api/limits.js';
import { REFUSALS_EVENT_NAME, type RefusalCount } from '../../src/region/api/refusals.js';
import type { Region } from '../../src/region/region.js';
import { CLIS, auditEvents, auditVerify, cleanEnv, dumpDiagnostics, openLocalRegion, waitFor, type CliName } from '../region-fixtures.js';

const FORM = 'application/x-www-form-urlencoded; charset=utf-8';
const DESCRIBE = 'Action=DescribeInstances&Version=2016-11-15';

/** Opens a region with these limits, runs fn, closes it, verifies its trail; diagnostics on failure. */
async function withRegion(limits: Partial<ApiLimits>, fn: (r: Region, home: string) => Promise<void>): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'nitride-admission-'));
  let region: Region | undefined;
  let failed = false;
  try {
    region = await openLocalRegion(home, { apiLimits: limits });
    await fn(region, home);
    await region.close();
    region = undefined;
    const v = auditVerify(home);
    assert.equal(v.status, 0, `audit verify: ${v.stdout}${v.stderr}`);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (region) await region.close();
    if (failed) dumpDiagnostics(home);
    await rm(home, { recursive: true, force: true });
  }
}

interface Answer {
  status: number;
  body: string;
  code: string | undefined;
  requestId: string | undefined;
}

/** One HTTP request; `localAddress` picks the source address (any of 127/8 on Linux). */
function send(port: number, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string; agent?: Agent; localAddress?: string }): Promise<Answer> {
  const body = o.body ?? '';
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: o.method ?? 'POST', path: o.path ?? '/', headers: { 'content-type': FORM, ...o.headers, 'content-length': String(Buffer.byteLength(body)) }, ...(o.agent ? { agent: o.agent } : { agent: false }), ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (b += c));
        res.on('end', () => {
          const rid = res.headers['x-amzn-requestid'];
          resolve({ status: res.statusCode ?? 0, body: b, code: /<Code>([^<]+)<\/Code>/.exec(b)?.[1] ?? (/"__type":"([^"]+)"/.exec(b)?.[1]), requestId: typeof rid === 'string' ? rid : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function signed(r: Region, body: string, creds: { accessKeyId: string; secretAccessKey: string } = r.credentials, service = 'ec2'): Record<string, string> {
  return signRequest({ method: 'POST', path: '/', query: '', headers: { host: `127.0.0.1:${r.port}`, 'content-type': FORM }, body }, creds, { region: 'local-1', service }).headers;
}

function refusalRecords(home: string): { counts: RefusalCount[]; total: number }[] {
  return auditEvents(home)
    .filter((e) => e['eventName'] === REFUSALS_EVENT_NAME)
    .map((e) => e['requestParameters'] as { counts: RefusalCount[]; total: number });
}

/** Sum of counters by "eventSource errorCode" over every RefusedRequests record. */
function refusalTally(home: string, pick: (c: RefusalCount) => boolean = () => true): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of refusalRecords(home)) for (const c of r.counts) if (pick(c)) m.set(`${c.eventSource} ${c.errorCode}`, (m.get(`${c.eventSource} ${c.errorCode}`) ?? 0) + c.count);
  return m;
}

/** A raw TCP connection to the API, open when the promise resolves. */
function rawConnection(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A connection the server refuses: reset or closed without a byte (ECONNRESET may come during connect). */
function refused(port: number, localAddress: string, deadlineMs: number): Promise<{ data: string; closed: boolean }> {
  return untilClosed(connect({ host: '127.0.0.1', port, localAddress }), deadlineMs);
}

/** What a raw connection receives until it closes (or the deadline passes: then it is destroyed and the test fails). */
function untilClosed(s: Socket, deadlineMs: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => (data += c));
    s.on('error', () => undefined);
    const t = setTimeout(() => {
      s.destroy();
      resolve({ data, closed: false });
    }, deadlineMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve({ data, closed: true });
    });
  });
}

test('failed authentications are counted into one audit record; authenticated calls are audited one by one', async () => {
  await withRegion({ refusalRatePerSource: 0, refusalIntervalMs: 3_600_000 }, async (region, home) => {
    const before = auditEvents(home).length;
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const seen = new Map<string, number>();
    const tally = (a: Answer, service: string): void => {
      assert.ok(a.status >= 400 && a.code, `a refusal with a code: ${a.status} ${a.body.slice(0, 200)}`);
      seen.set(`${service} ${a.code}`, (seen.get(`${service} ${a.code}`) ?? 0) + 1);
    };
    const wrongSecret = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: 'w'.repeat(40) };
    const unknownKey = { accessKeyId: 'AKIAEXAMPLENOTAKEY00', secretAccessKey: 'x'.repeat(40) };
    const N = 600;
    const jobs = Array.from({ length: N }, (_, i) => async () => {
      switch (i % 4) {
        case 0:
          return tally(await send(region.port, { body: DESCRIBE, agent }), 'ec2.amazonaws.com');
        case 1:
          return tally(await send(region.port, { body: DESCRIBE, headers: signed(region, DESCRIBE, wrongSecret), agent }), 'ec2.amazonaws.com');
        case 2:
          return tally(await send(region.port, { body: DESCRIBE, headers: signed(region, DESCRIBE, unknownKey), agent }), 'ec2.amazonaws.com');
        default:
          return tally(await send(region.port, { body: '{}', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, agent }), 'kms.amazonaws.com');
      }
    });
    for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((j) => j()));
    // Authenticated calls in between: each one is in the trail under its request id.
    const ok: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await send(region.port, { body: DESCRIBE, headers: signed(region, DESCRIBE), agent });
      assert.equal(a.status, 200, a.body);
      ok.push(a.requestId!);
    }
    agent.destroy();
    assert.equal([...seen.values()].reduce((a, b) => a + b, 0), N);
    await region.close(); // writes the counters

    const events = auditEvents(home).slice(before);
    const ids = new Set(events.map((e) => e['requestID']));
    for (const id of ok) assert.ok(ids.has(id), `the authenticated call ${id} has its own record`);
    const unknown = events.filter((e) => (e['userIdentity'] as { type: string }).type === 'Unknown' && e['eventName'] !== REFUSALS_EVENT_NAME);
    assert.deepEqual(unknown, [], 'no refusal of an unauthenticated request is written on its own');
    const records = refusalRecords(home);
    assert.equal(records.length, 1, 'one RefusedRequests record for the interval');
    assert.equal(records[0]!.total, N);
    assert.deepEqual(Object.fromEntries([...refusalTally(home)].sort()), Object.fromEntries([...seen].sort()), 'the counters match what the clients were answered');
    for (const c of records[0]!.counts) {
      assert.equal(c.sourceIPAddress, '127.0.0.1');
      assert.match(c.minute, /^\d{4}-\d\d-\d\dT\d\d:\d\dZ$/);
    }
    assert.ok(events.length <= ok.length + 1, `${events.length} records for ${N} refusals and ${ok.length} calls`);
  });
});

test('the counters are written every interval without waiting for shutdown, and the per-interval counters are bounded', async () => {
  await withRegion({ refusalRatePerSource: 0, refusalIntervalMs: 500, refusalMaxKeys: 3 }, async (region, home) => {
    // Five sources: three counters, the rest counted under "*".
    for (const src of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
      assert.equal((await send(region.port, { body: DESCRIBE, localAddress: src })).code, 'MissingAuthenticationToken');
    }
    const recs = await waitFor('a RefusedRequests record while the region runs', () => (refusalRecords(home).length > 0 ? refusalRecords(home) : undefined), 10_000, 100);
    const counts = recs.flatMap((r) => r.counts);
    assert.equal(counts.reduce((n, c) => n + c.count, 0), 5);
    assert.ok(counts.filter((c) => c.sourceIPAddress !== '*').length <= 3 * recs.length, JSON.stringify(counts));
  });
});

test('a source over its budget of failed authentications is answered at the budget pace; signed calls from elsewhere are not', async () => {
  await withRegion({ refusalRatePerSource: 10, refusalBurstPerSource: 10, refusalMaxDelayMs: 3_000 }, async (region) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 40 });
    const t0 = Date.now();
    const flood = Promise.all(Array.from({ length: 40 }, () => send(region.port, { body: DESCRIBE, agent, localAddress: '127.0.0.7' })));
    // While the source's refusals are held back, a signed call from another address is answered.
    const ok = await send(region.port, { body: DESCRIBE, headers: signed(region, DESCRIBE) });
    assert.equal(ok.status, 200, ok.body);
    const answers = await flood;
    const elapsed = Date.now() - t0;
    agent.destroy();
    assert.ok(answers.every((a) => a.code === 'MissingAuthenticationToken'), 'every held-back request is still answered with its code');
    // 10 at once, then 10 a second: the 40th cannot be answered before its token (capped at 3 s).
    assert.ok(elapsed >= 2_500, `40 refusals at 10/s after a burst of 10 took only ${elapsed} ms`);
  });
});

test('connections: capped per source and in total (refused at accept, counted); headers timeout, idle timeout and header size', async () => {
  await withRegion({ maxConnectionsPerSource: 3, maxConnections: 5, headersTimeoutMs: 6_000, keepAliveTimeoutMs: 1_000, maxHeaderBytes: 4096, refusalIntervalMs: 3_600_000 }, async (region, home) => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await rawConnection(region.port, '127.0.0.1'));
      await waitFor('three connections counted', () => (region.api.admission.connectionsFrom('127.0.0.1') === 3 ? true : undefined), 5_000, 20);
      const fourth = await refused(region.port, '127.0.0.1', 5_000);
      assert.deepEqual(fourth, { data: '', closed: true }, 'a fourth connection from one source is reset at once');
      for (let i = 0; i < 2; i++) held.push(await rawConnection(region.port, '127.0.0.8'));
      await waitFor('five connections counted', () => (region.api.admission.connectionsFrom('127.0.0.8') === 2 ? true : undefined), 5_000, 20);
      const sixth = await refused(region.port, '127.0.0.9', 5_000);
      assert.deepEqual(sixth, { data: '', closed: true }, 'a sixth connection in total is dropped');

      // The held connections sent nothing: each is answered 408 and closed after headersTimeout.
      const ends = await Promise.all(held.map((s) => untilClosed(s, 10_000)));
      for (const e of ends) {
        assert.ok(e.closed, 'a silent connection is closed');
        assert.match(e.data, /^HTTP\/1\.1 408 /);
      }
      await waitFor('the connections are released', () => (region.api.admission.connectionsFrom('127.0.0.1') === 0 ? true : undefined), 5_000, 20);

      // Slow headers: a request line and half its headers, then nothing.
      const slow = await rawConnection(region.port);
      slow.write('POST / HTTP/1.1\r\nHost: x\r\n');
      const s = await untilClosed(slow, 10_000);
      assert.ok(s.closed && /^HTTP\/1\.1 408 /.test(s.data), `slow headers: ${JSON.stringify(s.data.slice(0, 80))}`);

      // Idle after an answer: closed after keepAliveTimeout.
      const idle = await rawConnection(region.port);
      const h = signed(region, DESCRIBE);
      idle.write(`POST / HTTP/1.1\r\n${Object.entries({ ...h, 'content-type': FORM, 'content-length': String(DESCRIBE.length) }).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${DESCRIBE}`);
      const i = await untilClosed(idle, 10_000);
      assert.ok(i.closed && /^HTTP\/1\.1 200 /.test(i.data), `idle keep-alive connection: ${JSON.stringify(i.data.slice(0, 80))}`);

      // Headers larger than maxHeaderBytes: 431.
      const big = await send(region.port, { body: DESCRIBE, headers: { 'x-pad': 'p'.repeat(8192) } }).catch((e: unknown) => ({ status: -1, body: String(e), code: undefined, requestId: undefined }));
      assert.equal(big.status, 431, big.body);

      // The door still works.
      assert.equal((await send(region.port, { body: DESCRIBE, headers: signed(region, DESCRIBE) })).status, 200);
    } finally {
      for (const s of held) s.destroy();
    }
    await region.close();
    const t = refusalTally(home);
    assert.equal(t.get('nitride.region ConnectionLimitExceeded'), 2, JSON.stringify(Object.fromEntries(t)));
  });
});

test('before a known key is presented the body is capped small and refused unread; after, the full limit applies', async () => {
  await withRegion({ preAuthBodyBytes: 2048, maxBodyBytes: 256 * 1024, refusalIntervalMs: 3_600_000 }, async (region, home) => {
    const pad = `&Filter.1.Name=tag%3Apad&Filter.1.Value.1=${'p'.repeat(100_000)}`;
    // Unsigned, 100 kB declared but never sent: answered 413 at once from the headers alone.
    const s = await rawConnection(region.port);
    s.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${FORM}\r\nContent-Length: ${DESCRIBE.length + pad.length}\r\n\r\n`);
    const r = await untilClosed(s, 10_000);
    assert.ok(r.closed, 'the connection is closed after the answer');
    assert.match(r.data, /^HTTP\/1\.1 413 /);
    assert.match(r.data, /RequestEntityTooLarge/);
    // Signed by an unknown key: the same.
    const unknownKey = { accessKeyId: 'AKIAEXAMPLENOTAKEY00', secretAccessKey: 'x'.repeat(40) };
    const u = await send(region.port, { body: DESCRIBE + pad, headers: signed(region, DESCRIBE + pad, unknownKey) }).catch((e: unknown) => ({ status: -1, body: String(e), code: undefined, requestId: undefined }));
    assert.ok(u.status === 413 || u.status === -1, `unknown key, large body: ${u.status} ${u.body.slice(0, 200)}`);
    // Signed by the account's key: read in full and answered by EC2.
    const k = await send(region.port, { body: DESCRIBE + pad, headers: signed(region, DESCRIBE + pad) });
    assert.ok(k.status !== 413 && k.code !== 'RequestEntityTooLarge' && k.requestId !== undefined, `read in full and answered by EC2: ${k.status} ${k.body.slice(0, 300)}`);
    await region.close();
    const t = refusalTally(home);
    assert.ok((t.get('ec2.amazonaws.com RequestEntityTooLarge') ?? 0) >= 1, JSON.stringify(Object.fromEntries(t)));
  });
});

function cli(which: CliName, home: string, endpoint: string, args: string[]): Promise<{ status: number; stderr: string; stdout: string }> {
  const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home, AWS_MAX_ATTEMPTS: '1', AWS_RETRY_MODE: 'standard' });
  return new Promise((resolve, reject) => {
    execFile(CLIS[which], ['--profile', 'nitride', '--endpoint-url', endpoint, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`the AWS CLI ${which} (${CLIS[which]}) could not run: ${err.message}`));
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

test('a principal over its rate gets RequestLimitExceeded (EC2, 503), ThrottlingException (KMS), RequestThrottledException (EBS direct), Throttling (IAM), TooManyRequestsException (Organizations), counted not written', async () => {
  // One token every 100 s after a burst of 3: an AWS CLI starts well within a token's time,
  // even on a loaded machine (the refill itself is proven in src/region/api/throttle.test.ts).
  await withRegion({ keyRatePerSec: 0.01, keyBurst: 3, accountRatePerSec: 0, refusalIntervalMs: 3_600_000 }, async (region, home) => {
    // The key the profile nitride holds (the IAM user admin's), so the AWS CLIs below draw from the same bucket.
    const creds = { accessKeyId: region.adminCredentials.accessKeyId, secretAccessKey: region.adminCredentials.secretAccessKey };
    const ec2 = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
    const kms = new KMSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
    const outcome = async (p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> => {
      try {
        await p;
        return { name: 'ok', status: 200 };
      } catch (e) {
        const err = e as { name: string; $metadata?: { httpStatusCode?: number } };
        return { name: err.name, status: err.$metadata?.httpStatusCode };
      }
    };
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await outcome(ec2.send(new DescribeInstancesCommand({}))));
    assert.equal(got.filter((g) => g.name === 'ok').length, 3, JSON.stringify(got));
    assert.deepEqual(got[3], { name: 'RequestLimitExceeded', status: 503 });
    assert.deepEqual(await outcome(kms.send(new ListKeysCommand({}))), { name: 'ThrottlingException', status: 400 });
    const ebs = new EBSClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
    assert.deepEqual(await outcome(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' }))), { name: 'RequestThrottledException', status: 400 });
    ebs.destroy();
    const org = new OrganizationsClient({ endpoint: region.endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
    assert.deepEqual(await outcome(org.send(new ListAccountsCommand({}))), { name: 'TooManyRequestsException', status: 400 });
    org.destroy();
    const drain = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) if ((await outcome(ec2.send(new DescribeInstancesCommand({})))).name === 'RequestLimitExceeded') return;
      assert.fail('the key is not throttled');
    };
    for (const which of ['v1', 'v2'] as const) {
      await drain();
      const r = await cli(which, home, region.endpoint, ['iam', 'list-users']);
      assert.notEqual(r.status, 0, `${which} iam list-users was not throttled: ${r.stdout}`);
      assert.match(r.stderr, /\(Throttling\)/, `${which}: ${r.stderr}`);
      await drain();
      const e = await cli(which, home, region.endpoint, ['ec2', 'describe-instances']);
      assert.match(e.stderr, /\(RequestLimitExceeded\)/, `${which}: ${e.stderr}`);
    }
    // Another account's key is not slowed by this one.
    const other = await region.iam.createAccount('other');
    const key = await region.iam.createAccessKey(other.accountId, 'root');
    const ec2b = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, maxAttempts: 1 });
    assert.deepEqual(await outcome(ec2b.send(new DescribeInstancesCommand({}))), { name: 'ok', status: 200 });
    ec2.destroy();
    ec2b.destroy();
    kms.destroy();
    await region.close();
    const t = refusalTally(home, (c) => c.accessKeyId === creds.accessKeyId);
    assert.ok((t.get('ec2.amazonaws.com RequestLimitExceeded') ?? 0) >= 3, JSON.stringify(Object.fromEntries(t)));
    assert.ok((t.get('kms.amazonaws.com ThrottlingException') ?? 0) >= 1);
    assert.ok((t.get('ebs.amazonaws.com RequestThrottledException') ?? 0) >= 1, JSON.stringify(Object.fromEntries(t)));
    assert.equal(t.get('iam.amazonaws.com Throttling'), 2);
    assert.equal(t.get('organizations.amazonaws.com TooManyRequestsException'), 1, JSON.stringify(Object.fromEntries(t)));
  });
});
