import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCidr } from '../protocol/addr.js';
import { buildQuery, parseDnsMessage, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN, RCODE_REFUSED, TYPE_A, TYPE_AAAA, TYPE_PTR } from './protocol/message.js';
import { privateDomainOf, publicDomainFor, publicDomainOf } from './names.js';
import { answerForClient, buildZoneTable, decide, type ZoneTable } from './zone.js';

const D = 'local-1.compute.internal';
const enis = [
  { ip: '10.0.1.4', domainName: D, publicIp: '198.51.100.20' },
  { ip: '10.0.2.9', domainName: D },
];
const table = (hostnames = true): ZoneTable =>
  buildZoneTable(enis, { enableDnsSupport: true, enableDnsHostnames: hostnames, records: [{ name: 'ip-10-0-3-7.local-1.compute.internal', ip: '10.0.3.7', kind: 'private' }] }, [parseCidr('10.0.0.0/16')]);

function ask(t: ZoneTable, name: string, type = TYPE_A, upstream = false) {
  const d = decide(buildQuery(0x1234, name, type), t, { upstream, pathLimit: 1392 });
  if (d.kind !== 'reply') return d;
  const m = parseDnsMessage(d.msg);
  assert.equal(m.header.id, 0x1234);
  return { kind: d.kind, rcode: m.header.rcode, aa: m.header.aa, answers: m.answers.map((a) => (a.type === TYPE_A ? [...a.data].join('.') : a.type === TYPE_PTR ? a.data.toString('hex') : a.type)) };
}

test("EC2's domains: us-east-1 is ec2.internal / compute-1, the others <region>.compute.*", () => {
  assert.equal(privateDomainOf('us-east-1'), 'ec2.internal');
  assert.equal(privateDomainOf('eu-west-1'), 'eu-west-1.compute.internal');
  assert.equal(publicDomainOf('us-east-1'), 'compute-1.amazonaws.com');
  assert.equal(publicDomainFor('ec2.internal'), 'compute-1.amazonaws.com');
  assert.equal(publicDomainFor(D), 'local-1.compute.amazonaws.com');
  assert.equal(publicDomainFor('corp.example'), undefined);
});

test('private names, public names (the private address inside the VPC), PTR; NXDOMAIN inside the zones', () => {
  const t = table();
  assert.deepEqual(ask(t, 'ip-10-0-1-4.local-1.compute.internal'), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: ['10.0.1.4'] });
  assert.deepEqual(ask(t, 'IP-10-0-2-9.Local-1.Compute.Internal'), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: ['10.0.2.9'] });
  assert.deepEqual(ask(t, 'ip-10-0-3-7.local-1.compute.internal'), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: ['10.0.3.7'] });
  assert.deepEqual(ask(t, 'ec2-198-51-100-20.local-1.compute.amazonaws.com'), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: ['10.0.1.4'] });
  assert.deepEqual(ask(t, 'ip-10-0-1-5.local-1.compute.internal'), { kind: 'reply', rcode: RCODE_NXDOMAIN, aa: true, answers: [] });
  assert.deepEqual(ask(t, 'ip-10-0-1-4.local-1.compute.internal', TYPE_AAAA), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: [] });
  assert.deepEqual(ask(t, D), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: [] });
  const ptr = ask(t, '4.1.0.10.in-addr.arpa', TYPE_PTR);
  assert.equal(ptr.kind === 'reply' && ptr.rcode, RCODE_NOERROR);
  assert.equal(ptr.kind === 'reply' && ptr.answers[0], Buffer.concat([Buffer.from([11]), Buffer.from('ip-10-0-1-4'), Buffer.from([7]), Buffer.from('local-1'), Buffer.from([7]), Buffer.from('compute'), Buffer.from([8]), Buffer.from('internal'), Buffer.from([0])]).toString('hex'));
  assert.deepEqual(ask(t, '5.1.0.10.in-addr.arpa', TYPE_PTR), { kind: 'reply', rcode: RCODE_NXDOMAIN, aa: true, answers: [] });
});

test('enableDnsHostnames off: no public names (they are not ours: REFUSED without an upstream)', () => {
  assert.deepEqual(ask(table(false), 'ec2-198-51-100-20.local-1.compute.amazonaws.com'), { kind: 'reply', rcode: RCODE_REFUSED, aa: false, answers: [] });
  assert.deepEqual(ask(table(false), 'ip-10-0-1-4.local-1.compute.internal'), { kind: 'reply', rcode: RCODE_NOERROR, aa: true, answers: ['10.0.1.4'] });
});

test('other names: REFUSED without an upstream, forwarded with one; PTR outside the VPC likewise', () => {
  const t = table();
  assert.deepEqual(ask(t, 'example.com'), { kind: 'reply', rcode: RCODE_REFUSED, aa: false, answers: [] });
  assert.deepEqual(ask(t, '8.8.8.8.in-addr.arpa', TYPE_PTR), { kind: 'reply', rcode: RCODE_REFUSED, aa: false, answers: [] });
  const f = ask(t, 'example.com', TYPE_A, true);
  assert.equal(f.kind, 'forward');
  // An upstream answer goes back with the client's id, cut to the client's size.
  const up = Buffer.from(buildQuery(0x9999, 'example.com', TYPE_A));
  up.writeUInt16BE(0x8180, 2);
  assert.equal(answerForClient(up, 0x1234, 512).readUInt16BE(0), 0x1234);
});

test('not a question: responses dropped, other opcodes NOTIMP, no or two questions FORMERR', () => {
  const t = table();
  const resp = buildQuery(1, 'example.com', TYPE_A);
  resp.writeUInt16BE(0x8100, 2);
  assert.equal(decide(resp, t, { upstream: false, pathLimit: 1392 }).kind, 'drop');
  assert.equal(decide(Buffer.alloc(5), t, { upstream: false, pathLimit: 1392 }).kind, 'drop');
  const rcode = (b: Buffer): number => {
    const d = decide(b, t, { upstream: false, pathLimit: 1392 });
    assert.equal(d.kind, 'reply');
    return d.kind === 'reply' ? parseDnsMessage(d.msg).header.rcode : -1;
  };
  const notify = buildQuery(2, 'example.com', TYPE_A);
  notify.writeUInt16BE(4 << 11, 2);
  assert.equal(rcode(notify), RCODE_NOTIMP);
  const none = buildQuery(3, 'example.com', TYPE_A).subarray(0, 12);
  none.writeUInt16BE(0, 4);
  assert.equal(rcode(Buffer.from(none)), RCODE_FORMERR);
  const cut = buildQuery(4, 'example.com', TYPE_A).subarray(0, 20);
  assert.equal(rcode(Buffer.from(cut)), RCODE_FORMERR);
});
