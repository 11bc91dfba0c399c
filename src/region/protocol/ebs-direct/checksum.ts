// Checksums of the EBS direct APIs (SHA256 only, base64 on the wire) and block tokens.
//
// - A block's checksum is SHA256 over its 512 KiB of data.
// - The LINEAR aggregated checksum CompleteSnapshot takes is SHA256 over the concatenation
//   of the per-block SHA256 digests (raw 32 bytes each, decoded from base64), in ascending
//   block-index order, of the blocks written to the snapshot.
// - A block token names one version of one block: base64 of SHA256 over the snapshot id,
//   the index and that block's checksum. A token stops working when the block changes, and
//   ListChangedBlocks can compare two snapshots' tokens.
import { createHash } from 'node:crypto';

export const EBS_BLOCK_SIZE = 512 * 1024;
export const CHECKSUM_ALGORITHM = 'SHA256';
export const AGGREGATION_LINEAR = 'LINEAR';

export const blockChecksum = (data: Uint8Array): string => createHash('sha256').update(data).digest('base64');

/** LINEAR aggregation over (index, base64 checksum) pairs, in any order. */
export function linearAggregate(blocks: Iterable<readonly [number, string]>): string {
  const sorted = [...blocks].sort((a, b) => a[0] - b[0]);
  const h = createHash('sha256');
  for (const [, c] of sorted) h.update(Buffer.from(c, 'base64'));
  return h.digest('base64');
}

export const blockToken = (snapshotId: string, index: number, checksum: string): string =>
  createHash('sha256').update(`nitride-ebs-block\0${snapshotId}\0${index}\0${checksum}`).digest('base64');

/** A base64 SHA256 digest as the wire carries it (44 characters, one '=' of padding). */
export const isSha256Base64 = (s: string): boolean => /^[A-Za-z0-9+/]{43}=$/.test(s);
