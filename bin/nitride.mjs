#!/usr/bin/env node
// The `nitride` command. The compiled CLI lives in dist/; build it with `npm run build`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('nitride: not built yet; run `npm run build` (or `npm start`) first\n');
  process.exit(1);
}
await import(main);
