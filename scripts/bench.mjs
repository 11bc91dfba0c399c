#!/usr/bin/env node
// `npm run bench -- <name> [args]`: runs dist/bench/<name>.js (boot, api, nbd, net, live-update).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'bench');
const [name, ...rest] = process.argv.slice(2);
const available = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js') && !f.includes('.test.') && !f.startsWith('lib')).map((f) => f.slice(0, -3)) : [];
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}>\n`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [join(dir, `${name}.js`), ...rest], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
