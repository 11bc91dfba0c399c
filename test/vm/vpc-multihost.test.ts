// Two hosts' VPC cards joined by the encrypted underlay, with real guests. Each "host" is a
// VPC card plus an underlay bridge running in a network namespace this test creates
// (ip netns + a veth pair, 10.213.0.1 and 10.213.0.2 — addresses that exist only inside
// those namespaces, deleted in finally). The cards listen on unix sockets only; the
// bridges' UDP socket is the only traffic between the namespaces. Guest A on host 1
// (10.0.1.10) and guest B on host 2 (10.0.2.10, another subnet of the same VPC) ping each
// other and move 1 MiB of a recognisable pattern with busybox nc; a tcpdump capture on the
// veth must hold the UDP datagrams and never the pattern. The guest MTU comes from DHCP
// (1420, room for the 64-byte encapsulation at a 1500-byte underlay MTU).
import assert from 'node:assert/strict';
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { HypervisorEvent, InstanceSpec } from '../../src/hypervisor/protocol/messages.js';
import { MARKERS } from '../../src/image/markers.js';
import { distEntry } from '../../src/lib/paths.js';
import { waitFor } from '../../src/lib/wait.js';
import type { EniInfo } from '../../src/vpc/card.js';
import type { EniConfig, GroupRules } from '../../src/vpc/model.js';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import type { RemoteEni, UnderlayConfig } from '../../src/vpc/underlay/bridge.js';
import type { UnderlayContract } from '../../src/vpc/protocol/underlay.js';
import { ChildChannel } from '../../src/lib/channel/child.js';
import { instanceSpec, until, withHypervisor, consoleOf, waitLine } from './hypervisor-fixtures.js';

const BOOT_MS = 150_000;
const PATTERN = 'NITRIDE-PLAINTEXT-PATTERN-5f1c';
const UNDERLAY_PORT = 4789;
const IP = '/usr/sbin/ip';

const SG: GroupRules = {
  ingress: [
    { protocol: 'icmp', cidrs: ['10.0.0.0/16'] },
    { protocol: 'tcp', fromPort: 7000, toPort: 7000, groupIds: ['sg-web'] },
  ],
  egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }],
};

const userData = (s: string): string => Buffer.from(`#!/bin/sh\n${s}\n`).toString('base64');

const A_SCRIPT = `
echo "vpctest: a mtu $(cat /sys/class/net/eth0/mtu)"
printf '#!/bin/sh\\ncat >/run/r7000\\n' >/run/recv7000; chmod +x /run/recv7000
(nc -l -p 7000 -e /run/recv7000; echo "vpctest: a got7000 $(wc -c </run/r7000) $(md5sum </run/r7000 | cut -c1-32)") &
echo "vpctest: a listening"`;

const B_SCRIPT = `
echo "vpctest: b mtu $(cat /sys/class/net/eth0/mtu)"
ping -c 10 -i 0.3 -W 2 10.0.1.10 >/run/ping.txt 2>&1 && echo "vpctest: b ping a ok $(grep -o 'min/avg/max = [0-9./]*' /run/ping.txt)" || echo "vpctest: b ping a failed $(tail -n 2 /run/ping.txt | tr '\\n' ' ')"
i=0; : >/run/data; while [ $i -lt 34000 ]; do echo "${PATTERN}" ; i=$((i+1)); done | head -c 1048576 >/run/data
echo "vpctest: b sending $(md5sum </run/data | cut -c1-32)"
sleep 2
time -o /run/time.txt -p timeout 120 nc -w 5 10.0.1.10 7000 </run/data; rc=$?
echo "vpctest: b nc7000 rc=$rc seconds=$(sed -n 's/^real //p' /run/time.txt)"`;

/** Complete packet records in a pcap file (a record being written at its end is not counted). */
function pcapRecords(buf: Buffer): number {
  if (buf.length < 24) return 0;
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  let n = 0;
  for (let off = 24; off + 16 <= buf.length; n++) {
    const len = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    if (off + 16 + len > buf.length) break;
    off += 16 + len;
  }
  return n;
}

function sh(args: readonly string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.error) throw new Error(`${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

type Bridge = ChildChannel<UnderlayContract>;

async function forkBridge(ns: string): Promise<Bridge> {
  // `ip netns exec NS node main.js`: fork's IPC channel survives the exec. Driven by the
  // channel client the controller drives its bridge with.
  const child = fork(distEntry('vpc/underlay/main.js'), [], { execPath: IP, execArgv: ['netns', 'exec', ns, process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  const b = new ChildChannel<UnderlayContract>(child, { component: 'underlay', readyEvent: 'underlay.ready' });
  await b.ready;
  return b;
}

test('vm vpc across two namespaced hosts: ping and nc through the AES-256-GCM underlay; the veth capture holds no plaintext', { timeout: 900_000 }, async () => {
  for (const tool of [IP, '/usr/bin/tcpdump']) if (spawnSync(tool, ['--version']).error) throw new Error(`${tool} is required for this test`);
  const tag = randomBytes(3).toString('hex');
  const ns1 = `nitride-u1-${tag}`;
  const ns2 = `nitride-u2-${tag}`;
  const v1 = `nu1${tag}`;
  const v2 = `nu2${tag}`;
  const work = await mkdtemp(join(tmpdir(), 'nitride-underlay-'));
  const pcap = join(work, 'veth.pcap');
  const cards: CardHarness[] = [];
  const bridges: Bridge[] = [];
  let dump: ChildProcess | undefined;
  let failed = true;
  let crossed = 0;
  try {
    sh([IP, 'netns', 'add', ns1]);
    sh([IP, 'netns', 'add', ns2]);
    sh([IP, 'link', 'add', v1, 'type', 'veth', 'peer', 'name', v2]);
    sh([IP, 'link', 'set', v1, 'netns', ns1]);
    sh([IP, 'link', 'set', v2, 'netns', ns2]);
    sh([IP, '-n', ns1, 'addr', 'add', '10.213.0.1/24', 'dev', v1]);
    sh([IP, '-n', ns2, 'addr', 'add', '10.213.0.2/24', 'dev', v2]);
    for (const [ns, v] of [[ns1, v1], [ns2, v2]] as const) {
      sh([IP, '-n', ns, 'link', 'set', 'lo', 'up']);
      sh([IP, '-n', ns, 'link', 'set', v, 'up']);
    }
    dump = spawn(IP, ['netns', 'exec', ns1, '/usr/bin/tcpdump', '-i', v1, '-U', '-n', '-B', '16384', '-w', pcap, 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let dumpErr = '';
    dump.stderr?.on('data', (d: Buffer) => (dumpErr += d.toString()));
    await until('tcpdump listening', () => dumpErr.includes('listening on'), 10_000);

    const c1 = await CardHarness.start();
    cards.push(c1);
    const c2 = await CardHarness.start();
    cards.push(c2);
    for (const c of cards) await c.setRules('sg-web', SG);

    await withHypervisor(async (h) => {
      const sa = await instanceSpec('t3.nano');
      const sb = await instanceSpec('t3.nano');
      const A = eni('vpc-a', '10.0.1.0/24', '10.0.1.10', ['sg-web'], { mtu: 1420, imds: imds(sa.instanceId, { userDataBase64: userData(A_SCRIPT) }) });
      const B = eni('vpc-a', '10.0.2.0/24', '10.0.2.10', ['sg-web'], { mtu: 1420, imds: imds(sb.instanceId, { userDataBase64: userData(B_SCRIPT) }) });
      const remoteOf = (e: EniConfig): EniConfig => {
        const { imds: _imds, ...rest } = e;
        return rest;
      };
      const aLocal = await c1.addEni(A);
      const bRemoteOn1 = await c1.addEni(remoteOf(B));
      const bLocal = await c2.addEni(B);
      const aRemoteOn2 = await c2.addEni(remoteOf(A));

      const secret = randomBytes(32).toString('base64');
      const remote = (e: EniConfig, host: string, info: EniInfo): RemoteEni => ({ eniId: e.eniId, hostId: host, vni: 1, ip: e.ip, mac: e.mac, subnetCidr: e.subnetCidr, socketPath: info.socketPath });
      const cfg1: UnderlayConfig = { hostId: 'h-1', listenAddress: '10.213.0.1', listenPort: UNDERLAY_PORT, peers: [{ hostId: 'h-2', address: '10.213.0.2', port: UNDERLAY_PORT, secret, epoch: 1 }], remoteEnis: [remote(B, 'h-2', bRemoteOn1)] };
      const cfg2: UnderlayConfig = { hostId: 'h-2', listenAddress: '10.213.0.2', listenPort: UNDERLAY_PORT, peers: [{ hostId: 'h-1', address: '10.213.0.1', port: UNDERLAY_PORT, secret, epoch: 1 }], remoteEnis: [remote(A, 'h-1', aRemoteOn2)] };
      const b1 = await forkBridge(ns1);
      bridges.push(b1);
      const b2 = await forkBridge(ns2);
      bridges.push(b2);
      await b1.request('underlay.start', cfg1);
      await b2.request('underlay.start', cfg2);

      const boot = async (spec: InstanceSpec, cfg: EniConfig, info: EniInfo): Promise<void> => {
        const ready = h.channel.waitEvent((e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === spec.instanceId, BOOT_MS);
        await h.channel.request('instance.start', { spec: { ...spec, nics: [{ mac: cfg.mac, socketPath: info.socketPath }] } });
        await ready;
      };
      await boot(sa, A, aLocal);
      await waitLine(h, sa.instanceId, /vpctest: a listening/, 60_000);
      const ac = await consoleOf(h, sa.instanceId);
      assert.ok(ac.includes(`${MARKERS.network} up 10.0.1.10`), ac);
      assert.ok(ac.includes('vpctest: a mtu 1420'), `DHCP option 26 lowers the guest MTU\n${ac}`);

      await boot(sb, B, bLocal);
      const ping = await waitLine(h, sb.instanceId, /vpctest: b ping a (ok|failed).*/, 90_000);
      assert.match(ping, /ok/, await consoleOf(h, sb.instanceId));
      process.stderr.write(`[vm] guest ping across two hosts through the underlay (TCG): ${ping}\n`);
      const sum = (await waitLine(h, sb.instanceId, /vpctest: b sending [0-9a-f]{32}/, 90_000)).slice(-32);
      const nc = await waitLine(h, sb.instanceId, /vpctest: b nc7000 rc=\d+ seconds=[\d.]+/, 180_000);
      const secs = Number(/seconds=([\d.]+)/.exec(nc)?.[1]);
      process.stderr.write(`[vm] 1 MiB with busybox nc across two hosts (TCG): ${nc} (${(8 / Math.max(secs, 0.01)).toFixed(1)} Mbit/s)\n`);
      const got = await waitLine(h, sa.instanceId, /vpctest: a got7000 \d+ [0-9a-f]{32}/, 60_000);
      assert.equal(got, `vpctest: a got7000 1048576 ${sum}`);
      const s1 = (await b1.request('underlay.stats', {}))!;
      const s2 = (await b2.request('underlay.stats', {}))!;
      process.stderr.write(`[vm] underlay counters h-1 ${JSON.stringify(s1)}\n[vm] underlay counters h-2 ${JSON.stringify(s2)}\n`);
      assert.ok(s2.txDatagrams! > 700 && s1.rxDatagrams! > 700, 'the transfer crossed the underlay');
      assert.equal(s1.droppedAuth, 0);
      crossed = s1.txDatagrams! + s1.rxDatagrams!;
      assert.equal(s2.droppedAuth, 0);
    });

    // tcpdump writes each packet as it takes it (-U) and reports on SIGUSR1 how many the kernel
    // dropped: wait until the capture accounts for every datagram h-1 sent or received (each
    // crossed v1), written or dropped, before stopping it.
    const capture = dump;
    const kernelDropped = (): number => {
      capture.kill('SIGUSR1');
      const m = [...dumpErr.matchAll(/(\d+) packets? dropped by kernel/g)].at(-1);
      return m ? Number(m[1]) : 0;
    };
    await waitFor(`the capture to account for the ${crossed} datagrams h-1 sent and received`, () => pcapRecords(readFileSync(pcap)) + kernelDropped() >= crossed, 30_000, 100);
    dump.kill('SIGINT');
    await new Promise((r) => dump!.once('exit', r));
    dump = undefined;
    const cap = readFileSync(pcap);
    process.stderr.write(`[vm] veth capture: ${statSync(pcap).size} bytes\n`);
    // The underlay counters above prove the whole transfer crossed; the capture only has to hold
    // enough of it for the plaintext search to mean something (tcpdump may drop packets at the
    // kernel buffer on a loaded machine).
    assert.ok(cap.length > 524_288, `the capture holds at least half of the 1 MiB transfer (${cap.length} bytes)`);
    assert.equal(cap.indexOf(PATTERN), -1, 'the payload pattern never appears on the wire');
    assert.equal(cap.indexOf('NITRIDE-PLAINTEXT'), -1);
    failed = false;
  } finally {
    if (failed) for (const c of cards) process.stderr.write(`--- card stderr ---\n${c.stderr}\n`);
    dump?.kill('SIGKILL');
    for (const b of bridges) b.child.kill('SIGKILL');
    for (const c of cards) await c.stop();
    spawnSync(IP, ['netns', 'del', ns1]);
    spawnSync(IP, ['netns', 'del', ns2]);
    await rm(work, { recursive: true, force: true });
  }
});
