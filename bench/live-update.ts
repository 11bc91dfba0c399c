// Benchmark of live updates (issue 6 item 8): `npm run bench -- live-update [--rounds N]`.
// One signed-mode host (test/live-update-rig.ts): releases A and B, a
// real guest writing and fsyncing 4 KiB blocks to an encrypted EBS volume in a loop and
// pinging its VPC gateway every 50 ms. For each component (ebs, vpc, hypervisor, and the
// controller itself: a successor takes over the components and the listening socket) N live
// updates through `nitride host update`, alternating A→B (update) and B→A (--rollback). Per
// update, from the guest's console (lines timestamped on arrival by a 10 ms tail): the largest
// gap between I/O completions spanning the update, the largest gap between ping replies, I/O
// errors and lost pings; from the controller: the update's wall time (verify, measure, hand
// over, retire) and the card's own pause (EBS exports closed, VPC card frozen). The guest's
// normal pace (median gap before each update) is printed beside the gaps: under TCG on a
// shared machine a loop iteration alone takes tens of milliseconds. Then N crashes of the EBS
// card (SIGKILL; the supervisor restarts it and QEMU reconnects): the time until a new card
// serves the volume and the guest's largest I/O gap (test/vm/ebs-crash.test.ts proves that no
// acknowledged write is lost; the figures live here). The last line is JSON.
import { BUNDLE_OF, LiveUpdateRig, type CrashRun, type UpdatableComponent, type UpdateRun } from '../test/live-update-rig.js';
import type { ComponentName } from '../src/security-chip/pcr.js';
import type { VerifiedBundle } from '../src/security-chip/bundle.js';

const COMPONENTS: readonly UpdatableComponent[] = ['ebs', 'vpc', 'hypervisor', 'controller'];

function parseArgs(argv: readonly string[]): { rounds: number } {
  let rounds = 5;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds' && argv[i + 1] !== undefined) rounds = Number(argv[++i]);
    else throw new Error(`unknown argument ${String(argv[i])}; usage: live-update [--rounds N]`);
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error('--rounds must be 1..100');
  return { rounds };
}

const med = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] as number);
};
const max = (xs: readonly number[]): number => (xs.length === 0 ? 0 : Math.max(...xs));
const r1 = (x: number): number => Math.round(x * 10) / 10;

function cardPause(run: UpdateRun): number | null {
  const h = run.result['handover'] as { outageMs?: number; liveUpdate?: { frozenMs?: number } } | undefined;
  if (run.component === 'ebs') return typeof h?.outageMs === 'number' ? h.outageMs : null;
  if (run.component === 'vpc') return typeof h?.liveUpdate?.frozenMs === 'number' ? h.liveUpdate.frozenMs : null;
  return null;
}

async function main(): Promise<void> {
  const { rounds } = parseArgs(process.argv.slice(2));
  const say = (l: string): void => void process.stderr.write(`[live-update] ${l}\n`);
  const rig = await LiveUpdateRig.start({ log: say });
  const runs: UpdateRun[] = [];
  const crashes: CrashRun[] = [];
  try {
    const current: Partial<Record<ComponentName, VerifiedBundle>> = {};
    for (const c of COMPONENTS) {
      const name = BUNDLE_OF[c];
      for (let k = 0; k < rounds; k++) {
        const toB = k % 2 === 0;
        const run = await rig.update(c, toB ? { bundle: rig.dir('B', name) } : { rollback: true });
        runs.push(run);
        // the operator's policy follows the host, so the region keeps accepting it
        const now = toB ? rig.bundles.B[name] : rig.bundles.A[name];
        if (now) current[name] = now;
        await rig.assignCurrentRelease(current);
        const v = await rig.regionVerdict();
        if (!v.ok) throw new Error(`the region refused the host after ${c} ${run.kind}: ${JSON.stringify(v)}`);
        const pause = cardPause(run);
        say(
          `${c} #${k + 1} ${run.kind}: ${run.updateMs} ms; I/O gap ${run.ioMaxGapMs} ms (normal ${run.ioBaselineMs}), ${run.ioErrors} errors; ` +
            `ping gap ${run.netMaxGapMs} ms (normal ${run.netBaselineMs}), ${run.netLost} lost${pause !== null ? `; card pause ${pause} ms` : ''}`,
        );
      }
    }
    for (let k = 0; k < rounds; k++) {
      const c = await rig.crashEbsCard();
      crashes.push(c);
      say(`ebs crash #${k + 1}: served again ${c.servedAgainMs} ms after SIGKILL; I/O gap ${c.ioMaxGapMs} ms (normal ${c.ioBaselineMs}), ${c.ioErrors} errors; ping gap ${c.netMaxGapMs} ms, ${c.netLost} lost`);
    }
  } catch (e) {
    say(rig.diagnostics());
    throw e;
  } finally {
    await rig.close();
  }

  const out: Record<string, unknown> = {};
  const lines: string[] = [];
  lines.push(`live update, ${rounds} updates per component (alternating update/rollback), guest under QEMU on this machine`);
  lines.push('component   wall ms (median/max)   guest I/O max gap ms (normal)   ping max gap ms (normal)   lost  io-err  card pause ms (median/max)');
  for (const c of COMPONENTS) {
    const rs = runs.filter((x) => x.component === c);
    const pauses = rs.map(cardPause).filter((x): x is number => x !== null);
    const fig = {
      updates: rs.length,
      wallMsMedian: r1(med(rs.map((x) => x.updateMs))),
      wallMsMax: r1(max(rs.map((x) => x.updateMs))),
      cliMsMedian: r1(med(rs.map((x) => x.cliMs))),
      ioMaxGapMs: r1(max(rs.map((x) => x.ioMaxGapMs))),
      ioMaxGapMsMedian: r1(med(rs.map((x) => x.ioMaxGapMs))),
      ioNormalGapMs: r1(med(rs.map((x) => x.ioBaselineMs))),
      netMaxGapMs: r1(max(rs.map((x) => x.netMaxGapMs))),
      netMaxGapMsMedian: r1(med(rs.map((x) => x.netMaxGapMs))),
      netNormalGapMs: r1(med(rs.map((x) => x.netBaselineMs))),
      netLost: rs.reduce((a, x) => a + x.netLost, 0),
      ioErrors: rs.reduce((a, x) => a + x.ioErrors, 0),
      ...(pauses.length > 0 ? { cardPauseMsMedian: r1(med(pauses)), cardPauseMsMax: r1(max(pauses)) } : {}),
    };
    out[c] = fig;
    lines.push(
      `${c.padEnd(11)} ${`${fig.wallMsMedian}/${fig.wallMsMax}`.padEnd(22)} ${`${fig.ioMaxGapMs} (${fig.ioNormalGapMs})`.padEnd(31)} ${`${fig.netMaxGapMs} (${fig.netNormalGapMs})`.padEnd(26)} ${String(fig.netLost).padEnd(5)} ${String(fig.ioErrors).padEnd(7)} ${pauses.length > 0 ? `${fig.cardPauseMsMedian}/${fig.cardPauseMsMax}` : '-'}`,
    );
  }
  const crash = {
    crashes: crashes.length,
    servedAgainMsMedian: r1(med(crashes.map((x) => x.servedAgainMs))),
    servedAgainMsMax: r1(max(crashes.map((x) => x.servedAgainMs))),
    ioMaxGapMs: r1(max(crashes.map((x) => x.ioMaxGapMs))),
    ioMaxGapMsMedian: r1(med(crashes.map((x) => x.ioMaxGapMs))),
    ioNormalGapMs: r1(med(crashes.map((x) => x.ioBaselineMs))),
    ioErrors: crashes.reduce((a, x) => a + x.ioErrors, 0),
  };
  lines.push(
    `ebs card SIGKILL (${crash.crashes}x): served again after ${crash.servedAgainMsMedian}/${crash.servedAgainMsMax} ms (median/max); guest I/O max gap ${crash.ioMaxGapMs} ms (median ${crash.ioMaxGapMsMedian}, normal ${crash.ioNormalGapMs}); ${crash.ioErrors} I/O errors`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'live-update', rounds, components: out, ebsCrash: crash })}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench live-update: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
