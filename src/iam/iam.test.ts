import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { IamError } from './errors.js';
import { auditIdentity, Iam } from './iam.js';
import { RootKey } from './root-key.js';

function iamCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof IamError && e.code === code;
}

describe('RootKey', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nitride-rootkey-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created 0600 in a 0700 directory, reused, and refused when others can read it', () => {
    const path = join(dir, 'region', 'root.key');
    const k = RootKey.loadOrCreate(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'region')).mode & 0o777, 0o700);
    assert.equal(statSync(path).size, 32);
    const sealed = k.seal('s3cret', 'aad-1');
    assert.equal(RootKey.loadOrCreate(path).unseal(sealed, 'aad-1'), 's3cret');
    assert.throws(() => k.unseal(sealed, 'aad-2'), /could not be opened/);
    assert.throws(() => k.unseal({ ...sealed, ct: Buffer.from('x').toString('base64') }, 'aad-1'), /could not be opened/);
    chmodSync(path, 0o644);
    assert.throws(() => RootKey.loadOrCreate(path), /readable by others/);
    chmodSync(path, 0o600);
  });
});

describe('Iam', () => {
  let home = '';
  let store: SqliteStore;
  let iam: Iam;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-iam-'));
    store = await SqliteStore.open(join(home, 'region', 'state.db'));
    iam = Iam.open(store, { home });
  });
  after(async () => {
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  it('closes an account: its cached keys stop at once (here and in a process with fresh caches), nothing is made in it, its records stay', async () => {
    const a = await iam.createAccount('to-close', { email: 'c@example.invalid' });
    assert.equal(a.state, 'ACTIVE');
    const root = await iam.createAccessKey(a.accountId, 'root');
    await iam.createUser(a.accountId, 'bob');
    const bob = await iam.createAccessKey(a.accountId, 'bob');
    assert.ok(await iam.lookupAccessKey(root.accessKeyId), 'cached before');
    assert.ok(await iam.lookupAccessKey(bob.accessKeyId));
    const r = await iam.closeAccount(a.accountId);
    assert.ok('closed' in r && r.closed.state === 'CLOSED' && r.closed.closedDate !== undefined);
    assert.equal(await iam.lookupAccessKey(root.accessKeyId), undefined);
    assert.equal(await iam.lookupAccessKey(bob.accessKeyId), undefined);
    assert.equal(await Iam.open(store, { home }).lookupAccessKey(bob.accessKeyId), undefined);
    await assert.rejects(iam.createUser(a.accountId, 'carol'), iamCode('NoSuchEntity'));
    await assert.rejects(iam.createAccessKey(a.accountId, 'root'), iamCode('NoSuchEntity'));
    assert.equal((await iam.getUser(a.accountId, 'bob')).userName, 'bob', 'its users stay');
    assert.equal((await iam.listAccessKeys(a.accountId, 'bob')).length, 1, 'and their keys');
    assert.deepEqual(await iam.closeAccount(a.accountId), { error: 'already-closed' });
    assert.deepEqual(await iam.closeAccount('000000000000'), { error: 'not-found' });
    assert.equal((await iam.listAccounts()).find((x) => x.accountId === a.accountId)?.state, 'CLOSED');
  });

  it('bootstraps the default account and its root key once, and never stores the secret in plain text', async () => {
    const b = await iam.bootstrap();
    assert.equal(b.created, true);
    assert.match(b.accountId, /^[1-9]\d{11}$/);
    assert.match(b.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(b.secretAccessKey.length, 40);
    const again = await iam.bootstrap();
    assert.deepEqual(again, { ...b, created: false });
    // Another process (fresh caches) with the same store and root key sees the same.
    const other = Iam.open(store, { home });
    assert.deepEqual(await other.bootstrap(), { ...b, created: false });
    const look = await other.lookupAccessKey(b.accessKeyId);
    assert.equal(look?.userName, 'root');
    assert.equal(look?.secretAccessKey, b.secretAccessKey);
    assert.deepEqual(look?.principal, { accountId: b.accountId, userName: 'root', arn: `arn:aws:iam::${b.accountId}:root` });
    assert.deepEqual(auditIdentity(look?.principal, b.accessKeyId), { type: 'Root', accountId: b.accountId, principalId: b.accountId, arn: `arn:aws:iam::${b.accountId}:root`, accessKeyId: b.accessKeyId });
    assert.deepEqual(auditIdentity(undefined, 'AKIAUNKNOWN'), { type: 'Unknown', accessKeyId: 'AKIAUNKNOWN' });
    for (const f of readdirSync(join(home, 'region'))) {
      if (!f.startsWith('state.db')) continue;
      const bytes = readFileSync(join(home, 'region', f));
      assert.equal(bytes.includes(Buffer.from(b.secretAccessKey)), false, `${f} holds the plaintext secret`);
    }
    // With another root key the secret cannot be recovered.
    const stranger = Iam.open(store, { rootKeyPath: join(home, 'other.key') });
    await assert.rejects(stranger.lookupAccessKey(b.accessKeyId), /could not be opened/);
  });

  it('binds a sealed secret to its access key id', async () => {
    const { accountId } = await iam.bootstrap();
    const u = await iam.createUser(accountId, 'swap');
    const k1 = await iam.createAccessKey(accountId, u.userName);
    const k2 = await iam.createAccessKey(accountId, u.userName);
    const r1 = await store.get<Record<string, unknown>>(`iam/keys/${k1.accessKeyId}`);
    const r2 = await store.get<Record<string, unknown>>(`iam/keys/${k2.accessKeyId}`);
    assert.ok(r1 && r2);
    await store.put(`iam/keys/${k1.accessKeyId}`, { ...r1.value, secret: r2.value['secret'] } as never);
    const fresh = Iam.open(store, { home });
    await assert.rejects(fresh.lookupAccessKey(k1.accessKeyId), /could not be opened/);
    await iam.deleteAccessKey(accountId, 'swap', k1.accessKeyId);
    await iam.deleteAccessKey(accountId, 'swap', k2.accessKeyId);
    await iam.deleteUser(accountId, 'swap');
  });

  it('creates, finds, lists and deletes users within one account', async () => {
    const { accountId } = await iam.bootstrap();
    const bob = await iam.createUser(accountId, 'Bob', '/eng/');
    assert.match(bob.userId, /^AIDA[A-Z2-7]{17}$/);
    assert.equal(bob.arn, `arn:aws:iam::${accountId}:user/eng/Bob`);
    await assert.rejects(iam.createUser(accountId, 'bob'), iamCode('EntityAlreadyExists'), 'names are case-insensitive');
    await assert.rejects(iam.createUser(accountId, 'root'), iamCode('ValidationError'));
    await assert.rejects(iam.createUser(accountId, 'bad name'), iamCode('ValidationError'));
    await assert.rejects(iam.createUser(accountId, 'x'.repeat(65)), iamCode('ValidationError'));
    await assert.rejects(iam.createUser('999999999999', 'carol'), iamCode('NoSuchEntity'));
    assert.deepEqual(await iam.getUser(accountId, 'BOB'), bob);
    await assert.rejects(iam.getUser(accountId, 'nobody'), iamCode('NoSuchEntity'));
    // Another account sees none of it.
    const other = await iam.createAccount('other');
    await assert.rejects(iam.getUser(other.accountId, 'Bob'), iamCode('NoSuchEntity'));
    assert.deepEqual((await iam.listUsers(other.accountId)).users, []);
    for (const n of ['u1', 'u2', 'u3', 'u4', 'u5']) await iam.createUser(accountId, n);
    const names: string[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await iam.listUsers(accountId, marker === undefined ? { maxItems: 2 } : { maxItems: 2, marker });
      assert.ok(page.users.length <= 2);
      names.push(...page.users.map((u) => u.userName));
      if (!page.isTruncated) break;
      marker = page.marker;
    }
    assert.deepEqual(names, ['Bob', 'u1', 'u2', 'u3', 'u4', 'u5']);
    assert.deepEqual((await iam.listUsers(accountId, { pathPrefix: '/eng/' })).users.map((u) => u.userName), ['Bob']);
    await assert.rejects(iam.listUsers(accountId, { marker: Buffer.from('iam/users/other/').toString('base64url') }), iamCode('ValidationError'));
    const k = await iam.createAccessKey(accountId, 'Bob');
    await iam.putUserPolicy(accountId, 'Bob', 'p', JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: '*', Resource: '*' } }));
    await assert.rejects(iam.deleteUser(accountId, 'Bob'), iamCode('DeleteConflict'));
    await iam.deleteAccessKey(accountId, 'Bob', k.accessKeyId);
    await assert.rejects(iam.deleteUser(accountId, 'Bob'), iamCode('DeleteConflict'));
    await iam.deleteUserPolicy(accountId, 'Bob', 'p');
    await iam.deleteUser(accountId, 'bob');
    await assert.rejects(iam.getUser(accountId, 'Bob'), iamCode('NoSuchEntity'));
  });

  it('issues access keys, caps them at two, and forgets deleted ones at once', async () => {
    const { accountId } = await iam.bootstrap();
    await iam.createUser(accountId, 'dave');
    const k1 = await iam.createAccessKey(accountId, 'dave');
    assert.match(k1.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.match(k1.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
    const look = await iam.lookupAccessKey(k1.accessKeyId);
    assert.equal(look?.secretAccessKey, k1.secretAccessKey);
    assert.equal(look?.status, 'Active');
    assert.equal(look?.principal.userName, 'dave');
    assert.match(look?.principal.userId ?? '', /^AIDA/);
    assert.deepEqual(auditIdentity(look?.principal, k1.accessKeyId), { type: 'IAMUser', accountId, principalId: look?.principal.userId, arn: `arn:aws:iam::${accountId}:user/dave`, userName: 'dave', accessKeyId: k1.accessKeyId });
    await iam.createAccessKey(accountId, 'dave');
    await assert.rejects(iam.createAccessKey(accountId, 'dave'), iamCode('LimitExceeded'));
    assert.equal((await iam.listAccessKeys(accountId, 'dave')).length, 2);
    await assert.rejects(iam.deleteAccessKey(accountId, 'someoneelse', k1.accessKeyId), iamCode('NoSuchEntity'));
    const other = await iam.createAccount();
    await assert.rejects(iam.deleteAccessKey(other.accountId, 'dave', k1.accessKeyId), iamCode('NoSuchEntity'));
    await iam.deleteAccessKey(accountId, 'dave', k1.accessKeyId);
    assert.equal(await iam.lookupAccessKey(k1.accessKeyId), undefined);
    assert.equal(await iam.lookupAccessKey('AKIANOTAKEY0000000'), undefined);
    assert.equal(await iam.lookupAccessKey('bad/../key'), undefined);
    await assert.rejects(iam.createAccessKey(accountId, 'nobody'), iamCode('NoSuchEntity'));
  });

  it('stores user policies, rejects malformed or oversized ones, and authorizes with them', async () => {
    const { accountId } = await iam.bootstrap();
    await iam.createUser(accountId, 'erin');
    const principal = (await iam.lookupAccessKey((await iam.createAccessKey(accountId, 'erin')).accessKeyId))?.principal;
    assert.ok(principal);
    const res = `arn:aws:ec2:local-1:${accountId}:instance/i-1`;
    assert.equal((await iam.authorize({ principal, action: 'ec2:StopInstances', resources: [res] })).reason, 'implicit-deny');
    await iam.putUserPolicy(accountId, 'erin', 'ec2', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }));
    assert.equal((await iam.authorize({ principal, action: 'ec2:StopInstances', resources: [res] })).decision, 'allow', 'a new policy takes effect at once');
    await iam.putUserPolicy(accountId, 'erin', 'nostop', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'ec2:StopInstances', Resource: '*' }] }));
    assert.equal((await iam.authorize({ principal, action: 'ec2:StopInstances', resources: [res] })).reason, 'explicit-deny');
    assert.deepEqual(await iam.listUserPolicies(accountId, 'erin'), ['ec2', 'nostop']);
    assert.match((await iam.getUserPolicy(accountId, 'erin', 'nostop')).policyDocument, /StopInstances/);
    await iam.deleteUserPolicy(accountId, 'erin', 'nostop');
    assert.equal((await iam.authorize({ principal, action: 'ec2:StopInstances', resources: [res] })).decision, 'allow');
    await assert.rejects(iam.putUserPolicy(accountId, 'erin', 'bad', '{"Version":"2012-10-17","Statement":{"Effect":"Allow"}}'), iamCode('MalformedPolicyDocument'));
    await assert.rejects(iam.putUserPolicy(accountId, 'erin', 'bad name', '{}'), iamCode('ValidationError'));
    await assert.rejects(iam.putUserPolicy(accountId, 'nobody', 'p', '{}'), iamCode('NoSuchEntity'));
    const big = JSON.stringify({ Version: '2012-10-17', Statement: Array.from({ length: 60 }, (_, i) => ({ Effect: 'Allow', Action: `ec2:Describe${i}`, Resource: '*' })) });
    await assert.rejects(iam.putUserPolicy(accountId, 'erin', 'big', big), iamCode('LimitExceeded'));
    await assert.rejects(iam.getUserPolicy(accountId, 'erin', 'nostop'), iamCode('NoSuchEntity'));
    // Tenancy: erin's Allow ec2:* does not reach another account's instance.
    assert.equal((await iam.authorize({ principal, action: 'ec2:StopInstances', resources: ['arn:aws:ec2:local-1:111111111111:instance/i-1'] })).decision, 'deny');
  });
});
