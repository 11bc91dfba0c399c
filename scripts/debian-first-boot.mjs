#!/usr/bin/env node
// One first boot of the debian-12 image through a local region, for finding where the boot's
// time goes (docs/IMAGE.md "The first boot"): imports the built disk, RunInstances (t3.small, a
// VPC subnet), waits for cloud-init to finish, prints the wall time, the guest's uptime at each
// cloud-init stage, and what the guest's runcmd printed: `cloud-init analyze blame` and the
// cloud-init.log lines of init-local's datasource search. Not a benchmark (no peer, one run).
//   npx tsc -p . && [NITRIDE_IMAGE_CACHE=DIR] node scripts/debian-first-boot.mjs
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const wt = join(dirname(fileURLToPath(import.meta.url)), '..');
const d = (p) => import(join(wt, 'dist', p));
const { buildDebianImage } = await d('src/image/debian/build-debian.js');
const { importDisk } = await d('src/cli/image-import.js');
const { defaultDiskInspector } = await d('src/image/import-inspector.js');
const { endpointFromHome, RegionApiClient } = await d('src/region/ebs-direct/client.js');
const { withLocalRegion, waitFor } = await d('test/region-fixtures.js');
const { RunInstancesCommand, CreateVpcCommand, CreateSubnetCommand, TerminateInstancesCommand } = await import(join(wt, 'node_modules/@aws-sdk/client-ec2/dist-cjs/index.js'));
const debian = await buildDebianImage({ say: (l) => process.stderr.write(`[build] ${l}\n`) });
console.log(`image ${debian.manifest.version} sha256 ${debian.sha256}`);
await withLocalRegion('nitride-measure-', async ({ home, ec2 }) => {
  const imp = await importDisk({ file: debian.path, name: 'debian-12-nitride', bootMode: 'legacy-bios', client: new RegionApiClient(endpointFromHome(home)), inspect: defaultDiskInspector, say: () => {} });
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc.VpcId;
  const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet.SubnetId;
  const t0 = Date.now();
  const id = (await ec2.send(new RunInstancesCommand({ ImageId: imp.imageId, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SubnetId: subnet, UserData: Buffer.from('#cloud-config\nruncmd:\n  - [sh, -c, "(echo NITRIDE-ANALYZE-BEGIN; cloud-init analyze blame | head -30; sed -n \\"/running .init-local/,/running .init /p\\" /var/log/cloud-init.log | grep -E \\"url_helper|dhcp|Ec2|subp|ephemeral|Crawl|crawl|Read \\" | cut -c1-160 | head -120; echo NITRIDE-ANALYZE-END) > /dev/console 2>&1"]\n').toString('base64') }))).Instances[0].InstanceId;
  const log = () => {
    const dir = join(home, 'host', 'hypervisor', 'instances', id);
    return ['console.prev.log', 'console.log'].map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '')).join('');
  };
  const fin = await waitFor('cloud-init finished', () => /Cloud-init v\. \S+ finished at .*?Up ([\d.]+) seconds/.exec(log()) ?? undefined, 15 * 60_000, 1000);
  const wall = (Date.now() - t0) / 1000;
  const text = log();
  const stages = [...text.matchAll(/Cloud-init v\. \S+ running '([^']+)' at .*?Up ([\d.]+) seconds/g)].map((m) => `${m[1]}@${m[2]}s`);
  const units = [...text.matchAll(/\[\s*([\d.]+)\] .*?(Starting|Finished|Started) (.*networking.*|.*[Nn]etwork.*)/g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
  console.log(`RunInstances → cloud-init finished: ${wall.toFixed(1)} s wall; guest uptime at finish ${fin[1]} s`);
  console.log(`stages: ${stages.join(', ')}`);
  console.log(`network units:\n  ${units.join('\n  ')}`);
  const an = await waitFor('the analysis on the console', () => { const t = log(); const a = t.indexOf('NITRIDE-ANALYZE-BEGIN'); const b = t.indexOf('NITRIDE-ANALYZE-END', a + 30); return a >= 0 && b > a ? t.slice(a, b).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '') : undefined; }, 600_000, 2000);
  console.log(an);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
});
