// sha256 and sha384 of a file in one read, remembered by the identity of the file's content.
// A guest image is verified (sha256, against the region's record) and measured (sha384, into
// PCR 6) at its first start: both digests come from this one pass over the bytes, in the
// hypervisor, and later starts of the same unchanged file read nothing.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';

export interface FileDigests {
  readonly sha256: string;
  readonly sha384: string;
}

const buffer = Buffer.allocUnsafe(1024 * 1024);
let hashing: Promise<unknown> = Promise.resolve();

/** Both digests of a file, read through one reused 1 MiB buffer (one file at a time). */
export function digestFile(path: string): Promise<FileDigests> {
  const run = hashing.then(async () => {
    const h256 = createHash('sha256');
    const h384 = createHash('sha384');
    const fh = await open(path, 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        h256.update(chunk);
        h384.update(chunk);
      }
    } finally {
      await fh.close();
    }
    return { sha256: h256.digest('hex'), sha384: h384.digest('hex') };
  });
  hashing = run.catch(() => undefined);
  return run;
}

/**
 * Files already digested, keyed by path and by the identity of the inode's content: any
 * write changes ctime (which user space cannot set back), so a match means the bytes are
 * the ones that were hashed.
 */
const known = new Map<string, { identity: string; digests: FileDigests }>();

async function fileIdentity(path: string): Promise<string> {
  const st = await stat(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** digestFile, or the digests of the last read when the file has not changed since. */
export async function digestFileOnce(path: string): Promise<FileDigests> {
  const before = await fileIdentity(path);
  const cached = known.get(path);
  if (cached?.identity === before) return cached.digests;
  const digests = await digestFile(path);
  if ((await fileIdentity(path)) === before) known.set(path, { identity: before, digests });
  return digests;
}
