// Building a native addon under native/<name> with the node-gyp bundled beside this Node,
// against Node's own headers (including its OpenSSL headers) when they are installed beside
// the node binary, so no download is needed. Idempotent: an addon newer than every source
// file in its directory is kept; one older than a source (a checkout brought new native
// code) is rebuilt.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** node-gyp as bundled with npm next to this Node, or undefined. */
function nodeGypScript(): string | undefined {
  const prefix = dirname(dirname(process.execPath));
  return [join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')].find(existsSync);
}

/** Whether the built addon at `out` is at least as new as every source in `dir`. */
export function addonFresh(dir: string, out: string): boolean {
  if (!existsSync(out)) return false;
  const built = statSync(out).mtimeMs;
  return readdirSync(dir)
    .filter((f) => /\.(c|cc|cpp|h|gyp)$/.test(f))
    .every((f) => statSync(join(dir, f)).mtimeMs <= built);
}

export type AddonBuildFailure = { readonly reason: 'no-node-gyp'; readonly execPath: string } | { readonly reason: 'compile'; readonly status: number | null; readonly output: string };

/**
 * Builds the addon in `dir` whose result is `out` unless it is fresh (or always with
 * `force`). Returns undefined when `out` is ready, or why it is not (the caller turns that
 * into its component's error).
 */
export function buildAddon(dir: string, out: string, opts: { force?: boolean; log?: (line: string) => void } = {}): AddonBuildFailure | undefined {
  if (!opts.force && addonFresh(dir, out)) return undefined;
  const gyp = nodeGypScript();
  if (!gyp) return { reason: 'no-node-gyp', execPath: process.execPath };
  const prefix = dirname(dirname(process.execPath));
  const args = [gyp, 'rebuild'];
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  opts.log?.(`building ${dir}: node ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(out)) return { reason: 'compile', status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-4000) };
  return undefined;
}
