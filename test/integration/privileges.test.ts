// Least privilege of the host's components, forked as the controller forks them
// (src/lib/channel/child.ts forkChild): as root, each runs with no_new_privs, empty inheritable
// and ambient sets, and exactly the capabilities src/lib/privileges.ts grants it — read back
// from /proc/<pid>/status — and each still serves its channel.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { forkChild, type ChildChannel } from '../../src/lib/channel/child.js';
import { distEntry } from '../../src/lib/paths.js';
import { capabilityMask, COMPONENT_CAPABILITIES } from '../../src/lib/privileges.js';
import { forkHypervisor } from '../../src/hypervisor/client.js';
import { forkVpcCard } from '../../src/vpc/client.js';
import type { EbsContract } from '../../src/ebs/protocol/messages.js';

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

test('components keep only their own capabilities, with no_new_privs, and still serve', { timeout: 120_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'run as root: there is nothing to drop otherwise');
  const dir = await mkdtemp(join(tmpdir(), 'nitride-priv-'));
  await chmod(dir, 0o711); // the VPC card checks that QEMU's user could reach its socket directory
  const children: ChildChannel<unknown>[] = [];
  try {
    const hv = forkHypervisor(join(dir, 'hv'), { stdio: 'pipe' });
    const ebs = forkChild<EbsContract>(distEntry('ebs/card/main.js'), ['--root', join(dir, 'ebs'), '--socket-dir', join(dir, 'ebs-sockets')], { component: 'ebs', readyEvent: 'card.ready', stdio: 'pipe' });
    const vpc = forkVpcCard(join(dir, 'vpc'), { stdio: 'pipe' });
    const underlay = forkChild(distEntry('vpc/underlay/main.js'), [], { component: 'underlay', readyEvent: 'underlay.ready', stdio: 'pipe' });
    children.push(hv as ChildChannel<unknown>, ebs as ChildChannel<unknown>, vpc as ChildChannel<unknown>, underlay as ChildChannel<unknown>);
    await Promise.all([ebs.ready, vpc.ready, underlay.ready]);
    assert.equal((await hv.request('host.info', {})).pid, hv.pid);
    assert.equal((await ebs.request('card.info', {})).pid, ebs.pid);
    for (const [name, ch] of [['hypervisor', hv], ['ebs', ebs], ['vpc', vpc], ['underlay', underlay]] as const) {
      const st = status(ch.pid!);
      const want = capabilityMask(name);
      process.stderr.write(`[priv] ${name}: CapEff ${st['CapEff']} CapBnd ${st['CapBnd']} NoNewPrivs ${st['NoNewPrivs']} (${Object.keys(COMPONENT_CAPABILITIES[name] ?? {}).join(',') || 'none'})\n`);
      assert.equal(st['NoNewPrivs'], '1', `${name} has no_new_privs`);
      assert.equal(st['CapBnd'], want, `${name}'s bounding set is its own list`);
      assert.equal(st['CapEff'], want, `${name} holds exactly its list`);
      assert.equal(st['CapPrm'], want);
      assert.equal(st['CapInh'], '0000000000000000');
      assert.equal(st['CapAmb'], '0000000000000000');
      assert.ok(readFileSync(`/proc/${ch.pid!}/cmdline`, 'utf8').includes('main.js'), `${name} is the component itself, not a wrapper`);
    }
    assert.notEqual(capabilityMask('ebs'), 'ffffffffffffffff');
    assert.ok(!Object.keys(COMPONENT_CAPABILITIES['ebs'] ?? {}).includes('sys_admin'));
  } finally {
    for (const c of children) await c.kill().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
