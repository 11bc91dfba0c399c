// Protocol fuzz of `nitride nbd serve`: seeded random handshakes and commands from many
// connections. The server must stay up, answer cleanly or close only the bad connection,
// and a well-behaved client connected the whole time must keep working.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as C from '../../src/ebs/protocol/constants.js';
import { encodeRequest } from '../../src/ebs/protocol/transmission.js';
import { RawNbdClient, requireTool, run, startServe, type RunningServer } from '../../src/ebs/testing/standalone.js';
import { seededInt } from '../../src/lib/testing/seeded-rng.js';

const SIZE = 16 * 1024 * 1024;
const GOOD_REGION = SIZE - 1024 * 1024; // the good client's megabyte; fuzzers stay below SIZE/2

const prng = seededInt;

function bytes(rnd: (n: number) => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

/** Send bytes on a fresh connection, keep reading for a while, then close. */
async function blast(path: string, chunks: Buffer[], lingerMs: number): Promise<void> {
  const s = connect(path);
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  await new Promise<void>((r) => {
    s.once('connect', () => r());
    s.once('error', () => r());
    s.once('close', () => r());
  });
  for (const c of chunks) if (!s.destroyed) s.write(c);
  await new Promise((r) => setTimeout(r, lingerMs));
  s.destroy();
}

function option(opt: number, data: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeBigUInt64BE(C.IHAVEOPT, 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

async function goodRoundTrip(good: RawNbdClient, round: number): Promise<void> {
  const data = Buffer.alloc(64 * 1024, `good-${round}-`);
  good.send(C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, GOOD_REGION, data.length, data);
  assert.equal((await good.reply()).error, 0);
  good.send(C.NBD_CMD_READ, 0, GOOD_REGION, data.length);
  const r = await good.reply(data.length);
  assert.equal(r.error, 0);
  assert.ok(r.data?.equals(data), `good client data, round ${round}`);
}

test('fuzzed handshakes and commands: the server stays up and a good client is unaffected', { timeout: 180_000 }, async () => {
  requireTool('nbdinfo');
  const dir = await mkdtemp(join(tmpdir(), 'nitride-nbd-fuzz-'));
  let server: RunningServer | undefined;
  let good: RawNbdClient | undefined;
  try {
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, randomBytes(64), { mode: 0o600 });
    const sock = join(dir, 'fuzz.sock');
    server = await startServe({ file: join(dir, 'fuzz.img'), keyFile, size: String(SIZE), socket: sock });
    good = await RawNbdClient.connect({ path: sock });
    await good.handshake({ structured: true, baseAllocation: true });
    await goodRoundTrip(good, 0);
    const rnd = prng(0x5eed1234);

    // 1. Handshake fuzz: random bytes, random options, mutated valid negotiations.
    const valid = (): Buffer[] => {
      const name = Buffer.alloc(0);
      const go = Buffer.alloc(4 + name.length + 2 + 2);
      go.writeUInt16BE(1, 4);
      go.writeUInt16BE(C.NBD_INFO_BLOCK_SIZE, 6);
      return [Buffer.from([0, 0, 0, 3]), option(C.NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(0)), option(C.NBD_OPT_LIST, Buffer.alloc(0)), option(C.NBD_OPT_GO, go)];
    };
    for (let round = 0; round < 20; round++) {
      const jobs: Promise<void>[] = [];
      for (let k = 0; k < 10; k++) {
        const kind = rnd(4);
        let chunks: Buffer[];
        if (kind === 0) chunks = [bytes(rnd, rnd(300))];
        else if (kind === 1) {
          chunks = [Buffer.from([0, 0, 0, rnd(4)])];
          for (let i = 0; i < 1 + rnd(6); i++) chunks.push(option(rnd(14), bytes(rnd, rnd(80))));
        } else if (kind === 2) {
          const all = Buffer.concat(valid());
          for (let i = 0; i < 1 + rnd(4); i++) all[rnd(all.length)] = rnd(256);
          chunks = [all];
        } else {
          // Lies about lengths: an option that claims a huge payload, or INFO data with bad counts.
          const d = bytes(rnd, 4 + rnd(40));
          chunks = [Buffer.from([0, 0, 0, 1]), option(rnd(2) ? C.NBD_OPT_INFO : C.NBD_OPT_SET_META_CONTEXT, d)];
          if (rnd(2)) {
            const h = option(C.NBD_OPT_GO, Buffer.alloc(0));
            h.writeUInt32BE(0xffffff00, 12);
            chunks.push(h);
          }
        }
        jobs.push(blast(sock, chunks, 5 + rnd(20)));
      }
      await Promise.all(jobs);
      await goodRoundTrip(good, round + 1);
    }

    // 2. Command fuzz after a proper handshake.
    let handshakes = 0;
    for (let round = 0; round < 15; round++) {
      const jobs: Promise<void>[] = [];
      for (let k = 0; k < 6; k++) {
        jobs.push(
          (async () => {
            const c = await RawNbdClient.connect({ path: sock });
            try {
              await c.handshake({ structured: rnd(2) === 1, baseAllocation: rnd(2) === 1 });
              handshakes++;
              const out: Buffer[] = [];
              for (let i = 0; i < 40; i++) {
                const type = rnd(10);
                const flags = rnd(4) === 0 ? rnd(65536) : rnd(32);
                const len = rnd(8) === 0 ? rnd(2 ** 32) : rnd(70_000);
                const offset = rnd(8) === 0 ? BigInt(rnd(2 ** 32)) * BigInt(rnd(2 ** 32)) : BigInt(rnd(SIZE / 2 - 70_000));
                const payload = type === C.NBD_CMD_WRITE && len < 70_000 ? bytes(rnd, len) : undefined;
                if (type === C.NBD_CMD_DISC && rnd(2)) continue;
                out.push(encodeRequest(type, flags, BigInt(i), offset, len, payload));
                if (rnd(30) === 0) out.push(bytes(rnd, rnd(64))); // garbage between requests
              }
              c.write(Buffer.concat(out));
              await new Promise((r) => setTimeout(r, 30 + rnd(50)));
            } catch {
              // the server may refuse or close a fuzzed connection; that is allowed
            } finally {
              c.close();
            }
          })(),
        );
      }
      await Promise.all(jobs);
      assert.equal(server.proc.exitCode, null, `server exited:\n${server.output()}`);
      await goodRoundTrip(good, 100 + round);
    }

    assert.equal(handshakes, 90, 'every command-fuzz connection completed its handshake');
    const info = run('nbdinfo', ['--json', `nbd+unix:///?socket=${sock}`]);
    assert.equal(info.status, 0, info.stderr);
    assert.equal(server.proc.exitCode, null);
    assert.doesNotMatch(server.output(), /TypeError|RangeError|ReferenceError|uncaught/i);
  } finally {
    good?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
