// Fixtures for region tests: the real `nitride start` process in a temporary home, an
// in-process Region (no local host) over a store seeded with records, the AWS CLIs with
// an environment that points only at that home, and a cleanup that always stops the
// region, kills the controller and every QEMU under the home (by pidfile) and removes it.
import { EC2Client, GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupsUnder, removeCgroups } from './vm/jail-fixtures.js';
import { ensureImage } from '../src/image/build.js';
import { imageCacheDir } from '../src/lib/paths.js';
import { distEntry } from '../src/lib/paths.js';
import { vpcSocketDir } from '../src/controller/cards/vpc.js';
import { ControllerClient } from '../src/controller/client.js';
import { hostPaths, readRuntime } from '../src/controller/host-state.js';
import { readChain } from '../src/audit/chain.js';
import { waitFor } from '../src/lib/wait.js';
import { Region } from '../src/region/region.js';
import { REFUSALS_EVENT_NAME, type RefusalCount } from '../src/region/api/refusals.js';
import type { HostRecord, InstanceRecord } from '../src/region/ec2/model.js';
import { ImageService } from '../src/region/ec2/images.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { JsonValue } from '../src/store/store.js';
import { randomBytes } from 'node:crypto';

export const CLI_MAIN = distEntry('cli/main.js');
export const BUILTIN_AMI = ImageService.builtinId();

export interface RegionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface RegionProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly home: string;
  /** Environment for the AWS CLI: only AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE of the AWS_* family. */
  readonly awsEnv: NodeJS.ProcessEnv;
  readonly credentials: RegionCredentials;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait for exit (region and controller stop; guests keep running). */
  stop(): Promise<void>;
  /** SIGKILL the region process (the controller and guests keep running). */
  kill9(): Promise<void>;
}

/** process.env without any AWS_* variable that could leak a real account into a test. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('NITRIDE_')) env[k] = v;
  return { ...env, ...extra };
}

function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    const s = /^\[(.+)\]\s*$/.exec(line.trim());
    if (s) {
      cur = out[s[1]!] = {};
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line.trim());
    if (kv && cur) cur[kv[1]!] = kv[2]!;
  }
  return out;
}

/** Makes sure the guest image is built (the start command would otherwise build it inside the deadline). */
export async function ensureGuestImage(): Promise<void> {
  await ensureImage({ cacheDir: imageCacheDir(), say: (l) => void process.stderr.write(`[image] ${l}\n`) });
}

/**
 * Spawns `nitride start` with NITRIDE_API_PORT=0 in `home` (a fresh mkdtemp when not given)
 * and waits for its "is up at" line.
 */
export async function startRegion(opts: { home?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; args?: readonly string[] } = {}): Promise<RegionProcess> {
  const home = opts.home ?? (await mkdtemp(join(tmpdir(), 'nitride-region-')));
  const child = spawn(process.execPath, [CLI_MAIN, 'start', ...(opts.args ?? [])], {
    // No public side unless the test names one inside a namespace it made: `nitride start`'s
    // default host-only network (nitride-pub0) would put an interface on this machine's own
    // network, shared by every test running beside it.
    env: cleanEnv({ NITRIDE_HOME: home, NITRIDE_API_PORT: '0', NITRIDE_PUBLIC_IFACE: 'none', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let endpoint: string | undefined;
  while (Date.now() < deadline) {
    const m = /is up at (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(out);
    if (m) {
      endpoint = m[1]!;
      break;
    }
    if (child.exitCode !== null || child.signalCode !== null) break;
    await sleep(50);
  }
  if (endpoint === undefined) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
    // A home this call made is this call's to clean (a caller's home is the caller's).
    if (opts.home === undefined) await cleanupHome(home, [], false);
    throw new Error(`nitride start did not come up in ${home} (exit ${child.exitCode ?? child.signalCode}).\nstdout:\n${out}\nstderr:\n${err.slice(-4000)}`);
  }
  const creds = parseIni(readFileSync(join(home, 'aws', 'credentials'), 'utf8'))['nitride'] ?? {};
  const waitExit = async (ms: number): Promise<void> => {
    await Promise.race([exited, sleep(ms)]);
  };
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    home,
    awsEnv: cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home }),
    credentials: { accessKeyId: creds['aws_access_key_id'] ?? '', secretAccessKey: creds['aws_secret_access_key'] ?? '' },
    child,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await waitExit(30_000);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await waitExit(5_000);
      }
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await waitExit(5_000);
    },
  };
}

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** QEMU pids recorded under home (pidfile + a live process that is a QEMU), by instance id. */
export function qemuPids(home: string): Map<string, number> {
  const dir = join(home, 'host', 'hypervisor', 'instances');
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  for (const id of readdirSync(dir)) {
    const f = join(dir, id, 'qemu.pid');
    if (!existsSync(f)) continue;
    const pid = Number(readFileSync(f, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid) && cmdlineOf(pid).includes('qemu')) out.set(id, pid);
  }
  return out;
}

/**
 * The local controller as the region speaks to it (the region's own client credential under
 * $home/region/pki, as `nitride host restart-component` does), for reading host-side state
 * such as an ENI's drop counters (`eni.stats`). The caller closes it.
 */
export function regionControllerClient(home: string): ControllerClient {
  const pki = join(home, 'region', 'pki');
  const rt = readRuntime(home);
  if (!rt) throw new Error(`no controller runtime record under ${home}`);
  return new ControllerClient({
    address: rt.address,
    port: rt.port,
    caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(pki, 'region.crt'), 'utf8'),
    keyPem: readFileSync(join(pki, 'region.key'), 'utf8'),
    hostId: rt.hostId,
  });
}

/** How many instance.list commands the local controller has accepted (audited before it runs). */
export function hostListCommands(home: string): number {
  return readChain<{ type?: string; command?: string }>(hostPaths(home).audit).filter((r) => r.event.type === 'command.accepted' && r.event.command === 'instance.list').length;
}

/**
 * Resolves once the region has completed a whole reconciliation pass with the local host that
 * began after this call. Only the reconciler sends instance.list, each pass begins with one and
 * passes do not overlap, so the second list the controller accepts after now begins after a
 * pass that started after now has finished (whatever it launched or terminated is done).
 */
export async function reconciledOnce(home: string, timeoutMs = 120_000): Promise<void> {
  const start = hostListCommands(home);
  await waitFor('a whole reconciliation pass of the region with the host', () => hostListCommands(home) >= start + 2, timeoutMs, 250);
}

/** How many times the region logged a reconciliation pass that could not reach a host. */
export function unreachablePasses(r: RegionProcess): number {
  return r.stderr().split('host unreachable during reconciliation').length - 1;
}

/** The controller's pid from controller.json when it is alive. */
export function controllerPid(home: string): number | undefined {
  try {
    const rt = JSON.parse(readFileSync(join(home, 'host', 'controller.json'), 'utf8')) as { pid?: number };
    return rt.pid !== undefined && pidAlive(rt.pid) && cmdlineOf(rt.pid).includes('controller/main.js') ? rt.pid : undefined;
  } catch {
    return undefined;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Prints what helps to understand a failure: the region's stderr and the controller log. */
export function dumpDiagnostics(home: string, regionStderr?: string): void {
  const w = (s: string): void => void process.stderr.write(s);
  if (regionStderr !== undefined) w(`\n----- region stderr (${home}) -----\n${regionStderr.slice(-8000)}\n`);
  const log = join(home, 'host', 'controller.log');
  if (existsSync(log)) w(`\n----- controller.log -----\n${readFileSync(log, 'utf8').slice(-8000)}\n`);
}

/**
 * Always-run cleanup: stops the region processes, kills the controller and every QEMU
 * under `home`, removes the home. Prints diagnostics first when `failed`.
 */
/**
 * Every process whose working directory is inside `home`. QEMU and swtpm run in their
 * instance directory, so this finds one whose pidfile was not written yet (a CI run left
 * such a QEMU behind when cleanup went by pidfiles alone).
 */
export function processesInside(home: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${d}/cwd`);
      if (cwd === home || cwd.startsWith(`${home}/`)) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * Teardown of a region opened in this process over real controllers (the multi-host VM tests):
 * the region, then each controller (its output shown when the test failed), then every host's
 * home (diagnostics when failed) and VPC socket directory, and the region's home.
 */
export async function closeHostsRig(rig: { region: Region | undefined; ctls: readonly { stop(): Promise<unknown>; output(): string }[]; hostHomes: readonly string[]; regionHome: string; failed: boolean }): Promise<void> {
  if (rig.failed) for (const c of rig.ctls) process.stderr.write(`--- controller output ---\n${c.output().slice(-6000)}\n`);
  await rig.region?.close().catch(() => undefined);
  for (const c of rig.ctls) await c.stop().catch(() => undefined);
  for (const h of rig.hostHomes) {
    await cleanupHome(h, [], rig.failed);
    await rm(join(vpcSocketDir(h), '..'), { recursive: true, force: true });
  }
  await rm(rig.regionHome, { recursive: true, force: true });
}

export async function cleanupHome(home: string, regions: readonly (RegionProcess | undefined)[], failed: boolean): Promise<void> {
  if (failed) dumpDiagnostics(home, regions.map((r) => r?.stderr() ?? '').join('\n--- next region process ---\n'));
  for (const r of regions) {
    try {
      await r?.kill9();
    } catch {
      // best effort
    }
  }
  const c = controllerPid(home);
  if (c !== undefined) kill(c);
  const cgroups = cgroupsUnder(join(home, 'host', 'hypervisor', 'instances'));
  for (let i = 0; i < 3; i++) {
    for (const pid of qemuPids(home).values()) kill(pid);
    // the hypervisor processes (children of the controller) die with their pipes; make sure
    for (const pid of hypervisorPids(home)) kill(pid);
    for (const pid of processesInside(home)) kill(pid);
    await sleep(200);
  }
  // The guests' jail cgroups (their hypervisor removes them when it sees a guest go; it was killed).
  await removeCgroups(cgroups);
  await rm(home, { recursive: true, force: true });
  // The VPC card's socket directory lives outside the home (QEMU must reach it).
  await rm(join(vpcSocketDir(home), '..'), { recursive: true, force: true });
}

/** Any process whose command line names this home (controller, hypervisors, QEMU). */
export function hypervisorPids(home: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    const cl = cmdlineOf(pid);
    if (cl.includes(home) && pidAlive(pid)) out.push(pid);
  }
  return out;
}

// ---- the AWS CLIs ----------------------------------------------------------------------

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type CliName = 'v1' | 'v2';
export const CLIS: Record<CliName, string> = { v1: 'aws', v2: '/usr/bin/aws' };

/** Runs one AWS CLI with the profile nitride; v2 (2.9) gets --endpoint-url, v1 reads endpoint_url from the profile. */
export function aws(cli: CliName, region: RegionProcess, args: readonly string[], timeoutMs = 120_000): CliResult {
  const full = ['--profile', 'nitride', ...(cli === 'v2' ? ['--endpoint-url', region.endpoint] : []), ...args];
  const r = spawnSync(CLIS[cli], full, { env: region.awsEnv, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`the AWS CLI ${cli} (${CLIS[cli]}) could not run: ${r.error.message}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * One AWS CLI run against a region in this process (so never spawnSync: the region answers on
 * this event loop), with the profile nitride written under `home`; v2 gets --endpoint-url.
 */
export function awsAsync(which: CliName, home: string, endpoint: string, args: readonly string[]): Promise<CliResult> {
  const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home });
  const full = ['--profile', 'nitride', ...(which === 'v2' ? ['--endpoint-url', endpoint] : []), ...args, '--output', 'json'];
  return new Promise((resolve, reject) => {
    const child = spawn(CLIS[which], full, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new Error(`the AWS CLI ${which} (${CLIS[which]}) could not run: ${e.message}`)));
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

/** awsAsync's JSON answer; a failure throws with the CLI's stderr. */
export async function awsAsyncJson<T = Record<string, unknown>>(which: CliName, home: string, endpoint: string, args: readonly string[]): Promise<T> {
  const r = await awsAsync(which, home, endpoint, args);
  if (r.status !== 0) throw new Error(`aws(${which}) ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return (r.stdout.trim() === '' ? {} : JSON.parse(r.stdout)) as T;
}

/** The error code of an awsAsync run that must fail. */
export async function awsAsyncError(which: CliName, home: string, endpoint: string, args: readonly string[]): Promise<string> {
  const r = await awsAsync(which, home, endpoint, args);
  if (r.status === 0) throw new Error(`aws(${which}) ${args.join(' ')} should fail, and answered: ${r.stdout}`);
  return /\(([A-Za-z.]+)\)/.exec(r.stderr)?.[1] ?? r.stderr;
}

/** Credentials a test signs with: an access key, and a session token for a role or session. */
export interface TestCredentials extends RegionCredentials {
  readonly sessionToken?: string;
}

/**
 * One AWS CLI run against a region in this process with the given credentials in the
 * environment only (no profile, no config file): how a test acts as one of its IAM users.
 */
export function awsAs(which: CliName, home: string, endpoint: string, c: TestCredentials, args: readonly string[]): Promise<CliResult> {
  const env = cleanEnv({
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_ACCESS_KEY_ID: c.accessKeyId,
    AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
    ...(c.sessionToken !== undefined ? { AWS_SESSION_TOKEN: c.sessionToken } : {}),
    AWS_DEFAULT_REGION: 'local-1',
  });
  return new Promise((resolve) => {
    execFile(CLIS[which], ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
      resolve({ status: e === null ? 0 : typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1, stdout, stderr });
    });
  });
}

/** The error code an SDK call fails with (its Code, else its name), or 'no error'. */
export async function sdkErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; Code?: string };
    return err.Code ?? err.name;
  }
  return 'no error';
}

export function awsJson<T = Record<string, unknown>>(cli: CliName, region: RegionProcess, args: readonly string[]): T {
  const r = aws(cli, region, [...args, '--output', 'json']);
  if (r.status !== 0) throw new Error(`aws(${cli}) ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return (r.stdout.trim() === '' ? {} : JSON.parse(r.stdout)) as T;
}

// ---- an in-process region over a seeded store -------------------------------------------

/** A host record for a host that does not exist (loopback, refused port): instances on it stay as seeded. */
export function phantomHost(memoryMiB: number): HostRecord {
  return {
    id: `h-${randomBytes(9).toString('hex').slice(0, 17)}`,
    address: '127.0.0.1',
    port: 9, // discard: nothing listens, connections are refused
    availabilityZone: 'local-1a',
    memoryMiB,
    vcpus: 2,
    enrolledAt: new Date().toISOString(),
    certFingerprint: '0'.repeat(64),
  };
}

export function instanceRecord(accountId: string, hostId: string | undefined, over: Partial<InstanceRecord> = {}): InstanceRecord {
  const now = new Date().toISOString();
  return {
    id: `i-${randomBytes(9).toString('hex').slice(0, 17)}`,
    reservationId: `r-${randomBytes(9).toString('hex').slice(0, 17)}`,
    accountId,
    requesterPrincipal: `arn:aws:iam::${accountId}:root`,
    imageId: BUILTIN_AMI,
    instanceType: 't3.nano',
    amiLaunchIndex: 0,
    clientToken: undefined,
    state: 'stopped',
    desired: 'stopped',
    stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
    stateTransitionReason: '',
    launchTime: now,
    createdAt: now,
    stateChangedAt: now,
    terminatedAt: undefined,
    userData: undefined,
    tags: {},
    hostId,
    availabilityZone: 'local-1a',
    generation: 1,
    readyAt: undefined,
    accel: undefined,
    subnetId: undefined,
    securityGroupIds: [],
    privateIpAddress: undefined,
    keyName: undefined,
    metadataOptions: { httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' },
    forceStop: false,
    rebootRequested: 0,
    ...over,
  };
}

/** Writes records straight into $home/region/state.db (before the region opens it). */
export async function seedStore(home: string, seed: { hosts?: readonly HostRecord[]; instances?: readonly InstanceRecord[] }): Promise<void> {
  mkdirSync(join(home, 'region'), { recursive: true, mode: 0o700 });
  const store = await SqliteStore.open(join(home, 'region', 'state.db'));
  try {
    const put = [
      ...(seed.hosts ?? []).map((h) => ({ key: `region/hosts/${h.id}`, value: h as unknown as JsonValue })),
      ...(seed.instances ?? []).map((r) => ({ key: `ec2/instances/${r.id}`, value: r as unknown as JsonValue })),
    ];
    for (let i = 0; i < put.length; i += 500) await store.txn({ compare: [], put: put.slice(i, i + 500), delete: [] });
  } finally {
    await store.close();
  }
}

/** The built-in image as start.ts registers it (the cached nitride-minimal build). */
export async function builtinImage(): Promise<NonNullable<Parameters<typeof Region.open>[0]['builtinImage']>> {
  const m = await ensureImage({ cacheDir: imageCacheDir(), say: (l) => void process.stderr.write(`[image] ${l}\n`) });
  return {
    kernel: { path: m.kernel.path, sha256: m.kernel.sha256 },
    initrd: { path: m.initrd.path, sha256: m.initrd.sha256 },
    cmdline: m.cmdline,
    kernelVersion: m.kernelVersion,
    version: m.version,
  };
}

/** Region.open in this process with no local host; reconciliation effectively off. */
/** An IAM policy document (JSON) with these statements. */
export function policyDocument(...statements: Record<string, unknown>[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/**
 * Creates IAM users in one account, each with its inline policies (policy name → document)
 * and one access key, and answers each user's credentials by name.
 */
export async function usersWithKeys<N extends string>(iam: Region['iam'], accountId: string, users: Record<N, Record<string, string>>): Promise<Record<N, RegionCredentials>> {
  const out = {} as Record<N, RegionCredentials>;
  for (const [name, policies] of Object.entries(users) as [N, Record<string, string>][]) {
    await iam.createUser(accountId, name);
    for (const [policyName, doc] of Object.entries(policies)) await iam.putUserPolicy(accountId, name, policyName, doc);
    const k = await iam.createAccessKey(accountId, name);
    out[name] = { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey };
  }
  return out;
}

export async function openLocalRegion(home: string, opts: Pick<Parameters<typeof Region.open>[0], 'apiLimits' | 'publicPool'> = {}): Promise<Region> {
  return Region.open({ home, port: 0, localHost: false, builtinImage: await builtinImage(), reconcileIntervalMs: 3_600_000, ...opts });
}

/** `nitride audit verify --home H` */
export function auditVerify(home: string): CliResult {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'audit', 'verify', '--home', home], { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The events of $home/region/audit.log (each line's `event`). */
/**
 * Whether a refusal is in the region's audit trail: as a record of its own (a request that
 * authenticated) or as a counter of a RefusedRequests record (one that did not: those are
 * aggregated, src/region/api/refusals.ts). Flushes the trail and the ledger first.
 */
export async function refusalAudited(region: Region, home: string, m: { readonly code: string; readonly source?: string; readonly accessKeyId?: string }): Promise<boolean> {
  return (await refusalsAudited(region, home, m)) > 0;
}

/** How many refusals matching `m` the trail holds: records of their own plus RefusedRequests counts. */
export async function refusalsAudited(region: Region, home: string, m: { readonly code: string; readonly source?: string; readonly accessKeyId?: string }): Promise<number> {
  await region.trail.flush();
  await region.api.admission.refusals.flush();
  const events = auditEvents(home);
  const own = events.filter(
    (e) =>
      e['errorCode'] === m.code &&
      (m.source === undefined || e['eventSource'] === m.source) &&
      (m.accessKeyId === undefined || (e['userIdentity'] as { accessKeyId?: string } | undefined)?.accessKeyId === m.accessKeyId),
  );
  const counts = events.filter((e) => e['eventName'] === REFUSALS_EVENT_NAME).flatMap((e) => (e['requestParameters'] as { counts: RefusalCount[] }).counts);
  const counted = counts.filter((c) => c.errorCode === m.code && (m.source === undefined || c.eventSource === m.source) && (m.accessKeyId === undefined || c.accessKeyId === m.accessKeyId));
  return own.length + counted.reduce((n, c) => n + c.count, 0);
}

export function auditEvents(home: string): Record<string, unknown>[] {
  const text = readFileSync(join(home, 'region', 'audit.log'), 'utf8');
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push((JSON.parse(line) as { event: Record<string, unknown> }).event);
    } catch {
      // a partial last line
    }
  }
  return out;
}

export { waitFor };

/**
 * Remembers whether any test body failed, so `after` can print diagnostics only then:
 * `const run = failureTracker(); test('…', run.guarded(async () => …)); after(() => run.failed && …)`.
 */
export function failureTracker(): { readonly failed: boolean; guarded(fn: () => Promise<void> | void): () => Promise<void> } {
  let failed = false;
  return {
    get failed() {
      return failed;
    },
    guarded: (fn) => async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    },
  };
}

/** An SDK v3 EC2 client for a region opened in this process, with its bootstrap credentials. */
export function ec2For(region: Region): EC2Client {
  return new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey } });
}

/** The guest's console output (the last 64 KiB), as text. */
export async function guestConsole(ec2: EC2Client, instanceId: string): Promise<string> {
  return Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true }))).Output ?? '', 'base64').toString('utf8');
}

/** User data that runs `script` in the background with its output on the guest's console. */
export function backgroundUserData(script: string): string {
  return Buffer.from(`#!/bin/sh\n(\n${script}\n) </dev/null >/dev/console 2>&1 &\n`).toString('base64');
}

/**
 * A region with its local host (`Region.open` in this process, as `nitride start` composes
 * it) in a fresh temporary home, for one test: `fn` gets the region, an SDK client and the
 * guest-console reader; afterwards the region is closed and the home cleaned up, with
 * diagnostics printed first when `fn` threw.
 */
export async function withLocalRegion(prefix: string, fn: (x: { region: Region; home: string; ec2: EC2Client; console: (id: string) => Promise<string> }) => Promise<void>): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), prefix));
  let region: Region | undefined;
  let failed = true;
  try {
    region = await Region.open({ home, port: 0, localHost: true, builtinImage: await builtinImage() });
    const ec2 = ec2For(region);
    await fn({ region, home, ec2, console: (id) => guestConsole(ec2, id) });
    failed = false;
  } finally {
    if (failed) dumpDiagnostics(home);
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
}
