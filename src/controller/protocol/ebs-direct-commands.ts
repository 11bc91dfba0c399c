// The EBS direct APIs' card commands, as the controller receives them from the region and
// relays them to the EBS card (src/ebs/card/snapshot-builder.ts). Pure.
import { BASE64, bad, onlyKeys, optBool, optInt, sealedOrNull, SNAPSHOT_ID, str } from './fields.js';

/**
 * The EBS direct APIs' card commands (src/ebs/card/snapshot-builder.ts): a snapshot built block
 * by block on the card. Keys are sealed to the card (aad: the snapshot id); `data` is one
 * 512 KiB block in base64 (never written to the audit log: see redact()).
 */
export type EbsDirectCommandBody =
  | {
      readonly type: 'snapshot.begin';
      readonly params: { readonly snapshotId: string; readonly sizeBytes: number; readonly key: string | null; readonly parentSnapshotId?: string; readonly parentKey?: string | null; readonly resume?: boolean };
    }
  | { readonly type: 'snapshot.put-block'; readonly params: { readonly snapshotId: string; readonly blockIndex: number; readonly data: string; readonly checksum: string } }
  | { readonly type: 'snapshot.seal'; readonly params: { readonly snapshotId: string } }
  | { readonly type: 'snapshot.abort'; readonly params: { readonly snapshotId: string } }
  | { readonly type: 'snapshot.get-block'; readonly params: { readonly snapshotId: string; readonly blockIndex: number; readonly key: string | null } }
  | { readonly type: 'snapshot.list-blocks'; readonly params: { readonly snapshotId: string; readonly key: string | null } };

export const EBS_DIRECT_COMMAND_TYPES = ['snapshot.begin', 'snapshot.put-block', 'snapshot.seal', 'snapshot.abort', 'snapshot.get-block', 'snapshot.list-blocks'] as const;
const EBS_DIRECT_BLOCK_BYTES = 512 * 1024;

/** One valid params object per EBS direct command type (tests and docs). */
export const EBS_DIRECT_COMMAND_EXAMPLES: Readonly<Record<(typeof EBS_DIRECT_COMMAND_TYPES)[number], Record<string, unknown>>> = {
  'snapshot.begin': { snapshotId: 'snap-01234567', sizeBytes: 2 ** 30, key: null },
  'snapshot.put-block': { snapshotId: 'snap-01234567', blockIndex: 0, data: Buffer.alloc(EBS_DIRECT_BLOCK_BYTES).toString('base64'), checksum: `${'A'.repeat(43)}=` },
  'snapshot.seal': { snapshotId: 'snap-01234567' },
  'snapshot.abort': { snapshotId: 'snap-01234567' },
  'snapshot.get-block': { snapshotId: 'snap-01234567', blockIndex: 0, key: null },
  'snapshot.list-blocks': { snapshotId: 'snap-01234567', key: null },
};

export function isEbsDirectCommandType(t: string): t is EbsDirectCommandBody['type'] {
  return (EBS_DIRECT_COMMAND_TYPES as readonly string[]).includes(t);
}

/** The params of one EBS direct command, checked; `t` is one of EBS_DIRECT_COMMAND_TYPES. */
export function parseEbsDirectCommand(t: EbsDirectCommandBody['type'], params: Record<string, unknown>): EbsDirectCommandBody {
  const w = 'params';
  switch (t) {
  case 'snapshot.begin': {
    onlyKeys(params, ['snapshotId', 'sizeBytes', 'key', 'parentSnapshotId', 'parentKey', 'resume'], w);
    const sizeBytes = optInt(params, 'sizeBytes', w, EBS_DIRECT_BLOCK_BYTES, 65536 * 2 ** 30);
    if (sizeBytes === undefined || sizeBytes % EBS_DIRECT_BLOCK_BYTES !== 0) throw bad('InvalidParameter', 'params.sizeBytes must be a multiple of 512 KiB.', { field: 'sizeBytes' });
    const resume = optBool(params, 'resume', w);
    const parent = params['parentSnapshotId'] === undefined ? undefined : str(params, 'parentSnapshotId', w, SNAPSHOT_ID);
    return {
      type: t,
      params: {
        snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID),
        sizeBytes,
        key: sealedOrNull(params, 'key'),
        ...(parent !== undefined ? { parentSnapshotId: parent, parentKey: params['parentKey'] === undefined ? null : sealedOrNull(params, 'parentKey') } : {}),
        ...(resume !== undefined ? { resume } : {}),
      },
    };
  }
  case 'snapshot.put-block': {
    onlyKeys(params, ['snapshotId', 'blockIndex', 'data', 'checksum'], w);
    const blockIndex = optInt(params, 'blockIndex', w, 0, 2 ** 31 - 1);
    if (blockIndex === undefined) throw bad('InvalidParameter', 'params.blockIndex is required.', { field: 'blockIndex' });
    const data = params['data'];
    if (typeof data !== 'string' || data.length !== Math.ceil(EBS_DIRECT_BLOCK_BYTES / 3) * 4) {
      throw bad('InvalidParameter', 'params.data must be one 512 KiB block in base64.', { field: 'data' });
    }
    if (!BASE64.test(data)) throw bad('InvalidParameter', 'params.data must be base64.', { field: 'data' });
    return { type: t, params: { snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID), blockIndex, data, checksum: str(params, 'checksum', w, /^[A-Za-z0-9+/]{43}=$/) } };
  }
  case 'snapshot.seal':
  case 'snapshot.abort':
    onlyKeys(params, ['snapshotId'], w);
    return { type: t, params: { snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID) } };
  case 'snapshot.get-block': {
    onlyKeys(params, ['snapshotId', 'blockIndex', 'key'], w);
    const blockIndex = optInt(params, 'blockIndex', w, 0, 2 ** 31 - 1);
    if (blockIndex === undefined) throw bad('InvalidParameter', 'params.blockIndex is required.', { field: 'blockIndex' });
    const k = sealedOrNull(params, 'key');
    return { type: t, params: { snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID), blockIndex, key: k } };
  }
  case 'snapshot.list-blocks': {
    onlyKeys(params, ['snapshotId', 'key'], w);
    const k = sealedOrNull(params, 'key');
    return { type: t, params: { snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID), key: k } };
  }
  }
}
