// STS end to end: @aws-sdk/client-sts (and the EC2, KMS, IAM, EBS and Organizations clients with
// session credentials), the AWS CLI v1 (`aws`) and v2 (/usr/bin/aws), against a Region opened
// in this process. A user assumes a role whose trust policy names it; the session's requests
// are allowed and denied by the role's policies on every service; GetSessionToken sessions act
// as the user. Expiry is proven with the region's session clock (RegionOptions.sessionClock, a
// test-only option): the test moves it past the session's Expiration and every service refuses
// the credentials with its own code, while the real request signature stays fresh.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, STSClient, type Credentials as StsCredentials } from '@aws-sdk/client-sts';
import { CreateVpcCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateRoleCommand, DeleteRoleCommand, DeleteRolePolicyCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand, ListRolesCommand, ListUsersCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { EBSClient, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { ListAccountsCommand, OrganizationsClient } from '@aws-sdk/client-organizations';
import { Region } from '../../src/region/region.js';
import { presignRequest } from '../../src/iam/sigv4/index.js';
import { auditEvents, awsAs, dumpDiagnostics, failureTracker, policyDocument, refusalAudited, usersWithKeys, type CliName, type CliResult, type TestCredentials } from '../region-fixtures.js';

type Creds = TestCredentials;

let home = '';
let region: Region | undefined;
let endpoint = '';
let accountId = '';
/** How far the region's session clock runs ahead of the real one. */
let clockAheadMs = 0;
const run = failureTracker();
const creds: Record<'admin' | 'root' | 'bob' | 'carol', Creds> = {} as Record<'admin' | 'root' | 'bob' | 'carol', Creds>;
const policy = policyDocument;
const userArn = (name: string): string => `arn:aws:iam::${accountId}:user/${name}`;
const roleArn = (name: string): string => `arn:aws:iam::${accountId}:role/${name}`;

const cfg = (c: Creds) => ({ endpoint, region: 'local-1', credentials: c, maxAttempts: 1 });
const sts = (c: Creds): STSClient => new STSClient(cfg(c));
const ec2 = (c: Creds): EC2Client => new EC2Client(cfg(c));
const kms = (c: Creds): KMSClient => new KMSClient(cfg(c));
const iam = (c: Creds): IAMClient => new IAMClient(cfg(c));
const session = (c: StsCredentials | undefined): Creds => ({ accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! });

/** The error a call fails with: the SDK's name, the HTTP status and the message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  throw new Error('expected the call to fail');
}

const cli = (which: CliName, c: Creds, args: readonly string[]): Promise<CliResult> => awsAs(which, home, endpoint, c, args);

async function cliJson<T>(which: CliName, c: Creds, args: readonly string[]): Promise<T> {
  const r = await cli(which, c, args);
  assert.equal(r.status, 0, `${which} ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function cliError(which: CliName, c: Creds, args: readonly string[]): Promise<string> {
  const r = await cli(which, c, args);
  assert.notEqual(r.status, 0, `${which} ${args.join(' ')} should fail: ${r.stdout}`);
  return r.stderr;
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-sts-'));
  region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, sessionClock: () => new Date(Date.now() + clockAheadMs) });
  endpoint = region.endpoint;
  accountId = region.credentials.accountId;
  creds.admin = { accessKeyId: region.adminCredentials.accessKeyId, secretAccessKey: region.adminCredentials.secretAccessKey };
  creds.root = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
  // bob: only ec2:DescribeVpcs of his own; carol: may assume any role of the account (and nothing else)
  Object.assign(creds, await usersWithKeys(region.iam, accountId, {
    bob: { vpcs: policy({ Effect: 'Allow', Action: 'ec2:DescribeVpcs', Resource: '*' }) },
    carol: { assume: policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: `arn:aws:iam::${accountId}:role/*` }) },
  }));
});

after(async () => {
  if (region) await region.close();
  if (run.failed) dumpDiagnostics(home);
  await rm(home, { recursive: true, force: true });
});

test(
  'GetCallerIdentity answers who signed, through the SDK and both CLIs, for a user and the root',
  run.guarded(async () => {
    const me = await sts(creds.bob).send(new GetCallerIdentityCommand({}));
    assert.equal(me.Account, accountId);
    assert.equal(me.Arn, userArn('bob'));
    assert.match(me.UserId!, /^AIDA[A-Z2-7]{17}$/);
    const root = await sts(creds.root).send(new GetCallerIdentityCommand({}));
    assert.deepEqual([root.Account, root.Arn, root.UserId], [accountId, `arn:aws:iam::${accountId}:root`, accountId]);
    for (const which of ['v1', 'v2'] as const) {
      const out = await cliJson<{ Account: string; Arn: string; UserId: string }>(which, creds.admin, ['sts', 'get-caller-identity']);
      assert.deepEqual([out.Account, out.Arn], [accountId, userArn('admin')], which);
    }
    // An explicit deny does not stop it (as in AWS: it needs no permission).
    await region!.iam.putUserPolicy(accountId, 'carol', 'no-sts', policy({ Effect: 'Deny', Action: 'sts:GetCallerIdentity', Resource: '*' }));
    assert.equal((await sts(creds.carol).send(new GetCallerIdentityCommand({}))).Arn, userArn('carol'));
    await region!.iam.deleteUserPolicy(accountId, 'carol', 'no-sts');
  }),
);

test(
  'roles: CreateRole, GetRole, ListRoles, role policies and the trust policy through the IAM SDK and both CLIs, with IAM\'s errors',
  run.guarded(async () => {
    const trust = policy({ Effect: 'Allow', Principal: { AWS: userArn('bob') }, Action: 'sts:AssumeRole' });
    const made = (await iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'ec2-reader', AssumeRolePolicyDocument: trust, Description: 'reads EC2', MaxSessionDuration: 7200 }))).Role!;
    assert.equal(made.Arn, roleArn('ec2-reader'));
    assert.match(made.RoleId!, /^AROA[A-Z2-7]{17}$/);
    assert.equal(made.MaxSessionDuration, 7200);
    assert.equal((await failure(iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'EC2-Reader', AssumeRolePolicyDocument: trust })))).name, 'EntityAlreadyExistsException');
    const bad = await failure(iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: policy({ Effect: 'Allow', Principal: { AWS: userArn('nobody') }, Action: 'sts:AssumeRole' }) })));
    assert.equal(bad.name, 'MalformedPolicyDocumentException');
    assert.match(bad.message, /Invalid principal in policy/);
    assert.equal((await failure(iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: policy({ Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole', Resource: '*' }) })))).name, 'MalformedPolicyDocumentException');
    assert.equal((await failure(iam(creds.bob).send(new CreateRoleCommand({ RoleName: 'by-bob', AssumeRolePolicyDocument: trust })))).name, 'AccessDenied');
    await iam(creds.admin).send(new PutRolePolicyCommand({ RoleName: 'ec2-reader', PolicyName: 'describe', PolicyDocument: policy({ Effect: 'Allow', Action: ['ec2:Describe*', 'kms:ListKeys', 'kms:DescribeKey', 'iam:ListRoles'], Resource: '*' }) }));
    assert.deepEqual((await iam(creds.admin).send(new ListRolePoliciesCommand({ RoleName: 'ec2-reader' }))).PolicyNames, ['describe']);
    assert.match(decodeURIComponent((await iam(creds.admin).send(new GetRolePolicyCommand({ RoleName: 'ec2-reader', PolicyName: 'describe' }))).PolicyDocument!), /ec2:Describe\*/);
    assert.equal(decodeURIComponent((await iam(creds.admin).send(new GetRoleCommand({ RoleName: 'ec2-reader' }))).Role!.AssumeRolePolicyDocument!), trust);
    assert.equal((await failure(iam(creds.admin).send(new GetRoleCommand({ RoleName: 'no-such' })))).name, 'NoSuchEntityException');
    for (const which of ['v1', 'v2'] as const) {
      const listed = await cliJson<{ Roles: { RoleName: string; AssumeRolePolicyDocument: unknown }[] }>(which, creds.admin, ['iam', 'list-roles']);
      assert.deepEqual(listed.Roles.map((r) => r.RoleName), ['ec2-reader'], which);
      assert.deepEqual(listed.Roles[0]!.AssumeRolePolicyDocument, JSON.parse(trust), `${which} decodes the trust policy`);
      await cliJson(which, creds.admin, ['iam', 'create-role', '--role-name', `scratch-${which}`, '--assume-role-policy-document', trust]);
      assert.match(await cliError(which, creds.admin, ['iam', 'delete-role', '--role-name', 'ec2-reader']), /\(DeleteConflict\)/, `${which}: a role with policies`);
      const del = await cli(which, creds.admin, ['iam', 'delete-role', '--role-name', `scratch-${which}`]);
      assert.equal(del.status, 0, del.stderr);
    }
    assert.equal((await iam(creds.admin).send(new ListRolesCommand({ MaxItems: 1 }))).Roles!.length, 1);
  }),
);

test(
  'AssumeRole: the trust policy decides who may assume; the session is allowed and denied by the role\'s policies on EC2, KMS and IAM; both CLIs',
  run.guarded(async () => {
    const a = await sts(creds.bob).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'bob-session', DurationSeconds: 900 }));
    assert.match(a.Credentials!.AccessKeyId!, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(a.AssumedRoleUser!.Arn, `arn:aws:sts::${accountId}:assumed-role/ec2-reader/bob-session`);
    const expSeconds = (a.Credentials!.Expiration!.getTime() - Date.now()) / 1000;
    assert.ok(expSeconds > 880 && expSeconds <= 901, `expires in ${expSeconds} s`);
    const s = session(a.Credentials);
    const who = await sts(s).send(new GetCallerIdentityCommand({}));
    assert.equal(who.Arn, `arn:aws:sts::${accountId}:assumed-role/ec2-reader/bob-session`);
    assert.match(who.UserId!, /^AROA[A-Z2-7]{17}:bob-session$/);
    // the role's policies, not bob's
    assert.ok(Array.isArray((await ec2(s).send(new DescribeVpcsCommand({}))).Vpcs));
    assert.equal((await failure(ec2(s).send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' })))).name, 'UnauthorizedOperation');
    assert.ok(Array.isArray((await kms(s).send(new ListKeysCommand({}))).Keys));
    const kmsDenied = await failure(kms(s).send(new CreateKeyCommand({})));
    assert.equal(kmsDenied.name, 'AccessDeniedException');
    assert.match(kmsDenied.message, new RegExp(`assumed-role/ec2-reader/bob-session is not authorized to perform: kms:CreateKey`));
    assert.ok(Array.isArray((await iam(s).send(new ListRolesCommand({}))).Roles));
    assert.equal((await failure(iam(s).send(new ListUsersCommand({})))).name, 'AccessDenied');
    assert.equal((await failure(new EBSClient(cfg(s)).send(new StartSnapshotCommand({ VolumeSize: 1 })))).name, 'AccessDeniedException');
    assert.equal((await failure(new OrganizationsClient(cfg(s)).send(new ListAccountsCommand({})))).name, 'AccessDeniedException');

    // Who may not: a user the trust policy does not name (even with Allow * on *), the account's root, a missing role.
    const admin = await failure(sts(creds.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1' })));
    assert.deepEqual([admin.name, admin.status], ['AccessDenied', 403]);
    assert.match(admin.message, new RegExp(`User: ${userArn('admin')} is not authorized to perform: sts:AssumeRole on resource: ${roleArn('ec2-reader')}`));
    assert.equal((await failure(sts(creds.root).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1' })))).message, 'Roles may not be assumed by root accounts.');
    assert.equal((await failure(sts(creds.bob).send(new AssumeRoleCommand({ RoleArn: roleArn('missing'), RoleSessionName: 'x1' })))).name, 'AccessDenied');
    // A trust policy that names the account delegates to IAM: carol's policy allows sts:AssumeRole, bob's does not.
    await iam(creds.admin).send(new UpdateAssumeRolePolicyCommand({ RoleName: 'ec2-reader', PolicyDocument: policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }) }));
    assert.equal((await failure(sts(creds.bob).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1' })))).name, 'AccessDenied');
    const byCarol = await sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'carol' }));
    assert.equal(byCarol.AssumedRoleUser!.Arn, `arn:aws:sts::${accountId}:assumed-role/ec2-reader/carol`);
    // Limits: MaxSessionDuration (7200 here), the model's range, role chaining's hour, the session name.
    const tooLong = await failure(sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1', DurationSeconds: 7201 })));
    assert.deepEqual([tooLong.name, tooLong.message], ['ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.']);
    assert.equal((await failure(sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1', DurationSeconds: 899 })))).name, 'ValidationError');
    assert.equal((await failure(sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'bad name' })))).name, 'ValidationError');
    await iam(creds.admin).send(new PutRolePolicyCommand({ RoleName: 'ec2-reader', PolicyName: 'chain', PolicyDocument: policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }) }));
    const chained = await failure(sts(session(byCarol.Credentials)).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'again', DurationSeconds: 3601 })));
    assert.match(chained.message, /1 hour session limit for roles assumed by role chaining/);
    assert.ok((await sts(session(byCarol.Credentials)).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'again' }))).Credentials);
    await iam(creds.admin).send(new DeleteRolePolicyCommand({ RoleName: 'ec2-reader', PolicyName: 'chain' }));

    // Both CLIs: carol assumes the role, then uses the session (AWS_SESSION_TOKEN) for EC2 and STS.
    for (const which of ['v1', 'v2'] as const) {
      const out = await cliJson<{ Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }>(which, creds.carol, ['sts', 'assume-role', '--role-arn', roleArn('ec2-reader'), '--role-session-name', `cli-${which}`]);
      const c: Creds = { accessKeyId: out.Credentials.AccessKeyId, secretAccessKey: out.Credentials.SecretAccessKey, sessionToken: out.Credentials.SessionToken };
      assert.equal((await cliJson<{ Arn: string }>(which, c, ['sts', 'get-caller-identity'])).Arn, `arn:aws:sts::${accountId}:assumed-role/ec2-reader/cli-${which}`);
      assert.ok(Array.isArray((await cliJson<{ Vpcs: unknown[] }>(which, c, ['ec2', 'describe-vpcs'])).Vpcs));
      assert.match(await cliError(which, c, ['ec2', 'create-vpc', '--cidr-block', '10.8.0.0/16']), /\(UnauthorizedOperation\)/);
      assert.match(await cliError(which, creds.admin, ['sts', 'assume-role', '--role-arn', roleArn('missing'), '--role-session-name', 'x1']), /\(AccessDenied\)/);
    }

    // Audited as the role session, with the role as session issuer; no secret or token in the trail.
    await region!.trail.flush();
    const events = auditEvents(home);
    const described = events.find((e) => e['eventName'] === 'DescribeVpcs' && (e['userIdentity'] as { type?: string }).type === 'AssumedRole');
    assert.ok(described, 'a session request is audited');
    const idn = described['userIdentity'] as { arn: string; accessKeyId: string; sessionContext: { sessionIssuer: { arn: string } } };
    assert.match(idn.accessKeyId, /^ASIA/);
    assert.equal(idn.sessionContext.sessionIssuer.arn, roleArn('ec2-reader'));
    const assumed = events.find((e) => e['eventName'] === 'AssumeRole' && e['eventSource'] === 'sts.amazonaws.com' && e['errorCode'] === undefined);
    assert.ok(assumed, 'AssumeRole is audited');
    const text = JSON.stringify(events);
    assert.ok(!text.includes(a.Credentials!.SecretAccessKey!) && !text.includes(a.Credentials!.SessionToken!), 'the session secret and token never reach the trail');
  }),
);

test(
  'AssumeRole across accounts: the trust policy names the other account, and that account\'s user also needs its own policy',
  run.guarded(async () => {
    const partner = (await region!.iam.createAccount('partner')).accountId;
    await region!.iam.createUser(partner, 'pat');
    await region!.iam.putUserPolicy(partner, 'pat', 'assume', policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn('shared') }));
    await region!.iam.createUser(partner, 'quinn');
    const pat = await region!.iam.createAccessKey(partner, 'pat');
    const quinn = await region!.iam.createAccessKey(partner, 'quinn');
    await iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'shared', AssumeRolePolicyDocument: policy({ Effect: 'Allow', Principal: { AWS: partner }, Action: 'sts:AssumeRole' }) }));
    await iam(creds.admin).send(new PutRolePolicyCommand({ RoleName: 'shared', PolicyName: 'vpcs', PolicyDocument: policy({ Effect: 'Allow', Action: 'ec2:DescribeVpcs', Resource: '*' }) }));
    const c = await sts({ accessKeyId: pat.accessKeyId, secretAccessKey: pat.secretAccessKey }).send(new AssumeRoleCommand({ RoleArn: roleArn('shared'), RoleSessionName: 'from-partner' }));
    const s = session(c.Credentials);
    const who = await sts(s).send(new GetCallerIdentityCommand({}));
    assert.deepEqual([who.Account, who.Arn], [accountId, `arn:aws:sts::${accountId}:assumed-role/shared/from-partner`], 'the session acts in the role\'s account');
    assert.ok(Array.isArray((await ec2(s).send(new DescribeVpcsCommand({}))).Vpcs));
    const q = await failure(sts({ accessKeyId: quinn.accessKeyId, secretAccessKey: quinn.secretAccessKey }).send(new AssumeRoleCommand({ RoleArn: roleArn('shared'), RoleSessionName: 'quinn' })));
    assert.equal(q.name, 'AccessDenied', 'trusted account, but no identity policy');
    assert.equal((await failure(sts(creds.bob).send(new AssumeRoleCommand({ RoleArn: roleArn('shared'), RoleSessionName: 'bob' })))).name, 'AccessDenied', 'the role\'s own account is not trusted');
  }),
);

test(
  'GetSessionToken: the session acts as the user (its policies), is refused to session credentials, and its durations are STS\'s',
  run.guarded(async () => {
    const t = await sts(creds.bob).send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
    const s = session(t.Credentials);
    assert.equal((await sts(s).send(new GetCallerIdentityCommand({}))).Arn, userArn('bob'));
    assert.ok(Array.isArray((await ec2(s).send(new DescribeVpcsCommand({}))).Vpcs));
    assert.equal((await failure(kms(s).send(new ListKeysCommand({})))).name, 'AccessDeniedException');
    const again = await failure(sts(s).send(new GetSessionTokenCommand({})));
    assert.deepEqual([again.name, again.message], ['AccessDenied', 'Cannot call GetSessionToken with session credentials']);
    const dflt = await sts(creds.bob).send(new GetSessionTokenCommand({}));
    const hours = (dflt.Credentials!.Expiration!.getTime() - Date.now()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12, `a user's default session lasts 12 h (${hours})`);
    const root = await sts(creds.root).send(new GetSessionTokenCommand({ DurationSeconds: 7200 }));
    const rootHours = (root.Credentials!.Expiration!.getTime() - Date.now()) / 3_600_000;
    assert.ok(rootHours > 0.9 && rootHours <= 1, `a root session lasts at most an hour (${rootHours})`);
    assert.equal((await failure(sts(creds.bob).send(new GetSessionTokenCommand({ DurationSeconds: 129_601 })))).name, 'ValidationError');
    for (const which of ['v1', 'v2'] as const) {
      const out = await cliJson<{ Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string } }>(which, creds.bob, ['sts', 'get-session-token', '--duration-seconds', '900']);
      const c: Creds = { accessKeyId: out.Credentials.AccessKeyId, secretAccessKey: out.Credentials.SecretAccessKey, sessionToken: out.Credentials.SessionToken };
      assert.equal((await cliJson<{ Arn: string }>(which, c, ['sts', 'get-caller-identity'])).Arn, userArn('bob'), which);
      assert.match(await cliError(which, c, ['kms', 'list-keys']), /\(AccessDeniedException\)/, which);
    }
  }),
);

test(
  'tampered, cut, borrowed and missing session tokens are refused with each service\'s unknown-key error',
  run.guarded(async () => {
    const a = session((await sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'tamper' }))).Credentials);
    const b = session((await sts(creds.bob).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials);
    const token = a.sessionToken!;
    const flipped = token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    const variants: [string, Creds][] = [
      ['one character changed', { ...a, sessionToken: flipped }],
      ['cut short', { ...a, sessionToken: token.slice(0, -4) }],
      ["another session's token", { ...a, sessionToken: b.sessionToken! }],
      ['no token', { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey }],
      ['a long-term key with a token', { ...creds.bob, sessionToken: token }],
    ];
    for (const [label, c] of variants) {
      assert.deepEqual(Object.values(await failure(ec2(c).send(new DescribeVpcsCommand({})))).slice(0, 2), ['AuthFailure', 401], `EC2, ${label}`);
      assert.deepEqual(Object.values(await failure(sts(c).send(new GetCallerIdentityCommand({})))).slice(0, 2), ['InvalidClientTokenId', 403], `STS, ${label}`);
      assert.equal((await failure(kms(c).send(new ListKeysCommand({})))).name, 'UnrecognizedClientException', `KMS, ${label}`);
      assert.equal((await failure(iam(c).send(new ListRolesCommand({})))).name, 'InvalidClientTokenId', `IAM, ${label}`);
    }
    // A presigned request carries the token in its query (X-Amz-Security-Token, signed with the rest).
    const presigned = async (c: Creds): Promise<number> => {
      const u = new URL(endpoint);
      const q = presignRequest({ method: 'GET', path: '/', query: 'Action=DescribeVpcs&Version=2016-11-15', headers: { host: u.host } }, c, { region: 'local-1', service: 'ec2', expiresIn: 300 });
      return (await fetch(`${endpoint}?${q.query}`)).status;
    };
    assert.equal(await presigned(a), 200, 'a presigned request with the session token');
    assert.equal(await presigned({ ...a, sessionToken: flipped }), 401, 'and with the token changed');
    for (const which of ['v1', 'v2'] as const) {
      assert.match(await cliError(which, { ...a, sessionToken: flipped }, ['ec2', 'describe-vpcs']), /\(AuthFailure\)/, which);
      assert.match(await cliError(which, { ...a, sessionToken: flipped }, ['sts', 'get-caller-identity']), /\(InvalidClientTokenId\)/, which);
    }
    // Deleting the role ends its sessions: they name a role that is gone.
    const t = session((await sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'before-delete' }))).Credentials);
    await iam(creds.admin).send(new CreateRoleCommand({ RoleName: 'short-lived', AssumeRolePolicyDocument: policy({ Effect: 'Allow', Principal: { AWS: userArn('bob') }, Action: 'sts:AssumeRole' }) }));
    const gone = session((await sts(creds.bob).send(new AssumeRoleCommand({ RoleArn: roleArn('short-lived'), RoleSessionName: 'doomed' }))).Credentials);
    assert.equal((await sts(gone).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${accountId}:assumed-role/short-lived/doomed`);
    await iam(creds.admin).send(new DeleteRoleCommand({ RoleName: 'short-lived' }));
    assert.equal((await failure(sts(gone).send(new GetCallerIdentityCommand({})))).name, 'InvalidClientTokenId');
    assert.ok((await sts(t).send(new GetCallerIdentityCommand({}))).Arn, 'the other role\'s session still works');
  }),
);

test(
  'expiry: past its Expiration (the session clock moved, the signature fresh) every service refuses the session with its own code',
  run.guarded(async () => {
    const role = session((await sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'expiring', DurationSeconds: 900 }))).Credentials);
    const user = session((await sts(creds.bob).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials);
    const key = (await kms(creds.admin).send(new CreateKeyCommand({}))).KeyMetadata!;
    clockAheadMs = 899_000;
    assert.equal((await sts(role).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${accountId}:assumed-role/ec2-reader/expiring`, 'valid one second before');
    assert.ok((await kms(role).send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata);
    clockAheadMs = 900_000;
    try {
      for (const c of [role, user]) {
        const e = await failure(ec2(c).send(new DescribeVpcsCommand({})));
        assert.deepEqual([e.name, e.status, e.message], ['RequestExpired', 400, 'Request has expired.']);
        const st = await failure(sts(c).send(new GetCallerIdentityCommand({})));
        assert.deepEqual([st.name, st.status, st.message], ['ExpiredToken', 403, 'The security token included in the request is expired']);
        const k = await failure(kms(c).send(new DescribeKeyCommand({ KeyId: key.KeyId })));
        assert.deepEqual([k.name, k.message], ['ExpiredTokenException', 'The security token included in the request is expired']);
        assert.equal((await failure(iam(c).send(new ListRolesCommand({})))).name, 'ExpiredToken');
        assert.equal((await failure(new OrganizationsClient(cfg(c)).send(new ListAccountsCommand({})))).name, 'ExpiredTokenException');
        assert.equal((await failure(new EBSClient(cfg(c)).send(new StartSnapshotCommand({ VolumeSize: 1 })))).name, 'ExpiredTokenException');
      }
      for (const which of ['v1', 'v2'] as const) {
        assert.match(await cliError(which, role, ['sts', 'get-caller-identity']), /\(ExpiredToken\)/, which);
        assert.match(await cliError(which, role, ['ec2', 'describe-vpcs']), /\(RequestExpired\)/, which);
        assert.match(await cliError(which, user, ['kms', 'list-keys']), /\(ExpiredTokenException\)/, which);
      }
      // Long-term keys are not affected by the session clock.
      assert.equal((await sts(creds.bob).send(new GetCallerIdentityCommand({}))).Arn, userArn('bob'));
    } finally {
      clockAheadMs = 0;
    }
    assert.ok(await refusalAudited(region!, home, { code: 'ExpiredToken', accessKeyId: role.accessKeyId }), 'the refusal is counted in the audit trail');
  }),
);

test(
  'STS\'s own errors for bad input: a role ARN that is no ARN, an unsupported member, an action it does not have',
  run.guarded(async () => {
    for (const which of ['v1', 'v2'] as const) {
      assert.match(await cliError(which, creds.bob, ['sts', 'assume-role', '--role-arn', 'not-an-arn-at-all-but-long', '--role-session-name', 'x1']), /\(ValidationError\)/, which);
      // an action STS has in its model but Nitride does not: routed to STS by its signature's service, STS's InvalidAction
      assert.match(await cliError(which, creds.bob, ['sts', 'get-federation-token', '--name', 'fed']), /\(InvalidAction\)/, which);
    }
    const p = await failure(sts(creds.carol).send(new AssumeRoleCommand({ RoleArn: roleArn('ec2-reader'), RoleSessionName: 'x1', Policy: policy({ Effect: 'Allow', Action: '*', Resource: '*' }) })));
    assert.equal(p.name, 'ValidationError');
  }),
);
