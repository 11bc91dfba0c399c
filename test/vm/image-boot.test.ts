// Boots nitride-minimal straight under QEMU (TCG) and checks what its init prints:
// the markers in order, a quick and honest IMDS failure (no VPC card yet), DHCP on a NIC
// with nobody answering, and a clean exit on the ACPI power button. Guests run one at a
// time; each is killed in `finally`, and its console is printed when a test fails.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootImage, type BootedGuest, type BootOptions } from '../../src/image/boot-check.js';
import { ensureImage, loadImage, type ImageManifest } from '../../src/image/build.js';
import { MARKERS } from '../../src/image/markers.js';
import { imageCacheDir } from '../../src/lib/paths.js';
import { waitFor } from '../../src/lib/wait.js';

const BOOT_DEADLINE_MS = 120_000;

async function image(): Promise<ImageManifest> {
  return ensureImage({ cacheDir: imageCacheDir() });
}

async function withGuest<T>(m: ImageManifest, opts: BootOptions, fn: (g: BootedGuest) => Promise<T>): Promise<T> {
  const g = bootImage(m, opts);
  try {
    return await fn(g);
  } catch (e) {
    process.stderr.write(`--- qemu ${g.args.join(' ')}\n--- console:\n${g.console()}\n--- qemu stderr:\n${g.stderr()}\n---\n`);
    throw e;
  } finally {
    await g.dispose();
  }
}

/** Indices of each text in the console, asserting they appear in this order. */
function assertInOrder(consoleText: string, texts: readonly string[]): void {
  let at = -1;
  for (const t of texts) {
    const i = consoleText.indexOf(t, at + 1);
    assert.ok(i > at, `'${t}' should appear after position ${at} in:\n${consoleText}`);
    at = i;
  }
}

async function powerDown(g: BootedGuest): Promise<number> {
  const t = Date.now();
  await g.qmp('system_powerdown');
  const code = await g.waitExit(20_000);
  assert.equal(code, 0, 'QEMU exits by itself with status 0 after the guest powers off');
  assert.ok(g.console().includes(MARKERS.powerdown), 'the power button marker is on the console');
  return Date.now() - t;
}

test('without a NIC: markers in order, IMDS unavailable, ACPI power-down exits QEMU', async () => {
  const m = await image();
  await withGuest(m, {}, async (g) => {
    const startMs = await g.waitFor(MARKERS.start, BOOT_DEADLINE_MS);
    const readyMs = await g.waitFor(MARKERS.ready, BOOT_DEADLINE_MS);
    assertInOrder(g.console(), [
      MARKERS.start,
      MARKERS.modules,
      `${MARKERS.network} absent`,
      `${MARKERS.imds} unavailable (`,
      `${MARKERS.userData} skipped`,
      MARKERS.ready,
    ]);
    assert.ok(!g.console().includes('(failed:'), 'every module loaded');
    assert.ok(!g.console().includes('no power button'), 'the power button is armed');
    const offMs = await powerDown(g);
    process.stderr.write(`[image-boot] no NIC: start ${startMs} ms, ready ${readyMs} ms after spawn, powered off ${offMs} ms after system_powerdown\n`);
  });
});

test('with a NIC whose peer never answers: eth0 appears, DHCP gives up, IMDS unavailable', async () => {
  const m = await image();
  const dir = mkdtempSync(join(tmpdir(), 'nitride-imgnic-'));
  const sockPath = join(dir, 'net.sock');
  // The NIC's backend: QEMU connects here and sends each Ethernet frame with a 4-byte
  // big-endian length prefix. We count DHCP DISCOVERs (UDP 68 -> 67) and answer nothing.
  let discovers = 0;
  const conns: Socket[] = [];
  const server: Server = createServer((s) => {
    conns.push(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        const frame = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        const isIpv4Udp = frame.length > 42 && frame.readUInt16BE(12) === 0x0800 && frame[23] === 17;
        if (isIpv4Udp) {
          const ihl = ((frame[14] ?? 0) & 0x0f) * 4;
          if (frame.readUInt16BE(14 + ihl) === 68 && frame.readUInt16BE(14 + ihl + 2) === 67) discovers += 1;
        }
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  try {
    await withGuest(m, { nicSocketPath: sockPath }, async (g) => {
      const modulesMs = await g.waitFor(MARKERS.modules, BOOT_DEADLINE_MS);
      const failMs = await g.waitFor(`${MARKERS.network} dhcp failed`, BOOT_DEADLINE_MS);
      const imdsMs = await g.waitFor(`${MARKERS.imds} unavailable (`, BOOT_DEADLINE_MS);
      const readyMs = await g.waitFor(MARKERS.ready, BOOT_DEADLINE_MS);
      assertInOrder(g.console(), [MARKERS.start, MARKERS.modules, `${MARKERS.network} dhcp failed`, `${MARKERS.imds} unavailable (`, MARKERS.ready]);
      assert.ok(discovers >= 2, `the guest sent DHCP DISCOVERs through the NIC (saw ${discovers})`);
      await powerDown(g);
      process.stderr.write(`[image-boot] NIC: dhcp failed ${failMs - modulesMs} ms after modules, imds gave up ${imdsMs - failMs} ms later, ready at ${readyMs} ms; ${discovers} DISCOVERs\n`);
    });
  } finally {
    for (const s of conns) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the power button works from "modules loaded" on: pressed during DHCP, the guest powers off at once', async () => {
  const m = await image();
  const dir = mkdtempSync(join(tmpdir(), 'nitride-imgnic-'));
  const sockPath = join(dir, 'net.sock');
  const conns: Socket[] = [];
  let framed = 0;
  const server: Server = createServer((s) => {
    conns.push(s);
    s.on('data', (d: Buffer) => (framed += d.length));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  try {
    await withGuest(m, { nicSocketPath: sockPath }, async (g) => {
      await g.waitFor(MARKERS.modules, BOOT_DEADLINE_MS);
      // udhcpc now waits about 3 s for an answer that never comes: the guest is in the DHCP step
      // once its first frame (a DISCOVER) reaches the NIC socket.
      await waitFor('the guest to send its first frame through the NIC', () => framed > 0, BOOT_DEADLINE_MS, 20);
      assert.ok(!g.console().includes('dhcp failed'), 'still in the DHCP step');
      const offMs = await powerDown(g);
      assert.ok(!g.console().includes(MARKERS.ready), 'powered off before ready');
      process.stderr.write(`[image-boot] power button during DHCP: off ${offMs} ms after system_powerdown\n`);
    });
  } finally {
    for (const s of conns) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

// A minimal DHCP server for one test, speaking raw Ethernet frames over the NIC's stream
// socket: OFFER for a DISCOVER, ACK for a REQUEST, always the same lease. Just enough to
// see the guest's udhcpc script apply a lease; the VPC card has the real one.
const LEASE = { ip: [10, 11, 0, 15], server: [10, 11, 0, 1], mask: [255, 255, 255, 0] } as const;

function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function dhcpReply(request: Buffer, ihl: number, type: 2 | 5): Buffer {
  const bootp = request.subarray(14 + ihl + 8);
  const reply = Buffer.alloc(240);
  reply[0] = 2; // BOOTREPLY
  reply[1] = 1;
  reply[2] = 6;
  bootp.copy(reply, 4, 4, 8); // xid
  bootp.copy(reply, 10, 10, 12); // flags
  reply.set(LEASE.ip, 16); // yiaddr
  reply.set(LEASE.server, 20); // siaddr
  bootp.copy(reply, 28, 28, 44); // chaddr
  reply.writeUInt32BE(0x63825363, 236);
  const options = Buffer.from([53, 1, type, 54, 4, ...LEASE.server, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, ...LEASE.mask, 3, 4, ...LEASE.server, 6, 4, ...LEASE.server, 255]);
  const payload = Buffer.concat([reply, options]);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(67, 0);
  udp.writeUInt16BE(68, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(LEASE.server, 12);
  ip.set([255, 255, 255, 255], 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  const eth = Buffer.alloc(14);
  eth.fill(0xff, 0, 6);
  eth.set([0x02, 0, 0, 0, 0, 1], 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** The DHCP message type (option 53) of a client frame, or undefined if it is not DHCP. */
function dhcpType(frame: Buffer): { type: number; ihl: number } | undefined {
  if (frame.length < 14 + 20 + 8 + 240 || frame.readUInt16BE(12) !== 0x0800 || frame[23] !== 17) return undefined;
  const ihl = ((frame[14] ?? 0) & 0x0f) * 4;
  if (frame.readUInt16BE(14 + ihl) !== 68 || frame.readUInt16BE(14 + ihl + 2) !== 67) return undefined;
  let p = 14 + ihl + 8 + 240;
  while (p + 1 < frame.length && frame[p] !== 255) {
    const code = frame[p] ?? 0;
    if (code === 0) {
      p += 1;
      continue;
    }
    const len = frame[p + 1] ?? 0;
    if (code === 53) return { type: frame[p + 2] ?? 0, ihl };
    p += 2 + len;
  }
  return undefined;
}

test('with a NIC and a DHCP server: eth0 gets the lease; IMDS behind the router gives up', async () => {
  const m = await image();
  const dir = mkdtempSync(join(tmpdir(), 'nitride-imgdhcp-'));
  const sockPath = join(dir, 'net.sock');
  const seen: number[] = [];
  const conns: Socket[] = [];
  const server: Server = createServer((s) => {
    conns.push(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        const frame = Buffer.from(buf.subarray(4, 4 + len));
        buf = buf.subarray(4 + len);
        const d = dhcpType(frame);
        if (!d) continue;
        seen.push(d.type);
        const reply = d.type === 1 ? dhcpReply(frame, d.ihl, 2) : d.type === 3 ? dhcpReply(frame, d.ihl, 5) : undefined;
        if (reply) {
          const head = Buffer.alloc(4);
          head.writeUInt32BE(reply.length);
          s.write(Buffer.concat([head, reply]));
        }
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  try {
    await withGuest(m, { nicSocketPath: sockPath }, async (g) => {
      const upMs = await g.waitFor(`${MARKERS.network} up 10.11.0.15`, BOOT_DEADLINE_MS);
      const imdsMs = await g.waitFor(`${MARKERS.imds} unavailable (`, BOOT_DEADLINE_MS);
      await g.waitFor(MARKERS.ready, BOOT_DEADLINE_MS);
      assert.deepEqual(seen.slice(0, 2), [1, 3], 'DISCOVER then REQUEST');
      await powerDown(g);
      const line = g.console().split('\n').find((l) => l.startsWith(`${MARKERS.imds} unavailable`));
      process.stderr.write(`[image-boot] DHCP: eth0 up at ${upMs} ms; '${line?.trim()}' ${imdsMs - upMs} ms later\n`);
    });
  } finally {
    for (const s of conns) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bzImage boots the same initrd to ready (the fallback path)', async () => {
  const m = await image();
  await withGuest(m, { kernelPath: `/boot/vmlinuz-${m.kernelVersion}` }, async (g) => {
    const readyMs = await g.waitFor(MARKERS.ready, BOOT_DEADLINE_MS);
    assertInOrder(g.console(), [MARKERS.start, MARKERS.modules, MARKERS.ready]);
    await powerDown(g);
    process.stderr.write(`[image-boot] bzImage: ready ${readyMs} ms after spawn\n`);
  });
});

test('loadImage finds what ensureImage built in the shared cache', async () => {
  const m = await image();
  assert.deepEqual(loadImage(imageCacheDir()), m);
});
