// npm run bench -- boot [--runs N] [--parts minimal,debian,volumes] [--debian-runs N] [--volume-runs N]
//
// minimal: time from the controller receiving a start command to the guest's ready marker,
// against launching the very same qemu-system-x86_64 command line directly (same kernel,
// initrd, accelerator, user and flags) in the same run, alternating, N runs each (≥ 10).
// Nitride's figure is readyAt (stamped by the hypervisor when the marker reaches the
// console log) minus the moment the client sent the signed command; the direct figure is
// the marker's arrival in the console log minus the spawn. Both poll nothing that the
// other does not: the direct run watches the same console log file.
//
// Also: the resident memory of Nitride's own processes (controller + hypervisor) with 0,
// 1 and 3 guests running, and the per-guest increment. QEMU's memory is not counted.
//
// debian / volumes (bench/lib-boot-debian.ts): the registered debian-12 image from its
// encrypted EBS root volume against plain QEMU booting the same raw disk from a local file,
// to the kernel, sshd/multi-user and cloud-init finished; and root volume creation (2 and
// 20 GiB) against qemu-img convert (and, encrypted, qemu-img to LUKS). Debian boots take
// minutes under TCG: --debian-runs (or NITRIDE_BENCH_DEBIAN_RUNS) defaults to 1 pair, run
// one guest at a time.
import { spawn } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceInfo } from '../src/hypervisor/protocol/messages.js';
import { MARKERS } from '../src/image/markers.js';
import { enrollAndConnect, makeRegion, startController, type ControllerProcess } from '../src/controller/testing/fixtures.js';
import { guestSpec, newInstanceId, qemuPids } from '../src/controller/testing/vm.js';
import type { ControllerClient } from '../src/controller/client.js';
import { hostPaths } from '../src/controller/host-state.js';
import { debianBench, PHASES, type BootRun, type DebianFigures } from './lib-boot-debian.js';

const flag = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const runs = Number(flag('--runs') ?? '') || 10;
const debianRuns = Number(flag('--debian-runs') ?? process.env['NITRIDE_BENCH_DEBIAN_RUNS'] ?? '') || 1;
const volumeRuns = Number(flag('--volume-runs') ?? '') || 1;
const PARTS = ['minimal', 'debian', 'volumes'] as const;
const parts = new Set((flag('--parts') ?? PARTS.join(',')).split(',').filter((p) => p !== ''));
for (const p of parts) {
  if (!(PARTS as readonly string[]).includes(p)) {
    process.stderr.write(`unknown part ${p}; parts: ${PARTS.join(',')}\n`);
    process.exit(2);
  }
}
const say = (s: string): void => void process.stderr.write(`[bench boot] ${s}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function describe(client: ControllerClient, id: string): Promise<InstanceInfo> {
  return (await client.send('instance.describe', { instanceId: id })) as InstanceInfo;
}

async function nitrideBoot(client: ControllerClient, spec: Awaited<ReturnType<typeof guestSpec>>): Promise<{ ms: number; id: string; pid: number }> {
  const id = newInstanceId();
  const t0 = Date.now();
  await client.send('instance.start', { spec: { ...spec, instanceId: id } });
  const deadline = t0 + 120_000;
  for (;;) {
    const d = await describe(client, id);
    if (d.readyAt) return { ms: Date.parse(d.readyAt) - t0, id, pid: d.pid ?? 0 };
    if (Date.now() > deadline) throw new Error(`no ready marker from ${id} in 120 s`);
    await sleep(25);
  }
}

/** Runs the captured QEMU argv in a fresh directory laid out like an instance directory. */
async function directBoot(argv: readonly string[], template: { dir: string; uid: number; gid: number }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-bench-qemu-'));
  try {
    for (const f of ['kernel', 'initrd']) {
      try {
        linkSync(join(template.dir, f), join(dir, f));
      } catch {
        copyFileSync(join(template.dir, f), join(dir, f));
      }
    }
    chownSync(dir, template.uid, template.gid);
    const log = join(dir, 'console.log');
    let done!: (t: number) => void;
    const ready = new Promise<number>((r) => (done = r));
    const check = (): void => {
      if (existsSync(log) && readFileSync(log, 'utf8').includes(MARKERS.ready)) done(Date.now());
    };
    const w = watch(dir, () => check());
    const poll = setInterval(check, 5);
    const t0 = Date.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: 'ignore', detached: true, uid: template.uid, gid: template.gid });
    const timeout = setTimeout(() => done(-1), 120_000);
    const t1 = await ready;
    clearTimeout(timeout);
    clearInterval(poll);
    w.close();
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    if (t1 < 0) throw new Error('the direct QEMU printed no ready marker in 120 s');
    return t1 - t0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function minimalPart(): Promise<Record<string, unknown>> {
  const home = mkdtempSync(join(tmpdir(), 'nitride-bench-boot-'));
  let ctl: ControllerProcess | undefined;
  let client: ControllerClient | undefined;
  try {
    const region = await makeRegion();
    ctl = await startController(home);
    ({ client } = await enrollAndConnect(ctl, region));
    const spec = await guestSpec('t3.nano');
    const status = (await client.send('host.status', {})) as { accel?: string; components?: { pid?: number }[] };
    say(`accelerator ${status.accel ?? '?'}; ${runs} alternating runs each`);

    // Warm-up launch: captures the exact QEMU command line and the instance dir's owner.
    const warm = await nitrideBoot(client, spec);
    const argv = readFileSync(`/proc/${warm.pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
    const idir = join(hostPaths(home).hypervisorDir, 'instances', warm.id);
    const st = statSync(join(idir, 'kernel'));
    const template = { dir: idir, uid: statSync(idir).uid === 0 ? st.uid : statSync(idir).uid, gid: st.gid };
    // The direct run gets the same command line but with the name of its own.
    const directArgv = argv.map((a) => a.replace(warm.id, 'i-0000000000bench00'));
    const nitride: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first, so drift on a shared machine hits both alike.
      const order = i % 2 === 0 ? ['nitride', 'qemu'] : ['qemu', 'nitride'];
      for (const which of order) {
        if (which === 'nitride') {
          const r = await nitrideBoot(client, spec);
          nitride.push(r.ms);
          await client.send('instance.terminate', { instanceId: r.id });
        } else {
          direct.push(await directBoot(directArgv, template));
        }
      }
      say(`run ${i + 1}: nitride ${nitride[nitride.length - 1]} ms, qemu ${direct[direct.length - 1]} ms`);
    }
    await client.send('instance.terminate', { instanceId: warm.id });

    // Memory of Nitride's own processes per running guest.
    const ownRss = async (): Promise<number> => {
      const s = (await client!.send('host.status', {})) as { components?: { pid?: number }[] };
      const hv = s.components?.[0]?.pid;
      return rssOf(ctl!.proc.pid!) + (hv ? rssOf(hv) : 0);
    };
    await sleep(500);
    const rss0 = await ownRss();
    const ids: string[] = [];
    const r1 = await nitrideBoot(client, spec);
    ids.push(r1.id);
    await sleep(500);
    const rss1 = await ownRss();
    for (let i = 0; i < 2; i++) ids.push((await nitrideBoot(client, spec)).id);
    await sleep(500);
    const rss3 = await ownRss();
    for (const id of ids) await client.send('instance.terminate', { instanceId: id });

    const n = median(nitride);
    const q = median(direct);
    const ratio = n / q;
    const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;
    process.stdout.write(`nitride (controller start → ready marker): median ${n} ms  [${nitride.join(', ')}]\n`);
    process.stdout.write(`qemu direct (spawn → ready marker):        median ${q} ms  [${direct.join(', ')}]\n`);
    process.stdout.write(`ratio ${ratio.toFixed(3)} (goal ≤ 1.10)\n`);
    process.stdout.write(
      `Nitride's own processes (controller + hypervisor) RSS: ${mib(rss0)} MiB with 0 guests, ${mib(rss1)} MiB with 1, ${mib(rss3)} MiB with 3; per guest ≈ ${mib((rss3 - rss1) / 2)} MiB\n`,
    );
    return {
      accel: status.accel ?? null,
      runs,
      nitride_ms: n,
      qemu_ms: q,
      ratio: Math.round(ratio * 1000) / 1000,
      own_rss_mib: { guests0: mib(rss0), guests1: mib(rss1), guests3: mib(rss3), per_guest: mib((rss3 - rss1) / 2) },
    };
  } finally {
    client?.close();
    await ctl?.stop();
    for (const pid of qemuPids(home)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  }
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const secs = (ms: number | null): string => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);
const medianOf = (rs: readonly BootRun[], pick: (r: BootRun) => number | null): number | null => {
  const xs = rs.map(pick).filter((x): x is number => x !== null);
  return xs.length === 0 ? null : median(xs);
};

/** Per-phase medians of both sides and their ratios, printed as a table; the JSON part. */
function reportDebian(d: DebianFigures): Record<string, unknown> {
  const out: Record<string, unknown> = { image: d.image, import_ms: d.importMs };
  const w = (s: string): void => void process.stdout.write(`${s}\n`);
  if (d.nitride.length > 0) {
    w(`debian-12 ${d.image.version} (${(d.image.allocatedBytes / 1048576).toFixed(0)} MiB allocated of ${d.image.virtualBytes / 1073741824} GiB), t3.small (2 vCPUs, 2 GiB), SeaBIOS, NVMe root; Nitride root volume encrypted: ${d.rootEncrypted}`);
    w(`${'phase (median of runs)'.padEnd(44)} ${'nitride'.padStart(9)} ${'plain'.padStart(9)}  ratio`);
    const phases: Record<string, unknown> = {};
    const row = (label: string, key: string, pick: (r: BootRun) => number | null): void => {
      const n = medianOf(d.nitride, pick);
      const p = medianOf(d.plain, pick);
      const ratio = n !== null && p !== null && p > 0 ? n / p : null;
      phases[key] = { nitride_ms: n, plain_ms: p, ratio: ratio === null ? null : r3(ratio) };
      w(`${label.padEnd(44)} ${secs(n).padStart(9)} ${secs(p).padStart(9)}  ${ratio === null ? '–' : ratio.toFixed(3)}`);
    };
    row('launch → QEMU started', 'qemu', (r) => r.qemuStartMs);
    for (const ph of PHASES) row(`launch → ${ph}`, `launch_${ph}`, (r) => r.fromLaunch[ph]);
    for (const ph of PHASES) row(`QEMU start → ${ph}`, `qemu_${ph}`, (r) => r.fromQemu[ph]);
    const ci = phases['launch_cloudInit'] as { ratio: number | null };
    w(`ratio to cloud-init finished ${ci.ratio ?? '–'} (goal ≤ 1.15)  [nitride ${d.nitride.map((r) => secs(r.fromLaunch.cloudInit)).join(', ')}; plain ${d.plain.map((r) => secs(r.fromLaunch.cloudInit)).join(', ')}]`);
    out['boot'] = { runs: d.nitride.length, phases, nitride: d.nitride, plain: d.plain, goal_met: ci.ratio !== null && ci.ratio <= 1.15 };
  }
  if (d.volumes.length > 0) {
    const vols: Record<string, unknown>[] = [];
    for (const enc of [true, false]) {
      for (const size of [2, 20]) {
        const rs = d.volumes.filter((v) => v.encrypted === enc && v.sizeGiB === size);
        if (rs.length === 0) continue;
        const api = median(rs.map((v) => v.apiMs));
        const running = median(rs.map((v) => v.runningMs));
        const peer = median(rs.map((v) => v.peerMs));
        const luks = enc ? median(rs.map((v) => v.luksMs ?? NaN)) : null;
        w(
          `root volume ${String(size).padStart(2)} GiB ${enc ? 'encrypted  ' : 'unencrypted'}: RunInstances answered ${api} ms, volume in-use + instance running ${running} ms; qemu-img convert + resize ${peer} ms, ratio ${(running / peer).toFixed(2)}` +
            (luks === null ? '' : `; qemu-img create -f luks + convert ${luks} ms, ratio ${(running / luks).toFixed(2)}`),
        );
        vols.push({ size_gib: size, encrypted: enc, runs: rs.length, run_instances_ms: api, running_ms: running, qemu_img_ms: peer, ratio: r3(running / peer), ...(luks === null ? {} : { qemu_img_luks_ms: luks, ratio_luks: r3(running / luks) }) });
      }
    }
    out['volumes'] = vols;
  }
  return out;
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = { bench: 'boot' };
  if (parts.has('minimal')) Object.assign(result, await minimalPart());
  if (parts.has('debian') || parts.has('volumes')) {
    say(`debian part: ${parts.has('debian') ? `${debianRuns} boot pair(s)` : 'no boots'}${parts.has('volumes') ? `, ${volumeRuns} root volume run(s) per size` : ''}`);
    const d = await debianBench({ runs: debianRuns, volumeRuns, boot: parts.has('debian'), volumes: parts.has('volumes'), say: (s) => say(s) });
    result['debian'] = reportDebian(d);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
