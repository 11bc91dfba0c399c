import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dhcpDnsOptions, dnsAttributesOf, vpcDnsParams } from './vpc-dns.js';
import type { VpcRecord } from './vpc.js';

const vpc = (isDefault: boolean, extra: Record<string, unknown> = {}): VpcRecord => ({ id: 'vpc-0123456789abcdef0', accountId: '000000000001', cidrBlock: '172.31.0.0/16', isDefault, associationId: 'a', tags: {}, createdAt: '', ...extra }) as VpcRecord;

test("DHCP names the VPC's .2 and the region's private domain", () => {
  assert.deepEqual(dhcpDnsOptions('172.31.0.0/16'), { dns: ['172.31.0.2'], domainName: 'local-1.compute.internal' });
  assert.deepEqual(dhcpDnsOptions('10.0.0.0/16'), { dns: ['10.0.0.2'], domainName: 'local-1.compute.internal' });
});

test("EC2's defaults for the DNS attributes, the record's values when it has them", () => {
  assert.deepEqual(dnsAttributesOf(vpc(true)), { enableDnsSupport: true, enableDnsHostnames: true });
  assert.deepEqual(dnsAttributesOf(vpc(false)), { enableDnsSupport: true, enableDnsHostnames: false });
  assert.deepEqual(dnsAttributesOf(vpc(true, { enableDnsSupport: false, enableDnsHostnames: false })), { enableDnsSupport: false, enableDnsHostnames: false });
});

test('a private name per instance, a public one (answering the private address) per public address', () => {
  assert.deepEqual(vpcDnsParams(vpc(true), [{ ip: '172.31.0.4' }, { ip: '172.31.16.9', publicIp: '198.51.100.20' }]), {
    vpcId: 'vpc-0123456789abcdef0',
    enableDnsSupport: true,
    enableDnsHostnames: true,
    records: [
      { name: 'ip-172-31-0-4.local-1.compute.internal', ip: '172.31.0.4', kind: 'private' },
      { name: 'ip-172-31-16-9.local-1.compute.internal', ip: '172.31.16.9', kind: 'private' },
      { name: 'ec2-198-51-100-20.local-1.compute.amazonaws.com', ip: '172.31.16.9', kind: 'public' },
    ],
  });
});

test("ModifyVpcAttribute's values (the edge's record) win over EC2's defaults", () => {
  const p = vpcDnsParams(vpc(true), [{ ip: '172.31.0.4' }], { enableDnsSupport: false, enableDnsHostnames: false });
  assert.equal(p.enableDnsSupport, false);
  assert.equal(p.enableDnsHostnames, false);
  assert.equal(p.records.length, 1);
});
