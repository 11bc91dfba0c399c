// The hypervisor process as the controller sees it: forked with an IPC channel, no
// listening socket, clear errors for bad input with nothing created, every forbidden QMP
// command refused and audited before the reply, and a clean exit (guests untouched) when
// the channel closes. No guest is booted here; test/vm/hypervisor.test.ts boots real ones.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QMP_FORBIDDEN } from '../../src/hypervisor/protocol/qmp-allowlist.js';
import type { HypervisorEvent, HypervisorReply, InstanceSpec } from '../../src/hypervisor/protocol/messages.js';
import { type HypervisorHarness, newInstanceId, withHypervisor } from '../vm/hypervisor-fixtures.js';
import { componentIds } from '../../src/lib/privileges.js';

const ZERO = '0'.repeat(64);

async function fakeImage(dir: string): Promise<NonNullable<InstanceSpec['image']>> {
  await writeFile(join(dir, 'kernel'), 'not a kernel');
  await writeFile(join(dir, 'initrd'), 'not an initrd');
  return { kernel: join(dir, 'kernel'), initrd: join(dir, 'initrd'), cmdline: 'console=ttyS0', kernelSha256: ZERO, initrdSha256: ZERO };
}

/** Socket inodes a process holds, and which of them are listening (unix or TCP). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  const found: string[] = [];
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening.
  for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 7 && inodes.has(f[6] ?? '') && f[3] === '00010000') found.push(`unix ${f[7] ?? '(abstract)'}`);
  }
  for (const t of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${t}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && inodes.has(f[9] ?? '')) found.push(`${t} ${f[1]} state ${f[3]}`);
    }
  }
  return found;
}

async function expectError(h: HypervisorHarness, p: Promise<unknown>, code: string): Promise<Error & { code: string; kind: string }> {
  await assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, `${e.message}\n${h.stderr.slice(-2000)}`);
    return true;
  });
  return (await p.catch((e: unknown) => e)) as Error & { code: string; kind: string };
}

test('hypervisor: answers host.info over IPC and listens on nothing', async () => {
  await withHypervisor(async (h) => {
    const info = await h.channel.request('host.info', {});
    assert.equal(info.protocolVersion, 1);
    assert.equal(info.pid, h.channel.pid);
    assert.equal(info.instances, 0);
    if (existsSync('/sys/module/kvm_pvm') || !existsSync('/dev/kvm')) {
      assert.equal(info.accel, 'tcg', 'kvm_pvm or no /dev/kvm must mean TCG');
      assert.match(info.accelReason, /kvm_pvm|does not exist/);
    }
    assert.deepEqual(listeningSockets(h.channel.pid as number), []);
    // as root: searchable (not listable) by the EBS card's group on its way to the instance directories
    const ebs = process.getuid?.() === 0 ? componentIds('ebs') : undefined;
    for (const d of [h.stateDir, join(h.stateDir, 'instances')]) assert.deepEqual([statSync(d).mode & 0o777, ebs ? statSync(d).gid : undefined], [ebs ? 0o710 : 0o700, ebs?.gid]);
  });
});

test('hypervisor: malformed requests get clear errors and the process stays up', async () => {
  await withHypervisor(async (h) => {
    const replies = new Map<number, HypervisorReply>();
    h.channel.child.on('message', (m: HypervisorReply) => {
      if ('id' in m) replies.set(m.id, m);
    });
    h.channel.sendRaw({ v: 1, id: 901, op: 'instance.explode', params: {} });
    h.channel.sendRaw({ v: 2, id: 902, op: 'host.info', params: {} });
    h.channel.sendRaw({ v: 1, id: 903, op: 'instance.start', params: { spec: { instanceId: 'i-1' } } });
    h.channel.sendRaw({ v: 1, id: 904, op: 'instance.describe', params: { instanceId: '../../etc' } });
    h.channel.sendRaw({ v: 1, id: 905, op: 'instance.stop', params: { instanceId: newInstanceId(), deadlineMs: -5 } });
    h.channel.sendRaw(['not', 'an', 'object']);
    const info = await h.channel.request('host.info', {});
    assert.equal(info.instances, 0);
    const codes = [901, 902, 903, 904, 905].map((id) => {
      const r = replies.get(id);
      assert.ok(r && !r.ok, `request ${id} must be refused`);
      return r.ok ? '' : r.error.code;
    });
    assert.deepEqual(codes, ['MalformedRequest', 'MalformedRequest', 'InvalidInstanceID.Malformed', 'InvalidInstanceID.Malformed', 'MalformedRequest']);
    await expectError(h, h.channel.request('instance.describe', { instanceId: newInstanceId() }), 'InvalidInstanceID.NotFound');
    assert.deepEqual(h.instanceDirs(), []);
  });
});

test('hypervisor: unknown instance type, corrupt or missing image: refused, nothing created', async () => {
  await withHypervisor(async (h) => {
    const imgDir = await mkdtemp(join(tmpdir(), 'nitride-fakeimg-'));
    try {
      const image = await fakeImage(imgDir);
      const e1 = await expectError(h, h.channel.request('instance.start', { spec: { instanceId: newInstanceId(), instanceType: 'z9.galactic', image } }), 'InvalidInstanceType');
      assert.equal(e1.kind, 'invalid');
      const e2 = await expectError(h, h.channel.request('instance.start', { spec: { instanceId: newInstanceId(), instanceType: 't3.nano', image } }), 'ImageCorrupt');
      assert.equal(e2.kind, 'invalid');
      await expectError(
        h,
        h.channel.request('instance.start', { spec: { instanceId: newInstanceId(), instanceType: 't3.nano', image: { ...image, kernel: join(imgDir, 'missing') } } }),
        'ImageNotFound',
      );
      assert.deepEqual(h.instanceDirs(), [], 'no instance directory may be left behind');
      assert.deepEqual(await h.channel.request('instance.list', {}), []);
      assert.equal(h.events.filter((e) => e.event === 'instance.state').length, 0, 'no state change for a refused start');
    } finally {
      await rm(imgDir, { recursive: true, force: true });
    }
  });
});

test('hypervisor: every forbidden QMP command is audited, then refused', async () => {
  await withHypervisor(async (h) => {
    const instanceId = newInstanceId();
    const commands = [...Object.keys(QMP_FORBIDDEN), 'x-debug-query-block-graph', 'x-exit-preconfig', 'trace-event-set-state', 'qom-get'];
    for (const execute of commands) {
      const before = h.messages.length;
      const e = await expectError(h, h.channel.request('instance.qmp', { instanceId, execute, arguments: { filename: '/tmp/x', val: 0, size: 4096, uri: 'exec:cat' } }), 'QmpCommandRefused');
      assert.equal(e.kind, 'denied');
      const seen = h.messages.slice(before) as (HypervisorEvent | HypervisorReply)[];
      const auditAt = seen.findIndex((m) => 'event' in m && m.event === 'audit');
      const replyAt = seen.findIndex((m) => 'id' in m);
      assert.ok(auditAt >= 0 && auditAt < replyAt, `${execute}: the audit event must come before the reply`);
      const rec = (seen[auditAt] as Extract<HypervisorEvent, { event: 'audit' }>).record;
      assert.equal(rec['command'], execute);
      assert.equal(rec['instanceId'], instanceId);
      assert.equal(typeof rec['reason'], 'string');
      assert.ok(!Number.isNaN(Date.parse(String(rec['time']))));
    }
    // An allowed command on an unknown instance is a plain not-found, not an audit.
    const audits = h.events.filter((e) => e.event === 'audit').length;
    await expectError(h, h.channel.request('instance.qmp', { instanceId, execute: 'query-status' }), 'InvalidInstanceID.NotFound');
    assert.equal(h.events.filter((e) => e.event === 'audit').length, audits);
  });
});

test('hypervisor: exits cleanly when the IPC channel closes', async () => {
  await withHypervisor(async (h) => {
    await h.channel.request('host.info', {});
    const exited = new Promise<number | null>((r) => h.channel.child.once('exit', (code) => r(code)));
    h.channel.disconnect();
    assert.equal(await exited, 0);
  });
});
