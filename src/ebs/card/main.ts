// The EBS card's entry point. The controller forks it with an IPC channel —
//   fork(dist/src/ebs/card/main.js, ['--root', HOST/ebs, '--socket-dir', HOST/ebs/sockets])
// — and that channel is the only way in. Its contract and parser are
// src/ebs/protocol/messages.ts; requests are served through src/lib/channel.
// When the channel closes the card flushes and closes every export and exits; QEMU's NBD
// client keeps the guest's I/O waiting (reconnect-delay) until the next card serves the
// same socket path.
import { serveChannel, withHandle } from '../../lib/channel/server.js';
import { createLogger } from '../../lib/log.js';
import { qemuUserIds } from '../../lib/qemu-user.js';
import { holdsCapability } from '../../lib/privileges.js';
import { FileVolumeStore } from '../volume-store/file-store.js';
import { EbsCard } from './card.js';
import { EbsError } from '../errors.js';
import { isNbdConnectionState } from '../nbd-server.js';
import { parseEbsRequest, type EbsRequest } from '../protocol/messages.js';
import { SnapshotBuilder } from './snapshot-builder.js';

const log = createLogger('ebs-card');

function arg(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function closeHandle(h: unknown): void {
  (h as { close?: () => void } | undefined)?.close?.();
}

async function handle(card: EbsCard, builder: SnapshotBuilder, req: EbsRequest, received: unknown): Promise<unknown> {
  switch (req.op) {
    case 'card.info':
      return card.info();
    case 'volume.list':
      return card.list();
    case 'volume.attach':
      return card.attach(req.params);
    case 'volume.detach':
      return card.detach(req.params.volumeId);
    case 'volume.delete':
      return card.delete(req.params.volumeId);
    case 'snapshot.create':
      return card.snapshot(req.params.volumeId, req.params.snapshotId, req.params.sizeBytes);
    case 'snapshot.copy':
      return card.copySnapshot(req.params);
    case 'snapshot.delete':
      return card.deleteSnapshot(req.params.snapshotId);
    case 'volume.from-snapshot':
      return card.fromSnapshot(req.params.volumeId, req.params.snapshotId, req.params.sizeBytes);
    // EBS direct APIs (src/ebs/card/snapshot-builder.ts)
    case 'snapshot.begin':
      return builder.begin(req.params);
    case 'snapshot.put-block':
      return builder.putBlock(req.params);
    case 'snapshot.seal':
      return builder.seal(req.params.snapshotId);
    case 'snapshot.abort':
      return builder.abort(req.params.snapshotId);
    case 'snapshot.get-block':
      return builder.getBlock(req.params);
    case 'snapshot.list-blocks':
      return builder.listBlocks(req.params);
    case 'handover.seal-keys':
      return card.sealKeys(Buffer.from(req.params.publicKey, 'base64'));
    case 'handover.keys':
      return card.handover(Buffer.from(req.params.publicKey, 'base64'));
    case 'handover.unlisten':
      return card.unlisten();
    case 'handover.freeze':
      return card.freezeConnections();
    case 'handover.thaw':
      return card.thawConnections();
    case 'handover.handle':
      return withHandle({ volumeId: req.params.volumeId, cid: req.params.cid }, card.connectionHandle(req.params.volumeId, req.params.cid));
    case 'handover.connection': {
      if (received === undefined || received === null) throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'handover.connection needs the socket handle beside the request.');
      const state = req.params.state;
      if (!isNbdConnectionState(state)) {
        closeHandle(received);
        throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'state must be an NBD connection state.');
      }
      try {
        return card.adoptConnection(req.params.volumeId, received, state);
      } catch (e) {
        closeHandle(received);
        throw e;
      }
    }
    case 'handover.promote':
      return card.promote(req.params.volumeId);
    case 'handover.resume':
      return card.resumeConnections();
    case 'handover.release':
      return card.release();
  }
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
  // QEMU's user gets the sockets when this card may give files away (root, or its own user with CAP_CHOWN).
  const owner = holdsCapability('chown') ? qemuUserIds() : undefined;
  // Relative paths stay relative (to the working directory the parent gave): see EbsCard.at.
  const store = new FileVolumeStore(root);
  const card = new EbsCard({ store, socketDir, owner, log });
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
  const channel = serveChannel(process, { parse: parseEbsRequest, before: () => ready, handle: (req, received) => handle(card, builder, req, received), log });
  await ready;
  log.info('EBS card ready', { pid: process.pid, root, socketDir });
  channel.emit('card.ready', { pid: process.pid });
}

void main();
