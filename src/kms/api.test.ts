import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Iam } from '../iam/iam.js';
import type { AuthzPrincipal } from '../iam/policy.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { handleKmsRequest, kmsOperationInfo, kmsRoute, type KmsOperation } from './api.js';
import { kmsErrorBody, kmsErrorStatus } from './errors.js';
import { Kms } from './kms.js';
import { seededInt } from '../lib/testing/seeded-rng.js';

const OPS: KmsOperation[] = [
  'CreateKey', 'DescribeKey', 'ListKeys', 'GetKeyPolicy', 'CreateAlias', 'UpdateAlias', 'DeleteAlias', 'ListAliases', 'Encrypt', 'Decrypt',
  'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncrypt', 'GenerateRandom', 'EnableKey', 'DisableKey', 'ScheduleKeyDeletion',
  'CancelKeyDeletion', 'EnableKeyRotation', 'DisableKeyRotation', 'GetKeyRotationStatus', 'RotateKeyOnDemand', 'CreateGrant', 'ListGrants',
  'RetireGrant', 'RevokeGrant', 'PutKeyPolicy', 'ListKeyPolicies',
];

describe('KMS JSON 1.1 handler', () => {
  let dir = '';
  let store: SqliteStore;
  let kms: Kms;
  let root: AuthzPrincipal;
  const call = (op: string, body: unknown) => handleKmsRequest(kms, root, `TrentService.${op}`, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { requestId: 'r-1' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nitride-kms-api-'));
    store = await SqliteStore.open(join(dir, 'state.db'));
    const iam = Iam.open(store, { home: dir });
    kms = Kms.open(store, iam, { home: dir });
    const acct = (await iam.createAccount('t')).accountId;
    root = { accountId: acct, userName: 'root' };
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('routes on X-Amz-Target and names operations for the audit record', () => {
    assert.equal(kmsRoute({ 'x-amz-target': 'TrentService.Encrypt' }), true);
    assert.equal(kmsRoute({ 'x-amz-target': ['TrentService.Encrypt'] }), true);
    assert.equal(kmsRoute({ 'x-amz-target': 'DynamoDB_20120810.GetItem' }), false);
    assert.equal(kmsRoute({}), false);
    assert.deepEqual(kmsOperationInfo('TrentService.Decrypt'), { operation: 'Decrypt', readOnly: true, known: true });
    assert.deepEqual(kmsOperationInfo('TrentService.CreateKey'), { operation: 'CreateKey', readOnly: false, known: true });
    assert.deepEqual(kmsOperationInfo('TrentService.PutKeyPolicy'), { operation: 'PutKeyPolicy', readOnly: false, known: true });
    assert.deepEqual(kmsOperationInfo('TrentService.ListKeyPolicies'), { operation: 'ListKeyPolicies', readOnly: true, known: true });
    assert.equal(kmsOperationInfo('TrentService.Nope').known, false);
  });

  it('renders errors as {"__type","message"} with KMS statuses', () => {
    assert.deepEqual(JSON.parse(kmsErrorBody('NotFoundException', 'gone')), { __type: 'NotFoundException', message: 'gone' });
    assert.equal(kmsErrorStatus('NotFoundException'), 400);
    assert.equal(kmsErrorStatus('KMSInternalException'), 500);
    assert.equal(kmsErrorStatus('DependencyTimeoutException'), 503);
  });

  it('answers in KMS shapes and never puts plaintext, ciphertext or grant tokens in the audit elements', async () => {
    const ck = await call('CreateKey', { Description: 'd' });
    assert.equal(ck.status, 200);
    const km = (JSON.parse(ck.body) as { KeyMetadata: Record<string, unknown> }).KeyMetadata;
    assert.equal(typeof km['CreationDate'], 'number');
    assert.equal(km['KeySpec'], 'SYMMETRIC_DEFAULT');
    const keyId = km['KeyId'] as string;
    assert.deepEqual(ck.resources, [km['Arn']]);

    const pt = Buffer.from('very secret words').toString('base64');
    const enc = await call('Encrypt', { KeyId: keyId, Plaintext: pt, EncryptionContext: { a: 'b' } });
    assert.equal(enc.status, 200);
    const blob = (JSON.parse(enc.body) as { CiphertextBlob: string }).CiphertextBlob;
    assert.deepEqual(enc.requestParameters, { keyId, encryptionContext: { a: 'b' } });
    const dec = await call('Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: 'b' } });
    assert.equal((JSON.parse(dec.body) as { Plaintext: string }).Plaintext, pt);
    const gdk = await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' });
    const dk = (JSON.parse(gdk.body) as { Plaintext: string }).Plaintext;
    const grant = await call('CreateGrant', { KeyId: keyId, GranteePrincipal: `arn:aws:iam::${root.accountId}:user/x`, Operations: ['Decrypt'] });
    const token = (JSON.parse(grant.body) as { GrantToken: string }).GrantToken;
    for (const r of [enc, dec, gdk, grant]) {
      const audit = JSON.stringify([r.requestParameters, r.responseElements]);
      for (const secret of [pt, blob, dk, token]) assert.equal(audit.includes(secret), false);
    }
    assert.equal(JSON.stringify(dec.responseElements), JSON.stringify({ keyId: km['Arn'], encryptionAlgorithm: 'SYMMETRIC_DEFAULT' }));

    const bad = await call('Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: 'c' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { __type: 'InvalidCiphertextException', message: 'The ciphertext is not valid.' });
    assert.equal(bad.errorCode, 'InvalidCiphertextException');
  });

  it('survives a seeded fuzz of bodies for every operation: only clean KMS client errors or success', async () => {
    const rnd = seededInt(0x9e3779b9);
    const keyId = (JSON.parse((await call('CreateKey', {})).body) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
    const values = (): unknown => {
      switch (rnd(12)) {
        case 0: return null;
        case 1: return rnd(3000) - 5;
        case 2: return 'x'.repeat(rnd(300));
        case 3: return keyId;
        case 4: return 'alias/aws/ebs';
        case 5: return Buffer.from('hello').toString('base64');
        case 6: return { a: 'b', [String(rnd(9))]: rnd(2) ? 'v' : 5 };
        case 7: return ['Decrypt', 'Encrypt', rnd(2) ? 'Sign' : 'DescribeKey'];
        case 8: return [{ TagKey: 'k', TagValue: 'v' }, 7];
        case 9: return 'AES_256';
        case 10: return true;
        default: return 'SGVsbG8=!!';
      }
    };
    const members = ['KeyId', 'Plaintext', 'CiphertextBlob', 'EncryptionContext', 'GrantTokens', 'KeySpec', 'NumberOfBytes', 'Limit', 'Marker', 'AliasName', 'TargetKeyId',
      'DestinationKeyId', 'SourceKeyId', 'PendingWindowInDays', 'GranteePrincipal', 'Operations', 'Constraints', 'GrantId', 'GrantToken', 'Tags', 'Policy', 'Description', 'RotationPeriodInDays', 'PolicyName', 'BypassPolicyLockoutSafetyCheck'];
    for (let i = 0; i < 600; i++) {
      const op = OPS[rnd(OPS.length)] ?? 'DescribeKey';
      let body: string;
      if (rnd(10) === 0) body = ['', '[]', '"x"', '{', 'null', '{"KeyId":', '\u0000'][rnd(7)] ?? '';
      else {
        const o: Record<string, unknown> = {};
        for (let j = rnd(6); j > 0; j--) o[members[rnd(members.length)] ?? 'KeyId'] = values();
        body = JSON.stringify(o);
      }
      const r = await call(op, body);
      assert.ok(r.status === 200 || r.status === 400, `${op} ${body} → ${r.status} ${r.body}`);
      const parsed = JSON.parse(r.body) as Record<string, unknown>;
      if (r.status === 400) assert.equal(typeof parsed['__type'], 'string');
    }
  });
});
