import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHttpRequest, serializeResponse } from './http.js';

test('HTTP: a request with headers, pipelined requests, incomplete input, bad input', () => {
  const two = Buffer.from('PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.0\r\n\r\n');
  const r = parseHttpRequest(two);
  assert.equal(r.kind, 'request');
  if (r.kind !== 'request') return;
  assert.equal(r.request.method, 'PUT');
  assert.equal(r.request.headers.get('x-aws-ec2-metadata-token-ttl-seconds'), '60');
  assert.equal(r.request.body.toString(), 'ok');
  assert.equal(r.request.keepAlive, true);
  const r2 = parseHttpRequest(two.subarray(r.consumed));
  assert.ok(r2.kind === 'request' && r2.request.version === '1.0' && !r2.request.keepAlive);
  assert.equal(parseHttpRequest(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n')).kind, 'incomplete');
  assert.equal(parseHttpRequest(Buffer.from('PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab')).kind, 'incomplete');
  const bad = (s: string): number => {
    const x = parseHttpRequest(Buffer.from(s));
    return x.kind === 'error' ? x.status : 0;
  };
  assert.equal(bad('GET / HTTP/2.0\r\n\r\n'), 505);
  assert.equal(bad('GET  / HTTP/1.1\r\n\r\n'), 400);
  assert.equal(bad('GET / HTTP/1.1\r\nno colon\r\n\r\n'), 400);
  assert.equal(bad('GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'), 501);
  assert.equal(bad('GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n'), 400);
  assert.equal(bad(`GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}`), 431);
  const out = serializeResponse({ status: 401, body: '' }, false).toString();
  assert.ok(out.startsWith('HTTP/1.1 401 Unauthorized\r\n') && out.includes('Content-Length: 0') && out.endsWith('\r\n\r\n'));
});
