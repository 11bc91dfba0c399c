// Benchmark of the sealed audit logs (issue 12 item 2): `npm run bench -- audit [--records N]`.
// In one run, on the same disk (a temporary directory):
//   region: AuditTrail (group commit), N records in waves of 100 concurrent callers, with the
//           default policy (a checkpoint every 1000 records or 10 s) alternated twice with
//           checkpoints at open and close only, and with a checkpoint
//           after every batch (what sealing every record would cost); the peer is the same
//           lines appended and fsynced per wave with node:fs, no chain, no seal; and the
//           trail with no interval checkpoints, to separate the chain's cost from the seals'.
//   host:   AuditChain (one fsync per record), N/10 records one after another, default
//           policy; the peer appends and fsyncs each line alone.
//   seal:   the cost of one checkpoint (HMAC, append + fsync, key evolved and renamed + fsync).
// Records per second for each, and Nitride ÷ peer. The last line is JSON.
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditChain } from '../src/audit/chain.js';
import { readCheckpoints, Sealer } from '../src/audit/seal.js';
import { AuditTrail, type AuditEvent } from '../src/audit/trail.js';

function parseArgs(argv: readonly string[]): { records: number } {
  let records = 20_000;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--records' && argv[i + 1] !== undefined) records = Number(argv[++i]);
    else throw new Error(`unknown argument ${String(argv[i])}; usage: audit [--records N]`);
  }
  if (!Number.isInteger(records) || records < 1000 || records > 1_000_000) throw new Error('--records must be 1000..1000000');
  return { records };
}

const event = (i: number): AuditEvent => ({
  eventSource: 'ec2.amazonaws.com',
  eventName: 'DescribeInstances',
  awsRegion: 'local-1',
  sourceIPAddress: '127.0.0.1',
  userAgent: 'aws-cli/2.9',
  userIdentity: { type: 'IAMUser', accountId: '123456789012', userName: 'alice', accessKeyId: 'AKIAEXAMPLE' },
  requestParameters: { n: i },
  requestID: `req-${i}`,
  readOnly: true,
});

async function trail(dir: string, name: string, n: number, checkpointRecords: number, checkpointSeconds = 10): Promise<{ perSec: number; checkpoints: number }> {
  const path = join(dir, name);
  const t = new AuditTrail(path, { checkpointRecords, checkpointSeconds });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => t.record(event(i + k))));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await t.close();
  return { perSec: n / secs, checkpoints: readCheckpoints(path).checkpoints.length };
}

function peerWaves(dir: string, n: number): number {
  const fd = openSync(join(dir, 'peer-waves.log'), 'a', 0o600);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 100) {
    const lines = Array.from({ length: Math.min(100, n - i) }, (_, k) => `${JSON.stringify({ seq: i + k + 1, event: event(i + k) })}\n`).join('');
    writeSync(fd, lines);
    fsyncSync(fd);
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  return n / secs;
}

function chain(dir: string, n: number): number {
  const c = new AuditChain(join(dir, 'host.log'));
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) c.append({ type: 'command.accepted', id: `c${i}`, command: 'instance.describe' });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  c.close();
  return n / secs;
}

function peerOneByOne(dir: string, n: number): number {
  const fd = openSync(join(dir, 'peer-one.log'), 'a', 0o600);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    writeSync(fd, `${JSON.stringify({ seq: i + 1, event: { type: 'command.accepted', id: `c${i}`, command: 'instance.describe' } })}\n`);
    fsyncSync(fd);
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  return n / secs;
}

function sealCost(dir: string, n: number): number {
  const s = Sealer.open(join(dir, 'seal.log'));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    s.seal({ kind: 'interval', segment: 1, seq: i, hash: '0'.repeat(64), time: new Date().toISOString() });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  s.close();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const { records } = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'nitride-bench-audit-'));
  try {
    const peer = peerWaves(dir, records);
    // alternated, so that the drift of a shared machine between runs shows beside the seals' cost
    const none1 = await trail(dir, 'region-none-1.log', records, 1e9, 0);
    const sealed1 = await trail(dir, 'region-default-1.log', records, 1000);
    const none2 = await trail(dir, 'region-none-2.log', records, 1e9, 0);
    const sealed2 = await trail(dir, 'region-default-2.log', records, 1000);
    const every = await trail(dir, 'region-every.log', records, 1);
    const none = { perSec: (none1.perSec + none2.perSec) / 2 };
    const sealed = { perSec: (sealed1.perSec + sealed2.perSec) / 2, checkpoints: sealed1.checkpoints };
    const hostN = Math.max(1000, Math.floor(records / 10));
    const peer1 = peerOneByOne(dir, hostN);
    const host = chain(dir, hostN);
    const sealMs = sealCost(dir, 200);
    const f = (x: number): string => x.toFixed(0);
    process.stdout.write(`region trail, ${records} records in waves of 100: ${f(sealed.perSec)} records/s (mean of 2) with a checkpoint every 1000 (${sealed.checkpoints} checkpoints); peer (append + fsync per wave, no chain) ${f(peer)} records/s; ratio ${(sealed.perSec / peer).toFixed(2)}\n`);
    process.stdout.write(`region trail with a checkpoint after every batch: ${f(every.perSec)} records/s (${every.checkpoints} checkpoints); ratio to the peer ${(every.perSec / peer).toFixed(2)}\n`);
    process.stdout.write(`region trail with checkpoints at open and close only (the chain and head alone): ${f(none.perSec)} records/s; ratio to the peer ${(none.perSec / peer).toFixed(2)}\n`);
    process.stdout.write(`  in run order: none ${f(none1.perSec)}, every 1000 ${f(sealed1.perSec)}, none ${f(none2.perSec)}, every 1000 ${f(sealed2.perSec)} records/s; every-1000 ÷ none ${(sealed.perSec / none.perSec).toFixed(2)}\n`);
    process.stdout.write(`host log, ${hostN} records one at a time: ${f(host)} records/s; peer (append + fsync per line) ${f(peer1)} records/s; ratio ${(host / peer1).toFixed(2)}\n`);
    process.stdout.write(`one checkpoint (median of 200): ${sealMs.toFixed(2)} ms\n`);
    process.stdout.write(`${JSON.stringify({ records, regionPerSec: sealed.perSec, regionEveryBatchPerSec: every.perSec, regionNoIntervalPerSec: none.perSec, peerWavesPerSec: peer, hostPerSec: host, peerOnePerSec: peer1, checkpointMs: sealMs })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
