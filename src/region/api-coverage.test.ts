// docs/API-COVERAGE.md is what scripts/api-coverage.mjs generates now: regenerated here from the
// machine's botocore models and the region's action tables, and compared with the committed file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { botocoreDataDir, coverageMarkdown, coveredServices, currentCoverage, modelOperations } from './api-coverage.js';

const DOC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'API-COVERAGE.md');

test('docs/API-COVERAGE.md is current (regenerate with `node scripts/api-coverage.mjs`)', () => {
  assert.equal(readFileSync(DOC, 'utf8'), currentCoverage(), 'docs/API-COVERAGE.md is stale: run `npx tsc -p . && node scripts/api-coverage.mjs` and commit it');
});

test('the table counts what the action tables implement of each model, and names what is outside it', () => {
  const { dir } = botocoreDataDir();
  const ec2 = modelOperations(dir, 'ec2');
  assert.ok(ec2.operations.includes('RunInstances') && ec2.operations.length > 400, 'the EC2 model is the real one');
  const md = coverageMarkdown('x', new Map([['ec2', { apiVersion: '2016-11-15', operations: ['A', 'B', 'RunInstances'] }]]), [{ title: 'EC2', model: 'ec2', implemented: ['RunInstances', 'NitrideAddHost'] }]);
  assert.match(md, /\| EC2 \| `ec2` 2016-11-15 \| 3 \| 1 \(33%\) \|/);
  assert.match(md, /\| RunInstances \| yes \|/);
  assert.match(md, /\| A \| — \|/);
  assert.match(md, /Implemented and not in this model: `NitrideAddHost`\./);
  assert.deepEqual(coveredServices().map((s) => s.model), ['ec2', 'ebs', 'kms', 'iam', 'sts']);
});
