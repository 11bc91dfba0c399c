#!/usr/bin/env node
// Runs every compiled test with node's own test runner in one invocation, so the
// closing summary covers the whole suite. Unit tests live beside the code
// (dist/src/**/*.test.js), process-level tests in dist/test/integration, real-guest
// tests in dist/test/vm. At most two test files run at once: two TCG guests on two
// cores is the most these machines take (qemu-notes.md).
// Usage: node scripts/run-tests.mjs [substring …]  — keeps files whose path contains one.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir, out) {
  // A test folder that cannot be read is an error, not an empty folder: a suite that
  // silently shrinks would still report success.
  let entries;
  try {
    entries = readdirSync(dir);
  } catch (e) {
    process.stderr.write(`[test] cannot read ${relative(root, dir)}: ${e.message}\n`);
    process.exit(1);
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [
  ...walk(join(root, 'dist', 'src'), []).sort(),
  ...walk(join(root, 'dist', 'test', 'integration'), []).sort(),
  ...walk(join(root, 'dist', 'test', 'vm'), []).sort(),
].filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)));

if (files.length === 0) {
  process.stderr.write('[test] no test files matched\n');
  process.exit(1);
}
process.stderr.write(`[test] running ${files.length} test files\n`);
const concurrency = process.env.NITRIDE_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
