// The EBS card's domain logic: an X25519 key pair made at start (the private key lives only
// in this process's memory), the host's volume store, and one encrypted NBD export per
// attached volume on its own unix socket, connectable only by the QEMU user. Data keys
// arrive sealed to the card's public key (src/lib/seal.ts); the plaintext key is handed
// to the XTS layer and the copy here is wiped at once. Instance-store volumes get a key
// the card makes itself and never writes anywhere; detaching one destroys the key and
// deletes its file.
import { KeyedQueue } from '../../lib/keyed-queue.js';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Logger } from '../../lib/log.js';
import { generateSealKeyPair, openSealed, sealTo, type SealKeyPair } from '../../lib/seal.js';
import { EbsError } from '../errors.js';
import { openVolumeExport, type NbdExportHandle } from '../export.js';
import type { FrozenNbdConnection, NbdConnectionState } from '../nbd-server.js';
import { recryptAllocated } from '../recrypt.js';
import { createXtsCipher, type XtsCipher } from '../xts/xts.js';
import type { VolumeStore } from '../volume-store/types.js';

export const VOLUME_ID_RE = /^vol-[0-9a-f]{8,17}$/;
/** Bytes of an AES-256-XTS key (two AES-256 keys). */
export const XTS_KEY_BYTES = 64;

export interface CardOptions {
  readonly store: VolumeStore;
  /** Directory of the export sockets (created 0700, owned by the QEMU user when given). */
  readonly socketDir: string;
  readonly owner: { uid: number; gid: number } | undefined;
  readonly log: Logger;
}

export interface AttachParams {
  readonly volumeId: string;
  readonly sizeBytes: number;
  /** base64 of sealTo(card public key, 64-byte XTS key, aad = volume id); absent/null: unencrypted. */
  readonly sealedKey?: string | null;
  /** Instance store: the card makes the key itself and never stores it. */
  readonly ephemeral?: boolean;
  /**
   * Where to listen: an absolute path ending in ebs-<volume id>.sock (the controller puts it
   * in the instance's directory, QEMU's working directory). Default: the card's socket dir.
   */
  readonly socketPath?: string;
  /** Live update: listen on stagedPathOf(socketPath) until handover.promote. */
  readonly stage?: boolean;
}

export interface AttachedVolume {
  readonly volumeId: string;
  readonly socketPath: string;
  readonly sizeBytes: number;
  readonly encrypted: boolean;
  readonly ephemeral: boolean;
}

interface Entry extends AttachedVolume {
  readonly handle: NbdExportHandle;
  /** Kept (in this process's memory only) to seal it to a successor card in a live update. */
  readonly key: Buffer | null;
}

export interface HandedVolume {
  readonly volumeId: string;
  readonly sizeBytes: number;
  readonly socketPath: string;
  readonly ephemeral: boolean;
  /** base64, sealed to the successor's public key with the volume id as aad; null: unencrypted. */
  readonly sealedKey: string | null;
}

/**
 * Where a successor card listens before handover.promote renames the socket onto the live path:
 * ebs-<volume id>.n<pid in base 36>, beside it. Named per process: libuv unlinks a unix
 * listener's bound name when it closes, so when this card is itself replaced later its
 * listener's close removes this name — which must not be the name its own successor is staged
 * under. No longer than the live path plus two bytes (a unix socket path has at most 107).
 */
export const stagedPathOf = (socketPath: string): string => `${socketPath.endsWith('.sock') ? socketPath.slice(0, -5) : socketPath}.n${process.pid.toString(36)}`;

export class EbsCard {
  private readonly pair: SealKeyPair = generateSealKeyPair();
  private readonly exports = new Map<string, Entry>();
  private readonly queue = new KeyedQueue();
  private readonly cwd = process.cwd();

  constructor(private readonly o: CardOptions) {}

  info(): { publicKey: string; pid: number; volumes: number; volumeIds: string[] } {
    return { publicKey: this.pair.publicKey.toString('base64'), pid: process.pid, volumes: this.exports.size, volumeIds: [...this.exports.keys()].sort() };
  }

  /** Opens a key sealed to this card (aad names what it is for); the caller wipes it. Used by the snapshot builder. */
  openSealedKey(sealed: string, aad: string): Buffer {
    return openSealed(this.pair, Buffer.from(sealed, 'base64'), Buffer.from(aad));
  }

  list(): AttachedVolume[] {
    return [...this.exports.values()].map(({ handle: _h, ...v }) => v);
  }

  /** One operation per volume at a time. */
  private one<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(volumeId, fn);
  }

  /**
   * The path the card's own system calls use for `path`: relative to its working directory
   * when under it. As its own user the card reaches the host's directory through the working
   * directory its parent gave it (src/controller/cards/ebs.ts), never through NITRIDE_HOME's
   * ancestors, which its user may not search (a home under /root).
   */
  private at(path: string): string {
    const rel = relative(this.cwd, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  }

  async init(): Promise<void> {
    await mkdir(this.o.socketDir, { recursive: true, mode: 0o700 });
    if (this.o.owner && process.getuid?.() !== 0) {
      // as its own user the card keeps the directory it listens in; QEMU's user may search it to its 0600 sockets
      await chmod(this.o.socketDir, 0o711);
      return;
    }
    await chmod(this.o.socketDir, 0o700);
    if (this.o.owner) await chown(this.o.socketDir, this.o.owner.uid, this.o.owner.gid);
  }

  /**
   * Who may connect to an export socket. In a jailed instance's directory (group the instance's
   * own gid, owner root or this card's user: src/hypervisor/jail/jailer.ts) only that instance:
   * root:<gid> 0660. Elsewhere, QEMU's shared user when the card may give files away (0600), or
   * the card's own user. The mode is set while the card still owns the file (no CAP_FOWNER).
   */
  private async protectSocket(path: string): Promise<void> {
    await chmod(path, 0o600);
    if (!this.o.owner) return;
    const dir = await stat(dirname(path));
    if ((dir.uid === 0 || dir.uid === process.getuid?.()) && dir.gid !== 0 && dir.gid !== process.getgid?.()) {
      await chmod(path, 0o660);
      await chown(path, 0, dir.gid);
      return;
    }
    await chown(path, this.o.owner.uid, this.o.owner.gid);
  }

  attach(p: AttachParams): Promise<AttachedVolume> {
    if (!VOLUME_ID_RE.test(p.volumeId)) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'volumeId must look like vol-0123456789abcdef0.', { volumeId: p.volumeId });
    if (!Number.isSafeInteger(p.sizeBytes) || p.sizeBytes <= 0 || p.sizeBytes % 4096 !== 0) {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'sizeBytes must be a positive multiple of 4096.', { sizeBytes: p.sizeBytes });
    }
    return this.one(p.volumeId, async () => {
      const cur = this.exports.get(p.volumeId);
      if (cur) {
        if (p.socketPath === undefined || p.socketPath === cur.socketPath) return strip(cur);
        throw new EbsError('EBS_VOLUME_IN_USE', 'conflict', 'The volume is attached elsewhere.', { volumeId: p.volumeId });
      }
      let key: Buffer | null = null;
      try {
        // an instance-store key comes sealed only from a predecessor card (live update)
        const fresh = p.ephemeral === true && !p.sealedKey;
        if (fresh) key = randomBytes(XTS_KEY_BYTES);
        else if (p.sealedKey) {
          key = openSealed(this.pair, Buffer.from(p.sealedKey, 'base64'), Buffer.from(p.volumeId));
          if (key.length !== XTS_KEY_BYTES) throw new EbsError('EBS_BAD_KEY', 'invalid', `A volume key is ${XTS_KEY_BYTES} bytes.`, { volumeId: p.volumeId });
        }
        const known = (await this.o.store.list()).find((v) => v.id === p.volumeId);
        if (!known) await this.o.store.create(p.volumeId, p.sizeBytes);
        else if (!p.ephemeral && known.sizeBytes < p.sizeBytes) {
          // ModifyVolume grew it while detached
          const h = await this.o.store.open(p.volumeId);
          try {
            await h.resize(p.sizeBytes);
          } finally {
            await h.close();
          }
        } else if (fresh) {
          // an instance-store file left behind by a crash holds data under a key that no longer exists
          await this.o.store.delete(p.volumeId);
          await this.o.store.create(p.volumeId, p.sizeBytes);
        }
        const socketPath = p.socketPath ?? join(resolve(this.o.socketDir), `ebs-${p.volumeId}.sock`);
        if (!isAbsolute(socketPath) || basename(socketPath) !== `ebs-${p.volumeId}.sock`) {
          throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'socketPath must be an absolute path ending in ebs-<volume id>.sock.', { volumeId: p.volumeId });
        }
        // staged (live update): listen next to the path; handover.promote renames it into place
        const listenPath = this.at(p.stage ? stagedPathOf(socketPath) : socketPath);
        const handle = await openVolumeExport(this.o.store, p.volumeId, { socketPath: listenPath, key, exportName: p.volumeId });
        await this.protectSocket(listenPath);
        const e: Entry = { volumeId: p.volumeId, socketPath, sizeBytes: p.sizeBytes, encrypted: key !== null, ephemeral: p.ephemeral ?? false, handle, key: key ? Buffer.from(key) : null };
        this.exports.set(p.volumeId, e);
        this.o.log.info('volume attached', { volumeId: p.volumeId, encrypted: e.encrypted, ephemeral: e.ephemeral });
        return strip(e);
      } finally {
        key?.fill(0); // the export copied it into the cipher
      }
    });
  }

  detach(volumeId: string): Promise<{ volumeId: string; detached: boolean }> {
    return this.one(volumeId, async () => {
      const e = this.exports.get(volumeId);
      if (!e) return { volumeId, detached: false };
      this.exports.delete(volumeId);
      await e.handle.close(); // flushes, closes the file, destroys the key
      e.key?.fill(0);
      await rm(this.at(e.socketPath), { force: true }); // a promoted socket is not the server's own path
      if (e.ephemeral) await this.o.store.delete(volumeId).catch(() => undefined);
      this.o.log.info('volume detached', { volumeId, ephemeral: e.ephemeral });
      return { volumeId, detached: true };
    });
  }

  /** Live update, step 1 (old card): every key sealed to the successor; nothing is closed yet. */
  sealKeys(successorPublicKey: Buffer): HandedVolume[] {
    return [...this.exports.values()].map((e) => ({
      volumeId: e.volumeId,
      sizeBytes: e.sizeBytes,
      socketPath: e.socketPath,
      ephemeral: e.ephemeral,
      sealedKey: e.key ? sealTo(successorPublicKey, e.key, Buffer.from(e.volumeId)).toString('base64') : null,
    }));
  }

  /**
   * Live update, step 2 (old card): stop accepting connections. Closing a unix listener
   * unlinks its socket file (libuv), so this happens before the successor's socket takes the
   * path; the live connections keep being served.
   */
  unlisten(): { volumes: number } {
    for (const e of this.exports.values()) e.handle.server.stopListening({ keepSocketFiles: true });
    return { volumes: this.exports.size };
  }

  /** Live update, step 3 (new card): the staged socket replaces the old card's socket file (new connections come here). */
  async promote(volumeId: string): Promise<{ volumeId: string }> {
    const e = this.exports.get(volumeId);
    if (!e) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume is not attached to this card.', { volumeId });
    await rename(this.at(stagedPathOf(e.socketPath)), this.at(e.socketPath));
    return { volumeId };
  }

  /**
   * Live update, step 2 (old card), with the live connections handed over: stop accepting
   * (as unlisten()) and freeze every connection at a request boundary — reading stops, every
   * request in flight finishes and its reply leaves this process. Returns each frozen
   * connection's negotiated state and unread bytes (no key) for the successor.
   */
  async freezeConnections(): Promise<{ volumes: { volumeId: string; connections: FrozenNbdConnection[] }[] }> {
    const all = [...this.exports.values()];
    for (const e of all) e.handle.server.stopListening({ keepSocketFiles: true });
    const volumes = await Promise.all(all.map(async (e) => ({ volumeId: e.volumeId, connections: await e.handle.server.freezeConnections() })));
    return { volumes };
  }

  /** Live update (old card): a frozen connection's raw socket handle, to send beside the reply. */
  connectionHandle(volumeId: string, cid: number): unknown {
    const e = this.exports.get(volumeId);
    if (!e) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume is not attached to this card.', { volumeId });
    return e.handle.server.handOver(cid);
  }

  /**
   * Live update undone (old card): listen on every live path again (taking it back from a
   * successor that may have been promoted onto it) and let the frozen connections that were
   * not handed over read on here. A connection already handed over dies with the successor and
   * its client reconnects — here.
   */
  async thawConnections(): Promise<{ connections: number }> {
    let n = 0;
    for (const e of this.exports.values()) {
      await e.handle.server.listenUnix(this.at(e.socketPath));
      await this.protectSocket(this.at(e.socketPath));
      n += e.handle.server.thawConnections();
    }
    this.o.log.warn('live update undone; serving again', { volumes: this.exports.size, connections: n });
    return { connections: n };
  }

  /** Live update (new card): takes over a connection the old card froze; served after resumeConnections(). */
  adoptConnection(volumeId: string, handle: unknown, state: NbdConnectionState): { volumeId: string } {
    const e = this.exports.get(volumeId);
    if (!e) throw new EbsError('EBS_VOLUME_NOT_FOUND', 'not-found', 'The volume is not attached to this card.', { volumeId });
    e.handle.server.adoptConnection(handle, state);
    return { volumeId };
  }

  /** Live update (new card): serve every adopted connection. */
  resumeConnections(): { connections: number } {
    let n = 0;
    for (const e of this.exports.values()) n += e.handle.server.resumeAdopted();
    return { connections: n };
  }

  /**
   * Live update, last step (old card): stop listening without removing the (now successor's)
   * socket files; close this process's copies of the handed-over sockets (no FIN: the
   * successor serves them); answer what is in flight on any other connection, flush, drop
   * those (QEMU reconnects at once, to the successor), close the files and wipe the keys.
   */
  async release(): Promise<{ volumes: number }> {
    const all = [...this.exports.values()];
    this.exports.clear();
    for (const e of all) e.handle.server.stopListening({ keepSocketFiles: true });
    for (const e of all) e.handle.server.releaseHandedOver();
    await Promise.all(all.map((e) => this.one(e.volumeId, () => e.handle.close())));
    for (const e of all) e.key?.fill(0);
    this.o.log.info('released every export to the successor card', { volumes: all.length });
    return { volumes: all.length };
  }

  /**
   * Live update: drain and close every export (in-flight requests finish, data is flushed)
   * and seal each key to the successor card's public key. This card serves nothing after.
   */
  async handover(successorPublicKey: Buffer): Promise<HandedVolume[]> {
    const all = [...this.exports.values()];
    this.exports.clear();
    const out: HandedVolume[] = [];
    await Promise.all(all.map((e) => this.one(e.volumeId, () => e.handle.close())));
    for (const e of all) {
      out.push({
        volumeId: e.volumeId,
        sizeBytes: e.sizeBytes,
        socketPath: e.socketPath,
        ephemeral: e.ephemeral,
        sealedKey: e.key ? sealTo(successorPublicKey, e.key, Buffer.from(e.volumeId)).toString('base64') : null,
      });
      e.key?.fill(0);
    }
    this.o.log.info('handed over', { volumes: out.length });
    return out;
  }

  /** A point-in-time copy of a volume's stored bytes (ciphertext stays ciphertext); a volume never attached is created empty first. */
  snapshot(volumeId: string, snapshotId: string, sizeBytes: number): Promise<{ snapshotId: string; sizeBytes: number }> {
    return this.one(volumeId, async () => {
      if (!(await this.o.store.list()).some((v) => v.id === volumeId)) await this.o.store.create(volumeId, sizeBytes);
      const info = await this.o.store.snapshot(volumeId, snapshotId);
      return { snapshotId, sizeBytes: info.sizeBytes };
    });
  }

  async deleteSnapshot(snapshotId: string): Promise<{ snapshotId: string; deleted: boolean }> {
    try {
      await this.o.store.deleteSnapshot(snapshotId);
      return { snapshotId, deleted: true };
    } catch (e) {
      if (e instanceof EbsError && e.code === 'EBS_SNAPSHOT_NOT_FOUND') return { snapshotId, deleted: false };
      throw e;
    }
  }

  /**
   * CopySnapshot: a new snapshot with the source's data under another key (or none → a key:
   * the seed's path from unencrypted to encrypted). Keys arrive sealed to this card (aad: the
   * snapshot id each belongs to). Only allocated extents are read; holes stay holes.
   */
  async copySnapshot(p: { sourceSnapshotId: string; snapshotId: string; sourceKey: string | null; key: string | null }): Promise<{ snapshotId: string; copiedBytes: number }> {
    let srcKey: Buffer | null = null;
    let dstKey: Buffer | null = null;
    let srcCipher: XtsCipher | null = null;
    let dstCipher: XtsCipher | null = null;
    const tmp = `vol-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const src = await this.o.store.openSnapshot(p.sourceSnapshotId);
    let copied = 0;
    try {
      if (p.sourceKey) srcKey = openSealed(this.pair, Buffer.from(p.sourceKey, 'base64'), Buffer.from(p.sourceSnapshotId));
      if (p.key) dstKey = openSealed(this.pair, Buffer.from(p.key, 'base64'), Buffer.from(p.snapshotId));
      srcCipher = srcKey ? createXtsCipher(srcKey) : null;
      dstCipher = dstKey ? createXtsCipher(dstKey) : null;
      const size = src.size();
      await this.o.store.create(tmp, size);
      const dst = await this.o.store.open(tmp);
      try {
        copied = await recryptAllocated(src, dst, size, srcCipher, dstCipher);
        await dst.flush();
      } finally {
        await dst.close();
      }
      await this.o.store.snapshot(tmp, p.snapshotId);
      return { snapshotId: p.snapshotId, copiedBytes: copied };
    } finally {
      srcCipher?.destroy();
      dstCipher?.destroy();
      srcKey?.fill(0);
      dstKey?.fill(0);
      await src.close();
      await this.o.store.delete(tmp).catch(() => undefined);
    }
  }

  /** A new volume holding a snapshot's bytes (same data key), grown to sizeBytes. */
  fromSnapshot(volumeId: string, snapshotId: string, sizeBytes: number): Promise<{ volumeId: string }> {
    return this.one(volumeId, async () => {
      await this.o.store.createFromSnapshot(volumeId, snapshotId, sizeBytes);
      return { volumeId };
    });
  }

  /** Removes a volume's backing file (DeleteVolume); refused while attached. */
  delete(volumeId: string): Promise<{ volumeId: string; deleted: boolean }> {
    return this.one(volumeId, async () => {
      if (this.exports.has(volumeId)) throw new EbsError('EBS_VOLUME_IN_USE', 'conflict', 'The volume is attached.', { volumeId });
      try {
        await this.o.store.delete(volumeId);
        return { volumeId, deleted: true };
      } catch (e) {
        if (e instanceof EbsError && e.code === 'EBS_VOLUME_NOT_FOUND') return { volumeId, deleted: false };
        throw e;
      }
    });
  }

  /** Flushes and closes every export (the card is exiting). */
  async close(): Promise<void> {
    const all = [...this.exports.values()];
    this.exports.clear();
    await Promise.allSettled(all.map((e) => e.handle.close()));
    for (const e of all) e.key?.fill(0);
  }
}

function strip(e: Entry): AttachedVolume {
  return { volumeId: e.volumeId, socketPath: e.socketPath, sizeBytes: e.sizeBytes, encrypted: e.encrypted, ephemeral: e.ephemeral };
}


