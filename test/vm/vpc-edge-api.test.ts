// The VPC edge API end to end with a real guest (issue 13, item 1): the real `nitride start`
// (region + controller + hypervisor + VPC card), one TCG guest in the default subnet, driven
// with @aws-sdk/client-ec2 v3. The guest's user data prints what the card's IMDS answers at
// meta-data/public-ipv4 whenever it changes ("edgetest: <boot> <status> <body>", read with
// GetConsoleOutput), so each API change is seen arriving at the card through eni.put:
//   - launch: a public IP from the pool (MapPublicIpOnLaunch of the default subnet);
//   - AssociateAddress: the Elastic IP replaces it; DisassociateAddress: a new public IP;
//   - StopInstances: the public IP goes back (DescribeInstances shows none), the Elastic IP stays
//     allocated; associated while stopped, it is the address after StartInstances.
// One guest, two boots; everything is killed in finally.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as E from '@aws-sdk/client-ec2';
import { vpcSocketDir } from '../../src/controller/cards/vpc.js';
import { MARKERS } from '../../src/image/markers.js';
import { BUILTIN_AMI, cleanupHome, ensureGuestImage, startRegion, waitFor, type RegionProcess } from '../region-fixtures.js';

const SCRIPT = `#!/bin/sh
boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id 2>/dev/null)
(last=""; while :; do
  r=$(printf 'GET /latest/meta-data/public-ipv4 HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80)
  s=$(echo "$r" | head -n 1 | cut -d ' ' -f 2); b=$(echo "$r" | tail -n 1)
  [ "$s $b" != "$last" ] && echo "edgetest: $boot $s $b" && last="$s $b"
  sleep 1
done) &
h=$(printf 'GET /latest/meta-data/public-hostname HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 169.254.169.254 80 | tail -n 1)
echo "edgetest: $boot hostname $h"
`;

test('vm edge API: public IP at launch, Elastic IP associate/disassociate, stop gives the public IP back, IMDS public-ipv4 follows each change', { timeout: 1_500_000 }, async () => {
  await ensureGuestImage();
  let region: RegionProcess | undefined;
  let failed = true;
  let guestConsole: (() => Promise<string>) | undefined;
  try {
    region = await startRegion();
    const ec2 = new E.EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: region.credentials, maxAttempts: 1 });
    const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new E.GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
    const waitLine = async (id: string, re: RegExp, ms: number): Promise<RegExpExecArray> => waitFor(`${re} on ${id}'s console`, async () => re.exec(await consoleOf(id)) ?? undefined, ms, 1_000);
    const describe = async (id: string): Promise<E.Instance> => (await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
    const state = async (id: string): Promise<string | undefined> => (await describe(id)).State?.Name;

    const id: string = (await ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: Buffer.from(SCRIPT).toString('base64') }))).Instances![0]!.InstanceId!;
    guestConsole = () => consoleOf(id);
    await waitLine(id, new RegExp(MARKERS.ready), 240_000);
    const p1 = (await describe(id)).PublicIpAddress;
    assert.ok(p1 && /^198\.51\.100\.\d+$/.test(p1), `a public IP from the default pool: ${p1}`);
    const first = await waitLine(id, new RegExp(`edgetest: (\\w+) 200 ${p1.replace(/\./g, '\\.')}`), 60_000);
    const boot1 = first[1]!;
    const host = await waitLine(id, /edgetest: \w+ hostname (\S+)/, 60_000);
    assert.equal(host[1], `ec2-${p1.replace(/\./g, '-')}.local-1.compute.amazonaws.com`);

    const alloc = await ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' }));
    const eip = alloc.PublicIp!;
    let t0 = Date.now();
    const assoc = (await ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc.AllocationId!, InstanceId: id }))).AssociationId!;
    await waitLine(id, new RegExp(`edgetest: ${boot1} 200 ${eip.replace(/\./g, '\\.')}`), 60_000);
    process.stderr.write(`[vm] Elastic IP ${eip} seen by the guest's IMDS ${Date.now() - t0} ms after AssociateAddress (guest polls every 1 s)\n`);
    assert.equal((await describe(id)).PublicIpAddress, eip);

    t0 = Date.now();
    await ec2.send(new E.DisassociateAddressCommand({ AssociationId: assoc }));
    const p2 = (await describe(id)).PublicIpAddress;
    assert.ok(p2 && p2 !== eip, `a new public IP after the Elastic IP left: ${p2}`);
    const after = new RegExp(`edgetest: ${boot1} 200 ${eip.replace(/\./g, '\\.')}[\\s\\S]*edgetest: ${boot1} 200 ${p2.replace(/\./g, '\\.')}`);
    await waitLine(id, after, 60_000);
    process.stderr.write(`[vm] new public IP ${p2} seen ${Date.now() - t0} ms after DisassociateAddress\n`);

    await ec2.send(new E.StopInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to stop', async () => ((await state(id)) === 'stopped' ? true : undefined), 180_000, 1_000);
    assert.equal((await describe(id)).PublicIpAddress, undefined, 'a stopped instance has no public IP');
    assert.deepEqual((await ec2.send(new E.DescribeAddressesCommand({}))).Addresses!.map((a) => [a.PublicIp, a.InstanceId]), [[eip, undefined]], 'the Elastic IP stays allocated');
    await ec2.send(new E.AssociateAddressCommand({ AllocationId: alloc.AllocationId!, InstanceId: id }));
    assert.equal((await describe(id)).PublicIpAddress, eip, 'an Elastic IP shows on a stopped instance');
    await ec2.send(new E.StartInstancesCommand({ InstanceIds: [id] }));
    const second = await waitLine(id, new RegExp(`edgetest: (?!${boot1})(\\w+) 200 ${eip.replace(/\./g, '\\.')}`), 420_000);
    assert.notEqual(second[1], boot1, 'seen from the second boot');
    assert.equal((await describe(id)).PublicIpAddress, eip);
    assert.equal(
      (await ec2.send(new E.ReleaseAddressCommand({ AllocationId: alloc.AllocationId! })).catch((e: { name: string }) => e.name)) as string,
      'InvalidIPAddress.InUse',
    );
    await ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitFor('the instance to terminate', async () => ((await state(id)) === 'terminated' ? true : undefined), 180_000, 1_000);
    assert.deepEqual((await ec2.send(new E.DescribeAddressesCommand({}))).Addresses!.map((a) => [a.PublicIp, a.AssociationId]), [[eip, undefined]], 'termination disassociates the Elastic IP');
    await ec2.send(new E.ReleaseAddressCommand({ AllocationId: alloc.AllocationId! }));
    ec2.destroy();
    failed = false;
  } catch (e) {
    // The guest's console says how far it got (its edgetest lines).
    if (guestConsole) process.stderr.write(`[vm] guest console:\n${await guestConsole().catch((x: unknown) => String(x))}\n`);
    throw e;
  } finally {
    const home = region?.home;
    if (home) {
      await cleanupHome(home, [region], failed);
      await rm(join(vpcSocketDir(home), '..'), { recursive: true, force: true });
    }
  }
});
