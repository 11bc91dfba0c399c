// Benchmark of the EBS card's NBD server (issue 4): Nitride (AES-256-XTS) against qemu-nbd
// serving a raw file and qemu-nbd serving a LUKS2 image through QEMU's luks driver
// (aes-256-xts-plain64). One 1 GiB volume per server, all in this run, driven by fio's nbd
// engine (libnbd): sequential 1 MiB write then read of the whole GiB at QD 16, then 4 KiB
// random read and write at QD 16 for a fixed time (after a 1 s ramp). Prints a table and the ratios; the last
// line is one JSON object {"bench":"nbd",…}.
//   node dist/bench/nbd.js [--runtime S] [--rounds N] [--targets nitride,raw,luks] [--phases write,read,randread,randwrite]
// Extra targets for before/after comparisons in the same run (each its own 1 GiB file):
//   nitride-t16  Nitride with 16 libuv I/O threads instead of Node's 4 (UV_THREADPOOL_SIZE=16; it
//                must be in the environment at start: Node's ESM loader starts the pool before any module runs)
//   nitride-t16-j8  the same, with a turn's small writes split over 8 pwriteBatch jobs (NITRIDE_EBS_BATCH_JOBS)
//   nitride-j1  a turn's small writes as one pwriteBatch job
// (a run without the write phase measures unwritten, sparse files: use --phases only for development)
// Figures are medians of N interleaved rounds (the machine is shared; single runs are noisy).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distEntry } from '../src/lib/paths.js';
import { loadNativeXts } from '../src/ebs/xts/native.js';

const GiB = 1024 ** 3;

interface Figures {
  seqWriteMBps: number;
  seqReadMBps: number;
  randReadIops: number;
  randWriteIops: number;
}

function need(tool: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench nbd: '${tool}' is not installed (run nitride setup)`);
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

async function waitForSocket(path: string, proc: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(path)) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what} did not create ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function fio(sock: string, rw: string, bs: string, runtime: number | null): { bw: number; iops: number } {
  const args = [
    '--name=nbd',
    '--ioengine=nbd',
    `--uri=nbd+unix:///?socket=${sock}`,
    `--rw=${rw}`,
    `--bs=${bs}`,
    '--iodepth=16',
    `--size=${GiB}`,
    '--output-format=json',
  ];
  if (runtime !== null) args.push('--time_based', `--runtime=${runtime}`, '--randrepeat=0', '--ramp_time=1');
  const out = sh('fio', args);
  const j = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Array<{ read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }> };
  const job = j.jobs[0];
  if (!job) throw new Error('fio printed no job');
  const side = rw.includes('read') ? job.read : job.write;
  return { bw: side.bw_bytes / 1e6, iops: side.iops };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Target {
  readonly name: string;
  readonly sock: string;
  readonly proc: ChildProcess;
}

/**
 * The machine is shared, so figures are taken in interleaved rounds (every target once per
 * round, the order rotating) and the median of the rounds is reported.
 */
function measureAll(targets: Target[], rounds: number, runtime: number, only: string[] | null, samplesOut: Record<string, Record<string, number[]>>): Record<string, Figures> {
  const samples = new Map<string, Record<keyof Figures, number[]>>();
  for (const t of targets) samples.set(t.name, { seqWriteMBps: [], seqReadMBps: [], randReadIops: [], randWriteIops: [] });
  const phases: Array<[keyof Figures, string, string, number | null]> = [
    ['seqWriteMBps', 'write', '1M', null],
    ['seqReadMBps', 'read', '1M', null],
    ['randReadIops', 'randread', '4k', runtime],
    ['randWriteIops', 'randwrite', '4k', runtime],
  ];
  for (const [k, rw, bs, rt] of phases) {
    if (only && !only.includes(rw)) continue;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length] as Target;
        if (t.proc.exitCode !== null) throw new Error(`${t.name} server exited`);
        const f = fio(t.sock, rw, bs, rt);
        samples.get(t.name)?.[k].push(k.endsWith('Iops') ? f.iops : f.bw);
      }
    }
  }
  const out: Record<string, Figures> = {};
  for (const [name, s] of samples) {
    samplesOut[name] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.map((x) => Math.round(x))]));
    out[name] = { seqWriteMBps: median(s.seqWriteMBps), seqReadMBps: median(s.seqReadMBps), randReadIops: median(s.randReadIops), randWriteIops: median(s.randWriteIops) };
  }
  return out;
}

function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}

async function main(argv: string[]): Promise<number> {
  let runtime = 3;
  let rounds = 3;
  let targets = ['nitride', 'raw', 'luks'];
  let only: string[] | null = null;
  const samples: Record<string, Record<string, number[]>> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runtime') runtime = Number(argv[++i]);
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--phases') only = (argv[++i] ?? '').split(',');
    else if (argv[i] === '--targets') targets = (argv[++i] ?? '').split(',');
  }
  for (const t of ['fio', 'qemu-nbd', 'qemu-img']) need(t);
  if (!sh('fio', ['--enghelp']).includes('nbd')) throw new Error("bench nbd: this fio has no 'nbd' engine");
  const xts = loadNativeXts() ? 'native' : 'node';
  const dir = await mkdtemp(join(tmpdir(), 'nitride-bench-nbd-'));
  let results: Record<string, Figures> = {};
  const procs: ChildProcess[] = [];
  try {
    const say = (m: string): void => void process.stderr.write(`[bench nbd] ${m}\n`);
    const started: Target[] = [];
    const launch = async (name: string, cmd: string, args: string[], sock: string, env: NodeJS.ProcessEnv = process.env): Promise<void> => {
      const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
      procs.push(p);
      await waitForSocket(sock, p, name);
      started.push({ name, sock, proc: p });
    };
    const variants: Record<string, NodeJS.ProcessEnv> = {
      nitride: {},
      'nitride-t16': { UV_THREADPOOL_SIZE: '16' },
      'nitride-t16-j8': { UV_THREADPOOL_SIZE: '16', NITRIDE_EBS_BATCH_JOBS: '8' },
      'nitride-j1': { NITRIDE_EBS_BATCH_JOBS: '1' },
    };
    for (const [name, extra] of Object.entries(variants)) {
      if (!targets.includes(name)) continue;
      const keyFile = join(dir, `${name}.key`);
      await writeFile(keyFile, randomBytes(64), { mode: 0o600 });
      const sock = join(dir, `${name}.sock`);
      const env = { ...process.env, ...extra };
      await launch(name, process.execPath, [distEntry('cli/main.js'), 'nbd', 'serve', '--file', join(dir, `${name}.img`), '--key-file', keyFile, '--size', String(GiB), '--socket', sock], sock, env);
    }
    if (targets.includes('raw')) {
      const img = join(dir, 'raw.img');
      sh('qemu-img', ['create', '-q', '-f', 'raw', img, String(GiB)]);
      const sock = join(dir, 'raw.sock');
      await launch('raw', 'qemu-nbd', ['-f', 'raw', '-t', '-e', '16', '-k', sock, img], sock);
    }
    if (targets.includes('luks')) {
      const img = join(dir, 'luks.img');
      const secret = 'secret,id=sec0,data=nitride-bench';
      // QEMU times its PBKDF to choose an iteration count; on a loaded machine a short
      // iter-time can fail with "Unable to get accurate CPU usage", so retry with longer ones.
      for (const iterTime of [20, 100, 500]) {
        try {
          sh('qemu-img', [
            'create', '-q', '-f', 'luks', '--object', secret,
            '-o', `key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64,hash-alg=sha256,iter-time=${iterTime}`,
            img, String(GiB),
          ]);
          break;
        } catch (e) {
          if (iterTime === 500) throw e;
        }
      }
      const sock = join(dir, 'luks.sock');
      await launch('luks', 'qemu-nbd', ['-t', '-e', '16', '-k', sock, '--object', secret, '--image-opts', `driver=luks,key-secret=sec0,file.driver=file,file.filename=${img}`], sock);
    }
    say(`targets ${started.map((t) => t.name).join(', ')}; ${rounds} interleaved rounds; Nitride XTS: ${xts}`);
    results = measureAll(started, rounds, runtime, only, samples);
  } finally {
    for (const p of procs) await stop(p);
    await rm(dir, { recursive: true, force: true });
  }

  const rows: Array<[string, keyof Figures, string]> = [
    ['sequential write 1 MiB QD16', 'seqWriteMBps', 'MB/s'],
    ['sequential read 1 MiB QD16', 'seqReadMBps', 'MB/s'],
    ['random read 4 KiB QD16', 'randReadIops', 'IOPS'],
    ['random write 4 KiB QD16', 'randWriteIops', 'IOPS'],
  ];
  const n = results['nitride'];
  const raw = results['raw'];
  const luks = results['luks'];
  const ratios: Record<string, { vsRaw?: number; vsLuks?: number }> = {};
  const extra = Object.keys(results).filter((k) => k.startsWith('nitride-'));
  for (const name of extra) {
    const x = results[name] as Figures;
    const measured = rows.filter(([, k]) => Number.isFinite(x[k]));
    process.stdout.write(`${name}: ${measured.map(([label, k]) => `${label} ${x[k].toFixed(0)}${luks ? ` (${ratio(x[k], luks[k])}x luks)` : ''}${n ? ` (${ratio(x[k], n[k])}x nitride)` : ''}`).join('; ')}\n`);
  }
  process.stdout.write(`${'figure'.padEnd(30)} ${'nitride'.padStart(10)} ${'qemu raw'.padStart(10)} ${'qemu luks'.padStart(10)}  vs raw  vs luks\n`);
  for (const [label, k, unit] of rows) {
    const f = (x: Figures | undefined): string => (x ? x[k].toFixed(0) : '-').padStart(10);
    const r: { vsRaw?: number; vsLuks?: number } = {};
    if (n && raw) r.vsRaw = ratio(n[k], raw[k]);
    if (n && luks) r.vsLuks = ratio(n[k], luks[k]);
    ratios[k] = r;
    process.stdout.write(`${`${label} (${unit})`.padEnd(30)} ${f(n)} ${f(raw)} ${f(luks)}  ${String(r.vsRaw ?? '-').padStart(6)}  ${String(r.vsLuks ?? '-').padStart(7)}\n`);
  }
  const goals = {
    atLeastLuksOnEveryFigure: n && luks ? rows.every(([, k]) => n[k] >= luks[k]) : null,
    sequentialAtLeast80PercentOfRaw: n && raw ? n.seqWriteMBps >= 0.8 * raw.seqWriteMBps && n.seqReadMBps >= 0.8 * raw.seqReadMBps : null,
  };
  process.stdout.write(`${JSON.stringify({ bench: 'nbd', xts, rounds, runtimeSeconds: runtime, sizeBytes: GiB, queueDepth: 16, client: 'fio nbd engine (libnbd)', results, ratios, goals, samples })}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (c) => {
    process.exitCode = c;
  },
  (e: unknown) => {
    process.stderr.write(`bench nbd: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
