// The STS Query API's answers in STS's own shapes: the namespace, the Result wrapper, the
// error document and codes (the SDK and both CLIs read them in test/integration/sts.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Iam } from '../iam/iam.js';
import type { AuthzPrincipal } from '../iam/policy.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { handleStsRequest, STS_XMLNS } from './api.js';

let home = '';
let store: SqliteStore;
let iam: Iam;
let root: AuthzPrincipal;
let bob: AuthzPrincipal;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-stsapi-'));
  store = await SqliteStore.open(join(home, 'region', 'state.db'));
  iam = Iam.open(store, { home });
  const boot = await iam.bootstrap();
  root = (await iam.lookupAccessKey(boot.accessKeyId))!.principal;
  await iam.createUser(boot.accountId, 'bob');
  bob = (await iam.lookupAccessKey((await iam.createAccessKey(boot.accountId, 'bob')).accessKeyId))!.principal;
});

after(async () => {
  await store.close();
  await rm(home, { recursive: true, force: true });
});

const call = (p: AuthzPrincipal, params: Record<string, string>) => handleStsRequest(iam, p, new Map(Object.entries({ Version: '2011-06-15', ...params })), { requestId: 'req-1' });

test('GetCallerIdentity: STS namespace, Result wrapper, the caller', async () => {
  const r = await call(bob, { Action: 'GetCallerIdentity' });
  assert.equal(r.status, 200);
  assert.ok(r.body.includes(`<GetCallerIdentityResponse xmlns="${STS_XMLNS}"><GetCallerIdentityResult><UserId>${bob.userId}</UserId><Account>${bob.accountId}</Account><Arn>${bob.arn}</Arn></GetCallerIdentityResult>`), r.body);
  assert.match(r.body, /<ResponseMetadata><RequestId>req-1<\/RequestId><\/ResponseMetadata>/);
});

test('errors: STS error document, InvalidAction, ValidationError for a missing member, AccessDenied for a root', async () => {
  const unknown = await call(bob, { Action: 'GetFederationToken' });
  assert.deepEqual([unknown.status, unknown.errorCode], [400, 'InvalidAction']);
  assert.match(unknown.body, new RegExp(`^<\\?xml[^>]*\\?>\\n<ErrorResponse xmlns="${STS_XMLNS.replace(/[./]/g, '\\$&')}"><Error><Type>Sender</Type><Code>InvalidAction</Code>`));
  const missing = await call(bob, { Action: 'AssumeRole', RoleSessionName: 'ab' });
  assert.deepEqual([missing.status, missing.errorCode, missing.errorMessage], [400, 'ValidationError', "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"]);
  const rootAssume = await call(root, { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${root.accountId}:role/any`, RoleSessionName: 'ab' });
  assert.deepEqual([rootAssume.status, rootAssume.errorCode], [403, 'AccessDenied']);
  const short = await call(bob, { Action: 'GetSessionToken', DurationSeconds: '899' });
  assert.deepEqual([short.status, short.errorCode], [400, 'ValidationError']);
  const ok = await call(bob, { Action: 'GetSessionToken', DurationSeconds: '900' });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /<Credentials><AccessKeyId>ASIA[A-Z2-7]{16}<\/AccessKeyId><SecretAccessKey>[^<]{40}<\/SecretAccessKey><SessionToken>[\w.-]+<\/SessionToken><Expiration>\d{4}-\d\d-\d\dT[\d:.]+Z<\/Expiration><\/Credentials>/);
  assert.ok(!JSON.stringify(ok.responseElements).includes('SecretAccessKey') && !JSON.stringify(ok.responseElements).toLowerCase().includes('sessiontoken'), 'no secret in the audit elements');
});
