import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipToInt } from './protocol/addr.js';
import { ConnTrack, SecurityGroupTable } from './security-groups.js';

const ip = ipToInt;

test('rules: protocol, port ranges, ICMP type/code, CIDR and group sources; default egress only', () => {
  const t = new SecurityGroupTable();
  const dflt = t.compile(['sg-new'], () => []);
  assert.equal(dflt.ingress.length, 0);
  t.setRules('sg-1', {
    ingress: [
      { protocol: 'tcp', fromPort: 20, toPort: 22, cidrs: ['10.0.0.0/8'] },
      { protocol: 'icmp', fromPort: 8, toPort: -1, cidrs: ['0.0.0.0/0'] },
      { protocol: 'udp', fromPort: 53, toPort: 53, groupIds: ['sg-peer'] },
    ],
    egress: [],
  });
  const p = t.compile(['sg-1'], (g) => (g === 'sg-peer' ? [ip('192.168.1.5')] : []));
  const ct = new ConnTrack();
  const ok = (proto: number, remote: string, port: number, code = 0) => ct.check(p, 'ingress', proto, ip(remote), -1, -1, port, code, 0);
  assert.ok(ok(6, '10.1.2.3', 22));
  assert.ok(!ok(6, '10.1.2.3', 23));
  assert.ok(!ok(6, '11.0.0.1', 22));
  assert.ok(ok(1, '8.8.8.8', 8, 0));
  assert.ok(!ok(1, '8.8.8.8', 13, 0));
  assert.ok(ok(17, '192.168.1.5', 53));
  assert.ok(!ok(17, '192.168.1.6', 53));
  assert.ok(!ok(6, '10.1.2.3', -1), 'a later fragment matches only all-port rules');
  assert.ok(!ct.check(p, 'egress', 6, ip('1.1.1.1'), 1000, 80, 80, 0, 0), 'no egress rules: denied');
});

test('connection tracking: a flow allowed once passes both ways until revoked or expired', () => {
  const t = new SecurityGroupTable();
  t.setRules('sg', { ingress: [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: ['10.0.0.0/24'] }], egress: [] });
  let p = t.compile(['sg'], () => []);
  const ct = new ConnTrack();
  // Inbound SYN to port 80 creates the record; the server's replies (egress, no rule) ride on it.
  assert.ok(ct.check(p, 'ingress', 6, ip('10.0.0.5'), 80, 5555, 80, 0, 0));
  assert.ok(ct.check(p, 'egress', 6, ip('10.0.0.5'), 80, 5555, 5555, 0, 1));
  assert.ok(!ct.check(p, 'egress', 6, ip('10.0.0.5'), 81, 5555, 5555, 0, 1), 'another flow has no record');
  t.setRules('sg', { ingress: [], egress: [] });
  p = t.compile(['sg'], () => []);
  assert.equal(ct.revalidate(p), 1);
  assert.ok(!ct.check(p, 'egress', 6, ip('10.0.0.5'), 80, 5555, 5555, 0, 2));
  t.setRules('sg', { ingress: [{ protocol: 'udp', cidrs: ['0.0.0.0/0'] }], egress: [] });
  p = t.compile(['sg'], () => []);
  assert.ok(ct.check(p, 'ingress', 17, ip('1.2.3.4'), 53, 999, 53, 0, 0));
  ct.sweep(200_000);
  assert.equal(ct.size, 0, 'UDP records expire');
});
