// NbdServer's live-update primitives in one process: freezeConnections() stops a connection at
// a request boundary (requests sent while frozen are not answered, their bytes are in the
// exported state), and thawConnections() serves them on the same connection; bytes read before
// the freeze travel in the exported state and are parsed first by the connection that adopts
// the socket (here the same server adopts it). Moving a socket to another process is tested in
// test/integration/ebs-live-update.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { unreadByServer } from '../lib/testing/unix-queue.js';
import { waitFor } from '../lib/wait.js';
import { openFileExport } from './export.js';
import { isNbdConnectionState } from './nbd-server.js';
import * as C from './protocol/constants.js';
import { encodeRequest } from './protocol/transmission.js';
import { RawNbdClient } from './testing/standalone.js';

test('a frozen connection answers nothing new, exports its unread bytes, and thaws where it stopped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-nbd-freeze-'));
  const exp = await openFileExport(join(dir, 'vol'), { sizeBytes: 1024 * 1024, socketPath: join(dir, 's.sock'), key: randomBytes(64) });
  const c = await RawNbdClient.connect({ path: join(dir, 's.sock') });
  try {
    await c.handshake({ structured: true, baseAllocation: true });
    const block = Buffer.alloc(4096, 7);
    c.send(C.NBD_CMD_WRITE, 0, 0, 4096, block);
    assert.equal((await c.reply()).error, 0);

    const frozen = await exp.server.freezeConnections();
    assert.equal(frozen.length, 1);
    const st0 = frozen[0]!.state;
    assert.ok(isNbdConnectionState(JSON.parse(JSON.stringify(st0))));
    assert.equal(st0.phase, 'request');
    assert.equal(st0.structured, true);
    assert.equal(st0.metaExport, '');
    assert.equal(st0.unreadBase64, '');

    // a read and half of a write while frozen: nothing is answered, because nothing is read. The
    // proof is the kernel's queue, not a silence: every byte sent sits unread on the server's end
    // of the connection, and the client has received nothing.
    const write = encodeRequest(C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, 99n, 8192, 4096, Buffer.alloc(4096, 9));
    const read = encodeRequest(C.NBD_CMD_READ, 0, 98n, 0, 4096);
    const sent = Buffer.concat([read, write.subarray(0, 100)]);
    c.write(sent);
    await waitFor('the bytes sent while frozen to sit unread in the kernel', () => unreadByServer(c.socket) === sent.length, 10_000, 10);
    assert.equal(c.received, 0, 'nothing was answered while frozen');

    c.write(write.subarray(100));
    exp.server.thawConnections();
    const got = new Map<bigint, { error: number; data?: Buffer }>();
    for (let k = 0; k < 2; k++) {
      const r = await c.reply(0); // structured replies carry their own length
      got.set(r.cookie, r);
    }
    assert.equal(got.get(99n)?.error, 0);
    assert.ok(got.get(98n)?.data?.equals(block), 'the read sent while frozen is answered after the thaw');
    c.send(C.NBD_CMD_READ, 0, 8192, 4096);
    assert.ok((await c.reply(0)).data?.equals(Buffer.alloc(4096, 9)), 'the write split across the freeze landed whole');
    assert.equal(c.closed, false);
  } finally {
    c.close();
    await exp.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bytes read before the freeze travel in the state: a request split across the freeze is served whole by the connection that adopts it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-nbd-freeze-'));
  const exp = await openFileExport(join(dir, 'vol'), { sizeBytes: 1024 * 1024, socketPath: join(dir, 's.sock'), key: randomBytes(64) });
  const c = await RawNbdClient.connect({ path: join(dir, 's.sock') });
  try {
    await c.handshake({ structured: true });
    const data = Buffer.alloc(4096, 5);
    const write = encodeRequest(C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, 77n, 12288, 4096, data);
    // A flush and, in the same write, the first 10 bytes of the next request's header: once the
    // flush is answered the server has read (and holds, unparsed) those 10 bytes.
    const flush = encodeRequest(C.NBD_CMD_FLUSH, 0, 76n, 0, 0);
    c.write(Buffer.concat([flush, write.subarray(0, 10)]));
    assert.equal((await c.reply(0)).cookie, 76n);

    const frozen = await exp.server.freezeConnections();
    assert.equal(frozen.length, 1);
    const { cid, state } = frozen[0]!;
    assert.equal(state.phase, 'request');
    assert.ok(Buffer.from(state.unreadBase64, 'base64').equals(write.subarray(0, 10)), 'the 10 bytes read before the freeze are in the exported state');
    // The rest is sent while the connection is frozen: it waits in the kernel.
    c.write(write.subarray(10));

    // What a successor does (here the same server stands in for it): take the handle and the
    // state as JSON, adopt, resume. The 10 carried bytes must be parsed in front of the rest.
    const handle = exp.server.handOver(cid);
    const carried: unknown = JSON.parse(JSON.stringify(state));
    assert.ok(isNbdConnectionState(carried));
    exp.server.adoptConnection(handle, carried);
    assert.equal(exp.server.resumeAdopted(), 1);
    const rep = await c.reply(0);
    assert.equal(rep.cookie, 77n, 'the write split across the freeze is answered');
    assert.equal(rep.error, 0);
    c.send(C.NBD_CMD_READ, 0, 12288, 4096);
    assert.ok((await c.reply(0)).data?.equals(data), 'the write split across the freeze landed whole');
    assert.equal(c.closed, false);
  } finally {
    c.close();
    // The listener counts the socket it accepted until this process's copy is closed (a real
    // predecessor exits); in one process the handle is shared, so only now, after the client.
    exp.server.releaseHandedOver();
    await exp.close();
    await rm(dir, { recursive: true, force: true });
  }
});
