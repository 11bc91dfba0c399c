// The front door's signature rules against real peers (SDK v3, both AWS CLIs, raw HTTP),
// one regression test per finding of issue 12:
//   - the credential scope must name this region and the service that answers, for EC2,
//     IAM, KMS and the EBS direct APIs, refused with each service's own error and AWS's words;
//   - KMS requires X-Amz-Target to be signed: a captured DescribeKey replayed as DisableKey is
//     refused and the key stays enabled;
//   - one canonical query: a presigned CreateTags for 'a+b' re-sent with a literal '+' is
//     refused and stores nothing;
//   - an oversized body gets a 413 in the service's shape, which the client reads (no reset,
//     no SDK retries);
//   - CreateTags on another account's volume answers InvalidVolume.NotFound; RunInstances
//     with NetworkInterface.1.NetworkInterfaceId and unknown parameters are refused.
// Every refusal leaves an audit record with its code and changes nothing stored.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTagsCommand, CreateVolumeCommand, DescribeInstancesCommand, DescribeTagsCommand, EC2Client, ImportKeyPairCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { EBSClient, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/lib/testing/node-sha256.js';
import { signRequest } from '../../src/iam/sigv4/index.js';
import type { Region } from '../../src/region/region.js';
import { BUILTIN_AMI, auditEvents, refusalAudited, refusalsAudited, auditVerify, cleanEnv, dumpDiagnostics, failureTracker, openLocalRegion, type RegionCredentials } from '../region-fixtures.js';

let home = '';
let region: Region | undefined;
let endpoint = '';
let root: RegionCredentials;
const run = failureTracker();
const guarded = run.guarded;

/** Whether the audit trail holds a refusal from `source` with `code` (its own record, or a RefusedRequests counter). */
const audited = (source: string, code: string): Promise<boolean> => refusalAudited(region!, home, { source, code });

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-front-door-'));
  region = await openLocalRegion(home);
  endpoint = region.endpoint;
  root = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
});

after(async () => {
  try {
    if (region) await region.close();
    if (home) {
      const v = auditVerify(home);
      assert.equal(v.status, 0, `audit verify: ${v.stdout}${v.stderr}`);
    }
  } finally {
    if (run.failed) dumpDiagnostics(home);
    await rm(home, { recursive: true, force: true });
  }
});

/** The SDK error a call fails with: its name, message, HTTP status and how many attempts the SDK made. */
async function sdkError(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined; attempts: number | undefined }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode, attempts: err.$metadata?.attempts };
  }
  throw new Error('expected the call to be refused');
}

/** Runs an AWS CLI (asynchronously: the region listens in this process) with a profile for `region`. */
function cli(bin: string, signingRegion: string, args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const cfg = join(home, `aws-${bin.replace(/\W/g, '')}-${signingRegion}`);
  writeFileSync(`${cfg}.credentials`, `[nitride]\naws_access_key_id = ${root.accessKeyId}\naws_secret_access_key = ${root.secretAccessKey}\n`, { mode: 0o600 });
  writeFileSync(`${cfg}.config`, `[profile nitride]\nregion = ${signingRegion}\noutput = json\n`, { mode: 0o600 });
  const env = cleanEnv({ AWS_SHARED_CREDENTIALS_FILE: `${cfg}.credentials`, AWS_CONFIG_FILE: `${cfg}.config`, AWS_PAGER: '', HOME: home });
  return new Promise((resolve, reject) => {
    execFile(bin, ['--profile', 'nitride', '--endpoint-url', endpoint, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(new Error(`the AWS CLI ${bin} could not run: ${err.message}`));
      else resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

const CLIS = [
  ['v1', 'aws'],
  ['v2', '/usr/bin/aws'],
] as const;

/** Sends hand-signed bytes and returns the status and body text. */
async function post(headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  const r = await fetch(endpoint, { method: 'POST', headers, body });
  return { status: r.status, text: await r.text() };
}

function signed(service: string, signingRegion: string, headers: Record<string, string>, body: string, creds: RegionCredentials = root): Record<string, string> {
  const host = new URL(endpoint).host;
  return signRequest({ method: 'POST', path: '/', query: '', headers: { host, ...headers }, body }, creds, { region: signingRegion, service, now: new Date() }).headers as Record<string, string>;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
const KMS_JSON = { 'content-type': 'application/x-amz-json-1.1' };

test(
  'EC2 refuses a credential scoped to another region or service (SDK, both CLIs, raw)',
  guarded(async () => {
    for (const r of ['us-east-1', 'eu-west-1']) {
      const ec2 = new EC2Client({ endpoint, region: r, credentials: root, maxAttempts: 1 });
      const e = await sdkError(ec2.send(new DescribeInstancesCommand({})));
      assert.deepEqual([e.name, e.message, e.status], ['SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${r}'. `, 403]);
      ec2.destroy();
    }
    for (const [name, bin] of CLIS) {
      const out = await cli(bin, 'eu-west-1', ['ec2', 'describe-instances']);
      assert.notEqual(out.status, 0, name);
      assert.match(out.stderr, /SignatureDoesNotMatch/, name);
      assert.match(out.stderr, /Credential should be scoped to a valid region, not 'eu-west-1'/, name);
    }
    for (const service of ['s3', 'kms', 'iam', 'ebs']) {
      const body = 'Action=DescribeInstances&Version=2016-11-15';
      const r = await post(signed(service, 'local-1', FORM, body), body);
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /<Code>SignatureDoesNotMatch<\/Code>/);
      assert.match(r.text, /Credential should be scoped to correct service: 'ec2'\. /);
    }
    // The right scope is accepted.
    const body = 'Action=DescribeInstances&Version=2016-11-15';
    assert.equal((await post(signed('ec2', 'local-1', FORM, body), body)).status, 200);
    const refused = await refusalsAudited(region!, home, { source: 'ec2.amazonaws.com', code: 'SignatureDoesNotMatch' });
    assert.ok(refused >= 2 + 2 + 4, `audit records of the refusals: ${refused}`);
  }),
);

test(
  'IAM refuses a credential scoped to another region or service (SDK, both CLIs, raw)',
  guarded(async () => {
    const iam = new IAMClient({ endpoint, region: 'us-east-1', credentials: root, maxAttempts: 1 });
    const e = await sdkError(iam.send(new ListUsersCommand({})));
    assert.deepEqual([e.name, e.message, e.status], ['SignatureDoesNotMatch', "Credential should be scoped to a valid region, not 'us-east-1'. ", 403]);
    iam.destroy();
    const ok = new IAMClient({ endpoint, region: 'local-1', credentials: root, maxAttempts: 1 });
    assert.ok(Array.isArray((await ok.send(new ListUsersCommand({}))).Users));
    ok.destroy();
    for (const [name, bin] of CLIS) {
      const out = await cli(bin, 'eu-west-1', ['iam', 'list-users']);
      assert.notEqual(out.status, 0, name);
      assert.match(out.stderr, /SignatureDoesNotMatch.*Credential should be scoped to a valid region, not 'eu-west-1'/s, name);
      assert.equal((await cli(bin, 'local-1', ['iam', 'list-users'])).status, 0, name);
    }
    for (const service of ['s3', 'kms', 'ec2']) {
      const body = 'Action=ListUsers&Version=2010-05-08';
      const r = await post(signed(service, 'local-1', FORM, body), body);
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /<Code>SignatureDoesNotMatch<\/Code>/);
      assert.match(r.text, /Credential should be scoped to correct service: 'iam'\. /);
    }
    assert.ok(await audited('iam.amazonaws.com', 'SignatureDoesNotMatch'));
  }),
);

test(
  'KMS and the EBS direct APIs refuse a credential scoped to another region or service',
  guarded(async () => {
    const kms = new KMSClient({ endpoint, region: 'eu-west-1', credentials: root, maxAttempts: 1 });
    const e = await sdkError(kms.send(new CreateKeyCommand({})));
    assert.deepEqual([e.name, e.message, e.status], ['InvalidSignatureException', "Credential should be scoped to a valid region, not 'eu-west-1'. ", 400]);
    kms.destroy();
    const body = '{}';
    const r = await post(signed('ec2', 'local-1', { ...KMS_JSON, 'x-amz-target': 'TrentService.ListKeys' }, body), body);
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.text), { __type: 'InvalidSignatureException', message: "Credential should be scoped to correct service: 'kms'. " });
    for (const [name, bin] of CLIS) {
      const out = await cli(bin, 'us-east-1', ['kms', 'list-keys']);
      assert.notEqual(out.status, 0, name);
      assert.match(out.stderr, /InvalidSignatureException.*Credential should be scoped to a valid region, not 'us-east-1'/s, name);
    }
    const ebs = new EBSClient({ endpoint, region: 'us-east-1', credentials: root, maxAttempts: 1 });
    const eb = await sdkError(ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' })));
    assert.deepEqual([eb.name, eb.message, eb.status], ['InvalidSignatureException', "Credential should be scoped to a valid region, not 'us-east-1'. ", 403]);
    ebs.destroy();
    assert.ok(await audited('kms.amazonaws.com', 'InvalidSignatureException'));
    assert.ok(await audited('ebs.amazonaws.com', 'InvalidSignatureException'));
  }),
);

test(
  'KMS: a captured DescribeKey replayed as DisableKey is refused and the key stays enabled',
  guarded(async () => {
    const kms = new KMSClient({ endpoint, region: 'local-1', credentials: root, maxAttempts: 1 });
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'replay target' }))).KeyMetadata!.KeyId!;
    // Capture the SDK's own signed DescribeKey on its way out.
    let captured: { headers: Record<string, string>; body: string } | undefined;
    kms.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers: Record<string, string>; body: string };
        captured = { headers: { ...req.headers }, body: String(req.body) };
        return next(args);
      },
      { step: 'deserialize', name: 'captureSignedRequest' },
    );
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Enabled, true);
    assert.ok(captured !== undefined);
    const target = Object.keys(captured.headers).find((h) => h.toLowerCase() === 'x-amz-target');
    assert.ok(target !== undefined);
    assert.match(String(captured.headers['authorization']), /SignedHeaders=[^,]*x-amz-target/);
    const replay = await post({ ...captured.headers, [target]: 'TrentService.DisableKey' }, captured.body);
    assert.equal(replay.status, 400);
    assert.equal((JSON.parse(replay.text) as { __type: string }).__type, 'InvalidSignatureException');
    // The same request signed without the target among the signed headers: refused before it is read.
    const host = new URL(endpoint).host;
    const narrow = signRequest({ method: 'POST', path: '/', query: '', headers: { host }, body: captured.body }, root, { region: 'local-1', service: 'kms', now: new Date() });
    const unsignedTarget = await post({ ...(narrow.headers as Record<string, string>), ...KMS_JSON, 'x-amz-target': 'TrentService.DisableKey' }, captured.body);
    assert.equal(unsignedTarget.status, 400);
    assert.deepEqual(JSON.parse(unsignedTarget.text), { __type: 'IncompleteSignatureException', message: "'X-Amz-Target' must be a signed header." });
    const fresh = new KMSClient({ endpoint, region: 'local-1', credentials: root, maxAttempts: 1 });
    const meta = (await fresh.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
    assert.deepEqual([meta.Enabled, meta.KeyState], [true, 'Enabled']);
    assert.ok(!auditEvents(home).some((ev) => ev['eventName'] === 'DisableKey' && ev['errorCode'] === undefined), 'no DisableKey succeeded');
    kms.destroy();
    fresh.destroy();
  }),
);

test(
  'Organizations: a request whose X-Amz-Target is not signed is refused before it is read, as KMS refuses it',
  guarded(async () => {
    // Both JSON 1.1 services go through one door (src/region/api/json-door.ts): the operation is
    // named by a header, so a signature that does not cover it could be replayed as another one.
    const host = new URL(endpoint).host;
    const body = '{}';
    const narrow = signRequest({ method: 'POST', path: '/', query: '', headers: { host }, body }, root, { region: 'local-1', service: 'organizations', now: new Date() });
    const r = await post({ ...(narrow.headers as Record<string, string>), ...KMS_JSON, 'x-amz-target': 'AWSOrganizationsV20161128.ListAccounts' }, body);
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.text), { __type: 'IncompleteSignatureException', Message: "'X-Amz-Target' must be a signed header." });
    assert.ok(await audited('organizations.amazonaws.com', 'IncompleteSignatureException'));
    // The same call signed as the SDK signs it (target included) is answered.
    const full = signed('organizations', 'local-1', { ...KMS_JSON, 'x-amz-target': 'AWSOrganizationsV20161128.ListAccounts' }, body);
    const ok = await post(full, body);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Array.isArray((JSON.parse(ok.text) as { Accounts?: unknown }).Accounts));
  }),
);

test(
  "a presigned CreateTags for 'a+b' re-sent with a literal '+' is refused and stores nothing",
  guarded(async () => {
    const ec2 = new EC2Client({ endpoint, region: 'local-1', credentials: root, maxAttempts: 1 });
    const material = Buffer.from('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl plus@test\n');
    const keyPairId = (await ec2.send(new ImportKeyPairCommand({ KeyName: 'plus', PublicKeyMaterial: material }))).KeyPairId!;
    const u = new URL(endpoint);
    // The SDK's own signer (the real peer) presigns the GET; it encodes '+' as %2B and ' ' as %20.
    const signer = new SignatureV4({ credentials: root, region: 'local-1', service: 'ec2', sha256: NodeSha256 });
    const presign = async (key: string, value: string): Promise<string> => {
      const req = {
        method: 'GET',
        protocol: 'http:',
        hostname: u.hostname,
        port: Number(u.port),
        path: '/',
        headers: { host: u.host },
        query: { Action: 'CreateTags', Version: '2016-11-15', 'ResourceId.1': keyPairId, 'Tag.1.Key': key, 'Tag.1.Value': value },
      };
      const p = await signer.presign(req, { expiresIn: 300 });
      const qs = Object.entries(p.query ?? {})
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`)
        .join('&');
      return `${endpoint}?${qs}`;
    };
    const tags = async (): Promise<Record<string, string>> => {
      const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [keyPairId] }] }));
      return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value!]));
    };
    // As signed: accepted, the value is 'a+b'.
    const asSigned = await presign('k1', 'a+b');
    assert.match(asSigned, /Tag\.1\.Value=a%2Bb/);
    assert.equal((await fetch(asSigned)).status, 200);
    assert.deepEqual(await tags(), { k1: 'a+b' });
    // Re-sent with a literal '+' (which reads as a space): refused, nothing stored.
    const tampered = (await presign('k2', 'a+b')).replace('a%2Bb', 'a+b');
    const r = await fetch(tampered);
    const text = await r.text();
    assert.equal(r.status, 401, text);
    assert.match(text, /<Code>AuthFailure<\/Code>/);
    assert.deepEqual(await tags(), { k1: 'a+b' });
    // A space is a space however it is encoded: %20 as signed, or '+'.
    const spaced = (await presign('k3', 'a b')).replace('a%20b', 'a+b');
    assert.equal((await fetch(spaced)).status, 200);
    assert.deepEqual(await tags(), { k1: 'a+b', k3: 'a b' });
    ec2.destroy();
  }),
);

test(
  'an oversized body gets the 413 in the service shape, read by a raw client and by the SDK without retries',
  guarded(async () => {
    const size = 2 * 1024 * 1024;
    // Raw HTTP/1.1: the whole body is written, the 413 read back, the connection closed cleanly.
    const raw = await new Promise<string>((resolve, reject) => {
      const u = new URL(endpoint);
      const s = connect(Number(u.port), u.hostname);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('error', reject);
      s.on('end', () => resolve(got));
      s.write(`POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${size}\r\n\r\n`);
      s.write(Buffer.alloc(size, 0x61)); // not end(): a client that half-closes has gone away
    });
    assert.match(raw, /^HTTP\/1\.1 413 /);
    assert.match(raw, /<Code>RequestEntityTooLarge<\/Code>/);
    assert.match(raw, /connection: close/i);

    // The SDKs, default retry policy: one attempt, the service's own error.
    const ec2 = new EC2Client({ endpoint, region: 'local-1', credentials: root });
    const e = await sdkError(ec2.send(new CreateTagsCommand({ Resources: ['vol-0123456789abcdef0'], Tags: [{ Key: 'big', Value: 'x'.repeat(size) }] })));
    assert.deepEqual([e.name, e.status, e.attempts], ['RequestEntityTooLarge', 413, 1]);
    ec2.destroy();
    const kms = new KMSClient({ endpoint, region: 'local-1', credentials: root });
    const k = await sdkError(kms.send(new EncryptCommand({ KeyId: 'alias/none', Plaintext: Buffer.alloc(size) })));
    assert.deepEqual([k.name, k.status, k.attempts], ['ValidationException', 413, 1]);
    kms.destroy();
    assert.ok(await audited('ec2.amazonaws.com', 'RequestEntityTooLarge'));
    assert.ok(await audited('kms.amazonaws.com', 'ValidationException'));
  }),
);

test(
  "CreateTags on another account's volume is InvalidVolume.NotFound; unsupported parameters are refused, not ignored",
  guarded(async () => {
    const ec2 = new EC2Client({ endpoint, region: 'local-1', credentials: root, maxAttempts: 1 });
    const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }))).VolumeId!;
    const other = await region!.iam.createAccount('tenant-b');
    const key = await region!.iam.createAccessKey(other.accountId, 'root');
    const theirs = new EC2Client({ endpoint, region: 'local-1', credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, maxAttempts: 1 });
    const e = await sdkError(theirs.send(new CreateTagsCommand({ Resources: [vol], Tags: [{ Key: 'x', Value: 'y' }] })));
    assert.deepEqual([e.name, e.message], ['InvalidVolume.NotFound', `The volume '${vol}' does not exist.`]);
    theirs.destroy();
    for (const [name, bin] of CLIS) {
      const out = await cli(bin, 'local-1', ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--count', '1', '--network-interfaces', 'DeviceIndex=0,NetworkInterfaceId=eni-0123456789abcdef0']);
      assert.notEqual(out.status, 0, name);
      assert.match(out.stderr, /InvalidParameterValue.*NetworkInterface\.1\.NetworkInterfaceId/s, name);
    }
    const ni = await sdkError(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, MinCount: 1, MaxCount: 1, NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0123456789abcdef0' }] })));
    assert.equal(ni.name, 'InvalidParameterValue');
    // Values Nitride does not implement, through the SDK and the CLIs' own options.
    const az = await sdkError(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'local-1z' } })));
    assert.deepEqual([az.name, az.message], ['InvalidParameterValue', 'Invalid availability zone: [local-1z]']);
    const monitoring = await sdkError(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, MinCount: 1, MaxCount: 1, Monitoring: { Enabled: true } })));
    assert.equal(monitoring.name, 'InvalidParameterValue');
    for (const [name, bin] of CLIS) {
      for (const option of [['--monitoring', 'Enabled=true'], ['--kernel-id', 'aki-12345678']]) {
        const out = await cli(bin, 'local-1', ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--count', '1', ...option]);
        assert.notEqual(out.status, 0, `${name} ${option.join(' ')}`);
        assert.match(out.stderr, /InvalidParameterValue/, `${name} ${option.join(' ')}`);
      }
    }
    const body = `Action=DescribeInstances&Version=2016-11-15&Frobnicate=1`;
    const r = await post(signed('ec2', 'local-1', FORM, body), body);
    assert.equal(r.status, 400);
    assert.match(r.text, /<Code>UnknownParameter<\/Code><Message>The parameter Frobnicate is not recognized\.<\/Message>/);
    // A POST's signed query string is read with its body, never ignored.
    const host = new URL(endpoint).host;
    const form = 'Action=DescribeInstances&Version=2016-11-15';
    for (const [query, want] of [
      ['Frobnicate=1', /<Code>UnknownParameter<\/Code>/],
      ['Action=TerminateInstances', /<Code>InvalidParameterValue<\/Code><Message>The parameter Action is specified more than once\.<\/Message>/],
    ] as const) {
      const sq = signRequest({ method: 'POST', path: '/', query, headers: { host, ...FORM }, body: form }, root, { region: 'local-1', service: 'ec2', now: new Date() });
      const rq = await fetch(`${endpoint}?${query}`, { method: 'POST', headers: sq.headers as Record<string, string>, body: form });
      assert.equal(rq.status, 400);
      assert.match(await rq.text(), want);
    }
    assert.equal((await ec2.send(new DescribeInstancesCommand({}))).Reservations?.length ?? 0, 0, 'no instance was launched');
    ec2.destroy();
  }),
);
