// A real nitride-minimal guest reached at its public IP: a card forked as the controller forks
// it, its public side (the TAP device) moved into a namespace this test creates, where busybox
// wget and ping play the internet; the guest is started through the hypervisor with its NIC on
// the card and serves busybox httpd from its user-data. TCG. Nothing leaves the namespace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HypervisorEvent } from '../../src/hypervisor/protocol/messages.js';
import { waitFor } from '../../src/lib/wait.js';
import type { GroupRules } from '../../src/vpc/model.js';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import { EdgeNamespace } from '../../src/vpc/testing/edge-netns.js';
import { instanceSpec, waitLine, withHypervisor } from './hypervisor-fixtures.js';

const BOOT_MS = 150_000;
const PUB = '198.51.100.30';
const WEB: GroupRules = {
  ingress: [
    { protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: ['198.51.100.0/24'] },
    { protocol: 'icmp', fromPort: 8, toPort: -1, cidrs: ['198.51.100.0/24'] },
  ],
  egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }],
};

// (busybox wget's -T crashes in Debian's busybox-static 1.35: the time limit is the runner's.)
// busybox httpd with a CGI that prints REMOTE_ADDR: what source address the guest sees.
const SCRIPT = `#!/bin/sh
mkdir -p /run/www/cgi-bin
echo hello-from-the-edge >/run/www/index.html
printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "remote=$REMOTE_ADDR"\\n' >/run/www/cgi-bin/ip
chmod +x /run/www/cgi-bin/ip
httpd -p 80 -h /run/www && echo "vpctest: e serving"
ping -c 2 -W 3 198.51.100.1 >/dev/null 2>&1 && echo "vpctest: e reached outside" || echo "vpctest: e cannot reach outside"
`;

test('vm vpc edge: a guest\'s web server answers at its public IP from the namespace, sees the client\'s address, pings out, and stops answering when the rule is revoked', { timeout: 600_000 }, async () => {
  const card = await CardHarness.start();
  let net: EdgeNamespace | undefined;
  let failed = true;
  try {
    net = await EdgeNamespace.create(card.channel);
    const ns = net;
    await card.setRules('sg-pub', WEB);
    await withHypervisor(async (h) => {
      const spec = await instanceSpec('t3.nano');
      const E = eni('vpc-e', '10.0.1.0/24', '10.0.1.10', ['sg-pub'], { vpcCidr: '10.0.0.0/16', publicIp: PUB, internetRoute: true, imds: imds(spec.instanceId, { userDataBase64: Buffer.from(SCRIPT).toString('base64') }) });
      const info = await card.addEni(E);
      const ready = h.channel.waitEvent((e: HypervisorEvent) => e.event === 'instance.ready' && e.instanceId === spec.instanceId, BOOT_MS);
      await h.channel.request('instance.start', { spec: { ...spec, nics: [{ mac: E.mac, socketPath: info.socketPath }] } });
      await ready;
      await waitLine(h, spec.instanceId, /vpctest: e serving/, 60_000);
      const out = await waitLine(h, spec.instanceId, /vpctest: e (reached|cannot reach) outside/, 60_000);
      assert.equal(out, 'vpctest: e reached outside', 'the guest pings the namespace through the edge');

      const page = await ns.run(['busybox', 'wget', '-q', '-O', '-', `http://${PUB}/`], { timeoutMs: 15_000 });
      assert.equal(page.stdout.trim(), 'hello-from-the-edge', `wget http://${PUB}/: ${page.stdout}${page.stderr}`);
      const who = await ns.run(['busybox', 'wget', '-q', '-O', '-', `http://${PUB}/cgi-bin/ip`], { timeoutMs: 15_000 });
      // busybox httpd listens on a dual-stack socket: an IPv4 peer shows as [::ffff:a.b.c.d].
      assert.equal(who.stdout.trim().replace(/^remote=\[::ffff:(.*)\]$/, 'remote=$1'), `remote=${ns.hostIp}`, `the guest sees the client's own address: ${who.stdout}`);
      const ping = await ns.run(['busybox', 'ping', '-c', '2', '-W', '5', PUB]);
      assert.equal(ping.code, 0, `ping ${PUB}: ${ping.stdout}${ping.stderr}`);

      // Revoke tcp/80: the next connection gets nowhere, and the card counts the dropped SYNs.
      const before = (await card.stats(E.eniId)).counters.droppedSecurityGroupIngress;
      await card.setRules('sg-pub', { ingress: WEB.ingress.filter((r) => r.protocol !== 'tcp'), egress: WEB.egress });
      const t0 = Date.now();
      const refused = await ns.run(['busybox', 'wget', '-q', '-O', '-', `http://${PUB}/`], { timeoutMs: 3_000 });
      assert.notEqual(refused.code, 0, 'no answer once the rule is revoked');
      await waitFor('the revoked SYNs to be counted', async () => (await card.stats(E.eniId)).counters.droppedSecurityGroupIngress > before, 10_000, 200);
      process.stderr.write(`[vm] edge: wget after the revoke failed in ${Date.now() - t0} ms; counters ${JSON.stringify((await card.stats(E.eniId)).counters)}\n`);
      failed = false;
    });
  } finally {
    if (failed) process.stderr.write(`--- card stderr ---\n${card.stderr}\n`);
    await card.stop();
    net?.close();
  }
});

