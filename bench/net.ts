// npm run bench -- net [--parts same,cross,guests,edge]: the figures of issue 5, in three parts.
//  same:   frames through the VPC card vs a bare relay, same host. A load generator (this
//          process) attaches as two ENIs over QEMU's stream socket protocol and sends UDP
//          frames A → B (same subnet, a security group admitting them, connection tracking
//          on), keeping a bounded number of frames in flight: 64-byte frames in one flow and
//          in 64 flows, and 1500-byte frames. The same generator drives the bare relay (the
//          smallest frame-copying program). Each figure is the better of two rounds,
//          alternating (the machine is shared).
//  cross:  frames between two namespaced hosts through the real underlay bridges, sealed with
//          AES-256-GCM (bench/net-underlay.ts): 1500-byte and 64-byte frames.
//  guests: two nitride-minimal guests on one card under QEMU: ping RTT and nc throughput
//          (bench/lib-net-guests.ts).
//  edge:   the VPC edge (issue 13): iperf3 throughput and TCP connections per second through a
//          public IP vs the same traffic routed by the kernel over veth (bench/net-edge.ts).
// Prints frames/s, Gbit/s and the ratios; the last line is one JSON object.
import { fork } from 'node:child_process';
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { distEntry } from '../src/lib/paths.js';
import { forkVpcCard } from '../src/vpc/client.js';
import { ipToInt, macToBytes } from '../src/vpc/protocol/addr.js';
import { buildEthernet, ETHERTYPE_IPV4 } from '../src/vpc/protocol/ethernet.js';
import { buildIpv4, IPPROTO_UDP } from '../src/vpc/protocol/ipv4.js';
import { buildUdp } from '../src/vpc/protocol/udp.js';
import { guestFigures, type GuestFigures } from './lib-net-guests.js';
import { crossHost, type CrossHost } from './net-underlay.js';
import { edgeFigures } from './net-edge.js';

const SECONDS = Number(process.env['NITRIDE_BENCH_SECONDS'] ?? 3);
/** Frames in flight: at most 32768 and 2 MiB, below the card's per-guest queue limit (a NIC ring). */
const WINDOW_BYTES = 2 * 1024 * 1024;
const WINDOW_FRAMES = 32768;
const BATCH = 256;
const MAC_A = '02:00:00:be:00:0a';
const MAC_B = '02:00:00:be:00:0b';
const IP_A = '10.77.0.10';
const IP_B = '10.77.0.11';

function udpFrame(size: number, sport = 40000): Buffer {
  const payload = Buffer.alloc(size - 14 - 20 - 8, 0x5a);
  const a = ipToInt(IP_A);
  const b = ipToInt(IP_B);
  return buildEthernet(macToBytes(MAC_B), macToBytes(MAC_A), ETHERTYPE_IPV4, buildIpv4({ src: a, dst: b, protocol: IPPROTO_UDP }, buildUdp(a, b, sport, 9, payload)));
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

/** QEMU's stream framing of one frame. */
function framed(f: Buffer): Buffer {
  const one = Buffer.alloc(4 + f.length);
  one.writeUInt32BE(f.length, 0);
  f.copy(one, 4);
  return one;
}

/**
 * Drives A → B for SECONDS; returns frames/s received at B. With `flows` > 1 the frames
 * cycle through that many UDP flows (source ports), so the card decides several flows at once.
 */
async function drive(pathA: string, pathB: string, size: number, flows = 1): Promise<{ fps: number; sent: number; received: number }> {
  const a = await connectTo(pathA);
  const b = await connectTo(pathB);
  const one = framed(udpFrame(size));
  const batch = Buffer.concat(Array.from({ length: BATCH }, (_, i) => framed(udpFrame(size, 40000 + (i % flows)))));
  let sent = 0;
  let received = 0;
  const window = Math.min(WINDOW_FRAMES, Math.floor(WINDOW_BYTES / one.length));
  let stop = false;
  let waitingDrain = false;
  const pump = (): void => {
    while (!stop && !waitingDrain && sent - received < window) {
      sent += BATCH;
      if (!a.write(batch)) {
        waitingDrain = true;
        a.once('drain', () => {
          waitingDrain = false;
          pump();
        });
      }
    }
  };
  // Every frame on B is one of ours, all the same length: count bytes.
  let bytes = 0;
  b.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    received = Math.floor(bytes / one.length);
    pump();
  });
  pump();
  await sleep(300);
  const r0 = received;
  const t0 = process.hrtime.bigint();
  await sleep(SECONDS * 1000);
  const r1 = received;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  stop = true;
  // Let what is in flight arrive before hanging up, so teardown is not counted as loss.
  for (let i = 0; i < 50 && received < sent; i++) await sleep(20);
  a.destroy();
  await sleep(50);
  b.destroy();
  await sleep(200); // the card notices both hang-ups before the next round connects
  return { fps: (r1 - r0) / dt, sent, received };
}

type SameHost = Record<string, { relayFps: number; cardFps: number; ratio: number; relayGbps: number; cardGbps: number; cardDrops: number }>;

async function sameHost(): Promise<SameHost> {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-bench-net-'));
  await chmod(dir, 0o711);
  const results: SameHost = {};
  try {
    // One flow (the figure the goal names), then 64 flows at once (so the card's per-flow
    // cache is not the only thing measured), then full-size frames.
    for (const { size, flows } of [{ size: 64, flows: 1 }, { size: 64, flows: 64 }, { size: 1500, flows: 1 }]) {
      const key = flows > 1 ? `${size}x${flows}flows` : String(size);
      // Bare relay.
      const relayA = join(dir, `relay-a-${key}.sock`);
      const relayB = join(dir, `relay-b-${key}.sock`);
      const relay = fork(distEntry('vpc/testing/bare-relay.js'), [relayA, relayB], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
      await new Promise<void>((r) => relay.stdout?.once('data', () => r()));
      // Two rounds each, alternating, best kept: the machine is shared and noisy.
      const rr1 = await drive(relayA, relayB, size, flows);

      // The card, forked as the controller forks it.
      const card = forkVpcCard(join(dir, `card-${key}`), { stdio: 'inherit' });
      await card.ready;
      await card.request('sg.set', { groupId: 'sg-bench', rules: { ingress: [{ protocol: 'udp', fromPort: 9, toPort: 9, cidrs: [`${IP_A}/32`] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] } });
      const base = { subnetCidr: '10.77.0.0/24', vpcId: 'vpc-bench', securityGroups: ['sg-bench'], sourceDestCheck: true, mtu: 1500 };
      const ea = (await card.request('eni.add', { eni: { ...base, eniId: 'eni-a', mac: MAC_A, ip: IP_A, hostname: 'a' } }));
      const eb = (await card.request('eni.add', { eni: { ...base, eniId: 'eni-b', mac: MAC_B, ip: IP_B, hostname: 'b' } }));
      const cr1 = await drive(ea.socketPath, eb.socketPath, size, flows);
      const rr2 = await drive(relayA, relayB, size, flows);
      relay.kill('SIGKILL');
      const cr2 = await drive(ea.socketPath, eb.socketPath, size, flows);
      const rr = rr1.fps >= rr2.fps ? rr1 : rr2;
      const cr = cr1.fps >= cr2.fps ? cr1 : cr2;
      const stats = await card.request('eni.stats', { eniId: 'eni-b' });
      const statsA = await card.request('eni.stats', { eniId: 'eni-a' });
      await card.kill();
      const drops = stats.counters.droppedTxQueueFull + stats.counters.droppedSecurityGroupIngress + statsA.counters.droppedMalformed;
      const gbps = (fps: number) => (fps * size * 8) / 1e9;
      results[key] = { relayFps: Math.round(rr.fps), cardFps: Math.round(cr.fps), ratio: Number((cr.fps / rr.fps).toFixed(3)), relayGbps: Number(gbps(rr.fps).toFixed(3)), cardGbps: Number(gbps(cr.fps).toFixed(3)), cardDrops: drops };
      process.stdout.write(
        `${String(size).padStart(4)}-byte frames, ${String(flows).padStart(2)} flow${flows > 1 ? 's' : ' '}: bare relay ${Math.round(rr.fps).toLocaleString('en')} frames/s (${gbps(rr.fps).toFixed(2)} Gbit/s), ` +
          `card ${Math.round(cr.fps).toLocaleString('en')} frames/s (${gbps(cr.fps).toFixed(2)} Gbit/s), ratio ${(cr.fps / rr.fps).toFixed(2)}×, card drops ${drops}\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

const round3 = (x: number): number => Number(x.toFixed(3));

function crossSummary(c: CrossHost): Record<string, number | null> {
  return {
    frameBytes: c.frameBytes,
    gbps: round3(c.batched.gbps),
    framesPerSecond: c.batched.framesPerSecond,
    delivered: c.batched.delivered,
    written: c.batched.written,
    perDatagramGbps: c.perDatagram ? round3(c.perDatagram.gbps) : null,
    sealGbpsOneCore: round3(c.sealGbps),
    openGbpsOneCore: round3(c.openGbps),
  };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--parts');
  const parts = new Set((i > 0 ? (process.argv[i + 1] ?? '') : 'same,cross,guests,edge').split(','));
  const out: Record<string, unknown> = { bench: 'net', seconds: SECONDS };
  const goals: Record<string, boolean> = {};
  if (parts.has('same')) {
    process.stdout.write('== same host: VPC card vs bare relay\n');
    const results = await sameHost();
    const r64 = results['64'];
    goals['sameHost64RatioAtLeast0.5'] = r64 !== undefined && r64.ratio >= 0.5;
    process.stdout.write(`same-host goal (card ≥ 0.5× bare relay frames/s at 64 bytes): ${goals['sameHost64RatioAtLeast0.5'] ? 'met' : 'NOT met'}\n`);
    out['sameHost'] = { windowFrames: WINDOW_FRAMES, windowBytes: WINDOW_BYTES, results };
  }
  if (parts.has('cross')) {
    process.stdout.write('== across two namespaced hosts: underlay bridges, AES-256-GCM\n');
    const say = (l: string): void => void process.stdout.write(`${l}\n`);
    const big = await crossHost(1500, { say });
    const small = await crossHost(64, { say, perDatagram: false });
    goals['crossHost1500AtLeast1Gbps'] = big.batched.gbps >= 1;
    process.stdout.write(
      `across hosts, sealed: 1500-byte frames ${big.batched.gbps.toFixed(2)} Gbit/s (${big.batched.framesPerSecond.toLocaleString('en')} frames/s; per-datagram UDP ${big.perDatagram?.gbps.toFixed(2) ?? '-'} Gbit/s), ` +
        `64-byte frames ${small.batched.framesPerSecond.toLocaleString('en')} frames/s (${small.batched.gbps.toFixed(3)} Gbit/s)\n`,
    );
    process.stdout.write(`cross-host goal (≥ 1 Gbit/s at 1500 bytes): ${goals['crossHost1500AtLeast1Gbps'] ? 'met' : 'NOT met'}\n`);
    out['crossHost'] = { '1500': crossSummary(big), '64': crossSummary(small) };
  }
  if (parts.has('guests')) {
    process.stdout.write('== guests under QEMU on one card (two subnets: every packet routed by the card)\n');
    const g: GuestFigures = await guestFigures((l) => void process.stdout.write(`${l}\n`));
    process.stdout.write(
      `guest to guest (${g.accelerator}): ping ${g.pingsReceived}/${g.pingsSent} answered, RTT min/avg/max ${g.rttMs.min}/${g.rttMs.avg}/${g.rttMs.max} ms; ` +
        `busybox nc ${g.ncBytes / 1048576} MiB in ${g.ncSeconds} s = ${g.ncMbps.toFixed(1)} Mbit/s (md5 checked)\n`,
    );
    out['guests'] = { ...g, ncMbps: round3(g.ncMbps) };
  }
  if (parts.has('edge')) {
    process.stdout.write('== the VPC edge: a namespace reaching a guest stack at its public IP (1:1 NAT, security groups) vs kernel routing over veth\n');
    const e = await edgeFigures((l) => void process.stdout.write(`${l}\n`));
    goals['edgeThroughputAtLeast0.5xKernel'] = e.throughputRatio >= 0.5;
    process.stdout.write(
      `edge: iperf3 ${e.edgeGbps.toFixed(2)} Gbit/s vs kernel ${e.kernelGbps.toFixed(2)} Gbit/s = ${e.throughputRatio.toFixed(3)}×; ` +
        `${Math.round(e.edgeCps)} vs ${Math.round(e.kernelCps)} connections/s = ${e.cpsRatio.toFixed(3)}×; vs two TAPs + bare relay ${e.wireGbps.toFixed(2)} Gbit/s = ${e.vsWireThroughputRatio.toFixed(3)}×\n`,
    );
    process.stdout.write(`edge goal (≥ 0.5× kernel throughput): ${goals['edgeThroughputAtLeast0.5xKernel'] ? 'met' : 'NOT met'}\n`);
    out['edge'] = { ...e, edgeGbps: round3(e.edgeGbps), kernelGbps: round3(e.kernelGbps), throughputRatio: round3(e.throughputRatio), edgeCps: Math.round(e.edgeCps), kernelCps: Math.round(e.kernelCps), cpsRatio: round3(e.cpsRatio), wireGbps: round3(e.wireGbps), wireCps: Math.round(e.wireCps), vsWireThroughputRatio: round3(e.vsWireThroughputRatio) };
  }
  out['goals'] = goals;
  // With no goal measured (parts without one), say so rather than report them met.
  const measured = Object.values(goals);
  out['goalsMet'] = measured.length === 0 ? null : measured.every(Boolean);
  if (measured.length === 0) process.stdout.write('no goal was measured in the parts run\n');
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

void main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench net failed: ${String(e)}\n`);
  process.exit(1);
});
