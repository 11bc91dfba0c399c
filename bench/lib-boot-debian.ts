// The Debian part of `npm run bench -- boot` (issue 11 item 9).
//
// 1. Boot: the registered debian-12 image launched by RunInstances (EBS-backed; the root
//    volume made from the image's snapshot, encrypted by default, served by the EBS card over
//    NBD as the instance's boot NVMe; the NIC on the VPC card, whose DHCP and IMDS the guest's
//    cloud-init uses) against plain QEMU booting the same raw disk from a local file.
//    The plain peer is the QEMU command line Nitride itself ran for the first instance
//    (read from /proc/PID/cmdline), with exactly one change: the root `-blockdev` is a raw
//    local file (a fresh sparse copy of the image's raw disk, grown to the root volume's
//    size) instead of NBD from the card. Machine type, memory, vCPUs, firmware (SeaBIOS),
//    the NVMe controller and its serial, SMBIOS identity, sandbox and console stay as they
//    were. The NIC stays too: that instance is stopped first (the VPC card keeps a stopped
//    instance's ENI, only termination removes it), and the plain QEMU connects to the same
//    ENI socket as the same user, so it gets the same DHCP answer and the same IMDS (same
//    instance id, user data and key) from the same code. Only the disk path differs.
//    Each side is timed from its launch to (a) the kernel's first line, (b) sshd listening
//    and multi-user.target active (reported by the guest, see MARKERS), (c) cloud-init's
//    "finished" line, all seen in the serial console log by the same poller (every 100 ms). Nitride's launch is the moment
//    RunInstances is sent (its figures include making the root volume and starting the card's
//    export); the plain side's launch is the start of its disk copy (so both include making
//    a writable root disk). Both are also given from their QEMU's own start (/proc starttime).
//    Both must report cloud-init's Ec2 datasource and the user data's runcmd line, or the
//    bench fails: a peer that waited for a missing IMDS would make the ratio meaningless.
// 2. Root volume creation: RunInstances with a BlockDeviceMapping for /dev/xvda of 2 and
//    20 GiB from the image's snapshot, encrypted (by default) and unencrypted, until the
//    volume is in-use and the instance running (then terminated at once), against
//    `qemu-img convert -f raw -O raw` of the same raw disk into a new file plus
//    `qemu-img resize` to that size; the encrypted ones also against the plain-QEMU way to
//    an encrypted disk: `qemu-img create -f luks` of that size (iter-time=10 ms: Nitride's
//    data key is random and wrapped by KMS, it runs no password hash) and
//    `qemu-img convert -n` of the raw disk into it.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DisableEbsEncryptionByDefaultCommand,
  EnableEbsEncryptionByDefaultCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { importDisk } from '../src/cli/image-import.js';
import { buildDebianImage } from '../src/image/debian/build-debian.js';
import { defaultDiskInspector } from '../src/image/import-inspector.js';
import { endpointFromHome, RegionApiClient } from '../src/region/ebs-direct/client.js';
import { waitFor, withLocalRegion } from '../test/region-fixtures.js';

const TYPE = 't3.small'; // 2 vCPUs, 2 GiB, as the Debian VM test
const BOOT_MS = 15 * 60_000;
const POLL_MS = 100;
const GiB = 2 ** 30;

export const PHASES = ['kernel', 'sshd', 'multiUser', 'cloudInit'] as const;
export type Phase = (typeof PHASES)[number];

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\r/g, '');

// (b) comes from the guest: systemd stops writing its status lines once a getty owns the
// serial console, which under TCG often happens before ssh.service has started, so those
// lines are not reliable. The user data's bootcmd (cloud-init's init stage, before sshd)
// starts a transient unit that checks once a second whether port 22 listens and whether
// multi-user.target is active, and says so on the console. The same user data goes to both.
const MARKERS: Record<Phase, RegExp> = {
  kernel: /Linux version \d\S*/,
  sshd: /NITRIDE-BENCH: sshd listening/,
  multiUser: /NITRIDE-BENCH: multi-user\.target active/,
  cloudInit: /Cloud-init v\. \S+ finished at [^\n]*?Datasource ([^\n]*?)\.?\s+Up ([\d.]+) seconds/,
};
const RUNCMD = 'NITRIDE-BENCH-RUNCMD';
const WATCH = [
  's=0; m=0; while [ $s = 0 ] || [ $m = 0 ]; do',
  'if [ $s = 0 ] && grep -q " 00000000:0016 00000000:0000 0A" /proc/net/tcp; then s=1; echo "NITRIDE-BENCH: sshd listening" >/dev/console; fi;',
  'if [ $m = 0 ] && systemctl is-active --quiet multi-user.target; then m=1; echo "NITRIDE-BENCH: multi-user.target active" >/dev/console; fi;',
  'sleep 1; done',
].join(' ');
const USER_DATA = Buffer.from(
  `#cloud-config\nbootcmd:\n  - [systemd-run, --no-block, --unit=nitride-bench-watch, /bin/sh, -c, '${WATCH}']\nruncmd:\n  - [sh, -c, 'echo "${RUNCMD}: $(id -un)" > /dev/console']\n`,
).toString('base64');

export interface BootRun {
  /** Launch → QEMU started (Nitride: RunInstances incl. the root volume; plain: the disk copy). */
  readonly qemuStartMs: number;
  /** Launch → each phase. */
  readonly fromLaunch: Record<Phase, number | null>;
  /** QEMU start → each phase. */
  readonly fromQemu: Record<Phase, number | null>;
  readonly datasource: string;
  readonly guestUptimeS: number;
}

export interface VolumeRun {
  readonly sizeGiB: number;
  readonly encrypted: boolean;
  /** RunInstances sent → answered (the volume is made inside the call). */
  readonly apiMs: number;
  /** RunInstances sent → volume in-use and instance running. */
  readonly runningMs: number;
  /** qemu-img convert + resize of the same raw disk to a new file of that size. */
  readonly peerMs: number;
  /** Encrypted only: qemu-img create -f luks of that size + convert -n of the raw disk into it. */
  readonly luksMs: number | null;
}

export interface DebianFigures {
  readonly image: { version: string; sha256: string; virtualBytes: number; allocatedBytes: number };
  readonly importMs: number;
  readonly rootEncrypted: boolean;
  readonly nitride: BootRun[];
  readonly plain: BootRun[];
  readonly volumes: VolumeRun[];
}

const clkTck = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout.trim()) || 100;
})();

/** The wall-clock time (ms) a live process started, from /proc (10 ms resolution). */
function processStartWall(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]); // field 22 of stat; fields[0] is field 3
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - (uptimeS * 1000 - (startTicks * 1000) / clkTck);
}

/**
 * Polls console log files (read whole, ANSI stripped) every POLL_MS and stamps the first
 * moment each phase's line is there. The same code watches both sides.
 */
async function watchPhases(files: () => string[], opts: { launch: number; qemuStart: () => number | undefined; deadlineMs: number; poll: () => string | undefined }): Promise<{ run: BootRun; text: string }> {
  const seen: Partial<Record<Phase, number>> = {};
  const deadline = opts.launch + opts.deadlineMs;
  let text = '';
  let finish: RegExpExecArray | null = null;
  for (;;) {
    text = stripAnsi(files().map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join(''));
    const now = Date.now();
    for (const p of PHASES) if (seen[p] === undefined && MARKERS[p].test(text)) seen[p] = now;
    finish = MARKERS.cloudInit.exec(text);
    if (finish) break;
    const why = opts.poll();
    if (why !== undefined) throw new Error(`${why}\n--- console (last 4000 chars) ---\n${text.slice(-4000)}`);
    if (now > deadline) throw new Error(`cloud-init did not finish within ${opts.deadlineMs / 1000} s\n--- console (last 4000 chars) ---\n${text.slice(-4000)}`);
    await sleep(POLL_MS);
  }
  const q = opts.qemuStart();
  if (q === undefined) throw new Error('the QEMU start time is unknown');
  const rel = (base: number): Record<Phase, number | null> => Object.fromEntries(PHASES.map((p) => [p, seen[p] === undefined ? null : seen[p]! - base])) as Record<Phase, number | null>;
  if (!text.includes(`${RUNCMD}: root`)) throw new Error(`the user data's runcmd line is missing: IMDS did not deliver it\n${text.slice(-4000)}`);
  return { run: { qemuStartMs: q - opts.launch, fromLaunch: rel(opts.launch), fromQemu: rel(q), datasource: finish[1]!, guestUptimeS: Number(finish[2]) }, text };
}

/** Nitride's QEMU argv with the root -blockdev (NBD from the EBS card) replaced by a raw local file. */
export function plainArgv(argv: readonly string[], rawFile: string, name: string): string[] {
  let swapped = 0;
  const out = argv.map((a, i) => {
    if (argv[i - 1] === '-blockdev' && a.startsWith('{')) {
      const j = JSON.parse(a) as { driver?: string; 'node-name'?: string };
      if (j.driver === 'nbd') {
        swapped++;
        return JSON.stringify({ driver: 'raw', 'node-name': j['node-name'], file: { driver: 'file', filename: rawFile } });
      }
    }
    if (argv[i - 1] === '-name' && a.startsWith('guest=')) return `guest=${name}`;
    return a;
  });
  if (swapped !== 1) throw new Error(`expected one NBD root -blockdev in Nitride's QEMU command line, found ${swapped}`);
  if (out.some((a) => a.includes('tpm'))) throw new Error('the captured command line has a vTPM; the plain peer cannot reproduce it');
  return out;
}

interface Identity {
  readonly instanceId: string;
  readonly argv: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly volumeBytes: number;
}

function ids(pid: number): { uid: number; gid: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(st)?.[1]), gid: Number(/^Gid:\s+(\d+)/m.exec(st)?.[1]) };
}

async function qemuImg(args: readonly string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = spawn('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`qemu-img ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

/** Plain QEMU: a fresh sparse copy of the raw disk (as the card copies a snapshot), then the captured argv. */
async function plainBoot(src: string, id: Identity, say: (s: string) => void): Promise<BootRun> {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-bench-debian-qemu-'));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    chownSync(dir, id.uid, id.gid);
    const raw = join(dir, 'root.raw');
    const launch = Date.now();
    const cp = spawnSync('cp', ['--sparse=always', '--', src, raw]);
    if (cp.status !== 0) throw new Error(`cp failed: ${cp.stderr.toString()}`);
    spawnSync('truncate', ['-s', String(id.volumeBytes), raw]);
    chownSync(raw, id.uid, id.gid);
    const argv = plainArgv(id.argv, raw, 'i-00000000bench0deb');
    let exited: string | undefined;
    child = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true, uid: id.uid, gid: id.gid });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (c, s) => (exited = `plain QEMU exited (${c ?? s}): ${err}`));
    const pid = child.pid!;
    const qemuStart = processStartWall(pid);
    say(`plain QEMU ${pid} started ${qemuStart - launch} ms after the copy began`);
    const { run } = await watchPhases(() => [join(dir, 'console.log')], { launch, qemuStart: () => qemuStart, deadlineMs: BOOT_MS, poll: () => exited });
    return run;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once('exit', r));
      try {
        process.kill(c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmtPhase = (v: number | null): string => (v === null ? '–' : `${(v / 1000).toFixed(1)} s`);

export function describeRun(label: string, r: BootRun): string {
  return `${label}: QEMU up ${fmtPhase(r.qemuStartMs)}, kernel ${fmtPhase(r.fromLaunch.kernel)}, sshd ${fmtPhase(r.fromLaunch.sshd)}, multi-user ${fmtPhase(r.fromLaunch.multiUser)}, cloud-init finished ${fmtPhase(r.fromLaunch.cloudInit)} (from QEMU start ${fmtPhase(r.fromQemu.cloudInit)}; ${r.datasource}, guest uptime ${r.guestUptimeS} s)`;
}

export async function debianBench(o: { runs: number; volumeRuns: number; boot: boolean; volumes: boolean; say: (s: string) => void }): Promise<DebianFigures> {
  const say = o.say;
  const debian = await buildDebianImage({ say: (l) => say(`debian-12: ${l}`) });
  let out: DebianFigures | undefined;
  await withLocalRegion('nitride-bench-debian-', async ({ home, ec2 }) => {
    const t0 = Date.now();
    const imported = await importDisk({
      file: debian.path,
      name: `debian-12-nitride-${debian.manifest.version}`,
      bootMode: 'legacy-bios',
      client: new RegionApiClient(endpointFromHome(home)),
      inspect: defaultDiskInspector,
      say: (l) => (/progress \d*[05]0%/.test(l) || !l.startsWith('progress') ? say(`import: ${l}`) : undefined),
    });
    const importMs = Date.now() - t0;
    say(`imported ${imported.imageId} (snapshot ${imported.snapshotId}, ${imported.blocks} blocks) in ${(importMs / 1000).toFixed(1)} s`);
    await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
    await ec2.send(new CreateKeyPairCommand({ KeyName: 'bench', KeyType: 'ed25519' }));
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24' }))).Subnet!.SubnetId!;
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'bench', Description: 'bench' }))).GroupId!;
    const instanceDir = (id: string): string => join(home, 'host', 'hypervisor', 'instances', id);
    const launched: string[] = [];
    const state = async (id: string): Promise<string> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name ?? '';
    const waitState = (id: string, want: string, ms: number): Promise<true> => waitFor(`${id} to be ${want}`, async () => ((await state(id)) === want ? true : undefined), ms, 250);
    const rootVolume = async (id: string): Promise<{ state: string; encrypted: boolean; size: number } | undefined> => {
      const v = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [id] }] }))).Volumes?.find((x) => x.Attachments?.[0]?.Device === '/dev/xvda');
      return v ? { state: v.State ?? '', encrypted: v.Encrypted === true, size: v.Size ?? 0 } : undefined;
    };
    const run = async (bdm?: { size: number; encrypted: boolean }): Promise<string> => {
      const inst = (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: imported.imageId,
            InstanceType: TYPE,
            MinCount: 1,
            MaxCount: 1,
            SubnetId: subnet,
            SecurityGroupIds: [sg],
            KeyName: 'bench',
            UserData: USER_DATA,
            ...(bdm ? { BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: bdm.size, Encrypted: bdm.encrypted } }] } : {}),
          }),
        )
      ).Instances![0]!;
      launched.push(inst.InstanceId!);
      return inst.InstanceId!;
    };
    const terminate = async (id: string): Promise<void> => {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await waitState(id, 'terminated', 180_000);
    };

    // ---- 1. boot: Nitride against plain QEMU --------------------------------------------
    const nitride: BootRun[] = [];
    const plain: BootRun[] = [];
    let rootEncrypted = false;
    let identity: Identity | undefined;
    const nitrideBoot = async (): Promise<{ id: string; run: BootRun }> => {
      const launch = Date.now();
      const id = await run();
      const dir = instanceDir(id);
      let qemuStart: number | undefined;
      let pid: number | undefined;
      const { run: r } = await watchPhases(() => [join(dir, 'console.prev.log'), join(dir, 'console.log')], {
        launch,
        qemuStart: () => qemuStart,
        deadlineMs: BOOT_MS,
        poll: () => {
          if (qemuStart === undefined && existsSync(join(dir, 'qemu.pid'))) {
            pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
            if (pid > 0) qemuStart = processStartWall(pid);
          }
          return undefined;
        },
      });
      const vol = await rootVolume(id);
      if (!vol?.encrypted) throw new Error(`the root volume of ${id} is not encrypted`);
      rootEncrypted = true;
      if (identity === undefined) {
        // The first instance lends its QEMU command line and its ENI to the plain peer.
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
        identity = { instanceId: id, argv, ...ids(pid!), volumeBytes: vol.size * GiB };
        say(`captured ${id}'s QEMU command line (${argv.length} arguments, running as ${identity.uid}:${identity.gid}); stopping it to lend its ENI`);
        await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
        await waitState(id, 'stopped', 300_000);
      } else {
        await terminate(id);
      }
      return { id, run: r };
    };
    if (o.boot) {
      for (let i = 0; i < o.runs; i++) {
        // Alternate which goes first (the first run must be Nitride's: it lends the identity).
        const order = i % 2 === 0 ? (['nitride', 'plain'] as const) : (['plain', 'nitride'] as const);
        for (const which of order) {
          if (which === 'nitride') {
            const r = await nitrideBoot();
            nitride.push(r.run);
            say(describeRun(`run ${i + 1} nitride ${r.id}`, r.run));
          } else {
            const r = await plainBoot(debian.path, identity!, say);
            plain.push(r);
            say(describeRun(`run ${i + 1} plain QEMU`, r));
          }
        }
      }
      for (const [side, runs] of [['nitride', nitride], ['plain QEMU', plain]] as const) {
        for (const r of runs) if (!/Ec2/.test(r.datasource)) throw new Error(`${side}: cloud-init used ${r.datasource}, not the Ec2 datasource`);
      }
      if (identity) await terminate(identity.instanceId);
    }

    // ---- 2. root volume creation ----------------------------------------------------------
    const volumes: VolumeRun[] = [];
    if (o.volumes) {
      const peerDir = mkdtempSync(join(tmpdir(), 'nitride-bench-volume-'));
      try {
        for (const encrypted of [true, false]) {
          if (!encrypted) await ec2.send(new DisableEbsEncryptionByDefaultCommand({}));
          for (const size of [2, 20]) {
            for (let i = 0; i < o.volumeRuns; i++) {
              const peer = async (): Promise<number> => {
                const dst = join(peerDir, `root-${size}.raw`);
                rmSync(dst, { force: true });
                const t = Date.now();
                await qemuImg(['convert', '-f', 'raw', '-O', 'raw', debian.path, dst]);
                await qemuImg(['resize', '-q', '-f', 'raw', dst, `${size}G`]);
                const ms = Date.now() - t;
                if (statSync(dst).size !== size * GiB) throw new Error(`qemu-img made ${statSync(dst).size} bytes, not ${size} GiB`);
                rmSync(dst, { force: true });
                return ms;
              };
              const luks = async (): Promise<number> => {
                const dst = join(peerDir, `root-${size}.luks`);
                rmSync(dst, { force: true });
                const secret = ['--object', 'secret,id=sec0,data=nitride-bench'];
                const t = Date.now();
                await qemuImg(['create', '-q', '-f', 'luks', ...secret, '-o', 'key-secret=sec0,iter-time=10', dst, `${size}G`]);
                await qemuImg(['convert', '-n', ...secret, '-f', 'raw', debian.path, '--target-image-opts', `driver=luks,key-secret=sec0,file.filename=${dst}`]);
                const ms = Date.now() - t;
                rmSync(dst, { force: true });
                return ms;
              };
              const ours = async (): Promise<{ apiMs: number; runningMs: number }> => {
                const t = Date.now();
                const id = await run({ size, encrypted });
                const apiMs = Date.now() - t;
                const runningMs = await waitFor(
                  `${id}'s root volume in-use and the instance running`,
                  async () => {
                    const [v, s] = await Promise.all([rootVolume(id), state(id)]);
                    if (v?.state !== 'in-use' || s !== 'running') return undefined;
                    if (v.encrypted !== encrypted || v.size !== size) throw new Error(`${id}'s root volume is ${v.size} GiB encrypted=${v.encrypted}, wanted ${size} GiB encrypted=${encrypted}`);
                    return Date.now() - t;
                  },
                  300_000,
                  POLL_MS,
                );
                await terminate(id);
                return { apiMs, runningMs };
              };
              const first = i % 2 === 0;
              const a = first ? await ours() : undefined;
              const peerMs = await peer();
              const luksMs = encrypted ? await luks() : null;
              const b = a ?? (await ours());
              volumes.push({ sizeGiB: size, encrypted, apiMs: b.apiMs, runningMs: b.runningMs, peerMs, luksMs });
              say(`root volume ${size} GiB ${encrypted ? 'encrypted' : 'unencrypted'}: RunInstances answered ${b.apiMs} ms, in-use + running ${b.runningMs} ms; qemu-img convert + resize ${peerMs} ms${luksMs === null ? '' : `; qemu-img to LUKS ${luksMs} ms`}`);
            }
          }
        }
      } finally {
        rmSync(peerDir, { recursive: true, force: true });
      }
    }
    for (const id of launched) await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch(() => undefined);
    out = {
      image: { version: debian.manifest.version, sha256: debian.sha256, virtualBytes: debian.manifest.disk.virtualBytes, allocatedBytes: debian.manifest.disk.allocatedBytes },
      importMs,
      rootEncrypted,
      nitride,
      plain,
      volumes,
    };
  });
  return out!;
}

