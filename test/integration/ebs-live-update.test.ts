// Live update of the EBS card at the NBD level (issue 4 item 9): a real card process serves
// an encrypted volume to NBD clients on their unix sockets while restartEbsCard() (what
// `nitride host restart-component ebs` runs in the controller) replaces it several times. The
// live connections are handed to the new card with their negotiated state: no client sees its
// socket close or a new handshake, no request fails, every acknowledged write reads back, and
// the largest gap between replies (the pause) is measured and printed. Also a connection
// frozen in the middle of a write's payload and one in the middle of its handshake go on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ComponentSupervisor } from '../../src/controller/supervisor.js';
import { restartEbsCard, type EbsLiveUpdateContext, type EbsRestartResult } from '../../src/controller/cards/ebs.js';
import type { EbsContract } from '../../src/ebs/protocol/messages.js';
import * as C from '../../src/ebs/protocol/constants.js';
import { RawNbdClient } from '../../src/ebs/testing/standalone.js';
import { createLogger } from '../../src/lib/log.js';
import { distEntry } from '../../src/lib/paths.js';
import { giveToComponent, letComponentSearch } from '../../src/lib/privileges.js';
import { sealTo } from '../../src/lib/seal.js';
import { unreadByServer } from '../../src/lib/testing/unix-queue.js';
import { waitFor } from '../../src/lib/wait.js';

const VOL = 'vol-0a1b2c3d4e5f60718';
const SIZE = 64 * 1024 * 1024;
const BLOCKS = 256; // the writers cycle over the first 1 MiB in 4 KiB blocks

function blockOf(conn: number, i: number): Buffer {
  const b = Buffer.alloc(4096, conn + 1);
  b.write(`conn${conn}-write${String(i).padStart(8, '0')}`, 0);
  return b;
}

/** Keeps `depth` 4 KiB writes in flight on one connection; records every reply's time and error. */
class Writer {
  sent = 0;
  acked = 0;
  errors = 0;
  maxGapMs = 0;
  private last = 0;
  private stopped = false;
  /** block → the last write acknowledged there (index i) */
  readonly lastAcked = new Map<number, number>();
  private readonly byCookie = new Map<bigint, number>();
  done: Promise<void> = Promise.resolve();
  failure: unknown;

  constructor(
    readonly client: RawNbdClient,
    readonly conn: number,
    readonly depth: number,
  ) {}

  private block(i: number): number {
    return this.conn * BLOCKS + (i % BLOCKS);
  }

  private sendOne(): void {
    const i = this.sent++;
    const fua = i % 8 === 0 ? C.NBD_CMD_FLAG_FUA : 0;
    const cookie = this.client.send(C.NBD_CMD_WRITE, fua, this.block(i) * 4096, 4096, blockOf(this.conn, i));
    this.byCookie.set(cookie, i);
  }

  start(): void {
    for (let k = 0; k < this.depth; k++) this.sendOne();
    this.done = (async () => {
      while (this.byCookie.size > 0) {
        const r = await this.client.reply(0);
        const now = performance.now();
        if (this.last !== 0) this.maxGapMs = Math.max(this.maxGapMs, now - this.last);
        this.last = now;
        const i = this.byCookie.get(r.cookie);
        assert.ok(i !== undefined, `a reply to a cookie that was never sent: ${r.cookie}`);
        this.byCookie.delete(r.cookie);
        if (r.error !== 0) this.errors++;
        else {
          this.acked++;
          const b = this.block(i);
          if ((this.lastAcked.get(b) ?? -1) < i) this.lastAcked.set(b, i);
        }
        if (!this.stopped) this.sendOne();
      }
    })().catch((e: unknown) => {
      this.failure = e;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }
}

async function readBlock(c: RawNbdClient, offset: number): Promise<Buffer> {
  const cookie = c.send(C.NBD_CMD_READ, 0, offset, 4096);
  const r = await c.reply(4096);
  assert.equal(r.cookie, cookie);
  assert.equal(r.error, 0);
  return r.data!;
}

test('the EBS card is replaced under pipelined NBD writes: the live connections move, nothing is lost', { timeout: 180_000 }, async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-ebs-live-'));
  const log = createLogger('ebs-live-test', () => undefined);
  // the EBS card supervised as the controller supervises it (src/controller/cards/ebs.ts)
  // as its own user the card works in the home by relative paths, its store its user's (as in src/controller/cards/ebs.ts)
  letComponentSearch('ebs', home);
  giveToComponent('ebs', join(home, 'ebs'));
  giveToComponent('ebs', join(home, 'sockets'));
  const card = new ComponentSupervisor<EbsContract>({ name: 'ebs', entry: distEntry('ebs/card/main.js'), args: ['--root', 'ebs', '--socket-dir', 'sockets'], cwd: home, log, readyEvent: 'card.ready', onEvent: () => undefined });
  const clients: RawNbdClient[] = [];
  const pids: number[] = [];
  try {
    card.start();
    const info = await waitFor('the card to answer card.info', async () => (await card.request('card.info', {}, 2_000)) as { publicKey: string; pid: number }, 20_000, 50);
    pids.push(info.pid);
    const key = randomBytes(64);
    const sealedKey = sealTo(Buffer.from(info.publicKey, 'base64'), key, Buffer.from(VOL)).toString('base64');
    const socketPath = join(home, 'inst', `ebs-${VOL}.sock`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(home, 'inst'), { mode: 0o700 });
    giveToComponent('ebs', join(home, 'inst')); // where the card puts its socket (an instance directory)
    await card.request('volume.attach', { volumeId: VOL, sizeBytes: SIZE, sealedKey, socketPath }, 30_000);
    const ctx: EbsLiveUpdateContext = { card, log };

    // two connections as QEMU makes them (structured replies, base:allocation) and one plain
    const a = await RawNbdClient.connect({ path: socketPath });
    clients.push(a);
    await a.handshake({ exportName: VOL, structured: true, baseAllocation: true });
    const b = await RawNbdClient.connect({ path: socketPath });
    clients.push(b);
    await b.handshake({ exportName: VOL });
    const wa = new Writer(a, 0, 16);
    const wb = new Writer(b, 1, 16);
    wa.start();
    wb.start();
    await waitFor('writes to flow on both connections before the update', () => wa.acked > 16 && wb.acked > 16, 20_000, 10);

    // several live updates under load
    const results: EbsRestartResult[] = [];
    for (let k = 0; k < 5; k++) {
      const r = await restartEbsCard(ctx);
      process.stderr.write(`[ebs-live] update ${k}: ${JSON.stringify({ ...r, previous: undefined, current: r.current.pid })}\n`);
      results.push(r);
      pids.push(r.current.pid ?? 0);
      const acked = wa.acked + wb.acked;
      await waitFor(`writes to flow after update ${k}`, () => wa.acked + wb.acked > acked + 8, 20_000, 10);
    }
    const acksBefore = wa.acked + wb.acked;
    await waitFor('writes to flow after the last update', () => wa.acked + wb.acked > acksBefore + 16, 20_000, 10);
    await wa.stop();
    await wb.stop();
    for (const r of results) {
      assert.equal(r.volumes, 1);
      assert.equal(r.connections, 2, 'both live connections were handed over');
      assert.equal(r.dropped, 0);
    }
    assert.equal(new Set(pids).size, pids.length, 'every update made a new card process');
    for (const p of pids.slice(0, -1)) {
      let alive = true;
      try {
        process.kill(p, 0);
      } catch {
        alive = false;
      }
      assert.equal(alive, false, `old card ${p} exited`);
    }
    assert.equal(a.closed, false, 'connection A was never closed');
    assert.equal(b.closed, false, 'connection B was never closed');
    assert.equal(wa.errors + wb.errors, 0, 'no request failed');
    const pauses = results.map((r) => r.outageMs);
    t.diagnostic(`5 live updates: card-side pause (freeze → resumed) ${pauses.map((p) => p.toFixed(1)).join(' / ')} ms; total ${results.map((r) => r.totalMs).join(' / ')} ms`);
    t.diagnostic(`largest gap between write replies seen by the clients: ${wa.maxGapMs.toFixed(1)} / ${wb.maxGapMs.toFixed(1)} ms (${wa.acked + wb.acked} writes acknowledged)`);
    process.stderr.write(`[ebs-live] pauses ${pauses.map((p) => p.toFixed(1)).join(' / ')} ms; client max gap ${Math.max(wa.maxGapMs, wb.maxGapMs).toFixed(1)} ms over ${wa.acked + wb.acked} writes\n`);

    // every acknowledged write reads back (through the handed-over connection itself)
    for (const w of [wa, wb]) {
      for (const [blk, i] of w.lastAcked) {
        const got = await readBlock(a, blk * 4096);
        assert.ok(got.equals(blockOf(w.conn, i)), `block ${blk} holds write ${i} of connection ${w.conn}`);
      }
    }

    // a write frozen with half its payload read, and a connection in the middle of its handshake
    const c = await RawNbdClient.connect({ path: socketPath });
    clients.push(c);
    await c.handshake({ exportName: VOL, structured: true });
    const d = await RawNbdClient.connect({ path: socketPath });
    clients.push(d);
    const greeting = await d.read(18);
    assert.equal(greeting.readBigUInt64BE(0), C.NBDMAGIC);
    d.write(Buffer.from([0, 0, 0, 3]));
    const payload = blockOf(7, 1);
    const { encodeRequest } = await import('../../src/ebs/protocol/transmission.js');
    const req = encodeRequest(C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, 4242n, 1000 * 4096 + 100, 4096, payload);
    c.write(req.subarray(0, 28 + 1000));
    // the card has read everything sent so far (the header and 1000 payload bytes on c, the flags on d) when the kernel holds none of it
    await waitFor('the card to read the half-written request and the flags', () => unreadByServer(c.socket) === 0 && unreadByServer(d.socket) === 0, 10_000, 10);
    const r2 = await restartEbsCard(ctx);
    assert.equal(r2.connections, 4, 'A, B, the half-written and the half-negotiated connection moved');
    // The old card had read the header and 1000 payload bytes: they crossed in the hand-over state
    // (the rest, sent below, is read by the new card), so the split path really ran.
    assert.equal(r2.carriedBytes, 1000, 'the 1000 payload bytes the old card had read were carried to the new one');
    c.write(req.subarray(28 + 1000));
    const rep = await c.reply(0);
    assert.equal(rep.cookie, 4242n);
    assert.equal(rep.error, 0);
    assert.ok((await readBlock(c, 1000 * 4096 + 100)).equals(payload), 'the write split across the update landed whole');
    // the handshake goes on where it stopped: GO with the new card
    const name = Buffer.from(VOL);
    const opt = Buffer.alloc(16 + 4 + name.length + 2);
    opt.writeBigUInt64BE(C.IHAVEOPT, 0);
    opt.writeUInt32BE(C.NBD_OPT_GO, 8);
    opt.writeUInt32BE(4 + name.length + 2, 12);
    opt.writeUInt32BE(name.length, 16);
    name.copy(opt, 20);
    d.write(opt);
    let acked = false;
    for (let k = 0; k < 8 && !acked; k++) {
      const h = await d.read(20);
      const body = await d.read(h.readUInt32BE(16));
      void body;
      if (h.readUInt32BE(12) === C.NBD_REP_ACK) acked = true;
    }
    assert.ok(acked, 'GO was answered by the new card');
    const cookie = d.send(C.NBD_CMD_READ, 0, 0, 4096);
    const rd = await d.reply(4096);
    assert.equal(rd.cookie, cookie);
    assert.equal(rd.error, 0);
    for (const cl of clients) assert.equal(cl.closed, false);

    // an update undone after the freeze (handover.thaw): the old card listens again and its frozen
    // connections read on where they stopped; a new client connects to it
    const frozen = (await card.request('handover.freeze', {}, 10_000)) as { volumes: { connections: unknown[] }[] };
    assert.equal(frozen.volumes[0]?.connections.length, 4);
    const pendingRead = c.send(C.NBD_CMD_READ, 0, 1000 * 4096 + 100, 4096);
    // nothing is answered while frozen because nothing is read: the 28-byte request sits unread in
    // the kernel on the card's end of the connection, and the client has received nothing
    await waitFor('the request sent while frozen to sit unread in the kernel', () => unreadByServer(c.socket) === 28, 10_000, 10);
    assert.equal(c.received, 0, 'nothing is answered while frozen');
    const thawed = (await card.request('handover.thaw', {}, 10_000)) as { connections: number };
    assert.equal(thawed.connections, 4);
    const rt = await c.reply(0);
    assert.equal(rt.cookie, pendingRead);
    assert.ok(rt.data?.equals(payload), 'the read sent while frozen is answered after the thaw');
    const e = await RawNbdClient.connect({ path: socketPath });
    clients.push(e);
    await e.handshake({ exportName: VOL });
    assert.ok((await readBlock(e, 1000 * 4096 + 100)).equals(payload), 'a new connection reaches the thawed card');

    // no plaintext key anywhere under the test home (the hand-over moved only sealed keys and socket state)
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const n of readdirSync(dir)) {
        const p = join(dir, n);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) files.push(p);
      }
    };
    walk(home);
    for (const f of files) {
      const data = readFileSync(f);
      assert.equal(data.indexOf(key.subarray(0, 32)), -1, `the key's first half is not in ${f}`);
      assert.equal(data.indexOf(key.subarray(32)), -1, `the key's second half is not in ${f}`);
    }
  } finally {
    for (const cl of clients) cl.close();
    await card.stop();
    rmSync(home, { recursive: true, force: true });
  }
});
