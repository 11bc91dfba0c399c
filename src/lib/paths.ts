// Where Nitride keeps things. NITRIDE_HOME holds one installation's state (default
// ~/.nitride); the image cache is shared by every NITRIDE_HOME on the machine so that
// test runs with temporary homes build the guest image once.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function nitrideHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['NITRIDE_HOME'] ?? join(homedir(), '.nitride'));
}

export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['NITRIDE_IMAGE_CACHE']) return resolve(env['NITRIDE_IMAGE_CACHE']);
  const base = env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return resolve(base, 'nitride', 'images');
}

/** The repository root (the directory holding package.json), from dist/src/lib/paths.js or src/lib/paths.ts. */
export function projectRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/lib -> root, src/lib -> root
  return here.includes(`${'/'}dist${'/'}`) ? resolve(here, '..', '..', '..') : resolve(here, '..', '..');
}

/** Path of a compiled entry point, e.g. distEntry('hypervisor/main.js'). */
export function distEntry(rel: string): string {
  return join(projectRoot(), 'dist', 'src', rel);
}

export function apiPort(env: NodeJS.ProcessEnv = process.env): number {
  const v = env['NITRIDE_API_PORT'];
  return v === undefined || v === '' ? 8773 : Number(v);
}
