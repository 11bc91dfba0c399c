// KMS key tags end to end: @aws-sdk/client-kms, the AWS CLI v1 (`aws`) and v2 (/usr/bin/aws)
// against a Region opened in this process. TagResource, UntagResource, ListResourceTags and
// CreateKey's Tags with KMS's limits and errors, and aws:ResourceTag/<key> conditions deciding
// requests in a key policy, in an IAM policy, and for a role session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient, ListResourceTagsCommand, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { Region } from '../../src/region/region.js';
import { awsAs, dumpDiagnostics, failureTracker, policyDocument, usersWithKeys, type CliName, type CliResult, type TestCredentials } from '../region-fixtures.js';

type Creds = TestCredentials;

let home = '';
let region: Region | undefined;
let endpoint = '';
let accountId = '';
const run = failureTracker();
const creds: Record<'admin' | 'dave' | 'erin' | 'frank', Creds> = {} as Record<'admin' | 'dave' | 'erin' | 'frank', Creds>;
const policy = policyDocument;
const userArn = (name: string): string => `arn:aws:iam::${accountId}:user/${name}`;
const kms = (c: Creds): KMSClient => new KMSClient({ endpoint, region: 'local-1', credentials: c, maxAttempts: 1 });
const tagsOf = async (keyId: string): Promise<Record<string, string>> => Object.fromEntries(((await kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? []).map((t) => [t.TagKey!, t.TagValue!]));

async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('expected the call to fail');
}

const cli = (which: CliName, c: Creds, args: readonly string[]): Promise<CliResult> => awsAs(which, home, endpoint, c, args);

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-kms-tags-'));
  region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000 });
  endpoint = region.endpoint;
  accountId = region.credentials.accountId;
  creds.admin = { accessKeyId: region.adminCredentials.accessKeyId, secretAccessKey: region.adminCredentials.secretAccessKey };
  // dave: no IAM policy (key policies name him); erin: DescribeKey/Encrypt on keys tagged env=prod only; frank: may tag only with team=blue
  Object.assign(creds, await usersWithKeys(region.iam, accountId, {
    dave: {},
    erin: { 'prod-keys': policy({ Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:Encrypt'], Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } } }) },
    frank: { 'tag-blue': policy({ Effect: 'Allow', Action: ['kms:TagResource', 'kms:CreateKey'], Resource: '*', Condition: { StringEquals: { 'aws:RequestTag/team': 'blue' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } } }) },
  }));
});

after(async () => {
  if (region) await region.close();
  if (run.failed) dumpDiagnostics(home);
  await rm(home, { recursive: true, force: true });
});

test(
  'TagResource, UntagResource, ListResourceTags and CreateKey Tags through the SDK and both CLIs, with KMS\'s limits and errors',
  run.guarded(async () => {
    const k = (await kms(creds.admin).send(new CreateKeyCommand({ Tags: [{ TagKey: 'env', TagValue: 'dev' }] }))).KeyMetadata!;
    assert.deepEqual(await tagsOf(k.KeyId!), { env: 'dev' });
    await kms(creds.admin).send(new TagResourceCommand({ KeyId: k.Arn, Tags: [{ TagKey: 'env', TagValue: 'prod' }, { TagKey: 'team', TagValue: 'blue' }] }));
    assert.deepEqual(await tagsOf(k.KeyId!), { env: 'prod', team: 'blue' }, 'an existing key takes the new value');
    await kms(creds.admin).send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['team', 'not-there'] }));
    assert.deepEqual(await tagsOf(k.KeyId!), { env: 'prod' });
    for (const which of ['v1', 'v2'] as const) {
      const made = await cli(which, creds.admin, ['kms', 'create-key', '--tags', `TagKey=cli,TagValue=${which}`]);
      assert.equal(made.status, 0, made.stderr);
      const id = (JSON.parse(made.stdout) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
      assert.equal((await cli(which, creds.admin, ['kms', 'tag-resource', '--key-id', id, '--tags', 'TagKey=owner,TagValue=ops'])).status, 0);
      const listed = await cli(which, creds.admin, ['kms', 'list-resource-tags', '--key-id', id]);
      assert.deepEqual((JSON.parse(listed.stdout) as { Tags: unknown[] }).Tags, [{ TagKey: 'cli', TagValue: which }, { TagKey: 'owner', TagValue: 'ops' }], which);
      assert.equal((await cli(which, creds.admin, ['kms', 'untag-resource', '--key-id', id, '--tag-keys', 'cli'])).status, 0);
      assert.deepEqual(await tagsOf(id), { owner: 'ops' }, which);
      assert.match((await cli(which, creds.admin, ['kms', 'tag-resource', '--key-id', id, '--tags', 'TagKey=aws:reserved,TagValue=x'])).stderr, /\(TagException\)/, which);
      assert.match((await cli(which, creds.admin, ['kms', 'list-resource-tags', '--key-id', '00000000-0000-4000-8000-000000000000'])).stderr, /\(NotFoundException\)/, which);
    }
    // KMS's errors, and nothing stored changes on a refused call.
    const before = await tagsOf(k.KeyId!);
    assert.equal((await failure(kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'a', TagValue: '1' }, { TagKey: 'aws:x', TagValue: '2' }] })))).name, 'TagException');
    assert.equal((await failure(kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'x'.repeat(129), TagValue: '1' }] })))).name, 'TagException');
    assert.equal((await failure(kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'v', TagValue: 'x'.repeat(257) }] })))).name, 'TagException');
    const many = Array.from({ length: 50 }, (_, i) => ({ TagKey: `k${i}`, TagValue: String(i) }));
    assert.equal((await failure(kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: many })))).name, 'LimitExceededException', '50 new + 1 existing');
    assert.deepEqual(await tagsOf(k.KeyId!), before);
    await kms(creds.admin).send(new CreateAliasCommand({ AliasName: 'alias/tagged', TargetKeyId: k.KeyId }));
    assert.equal((await failure(kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: 'alias/tagged' })))).name, 'NotFoundException', 'tags take a key id or ARN, not an alias');
    assert.equal((await failure(kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: 'arn:aws:kms:local-1:bad' })))).name, 'InvalidArnException');
    assert.equal((await failure(kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: k.KeyId, Marker: 'garbage!' })))).name, 'InvalidMarkerException');
    await kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: many.slice(0, 49) }));
    const page1 = await kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: k.KeyId, Limit: 20 }));
    assert.equal(page1.Tags!.length, 20);
    assert.equal(page1.Truncated, true);
    const page2 = await kms(creds.admin).send(new ListResourceTagsCommand({ KeyId: k.KeyId, Limit: 40, Marker: page1.NextMarker }));
    assert.deepEqual([page2.Tags!.length, page2.Truncated], [30, false]);
  }),
);

test(
  'aws:ResourceTag in a key policy: dave encrypts while the key is team=blue, and not once it is retagged',
  run.guarded(async () => {
    const p = policy(
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'Blue keys for dave', Effect: 'Allow', Principal: { AWS: userArn('dave') }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': 'blue' } } },
    );
    const k = (await kms(creds.admin).send(new CreateKeyCommand({ Policy: p, Tags: [{ TagKey: 'team', TagValue: 'blue' }] }))).KeyMetadata!;
    assert.ok((await kms(creds.dave).send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('blue') }))).CiphertextBlob);
    await kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'team', TagValue: 'red' }] }));
    const denied = await failure(kms(creds.dave).send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('red') })));
    assert.equal(denied.name, 'AccessDeniedException');
    assert.match(denied.message, /dave is not authorized to perform: kms:Encrypt/);
    await kms(creds.admin).send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['team'] }));
    assert.equal((await failure(kms(creds.dave).send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('none') })))).name, 'AccessDeniedException', 'no tag at all');
    for (const which of ['v1', 'v2'] as const) {
      assert.match((await cli(which, creds.dave, ['kms', 'encrypt', '--key-id', k.Arn!, '--plaintext', 'aGk='])).stderr, /\(AccessDeniedException\)/, which);
    }
    await kms(creds.admin).send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'team', TagValue: 'blue' }] }));
    for (const which of ['v1', 'v2'] as const) assert.equal((await cli(which, creds.dave, ['kms', 'encrypt', '--key-id', k.Arn!, '--plaintext', 'aGk='])).status, 0, which);
  }),
);

test(
  'aws:ResourceTag in an IAM policy (erin: env=prod keys only), aws:RequestTag and aws:TagKeys when tagging (frank), and for a role session (and a grant to the role)',
  run.guarded(async () => {
    const prod = (await kms(creds.admin).send(new CreateKeyCommand({ Tags: [{ TagKey: 'env', TagValue: 'prod' }] }))).KeyMetadata!;
    const dev = (await kms(creds.admin).send(new CreateKeyCommand({ Tags: [{ TagKey: 'env', TagValue: 'dev' }] }))).KeyMetadata!;
    assert.equal((await kms(creds.erin).send(new DescribeKeyCommand({ KeyId: prod.KeyId }))).KeyMetadata!.KeyId, prod.KeyId);
    const denied = await failure(kms(creds.erin).send(new DescribeKeyCommand({ KeyId: dev.KeyId })));
    assert.equal(denied.name, 'AccessDeniedException');
    assert.match(denied.message, /because no identity-based policy allows the kms:DescribeKey action/);
    // frank may tag with team=blue and nothing else, and create keys only so tagged
    await kms(creds.frank).send(new TagResourceCommand({ KeyId: dev.KeyId, Tags: [{ TagKey: 'team', TagValue: 'blue' }] }));
    assert.equal((await failure(kms(creds.frank).send(new TagResourceCommand({ KeyId: dev.KeyId, Tags: [{ TagKey: 'team', TagValue: 'red' }] })))).name, 'AccessDeniedException');
    assert.equal((await failure(kms(creds.frank).send(new TagResourceCommand({ KeyId: dev.KeyId, Tags: [{ TagKey: 'team', TagValue: 'blue' }, { TagKey: 'env', TagValue: 'prod' }] })))).name, 'AccessDeniedException');
    assert.deepEqual(await tagsOf(dev.KeyId!), { env: 'dev', team: 'blue' });
    assert.ok((await kms(creds.frank).send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'blue' }] }))).KeyMetadata);
    assert.equal((await failure(kms(creds.frank).send(new CreateKeyCommand({})))).name, 'AccessDeniedException', 'untagged: no aws:RequestTag/team');
    // A role whose policy allows Encrypt on env=prod keys: its session is decided by the same condition.
    await region!.iam.roles.create(accountId, 'prod-crypto', policy({ Effect: 'Allow', Principal: { AWS: userArn('dave') }, Action: 'sts:AssumeRole' }));
    await region!.iam.roles.putPolicy(accountId, 'prod-crypto', 'enc', policy({ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } } }));
    const c = (await new STSClient({ endpoint, region: 'local-1', credentials: creds.dave, maxAttempts: 1 }).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/prod-crypto`, RoleSessionName: 'enc' }))).Credentials!;
    const s: Creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    assert.ok((await kms(s).send(new EncryptCommand({ KeyId: prod.KeyId, Plaintext: Buffer.from('p') }))).CiphertextBlob);
    assert.equal((await failure(kms(s).send(new EncryptCommand({ KeyId: dev.KeyId, Plaintext: Buffer.from('d') })))).name, 'AccessDeniedException');
    // A grant to the role's ARN lets its sessions use the key, as KMS does.
    await kms(creds.admin).send(new CreateGrantCommand({ KeyId: dev.KeyId, GranteePrincipal: `arn:aws:iam::${accountId}:role/prod-crypto`, Operations: ['Encrypt'] }));
    assert.ok((await kms(s).send(new EncryptCommand({ KeyId: dev.KeyId, Plaintext: Buffer.from('d') }))).CiphertextBlob);
  }),
);
