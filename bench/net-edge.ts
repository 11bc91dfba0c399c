// The VPC edge's figures (issue 13, item 6), part `edge` of `npm run bench -- net`:
//  edge:     a client namespace holding the card's public side (its TAP device, 198.51.100.1/24)
//            reaches a "guest" namespace through the public IP 198.51.100.10: the guest is a
//            kernel stack on a TAP device relayed to its ENI socket with QEMU's framing
//            (src/vpc/testing/tap-nic.ts), so every packet crosses the card's 1:1 NAT, security
//            groups and connection tracking both ways.
//  baseline: the same two roles in two namespaces joined by a veth pair, routed by the kernel
//            with no translation.
//  wire:     a second reference: the two namespaces joined by two TAP devices and the smallest
//            userspace relay between them (frames copied device to device, nothing decided),
//            so the card's own cost shows apart from what TAP devices without offloads cost.
// Measured with real tools, alternating, best of two rounds each: iperf3 TCP throughput
// (client → guest) and TCP connections per second (python3 connect/close loop against an
// accept/close loop). Prints both and the ratios; returns them for the JSON line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CardHarness, eni } from '../src/vpc/testing/card-harness.js';
import { EdgeNamespace, IP_TOOL } from '../src/vpc/testing/edge-netns.js';
import { TapNic } from '../src/vpc/testing/tap-nic.js';
import { TapDevice } from '../src/vpc/edge/public-side.js';

const SECONDS = Number(process.env['NITRIDE_BENCH_SECONDS'] ?? 3);
const PUBLIC_IP = '198.51.100.10';
const GUEST_IP = '10.0.1.10';
const CPS_PORT = 7000;

const CPS_SERVER = `import socket
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',${CPS_PORT}));s.listen(4096)
while True:
  c,_=s.accept();c.close()`;
const CPS_CLIENT = `import socket,sys,time
ip,secs=sys.argv[1],float(sys.argv[2]);n=0;fail=0;t0=time.time();end=t0+secs
while time.time()<end:
  try:
    s=socket.create_connection((ip,${CPS_PORT}),timeout=2);s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00');s.close();n+=1
  except OSError:
    fail+=1
print(n/(time.time()-t0),fail)`;

function sh(args: string[]): void {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

function inNs(ns: string, argv: string[]): ChildProcess {
  return spawn(IP_TOOL, ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function output(c: ChildProcess, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Waits until `port` accepts in `ns` (the server has bound). */
async function listening(ns: string, ip: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = await output(inNs(ns, ['python3', '-c', `import socket;socket.create_connection(('${ip}',${port}),timeout=1).close()`]), 3_000);
    if (r.code === 0) return;
    await new Promise((r2) => setTimeout(r2, 100));
  }
  throw new Error(`nothing listens on ${ip}:${port} in ${ns}`);
}

interface Pair {
  /** The namespace iperf3 -c and the connect loop run in, and the address they aim at. */
  readonly clientNs: string;
  readonly target: string;
  readonly serverNs: string;
}

async function iperf(p: Pair): Promise<number> {
  const srv = inNs(p.serverNs, ['iperf3', '-s', '-1']);
  const srvDone = output(srv, (SECONDS + 20) * 1000);
  try {
    let r = { code: 1 as number | null, stdout: '', stderr: '' };
    for (let i = 0; i < 200 && r.code !== 0; i++) { // the server in its namespace may take seconds to listen on a loaded machine
      r = await output(inNs(p.clientNs, ['iperf3', '-c', p.target, '-t', String(SECONDS), '-J']), (SECONDS + 20) * 1000);
      if (r.code !== 0) await new Promise((x) => setTimeout(x, 100));
    }
    if (r.code !== 0) throw new Error(`iperf3 -c ${p.target}: ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`);
    const j = JSON.parse(r.stdout) as { end: { sum_received?: { bits_per_second: number } }; error?: string };
    if (!j.end.sum_received) throw new Error(`iperf3 -c ${p.target}: ${j.error ?? r.stdout.slice(-800)}`);
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill('SIGKILL');
    await srvDone;
  }
}

async function cps(p: Pair): Promise<{ cps: number; failed: number }> {
  const server = inNs(p.serverNs, ['python3', '-c', CPS_SERVER]);
  const done = output(server, 120_000);
  try {
    await listening(p.clientNs, p.target, CPS_PORT);
    const r = await output(inNs(p.clientNs, ['python3', '-c', CPS_CLIENT, p.target, String(SECONDS)]), (SECONDS + 30) * 1000);
    if (r.code !== 0) throw new Error(`connect loop: ${r.stderr.slice(-500)}`);
    const [rate, failed] = r.stdout.trim().split(' ').map(Number);
    return { cps: rate ?? 0, failed: failed ?? 0 };
  } finally {
    server.kill('SIGKILL');
    await done;
  }
}

/** The baseline: two namespaces, one veth pair, kernel routing, no translation. */
function kernelPair(tag: string): { pair: Pair; close: () => void } {
  const c = `nitride-kc-${tag}`;
  const s = `nitride-ks-${tag}`;
  sh([IP_TOOL, 'netns', 'add', c]);
  const close = (): void => {
    spawnSync(IP_TOOL, ['netns', 'del', c]);
    spawnSync(IP_TOOL, ['netns', 'del', s]);
  };
  try {
    sh([IP_TOOL, 'netns', 'add', s]);
    sh([IP_TOOL, 'link', 'add', `kc${tag}`, 'type', 'veth', 'peer', 'name', `ks${tag}`]);
    sh([IP_TOOL, 'link', 'set', `kc${tag}`, 'netns', c]);
    sh([IP_TOOL, 'link', 'set', `ks${tag}`, 'netns', s]);
    for (const [ns, dev, addr, peer] of [[c, `kc${tag}`, '198.51.100.1/24', GUEST_IP], [s, `ks${tag}`, `${GUEST_IP}/24`, '198.51.100.1']] as const) {
      sh([IP_TOOL, '-n', ns, 'link', 'set', 'lo', 'up']);
      sh([IP_TOOL, '-n', ns, 'addr', 'add', addr, 'dev', dev]);
      sh([IP_TOOL, '-n', ns, 'link', 'set', dev, 'up']);
      // Different prefixes on each end: each side routes the other's address over the link.
      sh([IP_TOOL, '-n', ns, 'route', 'add', `${peer}/32`, 'dev', dev]);
    }
  } catch (e) {
    close();
    throw e;
  }
  return { pair: { clientNs: c, target: GUEST_IP, serverNs: s }, close };
}

/** Two namespaces joined by two TAP devices and a bare relay in this process (same prefix, no routing). */
function tapWire(tag: string): { pair: Pair; close: () => void } {
  const c = `nitride-wc-${tag}`;
  const s = `nitride-ws-${tag}`;
  const devs: TapDevice[] = [];
  const close = (): void => {
    for (const d of devs) d.close();
    spawnSync(IP_TOOL, ['netns', 'del', c]);
    spawnSync(IP_TOOL, ['netns', 'del', s]);
  };
  try {
    sh([IP_TOOL, 'netns', 'add', c]);
    sh([IP_TOOL, 'netns', 'add', s]);
    const a = TapDevice.open(`nwc${tag}`);
    devs.push(a);
    const b = TapDevice.open(`nws${tag}`);
    devs.push(b);
    const relay = (from: TapDevice, to: TapDevice): void =>
      from.start((buf, idx, n) => {
        for (let i = 0; i < n; i++) to.write(buf, idx[2 * i] as number, idx[2 * i + 1] as number);
      });
    relay(a, b);
    relay(b, a);
    for (const [ns, dev, addr] of [[c, `nwc${tag}`, '198.51.100.1/24'], [s, `nws${tag}`, `${PUBLIC_IP}/24`]] as const) {
      sh([IP_TOOL, 'link', 'set', dev, 'netns', ns]);
      sh([IP_TOOL, '-n', ns, 'link', 'set', 'lo', 'up']);
      sh([IP_TOOL, '-n', ns, 'addr', 'add', addr, 'dev', dev]);
      sh([IP_TOOL, '-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (e) {
    close();
    throw e;
  }
  return { pair: { clientNs: c, target: PUBLIC_IP, serverNs: s }, close };
}

export interface EdgeFigures {
  readonly seconds: number;
  readonly edgeGbps: number;
  readonly kernelGbps: number;
  readonly throughputRatio: number;
  readonly edgeCps: number;
  readonly kernelCps: number;
  readonly cpsRatio: number;
  readonly edgeCpsFailed: number;
  readonly wireGbps: number;
  readonly wireCps: number;
  /** Edge / bare TAP relay: the card's own cost. */
  readonly vsWireThroughputRatio: number;
  readonly eniCounters: Record<string, number>;
}

export async function edgeFigures(say: (line: string) => void): Promise<EdgeFigures> {
  const tag = randomBytes(3).toString('hex');
  const card = await CardHarness.start();
  let net: EdgeNamespace | undefined;
  let nic: TapNic | undefined;
  const guestNs = `nitride-eg-${tag}`;
  let kernel: { pair: Pair; close: () => void } | undefined;
  let wire: { pair: Pair; close: () => void } | undefined;
  try {
    net = await EdgeNamespace.create(card.channel);
    await card.setRules('sg-bench', {
      ingress: [{ protocol: 'tcp', fromPort: 5201, toPort: 5201, cidrs: ['198.51.100.0/24'] }, { protocol: 'tcp', fromPort: CPS_PORT, toPort: CPS_PORT, cidrs: ['198.51.100.0/24'] }],
      egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }],
    });
    const e = eni('vpc-bench', '10.0.1.0/24', GUEST_IP, ['sg-bench'], { vpcCidr: '10.0.0.0/16', publicIp: PUBLIC_IP, internetRoute: true });
    const info = await card.addEni(e);
    sh([IP_TOOL, 'netns', 'add', guestNs]);
    const dev = `neg${tag}`;
    nic = await TapNic.open(dev, info.socketPath);
    sh([IP_TOOL, 'link', 'set', dev, 'netns', guestNs]);
    sh([IP_TOOL, '-n', guestNs, 'link', 'set', 'lo', 'up']);
    sh([IP_TOOL, '-n', guestNs, 'link', 'set', dev, 'address', e.mac]);
    sh([IP_TOOL, '-n', guestNs, 'addr', 'add', `${GUEST_IP}/24`, 'dev', dev]);
    sh([IP_TOOL, '-n', guestNs, 'link', 'set', dev, 'up']);
    sh([IP_TOOL, '-n', guestNs, 'route', 'add', 'default', 'via', '10.0.1.1']);
    kernel = kernelPair(tag);
    wire = tapWire(tag);
    const edgePair: Pair = { clientNs: net.ns, target: PUBLIC_IP, serverNs: guestNs };
    const tput = { edge: 0, kernel: 0, wire: 0 };
    for (let round = 0; round < 2; round++) {
      const k = await iperf(kernel.pair);
      const w = await iperf(wire.pair);
      const ed = await iperf(edgePair);
      tput.kernel = Math.max(tput.kernel, k);
      tput.wire = Math.max(tput.wire, w);
      tput.edge = Math.max(tput.edge, ed);
      say(`round ${round + 1}: iperf3 TCP ${SECONDS} s, kernel veth ${k.toFixed(2)} Gbit/s, two TAPs + bare relay ${w.toFixed(2)} Gbit/s, through the edge's public IP ${ed.toFixed(2)} Gbit/s`);
    }
    // One round of connections per second each: every connection leaves a record in the ENI's
    // connection table (TCP records idle out after 432 s; the table holds 16,384).
    const kc = await cps(kernel.pair);
    const wc = await cps(wire.pair);
    const ec = await cps(edgePair);
    say(`TCP connections per second (python3 connect/close, ${SECONDS} s): kernel veth ${Math.round(kc.cps)}, two TAPs + bare relay ${Math.round(wc.cps)}, through the edge ${Math.round(ec.cps)} (${ec.failed} failed)`);
    const counters = (await card.stats(e.eniId)).counters as unknown as Record<string, number>;
    return {
      seconds: SECONDS,
      edgeGbps: tput.edge,
      kernelGbps: tput.kernel,
      throughputRatio: tput.edge / Math.max(tput.kernel, 1e-9),
      edgeCps: ec.cps,
      kernelCps: kc.cps,
      cpsRatio: ec.cps / Math.max(kc.cps, 1e-9),
      edgeCpsFailed: ec.failed,
      wireGbps: tput.wire,
      wireCps: wc.cps,
      vsWireThroughputRatio: tput.edge / Math.max(tput.wire, 1e-9),
      eniCounters: Object.fromEntries(Object.entries(counters).filter(([k, v]) => v !== 0 && (k.startsWith('edge') || k.startsWith('dropped')))),
    };
  } finally {
    nic?.close();
    kernel?.close();
    wire?.close();
    spawnSync(IP_TOOL, ['netns', 'del', guestNs]);
    net?.close();
    await card.stop();
  }
}
