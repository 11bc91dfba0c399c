// A host that lies gets nothing (issue 20, item 3), on a real host: a controller started from a
// copy of this tree (so the test can change its files the way root on the host could), its
// cards and hypervisor, a real guest (QEMU under TCG), and a region opened in this process on
// the same NITRIDE_HOME (so `nitride host status` shows the region's verdict). The host is
// enrolled pinned and attested (trust on first attestation records its PCRs). Then:
//   (a) the EBS card is substituted after attestation: its code on disk is changed (the new
//       code leaves a marker to prove it ran) and its process is killed; the supervisor
//       restarts it, with a new key pair. The controller measures the code before that fork,
//       so PCR 3 changes: AttachVolume of an encrypted volume gets an EC2 error, the key
//       release's fresh attestation is refused (AttestationPcrMismatch, PCR 3), KMS decrypts
//       nothing, the card holds no export of the volume, the host never sees volume.attach;
//   (c) AttachVolume of an unencrypted volume and RunInstances to that host: EC2 errors,
//       nothing attached or placed, the host never sees volume.attach or a second
//       instance.start;
//   (b) a PCR changed after enrolment by another component: the hypervisor's code changed and
//       its process killed; after its restart PCR 2 differs too and placement names both.
// Every refusal is in the region audit trail (the attestation verdict with its reason and
// registers, and the EC2 refusal) and in `nitride host status`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AttachVolumeCommand, CreateVolumeCommand, DescribeInstancesCommand, DescribeVolumesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { readChain } from '../../src/audit/chain.js';
import { regionTrailPath, type StoredAuditEvent } from '../../src/audit/trail.js';
import { hostPaths } from '../../src/controller/host-state.js';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { distEntry, projectRoot } from '../../src/lib/paths.js';
import { Region } from '../../src/region/region.js';
import { BUILTIN_AMI, builtinImage, cleanupHome, refusalsAudited, waitFor } from '../region-fixtures.js';

interface HostStatusReply {
  components: { name: string; pid?: number }[];
  securityChip: { pcrs: Record<string, string> };
}

/** A copy of the built tree a controller can run from: dist/src and package.json copied, the rest linked. */
function copyTree(): string {
  const root = projectRoot();
  const dir = mkdtempSync(join(tmpdir(), 'nitride-liar-tree-'));
  // The cards load their code as their own users (nitride-ebs, nitride-vpc …): mkdtemp's 0700 would refuse them.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'dist'));
  cpSync(join(root, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  for (const l of ['node_modules', 'native', 'scripts', 'bin']) if (existsSync(join(root, l))) symlinkSync(join(root, l), join(dir, l));
  return dir;
}

function cli(args: string[], home: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [distEntry('cli/main.js'), ...args], { env: { ...process.env, NITRIDE_HOME: home }, encoding: 'utf8', timeout: 60_000 }, (e, out, err) =>
      res({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

function attestations(home: string, reason: string): StoredAuditEvent[] {
  return readChain<StoredAuditEvent>(regionTrailPath(home))
    .map((r) => r.event)
    .filter((e) => e.eventName === 'NitrideHostAttestation' && e.requestParameters?.['reason'] === reason);
}

/** Commands the host's controller accepted, by type (its own audit log). */
function hostCommands(home: string, type: string): number {
  return readChain<{ type?: string; command?: string }>(hostPaths(home).audit).filter((r) => r.event.type === 'command.accepted' && r.event.command === type).length;
}

const pcrsOf = (m: unknown): number[] => (m as { pcr: number }[]).map((x) => x.pcr).sort();

test('a host that lies gets nothing: a substituted EBS card, a changed hypervisor; no key, no volume, no instance; audited and in nitride host status', { timeout: 600_000 }, async () => {
  const tree = copyTree();
  const home = mkdtempSync(join(tmpdir(), 'nitride-liar-'));
  let ctl: ControllerProcess | undefined;
  let region: Region | undefined;
  let ec2: EC2Client | undefined;
  let failed = true;
  try {
    ctl = await startController(home, { entry: join(tree, 'dist', 'src', 'controller', 'main.js') });
    region = await Region.open({ home, port: 0, localHost: false, builtinImage: await builtinImage(), reconcileIntervalMs: 500 });
    const r = region;
    const att = r.fleet.attestation;
    const host = await r.fleet.enroll('127.0.0.1', ctl.runtime.port, readToken(home), { fingerprint: ctl.runtime.fingerprint });
    assert.equal(att.statusOf(host.id)?.ok, true, JSON.stringify(att.statusOf(host.id)));
    const status = (): Promise<HostStatusReply> => r.fleet.send(host.id, 'host.status', {}, { id: `st:${Date.now()}:${Math.random()}` }) as Promise<HostStatusReply>;
    const cardKey = async (): Promise<{ publicKey: string; volumeIds: string[] }> => (await r.fleet.send(host.id, 'ebs.info', {}, { id: `info:${Date.now()}:${Math.random()}` })) as { publicKey: string; volumeIds: string[] };

    ec2 = new EC2Client({ endpoint: r.endpoint, region: 'local-1', credentials: { accessKeyId: r.credentials.accessKeyId, secretAccessKey: r.credentials.secretAccessKey }, maxAttempts: 1 });
    const c = ec2;
    const enc = (await c.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true }))).VolumeId!;
    const plain = (await c.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }))).VolumeId!;
    const run = { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };
    const instanceId = (await c.send(new RunInstancesCommand(run))).Instances![0]!.InstanceId!;
    const liveInstances = async (): Promise<string[]> =>
      ((await c.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((x) => x.Instances ?? []).filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId!);
    await waitFor('the guest running', async () => ((await c.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running' ? true : undefined), 240_000, 500);
    assert.equal(hostCommands(home, 'instance.start'), 1);

    // Every KMS Decrypt the region makes from here on (the only way a volume key leaves KMS).
    let decrypts = 0;
    const kms = r.kms as unknown as { decrypt: (...a: unknown[]) => Promise<unknown> };
    const realDecrypt = kms.decrypt.bind(r.kms);
    kms.decrypt = (...a: unknown[]) => ((decrypts += 1), realDecrypt(...a));

    // ---- (a) the EBS card substituted after attestation ------------------------------------
    const k1 = att.statusOf(host.id)?.ebsCardPublicKey;
    assert.ok(k1, 'the attestation bound the card key');
    assert.equal((await cardKey()).publicKey, k1);
    const before = await status();
    const pcr3 = before.securityChip.pcrs['3'];
    const cardPid = before.components.find((x) => x.name === 'ebs')?.pid;
    assert.ok(cardPid);
    // The card runs as its own user (nitride-ebs): it leaves its marker in a directory anyone may write.
    const markers = join(tree, 'markers');
    mkdirSync(markers, { mode: 0o1777 });
    chmodSync(markers, 0o1777);
    const marker = join(markers, 'substituted-card-ran');
    appendFileSync(join(tree, 'dist', 'src', 'ebs', 'card', 'main.js'), `\n(await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, String(process.pid));\n`);
    process.kill(cardPid, 'SIGKILL');
    const k2 = await waitFor('the substituted card serving with a key of its own', async () => {
      const k = await cardKey().catch(() => undefined);
      return k !== undefined && k.publicKey !== k1 && existsSync(marker) ? k.publicKey : undefined;
    }, 60_000, 200);
    assert.notEqual(k2, k1);
    assert.notEqual((await status()).securityChip.pcrs['3'], pcr3, 'the controller measured the changed card code before forking it');

    await assert.rejects(c.send(new AttachVolumeCommand({ VolumeId: enc, InstanceId: instanceId, Device: '/dev/sdf' })), (e: { name?: string; message?: string }) => {
      assert.equal(e.name, 'InsufficientInstanceCapacity');
      assert.match(e.message ?? '', /failed attestation \(AttestationPcrMismatch\)/);
      return true;
    });
    assert.equal(decrypts, 0, 'no volume key left KMS');
    const refusedRelease = attestations(home, 'key-release').at(-1);
    assert.equal(refusedRelease?.errorCode, 'AttestationPcrMismatch');
    assert.deepEqual(pcrsOf(refusedRelease?.responseElements?.['mismatches']), [3]);
    const vol = (await c.send(new DescribeVolumesCommand({ VolumeIds: [enc] }))).Volumes![0]!;
    assert.equal(vol.State, 'available');
    assert.deepEqual(vol.Attachments ?? [], []);
    assert.ok(!(await cardKey()).volumeIds.includes(enc), 'the card holds no export of the volume');
    assert.equal(hostCommands(home, 'volume.attach'), 0, 'the host was never asked to attach');

    // `nitride host status` on this machine shows the region's verdict and its reason.
    const shown = await cli(['host', 'status', '--home', home, '--json'], home);
    assert.equal(shown.code, 0, shown.err);
    const ra = (JSON.parse(shown.out) as { regionAttestation: { ok: boolean; code: string; mismatches: { pcr: number }[] } }).regionAttestation;
    assert.equal(ra.ok, false);
    assert.equal(ra.code, 'AttestationPcrMismatch');
    assert.deepEqual(pcrsOf(ra.mismatches), [3]);

    // ---- (c) AttachVolume and RunInstances to the host that failed attestation -------------
    await assert.rejects(c.send(new AttachVolumeCommand({ VolumeId: plain, InstanceId: instanceId, Device: '/dev/sdg' })), (e: { name?: string; message?: string }) => {
      assert.equal(e.name, 'InsufficientInstanceCapacity');
      assert.match(e.message ?? '', /AttestationPcrMismatch/);
      return true;
    });
    const refusedAttach = attestations(home, 'attach').at(-1);
    assert.equal(refusedAttach?.errorCode, 'AttestationPcrMismatch');
    const pv = (await c.send(new DescribeVolumesCommand({ VolumeIds: [plain] }))).Volumes![0]!;
    assert.equal(pv.State, 'available');
    assert.deepEqual(pv.Attachments ?? [], []);
    assert.equal(hostCommands(home, 'volume.attach'), 0);

    await assert.rejects(c.send(new RunInstancesCommand(run)), (e: { name?: string }) => e.name === 'InsufficientInstanceCapacity');
    assert.deepEqual(await liveInstances(), [instanceId], 'nothing placed');
    assert.equal(hostCommands(home, 'instance.start'), 1, 'the host was asked to start nothing more');
    assert.equal(attestations(home, 'placement').at(-1)?.errorCode, 'AttestationPcrMismatch');
    assert.equal(decrypts, 0);
    assert.ok((await refusalsAudited(r, home, { code: 'InsufficientInstanceCapacity' })) >= 3, 'each EC2 refusal is audited');

    // ---- (b) a PCR changed after enrolment: the hypervisor's code ---------------------------
    const pcr2 = (await status()).securityChip.pcrs['2'];
    const hvPid = (await status()).components.find((x) => x.name === 'hypervisor')?.pid;
    assert.ok(hvPid);
    appendFileSync(join(tree, 'dist', 'src', 'hypervisor', 'main.js'), '\n// changed on the host after enrolment\n');
    process.kill(hvPid, 'SIGKILL');
    await waitFor('the hypervisor restarted under a new measurement', async () => {
      const s = await status().catch(() => undefined);
      const pid = s?.components.find((x) => x.name === 'hypervisor')?.pid;
      return s !== undefined && pid !== undefined && pid !== hvPid && s.securityChip.pcrs['2'] !== pcr2 ? true : undefined;
    }, 60_000, 200);
    await assert.rejects(c.send(new RunInstancesCommand(run)), (e: { name?: string }) => e.name === 'InsufficientInstanceCapacity');
    assert.deepEqual(pcrsOf(attestations(home, 'placement').at(-1)?.responseElements?.['mismatches']), [2, 3]);
    assert.deepEqual(await liveInstances(), [instanceId]);
    assert.equal(hostCommands(home, 'instance.start'), 1);
    const again = await cli(['host', 'status', '--home', home, '--json'], home);
    assert.deepEqual(pcrsOf((JSON.parse(again.out) as { regionAttestation: { mismatches: unknown } }).regionAttestation.mismatches), [2, 3]);
    assert.equal(decrypts, 0, 'no volume key left KMS at any point');

    await c.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    failed = false;
  } finally {
    ec2?.destroy();
    await region?.close();
    await ctl?.stop();
    await cleanupHome(home, [], failed);
    rmSync(tree, { recursive: true, force: true });
  }
});
