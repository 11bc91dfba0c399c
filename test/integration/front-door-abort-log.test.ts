// A client that aborts mid-body costs one debug line in the region's log and nothing at
// error level (it used to log an error-level "unhandled error" each time). The region runs
// in this process with NITRIDE_LOG=debug, its log lines counted as they are written.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Loggers read the level when their module loads: set it before the region's modules load.
process.env['NITRIDE_LOG'] = 'debug';
const fixtures = await import('../region-fixtures.js');
type Region = Awaited<ReturnType<typeof fixtures.openLocalRegion>>;

let home = '';
let region: Region | undefined;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-abort-log-'));
  region = await fixtures.openLocalRegion(home);
});

after(async () => {
  if (region) await region.close();
  await rm(home, { recursive: true, force: true });
});

interface LogLine {
  level: string;
  component: string;
  msg: string;
}

/** Runs `fn` while the JSON log lines written to stderr are collected (not passed through) into the array it gets. */
async function collectingLog(fn: (lines: LogLine[]) => Promise<void>): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    for (const l of String(chunk).split('\n')) if (l.startsWith('{')) lines.push(JSON.parse(l) as LogLine);
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn(lines);
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

const ABORT_MSG = 'client closed the connection before sending the whole request body';

test('an aborted request body is logged once at debug level, never as an error', async () => {
  const u = new URL(region!.endpoint);
  const ABORTS = 5;
  const lines = await collectingLog(async (seen) => {
    for (let i = 0; i < ABORTS; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(Number(u.port), u.hostname, () => {
          s.write(`POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\nAction=DescribeInstances&Version=2016-11-15&`);
          setImmediate(() => s.destroy());
        });
        s.on('close', () => resolve());
      });
    }
    // The server notices each abort asynchronously: wait until all are logged.
    await fixtures.waitFor('the aborts to be logged', () => (seen.filter((l) => l.msg === ABORT_MSG).length >= ABORTS ? true : undefined), 10_000, 20);
    // and a normal request afterwards, so any late line from the aborts has been written
    const r = await fetch(region!.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeInstances' });
    assert.equal(r.status, 403);
  });
  const aborts = lines.filter((l) => l.msg === ABORT_MSG);
  assert.equal(aborts.length, ABORTS, JSON.stringify(lines));
  assert.ok(aborts.every((l) => l.level === 'debug' && l.component === 'region.api'));
  assert.deepEqual(lines.filter((l) => l.level === 'error'), []);
});
