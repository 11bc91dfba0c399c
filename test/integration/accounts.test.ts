// Tenants: the operator makes, lists and closes accounts with `nitride account` (Organizations'
// CreateAccount, ListAccounts, DescribeAccount, CloseAccount, DescribeCreateAccountStatus and
// ListCreateAccountStatus through the region's API), against a region in this process (no
// host). Proves: the new account's root key is written as an AWS CLI profile both CLIs use and
// printed once; only the operator's account reaches the operations (another account and an
// unprivileged user of the operator's get AccessDeniedException, audited); bad input gets
// Organizations' codes; a closed account's keys stop at once on every service with that
// service's unknown-key code, nothing it owns changes in the store, and nothing can be created
// in it; the profiles survive a restart of the region.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CreateVolumeCommand, CreateVpcCommand, DescribeKeyPairsCommand, EC2Client, ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, GetUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { EBSClient, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CloseAccountCommand,
  CreateAccountCommand,
  DescribeAccountCommand,
  DescribeCreateAccountStatusCommand,
  ListAccountsCommand,
  ListCreateAccountStatusCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import type { Region } from '../../src/region/region.js';
import { readAwsProfile } from '../../src/lib/aws-profile.js';
import { signRequest } from '../../src/iam/sigv4/index.js';
import { CLIS, CLI_MAIN, auditEvents, refusalAudited, cleanEnv, cleanupHome, openLocalRegion, type CliName, sdkErrorCode } from '../region-fixtures.js';

interface Creds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
      const status = e === null ? 0 : typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

const code = sdkErrorCode;

test('tenants: nitride account create/list/close through Organizations, operator only, and a closed account stops at once', { timeout: 300_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-accounts-'));
  let region: Region | undefined;
  let failed = true;
  try {
    region = await openLocalRegion(home);
    const endpoint = region.endpoint;
    const opts = (creds: Creds) => ({ endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
    const operator = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
    const org = new OrganizationsClient(opts(operator));
    const nitride = (...args: string[]) => run(process.execPath, [CLI_MAIN, 'account', ...args], cleanEnv({ NITRIDE_HOME: home }));
    const awsEnv = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home });
    const aws = (cli: CliName, profile: string, args: string[]) => run(CLIS[cli], ['--profile', profile, ...(cli === 'v2' ? ['--endpoint-url', endpoint] : []), ...args], awsEnv);

    // create: the root key printed once and written as a profile both CLIs use
    const made = await nitride('create', 'tenant-a');
    assert.equal(made.status, 0, made.stderr);
    const prof = readAwsProfile(home, 'tenant-a');
    assert.ok(prof, 'profile tenant-a written');
    assert.ok(made.stdout.includes(prof.secretAccessKey), 'the secret is printed');
    assert.equal(made.stdout.split(prof.secretAccessKey).length, 2, 'printed once');
    assert.equal(prof.endpointUrl, endpoint);
    assert.equal(prof.region, 'local-1');
    const accountA = /account (\d{12}) \(tenant-a\) created/.exec(made.stdout)?.[1];
    assert.ok(accountA, made.stdout);
    assert.ok(readAwsProfile(home, 'nitride'), "the operator's profile is kept");
    for (const cli of ['v1', 'v2'] as CliName[]) {
      const r = await aws(cli, 'tenant-a', ['ec2', 'describe-key-pairs', '--output', 'json']);
      assert.equal(r.status, 0, `${cli}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), { KeyPairs: [] });
      const me = await aws(cli, 'tenant-a', ['iam', 'get-user', '--output', 'json']);
      assert.equal(me.status, 0, `${cli}: ${me.stderr}`);
      assert.equal((JSON.parse(me.stdout) as { User: { Arn: string } }).User.Arn, `arn:aws:iam::${accountA}:root`);
    }
    // a profile name that exists is refused before any account is made
    const again = await nitride('create', 'tenant-a');
    assert.equal(again.status, 2);
    assert.match(again.stderr, /profile 'tenant-a' exists/);

    // list (CLI and SDK, paginated), describe, create statuses
    const listed = await nitride('list', '--json');
    assert.equal(listed.status, 0, listed.stderr);
    const accounts = (JSON.parse(listed.stdout) as { accounts: { Id: string; Name: string; State: string }[] }).accounts;
    assert.deepEqual(accounts.map((a) => a.Id).sort(), [region.credentials.accountId, accountA].sort());
    const p1 = await org.send(new ListAccountsCommand({ MaxResults: 1 }));
    assert.equal(p1.Accounts?.length, 1);
    const p2 = await org.send(new ListAccountsCommand({ MaxResults: 1, NextToken: p1.NextToken! }));
    assert.equal(p2.Accounts?.length, 1);
    assert.equal(p2.NextToken, undefined);
    assert.notEqual(p1.Accounts![0]!.Id, p2.Accounts![0]!.Id);
    const da = (await org.send(new DescribeAccountCommand({ AccountId: accountA }))).Account!;
    assert.equal(da.Name, 'tenant-a');
    assert.equal(da.Status, 'ACTIVE');
    assert.equal(da.JoinedMethod, 'CREATED');
    assert.match(da.Arn ?? '', new RegExp(`^arn:aws:organizations::${region.credentials.accountId}:account/o-[a-z0-9]{10,32}/${accountA}$`));
    const described = await nitride('describe', accountA);
    assert.equal(described.status, 0, described.stderr);
    assert.match(described.stdout, new RegExp(`^${accountA}  ACTIVE .* tenant-a <tenant-a@accounts\\.nitride\\.invalid>$`, 'm'));
    // both AWS CLIs: the operator lists accounts, a tenant is refused
    for (const cli of ['v1', 'v2'] as CliName[]) {
      const mine = await aws(cli, 'nitride', ['organizations', 'list-accounts', '--output', 'json']);
      assert.equal(mine.status, 0, `${cli}: ${mine.stderr}`);
      assert.ok((JSON.parse(mine.stdout) as { Accounts: { Id: string }[] }).Accounts.some((a) => a.Id === accountA));
      const theirs = await aws(cli, 'tenant-a', ['organizations', 'list-accounts']);
      assert.notEqual(theirs.status, 0);
      assert.match(theirs.stderr, /\(AccessDeniedException\)/, `${cli}: ${theirs.stderr}`);
    }
    const created = await org.send(new CreateAccountCommand({ AccountName: 'tenant-b', Email: 'b@example.invalid' }));
    assert.equal(created.CreateAccountStatus?.State, 'SUCCEEDED');
    const accountB = created.CreateAccountStatus!.AccountId!;
    const st = await org.send(new DescribeCreateAccountStatusCommand({ CreateAccountRequestId: created.CreateAccountStatus!.Id! }));
    assert.equal(st.CreateAccountStatus?.AccountId, accountB);
    const dup = await org.send(new CreateAccountCommand({ AccountName: 'tenant-b2', Email: 'B@example.invalid' }));
    assert.equal(dup.CreateAccountStatus?.State, 'FAILED');
    assert.equal(dup.CreateAccountStatus?.FailureReason, 'EMAIL_ALREADY_EXISTS');
    const failedOnly = await org.send(new ListCreateAccountStatusCommand({ States: ['FAILED'] }));
    assert.deepEqual(failedOnly.CreateAccountStatuses?.map((s) => s.Id), [dup.CreateAccountStatus!.Id]);

    // bad input: Organizations' own codes, nothing made
    const before = (await org.send(new ListAccountsCommand({}))).Accounts!.length;
    assert.equal(await code(org.send(new CreateAccountCommand({ AccountName: 'x', Email: 'not-an-email' }))), 'InvalidInputException');
    assert.equal(await code(org.send(new CreateAccountCommand({ AccountName: 'x'.repeat(51), Email: 'x@example.invalid' }))), 'InvalidInputException');
    assert.equal(await code(org.send(new ListAccountsCommand({ MaxResults: 21 }))), 'InvalidInputException');
    assert.equal(await code(org.send(new ListAccountsCommand({ NextToken: 'bogus' }))), 'InvalidInputException');
    assert.equal(await code(org.send(new DescribeAccountCommand({ AccountId: '000000000000' }))), 'AccountNotFoundException');
    assert.equal(await code(org.send(new DescribeCreateAccountStatusCommand({ CreateAccountRequestId: 'car-00000000' }))), 'CreateAccountStatusNotFoundException');
    assert.equal(await code(org.send(new CloseAccountCommand({ AccountId: region.credentials.accountId }))), 'ConstraintViolationException');
    assert.equal((await org.send(new ListAccountsCommand({}))).Accounts!.length, before);

    // the signature's scope: Organizations of this region only
    assert.equal(await code(new OrganizationsClient({ ...opts(operator), region: 'us-east-1' }).send(new ListAccountsCommand({}))), 'InvalidSignatureException');
    assert.equal(await code(new EC2Client(opts(operator)).send(new DescribeKeyPairsCommand({}))), 'no error');
    // … and the signature must cover the operation's header: CloseAccount re-labelled from a signed ListAccounts is refused
    const form = JSON.stringify({ AccountId: accountA });
    const url = new URL(endpoint);
    const signed = signRequest({ method: 'POST', path: '/', query: '', headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1' }, body: form }, operator, { region: 'local-1', service: 'organizations' });
    const relabelled = await fetch(endpoint, { method: 'POST', headers: { ...signed.headers, 'x-amz-target': 'AWSOrganizationsV20161128.CloseAccount' }, body: form });
    assert.equal(relabelled.status, 400);
    // refused before the signature is computed, as KMS refuses it (one JSON 1.1 door)
    assert.deepEqual(await relabelled.json(), { __type: 'IncompleteSignatureException', Message: "'X-Amz-Target' must be a signed header." });
    assert.equal((await org.send(new DescribeAccountCommand({ AccountId: accountA }))).Account?.State, 'ACTIVE');

    // operator only: another account, and an operator's user without a policy, are refused (and audited)
    const orgA = new OrganizationsClient(opts({ accessKeyId: prof.accessKeyId, secretAccessKey: prof.secretAccessKey }));
    assert.equal(await code(orgA.send(new ListAccountsCommand({}))), 'AccessDeniedException');
    assert.equal(await code(orgA.send(new CreateAccountCommand({ AccountName: 'by-a', Email: 'a@example.invalid' }))), 'AccessDeniedException');
    assert.equal(await code(orgA.send(new CloseAccountCommand({ AccountId: accountB }))), 'AccessDeniedException');
    const asA = await nitride('list', '--as', 'tenant-a');
    assert.equal(asA.status, 1);
    assert.match(asA.stderr, /AccessDeniedException/);
    const iamOp = new IAMClient(opts(operator));
    await iamOp.send(new CreateUserCommand({ UserName: 'clerk' }));
    const clerkKey = (await iamOp.send(new CreateAccessKeyCommand({ UserName: 'clerk' }))).AccessKey!;
    const orgClerk = new OrganizationsClient(opts({ accessKeyId: clerkKey.AccessKeyId!, secretAccessKey: clerkKey.SecretAccessKey! }));
    assert.equal(await code(orgClerk.send(new ListAccountsCommand({}))), 'AccessDeniedException');
    await iamOp.send(new PutUserPolicyCommand({ UserName: 'clerk', PolicyName: 'list', PolicyDocument: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"organizations:ListAccounts","Resource":"*"}}' }));
    assert.equal((await orgClerk.send(new ListAccountsCommand({}))).Accounts?.length, before);
    assert.equal(await code(orgClerk.send(new CloseAccountCommand({ AccountId: accountB }))), 'AccessDeniedException');

    // A owns things; its user has a key
    const credsA = { accessKeyId: prof.accessKeyId, secretAccessKey: prof.secretAccessKey };
    const ec2A = new EC2Client(opts(credsA));
    const kmsA = new KMSClient(opts(credsA));
    const iamA = new IAMClient(opts(credsA));
    await ec2A.send(new ImportKeyPairCommand({ KeyName: 'a', PublicKeyMaterial: Buffer.from('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnbLw2kCW1RVeDwLbbYb9Bu8FSn5G4Qh8hNAwHdMdz0 a') }));
    await ec2A.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' }));
    await ec2A.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }));
    await kmsA.send(new CreateKeyCommand({ Description: 'a' }));
    await iamA.send(new CreateUserCommand({ UserName: 'alice' }));
    const aliceKey = (await iamA.send(new CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
    const storeOfA = async (): Promise<string> => {
      const all = await region!.store.list('');
      return JSON.stringify(all.filter((e) => e.key !== `iam/accounts/${accountA}` && JSON.stringify(e).includes(accountA)).map((e) => [e.key, e.value]));
    };
    const storedBefore = await storeOfA();
    assert.ok(storedBefore.length > 500, 'A has records in the store');

    // close: at once, every service refuses A's keys (root and user) with its unknown-key code
    const closed = await nitride('close', accountA);
    assert.equal(closed.status, 0, closed.stderr);
    const ebsA = new EBSClient(opts(credsA));
    const alice = { accessKeyId: aliceKey.AccessKeyId!, secretAccessKey: aliceKey.SecretAccessKey! };
    assert.equal(await code(ec2A.send(new DescribeKeyPairsCommand({}))), 'AuthFailure');
    assert.equal(await code(new EC2Client(opts(alice)).send(new DescribeKeyPairsCommand({}))), 'AuthFailure');
    assert.equal(await code(ec2A.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }))), 'AuthFailure');
    assert.equal(await code(iamA.send(new GetUserCommand({}))), 'InvalidClientTokenId');
    assert.equal(await code(iamA.send(new CreateUserCommand({ UserName: 'mallory' }))), 'InvalidClientTokenId');
    assert.equal(await code(kmsA.send(new ListKeysCommand({}))), 'UnrecognizedClientException');
    assert.equal(await code(kmsA.send(new CreateKeyCommand({}))), 'UnrecognizedClientException');
    assert.equal(await code(ebsA.send(new StartSnapshotCommand({ VolumeSize: 1 }))), 'UnrecognizedClientException');
    assert.equal(await code(orgA.send(new ListAccountsCommand({}))), 'UnrecognizedClientException');
    for (const cli of ['v1', 'v2'] as CliName[]) {
      const r = await aws(cli, 'tenant-a', ['ec2', 'describe-key-pairs']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /\(AuthFailure\)/, `${cli}: ${r.stderr}`);
    }
    // nothing can be made in a closed account, even by the region itself
    await assert.rejects(region.iam.createUser(accountA, 'mallory'), { code: 'NoSuchEntity' });
    await assert.rejects(region.iam.createAccessKey(accountA, 'root'), { code: 'NoSuchEntity' });
    // nothing it owns changed; it is listed as closed; closing again is refused
    assert.equal(await storeOfA(), storedBefore, "A's records in the store are unchanged");
    const dc = (await org.send(new DescribeAccountCommand({ AccountId: accountA }))).Account!;
    assert.equal(dc.Status, 'SUSPENDED');
    assert.equal(dc.State, 'CLOSED');
    assert.equal(await code(org.send(new CloseAccountCommand({ AccountId: accountA }))), 'AccountAlreadyClosedException');
    // B is untouched
    assert.equal((await org.send(new DescribeAccountCommand({ AccountId: accountB }))).Account?.State, 'ACTIVE');

    // the audit trail: CreateAccount and CloseAccount by the operator before and after, the
    // refusals with their codes, and neither the new secrets nor an email anywhere
    await region.trail.flush();
    const events = auditEvents(home);
    const orgEvents = events.filter((e) => e['eventSource'] === 'organizations.amazonaws.com');
    const creates = orgEvents.filter((e) => e['eventName'] === 'CreateAccount' && e['errorCode'] === undefined);
    assert.ok(creates.length >= 2, 'CreateAccount recorded');
    assert.ok(orgEvents.some((e) => e['eventName'] === 'CloseAccount' && e['errorCode'] === undefined && (e['userIdentity'] as { accountId?: string }).accountId === region!.credentials.accountId));
    assert.ok(orgEvents.some((e) => e['eventName'] === 'ListAccounts' && e['errorCode'] === 'AccessDeniedException' && (e['userIdentity'] as { accountId?: string }).accountId === accountA));
    assert.ok(orgEvents.some((e) => e['eventName'] === 'CloseAccount' && e['errorCode'] === 'AccessDeniedException' && (e['userIdentity'] as { userName?: string }).userName === 'clerk'));
    assert.ok(await refusalAudited(region, home, { code: 'AuthFailure', accessKeyId: prof.accessKeyId }), "the closed account's refused call is audited");
    const text = await readFile(join(home, 'region', 'audit.log'), 'utf8');
    assert.ok(!text.includes(prof.secretAccessKey), "tenant-a's secret is not in the audit log");
    assert.ok(!text.includes('b@example.invalid') && !text.includes('tenant-a@accounts.nitride.invalid'), 'no email in the audit log');

    // the profiles survive a restart (with the new endpoint)
    await region.close();
    region = undefined;
    region = await openLocalRegion(home);
    const after = readAwsProfile(home, 'tenant-a');
    assert.equal(after?.accessKeyId, prof.accessKeyId);
    assert.equal(after?.endpointUrl, region.endpoint);
    assert.equal(readAwsProfile(home, 'nitride')?.accessKeyId, region.adminCredentials.accessKeyId, "the operator's profile keeps the IAM user admin's key");
    failed = false;
  } finally {
    await region?.close().catch(() => undefined);
    await cleanupHome(home, [], failed);
  }
});
