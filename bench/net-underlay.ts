// npm run bench -- net-underlay: the cross-host figure of issue 5. Guest frames of 1500
// bytes sealed with AES-256-GCM (src/vpc/underlay/seal.ts) and sent as UDP between two
// network namespaces this bench creates (veth, 10.213.0.0/24 only inside them): a sender in
// one namespace seals and sends as fast as it can on one core, a receiver in the other opens
// (authentication, replay window) and counts. Also the sealing alone, in this process.
// Prints Gbit/s of guest frames delivered; the last line is a JSON object.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { directionKey, Opener, Sealer } from '../src/vpc/underlay/seal.js';

const SECONDS = Number(process.env['NITRIDE_BENCH_SECONDS'] ?? 3);
const FRAME = 1500;
const IP = '/usr/sbin/ip';
const PORT = 4789;

function cryptoOnly(): { sealGbps: number; openGbps: number } {
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

async function sender(secret: Buffer, to: string): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '10.213.0.1', () => r()));
  const s = new Sealer(directionKey(secret, 1, 'h-1', 'h-2'), 1);
  const frame = randomBytes(FRAME);
  const end = Date.now() + SECONDS * 1000;
  let sent = 0;
  // Keep a bounded number of datagrams in flight: batches of 32 sends, the last of each with
  // a callback, at most 16 batches outstanding. The loop measures sealing and sending.
  await new Promise<void>((done) => {
    let batches = 0;
    const pump = (): void => {
      while (batches < 16 && Date.now() < end) {
        batches++;
        for (let i = 0; i < 31; i++) sock.send(s.seal(1, frame), PORT, to);
        sock.send(s.seal(1, frame), PORT, to, () => {
          batches--;
          if (Date.now() < end) pump();
          else if (batches === 0) done();
        });
        sent += 32;
      }
    };
    pump();
  });
  process.send?.({ sent });
  sock.close();
}

async function receiver(secret: Buffer): Promise<void> {
  const sock = createSocket({ type: 'udp4', recvBufferSize: 16 * 1024 * 1024 });
  const o = new Opener();
  o.addEpoch(1, directionKey(secret, 1, 'h-1', 'h-2'));
  let ok = 0;
  let bad = 0;
  let first = 0n;
  let last = 0n;
  sock.on('message', (m) => {
    const r = o.open(m);
    if (r.ok) {
      if (ok === 0) first = process.hrtime.bigint();
      ok++;
      last = process.hrtime.bigint();
    } else bad++;
  });
  await new Promise<void>((r) => sock.bind(PORT, '10.213.0.2', () => r()));
  process.send?.({ ready: true });
  process.on('message', (m: { stop?: boolean }) => {
    if (m.stop) {
      process.send?.({ ok, bad, seconds: Number(last - first) / 1e9 });
      sock.close();
      process.disconnect();
    }
  });
}

function sh(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'sender') return sender(Buffer.from(process.argv[3]!, 'base64'), '10.213.0.2');
  if (role === 'receiver') return receiver(Buffer.from(process.argv[3]!, 'base64'));

  const c = cryptoOnly();
  process.stdout.write(`AES-256-GCM seal, one core, ${FRAME}-byte frames: ${c.sealGbps.toFixed(2)} Gbit/s; open: ${c.openGbps.toFixed(2)} Gbit/s\n`);
  const tag = randomBytes(3).toString('hex');
  const ns1 = `nitride-b1-${tag}`;
  const ns2 = `nitride-b2-${tag}`;
  const kids: ChildProcess[] = [];
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
    const secret = randomBytes(32).toString('base64');
    const self = fileURLToPath(import.meta.url);
    const inNs = (ns: string, r: string): ChildProcess => {
      const k = fork(self, [r, secret], { execPath: IP, execArgv: ['netns', 'exec', ns, process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      kids.push(k);
      return k;
    };
    const rx = inNs(ns2, 'receiver');
    await new Promise((r) => rx.once('message', r));
    const tx = inNs(ns1, 'sender');
    const sent = (await new Promise((r) => tx.once('message', r))) as { sent: number };
    await new Promise((r) => setTimeout(r, 300));
    rx.send({ stop: true });
    const got = (await new Promise((r) => rx.once('message', r))) as { ok: number; bad: number; seconds: number };
    const gbps = (got.ok * FRAME * 8) / Math.max(got.seconds, 1e-6) / 1e9;
    const loss = sent.sent > 0 ? 1 - got.ok / sent.sent : 0;
    process.stdout.write(`across two namespaced hosts, AES-256-GCM, ${FRAME}-byte frames: ${gbps.toFixed(2)} Gbit/s delivered (${Math.round(got.ok / Math.max(got.seconds, 1e-6))} frames/s), sent ${sent.sent}, opened ${got.ok}, refused ${got.bad}, loss ${(loss * 100).toFixed(1)}%\n`);
    process.stdout.write(`${JSON.stringify({ bench: 'net-underlay', seconds: SECONDS, frameBytes: FRAME, sealGbps: +c.sealGbps.toFixed(3), openGbps: +c.openGbps.toFixed(3), crossHostGbps: +gbps.toFixed(3), framesPerSecond: Math.round(got.ok / Math.max(got.seconds, 1e-6)), sent: sent.sent, delivered: got.ok, goalGbps: 1, goalMet: gbps >= 1 })}\n`);
  } finally {
    for (const k of kids) k.kill('SIGKILL');
    spawnSync(IP, ['netns', 'del', ns1]);
    spawnSync(IP, ['netns', 'del', ns2]);
  }
}

void main();
