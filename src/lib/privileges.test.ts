import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilityMask, CAPABILITY_NUMBERS, COMPONENT_CAPABILITIES, setprivArgs } from './privileges.js';

test('privileges: every granted capability is known and has a reason', () => {
  for (const [component, caps] of Object.entries(COMPONENT_CAPABILITIES)) {
    for (const [cap, why] of Object.entries(caps)) {
      assert.ok(CAPABILITY_NUMBERS[cap] !== undefined, `${component}: ${cap} is a known capability`);
      assert.ok(why.length > 10, `${component}: ${cap} says why`);
    }
  }
});

test('privileges: setpriv arguments and the mask /proc shows', () => {
  assert.deepEqual(setprivArgs('vpc'), ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all,+chown,+fowner,+net_admin']);
  assert.equal(capabilityMask('vpc'), '0000000000001009');
  assert.equal(capabilityMask('hypervisor'), '00000000002001ef');
  assert.equal(setprivArgs('successor'), undefined, 'a component not in the table keeps its parent\'s set');
  assert.ok(!Object.keys(COMPONENT_CAPABILITIES['hypervisor'] ?? {}).includes('sys_ptrace'), 'nothing may read a guest\'s memory through ptrace');
});
