// What the kernel holds unread on the far end of a unix stream connection, for tests that must
// show a server has stopped reading (a frozen card) without waiting for a silence: `ss -x`
// (iproute2) reports each socket's Recv-Q and its peer's inode, and a client knows its own
// socket's inode from /proc/self/fd. A test polls this against a deadline (src/lib/wait.ts)
// until the bytes it sent sit there unread, or until none do.
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';

function inodeOf(client: Socket): number {
  const fd = (client as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error('the client socket has no descriptor');
  const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
  if (!m) throw new Error(`descriptor ${fd} is not a socket`);
  return Number(m[1]);
}

/** The bytes the kernel holds, unread by the server, on the connection whose client end is `client` (a unix stream socket of this process). */
export function unreadByServer(client: Socket): number {
  const inode = inodeOf(client);
  const r = spawnSync('ss', ['-xnH', 'state', 'established'], { encoding: 'utf8' });
  if (r.error) throw new Error(`ss (iproute2) is required to read socket queues: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ss -x failed (${r.status}): ${r.stderr}`);
  for (const line of r.stdout.split('\n')) {
    // Netid Recv-Q Send-Q Local-Address Inode Peer-Address Peer-Inode (no State column with one state filter)
    const f = line.trim().split(/\s+/);
    if (f.length >= 7 && Number(f[f.length - 1]) === inode) return Number(f[1]);
  }
  throw new Error(`no server end found for the unix socket with inode ${inode}`);
}
