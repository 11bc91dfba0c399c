import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { waitFor } from '../../lib/wait.js';
import { readRequestBody, type BodyLimits, type BodyResult } from './request-body.js';

/** A server that reads each body with `limits`, reports the result and answers 413 or 200 with connection: close. */
async function withServer(limits: BodyLimits, fn: (port: number, results: BodyResult[]) => Promise<void>): Promise<void> {
  const results: BodyResult[] = [];
  const server: Server = createServer((req, res) => {
    void readRequestBody(req, limits).then((r) => {
      results.push(r);
      if (r.kind === 'aborted') return;
      if (r.kind === 'too-large' && !r.drained) res.on('finish', () => req.socket.destroySoon());
      res.writeHead(r.kind === 'body' ? 200 : 413, { connection: 'close' });
      res.end(r.kind === 'body' ? `got ${r.body.length}` : 'too large');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  try {
    await fn(typeof a === 'object' && a ? a.port : 0, results);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Writes the request bytes by hand and returns everything the server sent until it closed. */
function exchange(port: number, head: string, body: Buffer): Promise<{ text: string; error: string | undefined }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('error', (e) => resolve({ text, error: (e as NodeJS.ErrnoException).code }));
    s.on('close', () => resolve({ text, error: undefined }));
    s.write(head);
    s.write(body);
  });
}

test('a body within the limit is read whole', async () => {
  await withServer({ maxBytes: 1024 }, async (port, results) => {
    const r = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n', Buffer.from('hello'));
    assert.match(r.text, /^HTTP\/1\.1 200 .*\r\ngot 5\r\n/s);
    assert.equal(results[0]?.kind, 'body');
  });
});

test('an oversized body is drained, so the client reads the 413 instead of a reset', async () => {
  await withServer({ maxBytes: 1024 }, async (port, results) => {
    // announced by Content-Length
    const big = Buffer.alloc(512 * 1024, 0x61);
    const r = await exchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n`, big);
    assert.equal(r.error, undefined);
    assert.match(r.text, /^HTTP\/1\.1 413 /);
    assert.deepEqual(results[0], { kind: 'too-large', drained: true });
    // found while reading a chunked body
    const chunked = `${big.length.toString(16)}\r\n${big.toString('latin1')}\r\n0\r\n\r\n`;
    const c = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', Buffer.from(chunked, 'latin1'));
    assert.match(c.text, /^HTTP\/1\.1 413 /);
    assert.deepEqual(results[1], { kind: 'too-large', drained: true });
  });
});

test('past the drain limit the connection is closed after the answer', async () => {
  await withServer({ maxBytes: 1024, maxDrainBytes: 4096 }, async (port, results) => {
    const r = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (text += d));
      s.on('error', () => resolve(text));
      s.on('close', () => resolve(text));
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n');
      s.write(Buffer.alloc(64 * 1024, 0x61));
    });
    assert.deepEqual(results[0], { kind: 'too-large', drained: false });
    // The client may or may not read the answer before the reset; the server did not wait for 100 MB.
    assert.ok(r === '' || r.startsWith('HTTP/1.1 413 '), r);
  });
});

test('a client that goes away mid-body is reported as aborted, once', async () => {
  await withServer({ maxBytes: 1024 }, async (port, results) => {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nonly this much');
        setImmediate(() => s.destroy());
      });
      s.on('close', () => resolve());
    });
    await waitFor('the server to see the abort', () => (results.length > 0 ? true : undefined), 5_000, 10);
    assert.equal(results.length, 1);
    assert.equal(results[0]?.kind, 'aborted');
  });
});
