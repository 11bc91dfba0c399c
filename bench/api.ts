// npm run bench -- api [--seconds S] [--connections N] [--instances K] [--flood F] [--flood-sources A] [--flood-clients C]
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
// warm-up. Then the flood phase (issue 12): signed DescribeInstances by id at C connections
// (default 4), first alone, then while F (default 500) unauthenticated keep-alive
// connections from A loopback source addresses (default 5: 127.0.1.1…, so that the
// per-source cap is not what stops them) send unsigned requests as fast as they are
// answered and reconnect when closed; the flood runs in its own process, and the
// measurement starts 2 s after its connections are open (the steady flood, not the first
// burst of connects; the figures without that wait are in docs/PERFORMANCE.md). It prints p50/p99
// of both (unflooded before and after the flood), the ratio of the flooded p99 to the mean
// unflooded one (goal ≤ 2×), and the region's RSS before,
// at its peak during and after the flood. The region runs with the per-principal throttle
// off (NITRIDE_API_KEY_RATE_PER_SEC=0, NITRIDE_API_ACCOUNT_RATE_PER_SEC=0): the benchmark
// measures the door, and one key sends thousands of calls a second.
// The last line is one JSON object {"bench":"api",…}.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
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
const FLOOD = arg('--flood', 500);
const FLOOD_SOURCES = arg('--flood-sources', 5);
const FLOOD_CLIENTS = arg('--flood-clients', 4);
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

/**
 * The flood: `connections` raw keep-alive connections from `sources` loopback addresses,
 * each sending an unsigned DescribeInstances as soon as the previous answer arrives, and
 * reconnecting at once when closed. Prints one JSON line of counts when `seconds` are over.
 */
async function serveFlood(port: number, connections: number, sources: number, seconds: number): Promise<void> {
  const body = 'Action=DescribeInstances&Version=2016-11-15';
  const request = Buffer.from(`POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const end = Date.now() + seconds * 1000;
  const stats = { connects: 0, closes: 0, errors: 0, answers: 0, statuses: {} as Record<string, number> };
  // "started" once every connection is open (or after 5 s): the parent measures from then on.
  let open = 0;
  let told = false;
  const tell = (): void => {
    if (told) return;
    told = true;
    process.stdout.write(`${JSON.stringify({ started: true })}\n`);
  };
  setTimeout(tell, 5000).unref();
  const one = (i: number): Promise<void> =>
    new Promise<void>((done) => {
      if (Date.now() >= end) return done();
      stats.connects++;
      const s = connect({ host: '127.0.0.1', port, localAddress: `127.0.1.${1 + (i % sources)}` });
      let buf = Buffer.alloc(0);
      s.on('connect', () => {
        if (++open === connections) tell();
        s.write(request);
      });
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        for (;;) {
          const h = buf.indexOf('\r\n\r\n');
          if (h < 0) return;
          const head = buf.subarray(0, h).toString('latin1');
          const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < h + 4 + len) return;
          const status = head.slice(9, 12);
          stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
          stats.answers++;
          buf = buf.subarray(h + 4 + len);
          if (Date.now() >= end) {
            s.destroy();
            return;
          }
          s.write(request);
        }
      });
      s.on('error', () => stats.errors++);
      s.on('close', () => {
        stats.closes++;
        done();
      });
    }).then(() => (Date.now() < end ? new Promise<void>((r) => setImmediate(r)).then(() => one(i)) : undefined));
  await Promise.all(Array.from({ length: connections }, (_, i) => one(i)));
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...stats, cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`);
}

/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat. */
function cpuMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
}

function rssMiB(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
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
  const env = args[0] === '--serve-region' ? { ...process.env, NITRIDE_API_KEY_RATE_PER_SEC: '0', NITRIDE_API_ACCOUNT_RATE_PER_SEC: '0' } : process.env;
  const child = spawn(process.execPath, [...flags, self, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
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

    // The flood phase: the same signed calls alone, then under F unauthenticated connections.
    const rssBefore = rssMiB(region.child.pid);
    const auditBytes = (): number => statSync(join(home, 'region', 'audit.log')).size;
    let cpu0 = cpuMs(region.child.pid);
    const calm = await phase(region.info.port, creds, byId, FLOOD_CLIENTS, SECONDS);
    const calmCpu = cpuMs(region.child.pid) - cpu0;
    say(fmt('DescribeInstances by id, no flood', calm, FLOOD_CLIENTS));
    const auditBefore = auditBytes();
    const floodChild = spawn(process.execPath, [self, '--flood', String(region.info.port), String(FLOOD), String(FLOOD_SOURCES), String(SECONDS + 8)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(floodChild);
    const floodLines: string[] = [];
    const started = new Promise<void>((resolve) =>
      createInterface({ input: floodChild.stdout! }).on('line', (l) => {
        floodLines.push(l);
        if (l.includes('"started"')) resolve();
      }),
    );
    await started;
    await new Promise((r) => setTimeout(r, 2000)); // the connection storm is over: measure the steady flood
    const floodDone = new Promise<void>((r) => floodChild.once('exit', () => r()));
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(region.child.pid))), 200);
    cpu0 = cpuMs(region.child.pid);
    const flooded = await phase(region.info.port, creds, byId, FLOOD_CLIENTS, SECONDS);
    const floodedCpu = cpuMs(region.child.pid) - cpu0;
    say(fmt(`DescribeInstances by id, ${FLOOD} flooding`, flooded, FLOOD_CLIENTS));
    await floodDone;
    clearInterval(sampler);
    const floodStats = JSON.parse(floodLines[floodLines.length - 1] ?? '{}') as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfter = rssMiB(region.child.pid);
    // Unflooded again: the machine is shared, so the flooded figure is set against the mean of
    // the unflooded ones before and after it.
    const calm2 = await phase(region.info.port, creds, byId, FLOOD_CLIENTS, SECONDS);
    say(fmt('DescribeInstances by id, no flood again', calm2, FLOOD_CLIENTS));
    const calmP99 = (calm.p99 + calm2.p99) / 2;
    const floodRatio = flooded.p99 / calmP99;
    // The region's CPU per signed call answered, alone and flooded (warm-ups included in both).
    const cpuPerCall = (ms: number, r: PhaseResult): number => ms / Math.max(1, r.requests);
    say(`flood: region CPU ${calmCpu.toFixed(0)} ms in the unflooded phase, ${floodedCpu.toFixed(0)} ms in the flooded one (${cpuPerCall(calmCpu, calm).toFixed(2)} and ${cpuPerCall(floodedCpu, flooded).toFixed(2)} ms per signed call); the flood client used ${String(JSON.parse(floodLines[floodLines.length - 1] ?? '{}').cpuMs)} ms of CPU`);
    // The signed calls are audited one by one; the flood's refusals are counters (written at the interval or on close).
    const auditGrowth = auditBytes() - auditBefore;
    say(`flood: ${JSON.stringify(floodStats)}`);
    say(`flood: p99 ${flooded.p99.toFixed(2)} ms vs ${calmP99.toFixed(2)} ms unflooded (mean of before and after) = ${floodRatio.toFixed(2)}× (goal ≤ 2×: ${floodRatio <= 2 ? 'met' : 'MISSED'}); p50 ${flooded.p50.toFixed(2)} vs ${calm.p50.toFixed(2)}/${calm2.p50.toFixed(2)} ms; region RSS ${rssBefore} MiB before, ${rssPeak} MiB peak, ${rssAfter} MiB after; audit log +${(auditGrowth / 1e6).toFixed(2)} MB during the flood (the signed calls, warm-up included, one record each; ${String(floodStats['answers'])} refusals as counters)`);

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
        flood: {
          connections: FLOOD,
          sources: FLOOD_SOURCES,
          clients: FLOOD_CLIENTS,
          calm: { rps: r2(calm.rps), p50Ms: r2(calm.p50), p99Ms: r2(calm.p99), errors: calm.errors },
          calmAfter: { rps: r2(calm2.rps), p50Ms: r2(calm2.p50), p99Ms: r2(calm2.p99), errors: calm2.errors },
          flooded: { rps: r2(flooded.rps), p50Ms: r2(flooded.p50), p99Ms: r2(flooded.p99), errors: flooded.errors },
          p99Ratio: r2(floodRatio),
          rssMiB: { before: rssBefore, peak: rssPeak, after: rssAfter },
          regionCpuMs: { calm: Math.round(calmCpu), flooded: Math.round(floodedCpu) },
          auditLogGrowthBytes: auditGrowth,
          floodClient: floodStats,
        },
        goals: { byId: goalById, listP99: goalList, floodP99: floodRatio <= 2 },
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
else if (mode === '--flood') await serveFlood(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
else await main();
