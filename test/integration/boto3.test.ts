// boto3 as its users run it: Debian's python3-boto3 (/usr/bin/python3, installed by `nitride
// setup`) runs test/fixtures/boto3/real-tools.py against a Region opened in this process —
// STS (caller identity, session token, assume role), KMS's tag calls, and EC2 through the
// client and resource APIs on a seeded stopped instance. The script's exit status is the
// verdict; a missing python3 or boto3 fails the test loudly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Region } from '../../src/region/region.js';
import { cleanEnv, dumpDiagnostics, instanceRecord, openLocalRegion, phantomHost, seedStore } from '../region-fixtures.js';

const PYTHON = '/usr/bin/python3';
/** The script in the source tree (this file runs from dist/test/integration/). */
const SCRIPT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'boto3', 'real-tools.py');

let home = '';
let region: Region | undefined;
let failed = false;
let instanceId = '';

function python(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, args, { env, encoding: 'utf8', timeout: 300_000 }, (e, stdout, stderr) => {
      resolve({ status: e === null ? 0 : typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1, stdout, stderr });
    });
  });
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-boto3-'));
  // The account id exists once the region has opened once; then a phantom host and a stopped instance of it are seeded.
  const first = await openLocalRegion(home);
  const accountId = first.credentials.accountId;
  await first.close();
  const host = phantomHost(4096);
  const inst = instanceRecord(accountId, host.id);
  instanceId = inst.id;
  await seedStore(home, { hosts: [host], instances: [inst] });
  region = await openLocalRegion(home);
});

after(async () => {
  if (region) await region.close();
  if (failed) dumpDiagnostics(home);
  await rm(home, { recursive: true, force: true });
});

test('boto3 (Debian python3-boto3): STS, KMS tags and the EC2 client and resource APIs', { timeout: 600_000 }, async () => {
  try {
    const probe = await python(['-c', 'import boto3, botocore; print(boto3.__version__, botocore.__version__)'], cleanEnv());
    assert.equal(probe.status, 0, `${PYTHON} cannot import boto3 (install Debian's python3-boto3: nitride setup does): ${probe.stderr}`);
    const env = cleanEnv({
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
      AWS_ACCESS_KEY_ID: region!.adminCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: region!.adminCredentials.secretAccessKey,
      NITRIDE_ENDPOINT: region!.endpoint,
      NITRIDE_INSTANCE_ID: instanceId,
    });
    const r = await python([SCRIPT], env);
    assert.equal(r.status, 0, `real-tools.py failed:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { boto3: string; botocore: string; checked: string[] };
    assert.ok(summary.checked.length >= 23, `${summary.checked.length} checks`);
    process.stderr.write(`[boto3] boto3 ${summary.boto3} / botocore ${summary.botocore}: ${summary.checked.length} checks passed\n`);
  } catch (e) {
    failed = true;
    throw e;
  }
});
