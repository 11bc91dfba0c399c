// Real nitride-minimal guests on the VPC card: a card forked as the controller forks it,
// guests started through the hypervisor directly with a NIC on the card. User-data scripts
// drive the guests; their console lines ("vpctest: …") are the results. Sequential, TCG.
//   X  vpc-b 10.0.1.20/24   (another VPC, permissive group)
//   A  vpc-a 10.0.1.10/24   sg-web
//   B  vpc-a 10.0.2.10/24   sg-web (another subnet: everything to A is routed)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/lib/wait.js';
import { MARKERS } from '../../src/image/markers.js';
import type { HypervisorEvent, InstanceSpec } from '../../src/hypervisor/protocol/messages.js';
import type { EniStats } from '../../src/vpc/card.js';
import type { EniConfig, GroupRules } from '../../src/vpc/model.js';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import { instanceSpec, until, withHypervisor, consoleOf, waitLine } from './hypervisor-fixtures.js';

const BOOT_MS = 150_000;

const SG_WEB: GroupRules = {
  ingress: [
    { protocol: 'icmp', cidrs: ['10.0.0.0/16'] },
    { protocol: 'tcp', fromPort: 7000, toPort: 7000, groupIds: ['sg-web'] },
  ],
  egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }],
};
const OPEN: GroupRules = { ingress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] };

const userData = (lines: string): string => Buffer.from(`#!/bin/sh\n${lines}\n`).toString('base64');

const X_SCRIPT = `
ping -c 2 -W 2 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x gateway ok" || echo "vpctest: x gateway failed"
ip addr add 10.0.1.99/32 dev eth0
ping -c 2 -W 1 -I 10.0.1.99 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x forged-ip answered" || echo "vpctest: x forged-ip dropped"
ip link set eth0 address 02:66:66:66:66:66
ping -c 2 -W 1 10.0.1.1 >/dev/null 2>&1 && echo "vpctest: x forged-mac answered" || echo "vpctest: x forged-mac dropped"
echo "vpctest: x done"`;

const A_SCRIPT = `
s=$(printf 'GET /latest/meta-data/instance-id HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80 | head -n 1 | cut -d ' ' -f 2)
echo "vpctest: a imdsv1 status $s"
ping -c 2 -W 1 10.0.1.20 >/dev/null 2>&1 && echo "vpctest: a reached x" || echo "vpctest: a cannot reach x"
# busybox nc -l ends when its stdin does, not when the peer closes: receive with -e instead.
printf '#!/bin/sh\ncat >/run/r7000\n' >/run/recv7000; printf '#!/bin/sh\ncat >/run/r8000\n' >/run/recv8000; chmod +x /run/recv7000 /run/recv8000
(nc -l -p 7000 -e /run/recv7000; echo "vpctest: a got7000 $(wc -c </run/r7000) $(md5sum </run/r7000 | cut -c1-32)") &
(while :; do nc -l -p 8000 -e /run/recv8000 && echo "vpctest: a got8000 $(cat /run/r8000)"; done) &
echo "vpctest: a listening"`;

const B_SCRIPT = `
ping -c 3 -W 2 10.0.1.10 >/run/ping.txt 2>&1 && echo "vpctest: b ping a ok $(grep -o 'min/avg/max = [0-9./]*' /run/ping.txt)" || echo "vpctest: b ping a failed"
ping -c 2 -W 1 10.0.1.20 >/dev/null 2>&1 && echo "vpctest: b reached x" || echo "vpctest: b cannot reach x"
dd if=/dev/urandom of=/run/data bs=1024 count=4096 2>/dev/null
echo "vpctest: b sending $(md5sum </run/data | cut -c1-32)"
time -o /run/time.txt -p timeout 120 nc -w 5 10.0.1.10 7000 </run/data; rc=$?
echo "vpctest: b nc7000 rc=$rc seconds=$(sed -n 's/^real //p' /run/time.txt)"
(i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo "try$i" | timeout 4 nc -w 2 10.0.1.10 8000 >/dev/null 2>&1 && { echo "vpctest: b 8000 connected try$i"; break; }; sleep 1; done) &
echo "vpctest: b 8000 loop started"`;

test('vm vpc: DHCP, IMDSv2 + user-data, ping and nc across subnets, security groups, VPC isolation, anti-spoofing', { timeout: 900_000 }, async () => {
  const card = await CardHarness.start();
  let failed = true;
  try {
    await withHypervisor(async (h) => {
      await card.setRules('sg-web', SG_WEB);
      await card.setRules('sg-x', OPEN);
      process.stderr.write(`[vm] accelerator: ${(await h.channel.request('host.info', {})).accel}\n`);
      const boot = async (cfg: EniConfig, spec: InstanceSpec): Promise<void> => {
        const info = await card.addEni(cfg);
        const ready = h.channel.waitEvent((e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === spec.instanceId, BOOT_MS);
        const t0 = Date.now();
        await h.channel.request('instance.start', { spec: { ...spec, nics: [{ mac: cfg.mac, socketPath: info.socketPath }] } });
        await ready;
        process.stderr.write(`[vm] ${spec.instanceId} (${cfg.ip}) ready in ${Date.now() - t0} ms\n`);
      };
      const sx = await instanceSpec('t3.nano');
      const sa = await instanceSpec('t3.nano');
      const sb = await instanceSpec('t3.nano');
      const X = eni('vpc-b', '10.0.1.0/24', '10.0.1.20', ['sg-x'], { imds: imds(sx.instanceId, { userDataBase64: userData(X_SCRIPT) }) });
      const A = eni('vpc-a', '10.0.1.0/24', '10.0.1.10', ['sg-web'], { imds: imds(sa.instanceId, { userDataBase64: userData(A_SCRIPT) }) });
      const B = eni('vpc-a', '10.0.2.0/24', '10.0.2.10', ['sg-web'], { imds: imds(sb.instanceId, { userDataBase64: userData(B_SCRIPT), httpTokens: 'optional' }) });

      await boot(X, sx);
      const x = await consoleOf(h, sx.instanceId);
      assert.ok(x.includes(`${MARKERS.network} up 10.0.1.20`), x);
      assert.ok(x.includes(`${MARKERS.imds} token ok`) && x.includes(`${MARKERS.userData} running`), x);
      await waitLine(h, sx.instanceId, /vpctest: x done/, 30_000);
      const x2 = await consoleOf(h, sx.instanceId);
      assert.ok(x2.includes('vpctest: x gateway ok'), x2);
      assert.ok(x2.includes('vpctest: x forged-ip dropped') && x2.includes('vpctest: x forged-mac dropped'), x2);
      const xs = (await card.stats(X.eniId)) as EniStats;
      assert.ok(xs.counters.droppedSpoofedIp >= 2, JSON.stringify(xs.counters));
      assert.ok(xs.counters.droppedSpoofedMac >= 2, JSON.stringify(xs.counters));

      await boot(A, sa);
      await waitLine(h, sa.instanceId, /vpctest: a listening/, 30_000);
      const a = await consoleOf(h, sa.instanceId);
      assert.ok(a.includes(`${MARKERS.network} up 10.0.1.10`), a);
      assert.ok(a.includes('vpctest: a imdsv1 status 401'), `HttpTokens=required refuses IMDSv1\n${a}`);
      assert.ok(a.includes('vpctest: a cannot reach x'), a);

      await boot(B, sb);
      const pingLine = await waitLine(h, sb.instanceId, /vpctest: b ping a (ok|failed).*/, 30_000);
      assert.match(pingLine, /ok/);
      process.stderr.write(`[vm] guest-to-guest ping across subnets under TCG: ${pingLine}\n`);
      const b = await consoleOf(h, sb.instanceId);
      assert.ok(b.includes(`${MARKERS.network} up 10.0.2.10`), b);
      assert.ok(b.includes('vpctest: b cannot reach x'), b);
      const sum = /vpctest: b sending ([0-9a-f]{32})/.exec(await consoleOf(h, sb.instanceId))?.[1];
      const nc = await waitLine(h, sb.instanceId, /vpctest: b nc7000 rc=\d+ seconds=[\d.]+/, 150_000);
      const secs = Number(/seconds=([\d.]+)/.exec(nc)?.[1]);
      process.stderr.write(`[vm] 4 MiB with busybox nc across subnets under TCG: ${nc} (${((4 * 8) / Math.max(secs, 0.01)).toFixed(1)} Mbit/s)\n`);
      const got = await waitLine(h, sa.instanceId, /vpctest: a got7000 \d+ [0-9a-f]{32}/, 30_000);
      assert.equal(got, `vpctest: a got7000 4194304 ${sum}`);

      // Port 8000 is not in the group: B's attempts die at A's ingress until it is authorized.
      // The card counts them: three refused SYNs (B retries every second), and none reached A.
      const dropsBefore = (await card.stats(A.eniId)).counters.droppedSecurityGroupIngress;
      await waitLine(h, sb.instanceId, /vpctest: b 8000 loop started/, 30_000);
      await waitFor('the card to drop B\'s connection attempts to A:8000', async () => ((await card.stats(A.eniId)).counters.droppedSecurityGroupIngress >= dropsBefore + 3 ? true : undefined), 60_000, 1_000);
      assert.ok(!(await consoleOf(h, sa.instanceId)).includes('got8000'), 'port 8000 must be blocked');
      await card.setRules('sg-web', { ...SG_WEB, ingress: [...SG_WEB.ingress, { protocol: 'tcp', fromPort: 8000, toPort: 8000, cidrs: ['10.0.2.0/24'] }] });
      const opened = await waitLine(h, sa.instanceId, /vpctest: a got8000 try\d+/, 60_000);
      process.stderr.write(`[vm] after AuthorizeSecurityGroupIngress: ${opened}\n`);
      failed = false;
    });
  } finally {
    if (failed) {
      process.stderr.write(`--- card stderr ---\n${card.stderr}\n`);
      const enis = (await card.channel.request('eni.list', {}).catch(() => [])) as { eniId: string }[];
      for (const e of enis) process.stderr.write(`${JSON.stringify(await card.stats(e.eniId).catch((err: unknown) => String(err)))}\n`);
    }
    await card.stop();
  }
});
