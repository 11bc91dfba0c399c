import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Iam } from '../iam/iam.js';
import type { AuthzPrincipal } from '../iam/policy.js';
import { RootKey, rootKeyPath, type SealedSecret } from '../iam/root-key.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { KmsError } from './errors.js';
import { Kms } from './kms.js';
import { EC2_VIA_SERVICE, serviceCaller, type KmsCaller } from './model.js';
import { decodeBlob } from './protocol/ciphertext-blob.js';

const code = (c: string) => (e: unknown) => e instanceof KmsError && e.code === c;
const DAY = 86_400_000;

describe('Kms', () => {
  let dir = '';
  let store: SqliteStore;
  let iam: Iam;
  let kms: Kms;
  let clock = Date.now();
  let acct = '';
  let other = '';
  let root: KmsCaller;
  let alice: KmsCaller; // IAM user without policies
  let bob: KmsCaller; // IAM user allowed kms:* except an explicit deny on Decrypt
  let mallory: KmsCaller; // root of another account

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nitride-kms-'));
    store = await SqliteStore.open(join(dir, 'region', 'state.db'));
    iam = Iam.open(store, { home: dir });
    kms = Kms.open(store, iam, { home: dir });
    kms = new Kms(store, RootKey.loadOrCreate(rootKeyPath(dir)), iam, () => clock);
    acct = (await iam.createAccount('a')).accountId;
    other = (await iam.createAccount('b')).accountId;
    const p = (accountId: string, userName: string): AuthzPrincipal => ({ accountId, userName, arn: userName === 'root' ? `arn:aws:iam::${accountId}:root` : `arn:aws:iam::${accountId}:user/${userName}` });
    await iam.createUser(acct, 'alice');
    await iam.createUser(acct, 'bob');
    await iam.putUserPolicy(
      acct,
      'bob',
      'kms',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' }] }),
    );
    root = { principal: p(acct, 'root') };
    alice = { principal: p(acct, 'alice') };
    bob = { principal: p(acct, 'bob') };
    mallory = { principal: p(other, 'root') };
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates keys and describes them by id, key ARN, alias and alias ARN', async () => {
    const k = await kms.createKey(root, { description: 'first', tags: [{ tagKey: 'team', tagValue: 'x' }] });
    assert.match(k.keyId, /^[0-9a-f-]{36}$/);
    assert.equal(k.arn, `arn:aws:kms:local-1:${acct}:key/${k.keyId}`);
    assert.equal(k.keyState, 'Enabled');
    assert.equal(k.keyManager, 'CUSTOMER');
    await kms.createAlias(root, 'alias/first', k.keyId);
    for (const id of [k.keyId, k.arn, 'alias/first', `arn:aws:kms:local-1:${acct}:alias/first`]) assert.equal((await kms.describeKey(root, id)).keyId, k.keyId);
    await assert.rejects(kms.createAlias(root, 'alias/first', k.keyId), code('AlreadyExistsException'));
    await assert.rejects(kms.createAlias(root, 'alias/aws/mine', k.keyId), code('InvalidAliasNameException'));
    await assert.rejects(kms.createAlias(root, 'first', k.keyId), code('InvalidAliasNameException'));
    await assert.rejects(kms.describeKey(root, 'alias/none'), code('NotFoundException'));
    await assert.rejects(kms.describeKey(root, '00000000-0000-0000-0000-000000000000'), code('NotFoundException'));
    await assert.rejects(kms.createKey(root, { keySpec: 'RSA_2048' }), code('UnsupportedOperationException'));
    await assert.rejects(kms.createKey(root, { policy: 'not json' }), code('MalformedPolicyDocumentException'));
    const k2 = await kms.createKey(root, {});
    await kms.updateAlias(root, 'alias/first', k2.keyId);
    assert.equal((await kms.describeKey(root, 'alias/first')).keyId, k2.keyId);
    const aliases = await kms.listAliases(root, { keyId: k2.keyId });
    assert.deepEqual(aliases.items.map((a) => a.aliasName), ['alias/first']);
    await kms.deleteAlias(root, 'alias/first');
    await assert.rejects(kms.describeKey(root, 'alias/first'), code('NotFoundException'));
  });

  it('lists keys page by page', async () => {
    const mine = new Set<string>();
    for (let i = 0; i < 3; i++) mine.add((await kms.createKey(root)).keyId);
    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const p = await kms.listKeys(root, { limit: 2, ...(marker ? { marker } : {}) });
      assert.ok(p.items.length <= 2);
      seen.push(...p.items.map((k) => k.keyId));
      if (!p.truncated) break;
      marker = p.nextMarker;
    }
    for (const id of mine) assert.ok(seen.includes(id));
    assert.equal(new Set(seen).size, seen.length);
    assert.equal((await kms.listKeys(mallory)).items.length, 0, 'another account sees none of them');
    await assert.rejects(kms.listKeys(root, { marker: Buffer.from('kms/accounts/x').toString('base64url') }), code('InvalidMarkerException'));
  });

  it('encrypts and decrypts with an encryption context; a wrong context, a wrong KeyId or a tampered blob fails', async () => {
    const k = await kms.createKey(root);
    const pt = Buffer.from('hello kms');
    const ctx = { purpose: 'test', 'aws:ebs:id': 'vol-1' };
    const { ciphertextBlob, keyId } = await kms.encrypt(root, { keyId: k.keyId, plaintext: pt, encryptionContext: ctx });
    assert.equal(keyId, k.arn);
    assert.equal(decodeBlob(ciphertextBlob).keyId, k.keyId);
    const d = await kms.decrypt(root, { ciphertextBlob, encryptionContext: { 'aws:ebs:id': 'vol-1', purpose: 'test' } });
    assert.deepEqual(d.plaintext, pt);
    assert.equal(d.keyId, k.arn);
    await assert.rejects(kms.decrypt(root, { ciphertextBlob, encryptionContext: { purpose: 'other', 'aws:ebs:id': 'vol-1' } }), code('InvalidCiphertextException'));
    await assert.rejects(kms.decrypt(root, { ciphertextBlob }), code('InvalidCiphertextException'));
    const k2 = await kms.createKey(root);
    await assert.rejects(kms.decrypt(root, { ciphertextBlob, keyId: k2.keyId, encryptionContext: ctx }), code('IncorrectKeyException'));
    assert.deepEqual((await kms.decrypt(root, { ciphertextBlob, keyId: k.arn, encryptionContext: ctx })).plaintext, pt);
    const t = Buffer.from(ciphertextBlob);
    t[t.length - 1] = (t[t.length - 1] ?? 0) ^ 0x80;
    await assert.rejects(kms.decrypt(root, { ciphertextBlob: t, encryptionContext: ctx }), code('InvalidCiphertextException'));
    await assert.rejects(kms.decrypt(root, { ciphertextBlob: Buffer.from('garbage') }), code('InvalidCiphertextException'));
    await assert.rejects(kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.alloc(4097) }), code('ValidationException'));
    await assert.rejects(kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.alloc(0) }), code('ValidationException'));
  });

  it('generates data keys (AES_256, AES_128, NumberOfBytes) with and without plaintext, and re-encrypts', async () => {
    const k = await kms.createKey(root);
    const dk = await kms.generateDataKey(root, { keyId: k.keyId, keySpec: 'AES_256', encryptionContext: { v: '1' } });
    assert.equal(dk.plaintext.length, 32);
    assert.deepEqual((await kms.decrypt(root, { ciphertextBlob: dk.ciphertextBlob, encryptionContext: { v: '1' } })).plaintext, dk.plaintext);
    assert.equal((await kms.generateDataKey(root, { keyId: k.keyId, keySpec: 'AES_128' })).plaintext.length, 16);
    assert.equal((await kms.generateDataKey(root, { keyId: k.keyId, numberOfBytes: 7 })).plaintext.length, 7);
    await assert.rejects(kms.generateDataKey(root, { keyId: k.keyId }), code('ValidationException'));
    await assert.rejects(kms.generateDataKey(root, { keyId: k.keyId, keySpec: 'AES_256', numberOfBytes: 32 }), code('ValidationException'));
    await assert.rejects(kms.generateDataKey(root, { keyId: k.keyId, numberOfBytes: 1025 }), code('ValidationException'));
    const wp = await kms.generateDataKeyWithoutPlaintext(root, { keyId: k.keyId, keySpec: 'AES_256' });
    assert.equal(Object.hasOwn(wp, 'plaintext'), false);
    assert.equal((await kms.decrypt(root, { ciphertextBlob: wp.ciphertextBlob })).plaintext.length, 32);

    const dest = await kms.createKey(root);
    const re = await kms.reEncrypt(root, { ciphertextBlob: dk.ciphertextBlob, sourceEncryptionContext: { v: '1' }, destinationKeyId: dest.keyId, destinationEncryptionContext: { v: '2' } });
    assert.equal(re.sourceKeyId, k.arn);
    assert.equal(re.keyId, dest.arn);
    assert.equal(decodeBlob(re.ciphertextBlob).keyId, dest.keyId);
    assert.deepEqual((await kms.decrypt(root, { ciphertextBlob: re.ciphertextBlob, encryptionContext: { v: '2' } })).plaintext, dk.plaintext);
    await assert.rejects(kms.reEncrypt(root, { ciphertextBlob: dk.ciphertextBlob, destinationKeyId: dest.keyId }), code('InvalidCiphertextException'));
  });

  it('refuses a disabled key (DisabledException) and a key pending deletion (KMSInvalidStateException); cancel leaves it Disabled; the key goes after its window', async () => {
    const k = await kms.createKey(root);
    const { ciphertextBlob } = await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('x') });
    await kms.disableKey(root, k.keyId);
    assert.equal((await kms.describeKey(root, k.keyId)).enabled, false);
    await assert.rejects(kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('x') }), code('DisabledException'));
    await assert.rejects(kms.decrypt(root, { ciphertextBlob }), code('DisabledException'));
    await assert.rejects(kms.generateDataKey(root, { keyId: k.keyId, keySpec: 'AES_256' }), code('DisabledException'));
    await kms.enableKey(root, k.keyId);
    assert.deepEqual((await kms.decrypt(root, { ciphertextBlob })).plaintext, Buffer.from('x'));

    await assert.rejects(kms.scheduleKeyDeletion(root, k.keyId, 6), code('ValidationException'));
    await assert.rejects(kms.scheduleKeyDeletion(root, k.keyId, 31), code('ValidationException'));
    const s = await kms.scheduleKeyDeletion(root, k.keyId, 7);
    assert.equal(s.keyState, 'PendingDeletion');
    assert.equal(s.deletionDate.getTime(), clock + 7 * DAY);
    assert.equal((await kms.describeKey(root, k.keyId)).keyState, 'PendingDeletion');
    assert.equal((await kms.getKeyRotationStatus(root, k.keyId)).keyRotationEnabled, false, 'the rotation status of a key pending deletion is still answered');
    await assert.rejects(kms.decrypt(root, { ciphertextBlob }), code('KMSInvalidStateException'));
    await assert.rejects(kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('x') }), code('KMSInvalidStateException'));
    await assert.rejects(kms.enableKey(root, k.keyId), code('KMSInvalidStateException'));
    await assert.rejects(kms.scheduleKeyDeletion(root, k.keyId, 7), code('KMSInvalidStateException'));
    await kms.cancelKeyDeletion(root, k.keyId);
    assert.equal((await kms.describeKey(root, k.keyId)).keyState, 'Disabled');
    await assert.rejects(kms.cancelKeyDeletion(root, k.keyId), code('KMSInvalidStateException'));

    await kms.createAlias(root, 'alias/doomed', k.keyId);
    await kms.scheduleKeyDeletion(root, k.keyId, 7);
    const saved = clock;
    clock += 7 * DAY + 1;
    try {
      await assert.rejects(kms.describeKey(root, k.keyId), code('NotFoundException'));
      await assert.rejects(kms.describeKey(root, 'alias/doomed'), code('NotFoundException'));
      await assert.rejects(kms.decrypt(root, { ciphertextBlob }), code('InvalidCiphertextException'));
      assert.equal(await store.get(`kms/keys/${k.keyId}`), undefined);
    } finally {
      clock = saved;
    }
  });

  it('rotation adds material and keeps old material for Decrypt', async () => {
    const k = await kms.createKey(root);
    const old = await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('before'), encryptionContext: { a: 'b' } });
    assert.equal((await kms.getKeyRotationStatus(root, k.keyId)).keyRotationEnabled, false);
    await assert.rejects(kms.enableKeyRotation(root, k.keyId, 89), code('ValidationException'));
    await kms.enableKeyRotation(root, k.keyId, 90);
    const st = await kms.getKeyRotationStatus(root, k.keyId);
    assert.equal(st.keyRotationEnabled, true);
    assert.equal(st.rotationPeriodInDays, 90);
    assert.equal(st.nextRotationDate?.getTime(), clock + 90 * DAY);
    await kms.rotateKeyOnDemand(root, k.keyId);
    const after1 = await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('after') });
    assert.equal(decodeBlob(old.ciphertextBlob).materialVersion, 1);
    assert.equal(decodeBlob(after1.ciphertextBlob).materialVersion, 2);
    // the timer path: nothing due now, due after the period
    assert.deepEqual(await kms.rotateDue(), []);
    const saved = clock;
    clock += 91 * DAY;
    try {
      assert.ok((await kms.rotateDue()).includes(k.keyId));
    } finally {
      clock = saved;
    }
    assert.equal((await kms.getKeyRotationStatus(root, k.keyId)).materialVersions, 3);
    // a fresh Kms (no cache) still opens every version
    const fresh = new Kms(store, RootKey.loadOrCreate(rootKeyPath(dir)), iam);
    assert.deepEqual((await fresh.decrypt(root, { ciphertextBlob: old.ciphertextBlob, encryptionContext: { a: 'b' } })).plaintext, Buffer.from('before'));
    assert.deepEqual((await fresh.decrypt(root, { ciphertextBlob: after1.ciphertextBlob })).plaintext, Buffer.from('after'));
    await kms.disableKeyRotation(root, k.keyId);
    assert.equal((await kms.getKeyRotationStatus(root, k.keyId)).keyRotationEnabled, false);
  });

  it('authorizes through IAM policies and grants; an explicit deny beats a grant; retire/revoke end a grant', async () => {
    const k = await kms.createKey(root);
    const blob = (await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('secret'), encryptionContext: { 'aws:ebs:id': 'vol-1' } })).ciphertextBlob;
    await assert.rejects(kms.describeKey(alice, k.keyId), code('AccessDeniedException'));
    await assert.rejects(kms.decrypt(alice, { ciphertextBlob: blob, encryptionContext: { 'aws:ebs:id': 'vol-1' } }), code('AccessDeniedException'));
    await assert.rejects(kms.createKey(alice), code('AccessDeniedException'));
    const g = await kms.createGrant(root, {
      keyId: k.keyId,
      granteePrincipal: `arn:aws:iam::${acct}:user/alice`,
      operations: ['Decrypt', 'GenerateDataKeyWithoutPlaintext'],
      constraints: { encryptionContextSubset: { 'aws:ebs:id': 'vol-1' } },
      retiringPrincipal: `arn:aws:iam::${acct}:root`,
      name: 'ebs-vol-1',
    });
    assert.match(g.grantId, /^[0-9a-f]{64}$/);
    assert.deepEqual((await kms.decrypt(alice, { ciphertextBlob: blob, encryptionContext: { 'aws:ebs:id': 'vol-1' }, grantTokens: [g.grantToken] })).plaintext, Buffer.from('secret'));
    // the constraint: another volume's context is not covered
    const blob2 = (await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('other'), encryptionContext: { 'aws:ebs:id': 'vol-2' } })).ciphertextBlob;
    await assert.rejects(kms.decrypt(alice, { ciphertextBlob: blob2, encryptionContext: { 'aws:ebs:id': 'vol-2' } }), code('AccessDeniedException'));
    await assert.rejects(kms.encrypt(alice, { keyId: k.keyId, plaintext: Buffer.from('x'), encryptionContext: { 'aws:ebs:id': 'vol-1' } }), code('AccessDeniedException'));
    await kms.generateDataKeyWithoutPlaintext(alice, { keyId: k.arn, keySpec: 'AES_256', encryptionContext: { 'aws:ebs:id': 'vol-1', extra: 'y' } });
    await assert.rejects(kms.decrypt(alice, { ciphertextBlob: blob, encryptionContext: { 'aws:ebs:id': 'vol-1' }, grantTokens: ['bm90IGEgdG9rZW4='] }), code('InvalidGrantTokenException'));
    // bob: kms:* allowed but Decrypt explicitly denied, and a grant does not override that
    await kms.createGrant(root, { keyId: k.keyId, granteePrincipal: `arn:aws:iam::${acct}:user/bob`, operations: ['Decrypt'] });
    await assert.rejects(kms.decrypt(bob, { ciphertextBlob: blob, encryptionContext: { 'aws:ebs:id': 'vol-1' } }), (e: unknown) => code('AccessDeniedException')(e) && /explicit deny/.test((e as Error).message));
    assert.equal((await kms.describeKey(bob, k.keyId)).keyId, k.keyId);
    const list = await kms.listGrants(root, { keyId: k.keyId });
    assert.equal(list.items.length, 2);
    const ag = list.items.find((x) => x.grantId === g.grantId);
    assert.deepEqual(ag?.operations, ['Decrypt', 'GenerateDataKeyWithoutPlaintext']);
    assert.deepEqual(ag?.constraints, { encryptionContextSubset: { 'aws:ebs:id': 'vol-1' } });
    assert.equal(ag?.keyId, k.arn);
    // alice may not retire it (not retiring principal, RetireGrant not granted); root may
    await assert.rejects(kms.retireGrant(alice, { grantToken: g.grantToken }), code('AccessDeniedException'));
    await kms.retireGrant(root, { grantToken: g.grantToken });
    await assert.rejects(kms.decrypt(alice, { ciphertextBlob: blob, encryptionContext: { 'aws:ebs:id': 'vol-1' } }), code('AccessDeniedException'));
    await assert.rejects(kms.retireGrant(root, { grantToken: g.grantToken }), code('InvalidGrantTokenException'));
    const bobGrant = (await kms.listGrants(root, { keyId: k.keyId })).items[0];
    assert.ok(bobGrant);
    await kms.revokeGrant(root, k.keyId, bobGrant.grantId);
    assert.equal((await kms.listGrants(root, { keyId: k.keyId })).items.length, 0);
    await assert.rejects(kms.revokeGrant(root, k.keyId, bobGrant.grantId), code('InvalidGrantIdException'));
    await assert.rejects(kms.createGrant(root, { keyId: k.keyId, granteePrincipal: 'nobody', operations: ['Decrypt'] }), code('ValidationException'));
    await assert.rejects(kms.createGrant(root, { keyId: k.keyId, granteePrincipal: `arn:aws:iam::${acct}:user/alice`, operations: ['Sign'] }), code('ValidationException'));
  });

  it('keeps accounts apart: ids and aliases resolve in the caller account, ARNs and ciphertexts of another account are AccessDenied unless granted', async () => {
    const k = await kms.createKey(root);
    await kms.createAlias(root, 'alias/tenant-a', k.keyId);
    const blob = (await kms.encrypt(root, { keyId: k.keyId, plaintext: Buffer.from('tenant a') })).ciphertextBlob;
    await assert.rejects(kms.describeKey(mallory, k.keyId), code('NotFoundException'));
    await assert.rejects(kms.describeKey(mallory, 'alias/tenant-a'), code('NotFoundException'));
    await assert.rejects(kms.describeKey(mallory, k.arn), code('AccessDeniedException'));
    await assert.rejects(kms.describeKey(mallory, `arn:aws:kms:local-1:${acct}:key/00000000-0000-0000-0000-000000000000`), code('AccessDeniedException'));
    await assert.rejects(kms.encrypt(mallory, { keyId: k.arn, plaintext: Buffer.from('x') }), code('AccessDeniedException'));
    await assert.rejects(kms.decrypt(mallory, { ciphertextBlob: blob }), code('AccessDeniedException'));
    await assert.rejects(kms.disableKey(mallory, k.arn), code('AccessDeniedException'));
    await assert.rejects(kms.createGrant(mallory, { keyId: k.arn, granteePrincipal: `arn:aws:iam::${other}:root`, operations: ['Decrypt'] }), code('AccessDeniedException'));
    // the owner grants the other account's root Decrypt: now it works by ciphertext, still not Encrypt
    await kms.createGrant(root, { keyId: k.keyId, granteePrincipal: `arn:aws:iam::${other}:root`, operations: ['Decrypt'] });
    assert.deepEqual((await kms.decrypt(mallory, { ciphertextBlob: blob })).plaintext, Buffer.from('tenant a'));
    await assert.rejects(kms.encrypt(mallory, { keyId: k.arn, plaintext: Buffer.from('x') }), code('AccessDeniedException'));
  });

  it('has an AWS-managed alias/aws/ebs key per account: created on first use, used through EC2 or grants, never managed', async () => {
    const m = await kms.awsManagedKey(acct, 'ebs');
    assert.equal(m.keyManager, 'AWS');
    assert.equal((await kms.awsManagedKey(acct, 'ebs')).keyId, m.keyId, 'one per account');
    assert.equal((await kms.describeKey(root, 'alias/aws/ebs')).keyId, m.keyId);
    assert.equal((await kms.getKeyRotationStatus(root, m.keyId)).keyRotationEnabled, true);
    const otherM = await kms.describeKey(mallory, 'alias/aws/ebs'); // created on first reference
    assert.notEqual(otherM.keyId, m.keyId);
    assert.equal(otherM.accountId, other);
    // directly: no cryptography, no management; through EC2: any principal of the account
    await assert.rejects(kms.encrypt(root, { keyId: 'alias/aws/ebs', plaintext: Buffer.from('x') }), code('AccessDeniedException'));
    await assert.rejects(kms.disableKey(root, m.keyId), code('AccessDeniedException'));
    await assert.rejects(kms.scheduleKeyDeletion(root, m.keyId, 7), code('AccessDeniedException'));
    await assert.rejects(kms.createAlias(root, 'alias/mine', m.keyId), code('AccessDeniedException'));
    const viaEc2 = { ...alice, context: { 'kms:ViaService': EC2_VIA_SERVICE } };
    const dk = await kms.generateDataKeyWithoutPlaintext(viaEc2, { keyId: 'alias/aws/ebs', keySpec: 'AES_256', encryptionContext: { 'aws:ebs:id': 'vol-9' } });
    assert.equal(dk.keyId, m.arn);
    // the EBS flow: grant the service Decrypt for this volume; the service decrypts under the grant
    const ebs = serviceCaller('ebs.amazonaws.com', acct);
    await assert.rejects(kms.decrypt(ebs, { ciphertextBlob: dk.ciphertextBlob, encryptionContext: { 'aws:ebs:id': 'vol-9' } }), code('AccessDeniedException'));
    await kms.createGrant(viaEc2, { keyId: m.arn, granteePrincipal: 'ebs.amazonaws.com', operations: ['Decrypt'], constraints: { encryptionContextSubset: { 'aws:ebs:id': 'vol-9' } } });
    assert.equal((await kms.decrypt(ebs, { ciphertextBlob: dk.ciphertextBlob, encryptionContext: { 'aws:ebs:id': 'vol-9' } })).plaintext.length, 32);
    await assert.rejects(kms.describeKey(ebs, m.keyId), code('AccessDeniedException'));
    await assert.rejects(kms.createKey(ebs), code('AccessDeniedException'));
    await assert.rejects(kms.decrypt(serviceCaller('ebs.amazonaws.com', other), { ciphertextBlob: dk.ciphertextBlob, encryptionContext: { 'aws:ebs:id': 'vol-9' } }), code('AccessDeniedException'));
  });

  it('keeps no plaintext key material or data key in the state store or any file under home; the root key file is 0600', async () => {
    const k = await kms.createKey(root);
    await kms.rotate(k.keyId);
    const dk = await kms.generateDataKey(root, { keyId: k.keyId, keySpec: 'AES_256' });
    const rec = (await store.get<{ materials: { version: number; sealed: SealedSecret }[] }>(`kms/keys/${k.keyId}`))?.value;
    assert.ok(rec);
    const rk = RootKey.loadOrCreate(rootKeyPath(dir));
    const secrets: Buffer[] = [dk.plaintext];
    for (const m of rec.materials) {
      const b = Buffer.from(rk.unseal(m.sealed, `nitride/kms/key-material/v1/${k.keyId}/${m.version}`), 'base64');
      assert.equal(b.length, 32);
      secrets.push(b);
    }
    assert.equal(statSync(rootKeyPath(dir)).mode & 0o777, 0o600);
    const rootBytes = readFileSync(rootKeyPath(dir));
    const files = (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f)).filter((f) => statSync(f).isFile() && f !== rootKeyPath(dir));
    assert.ok(files.some((f) => f.endsWith('state.db')));
    for (const f of files) {
      const data = readFileSync(f);
      for (const s of [...secrets, rootBytes]) {
        for (const form of [s, Buffer.from(s.toString('base64')), Buffer.from(s.toString('hex'))]) assert.equal(data.includes(form), false, `${f} holds a secret`);
      }
    }
  });
});
