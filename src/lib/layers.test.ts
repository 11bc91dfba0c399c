// The layers of the tree, kept by a test (docs/ARCHITECTURE.md, "Layers"). It reads the
// imports of every source file under src/ and fails when a file imports one of a higher
// layer, or when files import each other (a cycle of any length).
//
//   lib → codecs (every protocol/ folder) → components → controller → region → setup → cli
//
// A file may import its own layer and the layers below it; a codec may also import its own
// component's files (its error base, its model types), never another component's; and a
// codec is its folder's to use (region/protocol/ is below components, but only the region and
// what is above it may import it). Test files (*.test.ts,
// *.test-helper.ts) and test fixtures (testing/ folders) compose whatever they test, so the
// layer rule skips them; the cycle rule does not.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repository's src/ (this file runs as dist/src/lib/layers.test.js). */
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

export const LAYERS = ['lib', 'codecs', 'components', 'controller', 'region', 'setup', 'cli'] as const;
type Layer = (typeof LAYERS)[number];

const COMPONENTS = new Set(['audit', 'store', 'iam', 'sts', 'kms', 'organizations', 'ebs', 'vpc', 'hypervisor', 'security-chip', 'image']);

/** The layer of the folder a file is in (its top folder under src/), codecs or not. */
export function ownerLayerOf(path: string): Layer {
  const top = path.split('/')[0]!;
  if (top === 'lib') return 'lib';
  if (COMPONENTS.has(top)) return 'components';
  if (top === 'controller' || top === 'region' || top === 'setup' || top === 'cli') return top;
  throw new Error(`src/${path} is in no layer: add its folder to src/lib/layers.test.ts and docs/ARCHITECTURE.md`);
}

/** The layer of a file, by its path under src/ ('region/api/server.ts'). */
export function layerOf(path: string): Layer {
  return path.split('/').includes('protocol') ? 'codecs' : ownerLayerOf(path);
}

/** Why importing `target` from `path` breaks the layers, or undefined when it does not. */
export function layerViolation(path: string, target: string): string | undefined {
  const [from, to] = [layerOf(path), layerOf(target)];
  // A codec may use its own component's error base and model types (one folder under src/).
  if (from === 'codecs' && sameComponent(path, target)) return undefined;
  if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) return `src/${path} (${from}) imports src/${target} (${to})`;
  // A codec belongs to its folder: region/protocol/ is the region's to use, not a component's.
  const [fromOwner, toOwner] = [ownerLayerOf(path), ownerLayerOf(target)];
  if (to === 'codecs' && LAYERS.indexOf(toOwner) > LAYERS.indexOf(fromOwner)) return `src/${path} (${fromOwner}) imports src/${target} (a codec of ${toOwner})`;
  return undefined;
}

const sameComponent = (a: string, b: string): boolean => a.split('/')[0] === b.split('/')[0];

const isTestOnly = (path: string): boolean => /\.test(-helper)?\.ts$/.test(path) || path.split('/').includes('testing');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The relative imports of a file (static, re-exports and dynamic), as paths under src/. */
export function importsOf(path: string, text: string): string[] {
  const specs = new Set<string>();
  const re = /(?:^|[;\s])(?:import|export)\s(?:[^'";]*?\sfrom\s)?\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) specs.add((m[1] ?? m[2])!);
  const dir = dirname(path);
  return [...specs].map((s) => normalize(join(dir, s.replace(/\.js$/, '.ts'))).split(sep).join('/'));
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const abs of sourceFiles(SRC)) {
    const path = relative(SRC, abs).split(sep).join('/');
    g.set(path, importsOf(path, readFileSync(abs, 'utf8')));
  }
  return g;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
export function cycles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

test('the layer rule and the cycle finder catch what they should (a fixed graph)', () => {
  assert.equal(layerOf('lib/xml.ts'), 'lib');
  assert.equal(layerOf('region/protocol/ec2/requests/vpc.ts'), 'codecs');
  assert.equal(layerOf('ebs/card/main.ts'), 'components');
  assert.equal(layerOf('region/api/server.ts'), 'region');
  assert.throws(() => layerOf('newthing/x.ts'), /in no layer/);
  assert.equal(layerViolation('region/api/server.ts', 'iam/iam.ts'), undefined);
  assert.equal(layerViolation('vpc/protocol/arp.ts', 'vpc/errors.ts'), undefined, 'a codec uses its own error base');
  assert.match(layerViolation('ebs/card/main.ts', 'controller/supervisor.ts') ?? '', /\(components\) imports .* \(controller\)/);
  assert.match(layerViolation('iam/api.ts', 'region/protocol/xml.ts') ?? '', /a codec of region/);
  assert.match(layerViolation('controller/protocol/vpc-commands.ts', 'vpc/model.ts') ?? '', /\(codecs\) imports/);
  assert.deepEqual(importsOf('a/b.ts', "import { x } from './c.js';\nexport * from '../d/e.js';\nimport type { T } from 'node:fs';\nconst m = await import('./f.js');"), ['a/c.ts', 'd/e.ts', 'a/f.ts']);
  const g = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
    ['e.ts', ['e.ts']],
  ]);
  assert.deepEqual(cycles(g), [['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
});

test('no source file imports a higher layer', () => {
  const bad: string[] = [];
  for (const [path, imports] of graph()) {
    if (isTestOnly(path)) continue;
    for (const target of imports) {
      const why = layerViolation(path, target);
      if (why !== undefined) bad.push(why);
    }
  }
  assert.deepEqual(bad, [], `upward imports:\n${bad.join('\n')}`);
});

test('no two source files import each other, directly or around a longer cycle', () => {
  const found = cycles(graph());
  assert.deepEqual(found, [], `import cycles:\n${found.map((c) => c.join(' → ')).join('\n')}`);
});
