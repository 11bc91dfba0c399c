// Test fixtures for the controller (used by test/integration and test/vm): a real
// controller process in a temporary home, a region CA and client credential, enrolment,
// and a census of a process's sockets read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { distEntry } from '../../lib/paths.js';
import { createCa, type CaMaterial } from '../../lib/pki/pki.js';
import { ControllerClient, createClientCredential, enrollHost } from '../client.js';
import { ROLE_REGION } from '../protocol/commands.js';
import { hostPaths, readRuntime, type RuntimeInfo } from '../host-state.js';

export interface RegionCredential {
  readonly ca: CaMaterial;
  readonly certPem: string;
  readonly keyPem: string;
}

export async function makeRegion(role: string = ROLE_REGION, ca?: CaMaterial): Promise<RegionCredential> {
  const theCa = ca ?? (await createCa('nitride-test-region-ca'));
  return { ca: theCa, ...(await createClientCredential(theCa, { commonName: `test-${role}`, role })) };
}

export interface ControllerProcess {
  readonly proc: ChildProcess;
  readonly home: string;
  readonly runtime: RuntimeInfo;
  /** Everything the controller (and its hypervisor) wrote to stdout/stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs: number, out: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n--- controller output ---\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `node dist/src/controller/main.js --home HOME --port 0` and waits until it listens.
 * entry: another controller/main.js (e.g. of a copy of the tree that a test may tamper with).
 */
export async function startController(home: string, opts: { port?: number; env?: NodeJS.ProcessEnv; ownProcessGroup?: boolean; entry?: string } = {}): Promise<ControllerProcess> {
  const proc = spawn(process.execPath, [opts.entry ?? distEntry('controller/main.js'), '--home', home, '--port', String(opts.port ?? 0)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownProcessGroup ?? false, // its own group, so a test can kill the whole group
    env: { ...process.env, NITRIDE_HOME: home, ...opts.env },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited = proc.exitCode !== null;
  const exitP = new Promise<void>((r) => proc.once('exit', () => ((exited = true), r())));
  const runtime = await waitFor(
    'controller.json',
    () => {
      if (exited) throw new Error(`the controller exited early\n${out}`);
      const r = readRuntime(home);
      return r && r.pid === proc.pid ? r : undefined;
    },
    20_000,
    () => out,
  );
  return {
    proc,
    home,
    runtime,
    output: () => out,
    stop: async (graceMs = 5_000) => {
      if (exited) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exitP;
      clearTimeout(t);
    },
  };
}

export function readToken(home: string): string {
  return readFileSync(hostPaths(home).token, 'utf8').trim();
}

/** Enrols the controller with the region's CA and returns a client for it. */
export async function enrollAndConnect(c: ControllerProcess, region: RegionCredential): Promise<{ client: ControllerClient; hostId: string }> {
  const r = await enrollHost({ address: '127.0.0.1', port: c.runtime.port, token: readToken(c.home), ca: region.ca, bootstrapFingerprint: c.runtime.fingerprint });
  const client = new ControllerClient({ address: '127.0.0.1', port: c.runtime.port, caPem: region.ca.certPem, certPem: region.certPem, keyPem: region.keyPem, hostId: r.hostId });
  return { client, hostId: r.hostId };
}

export interface SocketEntry {
  readonly proto: 'tcp' | 'tcp6' | 'udp' | 'udp6';
  readonly inode: string;
  readonly localPort: number;
  readonly remotePort: number;
  readonly remoteAddress: string;
  readonly state: string; // hex TCP state; 0A = LISTEN, 01 = ESTABLISHED
}

function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The inet sockets a process holds open, from /proc/<pid>/fd and /proc/<pid>/net/{tcp,tcp6,udp,udp6}. */
export function inetSocketsOf(pid: number): SocketEntry[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  const out: SocketEntry[] = [];
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const file = `/proc/${pid}/net/${proto}`;
    if (!existsSync(file)) continue;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const inode = f[9] ?? '';
      if (!inodes.has(inode)) continue;
      const [, lport = '0'] = (f[1] ?? '').split(':');
      const [raddr = '', rport = '0'] = (f[2] ?? '').split(':');
      out.push({ proto, inode, localPort: parseInt(lport, 16), remotePort: parseInt(rport, 16), remoteAddress: raddr, state: f[3] ?? '' });
    }
  }
  return out;
}

/**
 * Samples the sockets of the given pids every intervalMs until stop() and records every one
 * that is not allowed: the controller may hold only its listening socket and connections
 * accepted on it (local port == listening port); other pids may hold no inet socket at all.
 */
export function watchForOutbound(pids: () => { controller: number | undefined; others: readonly number[] }, listenPort: number, intervalMs = 25) {
  const violations: (SocketEntry & { pid: number })[] = [];
  let samples = 0;
  let listenerSeen = 0; // proves the census sees the controller's sockets at all
  let acceptedSeen = 0;
  let forkWindow = 0;
  const timer = setInterval(() => {
    const { controller, others } = pids();
    samples++;
    const controllerInodes = new Set<string>();
    let controllerCmdline: string | undefined;
    if (controller !== undefined) {
      controllerCmdline = cmdlineOf(controller);
      for (const s of inetSocketsOf(controller)) {
        controllerInodes.add(s.inode);
        if (s.localPort !== listenPort) violations.push({ ...s, pid: controller });
        else if (s.state === '0A') listenerSeen++;
        else acceptedSeen++;
      }
    }
    for (const pid of others) {
      for (const s of inetSocketsOf(pid)) {
        // Between fork() and exec() a new child is still a copy of the controller and shows
        // the controller's own descriptors; that is not a socket the child opened.
        if (controllerInodes.has(s.inode) && controllerCmdline !== undefined && cmdlineOf(pid) === controllerCmdline) {
          forkWindow++;
          continue;
        }
        violations.push({ ...s, pid });
      }
    }
  }, intervalMs);
  return {
    stop(): { samples: number; listenerSeen: number; acceptedSeen: number; forkWindow: number; violations: (SocketEntry & { pid: number })[] } {
      clearInterval(timer);
      return { samples, listenerSeen, acceptedSeen, forkWindow, violations };
    },
  };
}

/** The direct children of a pid (from /proc/<pid>/task/<tid>/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') out.push(Number(c));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

/** The process group id of a pid (field 5 of /proc/<pid>/stat), or undefined when it is gone. */
export function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[2]);
  } catch {
    return undefined;
  }
}
