// Runs the IMDS part of the guest's /init on the host with busybox sh against a local
// HTTP server on 127.0.0.1: the same shell text the guest runs, another address.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IMDS_TIMEOUT_SECONDS, imdsSection, initScript, udhcpcScript } from './init-script.js';
import { MARKERS } from './markers.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function runSection(port: number): Promise<{ out: string; code: number | null; ms: number }> {
  const runDir = mkdtempSync(join(tmpdir(), 'nitride-imds-'));
  mkdirSync(join(runDir, 'nitride'));
  const t = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('busybox', ['sh', '-c', imdsSection({ address: '127.0.0.1', port, runDir })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(runDir, { recursive: true, force: true });
      resolve({ out, code, ms: Date.now() - t });
    });
  });
}

async function withImds(handler: (req: IncomingMessage, res: ServerResponse) => void, fn: (port: number) => Promise<void>): Promise<void> {
  const server = createHttpServer(handler);
  const port = await listen(server);
  try {
    await fn(port);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('IMDSv2: token by PUT, user-data by GET with the token, a #! script runs and its exit code is printed', async () => {
  const seen: Seen[] = [];
  await withImds(
    (req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        res.end('AQAEAtok-en_123==');
      } else if (req.method === 'GET' && req.url === '/latest/user-data' && req.headers['x-aws-ec2-metadata-token'] === 'AQAEAtok-en_123==') {
        res.end('#!/bin/sh\necho "hello from user-data in $(pwd)"\nexit 7\n');
      } else {
        res.statusCode = 401;
        res.end();
      }
    },
    async (port) => {
      const r = await runSection(port);
      assert.equal(r.code, 0, r.out);
      const lines = r.out.trim().split('\n');
      assert.deepEqual(lines, [`${MARKERS.imds} token ok`, `${MARKERS.userData} running`, 'hello from user-data in /', `${MARKERS.userData} exit 7`]);
      assert.equal(seen[0]?.method, 'PUT');
      assert.equal(seen[0]?.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
      assert.equal(seen[1]?.method, 'GET');
      assert.equal(seen[1]?.headers['x-aws-ec2-metadata-token'], 'AQAEAtok-en_123==');
    },
  );
});

test('no user-data (404) says none; non-script user-data is ignored', async () => {
  for (const [status, body, expected] of [
    [404, 'Not Found', `${MARKERS.userData} none`],
    [200, 'just some data', `${MARKERS.userData} ignored (not a script, 14 bytes)`],
    [500, '', `${MARKERS.userData} unavailable (http 500)`],
  ] as const) {
    await withImds(
      (req, res) => {
        if (req.method === 'PUT') res.end('tok');
        else {
          res.statusCode = status;
          res.end(body);
        }
      },
      async (port) => {
        const r = await runSection(port);
        assert.deepEqual(r.out.trim().split('\n'), [`${MARKERS.imds} token ok`, expected]);
      },
    );
  }
});

test('a refused token (IMDSv1-only or forbidden) is reported with its status', async () => {
  await withImds(
    (_req, res) => {
      res.statusCode = 403;
      res.end();
    },
    async (port) => {
      const r = await runSection(port);
      assert.deepEqual(r.out.trim().split('\n'), [`${MARKERS.imds} unavailable (http 403)`, `${MARKERS.userData} skipped (no imds)`]);
    },
  );
});

test('nothing listening: unavailable at once, with the reason', async () => {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const r = await runSection(port);
  // The reason printed is the refusal, not the timeout: the script did not wait for an answer.
  assert.deepEqual(r.out.trim().split('\n'), [`${MARKERS.imds} unavailable (Connection refused)`, `${MARKERS.userData} skipped (no imds)`]);
});

test('a server that never answers: unavailable within the timeout', async () => {
  const socks: Socket[] = [];
  const server = createTcpServer((s) => socks.push(s));
  const port = await listen(server);
  try {
    const r = await runSection(port);
    assert.deepEqual(r.out.trim().split('\n'), [`${MARKERS.imds} unavailable (timed out after ${IMDS_TIMEOUT_SECONDS} s)`, `${MARKERS.userData} skipped (no imds)`]);
    // It waited out its timeout (no sooner); the generous upper bound only catches a script that hangs.
    assert.ok(r.ms >= IMDS_TIMEOUT_SECONDS * 1000 - 100, `gave up after ${r.ms} ms, before its ${IMDS_TIMEOUT_SECONDS} s timeout`);
    assert.ok(r.ms < 60_000, `still waiting after ${r.ms} ms: the timeout did not end the request`);
  } finally {
    for (const s of socks) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('the scripts parse under busybox sh and carry every marker', async () => {
  for (const text of [initScript(), udhcpcScript()]) {
    const r = await new Promise<number | null>((resolve) => {
      const c = spawn('busybox', ['sh', '-n', '-c', text], { stdio: 'inherit' });
      c.on('close', resolve);
    });
    assert.equal(r, 0);
  }
  for (const marker of Object.values(MARKERS)) assert.ok(initScript().includes(marker), marker);
});
