// `nitride start`'s listen address and TLS from its flag and the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiListen } from './start.js';

test('nitride start: TLS from --tls, NITRIDE_API_TLS=1 or a certificate file; the listen address from NITRIDE_API_HOST', () => {
  assert.deepEqual(apiListen({}, false), {});
  assert.deepEqual(apiListen({}, true), { tls: {} });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '1' }, false), { tls: {} });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '0' }, false), {});
  assert.deepEqual(apiListen({ NITRIDE_API_HOST: '0.0.0.0' }, false), { apiHost: '0.0.0.0' });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS_CERT: '/c.pem', NITRIDE_API_TLS_KEY: '/k.pem', NITRIDE_API_TLS_CA: '/ca.pem', NITRIDE_API_TLS_CERT_UNUSED: 'x' }, false), { tls: { certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem' } });
  assert.deepEqual(apiListen({ NITRIDE_API_TLS: '1', NITRIDE_API_TLS_CERT: '', NITRIDE_API_HOST: '' }, false), { tls: {} });
});
