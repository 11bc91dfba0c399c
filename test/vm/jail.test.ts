// A jail per guest, proven with two real guests A and B under one hypervisor (as root), each
// with a NIC on a forked VPC card, a vTPM (swtpm) and, for B, an EBS volume served by a
// forked EBS card and hot-plugged through the jail. A stand-in for a compromised QEMU — a
// python3 process with A's exact credentials (setpriv: A's uid and gid, no groups,
// no_new_privs, no capabilities) — tries to reach B:
//   - inside A's mount namespace (nsenter into A's QEMU): B's directory, sockets (QMP, EBS,
//     NIC, vTPM), vTPM state, volume file and /proc/<B>/mem do not exist there at all
//     (ENOENT: the jail holds only A's files), and kill -0 and ptrace of B fail with EPERM;
//   - with the same credentials in the host's mount namespace (as if the jail's mounts were
//     escaped): every one of those opens and connects fails with EACCES, kill and ptrace
//     with EPERM.
// The same probe reaches A's own console log in A's jail and signals A's own QEMU, so it is
// not failing for some other reason. B is still running, its pid unchanged, its QMP answering.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { forkChild } from '../../src/lib/channel/child.js';
import { giveToComponent } from '../../src/lib/privileges.js';
import { distEntry } from '../../src/lib/paths.js';
import type { EbsContract } from '../../src/ebs/protocol/messages.js';
import type { HypervisorEvent, InstanceSpec } from '../../src/hypervisor/protocol/messages.js';
import { runningVtpm, vtpmFiles } from '../../src/hypervisor/vtpm.js';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import { credentialsOf, instanceCgroups, jailIdOf } from './jail-fixtures.js';
import { instanceSpec, pidAlive, withHypervisor } from './hypervisor-fixtures.js';

const BOOT_MS = 150_000;
const PYTHON = '/usr/bin/python3';

/** Tries each access and prints {what: 'ok' | errno name}. Arguments: one JSON object. */
const PROBE = `
import ctypes, errno, json, os, socket, sys
req = json.loads(sys.argv[1])
out = {}
def res(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def connect(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(p)
    finally:
        s.close()
for p in req['open']:
    out['open ' + p] = res(lambda: os.close(os.open(p, os.O_RDONLY)))
for p in req['list']:
    out['list ' + p] = res(lambda: os.listdir(p))
for p in req['connect']:
    out['connect ' + p] = res(lambda: connect(p))
for pid in req['kill']:
    out['kill %d' % pid] = res(lambda: os.kill(pid, 0))
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
for pid in req['ptrace']:
    if libc.ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
        libc.ptrace(17, pid, None, None)       # PTRACE_DETACH
        out['ptrace %d' % pid] = 'ok'
    else:
        out['ptrace %d' % pid] = errno.errorcode.get(ctypes.get_errno(), '?')
out['ids'] = '%d %d %s' % (os.getuid(), os.getgid(), os.getgroups())
print(json.dumps(out))
`;

interface ProbeRequest {
  open: string[];
  list: string[];
  connect: string[];
  kill: number[];
  ptrace: number[];
}

/** Runs the probe as `cred` (A's), inside the mount namespace of `nsPid` when given. */
function probe(cred: { uid: number; gid: number }, req: ProbeRequest, nsPid?: number): Record<string, string> {
  const setpriv = ['/usr/bin/setpriv', `--reuid=${cred.uid}`, `--regid=${cred.gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--', PYTHON, '-c', PROBE, JSON.stringify(req)];
  const argv = nsPid === undefined ? setpriv : ['nsenter', '-t', String(nsPid), '-m', '--', ...setpriv];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `the probe ran: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

function memoryLimitOf(cgroups: string[]): number | undefined {
  for (const cg of cgroups) {
    for (const f of ['memory.max', 'memory.limit_in_bytes']) {
      try {
        return Number(readFileSync(join(cg, f), 'utf8').trim());
      } catch {
        // not this hierarchy
      }
    }
  }
  return undefined;
}

test('vm jail: a process with guest A\'s credentials and namespaces cannot reach guest B', { timeout: 900_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'the jail needs a root hypervisor: run this test as root');
  const vpc = await CardHarness.start();
  const ebsRoot = await mkdtemp(join(tmpdir(), 'nitride-jail-ebs-'));
  giveToComponent('ebs', ebsRoot); // the card runs as its own user (src/lib/privileges.ts)
  const ebs = forkChild<EbsContract>(distEntry('ebs/card/main.js'), ['--root', join(ebsRoot, 'store'), '--socket-dir', join(ebsRoot, 'sockets')], { component: 'ebs', readyEvent: 'card.ready', stdio: 'pipe', timeoutMs: 60_000 });
  try {
    await ebs.ready;
    await withHypervisor(async (h) => {
      const boot = async (spec: InstanceSpec & { image: NonNullable<InstanceSpec['image']> }): Promise<{ pid: number; nic: string; dir: string }> => {
        const e = eni('vpc-j', '10.9.0.0/24', `10.9.0.${10 + Math.floor(Math.random() * 200)}`, ['sg-j'], { imds: imds(spec.instanceId) });
        const info = await vpc.addEni(e);
        const ready = h.channel.waitEvent((ev: HypervisorEvent) => ev.event === 'instance.ready' && ev.instanceId === spec.instanceId, BOOT_MS);
        const started = await h.channel.request('instance.start', { spec: { ...spec, tpm: { key: randomBytes(32).toString('base64') }, nics: [{ mac: e.mac, socketPath: info.socketPath }] } });
        await ready;
        return { pid: started.pid as number, nic: info.socketPath, dir: join(h.stateDir, 'instances', spec.instanceId) };
      };
      const sa = await instanceSpec('t3.nano');
      const sb = await instanceSpec('t3.nano');
      const A = await boot(sa);
      const B = await boot(sb);

      // B gets an EBS volume: the card serves it on a socket in B's directory, the hypervisor hot-plugs it.
      const volumeId = `vol-${randomBytes(9).toString('hex').slice(0, 17)}`;
      const socketName = `ebs-${volumeId}.sock`;
      await ebs.request('volume.attach', { volumeId, sizeBytes: 64 * 2 ** 20, sealedKey: null, ephemeral: true, socketPath: join(B.dir, socketName) });
      const plugged = await h.channel.request('instance.attach-volume', { instanceId: sb.instanceId, volume: { volumeId, serial: volumeId.replace('-', ''), socketName } });
      assert.equal(plugged.plugged, true);
      const volumeFile = readdirSync(join(ebsRoot, 'store'), { recursive: true }).map(String).find((f) => f.includes(volumeId));
      assert.ok(volumeFile, 'the card holds B\'s volume in a file');

      // Each guest: its own uid and gid, no_new_privs, no capabilities, its swtpm likewise.
      const idA = jailIdOf(h.stateDir, sa.instanceId)!;
      const idB = jailIdOf(h.stateDir, sb.instanceId)!;
      assert.ok(idA !== undefined && idB !== undefined && idA !== idB, `two guests, two uids: ${idA} ${idB}`);
      const swtpmA = runningVtpm(A.dir);
      const swtpmB = runningVtpm(B.dir);
      assert.ok(swtpmA !== undefined && swtpmB !== undefined, 'both vTPMs run');
      for (const [pid, id, what] of [[A.pid, idA, 'A QEMU'], [swtpmA, idA, 'A swtpm'], [B.pid, idB, 'B QEMU'], [swtpmB, idB, 'B swtpm']] as const) {
        const c = credentialsOf(pid);
        assert.deepEqual([c.uid, c.gid, c.groups, c.noNewPrivs, c.capEff, c.capBnd], [id, id, '', '1', '0000000000000000', '0000000000000000'], `${what} runs as its instance, unprivileged`);
      }

      // Each guest: its own mount namespace, holding only its own files.
      const ns = (pid: number): string => readlinkSync(`/proc/${pid}/ns/mnt`);
      assert.notEqual(ns(A.pid), ns(B.pid));
      assert.notEqual(ns(A.pid), readlinkSync('/proc/self/ns/mnt'));
      const mountsA = readFileSync(`/proc/${A.pid}/mountinfo`, 'utf8');
      assert.ok(mountsA.includes(A.dir) && mountsA.includes(A.nic), 'A\'s jail holds its directory and its NIC socket');
      assert.ok(!mountsA.includes(sb.instanceId) && !mountsA.includes(B.nic), 'and nothing of B');
      const top = readdirSync(`/proc/${A.pid}/root`).sort();
      process.stderr.write(`[jail] A's root: ${top.join(' ')}\n[jail] A's mounts:\n${mountsA}`);
      for (const entry of top) assert.ok(['bin', 'dev', 'etc', 'lib', 'lib64', 'sbin', 'usr', A.dir.split('/')[1], A.nic.split('/')[1]].includes(entry), `unexpected ${entry} in A's jail`);

      // Each guest: its own cgroup with a memory ceiling; QEMU and swtpm are in it.
      const cgA = instanceCgroups(A.dir);
      const cgB = instanceCgroups(B.dir);
      assert.ok(cgA.length > 0 && cgB.length > 0);
      for (const [cgs, pids] of [[cgA, [A.pid, swtpmA]], [cgB, [B.pid, swtpmB]]] as const) {
        for (const cg of cgs) {
          const procs = readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
          for (const p of pids) assert.ok(procs.includes(p), `${p} is in ${cg}`);
        }
      }
      const limit = memoryLimitOf(cgA);
      assert.ok(limit !== undefined && limit >= 512 * 2 ** 20 && limit < 4 * 2 ** 30, `A's memory ceiling: ${limit}`);
      for (const cg of cgA) {
        try {
          process.stderr.write(`[jail] ${cg}: memory ceiling ${limit} bytes, peak ${readFileSync(join(cg, 'memory.max_usage_in_bytes'), 'utf8').trim()} bytes\n`);
        } catch {
          // not the memory hierarchy, or v2 (memory.peak)
        }
      }

      // The socket files QEMU connects to belong to their instance only.
      for (const [path, id] of [[A.nic, idA], [B.nic, idB], [join(B.dir, socketName), idB]] as const) {
        const st = statSync(path);
        assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, id, 0o660], `${path} is root:<its instance's gid> 0660`);
      }
      for (const [path, id] of [[join(A.dir, 'run', 'qmp.sock'), idA], [vtpmFiles(B.dir).ctrlSocket, idB]] as const) {
        const st = statSync(path);
        assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [id, id, 0o600], `${path} is its instance's own, 0600`);
      }

      // The stand-in for a compromised QEMU of A.
      const bTargets = {
        open: [join(B.dir, 'console.log'), join(B.dir, 'spec.json'), join(vtpmFiles(B.dir).stateDir, 'tpm2-00.permall'), join(ebsRoot, 'store', volumeFile), `/proc/${B.pid}/mem`, `/proc/${swtpmB}/mem`],
        list: [B.dir, join(B.dir, 'run'), vtpmFiles(B.dir).stateDir],
        connect: [join(B.dir, 'run', 'qmp.sock'), join(B.dir, socketName), B.nic, vtpmFiles(B.dir).ctrlSocket],
        kill: [B.pid, swtpmB],
        ptrace: [B.pid, swtpmB],
      };
      const own = { open: [join(A.dir, 'console.log')], list: [], connect: [], kill: [A.pid], ptrace: [] };
      const req: ProbeRequest = { open: [...bTargets.open, ...own.open], list: bTargets.list, connect: bTargets.connect, kill: [...bTargets.kill, ...own.kill], ptrace: bTargets.ptrace };

      const inJail = probe({ uid: idA, gid: idA }, req, A.pid);
      const outside = probe({ uid: idA, gid: idA }, req);
      process.stderr.write(`[jail] in A's namespace: ${JSON.stringify(inJail)}\n[jail] host namespace: ${JSON.stringify(outside)}\n`);
      for (const r of [inJail, outside]) {
        assert.equal(r['ids'], `${idA} ${idA} []`, 'the probe ran with A\'s uid and gid and no groups');
        assert.equal(r[`kill ${A.pid}`], 'ok', 'control: A may signal its own QEMU');
        for (const pid of bTargets.kill) assert.equal(r[`kill ${pid}`], 'EPERM', `kill -0 ${pid} of B`);
        for (const pid of bTargets.ptrace) assert.equal(r[`ptrace ${pid}`], 'EPERM', `ptrace ${pid} of B`);
      }
      // Control: in its jail A reaches its own console log; outside it, not even that (the
      // hypervisor's state directory is root's 0700), which is why the socket and file modes
      // are asserted above by stat, and /proc/<B>/mem, kill and ptrace hold by uid alone.
      assert.equal(inJail[`open ${join(A.dir, 'console.log')}`], 'ok', 'control: A reaches its own console log in its jail');
      assert.equal(outside[`open ${join(A.dir, 'console.log')}`], 'EACCES', 'outside its jail A cannot traverse the hypervisor\'s state directory');
      for (const p of bTargets.open) {
        assert.equal(inJail[`open ${p}`], 'ENOENT', `${p} does not exist in A's jail`);
        assert.equal(outside[`open ${p}`], 'EACCES', `${p} is refused to A's uid`);
      }
      for (const p of bTargets.list) {
        assert.equal(inJail[`list ${p}`], 'ENOENT', `${p} does not exist in A's jail`);
        assert.equal(outside[`list ${p}`], 'EACCES', `${p} is refused to A's uid`);
      }
      for (const p of bTargets.connect) {
        assert.equal(inJail[`connect ${p}`], 'ENOENT', `${p} does not exist in A's jail`);
        assert.equal(outside[`connect ${p}`], 'EACCES', `${p} is refused to A's uid`);
      }

      // B is untouched: the same QEMU and swtpm, running, answering QMP, its disk still plugged.
      assert.ok(pidAlive(B.pid) && pidAlive(swtpmB));
      assert.equal(runningVtpm(B.dir), swtpmB);
      const described = await h.channel.request('instance.describe', { instanceId: sb.instanceId });
      assert.deepEqual([described.state, described.pid], ['running', B.pid]);
      const status = (await h.channel.request('instance.qmp', { instanceId: sb.instanceId, execute: 'query-status' })) as { status: string };
      assert.equal(status.status, 'running');
      const nodes = (await h.channel.request('instance.qmp', { instanceId: sb.instanceId, execute: 'query-named-block-nodes' })) as { 'node-name'?: string }[];
      assert.ok(nodes.some((n) => n['node-name'] === `ebs-${volumeId}-nbd`), 'B\'s volume is still plugged');

      // Teardown through the hypervisor: the cgroups and the uid allocations go.
      for (const s of [sa, sb]) await h.channel.request('instance.terminate', { instanceId: s.instanceId });
      for (const cg of [...cgA, ...cgB]) assert.ok(!readdirSync(join(cg, '..')).includes(cg.split('/').pop()!), `${cg} is removed`);
      assert.equal(jailIdOf(h.stateDir, sa.instanceId), undefined);
      assert.equal(jailIdOf(h.stateDir, sb.instanceId), undefined);
    });
  } finally {
    await ebs.kill();
    await vpc.stop();
    await rm(ebsRoot, { recursive: true, force: true });
  }
});
