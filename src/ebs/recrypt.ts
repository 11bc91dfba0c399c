// Copies the allocated ranges of one volume or snapshot into another, decrypting under the
// source's XTS key and encrypting under the destination's (either may be null: plaintext).
// Holes stay holes. Used by CopySnapshot and by a snapshot built on a parent.
import type { VolumeHandle } from './volume-store/types.js';
import type { XtsCipher } from './xts/xts.js';

/** Returns the number of bytes copied. */
export async function recryptAllocated(src: VolumeHandle, dst: VolumeHandle, size: number, srcCipher: XtsCipher | null, dstCipher: XtsCipher | null): Promise<number> {
  const buf = Buffer.alloc(1024 * 1024);
  let copied = 0;
  for (const ext of await src.allocation(0, size)) {
    if (ext.hole) continue;
    for (let pos = ext.offset; pos < ext.offset + ext.length; pos += buf.length) {
      const n = Math.min(buf.length, ext.offset + ext.length - pos);
      await src.read(buf, 0, n, pos);
      srcCipher?.decrypt(buf, 0, n, pos);
      dstCipher?.encrypt(buf, 0, n, pos);
      await dst.write(buf, 0, n, pos);
      copied += n;
    }
  }
  return copied;
}
