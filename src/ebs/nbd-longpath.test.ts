// A unix socket path longer than sockaddr_un's 107 bytes (an instance directory under a long
// NITRIDE_HOME): the server binds it through a short private link to its directory, so the
// socket file is at the long path itself, 0600, and a client that reaches it by a short name
// (QEMU: relative to its instance directory) talks NBD over it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openFileExport } from './export.js';
import { RawNbdClient } from './testing/standalone.js';

test('a socket path over 107 bytes is bound at that path (0600) and serves NBD; no helper link is left', async () => {
  const root = await mkdtemp(join(tmpdir(), 'nitride-nbd-long-'));
  try {
    const dir = join(root, 'a-rather-long-home-directory-name', 'host', 'hypervisor', 'instances', 'i-0123456789abcdef0');
    mkdirSync(dir, { recursive: true });
    const sock = join(dir, 'ebs-vol-0123456789abcdef0.sock');
    assert.ok(Buffer.byteLength(sock) > 107, `the path is ${Buffer.byteLength(sock)} bytes`);
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('nitride-nbd-') && !n.startsWith('nitride-nbd-long-')).length;
    const exp = await openFileExport(join(root, 'vol'), { sizeBytes: 1024 * 1024, socketPath: sock, key: randomBytes(64) });
    try {
      const st = statSync(sock);
      assert.ok(st.isSocket(), 'the socket file is at the long path');
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(readdirSync(tmpdir()).filter((n) => n.startsWith('nitride-nbd-') && !n.startsWith('nitride-nbd-long-')).length, before, 'the short link is gone');
      // A client reaches it by a short name, as QEMU does from its instance directory.
      symlinkSync(dir, join(root, 'd'));
      const c = await RawNbdClient.connect({ path: join(root, 'd', 'ebs-vol-0123456789abcdef0.sock') });
      try {
        await c.handshake({ structured: true, baseAllocation: true });
      } finally {
        c.close();
      }
    } finally {
      await exp.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
