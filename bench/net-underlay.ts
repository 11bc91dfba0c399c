// npm run bench -- net-underlay: the cross-host figure of issue 5. Guest frames of 1500
// bytes between two network namespaces this bench creates (veth, 10.213.0.0/24 only inside
// them), through the real underlay bridges (src/vpc/underlay/bridge.ts), one process per
// namespace: this process plays both cards — it writes framed IPv4 frames into the unix
// socket the sending bridge reads (QEMU's stream framing, as the card delivers a remote
// ENI's frames) and counts what the receiving bridge writes into its socket. The bridges
// seal/open with AES-256-GCM (authentication, replay window) and carry one frame per UDP
// datagram. Two rounds in the same run: batched UDP (sendmmsg/recvmmsg, the default) and
// NITRIDE_UDP_BATCH=off (one dgram call per datagram). Also the sealing alone, in this
// process. Prints Gbit/s of guest frames delivered; the last line is a JSON object.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnderlayBridge, type UnderlayConfig } from '../src/vpc/underlay/bridge.js';
import { directionKey, Opener, Sealer } from '../src/vpc/underlay/seal.js';

const SECONDS = Number(process.env['NITRIDE_BENCH_SECONDS'] ?? 3);
const FRAME = 1500;
/** Bytes of frames the generator writes per chunk (about one 64 KiB socket read). */
const CHUNK_BYTES = 64 * 1024;
const IP = '/usr/sbin/ip';
const PORT = 4789;

export function cryptoOnly(FRAME: number): { sealGbps: number; openGbps: number } {
  const secret = randomBytes(32);
  const s = new Sealer(directionKey(secret, 1, 'a', 'b'), 1);
  const o = new Opener();
  o.addEpoch(1, directionKey(secret, 1, 'a', 'b'));
  const frame = randomBytes(FRAME);
  const ds: Buffer[] = [];
  let t0 = process.hrtime.bigint();
  let n = 0;
  const end = Date.now() + (SECONDS * 1000) / 2;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) {
      const d = s.seal(1, frame);
      if (ds.length < 200_000) ds.push(d);
    }
    n += 1000;
  }
  const sealS = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  let m = 0;
  for (const d of ds) if (o.open(d).ok) m++;
  const openS = Number(process.hrtime.bigint() - t0) / 1e9;
  return { sealGbps: (n * FRAME * 8) / sealS / 1e9, openGbps: (m * FRAME * 8) / openS / 1e9 };
}

/** A bridge process inside a namespace: started from the config, answers its counters on request. */
async function bridgeRole(cfgJson: string): Promise<void> {
  const b = await UnderlayBridge.start(JSON.parse(cfgJson) as UnderlayConfig);
  process.send?.({ ready: true, batched: b.batched });
  process.on('message', (m: { stats?: boolean }) => {
    if (m.stats) {
      process.send?.({ counters: b.counters });
      void b.close().then(() => process.disconnect());
    }
  });
}

/** `count` IPv4/UDP frames of FRAME bytes from A (10.0.1.10) to B (10.0.1.20), framed as QEMU's stream. */
function framedChunk(FRAME: number, count: number): Buffer {
  const f = Buffer.alloc(FRAME);
  Buffer.from([2, 0, 0, 0, 0, 0x20, 2, 0, 0, 0, 0, 0x10]).copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(FRAME - 14, 16);
  f[22] = 64;
  f[23] = 17;
  Buffer.from([10, 0, 1, 10, 10, 0, 1, 20]).copy(f, 26);
  const one = Buffer.alloc(4 + FRAME);
  one.writeUInt32BE(FRAME, 0);
  f.copy(one, 4);
  return Buffer.concat(Array.from({ length: count }, () => one));
}

export interface RoundResult {
  batched: boolean;
  written: number;
  delivered: number;
  seconds: number;
  gbps: number;
  framesPerSecond: number;
  sender: Record<string, number>;
  receiver: Record<string, number>;
}

/** One round: two bridges in the namespaces, this process as both cards. */
async function bridgeRound(ns1: string, ns2: string, batch: boolean, FRAME: number): Promise<RoundResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-bench-ul-'));
  chmodSync(dir, 0o700);
  const kids: ChildProcess[] = [];
  const servers: Server[] = [];
  const socks: Socket[] = [];
  try {
    const secret = randomBytes(32).toString('base64');
    const cardA = join(dir, 'a.sock'); // h-1's card: the socket of remote ENI B, which the bridge reads
    const cardB = join(dir, 'b.sock'); // h-2's card: the socket of remote ENI A, which the bridge writes
    let delivered = 0;
    let first = 0n;
    let last = 0n;
    let written = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / (4 + FRAME)));
    const chunk = framedChunk(FRAME, perChunk);
    const listen = (path: string, onConn: (s: Socket) => void): Promise<void> =>
      new Promise((r) => {
        const srv = createServer((s) => {
          socks.push(s);
          onConn(s);
        });
        servers.push(srv);
        srv.listen(path, () => r());
      });
    let sendingDone: () => void = () => undefined;
    const sending = new Promise<void>((r) => (sendingDone = r));
    await listen(cardA, (s) => {
      const pump = (): void => {
        while (Date.now() < stopAt) {
          written += perChunk;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        sendingDone();
      };
      stopAt = Date.now() + SECONDS * 1000;
      pump();
    });
    await listen(cardB, (s) => {
      let pending = 0; // bytes of the current frame still to skip
      let hdr = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        let i = 0;
        while (i < d.length) {
          if (pending > 0) {
            const n = Math.min(pending, d.length - i);
            pending -= n;
            i += n;
            if (pending === 0) {
              delivered++;
              last = process.hrtime.bigint();
              if (delivered === 1) first = last;
            }
            continue;
          }
          const need = 4 - hdr.length;
          hdr = Buffer.concat([hdr, d.subarray(i, i + need)]);
          i += Math.min(need, d.length - i);
          if (hdr.length === 4) {
            pending = hdr.readUInt32BE(0);
            hdr = Buffer.alloc(0);
          }
        }
      });
    });
    const cfg = (self: string, peer: string, selfIp: string, peerIp: string, remote: { eniId: string; ip: string; mac: string; socketPath: string }): UnderlayConfig => ({
      hostId: self,
      listenAddress: selfIp,
      listenPort: PORT,
      peers: [{ hostId: peer, address: peerIp, port: PORT, secret, epoch: 1 }],
      remoteEnis: [{ ...remote, hostId: peer, vni: 7, subnetCidr: '10.0.1.0/24' }],
    });
    const inNs = (ns: string, c: UnderlayConfig): ChildProcess => {
      const k = fork(fileURLToPath(import.meta.url), ['bridge', JSON.stringify(c)], {
        execPath: IP,
        execArgv: ['netns', 'exec', ns, process.execPath],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, NITRIDE_UDP_BATCH: batch ? 'on' : 'off' },
      });
      kids.push(k);
      return k;
    };
    const ready = (k: ChildProcess): Promise<{ batched: boolean }> => new Promise((r) => k.once('message', (m) => r(m as { batched: boolean })));
    // The receiver first (its bridge connects to cardB), then the sender (connects to cardA and the frames start).
    const rx = inNs(ns2, cfg('h-2', 'h-1', '10.213.0.2', '10.213.0.1', { eniId: 'eni-a', ip: '10.0.1.10', mac: '02:00:00:00:00:10', socketPath: cardB }));
    const rxReady = await ready(rx);
    const tx = inNs(ns1, cfg('h-1', 'h-2', '10.213.0.1', '10.213.0.2', { eniId: 'eni-b', ip: '10.0.1.20', mac: '02:00:00:00:00:20', socketPath: cardA }));
    const txReady = await ready(tx);
    if (rxReady.batched !== batch || txReady.batched !== batch) throw new Error(`the bridges run with batched=${txReady.batched}/${rxReady.batched}, wanted ${batch}`);
    await sending;
    await new Promise((r) => setTimeout(r, 500));
    const stats = (k: ChildProcess): Promise<Record<string, number>> =>
      new Promise((r) => {
        k.once('message', (m) => r((m as { counters: Record<string, number> }).counters));
        k.send({ stats: true });
      });
    const sender = await stats(tx);
    const receiver = await stats(rx);
    const seconds = Number(last - first) / 1e9;
    const gbps = (delivered * FRAME * 8) / Math.max(seconds, 1e-6) / 1e9;
    return { batched: batch, written, delivered, seconds, gbps, framesPerSecond: Math.round(delivered / Math.max(seconds, 1e-6)), sender, receiver };
  } finally {
    for (const k of kids) k.kill('SIGKILL');
    for (const s of socks) s.destroy();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function sh(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

export interface CrossHost {
  readonly frameBytes: number;
  readonly sealGbps: number;
  readonly openGbps: number;
  /** The best batched round (sendmmsg/recvmmsg, the default). */
  readonly batched: RoundResult;
  /** The best round with one dgram call per datagram, when measured. */
  readonly perDatagram: RoundResult | undefined;
}

/**
 * Frames of `frame` bytes from a card socket in one namespace to a card socket in another,
 * through two real bridges (sealed, authenticated, replay-checked): `rounds` batched rounds,
 * alternating with as many per-datagram rounds when `perDatagram`. Creates and deletes the
 * namespaces and the veth.
 */
export async function crossHost(frame: number, opts: { rounds?: number; perDatagram?: boolean; say?: (line: string) => void } = {}): Promise<CrossHost> {
  const say = opts.say ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const c = cryptoOnly(frame);
  say(`AES-256-GCM seal, one core, ${frame}-byte frames: ${c.sealGbps.toFixed(2)} Gbit/s; open: ${c.openGbps.toFixed(2)} Gbit/s`);
  const tag = randomBytes(3).toString('hex');
  const ns1 = `nitride-b1-${tag}`;
  const ns2 = `nitride-b2-${tag}`;
  try {
    sh([IP, 'netns', 'add', ns1]);
    sh([IP, 'netns', 'add', ns2]);
    sh([IP, 'link', 'add', `nb1${tag}`, 'type', 'veth', 'peer', 'name', `nb2${tag}`]);
    sh([IP, 'link', 'set', `nb1${tag}`, 'netns', ns1]);
    sh([IP, 'link', 'set', `nb2${tag}`, 'netns', ns2]);
    sh([IP, '-n', ns1, 'addr', 'add', '10.213.0.1/24', 'dev', `nb1${tag}`]);
    sh([IP, '-n', ns2, 'addr', 'add', '10.213.0.2/24', 'dev', `nb2${tag}`]);
    sh([IP, '-n', ns1, 'link', 'set', `nb1${tag}`, 'up']);
    sh([IP, '-n', ns2, 'link', 'set', `nb2${tag}`, 'up']);
    const rounds: RoundResult[] = [];
    const plan: boolean[] = [];
    for (let i = 0; i < (opts.rounds ?? 2); i++) plan.push(...(opts.perDatagram === false ? [true] : [true, false]));
    for (const batch of plan) {
      const r = await bridgeRound(ns1, ns2, batch, frame);
      rounds.push(r);
      const loss = r.written > 0 ? 1 - r.delivered / r.written : 0;
      say(
        `${frame}-byte frames, bridge → UDP → bridge across two namespaces, ${batch ? 'batched (sendmmsg/recvmmsg)' : 'one dgram call per datagram'}: ${r.gbps.toFixed(2)} Gbit/s delivered (${r.framesPerSecond} frames/s), written ${r.written}, delivered ${r.delivered} (${(loss * 100).toFixed(1)}% not delivered), receiver drops auth ${r.receiver['droppedAuth']} replay ${r.receiver['droppedReplay']} unsynced ${r.receiver['droppedUnsynced']}`,
      );
    }
    const best = (b: boolean): RoundResult | undefined => rounds.filter((r) => r.batched === b).sort((x, y) => y.gbps - x.gbps)[0];
    return { frameBytes: frame, sealGbps: c.sealGbps, openGbps: c.openGbps, batched: best(true)!, perDatagram: best(false) };
  } finally {
    spawnSync(IP, ['netns', 'del', ns1]);
    spawnSync(IP, ['netns', 'del', ns2]);
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'bridge') return bridgeRole(process.argv[3]!);
  const r = await crossHost(FRAME);
  const on = r.batched;
  const off = r.perDatagram!;
  process.stdout.write(`best of two: batched ${on.gbps.toFixed(2)} Gbit/s vs per-datagram ${off.gbps.toFixed(2)} Gbit/s → ${(on.gbps / Math.max(off.gbps, 1e-9)).toFixed(2)}×; goal ≥ 1 Gbit/s: ${on.gbps >= 1 ? 'met' : 'not met'}\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: 'net-underlay', seconds: SECONDS, frameBytes: FRAME, sealGbps: +r.sealGbps.toFixed(3), openGbps: +r.openGbps.toFixed(3), crossHostGbps: +on.gbps.toFixed(3), framesPerSecond: on.framesPerSecond, delivered: on.delivered, written: on.written, perDatagramGbps: +off.gbps.toFixed(3), batchedVsPerDatagram: +(on.gbps / Math.max(off.gbps, 1e-9)).toFixed(3), goalGbps: 1, goalMet: on.gbps >= 1 })}\n`,
  );
}

// Run as a program (or as a bridge role it forks); imported by bench/net.ts for crossHost().
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) void main();
