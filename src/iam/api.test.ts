// The IAM Query API against botocore (the library in the AWS CLI) as the peer: botocore's
// serializer builds each request's parameters and its parser (plus the CLI's
// json_decode_policies hook) reads our XML. A missing python3/botocore fails loudly.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { handleIamRequest, iamRequestInfo, type IamApiResponse } from './api.js';
import { Iam } from './iam.js';
import type { AuthzPrincipal } from './policy.js';

const PEER = String.raw`
import json, sys, datetime
import botocore.session
from botocore.serialize import create_serializer
from botocore.parsers import create_parser
from botocore.handlers import json_decode_policies
model = botocore.session.get_session().get_service_model('iam')
def enc(o):
    if isinstance(o, datetime.datetime): return o.isoformat()
    raise TypeError(type(o))
for line in sys.stdin:
    job = json.loads(line)
    try:
        op = model.operation_model(job['operation'])
        if job['kind'] == 'serialize':
            body = create_serializer('query').serialize_to_request(job['params'], op)['body']
            res = {k: str(v) for k, v in body.items()}
        else:
            resp = {'body': job['body'].encode('utf-8'), 'headers': {}, 'status_code': job['status']}
            res = create_parser('query').parse(resp, op.output_shape)
            if job['status'] < 300: json_decode_policies(res, op)
            res.pop('ResponseMetadata', None)
        out = {'ok': res}
    except Exception as e:
        out = {'error': repr(e)}
    sys.stdout.write(json.dumps(out, default=enc) + '\n'); sys.stdout.flush()
`;

class Botocore {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buf = '';
  private waiting: ((line: string) => void)[] = [];
  private stderr = '';

  constructor() {
    this.proc = spawn('python3', ['-c', PEER]);
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.stdout.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  private call(job: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`botocore peer did not answer (python3 with botocore is a required test peer): ${this.stderr}`)), 30_000);
      this.waiting.push((line) => {
        clearTimeout(timer);
        const r = JSON.parse(line) as { ok?: unknown; error?: string };
        if (r.error !== undefined) reject(new Error(`botocore: ${r.error}`));
        else resolve(r.ok);
      });
      this.proc.stdin.write(`${JSON.stringify(job)}\n`);
    });
  }

  async serialize(operation: string, params: Record<string, unknown>): Promise<Map<string, string>> {
    return new Map(Object.entries((await this.call({ kind: 'serialize', operation, params })) as Record<string, string>));
  }

  parse(operation: string, r: IamApiResponse): Promise<Record<string, unknown>> {
    return this.call({ kind: 'parse', operation, body: r.body, status: r.status }) as Promise<Record<string, unknown>>;
  }

  close(): void {
    this.proc.kill('SIGKILL');
  }
}

describe('IAM Query API (botocore as the peer)', () => {
  let home = '';
  let store: SqliteStore;
  let iam: Iam;
  let peer: Botocore;
  let acct = '';
  let root: AuthzPrincipal;
  let n = 0;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-iamapi-'));
    store = await SqliteStore.open(join(home, 'region', 'state.db'));
    iam = Iam.open(store, { home });
    peer = new Botocore();
    const b = await iam.bootstrap();
    acct = b.accountId;
    const look = await iam.lookupAccessKey(b.accessKeyId);
    assert.ok(look);
    root = look.principal;
  });
  after(async () => {
    peer.close();
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  async function call(principal: AuthzPrincipal, operation: string, params: Record<string, unknown> = {}): Promise<{ res: IamApiResponse; parsed: Record<string, unknown> }> {
    const flat = await peer.serialize(operation, params);
    assert.equal(flat.get('Action'), operation);
    assert.equal(flat.get('Version'), '2010-05-08');
    const res = await handleIamRequest(iam, principal, flat, { requestId: `req-${++n}`, context: { 'aws:SourceIp': '127.0.0.1', 'aws:RequestedRegion': 'us-east-1' } });
    const parsed = await peer.parse(operation, res);
    return { res, parsed };
  }

  async function expectError(principal: AuthzPrincipal, operation: string, params: Record<string, unknown>, code: string, status: number): Promise<IamApiResponse> {
    const { res, parsed } = await call(principal, operation, params);
    assert.equal(res.status, status, res.body);
    assert.equal(res.errorCode, code);
    const err = parsed['Error'] as { Code?: string; Type?: string; Message?: string } | undefined;
    assert.equal(err?.Code, code, JSON.stringify(parsed));
    assert.equal(err?.Type, status >= 500 ? 'Receiver' : 'Sender');
    assert.ok((err?.Message ?? '').length > 0);
    assert.match(res.body, /<RequestId>req-\d+<\/RequestId>/);
    return res;
  }

  it('CreateUser / GetUser / ListUsers parse as IAM responses', async () => {
    const { res, parsed } = await call(root, 'CreateUser', { UserName: 'alice', Path: '/team/' });
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<CreateUserResponse xmlns="https:\/\/iam.amazonaws.com\/doc\/2010-05-08\/"><CreateUserResult><User>/);
    const user = parsed['User'] as Record<string, string>;
    assert.equal(user['UserName'], 'alice');
    assert.equal(user['Path'], '/team/');
    assert.equal(user['Arn'], `arn:aws:iam::${acct}:user/team/alice`);
    assert.match(user['UserId'] ?? '', /^AIDA/);
    assert.ok(!Number.isNaN(Date.parse(user['CreateDate'] ?? '')));
    assert.deepEqual(res.resources, [`arn:aws:iam::${acct}:user/team/alice`]);
    const got = await call(root, 'GetUser', { UserName: 'alice' });
    assert.deepEqual(got.parsed['User'], user);
    const me = await call(root, 'GetUser');
    assert.equal((me.parsed['User'] as Record<string, string>)['Arn'], `arn:aws:iam::${acct}:root`);
    for (const u of ['bob', 'carol', 'dan']) assert.equal((await call(root, 'CreateUser', { UserName: u })).res.status, 200);
    const p1 = await call(root, 'ListUsers', { MaxItems: 3 });
    assert.deepEqual((p1.parsed['Users'] as { UserName: string }[]).map((u) => u.UserName), ['alice', 'bob', 'carol']);
    assert.equal(p1.parsed['IsTruncated'], true);
    const p2 = await call(root, 'ListUsers', { MaxItems: 3, Marker: p1.parsed['Marker'] });
    assert.deepEqual((p2.parsed['Users'] as { UserName: string }[]).map((u) => u.UserName), ['dan']);
    assert.equal(p2.parsed['IsTruncated'], false);
    assert.equal(p2.parsed['Marker'], undefined);
  });

  it('CreateAccessKey / ListAccessKeys / DeleteAccessKey', async () => {
    const { res, parsed } = await call(root, 'CreateAccessKey', { UserName: 'bob' });
    assert.equal(res.status, 200, res.body);
    const key = parsed['AccessKey'] as Record<string, string>;
    assert.equal(key['UserName'], 'bob');
    assert.match(key['AccessKeyId'] ?? '', /^AKIA[A-Z2-7]{16}$/);
    assert.equal((key['SecretAccessKey'] ?? '').length, 40);
    assert.equal(key['Status'], 'Active');
    assert.equal(JSON.stringify(res.responseElements).includes(key['SecretAccessKey'] ?? '??'), false, 'the audit copy carries no secret');
    const look = await iam.lookupAccessKey(key['AccessKeyId'] ?? '');
    assert.equal(look?.secretAccessKey, key['SecretAccessKey']);
    const list = await call(root, 'ListAccessKeys', { UserName: 'bob' });
    assert.deepEqual((list.parsed['AccessKeyMetadata'] as Record<string, string>[]).map((k) => k['AccessKeyId']), [key['AccessKeyId']]);
    assert.equal(list.parsed['IsTruncated'], false);
    // A user manages its own key without naming itself once allowed to.
    assert.ok(look);
    await iam.putUserPolicy(acct, 'bob', 'self', JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: ['iam:*AccessKey*', 'iam:GetUser'], Resource: 'arn:aws:iam::*:user/${aws:username}' } }));
    const mine = await call(look.principal, 'ListAccessKeys');
    assert.equal((mine.parsed['AccessKeyMetadata'] as unknown[]).length, 1);
    const self = await call(look.principal, 'GetUser');
    assert.equal((self.parsed['User'] as Record<string, string>)['UserName'], 'bob');
    await expectError(look.principal, 'GetUser', { UserName: 'alice' }, 'AccessDenied', 403);
    const del = await call(root, 'DeleteAccessKey', { UserName: 'bob', AccessKeyId: key['AccessKeyId'] });
    assert.equal(del.res.status, 200, del.res.body);
    assert.match(del.res.body, /^<\?xml[^>]*>\n<DeleteAccessKeyResponse xmlns="[^"]+"><ResponseMetadata><RequestId>req-\d+<\/RequestId><\/ResponseMetadata><\/DeleteAccessKeyResponse>$/);
    assert.deepEqual(del.parsed, {});
    assert.equal(await iam.lookupAccessKey(key['AccessKeyId'] ?? ''), undefined);
    await expectError(root, 'DeleteAccessKey', { UserName: 'bob', AccessKeyId: key['AccessKeyId'] }, 'NoSuchEntity', 404);
  });

  it('PutUserPolicy / GetUserPolicy / ListUserPolicies / DeleteUserPolicy (documents URL-encoded as IAM sends them)', async () => {
    const doc = { Version: '2012-10-17', Statement: [{ Sid: 'Ec2Read', Effect: 'Allow', Action: ['ec2:Describe*'], Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } } }] };
    const put = await call(root, 'PutUserPolicy', { UserName: 'carol', PolicyName: 'ec2-read', PolicyDocument: JSON.stringify(doc, null, 2) });
    assert.equal(put.res.status, 200, put.res.body);
    const got = await call(root, 'GetUserPolicy', { UserName: 'carol', PolicyName: 'ec2-read' });
    assert.match(got.res.body, /<PolicyDocument>%7B%0A/);
    assert.deepEqual(got.parsed, { UserName: 'carol', PolicyName: 'ec2-read', PolicyDocument: doc });
    const list = await call(root, 'ListUserPolicies', { UserName: 'carol' });
    assert.deepEqual(list.parsed, { PolicyNames: ['ec2-read'], IsTruncated: false });
    await expectError(root, 'PutUserPolicy', { UserName: 'carol', PolicyName: 'bad', PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*"}]}' }, 'MalformedPolicyDocument', 400);
    await expectError(root, 'PutUserPolicy', { UserName: 'carol', PolicyName: 'bad', PolicyDocument: 'not json' }, 'MalformedPolicyDocument', 400);
    await expectError(root, 'PutUserPolicy', { UserName: 'nobody', PolicyName: 'p', PolicyDocument: JSON.stringify(doc) }, 'NoSuchEntity', 404);
    assert.equal((await call(root, 'DeleteUserPolicy', { UserName: 'carol', PolicyName: 'ec2-read' })).res.status, 200);
    assert.deepEqual((await call(root, 'ListUserPolicies', { UserName: 'carol' })).parsed, { PolicyNames: [], IsTruncated: false });
    await expectError(root, 'GetUserPolicy', { UserName: 'carol', PolicyName: 'ec2-read' }, 'NoSuchEntity', 404);
  });

  it('DeleteUser with DeleteConflict while keys remain', async () => {
    const k = await call(root, 'CreateAccessKey', { UserName: 'dan' });
    await expectError(root, 'DeleteUser', { UserName: 'dan' }, 'DeleteConflict', 409);
    await call(root, 'DeleteAccessKey', { UserName: 'dan', AccessKeyId: (k.parsed['AccessKey'] as Record<string, string>)['AccessKeyId'] });
    assert.equal((await call(root, 'DeleteUser', { UserName: 'dan' })).res.status, 200);
    await expectError(root, 'GetUser', { UserName: 'dan' }, 'NoSuchEntity', 404);
  });

  it('answers IAM errors: EntityAlreadyExists, ValidationError, LimitExceeded, InvalidAction', async () => {
    await expectError(root, 'CreateUser', { UserName: 'alice' }, 'EntityAlreadyExists', 409);
    await expectError(root, 'CreateUser', { UserName: 'ALICE' }, 'EntityAlreadyExists', 409);
    await expectError(root, 'GetUser', { UserName: 'nobody' }, 'NoSuchEntity', 404);
    const noName = await handleIamRequest(iam, root, new Map([['Action', 'CreateUser'], ['Version', '2010-05-08']]), { requestId: 'r-x' });
    assert.equal(noName.status, 400);
    assert.equal(noName.errorCode, 'ValidationError');
    const badMax = await handleIamRequest(iam, root, { Action: 'ListUsers', Version: '2010-05-08', MaxItems: '0' }, { requestId: 'r-y' });
    assert.equal(badMax.errorCode, 'ValidationError');
    await call(root, 'CreateAccessKey', { UserName: 'alice' });
    await call(root, 'CreateAccessKey', { UserName: 'alice' });
    await expectError(root, 'CreateAccessKey', { UserName: 'alice' }, 'LimitExceeded', 409);
    const unknown = await handleIamRequest(iam, root, { Action: 'CreateGroup', Version: '2010-05-08' }, { requestId: 'r-z' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.errorCode, 'InvalidAction');
    assert.match(unknown.body, /<Code>InvalidAction<\/Code>/);
  });

  it('authorizes every call: implicit deny, explicit deny, conditions, and other accounts', async () => {
    const { parsed } = await call(root, 'CreateUser', { UserName: 'eve' });
    assert.ok(parsed['User']);
    const key = await iam.createAccessKey(acct, 'eve');
    const eve = (await iam.lookupAccessKey(key.accessKeyId))?.principal;
    assert.ok(eve);
    const denied = await expectError(eve, 'CreateUser', { UserName: 'mallory' }, 'AccessDenied', 403);
    assert.match(denied.errorMessage ?? '', new RegExp(`User: arn:aws:iam::${acct}:user/eve is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::${acct}:user/mallory`));
    await expectError(eve, 'ListUsers', {}, 'AccessDenied', 403);
    await iam.putUserPolicy(acct, 'eve', 'admin', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } } }, { Effect: 'Deny', Action: 'iam:DeleteUser', Resource: '*' }] }));
    assert.equal((await call(eve, 'CreateUser', { UserName: 'mallory' })).res.status, 200);
    assert.equal((await call(eve, 'ListUsers')).res.status, 200);
    const d = await expectError(eve, 'DeleteUser', { UserName: 'mallory' }, 'AccessDenied', 403);
    assert.match(d.errorMessage ?? '', /explicit deny/);
    const far = await handleIamRequest(iam, eve, { Action: 'ListUsers', Version: '2010-05-08' }, { requestId: 'r-ip', context: { 'aws:SourceIp': '10.9.9.9' } });
    assert.equal(far.errorCode, 'AccessDenied', 'the SourceIp condition fails off loopback');
    // Another account's root sees and touches only its own users.
    const other = await iam.createAccount('tenant-b');
    const otherKey = await iam.createAccessKey(other.accountId, 'root');
    const otherRoot = (await iam.lookupAccessKey(otherKey.accessKeyId))?.principal;
    assert.ok(otherRoot);
    assert.deepEqual((await call(otherRoot, 'ListUsers')).parsed['Users'], []);
    await expectError(otherRoot, 'GetUser', { UserName: 'alice' }, 'NoSuchEntity', 404);
    await expectError(otherRoot, 'DeleteAccessKey', { AccessKeyId: key.accessKeyId, UserName: 'eve' }, 'NoSuchEntity', 404);
    assert.ok(await iam.lookupAccessKey(key.accessKeyId), 'the other tenant did not delete it');
  });

  it('describes requests for the audit trail', () => {
    assert.deepEqual(iamRequestInfo(new Map([['Action', 'ListUsers']])), { action: 'ListUsers', readOnly: true, known: true });
    assert.deepEqual(iamRequestInfo({ Action: 'CreateAccessKey' }), { action: 'CreateAccessKey', readOnly: false, known: true });
    assert.deepEqual(iamRequestInfo({ Action: 'toString' }), { action: 'toString', readOnly: false, known: false });
  });
});
