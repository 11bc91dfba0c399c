// KMS through @aws-sdk/client-kms v3, the AWS CLI v1 and v2, and raw signed requests,
// against a Region opened in this process (its state store, IAM, root key and audit trail).
//
// The endpoint is the region's own front door, which routes `X-Amz-Target: TrentService.*`
// to KMS after SigV4 (service kms) and writes the audit records.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  ListKeysCommand,
  ReEncryptCommand,
  RetireGrantCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  paginateListKeys,
} from '@aws-sdk/client-kms';
import { RootKey, rootKeyPath, type SealedSecret } from '../../src/iam/root-key.js';
import { signRequest } from '../../src/iam/sigv4/index.js';
import { Region } from '../../src/region/region.js';
import { REFUSALS_EVENT_NAME, type RefusalCount } from '../../src/region/api/refusals.js';
import { auditEvents, cleanEnv, dumpDiagnostics, failureTracker } from '../region-fixtures.js';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

let home = '';
let region: Region | undefined;
let endpoint = '';
const run = failureTracker();
let root: Creds;
let accountId = '';
/** Plaintexts and data keys that must never reach a file. */
const secrets: Buffer[] = [];
const requestIds: string[] = [];

const guarded = run.guarded;

function client(creds: Creds = root): KMSClient {
  return new KMSClient({ endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
}

async function call<T>(p: Promise<T>): Promise<T> {
  const out = await p;
  const id = (out as { $metadata?: { requestId?: string } }).$metadata?.requestId;
  if (id) requestIds.push(id);
  return out;
}

/** The KMS exception a call fails with (the SDK error's name). */
const KMS_AUTH_REFUSALS = new Set(['InvalidSignatureException', 'UnrecognizedClientException', 'MissingAuthenticationTokenException', 'IncompleteSignatureException']);

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; $metadata?: { requestId?: string; httpStatusCode?: number } };
    // A request that did not authenticate is counted in the RefusedRequests record, not written on its own.
    if (err.$metadata?.requestId && !KMS_AUTH_REFUSALS.has(err.name)) requestIds.push(err.$metadata.requestId);
    return err.name;
  }
  throw new Error('expected the call to fail');
}

async function signedPost(target: string, body: string, creds: Creds = root): Promise<{ status: number; json: Record<string, unknown> }> {
  const u = new URL(endpoint);
  const headers = { host: u.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const s = signRequest({ method: 'POST', path: '/', query: '', headers, body }, creds, { region: 'local-1', service: 'kms', now: new Date() });
  const r = await fetch(endpoint, { method: 'POST', headers: s.headers, body });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-kms-'));
  region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000 });
  root = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
  accountId = region.credentials.accountId;
  // The region's own front door routes `X-Amz-Target: TrentService.*`: an unsigned KMS
  // request is answered in KMS's JSON error shape.
  const probe = await fetch(region.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' });
  const text = await probe.text();
  assert.ok(text.includes('"__type"'), `the front door does not answer KMS in KMS's JSON shape: ${probe.status} ${text}`);
  endpoint = region.endpoint;
});

after(async () => {
  if (region) await region.close();
  if (run.failed) dumpDiagnostics(home);
  await rm(home, { recursive: true, force: true });
});

test(
  'SDK: create, describe (id, ARN, alias), list, aliases',
  guarded(async () => {
    const kms = client();
    const k = (await call(kms.send(new CreateKeyCommand({ Description: 'sdk key', Tags: [{ TagKey: 'team', TagValue: 'storage' }] })))).KeyMetadata!;
    assert.equal(k.KeyState, 'Enabled');
    assert.equal(k.KeyManager, 'CUSTOMER');
    assert.equal(k.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(k.Arn, `arn:aws:kms:local-1:${accountId}:key/${k.KeyId}`);
    assert.ok(k.CreationDate instanceof Date && Math.abs(k.CreationDate.getTime() - Date.now()) < 60_000);
    await call(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk', TargetKeyId: k.KeyId })));
    for (const id of [k.KeyId!, k.Arn!, 'alias/sdk', `arn:aws:kms:local-1:${accountId}:alias/sdk`]) {
      assert.equal((await call(kms.send(new DescribeKeyCommand({ KeyId: id })))).KeyMetadata?.KeyId, k.KeyId);
    }
    assert.equal(await errorName(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk', TargetKeyId: k.KeyId }))), 'AlreadyExistsException');
    assert.equal(await errorName(kms.send(new DescribeKeyCommand({ KeyId: 'alias/missing' }))), 'NotFoundException');
    for (let i = 0; i < 3; i++) await call(kms.send(new CreateKeyCommand({})));
    const ids: string[] = [];
    for await (const page of paginateListKeys({ client: kms, pageSize: 2 }, {})) ids.push(...(page.Keys ?? []).map((x) => x.KeyId!));
    assert.ok(ids.length >= 4 && ids.includes(k.KeyId!));
    assert.equal(new Set(ids).size, ids.length);
    const aliases = await call(kms.send(new ListAliasesCommand({ KeyId: k.KeyId })));
    assert.deepEqual(aliases.Aliases?.map((a) => a.AliasName), ['alias/sdk']);
  }),
);

test(
  'SDK: encrypt/decrypt with a context, data keys, re-encrypt; a wrong context is InvalidCiphertextException',
  guarded(async () => {
    const kms = client();
    const k = (await call(kms.send(new CreateKeyCommand({})))).KeyMetadata!;
    const pt = Buffer.from('plaintext-5c1e9d7a-never-in-a-file');
    secrets.push(pt);
    const ctx = { 'aws:ebs:id': 'vol-0123456789abcdef0', purpose: 'test' };
    const enc = await call(kms.send(new EncryptCommand({ KeyId: 'alias/sdk', Plaintext: pt, EncryptionContext: ctx })));
    assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const dec = await call(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx })));
    assert.deepEqual(Buffer.from(dec.Plaintext!), pt);
    assert.match(dec.KeyId!, /^arn:aws:kms:local-1:/);
    assert.equal(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { ...ctx, purpose: 'other' } }))), 'InvalidCiphertextException');
    assert.equal(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))), 'InvalidCiphertextException');
    assert.equal(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx, KeyId: k.KeyId }))), 'IncorrectKeyException');

    const dk = await call(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: ctx })));
    assert.equal(dk.Plaintext?.length, 32);
    secrets.push(Buffer.from(dk.Plaintext!));
    assert.deepEqual(Buffer.from((await call(kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx })))).Plaintext!), Buffer.from(dk.Plaintext!));
    assert.equal((await call(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, NumberOfBytes: 64 })))).Plaintext?.length, 64);
    const np = await call(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.Arn, KeySpec: 'AES_128' })));
    assert.equal(Object.hasOwn(np, 'Plaintext'), false);
    assert.equal((await call(kms.send(new DecryptCommand({ CiphertextBlob: np.CiphertextBlob })))).Plaintext?.length, 16);
    assert.equal(await errorName(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId }))), 'ValidationException');

    const re = await call(kms.send(new ReEncryptCommand({ CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: ctx, DestinationKeyId: 'alias/sdk', DestinationEncryptionContext: { new: 'ctx' } })));
    assert.equal(re.SourceKeyId, k.Arn);
    const back = await call(kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { new: 'ctx' } })));
    assert.deepEqual(Buffer.from(back.Plaintext!), Buffer.from(dk.Plaintext!));
  }),
);

test(
  'SDK: disable → DisabledException; schedule deletion → KMSInvalidStateException; cancel; rotation keeps old ciphertexts',
  guarded(async () => {
    const kms = client();
    const k = (await call(kms.send(new CreateKeyCommand({})))).KeyMetadata!;
    const old = await call(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('v1 data') })));
    await call(kms.send(new DisableKeyCommand({ KeyId: k.KeyId })));
    assert.equal(await errorName(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') }))), 'DisabledException');
    assert.equal(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))), 'DisabledException');
    await call(kms.send(new EnableKeyCommand({ KeyId: k.KeyId })));

    assert.equal(await errorName(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 3 }))), 'ValidationException');
    const del = await call(kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 })));
    assert.equal(del.KeyState, 'PendingDeletion');
    assert.ok(Math.abs(del.DeletionDate!.getTime() - (Date.now() + 7 * 86_400_000)) < 120_000);
    assert.equal(await errorName(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('x') }))), 'KMSInvalidStateException');
    assert.equal(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))), 'KMSInvalidStateException');
    await call(kms.send(new CancelKeyDeletionCommand({ KeyId: k.KeyId })));
    assert.equal((await call(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId })))).KeyMetadata?.KeyState, 'Disabled');
    await call(kms.send(new EnableKeyCommand({ KeyId: k.KeyId })));

    await call(kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId })));
    const st = await call(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId })));
    assert.equal(st.KeyRotationEnabled, true);
    assert.equal(st.RotationPeriodInDays, 365);
    await call(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })));
    const fresh = await call(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('v2 data') })));
    assert.notDeepEqual(Buffer.from(fresh.CiphertextBlob!).subarray(42, 46), Buffer.from(old.CiphertextBlob!).subarray(42, 46), 'a new material version');
    assert.equal(Buffer.from((await call(kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob })))).Plaintext!).toString(), 'v1 data');
    assert.equal(Buffer.from((await call(kms.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob })))).Plaintext!).toString(), 'v2 data');
  }),
);

test(
  'SDK: a second IAM user is denied until a grant allows it, within its constraints; retiring the grant ends it',
  guarded(async () => {
    const r = region!;
    await r.iam.createUser(accountId, 'kms-alice');
    const ak = await r.iam.createAccessKey(accountId, 'kms-alice');
    const alice = client({ accessKeyId: ak.accessKeyId, secretAccessKey: ak.secretAccessKey });
    const kms = client();
    const k = (await call(kms.send(new CreateKeyCommand({})))).KeyMetadata!;
    const ctx = { 'aws:ebs:id': 'vol-aaaaaaaaaaaaaaaaa' };
    const blob = (await call(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('for alice'), EncryptionContext: ctx })))).CiphertextBlob;
    assert.equal(await errorName(alice.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx }))), 'AccessDeniedException');
    assert.equal(await errorName(alice.send(new CreateKeyCommand({}))), 'AccessDeniedException');
    const g = await call(
      kms.send(
        new CreateGrantCommand({
          KeyId: k.KeyId,
          GranteePrincipal: `arn:aws:iam::${accountId}:user/kms-alice`,
          Operations: ['Decrypt', 'RetireGrant'],
          Constraints: { EncryptionContextSubset: ctx },
          Name: 'alice-decrypt',
        }),
      ),
    );
    assert.match(g.GrantId!, /^[0-9a-f]{64}$/);
    const d = await call(alice.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx, GrantTokens: [g.GrantToken!] })));
    assert.equal(Buffer.from(d.Plaintext!).toString(), 'for alice');
    const other = (await call(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('not for alice'), EncryptionContext: { 'aws:ebs:id': 'vol-b' } })))).CiphertextBlob;
    assert.equal(await errorName(alice.send(new DecryptCommand({ CiphertextBlob: other, EncryptionContext: { 'aws:ebs:id': 'vol-b' } }))), 'AccessDeniedException');
    assert.equal(await errorName(alice.send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('x'), EncryptionContext: ctx }))), 'AccessDeniedException');
    const grants = await call(kms.send(new ListGrantsCommand({ KeyId: k.KeyId })));
    assert.equal(grants.Grants?.length, 1);
    assert.deepEqual(grants.Grants?.[0]?.Operations, ['Decrypt', 'RetireGrant']);
    assert.deepEqual(grants.Grants?.[0]?.Constraints?.EncryptionContextSubset, ctx);
    assert.equal(grants.Grants?.[0]?.GranteePrincipal, `arn:aws:iam::${accountId}:user/kms-alice`);
    await call(alice.send(new RetireGrantCommand({ GrantToken: g.GrantToken })));
    assert.equal((await call(kms.send(new ListGrantsCommand({ KeyId: k.KeyId })))).Grants?.length, 0);
    assert.equal(await errorName(alice.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx }))), 'AccessDeniedException');
  }),
);

test(
  'SDK: another account cannot reach a key: NotFoundException by id or alias, AccessDeniedException by ARN or ciphertext',
  guarded(async () => {
    const r = region!;
    const acct2 = await r.iam.createAccount('tenant-2');
    const k2 = await r.iam.createAccessKey(acct2.accountId, 'root');
    const mallory = client({ accessKeyId: k2.accessKeyId, secretAccessKey: k2.secretAccessKey });
    const kms = client();
    const k = (await call(kms.send(new CreateKeyCommand({})))).KeyMetadata!;
    const blob = (await call(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('tenant 1 only') })))).CiphertextBlob;
    assert.equal(await errorName(mallory.send(new DescribeKeyCommand({ KeyId: k.KeyId }))), 'NotFoundException');
    assert.equal(await errorName(mallory.send(new DescribeKeyCommand({ KeyId: 'alias/sdk' }))), 'NotFoundException');
    assert.equal(await errorName(mallory.send(new DescribeKeyCommand({ KeyId: k.Arn }))), 'AccessDeniedException');
    assert.equal(await errorName(mallory.send(new EncryptCommand({ KeyId: k.Arn, Plaintext: Buffer.from('x') }))), 'AccessDeniedException');
    assert.equal(await errorName(mallory.send(new DecryptCommand({ CiphertextBlob: blob }))), 'AccessDeniedException');
    assert.equal(await errorName(mallory.send(new DisableKeyCommand({ KeyId: k.Arn }))), 'AccessDeniedException');
    const mine = await call(mallory.send(new ListKeysCommand({})));
    assert.equal(mine.Keys?.some((x) => x.KeyId === k.KeyId), false);
  }),
);

test(
  'SDK: alias/aws/ebs is an AWS-managed key created on first use, one per account',
  guarded(async () => {
    const kms = client();
    const m = (await call(kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' })))).KeyMetadata!;
    assert.equal(m.KeyManager, 'AWS');
    assert.equal(m.KeyState, 'Enabled');
    assert.equal((await call(kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' })))).KeyMetadata?.KeyId, m.KeyId);
    const aliases = (await call(kms.send(new ListAliasesCommand({})))).Aliases ?? [];
    assert.equal(aliases.find((a) => a.AliasName === 'alias/aws/ebs')?.TargetKeyId, m.KeyId);
    assert.equal(await errorName(kms.send(new DisableKeyCommand({ KeyId: m.KeyId }))), 'AccessDeniedException');
    assert.equal(await errorName(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: m.KeyId }))), 'InvalidAliasNameException');
  }),
);

test(
  'wire: bad credentials, unknown operations and malformed bodies get KMS JSON errors',
  guarded(async () => {
    assert.equal(await errorName(client({ accessKeyId: root.accessKeyId, secretAccessKey: 'x'.repeat(40) }).send(new ListKeysCommand({}))), 'InvalidSignatureException');
    assert.equal(await errorName(client({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x'.repeat(40) }).send(new ListKeysCommand({}))), 'UnrecognizedClientException');
    const unknown = await signedPost('TrentService.Frobnicate', '{}');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json['__type'], 'UnknownOperationException');
    const bad = await signedPost('TrentService.Encrypt', '{not json');
    assert.equal(bad.json['__type'], 'SerializationException');
    const wrongType = await signedPost('TrentService.Encrypt', JSON.stringify({ KeyId: 5, Plaintext: 'eA==' }));
    assert.equal(wrongType.json['__type'], 'SerializationException');
    const missing = await signedPost('TrentService.DescribeKey', '{}');
    assert.equal(missing.json['__type'], 'ValidationException');
    const unsigned = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' });
    assert.equal(((await unsigned.json()) as Record<string, unknown>)['__type'], 'MissingAuthenticationTokenException');
  }),
);

for (const [cli, bin] of [
  ['v1', 'aws'],
  ['v2', '/usr/bin/aws'],
] as const) {
  test(
    `AWS CLI ${cli} (${bin}): create-key, alias, encrypt/decrypt round trip, data key, disable`,
    guarded(async () => {
      const cfg = join(home, `aws-${cli}`);
      writeFileSync(`${cfg}.credentials`, `[nitride]\naws_access_key_id = ${root.accessKeyId}\naws_secret_access_key = ${root.secretAccessKey}\n`, { mode: 0o600 });
      writeFileSync(`${cfg}.config`, `[profile nitride]\nregion = local-1\noutput = json\n`, { mode: 0o600 });
      const env = cleanEnv({ AWS_SHARED_CREDENTIALS_FILE: `${cfg}.credentials`, AWS_CONFIG_FILE: `${cfg}.config`, AWS_PAGER: '' });
      // asynchronous: the KMS listener may be in this very process
      const run = (args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
        new Promise((resolve, reject) => {
          execFile(bin, ['--profile', 'nitride', '--endpoint-url', endpoint, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
            if (err && typeof err.code !== 'number') reject(new Error(`the AWS CLI ${cli} (${bin}) could not run: ${err.message}`));
            else resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
          });
        });
      const json = async <T>(args: string[]): Promise<T> => {
        const r = await run([...args, '--output', 'json']);
        assert.equal(r.status, 0, `aws ${args.join(' ')}: ${r.stderr}`);
        return JSON.parse(r.stdout) as T;
      };
      const key = (await json<{ KeyMetadata: { KeyId: string; Arn: string; KeyState: string } }>(['kms', 'create-key', '--description', `cli ${cli}`])).KeyMetadata;
      assert.equal(key.KeyState, 'Enabled');
      assert.equal((await run(['kms', 'create-alias', '--alias-name', `alias/cli-${cli}`, '--target-key-id', key.KeyId])).status, 0);
      assert.equal((await json<{ KeyMetadata: { Arn: string } }>(['kms', 'describe-key', '--key-id', `alias/cli-${cli}`])).KeyMetadata.Arn, key.Arn);
      assert.ok((await json<{ Keys: { KeyId: string }[] }>(['kms', 'list-keys'])).Keys.some((k) => k.KeyId === key.KeyId));
      assert.ok((await json<{ Aliases: { AliasName: string }[] }>(['kms', 'list-aliases'])).Aliases.some((a) => a.AliasName === `alias/cli-${cli}`));

      const plain = Buffer.from(`cli-${cli}-plaintext-9e8d7c`);
      secrets.push(plain);
      const ptFile = join(home, `pt-${cli}`);
      writeFileSync(ptFile, plain);
      const enc = await json<{ CiphertextBlob: string; KeyId: string }>(['kms', 'encrypt', '--key-id', `alias/cli-${cli}`, '--plaintext', `fileb://${ptFile}`, '--encryption-context', 'app=cli']);
      assert.equal(enc.KeyId, key.Arn);
      const ctFile = join(home, `ct-${cli}`);
      writeFileSync(ctFile, Buffer.from(enc.CiphertextBlob, 'base64'));
      const dec = await json<{ Plaintext: string }>(['kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', 'app=cli']);
      assert.deepEqual(Buffer.from(dec.Plaintext, 'base64'), plain);
      const wrong = await run(['kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', 'app=other']);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /InvalidCiphertextException/);

      const dk = await json<{ Plaintext: string; CiphertextBlob: string }>(['kms', 'generate-data-key', '--key-id', key.KeyId, '--key-spec', 'AES_256']);
      assert.equal(Buffer.from(dk.Plaintext, 'base64').length, 32);
      secrets.push(Buffer.from(dk.Plaintext, 'base64'));

      assert.equal((await run(['kms', 'disable-key', '--key-id', key.KeyId])).status, 0);
      const disabled = await run(['kms', 'encrypt', '--key-id', key.KeyId, '--plaintext', `fileb://${ptFile}`]);
      assert.notEqual(disabled.status, 0);
      assert.match(disabled.stderr, /DisabledException/);
      const st = await json<{ KeyRotationEnabled: boolean }>(['kms', 'get-key-rotation-status', '--key-id', key.KeyId]);
      assert.equal(st.KeyRotationEnabled, false);
      const nf = await run(['kms', 'describe-key', '--key-id', 'alias/does-not-exist']);
      assert.notEqual(nf.status, 0);
      assert.match(nf.stderr, /NotFoundException/);
    }),
  );
}

test(
  'every call is in the audit trail without plaintext; the root key is 0600; no plaintext key material or data key in any file',
  guarded(async () => {
    const r = region!;
    const events = auditEvents(home).filter((e) => e['eventSource'] === 'kms.amazonaws.com');
    const ids = new Set(events.map((e) => e['requestID']));
    for (const id of requestIds) assert.ok(ids.has(id), `request ${id} is audited`);
    assert.ok(events.some((e) => e['eventName'] === 'Decrypt' && e['errorCode'] === 'AccessDeniedException'));
    assert.ok(events.some((e) => e['eventName'] === 'ScheduleKeyDeletion' && e['phase'] === 'request'));
    // Failed authentications are counters of the RefusedRequests record (src/region/api/refusals.ts).
    await r.api.admission.refusals.flush();
    const refused = new Set(
      auditEvents(home)
        .filter((e) => e['eventName'] === REFUSALS_EVENT_NAME)
        .flatMap((e) => (e['requestParameters'] as { counts: RefusalCount[] }).counts)
        .filter((c) => c.eventSource === 'kms.amazonaws.com')
        .map((c) => c.errorCode),
    );
    for (const c of ['InvalidSignatureException', 'UnrecognizedClientException', 'MissingAuthenticationTokenException']) assert.ok(refused.has(c), `a RefusedRequests counter for ${c}`);

    assert.equal(statSync(rootKeyPath(home)).mode & 0o777, 0o600);
    // every key's material, unsealed here only to search for it
    const rk = RootKey.loadOrCreate(rootKeyPath(home));
    const material: Buffer[] = [];
    for (const e of await r.store.list<{ keyId: string; materials: { version: number; sealed: SealedSecret }[] }>('kms/keys/')) {
      for (const m of e.value.materials) material.push(Buffer.from(rk.unseal(m.sealed, `nitride/kms/key-material/v1/${e.value.keyId}/${m.version}`), 'base64'));
    }
    assert.ok(material.length >= 8);
    const rootBytes = readFileSync(rootKeyPath(home));
    const needles = [...material, ...secrets, rootBytes].flatMap((s) => [s, Buffer.from(s.toString('base64')), Buffer.from(s.toString('hex'))]);
    const files = (readdirSync(home, { recursive: true }) as string[])
      .map((f) => join(home, f))
      .filter((f) => statSync(f).isFile() && f !== rootKeyPath(home) && !/\/(pt|ct)-v[12]$/.test(f));
    assert.ok(files.some((f) => f.endsWith('state.db')) && files.some((f) => f.endsWith('audit.log')));
    for (const f of files) {
      const data = readFileSync(f);
      for (const n of needles) assert.equal(data.includes(n), false, `${f} holds a secret`);
    }
  }),
);
