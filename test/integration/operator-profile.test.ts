// The profile `nitride` the region writes holds the key of the operator account's IAM user
// `admin` (allow everything), made once, never the root's secret (AWS: do not use the root
// user's keys for everyday work). Both AWS CLIs work with it, operator-only APIs included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callRegion, regionApi } from '../../src/cli/commands/host-component.js';
import { readAwsProfile } from '../../src/lib/aws-profile.js';
import { Region } from '../../src/region/region.js';
import { CLIS, cleanEnv, type CliName } from '../region-fixtures.js';

function cli(which: CliName, home: string, endpoint: string, args: string[]): Promise<{ status: number; stderr: string; stdout: string }> {
  const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home, AWS_MAX_ATTEMPTS: '1' });
  const full = ['--profile', 'nitride', ...(which === 'v2' ? ['--endpoint-url', endpoint] : []), ...args, '--output', 'json'];
  return new Promise((resolve, reject) => {
    execFile(CLIS[which], full, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`the AWS CLI ${which} (${CLIS[which]}) could not run: ${err.message}`));
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

function json<T>(r: { status: number; stdout: string; stderr: string }, what: string): T {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

test('the profile nitride holds the IAM user admin\'s key and no root secret; both AWS CLIs use it for EC2, KMS, IAM and Organizations; a second start keeps the same user and key', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-admin-'));
  let region: Region | undefined;
  try {
    region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, tls: {} });
    const p = readAwsProfile(home, 'nitride');
    assert.equal(p?.accessKeyId, region.adminCredentials.accessKeyId);
    assert.notEqual(p?.accessKeyId, region.credentials.accessKeyId);
    const files = readFileSync(join(home, 'aws', 'credentials'), 'utf8') + readFileSync(join(home, 'aws', 'config'), 'utf8');
    assert.ok(!files.includes(region.credentials.secretAccessKey), 'the root secret is in the AWS files');
    assert.ok(!files.includes(region.credentials.accessKeyId), 'the root key id is in the AWS files');
    for (const which of ['v1', 'v2'] as const) {
      const me: { User: { UserName: string; Arn: string } } = json<{ User: { UserName: string; Arn: string } }>(await cli(which, home, region.endpoint, ['iam', 'get-user']), `${which} get-user`);
      assert.deepEqual([me.User.UserName, me.User.Arn], ['admin', `arn:aws:iam::${region.credentials.accountId}:user/admin`]);
      assert.ok(Array.isArray(json<{ Reservations: unknown[] }>(await cli(which, home, region.endpoint, ['ec2', 'describe-instances']), `${which} describe-instances`).Reservations));
      assert.match(json<{ KeyMetadata: { KeyId: string } }>(await cli(which, home, region.endpoint, ['kms', 'create-key']), `${which} create-key`).KeyMetadata.KeyId, /^[0-9a-f-]{36}$/);
      const accounts = json<{ Accounts: { Id: string }[] }>(await cli(which, home, region.endpoint, ['organizations', 'list-accounts']), `${which} organizations list-accounts`);
      assert.ok(accounts.Accounts.some((a) => a.Id === region!.credentials.accountId));
    }
    const first = region.adminCredentials.accessKeyId;
    await region.close();
    region = undefined;
    region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, tls: {} });
    assert.equal(region.adminCredentials.accessKeyId, first);
    assert.equal(readAwsProfile(home, 'nitride')?.accessKeyId, first);
    const users = json<{ Users: { UserName: string }[] }>(await cli('v1', home, region.endpoint, ['iam', 'list-users']), 'list-users');
    assert.deepEqual(users.Users.map((u) => u.UserName), ['admin']);
    const keys = json<{ AccessKeyMetadata: { AccessKeyId: string }[] }>(await cli('v1', home, region.endpoint, ['iam', 'list-access-keys', '--user-name', 'admin']), 'list-access-keys');
    assert.deepEqual(keys.AccessKeyMetadata.map((k) => k.AccessKeyId), [first]);
  } finally {
    await region?.close();
    await rm(home, { recursive: true, force: true });
  }
});

test('the operator\'s host actions accept the profile\'s admin key (over HTTPS, as nitride host update signs them) and refuse a user of the same account without a policy', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-admin-'));
  let region: Region | undefined;
  try {
    region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, tls: {} });
    const api = regionApi(home);
    assert.equal(api?.accessKeyId, region.adminCredentials.accessKeyId);
    const rollback = { Action: 'NitrideUpdateHostComponent', Component: 'ebs', Rollback: 'true' };
    // Past authentication, IAM and the operator check, the region has no host to name.
    await assert.rejects(callRegion(api!, rollback, 60_000), /^Error: MissingParameter: .*the region has 0 hosts/);
    await region.iam.createUser(region.credentials.accountId, 'clerk');
    const k = await region.iam.createAccessKey(region.credentials.accountId, 'clerk');
    await assert.rejects(callRegion({ ...api!, accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey }, rollback, 60_000), /^Error: UnauthorizedOperation: /);
  } finally {
    await region?.close();
    await rm(home, { recursive: true, force: true });
  }
});
