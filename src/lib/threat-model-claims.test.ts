// docs/THREAT-MODEL.md says every claim names the test that proves it. This keeps the names
// honest: every source or test file the document names must exist (a glob must match at least
// one file), and a test title quoted right after a file name ("`file` ("title …")") must be
// found in that file, so a renamed or deleted test fails here rather than silently leaving a
// claim unproven.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'THREAT-MODEL.md'), 'utf8');
const normal = (s: string): string => s.replace(/\\'/g, "'").replace(/\s+/g, ' ');

/** Files matching a path whose last part may hold `*` (the only glob the document uses). */
function matching(path: string): string[] {
  if (!path.includes('*')) return existsSync(join(ROOT, path)) ? [path] : [];
  const dir = dirname(path);
  assert.ok(!dir.includes('*'), `only the file name may be a glob: ${path}`);
  const re = new RegExp(`^${basename(path).split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const abs = join(ROOT, dir);
  return existsSync(abs) ? readdirSync(abs).filter((f) => re.test(f)).map((f) => join(dir, f)) : [];
}

test('THREAT-MODEL.md: every file it names exists', () => {
  const named = [...new Set([...DOC.matchAll(/`((?:src|test|bench|scripts)\/[^`\s]+)`/g)].map((m) => m[1]!))];
  assert.ok(named.length > 40, `the document names its tests (${named.length} found)`);
  const missing = named.filter((p) => matching(p).length === 0);
  assert.deepEqual(missing, [], 'files named by docs/THREAT-MODEL.md that do not exist');
});

test('THREAT-MODEL.md: every test title quoted after a file is in that file', () => {
  const quoted = [...DOC.matchAll(/`((?:src|test)\/[^`*\s]+\.ts)`\s*\(\s*"([^"]+)"/g)].map((m) => ({ file: m[1]!, title: normal(m[2]!.split('…')[0]!).trim().replace(/\.$/, '').trim() }));
  assert.ok(quoted.length > 3, `quoted titles found: ${quoted.length}`);
  const absent = quoted.filter((q) => !existsSync(join(ROOT, q.file)) || !normal(readFileSync(join(ROOT, q.file), 'utf8')).includes(q.title));
  assert.deepEqual(absent, [], 'test titles quoted by docs/THREAT-MODEL.md that their file does not hold');
});
