// What a component's bundle holds by default, for `nitride release build` without --from:
// the compiled tree dist/src (without tests and test fixtures), package.json, the native
// XTS addon when it is built, and the closure of package.json's runtime dependencies in
// node_modules. Every component gets the same tree for now (they share src/lib); a
// per-component subset is a later refinement (docs/SECURITY-CHIP.md).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const NATIVE_ADDON = 'native/xts/build/Release/nitride_xts.node';

/** node_modules directories (relative to root) of the runtime dependency closure. */
export function runtimeDependencyDirs(root: string): string[] {
  const seen = new Set<string>();
  const resolveDep = (name: string, from: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dir)) {
      const p = join(dir, 'node_modules', name);
      if (existsSync(join(p, 'package.json'))) return p;
      if (dirname(dir) === dir || !dir.startsWith(root)) return undefined;
    }
  };
  const visit = (dir: string): void => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      const p = resolveDep(d, dir);
      if (p !== undefined) visit(p);
    }
  };
  const top = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const d of Object.keys(top.dependencies ?? {})) {
    const p = resolveDep(d, root);
    if (p !== undefined) visit(p);
  }
  const rels = [...seen].map((p) => relative(root, p)).sort();
  // A package nested inside another already listed is copied with it.
  return rels.filter((r) => !rels.some((o) => o !== r && r.startsWith(`${o}/`)));
}

export function defaultBundleSources(root: string): string[] {
  return ['dist/src', 'package.json', ...(existsSync(join(root, NATIVE_ADDON)) ? [NATIVE_ADDON] : []), ...runtimeDependencyDirs(root)];
}

/** Test files and fixtures are left out of default bundles. */
export function isTestFile(rel: string): boolean {
  return rel.startsWith('dist/src/') && (/\.test(-helper)?\.(js|d\.ts)(\.map)?$/.test(rel) || rel.includes('/testing/'));
}
