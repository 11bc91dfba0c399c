// Least privilege of the host's components on a real host: the controller started as
// `nitride start` starts it (src/region/local-host.ts, through setpriv), enrolled, with an ENI
// on the VPC card, the underlay bridge running and an EBS direct snapshot being written by the
// EBS card. Each process's /proc/<pid>/status is read back: its user (the cards have their
// own; the controller and the hypervisor stay uid 0, docs/THREAT-MODEL.md "Users and
// privileges of the host components"), no_new_privs, and exactly the capabilities
// src/lib/privileges.ts grants it. Then stand-ins with a card's exact credentials (its uid, gid,
// no groups, its capabilities, no_new_privs) try to reach another component's files, memory
// and process, and the host key: every attempt fails with EACCES or EPERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControllerClient, enrollHost } from '../../src/controller/client.js';
import { hostPaths } from '../../src/controller/host-state.js';
import { childPids, makeRegion } from '../../src/controller/testing/fixtures.js';
import { capabilityMask, componentIds, COMPONENT_CAPABILITIES, giveToComponent, SETPRIV, setprivArgs } from '../../src/lib/privileges.js';
import { enrollToken, startLocalController, stopLocalController } from '../../src/region/local-host.js';
import type { EniConfig } from '../../src/vpc/model.js';

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8');

/** Every file and directory under `dir` (lstat, no links followed). */
function tree(dir: string): string[] {
  const out = [dir];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (lstatSync(p).isDirectory()) out.push(...tree(p));
    else out.push(p);
  }
  return out;
}

type Attempt = { readonly what: 'open' | 'readdir' | 'write' | 'connect' | 'kill'; readonly target: string };

/**
 * Runs each attempt in a process with `component`'s exact credentials, made by the same setpriv
 * arguments the controller forks it with; returns what each attempt got ('OK' or the errno code).
 */
function asComponent(component: string, attempts: readonly Attempt[]): string[] {
  const args = setprivArgs(component, componentIds(component));
  assert.ok(args);
  const script = `
    const fs = require('node:fs');
    const out = [];
    for (const a of JSON.parse(process.argv[1])) {
      try {
        if (a.what === 'open') fs.closeSync(fs.openSync(a.target, 'r'));
        else if (a.what === 'write') fs.closeSync(fs.openSync(a.target, 'r+'));
        else if (a.what === 'readdir') fs.readdirSync(a.target);
        else if (a.what === 'connect') fs.accessSync(a.target, fs.constants.W_OK); // connect(2) needs write permission on the socket
        else process.kill(Number(a.target), 0);
        out.push('OK');
      } catch (e) { out.push(e.code); }
    }
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(SETPRIV, [...args, '--', process.execPath, '-e', script, JSON.stringify(attempts)], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

const SG = 'sg-0123456789abcdef0';
const ENI: EniConfig = { eniId: 'eni-0a1b2c3d4e5f60718', mac: '02:00:0a:01:00:0a', ip: '10.0.1.10', subnetCidr: '10.0.1.0/24', vpcId: 'vpc-0123456789abcdef0', securityGroups: [SG], sourceDestCheck: true, hostname: 'ip-10-0-1-10', mtu: 1420 };

test('a real host: each component runs as its documented user with only its capabilities and no_new_privs; no card reaches another\'s files, memory or the host key', { timeout: 180_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'run as root: there is nothing to drop otherwise');
  const home = await mkdtemp(join(tmpdir(), 'nitride-priv-'));
  // searchable by all, as a home of the operator's choosing may be: each refusal below is then
  // the component's own directory's or file's, not the temporary home's
  await chmod(home, 0o711);
  try {
    const { runtime } = await startLocalController(home);
    const region = await makeRegion();
    const enrolled = await enrollHost({ address: '127.0.0.1', port: runtime.port, token: enrollToken(home) as string, ca: region.ca, bootstrapFingerprint: runtime.fingerprint });
    const client = new ControllerClient({ address: '127.0.0.1', port: runtime.port, caPem: region.ca.certPem, certPem: region.certPem, keyPem: region.keyPem, hostId: enrolled.hostId });
    try {
      // work for each card: an ENI (the VPC card's socket), the underlay bridge, a snapshot being written (the EBS card's files)
      const eni = (await client.send('eni.put', { eni: ENI, groups: [{ groupId: SG, rules: { ingress: [], egress: [] }, members: [ENI.ip] }] })) as { socketPath: string };
      await client.send('vpc.keys', { peers: [] });
      const snapshotId = 'snap-0123456789abcdef0';
      const block = Buffer.alloc(512 * 1024, 7);
      await client.send('snapshot.begin', { snapshotId, sizeBytes: 1024 * 1024, key: null });
      await client.send('snapshot.put-block', { snapshotId, blockIndex: 0, data: block.toString('base64'), checksum: createHash('sha256').update(block).digest('base64') });

      const st = (await client.send('host.status', {})) as { controller: { pid: number }; components: { name: string; pid: number }[] };
      const pid: Record<string, number> = { controller: st.controller.pid };
      for (const c of st.components) pid[c.name] = c.pid;
      const underlay = childPids(st.controller.pid).find((p) => cmdline(p).includes('vpc/underlay/main.js'));
      assert.ok(underlay, 'the underlay bridge runs');
      pid['underlay'] = underlay;
      assert.deepEqual(Object.keys(pid).sort(), ['controller', 'ebs', 'hypervisor', 'underlay', 'vpc']);

      const users: Record<string, string> = {};
      for (const [name, p] of Object.entries(pid)) {
        const s = status(p);
        const want = capabilityMask(name);
        const ids = componentIds(name);
        process.stderr.write(`[priv] ${name} pid ${p}: Uid ${s['Uid']} Gid ${s['Gid']} Groups '${s['Groups']}' CapEff ${s['CapEff']} CapBnd ${s['CapBnd']} CapAmb ${s['CapAmb']} NoNewPrivs ${s['NoNewPrivs']} (${Object.keys(COMPONENT_CAPABILITIES[name] ?? {}).join(',')})\n`);
        assert.ok(cmdline(p).includes('main.js'), `${name} is the component itself, not a wrapper`);
        assert.equal(s['NoNewPrivs'], '1', `${name} has no_new_privs`);
        assert.equal(s['CapBnd'], want, `${name}'s bounding set is its own list`);
        assert.equal(s['CapEff'], want, `${name} holds exactly its list`);
        assert.equal(s['CapPrm'], want);
        if (ids) {
          // its own user, in every uid and gid slot, with no supplementary group; its capabilities ambient (kept across exec as non-root)
          assert.equal(s['Uid'], `${ids.uid}\t${ids.uid}\t${ids.uid}\t${ids.uid}`, `${name} runs as its own user`);
          assert.equal(s['Gid'], `${ids.gid}\t${ids.gid}\t${ids.gid}\t${ids.gid}`);
          assert.equal(s['Groups'], '');
          assert.notEqual(ids.uid, 0);
          assert.equal(s['CapAmb'], want);
          users[name] = `${ids.uid}`;
        } else {
          // the documented exceptions: uid 0 with a trimmed set that nothing it execs inherits
          assert.ok(['controller', 'hypervisor'].includes(name), `${name} stays uid 0 only if documented`);
          assert.equal(s['Uid'], '0\t0\t0\t0');
          assert.equal(s['CapInh'], '0000000000000000');
          assert.equal(s['CapAmb'], '0000000000000000');
        }
      }
      assert.equal(new Set(Object.values(users)).size, 3, 'the three cards have three different users');

      // What each component owns under the home.
      const paths = hostPaths(home);
      const ebsDir = join(paths.dir, 'ebs');
      const ebsFiles = tree(ebsDir);
      const ebsIds = componentIds('ebs')!;
      for (const f of ebsFiles) assert.deepEqual([lstatSync(f).uid, f], [ebsIds.uid, f], 'everything under the EBS card\'s directory is its user\'s');
      const regular = ebsFiles.filter((f) => lstatSync(f).isFile());
      assert.ok(regular.length > 0, 'the snapshot being written is a file of the EBS card');
      for (const f of ebsFiles) assert.equal(lstatSync(f).mode & 0o066, 0, `${f} is its owner's alone (others at most search the socket directory)`);
      assert.equal(lstatSync(paths.key).mode & 0o777, 0o600);
      assert.equal(lstatSync(paths.key).uid, 0);

      // The VPC card's and the underlay's users: none of the EBS card's files, its memory, its process, nor the host key.
      const ebsAttempts: Attempt[] = [
        ...ebsFiles.map((f): Attempt => ({ what: lstatSync(f).isDirectory() ? 'readdir' : 'open', target: f })),
        ...regular.map((f): Attempt => ({ what: 'write', target: f })),
        { what: 'open', target: `/proc/${pid['ebs']}/mem` },
        { what: 'open', target: `/proc/${pid['ebs']}/environ` },
        { what: 'kill', target: String(pid['ebs']) },
        { what: 'open', target: paths.key },
        { what: 'readdir', target: paths.dir },
      ];
      for (const component of ['vpc', 'underlay']) {
        const got = asComponent(component, ebsAttempts);
        process.stderr.write(`[priv] as ${component}: ${ebsAttempts.map((a, i) => `${a.what} ${a.target.replace(home, '~')} → ${got[i]}`).join('; ')}\n`);
        got.forEach((code, i) => assert.ok(code === 'EACCES' || code === 'EPERM', `${component} may not ${ebsAttempts[i]!.what} ${ebsAttempts[i]!.target}: ${code}`));
      }
      // The EBS card's user: not the host key, not the controller's or the VPC card's memory, not their processes, not the ENI socket.
      const fromEbs: Attempt[] = [
        { what: 'open', target: paths.key },
        { what: 'readdir', target: paths.dir },
        { what: 'open', target: `/proc/${pid['controller']}/mem` },
        { what: 'open', target: `/proc/${pid['vpc']}/mem` },
        { what: 'kill', target: String(pid['controller']) },
        { what: 'kill', target: String(pid['vpc']) },
        { what: 'kill', target: String(pid['hypervisor']) },
        { what: 'connect', target: eni.socketPath },
      ];
      const got = asComponent('ebs', fromEbs);
      process.stderr.write(`[priv] as ebs: ${fromEbs.map((a, i) => `${a.what} ${a.target.replace(home, '~')} → ${got[i]}`).join('; ')}\n`);
      got.forEach((code, i) => assert.ok(code === 'EACCES' || code === 'EPERM', `ebs may not ${fromEbs[i]!.what} ${fromEbs[i]!.target}: ${code}`));

      // and each card still serves
      const info = (await client.send('ebs.info', {})) as { pid: number };
      assert.equal(info.pid, pid['ebs']);
      const stats = (await client.send('eni.stats', { eniId: ENI.eniId })) as { eniId?: string };
      assert.ok(stats);
    } finally {
      client.close();
    }
  } finally {
    await stopLocalController(home);
    await rm(home, { recursive: true, force: true });
  }
});

test('a card\'s directory written by an earlier run as root is given to its user; a symbolic link is changed, never followed', async () => {
  assert.equal(process.getuid?.(), 0, 'run as root: there is nothing to give otherwise');
  const dir = await mkdtemp(join(tmpdir(), 'nitride-give-'));
  try {
    const store = join(dir, 'ebs');
    const outside = join(dir, 'outside');
    mkdirSync(join(store, 'volumes'), { recursive: true, mode: 0o700 });
    writeFileSync(join(store, 'volumes', 'vol-0123456789abcdef0.vol'), 'x', { mode: 0o600 });
    writeFileSync(outside, 'root\'s', { mode: 0o600 });
    symlinkSync(outside, join(store, 'volumes', 'link'));
    giveToComponent('ebs', store);
    const ebs = componentIds('ebs')!;
    for (const p of tree(store)) assert.deepEqual([lstatSync(p).uid, lstatSync(p).gid, p], [ebs.uid, ebs.gid, p]);
    assert.equal(lstatSync(store).mode & 0o777, 0o700);
    assert.deepEqual([lstatSync(outside).uid, lstatSync(outside).gid], [0, 0], 'the link\'s target stays root\'s');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
