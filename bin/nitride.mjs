#!/usr/bin/env node
// The `nitride` command. The compiled CLI lives in dist/; build it with `npm run build`.
// `nitride start` runs the region, which wants V8 flags that only work at process start
// (src/region/node-flags.ts): it is re-run with them, forwarding signals.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('nitride: not built yet; run `npm run build` (or `npm start`) first\n');
  process.exit(1);
}
if (process.argv[2] === 'start') {
  const { REGION_NODE_FLAGS } = await import(join(dirname(main), '..', 'region', 'node-flags.js'));
  const child = spawn(process.execPath, [...REGION_NODE_FLAGS, main, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await import(main);
}
