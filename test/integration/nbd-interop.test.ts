// Interop of the standalone NBD server (`nitride nbd serve`) with real NBD clients:
// nbdinfo, nbdcopy, qemu-img and qemu-io (libnbd-bin, qemu-utils). Missing tools fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as C from '../../src/ebs/protocol/constants.js';
import { distEntry } from '../../src/lib/paths.js';
import { RawNbdClient, requireTool, run, startServe, type RunningServer } from '../../src/ebs/testing/standalone.js';

let dir = '';
let key = Buffer.alloc(0);
const servers: RunningServer[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nitride-nbd-interop-'));
  key = randomBytes(64);
  await writeFile(join(dir, 'key.hex'), `${key.toString('hex')}\n`, { mode: 0o600 });
});

after(async () => {
  for (const s of servers) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

async function serve(name: string, extra: { readOnly?: boolean; size?: string; port?: number; plain?: boolean } = {}): Promise<RunningServer & { uri: string; sock: string; file: string }> {
  const sock = join(dir, `${name}.sock`);
  const file = join(dir, `${name}.img`);
  if (extra.readOnly) await writeFile(file, Buffer.alloc(0)).then(() => truncate(file, 1024 * 1024));
  const s = await startServe({
    file,
    size: extra.size ?? '64M',
    ...(extra.port !== undefined ? { port: extra.port } : { socket: sock }),
    ...(extra.plain ? {} : { keyFile: join(dir, 'key.hex') }),
    ...(extra.readOnly ? { readOnly: true } : {}),
  });
  servers.push(s);
  const uri = extra.port !== undefined ? `nbd://127.0.0.1:${s.ready.port}/` : `nbd+unix:///?socket=${sock}`;
  return Object.assign(s, { uri, sock, file });
}

/** Decrypt a backing file region offline with python3 `cryptography` (independent XTS). */
function decryptOffline(file: string, offset: number, length: number): Buffer {
  const script = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(sys.argv[1]); off = int(sys.argv[3]); n = int(sys.argv[4])
f = open(sys.argv[2], 'rb'); f.seek(off); ct = f.read(n)
out = bytearray()
for i in range(0, len(ct), 4096):
    s = ct[i:i+4096]
    if s == bytes(len(s)): out += s; continue
    d = Cipher(algorithms.AES(key), modes.XTS(((off + i) // 512).to_bytes(16, 'little'))).decryptor()
    out += d.update(s) + d.finalize()
sys.stdout.buffer.write(bytes(out))
`;
  requireTool('python3');
  const r = spawnSync('python3', ['-c', script, key.toString('hex'), file, String(offset), String(length)], { maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

test('nbdinfo --json reports size, block sizes and every capability', async () => {
  requireTool('nbdinfo');
  const s = await serve('info');
  const r = run('nbdinfo', ['--json', s.uri]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { protocol: string; structured: boolean; exports: Array<Record<string, unknown>> };
  assert.equal(j.protocol, 'newstyle-fixed');
  assert.equal(j.structured, true);
  const e = j.exports[0] as Record<string, unknown>;
  assert.equal(e['export-size'], 64 * 1024 * 1024);
  assert.equal(e['block_size_minimum'], 1);
  assert.equal(e['block_size_preferred'], 4096);
  assert.equal(e['block_size_maximum'], 32 * 1024 * 1024);
  for (const k of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_multi_conn', 'can_df']) assert.equal(e[k], true, k);
  assert.equal(e['is_read_only'], false);
  assert.deepEqual(e['contexts'], ['base:allocation']);
  // The socket is private to its owner.
  assert.equal((await stat(s.sock)).mode & 0o777, 0o600);
});

test('TCP on 127.0.0.1: nbdinfo over nbd://', async () => {
  requireTool('nbdinfo');
  const s = await serve('tcp', { port: 0 });
  assert.ok((s.ready.port ?? 0) > 0);
  const r = run('nbdinfo', ['--json', s.uri]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { exports: Array<Record<string, unknown>> }).exports[0]?.['export-size'], 64 * 1024 * 1024);
});

test('nbdcopy round trip over 4 connections; qemu-img compare; the backing file is ciphertext that decrypts offline', async () => {
  requireTool('nbdcopy');
  requireTool('qemu-img');
  const s = await serve('copy');
  const src = join(dir, 'src.bin');
  const line = Buffer.from('NITRIDE-INTEROP-PATTERN-0123456789abcdef\n');
  const data = Buffer.concat([Buffer.alloc(8 * 1024 * 1024, line), randomBytes(24 * 1024 * 1024)]);
  await writeFile(src, data);
  let r = run('nbdcopy', ['--connections=4', '--requests=16', '--flush', src, s.uri]);
  assert.equal(r.status, 0, r.stderr);
  const back = join(dir, 'back.bin');
  r = run('nbdcopy', ['--connections=4', s.uri, back]);
  assert.equal(r.status, 0, r.stderr);
  const got = await readFile(back);
  assert.ok(got.subarray(0, data.length).equals(data));
  assert.ok(got.subarray(data.length).equals(Buffer.alloc(got.length - data.length)));
  const padded = join(dir, 'padded.bin');
  await writeFile(padded, Buffer.concat([data, Buffer.alloc(64 * 1024 * 1024 - data.length)]));
  r = run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', padded, s.uri]);
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /Images are identical/);
  const raw = await readFile(s.file);
  assert.equal(raw.indexOf('NITRIDE-INTEROP-PATTERN'), -1, 'plaintext found in the backing file');
  assert.ok(decryptOffline(s.file, 0, 8 * 1024 * 1024).equals(data.subarray(0, 8 * 1024 * 1024)));
});

test('qemu-io: FUA writes, unaligned writes, write-zeroes, discard and reads verify', async () => {
  requireTool('qemu-io');
  const s = await serve('qemuio');
  const cmds = [
    'write -f -P 0xab 0 64k',
    'write -P 0xcd 1000 3000',
    'read -P 0xab 0 1000',
    'read -P 0xcd 1000 3000',
    'read -P 0xab 4000 61536',
    'write -f -P 0x11 1M 1M',
    'write -z 128k 64k',
    'read -P 0 128k 64k',
    'write -z -u 1M 512k',
    'read -P 0 1M 512k',
    'read -P 0x11 1536k 512k',
    'discard 0 8k',
    'read -P 0 0 8k',
    'flush',
  ];
  const args = ['--image-opts', `driver=nbd,server.type=unix,server.path=${s.sock}`];
  for (const c of cmds) args.push('-c', c);
  const r = run('qemu-io', args);
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /fail|error/i);
  // Offline: the FUA-written 0x11 megabyte's second half is in the file, encrypted.
  assert.ok(decryptOffline(s.file, 1536 * 1024, 512 * 1024).equals(Buffer.alloc(512 * 1024, 0x11)));
  const map = run('nbdinfo', ['--map', s.uri]);
  assert.equal(map.status, 0, map.stderr);
  assert.match(map.stdout, /hole,zero/);
});

test('multi-conn: writes on two connections, FLUSH on a third; all reads agree', async () => {
  const s = await serve('multi');
  const a = await RawNbdClient.connect({ path: s.sock });
  const b = await RawNbdClient.connect({ path: s.sock });
  const c = await RawNbdClient.connect({ path: s.sock });
  try {
    for (const x of [a, b, c]) await x.handshake();
    assert.ok((a.flags & C.NBD_FLAG_CAN_MULTI_CONN) !== 0);
    a.send(C.NBD_CMD_WRITE, 0, 0, 8192, Buffer.alloc(8192, 0xa1));
    b.send(C.NBD_CMD_WRITE, 0, 8192, 8192, Buffer.alloc(8192, 0xb2));
    assert.equal((await a.reply()).error, 0);
    assert.equal((await b.reply()).error, 0);
    c.send(C.NBD_CMD_FLUSH, 0, 0, 0);
    assert.equal((await c.reply()).error, 0);
    c.send(C.NBD_CMD_READ, 0, 0, 16384);
    const r = await c.reply(16384);
    assert.ok(r.data?.equals(Buffer.concat([Buffer.alloc(8192, 0xa1), Buffer.alloc(8192, 0xb2)])));
  } finally {
    for (const x of [a, b, c]) x.close();
  }
});

test('errno values: EPERM on a read-only export, ENOSPC past the end, EINVAL for bad flags/commands; the connection stays usable', async () => {
  requireTool('qemu-io');
  const s = await serve('ro', { readOnly: true, size: '1M' });
  const info = JSON.parse(run('nbdinfo', ['--json', s.uri]).stdout) as { exports: Array<Record<string, unknown>> };
  assert.equal(info.exports[0]?.['is_read_only'], true);
  const q = run('qemu-io', ['-r', '--image-opts', `driver=nbd,server.type=unix,server.path=${s.sock}`, '-c', 'read -P 0 0 64k']);
  assert.equal(q.status, 0, q.stderr);
  const c = await RawNbdClient.connect({ path: s.sock });
  try {
    await c.handshake();
    c.send(C.NBD_CMD_WRITE, 0, 0, 4096, Buffer.alloc(4096, 1));
    assert.equal((await c.reply()).error, C.NBD_EPERM);
    c.send(C.NBD_CMD_TRIM, 0, 0, 4096);
    assert.equal((await c.reply()).error, C.NBD_EPERM);
    c.send(C.NBD_CMD_WRITE_ZEROES, 0, 0, 4096);
    assert.equal((await c.reply()).error, C.NBD_EPERM);
    c.send(C.NBD_CMD_READ, 0, 1024 * 1024 - 10, 20);
    assert.equal((await c.reply(20)).error, C.NBD_EINVAL);
    c.send(99, 0, 0, 0);
    assert.equal((await c.reply()).error, C.NBD_EINVAL);
    c.send(C.NBD_CMD_READ, 0, 0, 4096);
    const ok = await c.reply(4096);
    assert.equal(ok.error, 0);
    assert.ok(ok.data?.equals(Buffer.alloc(4096)));
  } finally {
    c.close();
  }
  const w = await serve('rw-errs', { size: '1M' });
  const d = await RawNbdClient.connect({ path: w.sock });
  try {
    await d.handshake({ structured: true });
    d.send(C.NBD_CMD_WRITE, 0, 1024 * 1024 - 10, 20, Buffer.alloc(20));
    assert.equal((await d.reply()).error, C.NBD_ENOSPC);
    d.send(C.NBD_CMD_READ, 1 << 7, 0, 4096); // unknown flag bit
    const e = await d.reply(4096);
    assert.equal(e.error, C.NBD_EINVAL);
    assert.equal(e.structuredType, C.NBD_REPLY_TYPE_ERROR);
    d.send(C.NBD_CMD_BLOCK_STATUS, 0, 0, 4096); // no meta context negotiated
    assert.equal((await d.reply()).error, C.NBD_EINVAL);
    d.send(C.NBD_CMD_WRITE_ZEROES, C.NBD_CMD_FLAG_NO_HOLE | C.NBD_CMD_FLAG_FAST_ZERO, 0, 4096);
    assert.equal((await d.reply()).error, C.NBD_ENOTSUP);
    d.send(C.NBD_CMD_READ, 0, 0, 8);
    const ok = await d.reply();
    assert.equal(ok.error, 0);
    assert.equal(ok.data?.length, 8);
  } finally {
    d.close();
  }
});

test('plain export (no key) stores bytes as written', async () => {
  requireTool('qemu-io');
  const s = await serve('plain', { plain: true, size: '1M' });
  const r = run('qemu-io', ['--image-opts', `driver=nbd,server.type=unix,server.path=${s.sock}`, '-c', 'write -f -P 0x5a 4096 4096']);
  assert.equal(r.status, 0, r.stderr);
  const raw = await readFile(s.file);
  assert.ok(raw.subarray(4096, 8192).equals(Buffer.alloc(4096, 0x5a)));
});

test('nitride nbd serve: bad arguments and bad keys are refused before anything is served', async () => {
  const main = distEntry('cli/main.js');
  let r = run(process.execPath, [main, 'nbd', 'serve', '--socket', join(dir, 'x.sock')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--file is required/);
  r = run(process.execPath, [main, 'nbd', 'serve', '--file', join(dir, 'x.img'), '--size', '1M']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--socket PATH or --port N/);
  await writeFile(join(dir, 'short.key'), randomBytes(32));
  r = run(process.execPath, [main, 'nbd', 'serve', '--file', join(dir, 'x.img'), '--size', '1M', '--key-file', join(dir, 'short.key'), '--socket', join(dir, 'x.sock')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /EBS_BAD_KEY/);
});
