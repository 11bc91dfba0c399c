// The host's layers, as far as the cards go: a card folder (hypervisor, EBS card, VPC card,
// security chip) and src/lib may import src/lib and one another's protocol, never the
// controller that drives them, the setup that installs them, the region or the CLI.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../lib/paths.js';

const LOWER = ['src/lib', 'src/hypervisor', 'src/ebs', 'src/vpc', 'src/security-chip'];
const HIGHER = ['src/controller', 'src/setup', 'src/region', 'src/cli'];

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The relative module specifiers a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2];
    if (spec !== undefined && spec.startsWith('.')) out.push(spec);
  }
  return out;
}

test('card folders and src/lib import nothing from the controller, setup, region or CLI', () => {
  const root = projectRoot();
  const offences: string[] = [];
  let files = 0;
  for (const layer of LOWER) {
    for (const file of sources(join(root, layer))) {
      files++;
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = relative(root, resolve(file, '..', spec));
        if (HIGHER.some((h) => target === h || target.startsWith(`${h}/`))) offences.push(`${relative(root, file)} imports ${target}`);
      }
    }
  }
  assert.ok(files > 50, `read the card sources (${files} files)`);
  assert.deepEqual(offences, []);
});
