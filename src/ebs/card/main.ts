// The EBS card's entry point. The controller forks it with an IPC channel —
//   fork(dist/src/ebs/card/main.js, ['--root', HOST/ebs, '--socket-dir', HOST/ebs/sockets])
// — and that channel is the only way in. Requests {v, id, op, params} → replies
// {v, id, ok, result|error}; events {v, event, …}. Operations:
//   card.info                                  → {publicKey (base64 raw X25519), pid, volumes}
//   volume.attach {volumeId, sizeBytes, sealedKey?, ephemeral?, socketPath?} → {volumeId, socketPath, …}
//   volume.detach {volumeId}                   → {volumeId, detached}
//   volume.delete {volumeId}                   → {volumeId, deleted}
//   volume.list                                → [{volumeId, socketPath, …}]
//   snapshot.create {volumeId, snapshotId, sizeBytes}, snapshot.delete {snapshotId},
//   volume.from-snapshot {volumeId, snapshotId, sizeBytes}
//   EBS direct APIs: snapshot.begin / snapshot.put-block / snapshot.seal / snapshot.abort /
//   snapshot.get-block / snapshot.list-blocks (src/ebs/card/snapshot-builder.ts)
//   live update: card.seal-keys {publicKey} (old) → volume.attach {…, stage: true} and
//   card.unlisten (old) → volume.promote {volumeId} (new) → card.release (old)
//   with the live connections: card.seal-keys (old) → volume.attach {…, stage: true} (new) →
//   card.freeze (old: unlisten, freeze every connection at a request boundary) → volume.promote
//   (new) → per connection card.connection-handle {volumeId, cid} (old; the socket handle comes
//   beside the reply) → volume.adopt-connection {volumeId, state} (new; the handle beside the
//   request) → card.resume (new) → card.release (old); card.thaw (old) undoes card.freeze
//   card.handover {publicKey}                  → [{volumeId, socketPath, sealedKey (to publicKey)}] (live update)
// When the channel closes the card flushes and closes every export and exits; QEMU's NBD
// client keeps the guest's I/O waiting (reconnect-delay) until the next card serves the
// same socket path.
import { resolve } from 'node:path';
import { describeError, isNitrideError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { qemuUserIds } from '../../setup/qemu-user.js';
import { FileVolumeStore } from '../volume-store/file-store.js';
import { EbsCard } from './card.js';
import { EbsError } from '../errors.js';
import { isNbdConnectionState } from '../nbd-server.js';
import { SnapshotBuilder } from './snapshot-builder.js';

const log = createLogger('ebs-card');

function arg(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** A reply that carries a socket handle beside its result (live update). */
class WithHandle {
  constructor(
    readonly result: unknown,
    readonly handle: unknown,
  ) {}
}

function send(msg: unknown, handle?: unknown): void {
  if (!process.connected || !process.send) return;
  try {
    // a raw libuv handle travels as Node's 'net.Native'
    if (handle !== undefined) process.send(msg, handle as never);
    else process.send(msg);
  } catch (e) {
    log.warn('could not send on the IPC channel', { error: describeError(e) });
  }
}

function toWire(e: unknown): { code: string; kind: string; message: string; context?: Record<string, unknown> } {
  if (isNitrideError(e)) return { code: e.code, kind: e.kind, message: e.message, context: e.context };
  return { code: 'InternalError', kind: 'internal', message: describeError(e) };
}

function obj(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'params must be an object.');
  return v as Record<string, unknown>;
}

function volumeIdOf(p: Record<string, unknown>): string {
  if (typeof p['volumeId'] !== 'string') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'volumeId must be a string.');
  return p['volumeId'];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const root = arg(argv, '--root');
  const socketDir = arg(argv, '--socket-dir');
  if (!root || !socketDir) {
    process.stderr.write('usage: ebs/card/main.js --root DIR --socket-dir DIR (forked with an IPC channel)\n');
    process.exit(2);
  }
  if (!process.send) {
    process.stderr.write('the EBS card takes orders only over the IPC channel of the process that forks it\n');
    process.exit(2);
  }
  const owner = process.getuid?.() === 0 ? qemuUserIds() : undefined;
  const store = new FileVolumeStore(resolve(root));
  const card = new EbsCard({ store, socketDir: resolve(socketDir), owner, log });
  const ready = card.init();
  const builder = new SnapshotBuilder(store, (sealed, aad) => card.openSealedKey(sealed, aad)); // EBS direct APIs

  let exiting = false;
  const exit = async (why: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    log.info('exiting; closing every export', { why });
    await card.close();
    await builder.close();
    process.exit(0);
  };
  process.on('disconnect', () => void exit('IPC channel closed'));
  process.on('SIGTERM', () => void exit('SIGTERM'));
  process.on('message', (raw: unknown, received: unknown) => {
    void (async () => {
      const m = raw as { id?: unknown; op?: unknown; params?: unknown };
      const id = typeof m?.id === 'number' ? m.id : -1;
      try {
        await ready;
        const p = obj(m.params ?? {});
        let result: unknown;
        switch (m.op) {
          case 'card.info':
            result = card.info();
            break;
          case 'volume.list':
            result = card.list();
            break;
          case 'volume.attach': {
            const sealedKey = p['sealedKey'];
            if (sealedKey !== undefined && sealedKey !== null && typeof sealedKey !== 'string') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'sealedKey must be base64.');
            result = await card.attach({
              volumeId: volumeIdOf(p),
              sizeBytes: Number(p['sizeBytes']),
              sealedKey: (sealedKey as string | null | undefined) ?? null,
              ephemeral: p['ephemeral'] === true,
              ...(typeof p['socketPath'] === 'string' ? { socketPath: p['socketPath'] } : {}),
              ...(p['stage'] === true ? { stage: true } : {}),
            });
            break;
          }
          case 'volume.detach':
            result = await card.detach(volumeIdOf(p));
            break;
          case 'card.seal-keys': {
            const pk = p['publicKey'];
            if (typeof pk !== 'string') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'publicKey must be base64.');
            result = card.sealKeys(Buffer.from(pk, 'base64'));
            break;
          }
          case 'card.unlisten':
            result = card.unlisten();
            break;
          case 'card.freeze':
            result = await card.freezeConnections();
            break;
          case 'card.connection-handle': {
            const cid = p['cid'];
            if (typeof cid !== 'number') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'cid must be a number.');
            result = new WithHandle({ volumeId: volumeIdOf(p), cid }, card.connectionHandle(volumeIdOf(p), cid));
            break;
          }
          case 'card.thaw':
            result = await card.thawConnections();
            break;
          case 'volume.adopt-connection': {
            if (received === undefined || received === null) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'volume.adopt-connection needs the socket handle beside the request.');
            if (!isNbdConnectionState(p['state'])) {
              (received as { close?: () => void }).close?.();
              throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'state must be an NBD connection state.');
            }
            try {
              result = card.adoptConnection(volumeIdOf(p), received, p['state']);
            } catch (e) {
              (received as { close?: () => void }).close?.();
              throw e;
            }
            break;
          }
          case 'card.resume':
            result = card.resumeConnections();
            break;
          case 'volume.promote':
            result = await card.promote(volumeIdOf(p));
            break;
          case 'card.release':
            result = await card.release();
            break;
          case 'card.handover': {
            const pk = p['publicKey'];
            if (typeof pk !== 'string') throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'publicKey must be base64.');
            result = await card.handover(Buffer.from(pk, 'base64'));
            break;
          }
          case 'snapshot.create':
            result = await card.snapshot(volumeIdOf(p), String(p['snapshotId']), Number(p['sizeBytes']));
            break;
          case 'snapshot.copy': {
            const sk = (k: string): string | null => (typeof p[k] === 'string' ? (p[k] as string) : null);
            result = await card.copySnapshot({ sourceSnapshotId: String(p['sourceSnapshotId']), snapshotId: String(p['snapshotId']), sourceKey: sk('sourceKey'), key: sk('key') });
            break;
          }
          case 'snapshot.delete':
            result = await card.deleteSnapshot(String(p['snapshotId']));
            break;
          case 'volume.from-snapshot':
            result = await card.fromSnapshot(volumeIdOf(p), String(p['snapshotId']), Number(p['sizeBytes']));
            break;
          case 'volume.delete':
            result = await card.delete(volumeIdOf(p));
            break;
          // EBS direct APIs (src/ebs/card/snapshot-builder.ts)
          case 'snapshot.begin': {
            const sealed = (k: string): string | null | undefined => (typeof p[k] === 'string' ? (p[k] as string) : p[k] === null ? null : undefined);
            result = await builder.begin({
              snapshotId: String(p['snapshotId']),
              sizeBytes: Number(p['sizeBytes']),
              key: sealed('key') ?? null,
              parentSnapshotId: typeof p['parentSnapshotId'] === 'string' ? p['parentSnapshotId'] : undefined,
              parentKey: sealed('parentKey'),
              resume: p['resume'] === true,
            });
            break;
          }
          case 'snapshot.put-block':
            result = await builder.putBlock({ snapshotId: String(p['snapshotId']), blockIndex: Number(p['blockIndex']), data: String(p['data']), checksum: String(p['checksum']) });
            break;
          case 'snapshot.seal':
            result = await builder.seal(String(p['snapshotId']));
            break;
          case 'snapshot.abort':
            result = await builder.abort(String(p['snapshotId']));
            break;
          case 'snapshot.list-blocks':
            result = await builder.listBlocks({ snapshotId: String(p['snapshotId']), key: typeof p['key'] === 'string' ? p['key'] : null });
            break;
          case 'snapshot.get-block':
            result = await builder.getBlock({ snapshotId: String(p['snapshotId']), blockIndex: Number(p['blockIndex']), key: typeof p['key'] === 'string' ? p['key'] : null });
            break;
          default:
            throw new EbsError('EBS_BAD_REQUEST', 'invalid', `Unknown operation '${String(m.op).slice(0, 64)}'.`);
        }
        if (result instanceof WithHandle) send({ v: 1, id, ok: true, result: result.result ?? null }, result.handle);
        else send({ v: 1, id, ok: true, result: result ?? null });
      } catch (e) {
        send({ v: 1, id, ok: false, error: toWire(e) });
      }
    })();
  });
  await ready;
  log.info('EBS card ready', { pid: process.pid, root, socketDir });
  send({ v: 1, event: 'card.ready', pid: process.pid });
}

void main();
