// Key policies: parsing (src/iam/policy.ts parseResourcePolicy), evaluation
// (evaluateResourcePolicy) and how Kms combines them with IAM policies and grants.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IamError } from '../iam/errors.js';
import { Iam } from '../iam/iam.js';
import { evaluateResourcePolicy, parseResourcePolicy, resourcePolicyPrincipals, type AuthzPrincipal, type ResourceCaller } from '../iam/policy.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { handleKmsRequest } from './api.js';
import { KmsError } from './errors.js';
import { defaultKeyPolicy } from './key-policies.js';
import { Kms } from './kms.js';
import { EC2_VIA_SERVICE, serviceCaller, type KmsCaller } from './model.js';

const A = '111122223333';
const B = '444455556666';
const KEY = `arn:aws:kms:local-1:${A}:key/0b1c2d3e-0000-4000-8000-000000000001`;
const user = (accountId: string, userName: string): AuthzPrincipal => ({ accountId, userName, arn: userName === 'root' ? `arn:aws:iam::${accountId}:root` : `arn:aws:iam::${accountId}:user/${userName}` });
const aws = (p: AuthzPrincipal): ResourceCaller => ({ kind: 'aws', principal: p });
const malformed = (re: RegExp) => (e: unknown) => e instanceof IamError && e.code === 'MalformedPolicyDocument' && re.test(e.message);
const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof KmsError && e.code === c && (re === undefined || re.test(e.message));

describe('parseResourcePolicy', () => {
  it('accepts the default key policy, Sids with spaces, Principal "*", AWS/Service principals and NotPrincipal', () => {
    const d = parseResourcePolicy(defaultKeyPolicy(A));
    assert.equal(d.statements.length, 1);
    assert.deepEqual(d.statements[0]?.principal, { aws: [`arn:aws:iam::${A}:root`], service: [] });
    assert.equal(d.statements[0]?.sid, 'Enable IAM User Permissions');
    const e = parseResourcePolicy(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Any one', Effect: 'Allow', Principal: '*', Action: 'kms:Encrypt', Resource: '*' },
          { Effect: 'Allow', Principal: { AWS: [A, `arn:aws:iam::${B}:user/dev/dave`], Service: 'ec2.amazonaws.com' }, Action: ['kms:Decrypt'], Resource: '*' },
          { Effect: 'Deny', NotPrincipal: { AWS: `arn:aws:iam::${A}:root` }, Action: 'kms:PutKeyPolicy', Resource: '*' },
        ],
      }),
    );
    assert.equal(e.statements[0]?.anyPrincipal, true);
    assert.deepEqual(e.statements[2]?.notPrincipal, { aws: [`arn:aws:iam::${A}:root`], service: [] });
    assert.deepEqual(resourcePolicyPrincipals(e).sort(), [A, `arn:aws:iam::${A}:root`, `arn:aws:iam::${B}:user/dev/dave`].sort());
  });

  it('refuses malformed documents with a message that says what is wrong', () => {
    const st = (s: Record<string, unknown>) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*', ...s }] });
    assert.throws(() => parseResourcePolicy('{"Version": '), malformed(/not valid JSON/));
    assert.throws(() => parseResourcePolicy('[]'), malformed(/JSON object/));
    assert.throws(() => parseResourcePolicy('{"Version":"2012-10-17"}'), malformed(/Statement/));
    assert.throws(() => parseResourcePolicy(st({})), malformed(/Missing required field Principal \(statement 0\)/));
    assert.throws(() => parseResourcePolicy(st({ Principal: '*', NotPrincipal: '*' })), malformed(/both Principal and NotPrincipal/));
    assert.throws(() => parseResourcePolicy(st({ Principal: { AWS: 'alice' } })), malformed(/invalid principals.*alice/));
    assert.throws(() => parseResourcePolicy(st({ Principal: { AWS: 'arn:aws:iam::12:root' } })), malformed(/invalid principals/));
    assert.throws(() => parseResourcePolicy(st({ Principal: { Service: 'not a service' } })), malformed(/invalid principals/));
    assert.throws(() => parseResourcePolicy(st({ Principal: { Federated: 'cognito-identity.amazonaws.com' } })), malformed(/Federated is not supported/));
    assert.throws(() => parseResourcePolicy(st({ Principal: '*', Effect: 'Maybe' })), malformed(/Invalid effect.*\(statement 0\)/));
    assert.throws(() => parseResourcePolicy(st({ Principal: '*', Action: 'Encrypt' })), malformed(/prefaced by a vendor/));
    assert.throws(() => parseResourcePolicy(st({ Principal: '*', Condition: { StringFoo: { 'kms:CallerAccount': A } } })), malformed(/Invalid Condition type/));
    assert.throws(() => parseResourcePolicy(st({ Principal: '*', Extra: 1 })), malformed(/unknown field Extra/));
  });
});

describe('evaluateResourcePolicy', () => {
  const doc = parseResourcePolicy(
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Delegate', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'Carol', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:user/carol` }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' },
        { Sid: 'Dave', Effect: 'Allow', Principal: { AWS: B }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:app': 'web' } } },
        { Sid: 'EC2', Effect: 'Allow', Principal: '*', Action: 'kms:GenerateDataKey*', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': EC2_VIA_SERVICE, 'kms:CallerAccount': A } } },
        { Sid: 'NoDecryptForEve', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${A}:user/eve` }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    }),
  );
  const ev = (c: ResourceCaller, action: string, context: Record<string, string> = {}) =>
    evaluateResourcePolicy(doc, { caller: c, action, resource: { arn: KEY, context: { 'kms:CallerAccount': c.kind === 'aws' ? c.principal.accountId : c.accountId, ...context } } }).decision;

  it('tells a direct allow from a delegation to the account, and an explicit deny from no match', () => {
    assert.equal(ev(aws(user(A, 'carol')), 'kms:Encrypt'), 'allow');
    assert.equal(ev(aws(user(A, 'carol')), 'kms:DisableKey'), 'allow-account');
    assert.equal(ev(aws(user(A, 'root')), 'kms:DisableKey'), 'allow', 'the root is the account itself');
    assert.equal(ev(aws(user(A, 'eve')), 'kms:Decrypt'), 'explicit-deny');
    assert.equal(ev(aws(user(A, 'eve')), 'kms:Encrypt'), 'allow-account');
    assert.equal(ev(aws(user(B, 'dave')), 'kms:Decrypt'), 'no-match');
    assert.equal(ev(aws(user(B, 'dave')), 'kms:Encrypt', { 'kms:EncryptionContext:app': 'web' }), 'allow-account');
    assert.equal(ev(aws(user(B, 'dave')), 'kms:Encrypt', { 'kms:EncryptionContext:app': 'db' }), 'no-match');
    assert.equal(ev(aws(user(A, 'frank')), 'kms:GenerateDataKeyWithoutPlaintext', { 'kms:ViaService': EC2_VIA_SERVICE }), 'allow');
    assert.equal(ev(aws(user(B, 'dave')), 'kms:GenerateDataKeyWithoutPlaintext', { 'kms:ViaService': EC2_VIA_SERVICE }), 'no-match', 'kms:CallerAccount');
    assert.equal(ev({ kind: 'service', service: 'ebs.amazonaws.com', accountId: A }, 'kms:GenerateDataKey', { 'kms:ViaService': EC2_VIA_SERVICE }), 'no-match', '"*" allows no service principal');
  });

  it('NotPrincipal in a Deny spares only the principals it names', () => {
    const d = parseResourcePolicy(
      JSON.stringify({
        Statement: [
          { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' },
          { Effect: 'Deny', NotPrincipal: { AWS: [`arn:aws:iam::${A}:user/admin`, `arn:aws:iam::${A}:root`] }, Action: 'kms:PutKeyPolicy', Resource: '*' },
        ],
      }),
    );
    const e = (p: AuthzPrincipal) => evaluateResourcePolicy(d, { caller: aws(p), action: 'kms:PutKeyPolicy', resource: { arn: KEY } }).decision;
    assert.equal(e(user(A, 'admin')), 'allow');
    assert.equal(e(user(A, 'root')), 'allow');
    assert.equal(e(user(A, 'carol')), 'explicit-deny');
  });
});

describe('Kms with key policies', () => {
  let dir = '';
  let store: SqliteStore;
  let iam: Iam;
  let kms: Kms;
  let acct = '';
  let other = '';
  let root: KmsCaller;
  let bob: KmsCaller; // IAM: kms:* on everything
  let carol: KmsCaller; // no IAM policy
  let eve: KmsCaller; // IAM: kms:* on everything
  let dave: KmsCaller; // another account, IAM: kms:Encrypt/Decrypt/DescribeKey/DisableKey on everything
  let erin: KmsCaller; // another account, no IAM policy
  let mallory: KmsCaller; // root of the other account
  const pt = Buffer.from('key policy test');
  const policy = (...statements: Record<string, unknown>[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
  const arnOf = (c: KmsCaller) => c.principal.arn ?? '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nitride-kms-policy-'));
    store = await SqliteStore.open(join(dir, 'region', 'state.db'));
    iam = Iam.open(store, { home: dir });
    kms = Kms.open(store, iam, { home: dir });
    acct = (await iam.createAccount('a')).accountId;
    other = (await iam.createAccount('b')).accountId;
    const all = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] });
    for (const n of ['bob', 'carol', 'eve']) await iam.createUser(acct, n);
    await iam.putUserPolicy(acct, 'bob', 'kms', all);
    await iam.putUserPolicy(acct, 'eve', 'kms', all);
    await iam.createUser(other, 'dave');
    await iam.createUser(other, 'erin');
    await iam.putUserPolicy(other, 'dave', 'kms', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey', 'kms:DisableKey'], Resource: '*' }] }));
    root = { principal: user(acct, 'root') };
    bob = { principal: user(acct, 'bob') };
    carol = { principal: user(acct, 'carol') };
    eve = { principal: user(acct, 'eve') };
    dave = { principal: user(other, 'dave') };
    erin = { principal: user(other, 'erin') };
    mallory = { principal: user(other, 'root') };
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the default key policy delegates to IAM: an IAM allow suffices, none is refused', async () => {
    const k = await kms.createKey(root);
    assert.deepEqual(JSON.parse(await kms.getKeyPolicy(root, k.keyId)), JSON.parse(defaultKeyPolicy(acct)));
    await kms.encrypt(bob, { keyId: k.keyId, plaintext: pt });
    await assert.rejects(kms.encrypt(carol, { keyId: k.keyId, plaintext: pt }), code('AccessDeniedException', /because no identity-based policy allows the kms:Encrypt action/));
    assert.deepEqual((await kms.listKeyPolicies(root, k.keyId)).items, ['default']);
  });

  it('a key policy that does not name the account makes IAM policies insufficient; a named user needs none', async () => {
    const p = policy(
      { Sid: 'Key administrator', Effect: 'Allow', Principal: { AWS: arnOf(bob) }, Action: 'kms:*', Resource: '*' },
      { Sid: 'Key user', Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: '*' },
    );
    // the root is not named: creating it as root would lock the root out
    await assert.rejects(kms.createKey(root, { policy: p }), code('MalformedPolicyDocumentException', /will not allow you to update the key policy/));
    const k = await kms.createKey(bob, { policy: p });
    const blob = (await kms.encrypt(carol, { keyId: k.arn, plaintext: pt })).ciphertextBlob;
    assert.deepEqual((await kms.decrypt(carol, { ciphertextBlob: blob })).plaintext, pt);
    await kms.describeKey(carol, k.keyId);
    await assert.rejects(kms.disableKey(carol, k.keyId), code('AccessDeniedException', /because no resource-based policy allows the kms:DisableKey action/));
    await assert.rejects(kms.encrypt(eve, { keyId: k.keyId, plaintext: pt }), code('AccessDeniedException', /no resource-based policy/), 'IAM allows eve kms:*, the key policy does not');
    await assert.rejects(kms.decrypt(root, { ciphertextBlob: blob }), code('AccessDeniedException'), 'the account root is not exempt');
    await assert.rejects(kms.createAlias(eve, 'alias/not-eves', k.keyId), code('AccessDeniedException'));
    await kms.createAlias(bob, 'alias/bobs', k.keyId);
    await kms.deleteAlias(bob, 'alias/bobs');
    // a grant still works where neither policy allows
    await kms.createGrant(bob, { keyId: k.keyId, granteePrincipal: arnOf(eve), operations: ['Encrypt'] });
    await kms.encrypt(eve, { keyId: k.keyId, plaintext: pt });
  });

  it('an explicit Deny in the key policy wins over IAM allows, direct allows and grants', async () => {
    const k = await kms.createKey(root, {
      policy: policy(
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: 'kms:Decrypt', Resource: '*' },
        { Sid: 'No decrypt for bob and carol', Effect: 'Deny', Principal: { AWS: [arnOf(bob), arnOf(carol)] }, Action: 'kms:Decrypt', Resource: '*' },
      ),
    });
    const blob = (await kms.encrypt(bob, { keyId: k.keyId, plaintext: pt })).ciphertextBlob;
    await assert.rejects(kms.decrypt(bob, { ciphertextBlob: blob }), code('AccessDeniedException', /with an explicit deny in a resource-based policy/));
    await kms.createGrant(root, { keyId: k.keyId, granteePrincipal: arnOf(carol), operations: ['Decrypt'] });
    await assert.rejects(kms.decrypt(carol, { ciphertextBlob: blob }), code('AccessDeniedException', /explicit deny in a resource-based policy/));
    assert.deepEqual((await kms.decrypt(eve, { ciphertextBlob: blob })).plaintext, pt);
  });

  it('an explicit Deny in the caller IAM policy wins over a key policy that names the caller', async () => {
    await iam.createUser(acct, 'gina');
    await iam.putUserPolicy(acct, 'gina', 'deny', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'kms:Encrypt', Resource: '*' }] }));
    const gina: KmsCaller = { principal: user(acct, 'gina') };
    const k = await kms.createKey(root, { policy: policy({ Effect: 'Allow', Principal: { AWS: [`arn:aws:iam::${acct}:root`, arnOf(gina)] }, Action: 'kms:*', Resource: '*' }) });
    await kms.describeKey(gina, k.keyId);
    await assert.rejects(kms.encrypt(gina, { keyId: k.keyId, plaintext: pt }), code('AccessDeniedException', /explicit deny in an identity-based policy/));
  });

  it('conditions: kms:CallerAccount, kms:ViaService and kms:EncryptionContext:<key>', async () => {
    const k = await kms.createKey(root, {
      policy: policy(
        { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': acct, 'kms:EncryptionContext:app': 'web' } } },
        { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:GenerateDataKeyWithoutPlaintext', Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': acct, 'kms:ViaService': EC2_VIA_SERVICE } } },
      ),
    });
    await kms.encrypt(carol, { keyId: k.keyId, plaintext: pt, encryptionContext: { app: 'web' } });
    await assert.rejects(kms.encrypt(carol, { keyId: k.keyId, plaintext: pt, encryptionContext: { app: 'db' } }), code('AccessDeniedException'));
    await assert.rejects(kms.encrypt(carol, { keyId: k.keyId, plaintext: pt }), code('AccessDeniedException'));
    await assert.rejects(kms.encrypt(erin, { keyId: k.arn, plaintext: pt, encryptionContext: { app: 'web' } }), code('AccessDeniedException'), 'kms:CallerAccount');
    await kms.generateDataKeyWithoutPlaintext({ ...carol, context: { 'kms:ViaService': EC2_VIA_SERVICE } }, { keyId: k.keyId, keySpec: 'AES_256' });
    await assert.rejects(kms.generateDataKeyWithoutPlaintext(carol, { keyId: k.keyId, keySpec: 'AES_256' }), code('AccessDeniedException'));
  });

  it('cross-account: a principal of another account named in the key policy uses the key by ARN, with its own IAM allowing it', async () => {
    const k = await kms.createKey(root, {
      policy: policy(
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'Dave and Erin', Effect: 'Allow', Principal: { AWS: [arnOf(dave), arnOf(erin)] }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey', 'kms:DisableKey'], Resource: '*' },
      ),
    });
    const blob = (await kms.encrypt(dave, { keyId: k.arn, plaintext: pt })).ciphertextBlob;
    assert.deepEqual((await kms.decrypt(dave, { ciphertextBlob: blob })).plaintext, pt);
    assert.equal((await kms.describeKey(dave, k.arn)).keyId, k.keyId);
    await assert.rejects(kms.encrypt(dave, { keyId: k.keyId, plaintext: pt }), code('NotFoundException'), 'a key id names a key of the caller account');
    await assert.rejects(kms.disableKey(dave, k.arn), code('AccessDeniedException'), 'management is never cross-account');
    await assert.rejects(kms.encrypt(erin, { keyId: k.arn, plaintext: pt }), code('AccessDeniedException'), 'erin has no IAM policy in her account');
    await assert.rejects(kms.encrypt(mallory, { keyId: k.arn, plaintext: pt }), code('AccessDeniedException'), 'the other account is not named');
    // refusals of another account's key look like a missing key's
    const missing = `arn:aws:kms:local-1:${acct}:key/00000000-0000-4000-8000-000000000000`;
    const msg = async (p: Promise<unknown>) => p.then(() => '', (e: KmsError) => e.message.replaceAll(k.arn, 'K').replaceAll(missing, 'K'));
    assert.equal(await msg(kms.encrypt(erin, { keyId: k.arn, plaintext: pt })), await msg(kms.encrypt(erin, { keyId: missing, plaintext: pt })));
    // naming the account delegates to its IAM: its root may, its users only with IAM allowing
    await kms.putKeyPolicy(root, { keyId: k.keyId, policy: policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' }, { Effect: 'Allow', Principal: { AWS: other }, Action: 'kms:Encrypt', Resource: '*' }) });
    await kms.encrypt(mallory, { keyId: k.arn, plaintext: pt });
    await kms.encrypt(dave, { keyId: k.arn, plaintext: pt });
    await assert.rejects(kms.encrypt(erin, { keyId: k.arn, plaintext: pt }), code('AccessDeniedException'));
  });

  it('PutKeyPolicy / GetKeyPolicy round trip; malformed documents, unknown principals and lockouts are refused and change nothing', async () => {
    const k = await kms.createKey(root);
    const before = await kms.getKeyPolicy(root, k.keyId);
    const p = policy(
      { Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'Carol encrypts', Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: 'kms:Encrypt', Resource: '*' },
    );
    await assert.rejects(kms.encrypt(carol, { keyId: k.keyId, plaintext: pt }), code('AccessDeniedException'));
    await kms.putKeyPolicy(root, { keyId: k.arn, policy: p, policyName: 'default' });
    assert.equal(await kms.getKeyPolicy(root, k.keyId), p);
    await kms.encrypt(carol, { keyId: k.keyId, plaintext: pt });
    const bad: [string, string, RegExp][] = [
      ['{"Version":"2012-10-17","Statement":[', 'MalformedPolicyDocumentException', /not valid JSON/],
      [policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }), 'MalformedPolicyDocumentException', /Missing required field Principal/],
      [policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/nobody` }, Action: 'kms:*', Resource: '*' }), 'MalformedPolicyDocumentException', /invalid principals.*nobody/],
      [policy({ Effect: 'Allow', Principal: { AWS: '999999999999' }, Action: 'kms:*', Resource: '*' }), 'MalformedPolicyDocumentException', /invalid principals/],
      [policy({ Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: 'kms:*', Resource: '*' }), 'MalformedPolicyDocumentException', /will not allow you to update the key policy/],
      [policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' }), 'MalformedPolicyDocumentException', /will not allow/],
      [`{"Version":"2012-10-17","Statement":[],"x":"${'y'.repeat(33_000)}"}`, 'LimitExceededException', /larger than/],
      ['', 'ValidationException', /length/],
    ];
    for (const [doc, c, re] of bad) await assert.rejects(kms.putKeyPolicy(root, { keyId: k.keyId, policy: doc }), code(c, re), doc.slice(0, 80));
    assert.equal(await kms.getKeyPolicy(root, k.keyId), p, 'nothing stored changed');
    await assert.rejects(kms.putKeyPolicy(root, { keyId: k.keyId, policy: p, policyName: 'other' }), code('NotFoundException'));
    await assert.rejects(kms.getKeyPolicy(root, k.keyId, 'other'), code('NotFoundException'));
    await assert.rejects(kms.putKeyPolicy(carol, { keyId: k.keyId, policy: p }), code('AccessDeniedException'));
    // the bypass sets a policy that locks the caller out, as asked
    const lock = policy({ Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: ['kms:Encrypt', 'kms:GetKeyPolicy'], Resource: '*' });
    await kms.putKeyPolicy(root, { keyId: k.keyId, policy: lock, bypassPolicyLockoutSafetyCheck: true });
    assert.equal(await kms.getKeyPolicy(carol, k.keyId), lock);
    await assert.rejects(kms.putKeyPolicy(root, { keyId: k.keyId, policy: before }), code('AccessDeniedException'));
    await assert.rejects(kms.getKeyPolicy(root, k.keyId), code('AccessDeniedException'));
  });

  it('alias/aws/ebs keeps its built-in policy: PutKeyPolicy is refused; EC2 and the EBS grant path keep working', async () => {
    const m = await kms.awsManagedKey(acct, 'ebs');
    const builtIn = await kms.getKeyPolicy(root, m.keyId);
    assert.match(builtIn, /kms:ViaService/);
    await assert.rejects(kms.putKeyPolicy(root, { keyId: m.keyId, policy: defaultKeyPolicy(acct) }), code('AccessDeniedException'));
    await assert.rejects(kms.putKeyPolicy(root, { keyId: m.keyId, policy: defaultKeyPolicy(acct), bypassPolicyLockoutSafetyCheck: true }), code('AccessDeniedException'));
    assert.equal(await kms.getKeyPolicy(root, m.keyId), builtIn);
    await assert.rejects(kms.encrypt(root, { keyId: 'alias/aws/ebs', plaintext: pt }), code('AccessDeniedException'));
    // a user without any IAM policy, through EC2, and the EBS service under the volume's grant
    for (const keyId of [m.arn, (await kms.createKey(root)).arn]) {
      const viaEc2: KmsCaller = { principal: keyId === m.arn ? carol.principal : bob.principal, context: { 'kms:ViaService': EC2_VIA_SERVICE } };
      const ctx = { 'aws:ebs:id': 'vol-0123456789abcdef0' };
      const dk = await kms.generateDataKeyWithoutPlaintext(viaEc2, { keyId, keySpec: 'AES_256', encryptionContext: ctx });
      await kms.createGrant(viaEc2, { keyId: dk.keyId, granteePrincipal: 'ebs.amazonaws.com', operations: ['Decrypt'], constraints: { encryptionContextSubset: ctx }, retiringPrincipal: `arn:aws:iam::${acct}:root` });
      assert.equal((await kms.decrypt(serviceCaller('ebs.amazonaws.com', acct), { ciphertextBlob: dk.ciphertextBlob, encryptionContext: ctx })).plaintext.length, 32);
      await assert.rejects(kms.decrypt(serviceCaller('ebs.amazonaws.com', acct), { ciphertextBlob: dk.ciphertextBlob, encryptionContext: { 'aws:ebs:id': 'vol-other' } }), code('AccessDeniedException'));
    }
  });

  it('speaks PutKeyPolicy, GetKeyPolicy, ListKeyPolicies and CreateKey BypassPolicyLockoutSafetyCheck on the JSON 1.1 wire', async () => {
    const call = async (op: string, body: unknown, who: AuthzPrincipal = root.principal) => {
      const r = await handleKmsRequest(kms, who, `TrentService.${op}`, Buffer.from(JSON.stringify(body)), { requestId: 'r' });
      return { status: r.status, json: JSON.parse(r.body) as Record<string, unknown>, r };
    };
    const lock = policy({ Effect: 'Allow', Principal: { AWS: arnOf(carol) }, Action: 'kms:*', Resource: '*' });
    assert.equal((await call('CreateKey', { Policy: lock })).json['__type'], 'MalformedPolicyDocumentException');
    const created = await call('CreateKey', { Policy: lock, BypassPolicyLockoutSafetyCheck: true });
    assert.equal(created.status, 200);
    const keyId = (created.json['KeyMetadata'] as Record<string, string>)['KeyId'] ?? '';
    assert.equal((await call('GetKeyPolicy', { KeyId: keyId })).json['__type'], 'AccessDeniedException');
    const got = await call('GetKeyPolicy', { KeyId: keyId, PolicyName: 'default' }, carol.principal);
    assert.deepEqual(got.json, { Policy: lock, PolicyName: 'default' });
    assert.deepEqual((await call('ListKeyPolicies', { KeyId: keyId }, carol.principal)).json, { PolicyNames: ['default'], Truncated: false });
    const put = await call('PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: defaultKeyPolicy(acct) }, carol.principal);
    assert.equal(put.json['__type'], 'MalformedPolicyDocumentException', 'carol has no IAM policy: delegating to the account would lock her out');
    const ok = await call('PutKeyPolicy', { KeyId: keyId, Policy: defaultKeyPolicy(acct), BypassPolicyLockoutSafetyCheck: true }, carol.principal);
    assert.equal(ok.status, 200, ok.r.body);
    assert.deepEqual(ok.r.requestParameters, { keyId, policy: defaultKeyPolicy(acct), bypassPolicyLockoutSafetyCheck: true });
    assert.equal((await call('PutKeyPolicy', { KeyId: keyId, Policy: '{', BypassPolicyLockoutSafetyCheck: 'yes' })).json['__type'], 'SerializationException');
    assert.equal((await call('PutKeyPolicy', { KeyId: keyId })).json['__type'], 'ValidationException');
  });
});
