import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandBody } from './commands.js';
import { VPC_COMMAND_EXAMPLES, VPC_COMMAND_TYPES } from './vpc-commands.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as { code: string }).code;
  }
  assert.fail('expected a refusal');
};

test('the VPC commands parse through the controller command layer', () => {
  for (const t of VPC_COMMAND_TYPES) assert.equal(parseCommandBody(t, VPC_COMMAND_EXAMPLES[t]).type, t);
});

test('malformed VPC commands are refused with InvalidParameter', () => {
  const put = VPC_COMMAND_EXAMPLES['eni.put'] as { eni: Record<string, unknown>; groups: Record<string, unknown>[] };
  assert.equal(code(() => parseCommandBody('eni.remove', {})), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('eni.remove', { eniId: 'i-0123456789abcdef0' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('eni.put', { ...put, extra: 1 })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('eni.put', { ...put, eni: 'x' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('eni.put', { ...put, groups: [{ ...put.groups[0], groupId: 'vpc-1' }] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('eni.put', { ...put, groups: [{ ...put.groups[0], members: ['not-an-ip'] }] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.rules', { groups: [{ groupId: 'sg-0123456789abcdef0', rules: { ingress: [{}], egress: [] }, members: [] }] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.rules', { deleted: ['eni-0123456789abcdef0'] })), 'InvalidParameter');
});

test('malformed vpc.dns is refused with InvalidParameter', () => {
  const ok = VPC_COMMAND_EXAMPLES['vpc.dns'] as { records: Record<string, unknown>[] };
  assert.equal(code(() => parseCommandBody('vpc.dns', { ...ok, vpcId: 'sg-1' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.dns', { ...ok, enableDnsSupport: 'yes' })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.dns', { ...ok, records: [{ ...ok.records[0], kind: 'mx' }] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.dns', { ...ok, records: [{ ...ok.records[0], ip: 'x' }] })), 'InvalidParameter');
  assert.equal(code(() => parseCommandBody('vpc.dns', { ...ok, records: [{ ...ok.records[0], ttl: 5 }] })), 'InvalidParameter');
});
