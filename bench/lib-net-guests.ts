// The guest-side figures of `npm run bench -- net`: two nitride-minimal guests under QEMU on
// one VPC card (supervised by HostVpcCard exactly as the controller runs it; the hypervisor
// forked as the controller forks it), in two subnets of one VPC so every packet is routed
// by the card. B pings A (busybox ping: min/avg/max RTT) and sends A 16 MiB with busybox nc;
// A times the transfer from the connection's acceptance to the end of the stream
// (/proc/uptime, 10 ms resolution) and checks the md5. Under TCG these measure the emulator more than
// the card. The hypervisor fixture comes from the VM tests (test/vm/hypervisor-fixtures.ts):
// it kills every QEMU it started, whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostVpcCard } from '../src/controller/cards/vpc.js';
import type { HypervisorEvent, InstanceSpec } from '../src/hypervisor/protocol/messages.js';
import { createLogger } from '../src/lib/log.js';
import type { EniConfig, GroupRules } from '../src/vpc/model.js';
import { eni, imds } from '../src/vpc/testing/card-harness.js';
import { instanceSpec, waitLine, withHypervisor } from '../test/vm/hypervisor-fixtures.js';

const BOOT_MS = 180_000;
const SG = 'sg-0000be4c';
const OPEN: GroupRules = { ingress: [{ protocol: 'all', cidrs: ['10.0.0.0/16'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] };
const MIB = 16;
const PINGS = 20;
const userData = (lines: string): string => Buffer.from(`#!/bin/sh\n${lines}\n`).toString('base64');

const A_SCRIPT = `
printf '#!/bin/sh\\ncut -d" " -f1 /proc/uptime >/run/t0\\ncat >/run/r\\ncut -d" " -f1 /proc/uptime >/run/t1\\n' >/run/recv; chmod +x /run/recv
(nc -l -p 7100 -e /run/recv; echo "netbench: a got $(wc -c </run/r) $(md5sum </run/r | cut -c1-32) from $(cat /run/t0) to $(cat /run/t1)") &
echo "netbench: a listening"`;

const B_SCRIPT = `
dd if=/dev/urandom of=/run/data bs=1048576 count=${MIB} 2>/dev/null
echo "netbench: b data $(md5sum </run/data | cut -c1-32)"
ping -c ${PINGS} -i 0.2 -W 2 10.0.1.10 >/run/ping.txt 2>&1
echo "netbench: b ping $(grep -o '[0-9]* packets received' /run/ping.txt | cut -d' ' -f1) $(grep -o 'min/avg/max = [0-9./]*' /run/ping.txt | cut -d' ' -f3)"
time -o /run/time.txt -p timeout 300 nc -w 5 10.0.1.10 7100 </run/data; rc=$?
echo "netbench: b nc rc=$rc seconds=$(sed -n 's/^real //p' /run/time.txt)"`;

export interface GuestFigures {
  readonly accelerator: string;
  readonly pingsSent: number;
  readonly pingsReceived: number;
  readonly rttMs: { readonly min: number; readonly avg: number; readonly max: number };
  readonly ncBytes: number;
  readonly ncSeconds: number;
  readonly ncMbps: number;
}

export async function guestFigures(say: (line: string) => void): Promise<GuestFigures> {
  const home = mkdtempSync(join(tmpdir(), 'nitride-bench-netvm-'));
  let log = '';
  const host = new HostVpcCard({ home, log: createLogger('bench-net-guests', (l) => void (log += `${l}\n`)) });
  let result: GuestFigures | undefined;
  try {
    host.start();
    await withHypervisor(async (h) => {
      const accelerator = String((await h.channel.request('host.info', {})).accel);
      const groups = [{ groupId: SG, rules: OPEN, members: [] }];
      const boot = async (cfg: EniConfig, spec: InstanceSpec): Promise<void> => {
        const info = (await host.execute({ type: 'eni.put', params: { eni: cfg, groups } })) as { socketPath: string };
        const ready = h.channel.waitEvent((e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === spec.instanceId, BOOT_MS);
        const t0 = Date.now();
        await h.channel.request('instance.start', { spec: { ...spec, nics: [{ mac: cfg.mac, socketPath: info.socketPath }] } });
        await ready;
        say(`guest ${spec.instanceId} (${cfg.ip}) ready in ${Date.now() - t0} ms (${accelerator})`);
      };
      const sa = await instanceSpec('t3.nano');
      const sb = await instanceSpec('t3.nano');
      const A = eni('vpc-bench', '10.0.1.0/24', '10.0.1.10', [SG], { imds: imds(sa.instanceId, { userDataBase64: userData(A_SCRIPT) }) });
      const B = eni('vpc-bench', '10.0.2.0/24', '10.0.2.10', [SG], { imds: imds(sb.instanceId, { userDataBase64: userData(B_SCRIPT) }) });
      await boot(A, sa);
      await waitLine(h, sa.instanceId, /netbench: a listening/, 60_000);
      await boot(B, sb);
      const sum = (await waitLine(h, sb.instanceId, /netbench: b data [0-9a-f]{32}/, 60_000)).slice(-32);
      const ping = await waitLine(h, sb.instanceId, /netbench: b ping \d+ [0-9.]+\/[0-9.]+\/[0-9.]+/, 120_000);
      const nc = await waitLine(h, sb.instanceId, /netbench: b nc rc=\d+ seconds=[0-9.]*/, 360_000);
      const got = await waitLine(h, sa.instanceId, /netbench: a got \d+ [0-9a-f]{32} from [0-9.]+ to [0-9.]+/, 60_000);
      const [, received, min, avg, max] = /ping (\d+) ([0-9.]+)\/([0-9.]+)\/([0-9.]+)/.exec(ping)!;
      const [, rc] = /rc=(\d+)/.exec(nc)!;
      const [, t0, t1] = / from ([0-9.]+) to ([0-9.]+)/.exec(got)!;
      const bytes = MIB * 1024 * 1024;
      if (rc !== '0' || !got.startsWith(`netbench: a got ${bytes} ${sum} `)) throw new Error(`the nc transfer failed: ${nc}; ${got} (sent ${bytes} bytes, md5 ${sum})`);
      const seconds = Number(Math.max(Number(t1) - Number(t0), 0.01).toFixed(2));
      result = {
        accelerator,
        pingsSent: PINGS,
        pingsReceived: Number(received),
        rttMs: { min: Number(min), avg: Number(avg), max: Number(max) },
        ncBytes: bytes,
        ncSeconds: seconds,
        ncMbps: (bytes * 8) / seconds / 1e6,
      };
    });
  } catch (e) {
    process.stderr.write(`--- vpc host log ---\n${log.slice(-4000)}\n`);
    throw e;
  } finally {
    await host.stop();
    rmSync(home, { recursive: true, force: true });
  }
  return result!;
}
