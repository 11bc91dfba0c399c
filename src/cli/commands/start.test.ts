// `nitride start`'s listen address and TLS from its flag and the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiListen, hostOnlyPublicSide } from './start.js';

test('nitride start: TLS from --tls, NITRIDE_API_TLS=1 or a certificate file; the listen address from NITRIDE_API_HOST', () => {
  assert.deepEqual(apiListen({}, false), {});
  assert.deepEqual(apiListen({}, true), { tls: {} });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '1' }, false), { tls: {} });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '0' }, false), {});
  assert.deepEqual(apiListen({ NITRIDE_API_HOST: '0.0.0.0' }, false), { apiHost: '0.0.0.0' });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS_CERT: '/c.pem', NITRIDE_API_TLS_KEY: '/k.pem', NITRIDE_API_TLS_CA: '/ca.pem', NITRIDE_API_TLS_CERT_UNUSED: 'x' }, false), { tls: { certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem' } });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '1', NITRIDE_API_TLS_CERT: '', NITRIDE_API_HOST: '' }, false), { tls: {} });
});

test('nitride start: a host-only public side (nitride-pub0, 198.51.100.1/24) unless NITRIDE_PUBLIC_IFACE names one or says none', () => {
  assert.deepEqual(hostOnlyPublicSide({}), { NITRIDE_PUBLIC_IFACE: 'nitride-pub0', NITRIDE_PUBLIC_CIDR: '198.51.100.0/24', NITRIDE_PUBLIC_GATEWAY: '198.51.100.1', NITRIDE_PUBLIC_HOST_ADDRESS: '198.51.100.1/24' });
  assert.deepEqual(hostOnlyPublicSide({ NITRIDE_PUBLIC_IFACE: 'uplink0' }), {});
  assert.deepEqual(hostOnlyPublicSide({ NITRIDE_PUBLIC_IFACE: 'none' }), {});
});
