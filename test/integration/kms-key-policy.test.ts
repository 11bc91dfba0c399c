// KMS key policies end to end: @aws-sdk/client-kms, the AWS CLI v1 (`aws`) and v2
// (/usr/bin/aws) against a Region opened in this process, whose front door authenticates
// (SigV4), authorizes through Kms (key policy + IAM + grants) and writes the audit trail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListKeyPoliciesCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { Region } from '../../src/region/region.js';
import { auditEvents, cleanEnv, dumpDiagnostics, failureTracker, policyDocument, usersWithKeys, type TestCredentials } from '../region-fixtures.js';

type Creds = TestCredentials;

let home = '';
let region: Region | undefined;
let endpoint = '';
const run = failureTracker();
let accountId = '';
let otherAccount = '';
const creds: Record<'root' | 'alice' | 'carol' | 'dave' | 'erin', Creds> = {} as Record<'root' | 'alice' | 'carol' | 'dave' | 'erin', Creds>;
const requestIds: string[] = [];
const arn = (acct: string, name: string): string => (name === 'root' ? `arn:aws:iam::${acct}:root` : `arn:aws:iam::${acct}:user/${name}`);
const policy = policyDocument;
const rootStatement = (): Record<string, unknown> => ({ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: arn(accountId, 'root') }, Action: 'kms:*', Resource: '*' });

const guarded = run.guarded;

function client(who: keyof typeof creds): KMSClient {
  return new KMSClient({ endpoint, region: 'local-1', credentials: creds[who], maxAttempts: 1 });
}

async function call<T>(p: Promise<T>): Promise<T> {
  const out = await p;
  const id = (out as { $metadata?: { requestId?: string } }).$metadata?.requestId;
  if (id) requestIds.push(id);
  return out;
}

/** The KMS exception a call fails with, and its message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { requestId?: string } };
    if (err.$metadata?.requestId) requestIds.push(err.$metadata.requestId);
    return { name: err.name, message: err.message };
  }
  throw new Error('expected the call to fail');
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-kms-policy-'));
  region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000 });
  endpoint = region.endpoint;
  accountId = region.credentials.accountId;
  creds.root = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
  const iam = region.iam;
  // alice: IAM allows kms:* ; carol: no IAM policy at all
  Object.assign(creds, await usersWithKeys(iam, accountId, { alice: { 'kms-all': policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }) }, carol: {} }));
  // another account: dave (IAM allows Encrypt/Decrypt/DescribeKey anywhere), erin (no IAM policy)
  otherAccount = (await iam.createAccount('partner')).accountId;
  Object.assign(creds, await usersWithKeys(iam, otherAccount, { dave: { 'use-keys': policy({ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: '*' }) }, erin: {} }));
});

after(async () => {
  if (region) await region.close();
  if (run.failed) dumpDiagnostics(home);
  await rm(home, { recursive: true, force: true });
});

test(
  'SDK: a key policy that does not delegate to the account refuses an IAM-allowed user; a user it names needs no IAM policy',
  guarded(async () => {
    const p = policy({ Sid: 'Carol uses and reads the key', Effect: 'Allow', Principal: { AWS: arn(accountId, 'carol') }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListKeyPolicies'], Resource: '*' });
    const lockout = await failure(client('root').send(new CreateKeyCommand({ Policy: p })));
    assert.equal(lockout.name, 'MalformedPolicyDocumentException');
    assert.match(lockout.message, /will not allow you to update the key policy/);
    const k = (await call(client('root').send(new CreateKeyCommand({ Policy: p, BypassPolicyLockoutSafetyCheck: true, Description: 'carol only' })))).KeyMetadata!;
    const enc = await call(client('carol').send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('for carol') })));
    assert.equal(Buffer.from((await call(client('carol').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).Plaintext!).toString(), 'for carol');
    assert.equal((await call(client('carol').send(new GetKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default' })))).Policy, p);
    assert.deepEqual((await call(client('carol').send(new ListKeyPoliciesCommand({ KeyId: k.KeyId })))).PolicyNames, ['default']);
    const denied = await failure(client('alice').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })));
    assert.equal(denied.name, 'AccessDeniedException');
    assert.match(denied.message, new RegExp(`User: ${arn(accountId, 'alice')} is not authorized to perform: kms:Encrypt on resource: ${k.Arn} because no resource-based policy allows the kms:Encrypt action`));
    assert.equal((await failure(client('alice').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).name, 'AccessDeniedException');
    assert.equal((await failure(client('root').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).name, 'AccessDeniedException', 'the account root is not exempt');
    assert.equal((await failure(client('carol').send(new DisableKeyCommand({ KeyId: k.KeyId })))).name, 'AccessDeniedException');
  }),
);

test(
  'SDK: an explicit Deny in the key policy wins over the IAM allow it would otherwise delegate to',
  guarded(async () => {
    const k = (await call(client('root').send(new CreateKeyCommand({ Policy: policy(rootStatement(), { Sid: 'No decrypt for alice', Effect: 'Deny', Principal: { AWS: arn(accountId, 'alice') }, Action: 'kms:Decrypt', Resource: '*' }) })))).KeyMetadata!;
    const enc = await call(client('alice').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('sealed by alice') })));
    const denied = await failure(client('alice').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })));
    assert.equal(denied.name, 'AccessDeniedException');
    assert.match(denied.message, /with an explicit deny in a resource-based policy/);
    assert.equal(Buffer.from((await call(client('root').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).Plaintext!).toString(), 'sealed by alice');
    assert.equal((await failure(client('carol').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })))).name, 'AccessDeniedException', 'delegated, and carol has no IAM policy');
  }),
);

test(
  'SDK: a principal of another account named in the key policy encrypts by key ARN (its own IAM allowing it)',
  guarded(async () => {
    const p = policy(rootStatement(), { Sid: 'Partner users', Effect: 'Allow', Principal: { AWS: [arn(otherAccount, 'dave'), arn(otherAccount, 'erin')] }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: '*' });
    const k = (await call(client('root').send(new CreateKeyCommand({})))).KeyMetadata!;
    assert.equal((await failure(client('dave').send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('x') })))).name, 'AccessDeniedException', 'not before the policy names dave');
    await call(client('root').send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: p })));
    const enc = await call(client('dave').send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('from the partner'), EncryptionContext: { app: 'x' } })));
    assert.equal(enc.KeyId, k.Arn);
    assert.equal(Buffer.from((await call(client('root').send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: 'x' } })))).Plaintext!).toString(), 'from the partner');
    assert.equal((await call(client('dave').send(new DescribeKeyCommand({ KeyId: k.Arn })))).KeyMetadata?.KeyId, k.KeyId);
    assert.equal((await failure(client('dave').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') })))).name, 'NotFoundException', 'a bare key id is looked up in the caller account');
    assert.equal((await failure(client('erin').send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('x') })))).name, 'AccessDeniedException', 'erin has no IAM policy in her account');
  }),
);

test(
  'SDK: PutKeyPolicy/GetKeyPolicy round trip; malformed policies are MalformedPolicyDocumentException and change nothing; alias/aws/ebs refuses PutKeyPolicy',
  guarded(async () => {
    const kms = client('root');
    const k = (await call(kms.send(new CreateKeyCommand({})))).KeyMetadata!;
    const p = policy(rootStatement(), { Sid: 'Carol encrypts', Effect: 'Allow', Principal: { AWS: arn(accountId, 'carol') }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:team': 'blue' } } });
    await call(kms.send(new PutKeyPolicyCommand({ KeyId: k.Arn, PolicyName: 'default', Policy: p })));
    assert.equal((await call(kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default' })))).Policy, p);
    await call(client('carol').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { team: 'blue' } })));
    assert.equal((await failure(client('carol').send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { team: 'red' } })))).name, 'AccessDeniedException');
    for (const [bad, re] of [
      ['{"Statement": [', /not valid JSON/],
      [policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }), /Missing required field Principal/],
      [policy({ Effect: 'Allow', Principal: { AWS: arn(accountId, 'nobody') }, Action: 'kms:*', Resource: '*' }), /invalid principals/],
      [policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringSoundsLike: { 'kms:CallerAccount': accountId } } }), /Invalid Condition type/],
    ] as const) {
      const f = await failure(kms.send(new PutKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default', Policy: bad })));
      assert.equal(f.name, 'MalformedPolicyDocumentException', bad);
      assert.match(f.message, re);
    }
    assert.equal((await call(kms.send(new GetKeyPolicyCommand({ KeyId: k.KeyId, PolicyName: 'default' })))).Policy, p, 'the stored policy is untouched');
    const ebs = (await call(kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' })))).KeyMetadata!;
    const builtIn = (await call(kms.send(new GetKeyPolicyCommand({ KeyId: ebs.KeyId, PolicyName: 'default' })))).Policy;
    assert.match(builtIn ?? '', /kms:ViaService/);
    assert.equal((await failure(kms.send(new PutKeyPolicyCommand({ KeyId: ebs.KeyId, PolicyName: 'default', Policy: p, BypassPolicyLockoutSafetyCheck: true })))).name, 'AccessDeniedException');
    assert.equal((await call(kms.send(new GetKeyPolicyCommand({ KeyId: ebs.KeyId, PolicyName: 'default' })))).Policy, builtIn);
  }),
);

for (const [cli, bin] of [
  ['v1', 'aws'],
  ['v2', '/usr/bin/aws'],
] as const) {
  test(
    `AWS CLI ${cli} (${bin}): create-key --policy, put-key-policy, get-key-policy, list-key-policies; who may use the key`,
    guarded(async () => {
      const cfg = join(home, `aws-${cli}`);
      writeFileSync(
        `${cfg}.credentials`,
        Object.entries(creds)
          .map(([who, c]) => `[${who}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n`)
          .join(''),
        { mode: 0o600 },
      );
      writeFileSync(`${cfg}.config`, Object.keys(creds).map((who) => `[profile ${who}]\nregion = local-1\noutput = json\n`).join(''), { mode: 0o600 });
      const env = cleanEnv({ AWS_SHARED_CREDENTIALS_FILE: `${cfg}.credentials`, AWS_CONFIG_FILE: `${cfg}.config`, AWS_PAGER: '' });
      // asynchronous: the region answering is in this very process
      const run = (who: keyof typeof creds, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
        new Promise((resolve, reject) => {
          execFile(bin, ['--profile', who, '--endpoint-url', endpoint, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
            if (err && typeof err.code !== 'number') reject(new Error(`the AWS CLI ${cli} (${bin}) could not run: ${err.message}`));
            else resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
          });
        });
      const ok = async (who: keyof typeof creds, args: string[]): Promise<string> => {
        const r = await run(who, args);
        assert.equal(r.status, 0, `${who}: aws ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const fails = async (who: keyof typeof creds, args: string[], code: string): Promise<string> => {
        const r = await run(who, args);
        assert.notEqual(r.status, 0, `${who}: aws ${args.join(' ')} should fail with ${code}`);
        assert.match(r.stderr, new RegExp(code), `${who}: aws ${args.join(' ')}`);
        return r.stderr;
      };
      const file = (name: string, text: string): string => {
        const f = join(home, `${cli}-${name}`);
        writeFileSync(f, text);
        return `file://${f}`;
      };
      const pt = `fileb${file('pt', `cli ${cli} plaintext`).slice('file'.length)}`;

      // a key only carol (named, no IAM policy) may use: alice's IAM allow is not enough
      const carolOnly = policy({ Sid: 'Carol', Effect: 'Allow', Principal: { AWS: arn(accountId, 'carol') }, Action: ['kms:Encrypt', 'kms:DescribeKey', 'kms:GetKeyPolicy'], Resource: '*' });
      await fails('root', ['kms', 'create-key', '--policy', file('carol-only', carolOnly)], 'MalformedPolicyDocumentException');
      const k1 = (JSON.parse(await ok('root', ['kms', 'create-key', '--policy', file('carol-only', carolOnly), '--bypass-policy-lockout-safety-check'])) as { KeyMetadata: { KeyId: string; Arn: string } }).KeyMetadata;
      assert.equal((JSON.parse(await ok('carol', ['kms', 'encrypt', '--key-id', k1.KeyId, '--plaintext', pt])) as { KeyId: string }).KeyId, k1.Arn);
      assert.match(await fails('alice', ['kms', 'encrypt', '--key-id', k1.KeyId, '--plaintext', pt], 'AccessDeniedException'), /no resource-based policy allows the kms:Encrypt action/);
      assert.equal((JSON.parse(await ok('carol', ['kms', 'get-key-policy', '--key-id', k1.KeyId, '--policy-name', 'default'])) as { Policy: string }).Policy, carolOnly);

      // put-key-policy round trip on a default key, an explicit Deny, and a partner user
      const k2 = (JSON.parse(await ok('root', ['kms', 'create-key', '--description', `cli ${cli}`])) as { KeyMetadata: { KeyId: string; Arn: string } }).KeyMetadata;
      assert.deepEqual((JSON.parse(await ok('root', ['kms', 'list-key-policies', '--key-id', k2.KeyId])) as { PolicyNames: string[] }).PolicyNames, ['default']);
      await ok('alice', ['kms', 'encrypt', '--key-id', k2.KeyId, '--plaintext', pt]);
      const p2 = policy(
        rootStatement(),
        { Sid: 'No encrypt for alice', Effect: 'Deny', Principal: { AWS: arn(accountId, 'alice') }, Action: 'kms:Encrypt', Resource: '*' },
        { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: arn(otherAccount, 'dave') }, Action: 'kms:Encrypt', Resource: '*' },
      );
      await ok('root', ['kms', 'put-key-policy', '--key-id', k2.KeyId, '--policy-name', 'default', '--policy', file('p2', p2)]);
      assert.equal((await ok('root', ['kms', 'get-key-policy', '--key-id', k2.KeyId, '--policy-name', 'default', '--query', 'Policy', '--output', 'text'])).trim(), p2);
      assert.match(await fails('alice', ['kms', 'encrypt', '--key-id', k2.KeyId, '--plaintext', pt], 'AccessDeniedException'), /explicit deny in a resource-based policy/);
      assert.equal((JSON.parse(await ok('dave', ['kms', 'encrypt', '--key-id', k2.Arn, '--plaintext', pt])) as { KeyId: string }).KeyId, k2.Arn);
      await fails('erin', ['kms', 'encrypt', '--key-id', k2.Arn, '--plaintext', pt], 'AccessDeniedException');

      // malformed documents: refused with a useful message, nothing stored changes
      assert.match(await fails('root', ['kms', 'put-key-policy', '--key-id', k2.KeyId, '--policy-name', 'default', '--policy', file('bad', '{"Statement": [{"Effect": "Allow"')], 'MalformedPolicyDocumentException'), /not valid JSON/);
      assert.match(
        await fails('root', ['kms', 'put-key-policy', '--key-id', k2.KeyId, '--policy-name', 'default', '--policy', file('bad2', policy({ Effect: 'Allow', Principal: { AWS: arn(accountId, 'carol') }, Action: 'kms:*', Resource: '*' }))], 'MalformedPolicyDocumentException'),
        /will not allow you to update the key policy/,
      );
      assert.equal((await ok('root', ['kms', 'get-key-policy', '--key-id', k2.KeyId, '--policy-name', 'default', '--query', 'Policy', '--output', 'text'])).trim(), p2);
    }),
  );
}

test(
  'every key-policy call is in the audit trail: PutKeyPolicy as request and outcome, refusals with their error code',
  guarded(async () => {
    const events = auditEvents(home).filter((e) => e['eventSource'] === 'kms.amazonaws.com');
    const ids = new Set(events.map((e) => e['requestID']));
    for (const id of requestIds) assert.ok(ids.has(id), `request ${id} is audited`);
    const put = events.filter((e) => e['eventName'] === 'PutKeyPolicy');
    assert.ok(put.some((e) => e['phase'] === 'request'));
    assert.ok(put.some((e) => e['errorCode'] === 'MalformedPolicyDocumentException'));
    assert.ok(put.some((e) => e['errorCode'] === undefined && e['phase'] !== 'request'));
    assert.ok(events.some((e) => e['eventName'] === 'GetKeyPolicy' && e['readOnly'] === true));
    assert.ok(events.some((e) => e['eventName'] === 'ListKeyPolicies'));
    assert.ok(events.some((e) => e['eventName'] === 'Encrypt' && e['errorCode'] === 'AccessDeniedException' && (e['userIdentity'] as Record<string, unknown>)['arn'] === arn(accountId, 'alice')));
    assert.ok(events.some((e) => e['eventName'] === 'Encrypt' && e['errorCode'] === undefined && (e['userIdentity'] as Record<string, unknown>)['accountId'] === otherAccount));
  }),
);
