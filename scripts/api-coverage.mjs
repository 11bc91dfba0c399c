#!/usr/bin/env node
// Writes docs/API-COVERAGE.md from botocore's service models on this machine (Debian's
// python3-botocore) and the region's action tables (src/region/api-coverage.ts). Run after
// `npx tsc -p .`; src/region/api-coverage.test.ts fails until the committed file matches.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { currentCoverage } = await import(join(root, 'dist', 'src', 'region', 'api-coverage.js'));
const out = join(root, 'docs', 'API-COVERAGE.md');
writeFileSync(out, currentCoverage());
console.log(`wrote ${out}`);
