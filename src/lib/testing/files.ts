// Test helpers for "this secret is in no file": every regular file under a directory, and a
// chunked search for byte needles in one file. Shared by the tests that search a home, an
// instance directory or a host for keys, so none of them skips a subdirectory.
import { closeSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** Every regular file under dir, recursively (symlinks are not followed; entries removed meanwhile are skipped). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** The first needle found in the file, read in 8 MiB chunks that overlap by more than a needle. */
export function findInFile(file: string, needles: readonly Buffer[]): Buffer | undefined {
  const longest = Math.max(1, ...needles.map((n) => n.length));
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(Math.max(8 * 1024 * 1024, longest * 4));
    let pos = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) return undefined;
      const view = chunk.subarray(0, n);
      for (const x of needles) if (view.indexOf(x) !== -1) return x;
      if (n < chunk.length) return undefined;
      pos += n - (longest - 1);
    }
  } finally {
    closeSync(fd);
  }
}

/** The files under dir that hold any of the needles. */
export function filesHolding(dir: string, needles: readonly Buffer[]): string[] {
  return filesUnder(dir).filter((f) => findInFile(f, needles) !== undefined);
}
