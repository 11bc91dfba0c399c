// The local host that `nitride start` runs beside the region: a controller process on
// this machine, in the same NITRIDE_HOME. It is started detached so that a region that
// dies does not take the host down with it; a region that starts again finds the running
// controller (controller.json + a live pid) and reconnects instead of starting another.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostPaths, readRuntime, type RuntimeInfo } from '../controller/host-state.js';
import { forkConfinement } from '../lib/privileges.js';
import { NitrideError } from '../lib/errors.js';
import { distEntry } from '../lib/paths.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Guard against pid reuse: the process must be our controller.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('controller/main.js');
  } catch {
    return false;
  }
}

/** The controller already running for this home, if any. */
export function runningController(home: string): RuntimeInfo | undefined {
  const rt = readRuntime(home);
  return rt && alive(rt.pid) ? rt : undefined;
}

export async function startLocalController(home: string, opts: { timeoutMs?: number } = {}): Promise<{ runtime: RuntimeInfo; started: boolean }> {
  const existing = runningController(home);
  if (existing) return { runtime: existing, started: false };
  const paths = hostPaths(home);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const logFd = openSync(join(paths.dir, 'controller.log'), 'a', 0o600);
  const before = readRuntime(home);
  // Through setpriv when root: the controller keeps only what it and its components need (src/lib/privileges.ts).
  const confined = forkConfinement('controller', []);
  const argv = [distEntry('controller/main.js'), '--home', home, '--port', '0'];
  const child = spawn(confined?.execPath ?? process.execPath, confined ? [...confined.execArgv, ...argv] : argv, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, NITRIDE_HOME: home },
  });
  child.unref();
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    const rt = readRuntime(home);
    if (rt && rt.pid === child.pid && (before === undefined || rt !== before)) return { runtime: rt, started: true };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const tail = existsSync(join(paths.dir, 'controller.log')) ? readFileSync(join(paths.dir, 'controller.log'), 'utf8').slice(-2000) : '';
  try {
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  throw new NitrideError('LocalHostFailed', 'unavailable', `The local controller did not start. Its log ends with:\n${tail}`, { home });
}

/** Stops the local controller (guests keep running; the next start re-adopts them). */
export async function stopLocalController(home: string, timeoutMs = 15_000): Promise<void> {
  const rt = runningController(home);
  if (!rt) return;
  process.kill(rt.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive(rt.pid)) await new Promise((r) => setTimeout(r, 50));
  if (alive(rt.pid)) process.kill(rt.pid, 'SIGKILL');
}

export function enrollToken(home: string): string | undefined {
  const p = hostPaths(home).token;
  return existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined;
}
