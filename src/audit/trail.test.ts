import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AuditChain, readChain } from './chain.js';
import { AuditTrail, readHead, readLastRecords, REDACTED, redact, verifyTrail, type AuditEvent, type StoredAuditEvent } from './trail.js';

const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));

function event(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    eventSource: 'ec2.amazonaws.com',
    eventName: i % 2 === 0 ? 'RunInstances' : 'DescribeInstances',
    awsRegion: 'local-1',
    sourceIPAddress: '127.0.0.1',
    userAgent: 'aws-cli/2.9',
    userIdentity: { type: 'IAMUser', accountId: '123456789012', userName: 'alice', principalId: 'AIDAEXAMPLE', accessKeyId: 'AKIAEXAMPLE' },
    requestParameters: { instanceType: 't3.micro', n: i },
    requestID: `req-${i}`,
    readOnly: i % 2 === 1,
    ...over,
  };
}

function runCli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, 'audit', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('redact', () => {
  it('hides secrets and user data by name, at any depth and in flat Query names', () => {
    const got = redact({
      UserData: 'IyEvYmluL3No',
      userData: 'x',
      'LaunchSpecification.UserData': 'y',
      nested: [{ SecretAccessKey: 's', Plaintext: 'p', password: 'pw', keep: 'k' }],
      CiphertextBlob: 'not-secret',
      PolicyDocument: '{"Version":"2012-10-17"}',
      InstanceType: 't3.micro',
      keyMaterial: 'km',
    });
    assert.deepEqual(got, {
      UserData: REDACTED,
      userData: REDACTED,
      'LaunchSpecification.UserData': REDACTED,
      nested: [{ SecretAccessKey: REDACTED, Plaintext: REDACTED, password: REDACTED, keep: 'k' }],
      CiphertextBlob: 'not-secret',
      PolicyDocument: '{"Version":"2012-10-17"}',
      InstanceType: 't3.micro',
      keyMaterial: REDACTED,
    });
    assert.deepEqual(redact(new Map([['UserData', 'z'], ['ImageId', 'ami-1']])), { UserData: REDACTED, ImageId: 'ami-1' });
  });
});

describe('AuditTrail', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nitride-trail-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a request record before the effect and an outcome record that points at it', async () => {
    const path = join(dir, 'region', 'a.log');
    const trail = new AuditTrail(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}.head`).mode & 0o777, 0o600);
    try {
      const h = await trail.begin(event(0, { requestParameters: { UserData: 'c2VjcmV0', ImageId: 'ami-1' }, errorCode: 'ignored' }));
      // Durable now: the record is in the file before complete() is called.
      const onDisk = readChain<StoredAuditEvent>(path);
      assert.equal(onDisk.length, 1);
      assert.equal(onDisk[0]?.event.phase, 'request');
      assert.equal(onDisk[0]?.event.eventID, h.eventID);
      assert.equal(onDisk[0]?.event.errorCode, undefined);
      assert.deepEqual(onDisk[0]?.event.requestParameters, { UserData: REDACTED, ImageId: 'ami-1' });
      assert.equal(readFileSync(path, 'utf8').includes('c2VjcmV0'), false);
      assert.deepEqual(readHead(path), { seq: 1, hash: onDisk[0]?.hash });
      const out = await h.complete({ errorCode: 'InsufficientInstanceCapacity', errorMessage: 'no room', resources: [{ ARN: 'arn:aws:ec2:local-1:123456789012:instance/i-1', type: 'AWS::EC2::Instance' }] });
      assert.equal(out.seq, 2);
      assert.equal(out.event.phase, 'outcome');
      assert.equal(out.event.requestEventID, h.eventID);
      assert.equal(out.event.requestID, 'req-0');
      assert.equal(out.event.errorCode, 'InsufficientInstanceCapacity');
      const single = await trail.record(event(1, { errorCode: 'UnauthorizedOperation', userIdentity: { type: 'Unknown', accessKeyId: 'AKIANOPE' } }));
      assert.equal(single.event.phase, 'complete');
      assert.equal(single.event.eventVersion, '1.08');
      assert.deepEqual(verifyTrail(path, { requireHead: true }), { ok: true, records: 3, head: single.hash, warnings: [] });
    } finally {
      await trail.close();
    }
  });

  it('group-commits concurrent records in call order, each durable when it resolves', async () => {
    const path = join(dir, 'b.log');
    const trail = new AuditTrail(path);
    try {
      const recs = await Promise.all(Array.from({ length: 300 }, (_, i) => trail.record(event(i))));
      assert.deepEqual(recs.map((r) => r.seq), Array.from({ length: 300 }, (_, i) => i + 1));
      assert.deepEqual(recs.map((r) => r.event.requestID), Array.from({ length: 300 }, (_, i) => `req-${i}`));
      const res = verifyTrail(path, { requireHead: true });
      assert.equal(res.ok, true);
      assert.equal(res.records, 300);
      assert.equal(readHead(path)?.seq, 300);
    } finally {
      await trail.close();
    }
  });

  it('continues the chain after a reopen and refuses to open a tampered log', async () => {
    const path = join(dir, 'c.log');
    let t = new AuditTrail(path);
    await t.record(event(1));
    await t.close();
    t = new AuditTrail(path);
    const r = await t.record(event(2));
    assert.equal(r.seq, 2);
    await t.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, `${lines[0]}\n`);
    assert.throws(() => new AuditTrail(path), /fails verification at line 2/);
  });

  it('repairs a torn, unacknowledged last line on open and says so in the chain', async () => {
    const path = join(dir, 'd.log');
    const t = new AuditTrail(path);
    await t.record(event(1));
    await t.close();
    appendFileSync(path, '{"seq":2,"prev":"ab'); // a crash in the middle of writing record 2
    const t2 = new AuditTrail(path);
    try {
      await t2.flush();
      const recs = readChain<StoredAuditEvent>(path);
      assert.equal(recs.length, 2);
      assert.equal(recs[1]?.event.eventName, 'AuditTrailRepaired');
      assert.equal(verifyTrail(path, { requireHead: true }).ok, true);
    } finally {
      await t2.close();
    }
  });

  it('recreates a lost head file on open and says so in the chain', async () => {
    const path = join(dir, 'f.log');
    let t = new AuditTrail(path);
    await t.record(event(1));
    await t.close();
    unlinkSync(`${path}.head`);
    assert.equal(verifyTrail(path, { requireHead: true }).ok, false);
    t = new AuditTrail(path);
    await t.flush();
    await t.close();
    const recs = readChain<StoredAuditEvent>(path);
    assert.equal(recs[1]?.event.eventName, 'AuditTrailRepaired');
    assert.deepEqual(recs[1]?.event.requestParameters, { repair: 'head-recreated' });
    assert.equal(verifyTrail(path, { requireHead: true }).ok, true);
  });

  it('verifies a log that is being written: an unacknowledged partial line is not tampering', async () => {
    const path = join(dir, 'g.log');
    const t = new AuditTrail(path);
    await t.record(event(1));
    await t.record(event(2));
    await t.close();
    appendFileSync(path, '{"seq":3,"prev":"');
    const res = verifyTrail(path, { requireHead: true });
    assert.equal(res.ok, true);
    assert.equal(res.records, 2);
    assert.match(res.ok ? (res.warnings[0] ?? '') : '', /line 3 is an unfinished write/);
    // Verification racing a live writer never reports a false truncation.
    const live = new AuditTrail(join(dir, 'h.log'));
    try {
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) await live.record(event(i));
      })();
      for (let i = 0; i < 50; i++) {
        const r = verifyTrail(join(dir, 'h.log'), { requireHead: true });
        assert.equal(r.ok, true, JSON.stringify(r));
        await new Promise((res2) => setImmediate(res2));
      }
      stop = true;
      await writer;
    } finally {
      await live.close();
    }
  });

  it('refuses records after close', async () => {
    const path = join(dir, 'e.log');
    const t = new AuditTrail(path);
    await t.record(event(1));
    await t.close();
    await assert.rejects(t.record(event(2)), /closed/);
  });
});

describe('nitride audit (CLI process)', () => {
  let home = '';
  let path = '';
  let pristine = '';
  let pristineHead = '';
  const N = 8;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-audit-cli-'));
    mkdirSync(join(home, 'region'), { recursive: true });
    path = join(home, 'region', 'audit.log');
    const t = new AuditTrail(path);
    for (let i = 1; i <= N; i++) await t.record(event(i));
    await t.close();
    pristine = readFileSync(path, 'utf8');
    pristineHead = readFileSync(`${path}.head`, 'utf8');
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const restore = (): void => {
    writeFileSync(path, pristine);
    writeFileSync(`${path}.head`, pristineHead);
  };
  const lines = (): string[] => pristine.split('\n').filter((l) => l !== '');
  const expectBad = (line: number, seq: number | undefined, reason: RegExp): void => {
    const r = runCli(['verify', '--home', home]);
    assert.equal(r.code, 1, `verify should fail: ${r.out}${r.err}`);
    assert.match(r.out, new RegExp(`first bad record at line ${line}${seq === undefined ? '' : ` \\(seq ${seq}\\)`}:`), r.out);
    assert.match(r.out, reason);
  };

  it('passes an intact log', () => {
    restore();
    const r = runCli(['verify', '--home', home]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, new RegExp(`OK, ${N} records`));
  });

  it('names an edited record', () => {
    restore();
    const ls = lines();
    ls[4] = (ls[4] ?? '').replace('"alice"', '"mallory"');
    writeFileSync(path, `${ls.join('\n')}\n`);
    expectBad(5, 5, /edited/);
  });

  it('names a removed record', () => {
    restore();
    const ls = lines();
    ls.splice(2, 1);
    writeFileSync(path, `${ls.join('\n')}\n`);
    expectBad(3, 4, /expected seq 3, found 4/);
  });

  it('names reordered records', () => {
    restore();
    const ls = lines();
    [ls[5], ls[6]] = [ls[6] ?? '', ls[5] ?? ''];
    writeFileSync(path, `${ls.join('\n')}\n`);
    expectBad(6, 7, /expected seq 6, found 7/);
  });

  it('names a record truncated mid-line', () => {
    restore();
    truncateSync(path, Buffer.byteLength(pristine) - 40);
    expectBad(N, undefined, /truncated mid-record/);
  });

  it('names the first of the records cut off the end', () => {
    restore();
    const ls = lines();
    writeFileSync(path, `${ls.slice(0, N - 2).join('\n')}\n`);
    expectBad(N - 1, N - 1, /record 7 is missing: the log ends at seq 6 but its head records seq 8/);
  });

  it('detects a log emptied entirely and a missing head file', () => {
    restore();
    writeFileSync(path, '');
    expectBad(1, 1, /record 1 is missing/);
    restore();
    unlinkSync(`${path}.head`);
    const r = runCli(['verify', '--home', home]);
    assert.equal(r.code, 1);
    assert.match(r.out, /head file .* is missing/);
  });

  it('detects a rewritten log whose head no longer matches', () => {
    restore();
    const ls = lines();
    // A whole forged chain of the same length: internally consistent, but not the head's.
    const forged = join(home, 'forged.log');
    rmSync(forged, { force: true });
    const c = new AuditChain(forged);
    for (let i = 0; i < ls.length; i++) c.append({ forged: i });
    c.close();
    writeFileSync(path, readFileSync(forged));
    expectBad(N, N, /does not match the head/);
  });

  it('verifies the host log with --host', () => {
    restore();
    mkdirSync(join(home, 'host'), { recursive: true });
    const hostLog = join(home, 'host', 'audit.log');
    const c = new AuditChain(hostLog);
    c.append({ type: 'command', id: 'c1', command: 'StartGuest' });
    c.append({ type: 'command.outcome', id: 'c1', ok: true });
    c.close();
    let r = runCli(['verify', '--home', home, '--host']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /OK, 2 records/);
    writeFileSync(hostLog, readFileSync(hostLog, 'utf8').replace('StartGuest', 'StopGuest'));
    r = runCli(['verify', '--home', home, '--host']);
    assert.equal(r.code, 1);
    assert.match(r.out, /line 1 \(seq 1\): the record was edited/);
  });

  it('tails the last N events', () => {
    restore();
    const r = runCli(['tail', '-n', '3', '--home', home]);
    assert.equal(r.code, 0, r.err);
    const out = r.out.trim().split('\n');
    assert.equal(out.length, 3);
    assert.match(out[0] ?? '', /#6 ec2:RunInstances alice@123456789012 127\.0\.0\.1 ok req-6$/);
    assert.match(out[2] ?? '', /#8 ec2:RunInstances alice@123456789012/);
    const json = runCli(['tail', '-n', '1', '--json', '--home', home]);
    assert.equal((JSON.parse(json.out) as { seq: number }).seq, N);
    assert.deepEqual(readLastRecords(path, 100).map((x) => x.seq), Array.from({ length: N }, (_, i) => i + 1));
  });

  it('follows new events with --follow', { timeout: 30_000 }, async () => {
    restore();
    const child = spawn(process.execPath, [cli, 'audit', 'tail', '-n', '1', '--follow', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      let onData = (): void => undefined;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        onData();
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const seen = (re: RegExp): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got: ${out} ${err}`)), 15_000);
          onData = (): void => {
            if (re.test(out)) {
              clearTimeout(timer);
              resolve();
            }
          };
          onData();
        });
      await seen(/#8 /);
      const t = new AuditTrail(path);
      await t.record(event(9, { eventName: 'TerminateInstances', errorCode: 'IncorrectInstanceState' }));
      await t.close();
      await seen(/#9 ec2:TerminateInstances .* error=IncorrectInstanceState/);
      assert.equal(out.match(/#8 /g)?.length, 1, 'no record shown twice');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
