// A region with two hosts (two real controllers on this machine, 127.0.0.1, each with its
// hypervisor and cards) and one VPC spread across them: the region places A and B on
// different hosts, starts each host's underlay bridge, delivers the host-pair keys with
// vpc.keys and each side's ENI to the other with vpc.remote. The guests (TCG) ping and move
// data with busybox nc through card → bridge → sealed UDP → bridge → card. All through the
// EC2 API (SDK v3); everything is killed in finally.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { MARKERS } from '../../src/image/markers.js';
import type { Region } from '../../src/region/region.js';
import { BUILTIN_AMI, closeHostsRig, ensureGuestImage, openLocalRegion, waitFor } from '../region-fixtures.js';

const A_SCRIPT = `
printf '#!/bin/sh\\ncat >/run/r7000\\n' >/run/recv7000; chmod +x /run/recv7000
(nc -l -p 7000 -e /run/recv7000; echo "vpctest: a got7000 $(wc -c </run/r7000) $(md5sum </run/r7000 | cut -c1-32)") &
echo "vpctest: a listening mtu $(cat /sys/class/net/eth0/mtu)"`;

const B_SCRIPT = `
ping -c 5 -W 2 10.0.1.10 >/run/ping.txt 2>&1 && echo "vpctest: b ping a ok $(grep -o 'min/avg/max = [0-9./]*' /run/ping.txt)" || echo "vpctest: b ping a failed"
nslookup ip-10-0-1-10.local-1.compute.internal >/run/ns.txt 2>&1; echo "vpctest: b ns-a [$(grep -o 'Address: 10[.0-9]*' /run/ns.txt | tr '\\n' ' ')]"
dd if=/dev/urandom of=/run/data bs=1024 count=1024 2>/dev/null
echo "vpctest: b sending $(md5sum </run/data | cut -c1-32)"
time -o /run/time.txt -p timeout 120 nc -w 5 10.0.1.10 7000 </run/data; rc=$?
echo "vpctest: b nc7000 rc=$rc seconds=$(sed -n 's/^real //p' /run/time.txt)"
(i=0; while [ $i -lt 900 ]; do i=$((i+1)); ping -c 1 -W 1 10.0.1.10 >/dev/null 2>&1 && echo "vpctest: b ping2 ok $i"; sleep 1; done) &`;

test('vm vpc through a two-host region: the region joins the hosts with the encrypted underlay; guests ping and nc across hosts', { timeout: 900_000 }, async () => {
  await ensureGuestImage();
  const regionHome = await mkdtemp(join(tmpdir(), 'nitride-mh-region-'));
  const hostHomes = [await mkdtemp(join(tmpdir(), 'nitride-mh-h1-')), await mkdtemp(join(tmpdir(), 'nitride-mh-h2-'))];
  const ctls: ControllerProcess[] = [];
  let region: Region | undefined;
  let failed = true;
  try {
    region = await openLocalRegion(regionHome);
    for (const h of hostHomes) {
      const c = await startController(h);
      ctls.push(c);
      await region.fleet.enroll('127.0.0.1', c.runtime.port, readToken(h), { fingerprint: c.runtime.fingerprint });
    }
    assert.equal(region.fleet.hosts().length, 2);
    const r = region;
    const ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey }, maxAttempts: 1 });
    const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
    const waitLine = async (id: string, re: RegExp, ms: number): Promise<string> => waitFor(`${re} on ${id}'s console`, async () => re.exec(await consoleOf(id))?.[0], ms, 2_000);

    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const s1 = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const s2 = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.2.0/24' }))).Subnet!.SubnetId!;
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'app', Description: 'app' }))).GroupId!;
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }, { IpProtocol: 'tcp', FromPort: 7000, ToPort: 7000, UserIdGroupPairs: [{ GroupId: sg }] }] }));

    const launch = async (subnet: string, ip: string, script: string): Promise<string> => {
      const res = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: subnet, SecurityGroupIds: [sg], PrivateIpAddress: ip, UserData: Buffer.from(`#!/bin/sh\n${script}\n`).toString('base64') }));
      return res.Instances![0]!.InstanceId!;
    };
    const a = await launch(s1, '10.0.1.10', A_SCRIPT);
    // Right after RunInstances the host may not have the guest yet: EC2 answers an empty
    // output then, not an error (this was an InternalError).
    assert.equal(typeof (await consoleOf(a)), 'string');
    await waitLine(a, /vpctest: a listening mtu \d+/, 240_000);
    const b = await launch(s2, '10.0.2.10', B_SCRIPT);
    const caller = { accountId: r.credentials.accountId, arn: `arn:aws:iam::${r.credentials.accountId}:root` };
    const [ra, rb] = r.instances.describe(caller, [a, b], []);
    assert.ok(ra?.hostId && rb?.hostId && ra.hostId !== rb.hostId, `the two instances run on different hosts (${ra?.hostId}, ${rb?.hostId})`);
    assert.match(await consoleOf(a), /vpctest: a listening mtu 1420/);

    const ping = await waitLine(b, /vpctest: b ping a (ok|failed).*/, 240_000);
    assert.match(ping, /ok/, await consoleOf(b));
    process.stderr.write(`[vm] ping across two region hosts through the underlay (TCG): ${ping}\n`);
    // The VPC resolver on B's host answers the name of A, which runs on the other host.
    assert.equal(await waitLine(b, /vpctest: b ns-a \[.*\]/, 60_000), 'vpctest: b ns-a [Address: 10.0.1.10 ]');
    const sum = (await waitLine(b, /vpctest: b sending [0-9a-f]{32}/, 60_000)).slice(-32);
    const nc = await waitLine(b, /vpctest: b nc7000 rc=\d+ seconds=[\d.]+/, 180_000);
    process.stderr.write(`[vm] 1 MiB with busybox nc across two region hosts (TCG): ${nc}\n`);
    assert.equal(await waitLine(a, /vpctest: a got7000 \d+ [0-9a-f]{32}/, 60_000), `vpctest: a got7000 1048576 ${sum}`);

    // A region restart: host-pair secrets are in no store, so the new region joins the hosts
    // again under a fresh epoch (VpcHostSync.startRejoin); B's pings to A keep crossing, sealed
    // under the new keys.
    const epochs = (): number[] =>
      hostHomes.map((h) => {
        let max = 0;
        for (const line of readFileSync(join(h, 'host', 'audit.log'), 'utf8').split('\n')) {
          if (!line.includes('vpc.keys')) continue;
          for (const m of line.matchAll(/"epoch":(\d+)/g)) max = Math.max(max, Number(m[1]));
        }
        return max;
      });
    const before = epochs();
    assert.ok(before.every((e) => e > 0), `both hosts got underlay keys: ${before.join(', ')}`);
    await r.close();
    region = await openLocalRegion(regionHome);
    const r2 = region;
    const ec2b = new EC2Client({ endpoint: r2.endpoint, region: 'local-1', credentials: { accessKeyId: r2.credentials.accessKeyId, secretAccessKey: r2.credentials.secretAccessKey }, maxAttempts: 1 });
    const consoleB = async (): Promise<string> => Buffer.from((await ec2b.send(new GetConsoleOutputCommand({ InstanceId: b }))).Output ?? '', 'base64').toString('utf8');
    const after = await waitFor('both hosts to get a newer epoch from the restarted region', () => {
      const e = epochs();
      return e.every((x, i) => x > before[i]!) ? e : undefined;
    }, 60_000, 500);
    const lastPing = async (): Promise<number> => Math.max(0, ...[...(await consoleB()).matchAll(/vpctest: b ping2 ok (\d+)/g)].map((m) => Number(m[1])));
    const n0 = await lastPing();
    const n1 = await waitFor('B to ping A under the new epoch', async () => {
      const n = await lastPing();
      return n >= n0 + 3 ? n : undefined;
    }, 120_000, 2_000);
    process.stderr.write(`[vm] region restart: underlay epochs ${before.join('/')} → ${after.join('/')}; B's pings to A ${n0} → ${n1}\n`);
    await ec2b.send(new TerminateInstancesCommand({ InstanceIds: [a, b] }));
    failed = false;
  } finally {
    await closeHostsRig({ region, ctls, hostHomes, regionHome, failed });
  }
});
