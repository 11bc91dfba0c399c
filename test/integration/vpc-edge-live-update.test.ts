// A live update of the VPC card keeps a TCP connection through the edge open: the controller's
// HostVpcCard attaches the public side (a TAP device in this namespace, bridged by the test to
// a veth whose other end is in a namespace the test creates), a client there holds a TCP
// connection to a synthetic guest's public IP, and HostVpcCard.liveUpdate() replaces the card
// between two exchanges on that connection. The old card makes the device persistent and
// closes it, the new one opens it again by name with the same MAC, neighbours and connection
// tracking. Nothing is addressed outside the test's namespace.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HostVpcCard } from '../../src/controller/cards/vpc.js';
import { createLogger } from '../../src/lib/log.js';
import { waitFor } from '../../src/lib/wait.js';
import { macToBytes } from '../../src/vpc/protocol/addr.js';
import { TCP_ACK, TCP_PSH, TCP_SYN, seqAdd } from '../../src/vpc/protocol/tcp.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import { VpcCard } from '../../src/vpc/card.js';
import { eni } from '../../src/vpc/testing/card-harness.js';
import { IP_TOOL } from '../../src/vpc/testing/edge-netns.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';

const R = macToBytes(ROUTER_MAC);
const PUB = '198.51.100.20';

function sh(args: string[]): void {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/**
 * Joins the TAP device `iface` (left in this namespace: the next card opens it by name) to a new
 * namespace through an L2 bridge and a veth, with no address on this side; 198.51.100.1/24 in there.
 */
async function bridgeToNamespace(iface: string, tag: string): Promise<{ ns: string; close: () => void }> {
  const br = `nbr${tag}`;
  const vh = `nvh${tag}`;
  const vn = `nvn${tag}`;
  const ns = `nitride-edgelu-${tag}`;
  const close = (): void => {
    spawnSync(IP_TOOL, ['netns', 'del', ns]);
    for (const d of [br, vh]) spawnSync(IP_TOOL, ['link', 'del', d]);
  };
  try {
    sh([IP_TOOL, 'netns', 'add', ns]);
    sh([IP_TOOL, 'link', 'add', br, 'type', 'bridge']);
    sh([IP_TOOL, 'link', 'add', vh, 'type', 'veth', 'peer', 'name', vn]);
    for (const d of [br, vh, iface]) await writeFile(`/proc/sys/net/ipv6/conf/${d}/disable_ipv6`, '1');
    sh([IP_TOOL, 'link', 'set', iface, 'master', br]);
    sh([IP_TOOL, 'link', 'set', vh, 'master', br]);
    sh([IP_TOOL, 'link', 'set', vn, 'netns', ns]);
    for (const d of [br, vh, iface]) sh([IP_TOOL, 'link', 'set', d, 'up']);
    sh([IP_TOOL, '-n', ns, 'link', 'set', 'lo', 'up']);
    sh([IP_TOOL, 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh([IP_TOOL, '-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', vn]);
    sh([IP_TOOL, '-n', ns, 'link', 'set', vn, 'up']);
  } catch (e) {
    close();
    throw e;
  }
  return { ns, close };
}

/** A TCP echo server on the guest's `port`, from frames: every new byte is acknowledged and sent back. */
function echoServer(g: SimGuest, port: number): { seen: () => number; stop: () => void } {
  let stopped = false;
  let exchanges = 0;
  let seq = 5000;
  let ack = 0;
  let peer = 0;
  let peerPort = 0;
  void (async () => {
    while (!stopped) {
      const f = await g.waitFrame((x) => SimGuest.tcp(x)?.dstPort === port, 500, 'a segment').catch(() => undefined);
      const t = f && SimGuest.tcp(f);
      if (!t) continue;
      if (t.flags & TCP_SYN) {
        peer = t.src;
        peerPort = t.srcPort;
        ack = seqAdd(t.seq, 1);
        g.send(g.tcpSegment(R, peer, { sport: port, dport: peerPort, seq, ack, flags: TCP_SYN | TCP_ACK }));
        seq = seqAdd(seq, 1);
        continue;
      }
      if (t.payload.length === 0) continue;
      if (t.seq !== ack) {
        // A retransmission of what was answered already (or out of order): acknowledge what we have.
        g.send(g.tcpSegment(R, peer, { sport: port, dport: peerPort, seq, ack, flags: TCP_ACK }));
        continue;
      }
      ack = seqAdd(ack, t.payload.length);
      g.send(g.tcpSegment(R, peer, { sport: port, dport: peerPort, seq, ack, flags: TCP_ACK | TCP_PSH }, Buffer.from(t.payload)));
      seq = seqAdd(seq, t.payload.length);
      exchanges++;
    }
  })();
  return { seen: () => exchanges, stop: () => (stopped = true) };
}

test('a TCP connection through the edge survives a live update of the VPC card', { timeout: 120_000 }, async () => {
  const tag = randomBytes(3).toString('hex');
  const iface = `nep${tag}`;
  let wire: { ns: string; close: () => void } | undefined;
  const home = await mkdtemp(join(tmpdir(), 'nitride-edgelu-'));
  const host = new HostVpcCard({ home, log: createLogger('edge-live-test', () => undefined), publicSide: { iface, cidr: '198.51.100.0/24', gateway: '198.51.100.1' } });
  host.start();
  let guest: SimGuest | undefined;
  let echo: { stop: () => void; seen: () => number } | undefined;
  const client = { proc: undefined as ReturnType<typeof spawn> | undefined, out: '' };
  try {
    const edge = (await host.edgeStats()) as { attached: boolean; iface: string; persist: boolean };
    assert.equal(edge.attached, true, 'the controller attached the public side');
    assert.equal(edge.persist, true);
    wire = await bridgeToNamespace(iface, tag);
    const ns = wire.ns;

    await host.supervisor.request('sg.set', { groupId: 'sg-lu', rules: { ingress: [{ protocol: 'tcp', fromPort: 7777, toPort: 7777, cidrs: ['198.51.100.0/24'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] } }, 10_000);
    const A = eni('vpc-lu', '10.0.1.0/24', '10.0.1.10', ['sg-lu'], { vpcCidr: '10.0.0.0/16', publicIp: PUB, internetRoute: true });
    const info = await host.supervisor.request('eni.add', { eni: A }, 10_000);
    guest = await SimGuest.connect(info.socketPath, A.mac, A.ip);
    echo = echoServer(guest, 7777);

    // The client: one connection, a line per stdin line, each echoed line printed.
    const py = 'import socket,sys\ns=socket.create_connection((sys.argv[1],7777),timeout=20)\nfor line in sys.stdin:\n  s.sendall(line.encode())\n  print(s.recv(100).decode().strip(),flush=True)\n';
    client.proc = spawn(IP_TOOL, ['netns', 'exec', ns, 'python3', '-c', py, PUB], { stdio: ['pipe', 'pipe', 'pipe'] });
    client.proc.stdout?.on('data', (d: Buffer) => (client.out += d.toString()));
    client.proc.stderr?.on('data', (d: Buffer) => (client.out += d.toString()));
    client.proc.stdin?.write('before-update\n');
    await waitFor('the echo before the update', () => client.out.includes('before-update'), 20_000, 50);

    const r = await host.liveUpdate();
    assert.notEqual(r.pid, r.liveUpdate.oldPid, 'a new card process');
    const after = (await host.edgeStats()) as { attached: boolean; iface: string; mappings: { publicIp: string }[] };
    assert.equal(after.attached, true, 'the new card has the public side');
    assert.equal(after.iface, iface);
    assert.ok(after.mappings.some((m) => m.publicIp === PUB));

    client.proc.stdin?.write('after-update\n');
    await waitFor('the echo after the update, on the same connection', () => client.out.includes('after-update'), 30_000, 50);
    assert.equal(echo.seen(), 2, 'two exchanges on one connection (no new SYN)');
    const s = await host.supervisor.request('eni.stats', { eniId: A.eniId }, 10_000);
    assert.ok(s.counters.edgeInFrames > 0, 'the new card carried the flow through its edge');
  } finally {
    client.proc?.kill('SIGKILL');
    echo?.stop();
    guest?.close();
    await host.stop();
    wire?.close();
    spawnSync(IP_TOOL, ['link', 'del', iface]); // persistent: it outlives the card
    await rm(home, { recursive: true, force: true });
  }
});

test('a hand-over that fails before any socket left: the old card thaws, opens its public side again and answers', { timeout: 60_000 }, async () => {
  const tag = randomBytes(3).toString('hex');
  const iface = `nep${tag}`;
  const dir = await mkdtemp(join(tmpdir(), 'nitride-edgethaw-'));
  await chmod(dir, 0o711);
  const card = await VpcCard.create({ socketDir: join(dir, 'sockets'), socketGid: 0 });
  let wire: { ns: string; close: () => void } | undefined;
  let guest: SimGuest | undefined;
  try {
    card.attachPublicSide({ iface, cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    wire = await bridgeToNamespace(iface, tag);
    card.setRules('sg-t', { ingress: [{ protocol: 'icmp', cidrs: ['198.51.100.0/24'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
    const A = eni('vpc-t', '10.0.1.0/24', '10.0.1.10', ['sg-t'], { vpcCidr: '10.0.0.0/16', publicIp: PUB, internetRoute: true });
    const info = await card.addEni(A);
    guest = await SimGuest.connect(info.socketPath, A.mac, A.ip);
    guest.answerPings();
    const ping = (): Promise<number> => new Promise((resolve) => {
      const p = spawn(IP_TOOL, ['netns', 'exec', (wire as { ns: string }).ns, 'busybox', 'ping', '-c', '1', '-W', '3', PUB], { stdio: 'ignore' });
      p.once('close', (code) => resolve(code ?? -1));
    });
    assert.equal(await ping(), 0, 'ping before the freeze');
    const state = await card.freeze();
    assert.equal(state.edge?.side.iface, iface, 'the freeze hands the public side over');
    assert.equal(card.edgeStats().attached, false, 'a frozen card sends nothing on the public side');
    card.thaw();
    assert.equal(card.edgeStats().attached, true);
    const after = await ping();
    assert.equal(after, 0, `ping after the thaw: the device was opened again and is read ${JSON.stringify(card.edgeStats())} ${JSON.stringify(card.stats(A.eniId).counters)}`);
  } finally {
    guest?.close();
    await card.close();
    wire?.close();
    spawnSync(IP_TOOL, ['link', 'del', iface]);
    await rm(dir, { recursive: true, force: true });
  }
});
