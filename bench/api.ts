// npm run bench -- api [--seconds S] [--connections N] [--instances K]
//
// The region's EC2 front door under load, against a bare Node http.createServer that
// answers a fixed body, in the same run on the same machine.
//
//   - The region runs in its own process (Region.open, no local host) over a state store
//     seeded with K instances (default 1,000) written straight into the store.
//   - The bare server runs in its own process too: http.createServer, keep-alive, a fixed
//     EC2-shaped body of the same size as a by-id answer.
//   - The load generator is this process: N keep-alive connections, each request built and
//     signed with signRequest (SigV4) as it is sent — the same requests go to both
//     servers, so the client's cost is the same and the ratio measures the servers.
//
// Phases: bare (by-id body), DescribeInstances by id (a random seeded id per request),
// and the full listing (MaxResults=1000) at 1 and at 4 connections. Each phase has a
// warm-up. The last line is one JSON object {"bench":"api",…}.
import { spawn, type ChildProcess } from 'node:child_process';
import { REGION_NODE_FLAGS } from '../src/region/node-flags.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { signRequest } from '../src/iam/sigv4/index.js';
import { instanceRecord, openLocalRegion, seedStore } from '../test/region-fixtures.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const SECONDS = arg('--seconds', 5);
const CONNECTIONS = arg('--connections', 16);
const INSTANCES = arg('--instances', 1000);
const say = (s: string): void => void process.stderr.write(`[bench api] ${s}\n`);
const self = fileURLToPath(import.meta.url);

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

// ---- child modes -----------------------------------------------------------------------

async function serveRegion(home: string): Promise<void> {
  const region = await openLocalRegion(home);
  process.stdout.write(`${JSON.stringify({ port: region.port, accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey })}\n`);
  process.once('SIGTERM', () => void region.close().then(() => process.exit(0)));
}

function serveBare(bodyBytes: number): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">${'x'.repeat(Math.max(0, bodyBytes - 140))}</DescribeInstancesResponse>`;
  const server = createServer({ keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

// ---- load generator --------------------------------------------------------------------

interface Server {
  child: ChildProcess;
  info: { port: number; accessKeyId?: string; secretAccessKey?: string };
}

function spawnServer(args: string[]): Promise<Server> {
  // NITRIDE_BENCH_CPU_PROF=<dir>: write a V8 CPU profile of the region process there.
  const prof = process.env['NITRIDE_BENCH_CPU_PROF'];
  const flags = args[0] === '--serve-region' ? [...REGION_NODE_FLAGS, ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [])] : [];
  const child = spawn(process.execPath, [...flags, self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve({ child, info: JSON.parse(l) as Server['info'] }));
    child.once('exit', (c) => reject(new Error(`server child exited with ${c}`)));
  });
}

interface PhaseResult {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  bytes: number;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function phase(port: number, creds: Creds, form: () => string, connections: number, seconds: number): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const host = `127.0.0.1:${port}`;
  const one = (): Promise<{ ms: number; ok: boolean; bytes: number }> =>
    new Promise((resolve) => {
      const body = form();
      const t0 = process.hrtime.bigint();
      const s = signRequest(
        { method: 'POST', path: '/', query: '', headers: { host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body },
        creds,
        { region: 'local-1', service: 'ec2' },
      );
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { ...s.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: res.statusCode === 200, bytes: n }));
      });
      req.on('error', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: false, bytes: 0 }));
      req.end(body);
    });
  const run = async (ms: number, record: boolean): Promise<{ lat: number[]; errors: number; bytes: number; elapsed: number }> => {
    const lat: number[] = [];
    let errors = 0;
    let bytes = 0;
    const start = Date.now();
    const end = start + ms;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (Date.now() < end) {
          const r = await one();
          if (!record) continue;
          if (r.ok) lat.push(r.ms);
          else errors++;
          bytes += r.bytes;
        }
      }),
    );
    return { lat, errors, bytes, elapsed: (Date.now() - start) / 1000 };
  };
  await run(Math.min(1000, seconds * 300), false); // warm-up: JIT, connections, caches
  const r = await run(seconds * 1000, true);
  agent.destroy();
  const sorted = r.lat.sort((a, b) => a - b);
  return {
    requests: sorted.length,
    errors: r.errors,
    rps: sorted.length / r.elapsed,
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    bytes: sorted.length > 0 ? Math.round(r.bytes / sorted.length) : 0,
  };
}

const fmt = (name: string, r: PhaseResult, c: number): string =>
  `${name.padEnd(34)} c=${String(c).padEnd(3)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  max ${r.max.toFixed(1).padStart(6)} ms  ${r.requests} ok, ${r.errors} errors, ${r.bytes} B/answer`;

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'nitride-bench-api-'));
  const children: ChildProcess[] = [];
  try {
    say(`seeding ${INSTANCES} instances into ${home}/region/state.db`);
    const first = await openLocalRegion(home);
    const accountId = first.credentials.accountId;
    await first.close();
    const states = ['running', 'stopped', 'running', 'running'] as const;
    const recs = Array.from({ length: INSTANCES }, (_, i) =>
      instanceRecord(accountId, undefined, { state: states[i % states.length]!, desired: states[i % states.length] === 'running' ? 'running' : 'stopped', tags: { Name: `bench-${i}`, tier: i % 2 ? 'web' : 'db' }, instanceType: i % 3 ? 't3.nano' : 't3.micro' }),
    );
    await seedStore(home, { instances: recs });
    const ids = recs.map((r) => r.id);

    const region = await spawnServer(['--serve-region', home]);
    children.push(region.child);
    const creds: Creds = { accessKeyId: region.info.accessKeyId!, secretAccessKey: region.info.secretAccessKey! };
    const byId = (): string => `Action=DescribeInstances&Version=2016-11-15&InstanceId.1=${ids[Math.floor(Math.random() * ids.length)]!}`;
    const listing = (): string => 'Action=DescribeInstances&Version=2016-11-15&MaxResults=1000';

    // The size of a by-id answer, so the bare server sends as many bytes.
    const probe = await phase(region.info.port, creds, byId, 1, 0.2);
    const bare = await spawnServer(['--serve-bare', String(probe.bytes)]);
    children.push(bare.child);

    say(`${CONNECTIONS} connections, ${SECONDS} s per phase (after a warm-up)`);
    const bareR = await phase(bare.info.port, creds, byId, CONNECTIONS, SECONDS);
    say(fmt('bare http.createServer (fixed body)', bareR, CONNECTIONS));
    const idR = await phase(region.info.port, creds, byId, CONNECTIONS, SECONDS);
    say(fmt('DescribeInstances by id', idR, CONNECTIONS));
    const list1 = await phase(region.info.port, creds, listing, 1, SECONDS);
    say(fmt('DescribeInstances MaxResults=1000', list1, 1));
    const list4 = await phase(region.info.port, creds, listing, 4, SECONDS);
    say(fmt('DescribeInstances MaxResults=1000', list4, 4));
    const ratio = idR.rps / bareR.rps;
    const goalById = idR.rps >= 2000 || ratio >= 0.25;
    const goalList = list1.p99 < 100;
    say(`by id: ${idR.rps.toFixed(0)} req/s = ${ratio.toFixed(3)} × bare (goal ≥ 2000 req/s or ≥ 0.25×: ${goalById ? 'met' : 'MISSED'}); full listing p99 ${list1.p99.toFixed(1)} ms at c=1, ${list4.p99.toFixed(1)} ms at c=4 (goal < 100 ms: ${goalList ? 'met' : 'MISSED'})`);
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'api',
        instances: INSTANCES,
        connections: CONNECTIONS,
        seconds: SECONDS,
        bare: { rps: r2(bareR.rps), p50Ms: r2(bareR.p50), p99Ms: r2(bareR.p99) },
        byId: { rps: r2(idR.rps), p50Ms: r2(idR.p50), p99Ms: r2(idR.p99), errors: idR.errors },
        ratio: Math.round(ratio * 1000) / 1000,
        list: { connections: 1, rps: r2(list1.rps), p50Ms: r2(list1.p50), p99Ms: r2(list1.p99), bytes: list1.bytes, errors: list1.errors },
        list4: { connections: 4, rps: r2(list4.rps), p50Ms: r2(list4.p50), p99Ms: r2(list4.p99), errors: list4.errors },
        goals: { byId: goalById, listP99: goalList },
      })}\n`,
    );
  } finally {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          r();
        }, 10_000);
        c.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(home, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === '--serve-region') await serveRegion(process.argv[3]!);
else if (mode === '--serve-bare') serveBare(Number(process.argv[3]));
else await main();
