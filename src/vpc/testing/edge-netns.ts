// A public side inside a network namespace of the test's own, for the VPC edge's tests and
// benchmark: the card creates its TAP device (edge.attach), which is then moved into a fresh
// namespace and given the "outside" address there (198.51.100.1/24 by default), so every
// packet the edge sends stays in that namespace. run() executes real tools (ping, nc, iperf3,
// python3) inside it, asynchronously (the test's synthetic guests keep answering meanwhile).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { VpcCardChannel } from '../client.js';
import type { PublicSideConfig } from '../model.js';

const run = promisify(execFile);
export const IP_TOOL = '/usr/sbin/ip';

function sh(args: string[]): void {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

export class EdgeNamespace {
  private constructor(readonly ns: string, readonly iface: string, readonly side: PublicSideConfig, readonly hostIp: string, private readonly devices: string[]) {}

  /** A fresh name for a public-side TAP device (what `adopt` then takes into its namespace). */
  static deviceName(): string {
    return `nep${randomBytes(3).toString('hex')}`;
  }

  /**
   * Creates the namespace, has the card open its public side on a new TAP device and moves that
   * device into the namespace with `hostIp`/prefix on it. Removes the namespace on failure.
   */
  static async create(card: VpcCardChannel, opts: { cidr?: string; hostIp?: string } = {}): Promise<EdgeNamespace> {
    const iface = EdgeNamespace.deviceName();
    return EdgeNamespace.setUp(iface, opts, (side) => card.request('edge.attach', { side }).then(() => undefined));
  }

  /**
   * Takes a TAP device a card already opened (a controller started with NITRIDE_PUBLIC_IFACE=`iface`,
   * as a region test does) into a new namespace with `hostIp`/prefix on it.
   */
  static async adopt(iface: string, opts: { cidr?: string; hostIp?: string } = {}): Promise<EdgeNamespace> {
    return EdgeNamespace.setUp(iface, opts, async () => undefined);
  }

  /**
   * A namespace whose bridge br0 has `hostIp`/prefix, for the public sides of several hosts
   * (one network, as their uplinks would share): `take` moves each host's TAP device onto it.
   */
  static async bridged(opts: { cidr?: string; hostIp?: string } = {}): Promise<EdgeNamespace> {
    return EdgeNamespace.setUp('br0', opts, async () => undefined);
  }

  /** Moves a TAP device a card opened onto this namespace's bridge (see `bridged`). */
  take(iface: string): void {
    this.devices.push(iface);
    sh([IP_TOOL, 'link', 'set', iface, 'netns', this.ns]);
    sh([IP_TOOL, '-n', this.ns, 'link', 'set', iface, 'master', this.iface]);
    sh([IP_TOOL, '-n', this.ns, 'link', 'set', iface, 'up']);
  }

  private static async setUp(iface: string, opts: { cidr?: string; hostIp?: string }, open: (side: PublicSideConfig) => Promise<void>): Promise<EdgeNamespace> {
    const bridge = iface === 'br0';
    const ns = `nitride-edge-${bridge ? randomBytes(3).toString('hex') : iface.replace(/^nep/, '')}`;
    const cidr = opts.cidr ?? '198.51.100.0/24';
    const hostIp = opts.hostIp ?? '198.51.100.1';
    const side = { iface, cidr, gateway: hostIp };
    sh([IP_TOOL, 'netns', 'add', ns]);
    const e = new EdgeNamespace(ns, iface, side, hostIp, bridge ? [] : [iface]);
    try {
      await open(side);
      // A bridge is made inside; a card's TAP device is moved in.
      if (bridge) sh([IP_TOOL, '-n', ns, 'link', 'add', iface, 'type', 'bridge']);
      else sh([IP_TOOL, 'link', 'set', iface, 'netns', ns]);
      sh([IP_TOOL, '-n', ns, 'link', 'set', 'lo', 'up']);
      sh([IP_TOOL, 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.all.disable_ipv6=1`]);
      sh([IP_TOOL, '-n', ns, 'addr', 'add', `${hostIp}/${cidr.split('/')[1]}`, 'dev', iface]);
      sh([IP_TOOL, '-n', ns, 'link', 'set', iface, 'up']);
    } catch (err) {
      e.close();
      throw err;
    }
    return e;
  }

  /** Runs a program inside the namespace; resolves with its output and exit code (never rejects on a non-zero exit). */
  async run(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const p = run(IP_TOOL, ['netns', 'exec', this.ns, ...argv], { timeout: opts.timeoutMs ?? 15_000, encoding: 'utf8', maxBuffer: 16 << 20 });
    if (opts.input !== undefined) {
      p.child.stdin?.end(opts.input);
    }
    try {
      const { stdout, stderr } = await p;
      return { code: 0, stdout, stderr };
    } catch (e) {
      const x = e as { code?: number | string; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e) };
    }
  }

  /** Deletes the namespace (and with it the TAP device, which the card's exit would remove anyway). */
  close(): void {
    spawnSync(IP_TOOL, ['netns', 'del', this.ns]);
    // A device that never made it into the namespace (adopt) is still on the host: remove it.
    for (const d of this.devices) spawnSync(IP_TOOL, ['link', 'del', d], { stdio: 'ignore' });
  }
}
