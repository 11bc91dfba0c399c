// The controller's command line: the VPC edge's public side from flags or the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRunArgs } from './main.js';

test('controller run: --public-iface/--public-cidr/--public-gateway[/--public-host-address] give the public side; none or nothing gives none', () => {
  const saved = { ...process.env };
  try {
    for (const k of ['NITRIDE_PUBLIC_IFACE', 'NITRIDE_PUBLIC_CIDR', 'NITRIDE_PUBLIC_GATEWAY', 'NITRIDE_PUBLIC_HOST_ADDRESS']) delete process.env[k];
    assert.equal(parseRunArgs(['--home', '/h']).publicSide, undefined);
    assert.deepEqual(parseRunArgs(['--home', '/h', '--public-iface', 'pub0', '--public-cidr', '198.51.100.0/24', '--public-gateway', '198.51.100.1']).publicSide, { iface: 'pub0', cidr: '198.51.100.0/24', gateway: '198.51.100.1' });
    assert.throws(() => parseRunArgs(['--public-iface', 'pub0']), /needs --public-cidr and --public-gateway/);
    assert.throws(() => parseRunArgs(['--public-iface']), /needs a value/);
    process.env['NITRIDE_PUBLIC_IFACE'] = 'nitride-pub0';
    process.env['NITRIDE_PUBLIC_CIDR'] = '198.51.100.0/24';
    process.env['NITRIDE_PUBLIC_GATEWAY'] = '198.51.100.1';
    process.env['NITRIDE_PUBLIC_HOST_ADDRESS'] = '198.51.100.1/24';
    assert.deepEqual(parseRunArgs([]).publicSide, { iface: 'nitride-pub0', cidr: '198.51.100.0/24', gateway: '198.51.100.1', hostAddress: '198.51.100.1/24' });
    process.env['NITRIDE_PUBLIC_IFACE'] = 'none';
    assert.equal(parseRunArgs([]).publicSide, undefined);
  } finally {
    process.env = saved;
  }
});
