// The benchmark's baseline: the smallest program that copies QEMU stream frames between two
// unix sockets (A → B and B → A) with no switching. It forwards only whole frames: the
// complete-frame part of each chunk goes out as one write, a partial frame waits.
//   node bare-relay.js SOCK_A SOCK_B     (prints "ready" when both listen)
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const [pathA, pathB] = process.argv.slice(2);
if (!pathA || !pathB) {
  process.stderr.write('usage: bare-relay.js SOCK_A SOCK_B\n');
  process.exit(2);
}
const peers: { a?: Socket; b?: Socket } = {};

function relay(from: Socket, to: () => Socket | undefined): void {
  let pending: Buffer | undefined;
  from.on('data', (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off - 4 < len) break;
      off += 4 + len;
    }
    if (off < buf.length) pending = Buffer.from(buf.subarray(off));
    if (off > 0) to()?.write(off === buf.length ? buf : buf.subarray(0, off));
    buf = Buffer.alloc(0);
  });
  from.on('error', () => undefined);
}

for (const [path, key, other] of [[pathA, 'a', 'b'], [pathB, 'b', 'a']] as const) {
  rmSync(path, { force: true });
  createServer((s) => {
    peers[key] = s;
    relay(s, () => peers[other]);
  }).listen(path, () => {
    if (key === 'b') process.stdout.write('ready\n');
  });
}
process.on('disconnect', () => process.exit(0));
