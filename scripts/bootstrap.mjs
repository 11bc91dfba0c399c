#!/usr/bin/env node
// Makes the tree runnable: installs npm dependencies when they are missing or stale,
// then compiles the TypeScript. Plain JavaScript with no dependencies, because it runs
// before any exist. Every step says what it does.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`[bootstrap] ${msg}\n`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    say(`${cmd} ${args.join(' ')} failed with status ${r.status ?? r.signal}`);
    process.exit(r.status || 1);
  }
}

const stamp = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(stamp) || statSync(lock).mtimeMs > statSync(stamp).mtimeMs) {
  say('installing npm dependencies (npm ci) …');
  run('npm', ['ci', '--no-audit', '--no-fund']);
} else {
  say('npm dependencies: present');
}
say('compiling TypeScript (tsc -p .) …');
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
say('build: ok');
