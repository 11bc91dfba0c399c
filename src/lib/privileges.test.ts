import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilityMask, CAPABILITY_NUMBERS, COMPONENT_CAPABILITIES, COMPONENT_USERS, setprivArgs } from './privileges.js';

test('privileges: every granted capability is known and has a reason', () => {
  for (const [component, caps] of Object.entries(COMPONENT_CAPABILITIES)) {
    for (const [cap, why] of Object.entries(caps)) {
      assert.ok(CAPABILITY_NUMBERS[cap] !== undefined, `${component}: ${cap} is a known capability`);
      assert.ok(why.length > 10, `${component}: ${cap} says why`);
    }
  }
});

test('privileges: setpriv arguments and the mask /proc shows', () => {
  assert.deepEqual(setprivArgs('hypervisor')?.slice(0, 3), ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all'], 'a component that stays uid 0 inherits nothing across exec');
  assert.deepEqual(setprivArgs('vpc', { uid: 990, gid: 991 }), [
    '--no-new-privs',
    '--reuid=990',
    '--regid=991',
    '--clear-groups',
    '--inh-caps=-all,+chown,+net_admin',
    '--ambient-caps=-all,+chown,+net_admin',
    '--bounding-set=-all,+chown,+net_admin',
  ]);
  assert.equal(capabilityMask('vpc'), '0000000000001001');
  assert.equal(capabilityMask('ebs'), '0000000000000001');
  assert.equal(capabilityMask('underlay'), '0000000000000400');
  assert.equal(capabilityMask('hypervisor'), '00000000002001ef');
  assert.equal(setprivArgs('successor'), undefined, 'a component not in the table keeps its parent\'s set');
  assert.ok(!Object.keys(COMPONENT_CAPABILITIES['hypervisor'] ?? {}).includes('sys_ptrace'), 'nothing may read a guest\'s memory through ptrace');
  for (const c of ['ebs', 'vpc', 'underlay']) assert.ok(!Object.keys(COMPONENT_CAPABILITIES[c] ?? {}).some((k) => k.startsWith('dac_')), `${c} reads and writes only by its user's permissions`);
  assert.deepEqual(Object.keys(COMPONENT_USERS).sort(), ['ebs', 'underlay', 'vpc']);
  assert.equal(new Set(Object.values(COMPONENT_USERS)).size, 3, 'one user each');
});
