// Crash: kill -9 `nitride nbd serve` in the middle of a stream of pipelined writes,
// restart it on the same file and key, and check that every write acknowledged with FUA,
// and every write acknowledged before an acknowledged FLUSH, reads back intact. The
// backing file holds no plaintext and decrypts offline (python3 cryptography) to it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as C from '../../src/ebs/protocol/constants.js';
import { RawNbdClient, requireTool, startServe, type RunningServer } from '../../src/ebs/testing/standalone.js';

const CHUNK = 64 * 1024;
const SIZE = 256 * 1024 * 1024;
const SLOTS = SIZE / CHUNK;

function pattern(i: number): Buffer {
  return Buffer.alloc(CHUNK, `NITRIDE-CRASH-${String(i).padStart(6, '0')}|`);
}

test('kill -9 mid-write: acknowledged FUA and flushed writes survive; the file is ciphertext', { timeout: 120_000 }, async () => {
  requireTool('python3');
  const dir = await mkdtemp(join(tmpdir(), 'nitride-nbd-crash-'));
  const servers: RunningServer[] = [];
  try {
    const key = randomBytes(64);
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, key, { mode: 0o600 });
    const file = join(dir, 'crash.img');
    const sock = join(dir, 'crash.sock');
    const first = await startServe({ file, keyFile, size: String(SIZE), socket: sock });
    servers.push(first);

    // Connection A: pipelined FUA writes. Connection B: plain writes, then FLUSH.
    const a = await RawNbdClient.connect({ path: sock });
    const b = await RawNbdClient.connect({ path: sock });
    await a.handshake();
    await b.handshake();
    const durable = new Set<number>();
    // B: slots 0..63 without FUA, then a FLUSH; once the flush is acknowledged they are durable.
    for (let i = 0; i < 64; i++) b.send(C.NBD_CMD_WRITE, 0, i * CHUNK, CHUNK, pattern(i));
    for (let i = 0; i < 64; i++) assert.equal((await b.reply()).error, 0);
    b.send(C.NBD_CMD_FLUSH, 0, 0, 0);
    assert.equal((await b.reply()).error, 0);
    for (let i = 0; i < 64; i++) durable.add(i);

    // A: a window of 32 FUA writes in flight over slots 64…; kill -9 after 300 acknowledgements.
    const sent = new Map<bigint, number>();
    let next = 64;
    const send = (): void => {
      const slot = next++;
      sent.set(a.send(C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, slot * CHUNK, CHUNK, pattern(slot)), slot);
    };
    for (let i = 0; i < 32; i++) send();
    let acked = 0;
    while (acked < 300) {
      const r = await a.reply();
      assert.equal(r.error, 0);
      const slot = sent.get(r.cookie);
      assert.ok(slot !== undefined);
      durable.add(slot);
      acked++;
      if (next < SLOTS) send();
    }
    // Writes are still in flight here.
    assert.ok(next - 64 > acked, 'writes were in flight at the kill');
    await first.kill9();
    a.close();
    b.close();
    assert.equal(first.proc.signalCode, 'SIGKILL');

    const second = await startServe({ file, keyFile, socket: sock });
    servers.push(second);
    assert.equal(second.ready.size, SIZE);
    const c = await RawNbdClient.connect({ path: sock });
    try {
      await c.handshake();
      for (const slot of durable) {
        c.send(C.NBD_CMD_READ, 0, slot * CHUNK, CHUNK);
        const r = await c.reply(CHUNK);
        assert.equal(r.error, 0);
        assert.ok(r.data?.equals(pattern(slot)), `slot ${slot} lost or torn after the crash`);
      }
    } finally {
      c.close();
    }
    await second.stop();

    // The backing file: no plaintext, and an independent XTS decrypts slot 0..63 to the pattern.
    const raw = await readFile(file);
    assert.equal(raw.indexOf('NITRIDE-CRASH-'), -1, 'plaintext in the backing file');
    const script = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(sys.argv[1]); n = int(sys.argv[3])
ct = open(sys.argv[2], 'rb').read(n)
out = bytearray()
for i in range(0, n, 4096):
    d = Cipher(algorithms.AES(key), modes.XTS((i // 512).to_bytes(16, 'little'))).decryptor()
    out += d.update(ct[i:i+4096]) + d.finalize()
sys.stdout.buffer.write(bytes(out))
`;
    const r = spawnSync('python3', ['-c', script, key.toString('hex'), file, String(64 * CHUNK)], { maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, r.stderr?.toString());
    for (let i = 0; i < 64; i++) assert.ok(r.stdout.subarray(i * CHUNK, (i + 1) * CHUNK).equals(pattern(i)), `offline decrypt of slot ${i}`);
  } finally {
    for (const s of servers) await s.kill9();
    await rm(dir, { recursive: true, force: true });
  }
});
