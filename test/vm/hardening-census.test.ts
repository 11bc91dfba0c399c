// The hardening census (issue 6, item 7) after a full scenario on a real `nitride start`
// (region + local host: controller, hypervisor, EBS card, VPC card, QEMU): enrol, launch a
// guest that makes network traffic (DHCP, IMDSv2, pings to its gateway), create an encrypted
// volume and attach it (the guest writes to it), live-update the EBS and VPC cards through
// the region → controller path, detach, terminate. Throughout, the inet sockets of every
// host process are sampled from /proc every 25 ms; once mid-scenario every listening socket
// of every host process is listed. The claims:
//   - the only TCP listener of the host is the controller's mTLS port (the region's API is
//     the region process's, not a host process's); no host process ever holds another inet
//     socket (no outbound connection, no UDP) — the controller only listens and accepts;
//   - every unix socket a host process listens on is a 0600 file, or — a card's socket that
//     one guest's QEMU connects to (its EBS export, its NIC) — root:<that guest's gid> 0660;
//   - QEMU runs in its jail with -sandbox on: its own uid and gid (the hypervisor's table,
//     jail-ids.json), no_new_privs, no capability, its own mount namespace, its own cgroup;
//     its QMP socket is its own 0600 file in its own 0700 run/ directory inside the
//     root-owned instance directory; no host process runs with a debugger/inspector flag;
//   - the controller (the union of its components' sets), the hypervisor, the EBS and VPC
//     cards (and the underlay bridge when it runs) hold only the capabilities
//     src/lib/privileges.ts grants each, with no_new_privs;
//   - every controller command of the scenario is in the host's audit log, which verifies.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { AttachVolumeCommand, CreateVolumeCommand, DetachVolumeCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand, waitUntilInstanceRunning, waitUntilInstanceTerminated, waitUntilVolumeAvailable, waitUntilVolumeInUse } from '@aws-sdk/client-ec2';
import { verifyChainText } from '../../src/audit/chain.js';
import { capabilityMask, COMPONENT_CAPABILITIES, COMPONENT_USERS, componentIds } from '../../src/lib/privileges.js';
import { childPids, inetSocketsOf, watchForOutbound } from '../../src/controller/testing/fixtures.js';
import { BUILTIN_AMI, CLI_MAIN, backgroundUserData, cleanEnv, cleanupHome, controllerPid, ensureGuestImage, guestConsole, processesInside, qemuPids, startRegion, waitFor, type RegionProcess } from '../region-fixtures.js';

const SCRIPT = `
while :; do ping -c 1 -W 1 $(ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p') >/dev/null 2>&1; sleep 0.3; done &
while [ ! -b /dev/nvme0n1 ]; do sleep 0.2; done
dd if=/dev/urandom of=/dev/nvme0n1 bs=4096 count=256 conv=fsync 2>/dev/null && echo "census: wrote volume"
`;

/** Every descendant of pid (children, grandchildren, …). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of childPids(queue.shift()!)) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** The host's processes: the controller, everything it forked, and QEMU/swtpm (own sessions, cwd in the home). */
function hostPids(home: string): { controller: number | undefined; others: number[] } {
  const controller = controllerPid(home);
  const others = new Set<number>([...(controller !== undefined ? descendants(controller) : []), ...qemuPids(home).values(), ...processesInside(home)]);
  if (controller !== undefined) others.delete(controller);
  return { controller, others: [...others] };
}

interface UnixListener {
  pid: number;
  path: string;
  mode: number;
  uid: number;
}

/** The listening unix sockets a process holds (from /proc/<pid>/fd and /proc/net/unix). */
function unixListenersOf(pid: number): (UnixListener | { pid: number; path: ''; inode: string })[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const out: (UnixListener | { pid: number; path: ''; inode: string })[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || !inodes.has(f[6]!)) continue;
    const listening = (parseInt(f[3]!, 16) & 0x10000) !== 0; // __SO_ACCEPTCON
    if (!listening) continue;
    let path = f[7] ?? '';
    if (path === '' || path.startsWith('@')) {
      out.push({ pid, path: '', inode: f[6]! });
      continue;
    }
    // QEMU binds its QMP socket by a name relative to its instance directory.
    if (!path.startsWith('/')) path = join(readlinkSync(`/proc/${pid}/cwd`), path);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st) out.push({ pid, path, mode: st.mode & 0o777, uid: st.uid });
  }
  return out;
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
  } catch {
    return [];
  }
}

function umaskOf(pid: number): string | undefined {
  return /^Umask:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
}

function uidOf(pid: number): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

test('hardening census after a full scenario: one TCP listener (the controller), no outbound socket, unix sockets 0600 or one guest\'s, QEMU jailed with its own uid and cgroup, audited commands', { timeout: 900_000 }, async () => {
  await ensureGuestImage();
  const home = await mkdtemp(join(tmpdir(), 'nitride-census-'));
  let r: RegionProcess | undefined;
  let failed = true;
  let watch: ReturnType<typeof watchForOutbound> | undefined;
  try {
    r = await startRegion({ home });
    const region = r;
    const rt = JSON.parse(readFileSync(join(home, 'host', 'controller.json'), 'utf8')) as { port: number };
    watch = watchForOutbound(() => hostPids(home), rt.port);
    const ec2 = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: region.credentials, maxAttempts: 1 });

    const id = (await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: backgroundUserData(SCRIPT) }))).Instances![0]!.InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, maxWaitTime: 240, minDelay: 2, maxDelay: 4 }, { InstanceIds: [id] });
    await waitFor('the guest to fetch its user data over IMDSv2', async () => ((await guestConsole(ec2, id)).includes('nitride-init: user-data running') ? true : undefined), 240_000, 2_000);
    const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true }))).VolumeId!;
    await waitUntilVolumeAvailable({ client: ec2, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { VolumeIds: [vol] });
    await ec2.send(new AttachVolumeCommand({ VolumeId: vol, InstanceId: id, Device: '/dev/sdf' }));
    await waitUntilVolumeInUse({ client: ec2, maxWaitTime: 120, minDelay: 1, maxDelay: 2 }, { VolumeIds: [vol] });
    await waitFor('the guest to write to its volume', async () => ((await guestConsole(ec2, id)).includes('census: wrote volume') ? true : undefined), 120_000, 2_000);

    // Mid-scenario (guest running, volume attached, both cards serving): every listener.
    const { controller, others } = hostPids(home);
    assert.ok(controller !== undefined, 'the controller runs');
    const all = [controller, ...others];
    const names = (pid: number): string => cmdline(pid).slice(0, 3).join(' ');
    assert.ok(all.some((p) => cmdline(p).some((a) => a.includes('qemu-system'))), `QEMU is among the host processes: ${all.map(names).join(' | ')}`);
    const tcpListeners = all.flatMap((pid) => inetSocketsOf(pid).filter((s) => s.state === '0A' || s.proto.startsWith('udp')).map((s) => ({ pid, ...s })));
    assert.deepEqual(
      tcpListeners.map((s) => `${s.proto}:${s.localPort}`),
      [`tcp:${rt.port}`],
      `the only inet listener of the host is the controller's mTLS port: ${JSON.stringify(tcpListeners.map((s) => ({ ...s, cmd: names(s.pid) })))}`,
    );
    assert.equal(tcpListeners[0]!.pid, controller);
    // The region (a separate process on the region node) listens on its API port only.
    const regionListen = inetSocketsOf(region.child.pid!).filter((s) => s.state === '0A').map((s) => s.localPort);
    assert.deepEqual(regionListen, [region.port], 'the region process listens on its API port only');

    const unix = all.flatMap((pid) => unixListenersOf(pid));
    const unnamed = unix.filter((u) => u.path === '');
    assert.deepEqual(unnamed, [], 'no abstract or unnamed listening unix socket');
    const named = unix as UnixListener[];
    process.stderr.write(`[census] unix listeners: ${named.map((u) => `${u.path} ${u.mode.toString(8)} uid ${u.uid} (${names(u.pid)})`).join('\n[census]   ')}\n`);
    assert.ok(named.length >= 3, 'the census sees the cards\' and QMP sockets');
    // QEMU's jail: its uid and gid are the instance's own, from the hypervisor's table.
    const jailIds = (JSON.parse(readFileSync(join(home, 'host', 'hypervisor', 'jail-ids.json'), 'utf8')) as { ids: Record<string, number> }).ids;
    const guestGids = new Set<number>();
    for (const [instanceId, pid] of qemuPids(home)) {
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(st)?.[1]?.trim() ?? '';
      const jailId = jailIds[instanceId];
      assert.ok(jailId !== undefined && jailId >= 1_700_000_000, `${instanceId} has a uid of its own`);
      assert.equal(field('Uid').split(/\s+/)[0], String(jailId), 'QEMU runs as its instance\'s uid');
      assert.equal(field('Gid').split(/\s+/)[0], String(jailId), 'and gid');
      assert.deepEqual([field('Groups'), field('NoNewPrivs'), field('CapEff'), field('CapBnd')], ['', '1', '0000000000000000', '0000000000000000'], 'no groups, no_new_privs, no capability');
      assert.notEqual(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync(`/proc/${controller}/ns/mnt`), 'QEMU has its own mount namespace');
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      assert.ok(cgroups.includes(`nitride.slice/${instanceId}`), `QEMU is in its own cgroup: ${cgroups}`);
      guestGids.add(jailId);
    }
    assert.equal(new Set(Object.values(jailIds)).size, Object.keys(jailIds).length, 'no two instances share a uid');
    for (const u of named) {
      if (u.mode === 0o600) continue;
      // A card's socket that one guest's QEMU connects to: root, that guest's group, 0660.
      const st = statSync(u.path);
      assert.ok(u.mode === 0o660 && st.uid === 0 && guestGids.has(st.gid), `${u.path} is 0600, or root:<a guest's gid> 0660 (${u.mode.toString(8)} ${st.uid}:${st.gid}, ${names(u.pid)})`);
    }
    assert.ok(named.some((u) => u.mode === 0o660), 'the guest\'s EBS and NIC sockets are its group\'s');

    // QEMU: unprivileged, sandboxed, QMP in its 0700 instance directory, no network monitor/debug.
    for (const pid of qemuPids(home).values()) {
      const args = cmdline(pid);
      assert.notEqual(uidOf(pid), 0, 'QEMU does not run as root');
      assert.equal(umaskOf(pid), '0177', 'QEMU creates its files under umask 177');
      const sb = args.indexOf('-sandbox');
      assert.ok(sb >= 0 && args[sb + 1]!.startsWith('on'), `QEMU runs with -sandbox on: ${args.join(' ')}`);
      for (const forbidden of ['-gdb', '-s', '-vnc', '-spice', '-monitor']) assert.ok(!args.includes(forbidden), `QEMU has no ${forbidden}`);
      assert.ok(!args.some((a) => /tcp:|telnet|websocket/.test(a)), 'no QEMU chardev or monitor on TCP');
      const qmp = named.find((u) => u.pid === pid);
      assert.ok(qmp, 'QEMU listens on its QMP socket');
      const runDir = statSync(dirname(qmp.path));
      assert.deepEqual([runDir.mode & 0o777, runDir.uid], [0o700, uidOf(pid)], 'QMP sits in the instance\'s own 0700 run/ directory');
      const qmpSt = statSync(qmp.path);
      assert.equal(qmpSt.uid, uidOf(pid), 'the QMP socket is QEMU\'s own');
      const instDir = statSync(dirname(dirname(qmp.path)));
      assert.deepEqual([instDir.mode & 0o777, instDir.uid], [0o710, componentIds('ebs')?.uid], 'the instance directory is the EBS card\'s user\'s (it puts its sockets there): QEMU cannot replace the hypervisor\'s records');
    }
    for (const pid of all) assert.ok(!cmdline(pid).some((a) => /^--(inspect|debug)/.test(a)), `no inspector on ${names(pid)}`);

    // Least privilege: each component the controller forked holds only its own capabilities, with no_new_privs.
    const components = { controller: 'controller/main.js', hypervisor: 'hypervisor/main.js', ebs: 'ebs/card/main.js', vpc: 'vpc/main.js', underlay: 'vpc/underlay/main.js' } as const;
    for (const [name, entry] of Object.entries(components)) {
      const pids = all.filter((p) => cmdline(p).some((a) => a.endsWith(entry)));
      if (name !== 'underlay') assert.ok(pids.length > 0, `the ${name} component runs`);
      for (const p of pids) {
        const st = readFileSync(`/proc/${p}/status`, 'utf8');
        const f = (k: string): string | undefined => new RegExp(`^${k}:\\s+(\\S+)`, 'm').exec(st)?.[1];
        assert.deepEqual([f('NoNewPrivs'), f('CapBnd'), f('CapEff')], ['1', capabilityMask(name), capabilityMask(name)], `${name} keeps only ${Object.keys(COMPONENT_CAPABILITIES[name] ?? {}).join(',')}`);
        // the cards under users of their own; the controller and the hypervisor stay uid 0 (docs/THREAT-MODEL.md)
        assert.equal(uidOf(p), componentIds(name)?.uid ?? 0, `${name} runs as ${COMPONENT_USERS[name] ?? 'root'}`);
      }
    }

    // Live updates of both cards through the region → controller path, then detach and terminate.
    for (const component of ['ebs', 'vpc']) {
      const res = spawnSync(process.execPath, [CLI_MAIN, 'host', 'restart-component', component, '--home', home, '--json'], { encoding: 'utf8', env: cleanEnv(), timeout: 180_000 });
      assert.equal(res.status, 0, `restart-component ${component}: ${res.stderr}${res.stdout}`);
    }
    await ec2.send(new DetachVolumeCommand({ VolumeId: vol }));
    await waitUntilVolumeAvailable({ client: ec2, maxWaitTime: 120, minDelay: 1, maxDelay: 2 }, { VolumeIds: [vol] });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceTerminated({ client: ec2, maxWaitTime: 120, minDelay: 2, maxDelay: 4 }, { InstanceIds: [id] });

    const w = watch.stop();
    watch = undefined;
    process.stderr.write(`[census] ${w.samples} socket samples; controller listener seen ${w.listenerSeen}×, accepted connections ${w.acceptedSeen}×, fork windows ${w.forkWindow}\n`);
    assert.ok(w.samples > 100 && w.listenerSeen > 0 && w.acceptedSeen > 0, 'the census ran and saw the controller\'s sockets');
    assert.deepEqual(w.violations.map((v) => ({ ...v, cmd: names(v.pid) })), [], 'no host process held any inet socket but the controller\'s listener and the connections it accepted');

    // Every command of the scenario is in the host's audit log, which verifies.
    const text = readFileSync(join(home, 'host', 'audit.log'), 'utf8');
    const verdict = verifyChainText(text);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    for (const type of ['instance.start', 'volume.attach', 'volume.detach', 'eni.put', 'host.restart-component', 'instance.terminate']) {
      assert.ok(text.includes(`"${type}"`), `the host audit log records ${type}`);
    }
    await region.stop();
    failed = false;
  } finally {
    watch?.stop();
    await cleanupHome(home, [r], failed);
  }
});
