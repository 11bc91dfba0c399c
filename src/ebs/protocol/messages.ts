// The EBS card's contract: the typed messages between the controller and the card over the
// IPC channel the controller creates when it forks it (src/lib/channel envelope), each
// operation's result, and the parser that checks what arrives. Pure.
//
//   card.info                                  → {publicKey (base64 raw X25519), pid, volumes, volumeIds}
//   volume.attach {volumeId, sizeBytes, sealedKey?, ephemeral?, socketPath?, stage?} → AttachedVolume
//   volume.detach {volumeId}                   → {volumeId, detached}
//   volume.delete {volumeId}                   → {volumeId, deleted}
//   volume.list                                → AttachedVolume[]
//   snapshot.create {volumeId, snapshotId, sizeBytes}, snapshot.delete {snapshotId},
//   snapshot.copy {sourceSnapshotId, snapshotId, sourceKey, key}, volume.from-snapshot {volumeId, snapshotId, sizeBytes}
//   EBS direct APIs (src/ebs/card/snapshot-builder.ts): a snapshot built and read block by block
//   snapshot.begin {snapshotId, sizeBytes, key, parentSnapshotId?, parentKey?, resume?} → {snapshotId, resumed}
//   snapshot.put-block {snapshotId, blockIndex, data (base64, 512 KiB), checksum} → {snapshotId, blockIndex}
//   snapshot.seal {snapshotId} → {snapshotId, sizeBytes};  snapshot.abort {snapshotId} → {snapshotId, aborted}
//   snapshot.get-block {snapshotId, blockIndex, key} → {data};  snapshot.list-blocks {snapshotId, key} → {blocks}
//   event { v: 1, event: 'card.ready', pid } once it serves
//
// Live update, in the hand-over vocabulary every card shares (handover.freeze / thaw / handle /
// resume; the VPC card's is in src/vpc/protocol/messages.ts):
//   handover.seal-keys {publicKey} (old) → volume.attach {…, stage: true} (new) →
//   handover.freeze (old: unlisten, freeze every connection at a request boundary) →
//   handover.promote {volumeId} (new) → per connection handover.handle {volumeId, cid} (old; the
//   socket comes beside the reply) → handover.connection {volumeId, state} (new; the socket beside
//   the request) → handover.resume (new) → handover.release (old); handover.thaw (old) undoes
//   handover.freeze. handover.unlisten (old) stops accepting without freezing; handover.keys
//   {publicKey} seals and lists every volume in one step.
import { isObject, type Operation } from '../../lib/channel/envelope.js';
import { EbsError } from '../errors.js';
import type { AttachParams, AttachedVolume, HandedVolume } from '../card/card.js';
import type { BeginParams } from '../card/snapshot-builder.js';
import type { FrozenNbdConnection } from '../nbd-server.js';

/** volume.attach: where the card opens the export and with which key (src/ebs/card/card.ts AttachParams). */
export type VolumeAttachParams = AttachParams;

type VolumeRef = { readonly volumeId: string };
type SnapshotRef = { readonly snapshotId: string };

/** snapshot.begin: the snapshot's key sealed to the card (aad: the snapshot id), its parent, a resume (src/ebs/card/snapshot-builder.ts BeginParams). */
export type SnapshotBeginParams = BeginParams;
type None = Record<string, never>;

export interface EbsContract {
  readonly 'card.info': Operation<None, { readonly publicKey: string; readonly pid: number; readonly volumes: number; readonly volumeIds: string[] }>;
  readonly 'volume.list': Operation<None, AttachedVolume[]>;
  readonly 'volume.attach': Operation<VolumeAttachParams, AttachedVolume>;
  readonly 'volume.detach': Operation<VolumeRef, { readonly volumeId: string; readonly detached: boolean }>;
  readonly 'volume.delete': Operation<VolumeRef, { readonly volumeId: string; readonly deleted: boolean }>;
  readonly 'snapshot.create': Operation<{ readonly volumeId: string; readonly snapshotId: string; readonly sizeBytes: number }, { readonly snapshotId: string; readonly sizeBytes: number }>;
  readonly 'snapshot.delete': Operation<{ readonly snapshotId: string }, { readonly snapshotId: string; readonly deleted: boolean }>;
  readonly 'snapshot.copy': Operation<{ readonly sourceSnapshotId: string; readonly snapshotId: string; readonly sourceKey: string | null; readonly key: string | null }, { readonly snapshotId: string; readonly copiedBytes: number }>;
  readonly 'volume.from-snapshot': Operation<{ readonly volumeId: string; readonly snapshotId: string; readonly sizeBytes: number }, VolumeRef>;
  readonly 'snapshot.begin': Operation<SnapshotBeginParams, { readonly snapshotId: string; readonly resumed: boolean }>;
  readonly 'snapshot.put-block': Operation<{ readonly snapshotId: string; readonly blockIndex: number; readonly data: string; readonly checksum: string }, { readonly snapshotId: string; readonly blockIndex: number }>;
  readonly 'snapshot.seal': Operation<SnapshotRef, { readonly snapshotId: string; readonly sizeBytes: number }>;
  readonly 'snapshot.abort': Operation<SnapshotRef, { readonly snapshotId: string; readonly aborted: boolean }>;
  readonly 'snapshot.get-block': Operation<{ readonly snapshotId: string; readonly blockIndex: number; readonly key: string | null }, { readonly data: string }>;
  readonly 'snapshot.list-blocks': Operation<{ readonly snapshotId: string; readonly key: string | null }, { readonly blocks: { readonly index: number; readonly checksum: string }[] }>;
  readonly 'handover.seal-keys': Operation<{ readonly publicKey: string }, HandedVolume[]>;
  readonly 'handover.keys': Operation<{ readonly publicKey: string }, HandedVolume[]>;
  readonly 'handover.unlisten': Operation<None, { readonly volumes: number }>;
  readonly 'handover.freeze': Operation<None, { readonly volumes: { readonly volumeId: string; readonly connections: FrozenNbdConnection[] }[] }>;
  readonly 'handover.thaw': Operation<None, { readonly connections: number }>;
  /** The connection's socket comes beside the reply. */
  readonly 'handover.handle': Operation<{ readonly volumeId: string; readonly cid: number }, { readonly volumeId: string; readonly cid: number }>;
  /** The connection's socket comes beside the request; `state` is checked by the NBD server (isNbdConnectionState). */
  readonly 'handover.connection': Operation<{ readonly volumeId: string; readonly state: unknown }, VolumeRef>;
  readonly 'handover.promote': Operation<VolumeRef, VolumeRef>;
  readonly 'handover.resume': Operation<None, { readonly connections: number }>;
  readonly 'handover.release': Operation<None, { readonly volumes: number }>;
}

export type EbsOp = keyof EbsContract;
export type EbsRequest = { [O in EbsOp]: { readonly op: O; readonly params: EbsContract[O]['params'] } }[EbsOp];

function bad(message: string): EbsError {
  return new EbsError('EBS_BAD_REQUEST', 'invalid', message);
}

function volumeIdOf(p: Record<string, unknown>): string {
  if (typeof p['volumeId'] !== 'string') throw bad('volumeId must be a string.');
  return p['volumeId'];
}

function publicKeyOf(p: Record<string, unknown>): string {
  if (typeof p['publicKey'] !== 'string') throw bad('publicKey must be base64.');
  return p['publicKey'];
}

/** Checks one message from the controller and returns the typed request. */
export function parseEbsRequest(raw: unknown): EbsRequest {
  const m = isObject(raw) ? raw : {};
  const p = m['params'] ?? {};
  if (!isObject(p)) throw bad('params must be an object.');
  const op = m['op'];
  switch (op) {
    case 'card.info':
    case 'volume.list':
    case 'handover.unlisten':
    case 'handover.freeze':
    case 'handover.thaw':
    case 'handover.resume':
    case 'handover.release':
      return { op, params: {} };
    case 'volume.attach': {
      const sealedKey = p['sealedKey'];
      if (sealedKey !== undefined && sealedKey !== null && typeof sealedKey !== 'string') throw bad('sealedKey must be base64.');
      return {
        op,
        params: {
          volumeId: volumeIdOf(p),
          sizeBytes: Number(p['sizeBytes']),
          sealedKey: sealedKey ?? null,
          ephemeral: p['ephemeral'] === true,
          ...(typeof p['socketPath'] === 'string' ? { socketPath: p['socketPath'] } : {}),
          ...(p['stage'] === true ? { stage: true } : {}),
        },
      };
    }
    case 'volume.detach':
    case 'volume.delete':
    case 'handover.promote':
      return { op, params: { volumeId: volumeIdOf(p) } };
    case 'handover.seal-keys':
    case 'handover.keys':
      return { op, params: { publicKey: publicKeyOf(p) } };
    case 'handover.handle': {
      const cid = p['cid'];
      if (typeof cid !== 'number') throw bad('cid must be a number.');
      return { op, params: { volumeId: volumeIdOf(p), cid } };
    }
    case 'handover.connection':
      return { op, params: { volumeId: volumeIdOf(p), state: p['state'] } };
    case 'snapshot.create':
      return { op, params: { volumeId: volumeIdOf(p), snapshotId: String(p['snapshotId']), sizeBytes: Number(p['sizeBytes']) } };
    case 'snapshot.delete':
      return { op, params: { snapshotId: String(p['snapshotId']) } };
    case 'snapshot.copy': {
      const sk = (k: string): string | null => (typeof p[k] === 'string' ? (p[k] as string) : null);
      return { op, params: { sourceSnapshotId: String(p['sourceSnapshotId']), snapshotId: String(p['snapshotId']), sourceKey: sk('sourceKey'), key: sk('key') } };
    }
    case 'volume.from-snapshot':
      return { op, params: { volumeId: volumeIdOf(p), snapshotId: String(p['snapshotId']), sizeBytes: Number(p['sizeBytes']) } };
    // EBS direct APIs: the builder checks ids, sizes, indexes and checksums itself
    case 'snapshot.begin': {
      const sealed = (k: string): string | null | undefined => (typeof p[k] === 'string' ? (p[k] as string) : p[k] === null ? null : undefined);
      return {
        op,
        params: {
          snapshotId: String(p['snapshotId']),
          sizeBytes: Number(p['sizeBytes']),
          key: sealed('key') ?? null,
          parentSnapshotId: typeof p['parentSnapshotId'] === 'string' ? p['parentSnapshotId'] : undefined,
          parentKey: sealed('parentKey'),
          resume: p['resume'] === true,
        },
      };
    }
    case 'snapshot.put-block':
      return { op, params: { snapshotId: String(p['snapshotId']), blockIndex: Number(p['blockIndex']), data: String(p['data']), checksum: String(p['checksum']) } };
    case 'snapshot.seal':
    case 'snapshot.abort':
      return { op, params: { snapshotId: String(p['snapshotId']) } };
    case 'snapshot.get-block':
      return { op, params: { snapshotId: String(p['snapshotId']), blockIndex: Number(p['blockIndex']), key: typeof p['key'] === 'string' ? p['key'] : null } };
    case 'snapshot.list-blocks':
      return { op, params: { snapshotId: String(p['snapshotId']), key: typeof p['key'] === 'string' ? p['key'] : null } };
    default:
      throw bad(`Unknown operation '${String(op).slice(0, 64)}'.`);
  }
}
