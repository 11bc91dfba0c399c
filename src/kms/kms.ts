// KMS over the state store: symmetric keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), aliases,
// grants, rotation and deletion, for the accounts (tenants) of the region.
//
// Store layout (every value JSON; no plaintext key material anywhere):
//   kms/keys/<keyId>                         KeyRecord (material sealed with the region root key)
//   kms/accounts/<acct>/keys/<keyId>         {}            the account's keys, for ListKeys
//   kms/accounts/<acct>/aliases/<aliasName>  AliasRecord
//   kms/grants/<grantId>                     GrantRecord (the grant token only as a SHA-256)
//   kms/keygrants/<keyId>/<grantId>          {}            the key's grants, for ListGrants
//
// Key material: 32 random bytes per version, sealed with RootKey (AES-256-GCM, AAD
// "nitride/kms/key-material/v1/<keyId>/<version>") and kept unsealed only in this process's
// memory. Rotation appends a version and makes it current; old versions stay for Decrypt.
//
// Authorization of an operation on a key (action kms:<Op>, resource the key ARN), as KMS:
//   - every key has a key policy (CreateKey's Policy, or the default one allowing the
//     account root kms:*, which is what delegates to IAM); AWS managed keys keep their built-in one;
//   - an explicit Deny in the key policy or in the caller's IAM policies refuses it, whatever
//     else allows it (grants included);
//   - allowed when the key policy names the caller ("*", its user ARN), or names its account
//     and its IAM policies allow it (an account's root: always); for another account's
//     caller, its IAM policies must allow it in both cases;
//   - otherwise by a grant: the grantee is the caller's ARN, the operation is in the grant,
//     and the request's encryption context satisfies its constraints;
//   - another account's key is reachable only by its key ARN (or a ciphertext naming it), only
//     for the cross-account operations, and every refusal is the AccessDeniedException a
//     missing key gets. Key ids and alias names always resolve in the caller's own account
//     (another account's key id is NotFoundException), as KMS does.
//   - service principals (serviceCaller('ebs.amazonaws.com', acct)) have no IAM policies:
//     grants (or a key policy statement naming the Service) authorize them.
// PutKeyPolicy and CreateKey with a Policy validate the document (syntax, existing
// principals) and run KMS's lockout safety check unless BypassPolicyLockoutSafetyCheck.
//
// The records, shapes and callers are in model.ts, the parameter checks in checks.ts, the
// policies KMS writes itself in key-policies.ts.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { IamError } from '../iam/errors.js';
import type { Iam } from '../iam/iam.js';
import { type ConditionValue, evaluateResourcePolicy, parseResourcePolicy, principalArn, type ResourceCaller, type ResourcePolicyDocument, resourcePolicyPrincipals } from '../iam/policy.js';
import { RootKey, rootKeyPath } from '../iam/root-key.js';
import { checkTagKeys, checkTags, MAX_LIST_TAGS, requestTagContext, resourceTagContext, tagPage, withoutTags, withTags } from './tags.js';
import { nitrideHome } from '../lib/paths.js';
import type { JsonValue, StateStore } from '../store/store.js';
import { checkAliasName, checkContext, checkLimit, checkPolicyName, contextSatisfies, decodeMarker, encodeMarker, IAM_PRINCIPAL_RE } from './checks.js';
import { decodeBlob, MATERIAL_BYTES, openBlob, sealBlob } from './envelope.js';
import { KmsError, validation } from './errors.js';
import { awsManagedKeyPolicy, defaultKeyPolicy } from './key-policies.js';
import { aliasArn, type AliasEntry, type AliasRecord, AWS_MANAGED_SERVICES, callerArn, CROSS_ACCOUNT_OPS, CRYPTO_GRANT_OPS, type CryptoOptions, DAY_MS, DEFAULT_ROTATION_DAYS, GRANT_OPERATIONS, type GrantConstraints, type GrantEntry, grantEntry, type GrantOperation, type GrantRecord, isService, KEY_POLICY_NAME, keyArn, type KeyManager, type KeyMetadata, type KeyRecord, type KeyState, KMS_REGION, type KmsCaller, MAX_DATA_KEY_BYTES, MAX_KEY_POLICY_BYTES, MAX_PLAINTEXT_BYTES, metadata, type Page, SERVICE_RE, type Tag } from './model.js';
import type { EncryptionContext } from './protocol/ciphertext-blob.js';

const K = {
  key: (id: string) => `kms/keys/${id}`,
  acctKey: (a: string, id: string) => `kms/accounts/${a}/keys/${id}`,
  acctKeys: (a: string) => `kms/accounts/${a}/keys/`,
  alias: (a: string, name: string) => `kms/accounts/${a}/aliases/${name}`,
  aliases: (a: string) => `kms/accounts/${a}/aliases/`,
  grant: (g: string) => `kms/grants/${g}`,
  keyGrant: (k: string, g: string) => `kms/keygrants/${k}/${g}`,
  keyGrants: (k: string) => `kms/keygrants/${k}/`,
};

const materialAad = (keyId: string, version: number): string => `nitride/kms/key-material/v1/${keyId}/${version}`;
const json = (v: unknown): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export class Kms {
  private readonly materialCache = new Map<string, Buffer>();
  private readonly policyCache = new Map<string, ResourcePolicyDocument>();

  constructor(
    private readonly store: StateStore,
    private readonly rootKey: RootKey,
    private readonly iam: Iam,
    private readonly now: () => number = Date.now,
  ) {}

  /** KMS with the region root key at $home/region/root.key (the file IAM uses; created 0600 on first use). */
  static open(store: StateStore, iam: Iam, opts: { home?: string; rootKeyPath?: string } = {}): Kms {
    return new Kms(store, RootKey.loadOrCreate(opts.rootKeyPath ?? rootKeyPath(opts.home ?? nitrideHome())), iam);
  }

  // ---- keys --------------------------------------------------------------------------------

  async createKey(
    caller: KmsCaller,
    req: { description?: string; keyUsage?: string; keySpec?: string; policy?: string; bypassPolicyLockoutSafetyCheck?: boolean; tags?: readonly Tag[]; origin?: string } = {},
  ): Promise<KeyMetadata> {
    const tags = req.tags ?? [];
    checkTags(tags);
    // Tags on CreateKey need kms:TagResource too (as KMS); both see aws:RequestTag/<key> and aws:TagKeys.
    const tagging: KmsCaller = tags.length === 0 ? caller : { ...caller, context: { ...caller.context, ...requestTagContext(tags) } };
    await this.authorizeAccount(tagging, 'CreateKey');
    if (tags.length > 0) await this.authorizeAccount(tagging, 'TagResource');
    if (req.keyUsage !== undefined && req.keyUsage !== 'ENCRYPT_DECRYPT') throw new KmsError('UnsupportedOperationException', `KeyUsage ${req.keyUsage} is not supported; only ENCRYPT_DECRYPT keys exist here.`);
    if (req.keySpec !== undefined && req.keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', `KeySpec ${req.keySpec} is not supported; only SYMMETRIC_DEFAULT keys exist here.`);
    if (req.origin !== undefined && req.origin !== 'AWS_KMS') throw new KmsError('UnsupportedOperationException', `Origin ${req.origin} is not supported.`);
    const description = req.description ?? '';
    if (description.length > 8192) throw validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192");
    const policy = req.policy ?? defaultKeyPolicy(caller.principal.accountId);
    const keyId = randomUUID();
    if (req.policy !== undefined) await this.checkKeyPolicy(caller, keyArn(caller.principal.accountId, keyId), req.policy, req.bypassPolicyLockoutSafetyCheck === true);
    const rec = this.newKeyRecord(caller.principal.accountId, { description, policy, tags, keyManager: 'CUSTOMER' }, keyId);
    await this.store.txn({ put: [{ key: K.key(rec.keyId), value: json(rec) }, { key: K.acctKey(rec.accountId, rec.keyId), value: {} }] });
    return metadata(rec);
  }

  private newKeyRecord(accountId: string, o: { description: string; policy: string; tags: readonly Tag[]; keyManager: KeyManager }, keyId: string = randomUUID()): KeyRecord {
    const t = this.now();
    const material = randomBytes(MATERIAL_BYTES);
    const sealed = this.rootKey.seal(material.toString('base64'), materialAad(keyId, 1));
    this.materialCache.set(`${keyId}/1`, material);
    const aws = o.keyManager === 'AWS';
    return {
      keyId,
      accountId,
      arn: keyArn(accountId, keyId),
      creationDate: t,
      description: o.description,
      keyState: 'Enabled',
      keyManager: o.keyManager,
      policy: o.policy,
      tags: o.tags,
      rotationEnabled: aws, // AWS managed keys rotate every year
      ...(aws ? { rotationPeriodInDays: DEFAULT_ROTATION_DAYS, nextRotationDate: t + DEFAULT_ROTATION_DAYS * DAY_MS } : {}),
      currentVersion: 1,
      materials: [{ version: 1, createdAt: t, sealed }],
    };
  }

  async describeKey(caller: KmsCaller, keyId: string): Promise<KeyMetadata> {
    const key = await this.resolve(caller, keyId);
    await this.authorizeKey(caller, 'DescribeKey', key);
    return metadata(key.rec);
  }

  /** GetKeyPolicy: the key's policy document as stored (the default key policy unless one was given). */
  async getKeyPolicy(caller: KmsCaller, keyId: string, policyName: string = KEY_POLICY_NAME): Promise<string> {
    checkPolicyName(policyName);
    const key = await this.resolve(caller, keyId);
    await this.authorizeKey(caller, 'GetKeyPolicy', key);
    return key.rec.policy;
  }

  /** ListKeyPolicies: always ['default'] (KMS has one policy per key). */
  async listKeyPolicies(caller: KmsCaller, keyId: string, opts: { limit?: number; marker?: string } = {}): Promise<Page<string>> {
    checkLimit(opts.limit, 100, 1000);
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'ListKeyPolicies', key);
    if (opts.marker !== undefined) throw new KmsError('InvalidMarkerException', 'The marker is not valid for this request.');
    return { items: [KEY_POLICY_NAME], truncated: false };
  }

  /**
   * PutKeyPolicy: replaces the key's policy. The document is validated first (syntax,
   * principals that exist) and, unless `bypassPolicyLockoutSafetyCheck`, must still let the
   * caller call PutKeyPolicy afterwards; a refused document leaves the stored policy as it was.
   * AWS managed keys refuse it (their built-in policy allows it to nobody).
   */
  async putKeyPolicy(caller: KmsCaller, req: { keyId: string; policy: string; policyName?: string; bypassPolicyLockoutSafetyCheck?: boolean }): Promise<void> {
    checkPolicyName(req.policyName ?? KEY_POLICY_NAME);
    const key = await this.resolve(caller, req.keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'PutKeyPolicy', key, { manage: true });
    await this.checkKeyPolicy(caller, key.rec.arn, req.policy, req.bypassPolicyLockoutSafetyCheck === true);
    await this.updateKey(key.rec.keyId, (r) => ({ ...r, policy: req.policy }));
  }

  /**
   * Validates a key policy document for a key of the caller's account: size, syntax,
   * principals (accounts and users must exist) and, unless bypassed, the lockout safety check
   * (the policy must allow the caller kms:PutKeyPolicy, directly or through its account and
   * its IAM policies).
   */
  private async checkKeyPolicy(caller: KmsCaller, arn: string, text: string, bypass: boolean): Promise<void> {
    if (typeof text !== 'string' || text.length < 1) throw validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length greater than or equal to 1");
    if (!/^[\u0009\u000A\u000D\u0020-\u00FF]+$/.test(text)) throw validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
    if (Buffer.byteLength(text, 'utf8') > MAX_KEY_POLICY_BYTES) throw new KmsError('LimitExceededException', `The key policy is larger than ${MAX_KEY_POLICY_BYTES} bytes.`);
    let doc: ResourcePolicyDocument;
    try {
      doc = parseResourcePolicy(text);
    } catch (e) {
      if (e instanceof IamError) throw new KmsError('MalformedPolicyDocumentException', `The key policy is malformed: ${e.message}`, {}, { cause: e });
      throw e;
    }
    for (const a of resourcePolicyPrincipals(doc)) {
      if (!(await this.iam.principalExists(a))) throw new KmsError('MalformedPolicyDocumentException', `Policy contains a statement with one or more invalid principals: ${a} does not exist.`, { principal: a });
    }
    if (bypass || isService(caller.principal)) return;
    const p = caller.principal;
    const ctx = { ...(caller.context ?? {}) };
    const res = { arn, context: { 'kms:CallerAccount': p.accountId } };
    const r = evaluateResourcePolicy(doc, { caller: { kind: 'aws', principal: p }, action: 'kms:PutKeyPolicy', resource: res, context: ctx, now: new Date(this.now()) });
    let ok = r.decision === 'allow';
    if (r.decision === 'allow' || r.decision === 'allow-account') {
      const d = await this.iam.authorize({ principal: p, action: 'kms:PutKeyPolicy', resources: [res], context: ctx });
      if (d.reason === 'explicit-deny') ok = false;
      else if (r.decision === 'allow-account') ok = d.decision === 'allow';
    }
    if (!ok) {
      throw new KmsError(
        'MalformedPolicyDocumentException',
        `The new key policy will not allow you to update the key policy in the future (it does not allow ${principalArn(p)} kms:PutKeyPolicy). Use BypassPolicyLockoutSafetyCheck to set it anyway.`,
        { principal: principalArn(p) },
      );
    }
  }

  /** The key's parsed policy (cached by text). A stored document that no longer parses counts as the default key policy. */
  private keyPolicy(rec: KeyRecord): ResourcePolicyDocument {
    const hit = this.policyCache.get(rec.policy);
    if (hit) return hit;
    let doc: ResourcePolicyDocument;
    try {
      doc = parseResourcePolicy(rec.policy);
    } catch {
      doc = parseResourcePolicy(defaultKeyPolicy(rec.accountId));
    }
    if (this.policyCache.size > 1000) this.policyCache.clear();
    this.policyCache.set(rec.policy, doc);
    return doc;
  }

  async listKeys(caller: KmsCaller, opts: { limit?: number; marker?: string } = {}): Promise<Page<{ keyId: string; keyArn: string }>> {
    await this.authorizeAccount(caller, 'ListKeys');
    const acct = caller.principal.accountId;
    const limit = checkLimit(opts.limit, 100, 1000);
    const prefix = K.acctKeys(acct);
    const after = decodeMarker(opts.marker, prefix);
    const rows = await this.store.list(prefix, after === undefined ? { limit: limit + 1 } : { limit: limit + 1, startAfter: after });
    const page = rows.slice(0, limit);
    const items = page.map((r) => {
      const id = r.key.slice(prefix.length);
      return { keyId: id, keyArn: keyArn(acct, id) };
    });
    const last = page[page.length - 1];
    return rows.length > limit && last ? { items, truncated: true, nextMarker: encodeMarker(last.key) } : { items, truncated: false };
  }

  // ---- tags (tags.ts) -------------------------------------------------------------------------

  async tagResource(caller: KmsCaller, keyId: string, tags: readonly Tag[]): Promise<void> {
    checkTags(tags);
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey({ ...caller, context: { ...caller.context, ...requestTagContext(tags) } }, 'TagResource', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
      return { ...r, tags: withTags(r.tags, tags) };
    });
  }

  async untagResource(caller: KmsCaller, keyId: string, tagKeys: readonly string[]): Promise<void> {
    checkTagKeys(tagKeys);
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey({ ...caller, context: { ...caller.context, 'aws:TagKeys': [...tagKeys] } }, 'UntagResource', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
      return { ...r, tags: withoutTags(r.tags, tagKeys) };
    });
  }

  async listResourceTags(caller: KmsCaller, keyId: string, opts: { limit?: number; marker?: string } = {}): Promise<Page<Tag>> {
    const limit = Math.min(checkLimit(opts.limit, MAX_LIST_TAGS, 1000), MAX_LIST_TAGS);
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'ListResourceTags', key);
    const page = tagPage(key.rec.tags, limit, opts.marker);
    return page.nextMarker === undefined ? { items: page.items, truncated: false } : { items: page.items, truncated: true, nextMarker: page.nextMarker };
  }

  async enableKey(caller: KmsCaller, keyId: string): Promise<void> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'EnableKey', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
      return { ...r, keyState: 'Enabled' };
    });
  }

  async disableKey(caller: KmsCaller, keyId: string): Promise<void> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'DisableKey', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
      return { ...r, keyState: 'Disabled' };
    });
  }

  async scheduleKeyDeletion(caller: KmsCaller, keyId: string, pendingWindowInDays = 30): Promise<{ keyId: string; deletionDate: Date; keyState: KeyState; pendingWindowInDays: number }> {
    if (!Number.isInteger(pendingWindowInDays) || pendingWindowInDays < 7 || pendingWindowInDays > 30) {
      throw validation(`1 validation error detected: Value '${pendingWindowInDays}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30`);
    }
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'ScheduleKeyDeletion', key, { manage: true });
    const deletionDate = this.now() + pendingWindowInDays * DAY_MS;
    const r = await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
      return { ...r, keyState: 'PendingDeletion', deletionDate, pendingWindowInDays };
    });
    return { keyId: r.arn, deletionDate: new Date(deletionDate), keyState: 'PendingDeletion', pendingWindowInDays };
  }

  /** Cancels a scheduled deletion; the key comes back Disabled, as in KMS. */
  async cancelKeyDeletion(caller: KmsCaller, keyId: string): Promise<{ keyId: string }> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'CancelKeyDeletion', key, { manage: true });
    const r = await this.updateKey(key.rec.keyId, (r) => {
      if (r.keyState !== 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${r.arn} is not pending deletion.`, { keyId: r.keyId });
      const { deletionDate: _d, pendingWindowInDays: _p, ...rest } = r;
      return { ...rest, keyState: 'Disabled' };
    });
    return { keyId: r.arn };
  }

  // ---- rotation ----------------------------------------------------------------------------

  async enableKeyRotation(caller: KmsCaller, keyId: string, rotationPeriodInDays = DEFAULT_ROTATION_DAYS): Promise<void> {
    if (!Number.isInteger(rotationPeriodInDays) || rotationPeriodInDays < 90 || rotationPeriodInDays > 2560) {
      throw validation(`1 validation error detected: Value '${rotationPeriodInDays}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560`);
    }
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'EnableKeyRotation', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      usable(r);
      return { ...r, rotationEnabled: true, rotationPeriodInDays, nextRotationDate: this.now() + rotationPeriodInDays * DAY_MS };
    });
  }

  async disableKeyRotation(caller: KmsCaller, keyId: string): Promise<void> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'DisableKeyRotation', key, { manage: true });
    await this.updateKey(key.rec.keyId, (r) => {
      usable(r);
      const { nextRotationDate: _n, rotationPeriodInDays: _p, ...rest } = r;
      return { ...rest, rotationEnabled: false };
    });
  }

  async getKeyRotationStatus(caller: KmsCaller, keyId: string): Promise<{ keyId: string; keyRotationEnabled: boolean; rotationPeriodInDays?: number; nextRotationDate?: Date; materialVersions: number }> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'GetKeyRotationStatus', key);
    const r = key.rec;
    // answered for a key pending deletion too, as KMS does: Ansible's kms_key reads it right after ScheduleKeyDeletion
    return {
      keyId: r.arn,
      keyRotationEnabled: r.rotationEnabled,
      ...(r.rotationEnabled && r.rotationPeriodInDays !== undefined ? { rotationPeriodInDays: r.rotationPeriodInDays } : {}),
      ...(r.rotationEnabled && r.nextRotationDate !== undefined ? { nextRotationDate: new Date(r.nextRotationDate) } : {}),
      materialVersions: r.materials.length,
    };
  }

  /** RotateKeyOnDemand: new material now; earlier versions stay for Decrypt. */
  async rotateKeyOnDemand(caller: KmsCaller, keyId: string): Promise<{ keyId: string }> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'RotateKeyOnDemand', key, { manage: true });
    usable(key.rec);
    return { keyId: (await this.rotate(key.rec.keyId)).arn };
  }

  /** Adds a material version to a key and makes it current (no authorization: for the rotation timer and tests). */
  async rotate(keyId: string): Promise<KeyMetadata & { currentVersion: number }> {
    let fresh: Buffer | undefined;
    const r = await this.updateKey(keyId, (r) => {
      const version = r.currentVersion + 1;
      fresh = randomBytes(MATERIAL_BYTES);
      const sealed = this.rootKey.seal(fresh.toString('base64'), materialAad(r.keyId, version));
      const t = this.now();
      return {
        ...r,
        currentVersion: version,
        materials: [...r.materials, { version, createdAt: t, sealed }],
        lastRotationDate: t,
        ...(r.rotationEnabled && r.rotationPeriodInDays !== undefined ? { nextRotationDate: t + r.rotationPeriodInDays * DAY_MS } : {}),
      };
    });
    if (fresh) this.materialCache.set(`${r.keyId}/${r.currentVersion}`, fresh);
    return { ...metadata(r), currentVersion: r.currentVersion };
  }

  /** Rotates every enabled key whose rotation date has come (call from a timer). Returns the rotated key ids. */
  async rotateDue(): Promise<string[]> {
    const done: string[] = [];
    for (const e of await this.store.list<KeyRecord>('kms/keys/')) {
      const r = e.value;
      if (r.rotationEnabled && r.keyState === 'Enabled' && r.nextRotationDate !== undefined && r.nextRotationDate <= this.now()) {
        await this.rotate(r.keyId);
        done.push(r.keyId);
      }
    }
    return done;
  }

  // ---- aliases -----------------------------------------------------------------------------

  async createAlias(caller: KmsCaller, aliasName: string, targetKeyId: string): Promise<void> {
    checkAliasName(aliasName);
    const acct = caller.principal.accountId;
    const key = await this.resolveOwnKey(caller, targetKeyId);
    // as KMS: the alias by IAM policy, the key by its key policy (and IAM where that delegates)
    await this.authorizeIam(caller, 'CreateAlias', [aliasArn(acct, aliasName)]);
    if (key.rec.keyManager === 'AWS') throw this.denied(caller, 'CreateAlias', key.rec.arn, 'no-resource-allow');
    await this.authorizeKey(caller, 'CreateAlias', key);
    if (key.rec.keyState === 'PendingDeletion') throw pendingDeletion(key.rec);
    const t = this.now();
    const rec: AliasRecord = { aliasName, targetKeyId: key.rec.keyId, creationDate: t, lastUpdatedDate: t };
    if (!(await this.store.txn({ compare: [{ key: K.alias(acct, aliasName), version: 0 }], put: [{ key: K.alias(acct, aliasName), value: json(rec) }] }))) {
      throw new KmsError('AlreadyExistsException', `An alias with the name ${aliasArn(acct, aliasName)} already exists`, { aliasName });
    }
  }

  async updateAlias(caller: KmsCaller, aliasName: string, targetKeyId: string): Promise<void> {
    checkAliasName(aliasName);
    const acct = caller.principal.accountId;
    const cur = await this.store.get<AliasRecord>(K.alias(acct, aliasName));
    if (!cur) throw notFoundAlias(acct, aliasName);
    const key = await this.resolveOwnKey(caller, targetKeyId);
    const oldArn = keyArn(acct, cur.value.targetKeyId);
    await this.authorizeIam(caller, 'UpdateAlias', [aliasArn(acct, aliasName)]);
    if (key.rec.keyManager === 'AWS') throw this.denied(caller, 'UpdateAlias', key.rec.arn, 'no-resource-allow');
    await this.authorizeKey(caller, 'UpdateAlias', key);
    const old = await this.loadKey(cur.value.targetKeyId);
    if (old) await this.authorizeKey(caller, 'UpdateAlias', { rec: old, how: 'alias' });
    else await this.authorizeIam(caller, 'UpdateAlias', [oldArn]);
    if (key.rec.keyState === 'PendingDeletion') throw pendingDeletion(key.rec);
    const rec: AliasRecord = { ...cur.value, targetKeyId: key.rec.keyId, lastUpdatedDate: this.now() };
    if (!(await this.store.txn({ compare: [{ key: K.alias(acct, aliasName), version: cur.version }], put: [{ key: K.alias(acct, aliasName), value: json(rec) }] }))) {
      throw notFoundAlias(acct, aliasName);
    }
  }

  async deleteAlias(caller: KmsCaller, aliasName: string): Promise<void> {
    checkAliasName(aliasName);
    const acct = caller.principal.accountId;
    const cur = await this.store.get<AliasRecord>(K.alias(acct, aliasName));
    if (!cur) throw notFoundAlias(acct, aliasName);
    await this.authorizeIam(caller, 'DeleteAlias', [aliasArn(acct, aliasName)]);
    const target = await this.loadKey(cur.value.targetKeyId);
    if (target) await this.authorizeKey(caller, 'DeleteAlias', { rec: target, how: 'alias' });
    else await this.authorizeIam(caller, 'DeleteAlias', [keyArn(acct, cur.value.targetKeyId)]);
    await this.store.txn({ compare: [{ key: K.alias(acct, aliasName), version: cur.version }], delete: [K.alias(acct, aliasName)] });
  }

  async listAliases(caller: KmsCaller, opts: { keyId?: string; limit?: number; marker?: string } = {}): Promise<Page<AliasEntry>> {
    await this.authorizeAccount(caller, 'ListAliases');
    const acct = caller.principal.accountId;
    const limit = checkLimit(opts.limit, 50, 100);
    let only: string | undefined;
    if (opts.keyId !== undefined) {
      const key = await this.resolveOwnKey(caller, opts.keyId);
      only = key.rec.keyId;
    }
    const prefix = K.aliases(acct);
    let after = decodeMarker(opts.marker, prefix);
    const items: AliasEntry[] = [];
    for (;;) {
      const rows = await this.store.list<AliasRecord>(prefix, after === undefined ? { limit: limit + 1 } : { limit: limit + 1, startAfter: after });
      for (const r of rows) {
        if (only !== undefined && r.value.targetKeyId !== only) {
          after = r.key;
          continue;
        }
        if (items.length === limit) return { items, truncated: true, nextMarker: encodeMarker(after ?? '') };
        const a = r.value;
        items.push({ aliasName: a.aliasName, aliasArn: aliasArn(acct, a.aliasName), targetKeyId: a.targetKeyId, creationDate: new Date(a.creationDate), lastUpdatedDate: new Date(a.lastUpdatedDate) });
        after = r.key;
      }
      if (rows.length < limit + 1) return { items, truncated: false };
    }
  }

  /** The account's AWS-managed key for a service (alias/aws/ebs), created on first use. No authorization: for the region's services. */
  async awsManagedKey(accountId: string, service = 'ebs'): Promise<KeyMetadata> {
    const description = AWS_MANAGED_SERVICES[service];
    if (description === undefined) throw new RangeError(`No AWS managed key for service ${service}.`);
    const aliasName = `alias/aws/${service}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.store.get<AliasRecord>(K.alias(accountId, aliasName));
      if (cur) {
        const rec = await this.loadKey(cur.value.targetKeyId);
        if (rec) return metadata(rec);
      }
      const rec = this.newKeyRecord(accountId, { description, policy: awsManagedKeyPolicy(accountId, service), tags: [], keyManager: 'AWS' });
      const t = this.now();
      const alias: AliasRecord = { aliasName, targetKeyId: rec.keyId, creationDate: t, lastUpdatedDate: t };
      const ok = await this.store.txn({
        compare: [{ key: K.alias(accountId, aliasName), version: cur?.version ?? 0 }],
        put: [
          { key: K.key(rec.keyId), value: json(rec) },
          { key: K.acctKey(accountId, rec.keyId), value: {} },
          { key: K.alias(accountId, aliasName), value: json(alias) },
        ],
      });
      if (ok) return metadata(rec);
    }
    throw new KmsError('KMSInternalException', `The AWS managed key ${aliasName} could not be created.`, { accountId });
  }

  // ---- cryptography ------------------------------------------------------------------------
  /** GenerateRandom: 1..1024 random bytes (kms:GenerateRandom, no key). */
  async generateRandom(caller: KmsCaller, numberOfBytes: number | undefined): Promise<Buffer> {
    if (numberOfBytes === undefined || !Number.isInteger(numberOfBytes) || numberOfBytes < 1 || numberOfBytes > MAX_DATA_KEY_BYTES) {
      throw validation(`1 validation error detected: Value '${numberOfBytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and ${MAX_DATA_KEY_BYTES}`);
    }
    await this.authorizeAccount(caller, 'GenerateRandom');
    return randomBytes(numberOfBytes);
  }

  async encrypt(caller: KmsCaller, req: { keyId: string; plaintext: Buffer } & CryptoOptions): Promise<{ ciphertextBlob: Buffer; keyId: string }> {
    if (req.plaintext.length < 1 || req.plaintext.length > MAX_PLAINTEXT_BYTES) throw validation(`1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and ${MAX_PLAINTEXT_BYTES}`);
    checkContext(req.encryptionContext);
    const key = await this.resolve(caller, req.keyId);
    await this.authorizeKey(caller, 'Encrypt', key, req);
    usable(key.rec);
    return { ciphertextBlob: this.seal(key.rec, req.plaintext, req.encryptionContext), keyId: key.rec.arn };
  }

  /** Decrypt: the blob names its key; `keyId`, when given, must be that key (IncorrectKeyException). */
  async decrypt(caller: KmsCaller, req: { ciphertextBlob: Uint8Array; keyId?: string } & CryptoOptions): Promise<{ plaintext: Buffer; keyId: string }> {
    checkContext(req.encryptionContext);
    const { rec, plaintext } = await this.open(caller, 'Decrypt', req.ciphertextBlob, req.keyId, req);
    return { plaintext, keyId: rec.arn };
  }

  async generateDataKey(caller: KmsCaller, req: { keyId: string; keySpec?: string; numberOfBytes?: number } & CryptoOptions): Promise<{ plaintext: Buffer; ciphertextBlob: Buffer; keyId: string }> {
    return this.dataKey(caller, 'GenerateDataKey', req);
  }

  async generateDataKeyWithoutPlaintext(caller: KmsCaller, req: { keyId: string; keySpec?: string; numberOfBytes?: number } & CryptoOptions): Promise<{ ciphertextBlob: Buffer; keyId: string }> {
    const r = await this.dataKey(caller, 'GenerateDataKeyWithoutPlaintext', req);
    r.plaintext.fill(0);
    return { ciphertextBlob: r.ciphertextBlob, keyId: r.keyId };
  }

  private async dataKey(caller: KmsCaller, op: 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext', req: { keyId: string; keySpec?: string; numberOfBytes?: number } & CryptoOptions): Promise<{ plaintext: Buffer; ciphertextBlob: Buffer; keyId: string }> {
    let n: number;
    if (req.keySpec !== undefined && req.numberOfBytes !== undefined) throw validation('Please specify either number of bytes or key spec.');
    if (req.keySpec !== undefined) {
      if (req.keySpec === 'AES_256') n = 32;
      else if (req.keySpec === 'AES_128') n = 16;
      else throw validation(`1 validation error detected: Value '${req.keySpec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
    } else if (req.numberOfBytes !== undefined) {
      if (!Number.isInteger(req.numberOfBytes) || req.numberOfBytes < 1 || req.numberOfBytes > MAX_DATA_KEY_BYTES) throw validation(`1 validation error detected: Value '${req.numberOfBytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and ${MAX_DATA_KEY_BYTES}`);
      n = req.numberOfBytes;
    } else throw validation('Please specify either number of bytes or key spec.');
    checkContext(req.encryptionContext);
    const key = await this.resolve(caller, req.keyId);
    await this.authorizeKey(caller, op, key, req);
    usable(key.rec);
    const plaintext = randomBytes(n);
    return { plaintext, ciphertextBlob: this.seal(key.rec, plaintext, req.encryptionContext), keyId: key.rec.arn };
  }

  async reEncrypt(
    caller: KmsCaller,
    req: { ciphertextBlob: Uint8Array; sourceKeyId?: string; sourceEncryptionContext?: EncryptionContext; destinationKeyId: string; destinationEncryptionContext?: EncryptionContext; grantTokens?: readonly string[] },
  ): Promise<{ ciphertextBlob: Buffer; sourceKeyId: string; keyId: string }> {
    checkContext(req.sourceEncryptionContext);
    checkContext(req.destinationEncryptionContext);
    const dest = await this.resolve(caller, req.destinationKeyId);
    const src = await this.open(caller, 'ReEncryptFrom', req.ciphertextBlob, req.sourceKeyId, {
      ...(req.sourceEncryptionContext !== undefined ? { encryptionContext: req.sourceEncryptionContext } : {}),
      ...(req.grantTokens !== undefined ? { grantTokens: req.grantTokens } : {}),
    });
    try {
      await this.authorizeKey(caller, 'ReEncryptTo', dest, {
        ...(req.destinationEncryptionContext !== undefined ? { encryptionContext: req.destinationEncryptionContext } : {}),
        ...(req.grantTokens !== undefined ? { grantTokens: req.grantTokens } : {}),
      });
      usable(dest.rec);
      return { ciphertextBlob: this.seal(dest.rec, src.plaintext, req.destinationEncryptionContext), sourceKeyId: src.rec.arn, keyId: dest.rec.arn };
    } finally {
      src.plaintext.fill(0);
    }
  }

  private seal(rec: KeyRecord, plaintext: Buffer, ctx: EncryptionContext | undefined): Buffer {
    return sealBlob(this.material(rec, rec.currentVersion), rec.keyId, rec.currentVersion, plaintext, ctx);
  }

  private async open(caller: KmsCaller, op: 'Decrypt' | 'ReEncryptFrom', blob: Uint8Array, keyId: string | undefined, o: CryptoOptions): Promise<{ rec: KeyRecord; plaintext: Buffer }> {
    const parsed = decodeBlob(blob);
    const rec = await this.loadKey(parsed.keyId);
    if (keyId !== undefined) {
      const named = await this.resolve(caller, keyId);
      if (named.rec.keyId !== parsed.keyId) throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext.', { keyId });
    }
    if (rec === undefined) {
      // a blob naming an unknown key is indistinguishable from garbage
      throw new KmsError('InvalidCiphertextException', 'The ciphertext is not valid.', {});
    }
    await this.authorizeKey(caller, op, { rec, how: 'ciphertext' }, o);
    usable(rec);
    if (!rec.materials.some((m) => m.version === parsed.materialVersion)) throw new KmsError('InvalidCiphertextException', 'The ciphertext is not valid.', { keyId: rec.keyId });
    return { rec, plaintext: openBlob(this.material(rec, parsed.materialVersion), parsed, o.encryptionContext) };
  }

  private material(rec: KeyRecord, version: number): Buffer {
    const ck = `${rec.keyId}/${version}`;
    const hit = this.materialCache.get(ck);
    if (hit) return hit;
    const m = rec.materials.find((x) => x.version === version);
    if (!m) throw new KmsError('KMSInternalException', 'The key material version is missing.', { keyId: rec.keyId, version });
    const b = Buffer.from(this.rootKey.unseal(m.sealed, materialAad(rec.keyId, version)), 'base64');
    if (b.length !== MATERIAL_BYTES) throw new KmsError('KMSInternalException', 'The key material is corrupt.', { keyId: rec.keyId, version });
    if (this.materialCache.size > 10_000) this.materialCache.clear();
    this.materialCache.set(ck, b);
    return b;
  }

  // ---- grants ------------------------------------------------------------------------------

  async createGrant(
    caller: KmsCaller,
    req: { keyId: string; granteePrincipal: string; operations: readonly string[]; retiringPrincipal?: string; constraints?: GrantConstraints; name?: string; grantTokens?: readonly string[] },
  ): Promise<{ grantId: string; grantToken: string }> {
    const checkPrincipal = (p: string, member: string): void => {
      if (!IAM_PRINCIPAL_RE.test(p) && !SERVICE_RE.test(p)) throw validation(`1 validation error detected: Value '${p}' at '${member}' failed to satisfy constraint: Member must be an IAM principal ARN or a service principal`);
    };
    checkPrincipal(req.granteePrincipal, 'granteePrincipal');
    if (req.retiringPrincipal !== undefined) checkPrincipal(req.retiringPrincipal, 'retiringPrincipal');
    if (req.operations.length === 0) throw validation("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1");
    for (const op of req.operations) {
      if (!(GRANT_OPERATIONS as readonly string[]).includes(op)) throw validation(`1 validation error detected: Value '${op}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [${GRANT_OPERATIONS.join(', ')}]`);
    }
    const c = req.constraints;
    if (c !== undefined) {
      checkContext(c.encryptionContextEquals);
      checkContext(c.encryptionContextSubset);
      // as KMS: DescribeKey and RetireGrant may ride along (the constraint does not apply to them);
      // CreateGrant with a constraint (KMS then demands equally strict sub-grants) is not supported here.
      if (req.operations.includes('CreateGrant')) throw validation('A grant with constraints cannot include the CreateGrant operation here.');
    }
    if (req.name !== undefined && !/^[a-zA-Z0-9:/_-]{1,256}$/.test(req.name)) throw validation(`1 validation error detected: Value '${req.name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$`);
    const key = await this.resolve(caller, req.keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'CreateGrant', key, req.grantTokens ? { grantTokens: req.grantTokens } : {});
    usable(key.rec);
    const grantId = randomBytes(32).toString('hex');
    const grantToken = Buffer.concat([Buffer.from(grantId, 'hex'), randomBytes(32)]).toString('base64');
    const g: GrantRecord = {
      grantId,
      keyId: key.rec.keyId,
      keyArn: key.rec.arn,
      ...(req.name !== undefined ? { name: req.name } : {}),
      creationDate: this.now(),
      granteePrincipal: req.granteePrincipal,
      ...(req.retiringPrincipal !== undefined ? { retiringPrincipal: req.retiringPrincipal } : {}),
      issuingAccount: `arn:aws:iam::${caller.principal.accountId}:root`,
      operations: req.operations as GrantOperation[],
      ...(c !== undefined ? { constraints: c } : {}),
      tokenSha256: sha256(grantToken),
    };
    await this.store.txn({ put: [{ key: K.grant(grantId), value: json(g) }, { key: K.keyGrant(key.rec.keyId, grantId), value: {} }] });
    return { grantId, grantToken };
  }

  async listGrants(caller: KmsCaller, req: { keyId: string; grantId?: string; granteePrincipal?: string; limit?: number; marker?: string }): Promise<Page<GrantEntry>> {
    const key = await this.resolve(caller, req.keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'ListGrants', key);
    const limit = checkLimit(req.limit, 50, 100);
    const prefix = K.keyGrants(key.rec.keyId);
    let after = decodeMarker(req.marker, prefix);
    const items: GrantEntry[] = [];
    for (;;) {
      const rows = await this.store.list(prefix, after === undefined ? { limit: limit + 1 } : { limit: limit + 1, startAfter: after });
      for (const r of rows) {
        const g = (await this.store.get<GrantRecord>(K.grant(r.key.slice(prefix.length))))?.value;
        if (!g || (req.grantId !== undefined && g.grantId !== req.grantId) || (req.granteePrincipal !== undefined && g.granteePrincipal !== req.granteePrincipal)) {
          after = r.key;
          continue;
        }
        if (items.length === limit) return { items, truncated: true, nextMarker: encodeMarker(after ?? '') };
        items.push(grantEntry(g));
        after = r.key;
      }
      if (rows.length < limit + 1) return { items, truncated: false };
    }
  }

  /**
   * RetireGrant, by token or by key + grant id. Allowed for the grant's retiring principal,
   * its grantee when the grant includes RetireGrant, and principals allowed kms:RetireGrant on the key.
   */
  async retireGrant(caller: KmsCaller, req: { grantToken?: string; keyId?: string; grantId?: string }): Promise<void> {
    let g: GrantRecord | undefined;
    if (req.grantToken !== undefined) {
      g = await this.grantByToken(req.grantToken);
    } else {
      if (req.keyId === undefined || req.grantId === undefined) throw validation('Either GrantToken, or both KeyId and GrantId, must be given.');
      const key = await this.resolve(caller, req.keyId, { keyOnly: true });
      g = await this.grantOf(key.rec.keyId, req.grantId);
    }
    const me = callerArn(caller.principal);
    const mayRetire = g.retiringPrincipal === me || (g.granteePrincipal === me && g.operations.includes('RetireGrant'));
    if (!mayRetire) {
      const rec = await this.loadKey(g.keyId);
      if (!rec) throw new KmsError('InvalidGrantIdException', 'The grant does not exist.', {});
      await this.authorizeKey(caller, 'RetireGrant', { rec, how: 'arn' });
    }
    await this.store.txn({ delete: [K.grant(g.grantId), K.keyGrant(g.keyId, g.grantId)] });
  }

  async revokeGrant(caller: KmsCaller, keyId: string, grantId: string): Promise<void> {
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    await this.authorizeKey(caller, 'RevokeGrant', key);
    const g = await this.grantOf(key.rec.keyId, grantId);
    await this.store.txn({ delete: [K.grant(g.grantId), K.keyGrant(g.keyId, g.grantId)] });
  }

  private async grantOf(keyId: string, grantId: string): Promise<GrantRecord> {
    const g = /^[0-9a-f]{64}$/.test(grantId) ? (await this.store.get<GrantRecord>(K.grant(grantId)))?.value : undefined;
    if (!g || g.keyId !== keyId) throw new KmsError('InvalidGrantIdException', `Grant ID ${grantId} not found for key ${keyId}.`, { grantId });
    return g;
  }

  private async grantByToken(token: string): Promise<GrantRecord> {
    const raw = /^[A-Za-z0-9+/]+=*$/.test(token) ? Buffer.from(token, 'base64') : Buffer.alloc(0);
    const g = raw.length === 64 ? (await this.store.get<GrantRecord>(K.grant(raw.subarray(0, 32).toString('hex'))))?.value : undefined;
    if (!g || g.tokenSha256 !== sha256(token)) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.', {});
    return g;
  }

  // ---- resolution and authorization --------------------------------------------------------

  private async loadKey(keyId: string): Promise<KeyRecord | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(keyId)) return undefined;
    const got = await this.store.get<KeyRecord>(K.key(keyId));
    if (!got) return undefined;
    const r = got.value;
    if (r.keyState === 'PendingDeletion' && r.deletionDate !== undefined && r.deletionDate <= this.now()) {
      await this.purge(r, got.version);
      return undefined;
    }
    return r;
  }

  /** The end of a waiting period: the key, its material, its grants and its aliases go. */
  private async purge(r: KeyRecord, version: number): Promise<void> {
    const grants = await this.store.list(K.keyGrants(r.keyId));
    const aliases = (await this.store.list<AliasRecord>(K.aliases(r.accountId))).filter((a) => a.value.targetKeyId === r.keyId);
    await this.store.txn({
      compare: [{ key: K.key(r.keyId), version }],
      delete: [K.key(r.keyId), K.acctKey(r.accountId, r.keyId), ...grants.flatMap((g) => [g.key, K.grant(g.key.slice(K.keyGrants(r.keyId).length))]), ...aliases.map((a) => a.key)],
    });
    for (const m of r.materials) this.materialCache.get(`${r.keyId}/${m.version}`)?.fill(0);
    for (const m of r.materials) this.materialCache.delete(`${r.keyId}/${m.version}`);
  }

  private async updateKey(keyId: string, fn: (r: KeyRecord) => KeyRecord): Promise<KeyRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const got = await this.store.get<KeyRecord>(K.key(keyId));
      if (!got) throw notFoundKey(keyId);
      const next = fn(got.value);
      if (await this.store.txn({ compare: [{ key: K.key(keyId), version: got.version }], put: [{ key: K.key(keyId), value: json(next) }] })) return next;
    }
    throw new KmsError('KMSInternalException', 'The key kept changing while it was being updated.', { keyId });
  }

  /**
   * A key of the caller's own account (aliases name only those): another account's key ARN is
   * NotFoundException whether or not that key exists, so the answer tells nothing about it.
   */
  private async resolveOwnKey(caller: KmsCaller, keyId: string): Promise<{ rec: KeyRecord; how: 'id' | 'arn' | 'alias' | 'ciphertext' }> {
    const other = /^arn:aws:kms:[a-z0-9-]+:(\d{12}):/.exec(keyId);
    if (other && other[1] !== caller.principal.accountId) throw notFoundKey(keyId);
    const key = await this.resolve(caller, keyId, { keyOnly: true });
    if (key.rec.accountId !== caller.principal.accountId) throw notFoundKey(keyId);
    return key;
  }

  /**
   * Finds the key a KeyId parameter names: key id, key ARN, alias name or alias ARN. Ids and
   * alias names are looked up in the caller's account; an ARN of another account is returned
   * with how = 'arn' (authorization decides), and a missing one there is AccessDenied.
   */
  private async resolve(caller: KmsCaller, keyId: string, opts: { keyOnly?: boolean } = {}): Promise<{ rec: KeyRecord; how: 'id' | 'arn' | 'alias' | 'ciphertext' }> {
    if (typeof keyId !== 'string' || keyId.length < 1 || keyId.length > 2048) throw validation("1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048");
    const acct = caller.principal.accountId;
    let account = acct;
    let rest = keyId;
    let how: 'id' | 'arn' | 'alias' = 'id';
    if (keyId.startsWith('arn:')) {
      const m = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):((?:key|alias)\/.+)$/.exec(keyId);
      if (!m) throw new KmsError('InvalidArnException', `${keyId} is not a valid KMS ARN.`, { keyId });
      if (m[1] !== KMS_REGION) throw new KmsError('NotFoundException', `Key '${keyId}' does not exist`, { keyId });
      account = m[2] ?? '';
      rest = m[3] ?? '';
      how = 'arn';
    }
    if (rest.startsWith('alias/')) {
      if (opts.keyOnly) throw new KmsError('NotFoundException', `Key '${keyId}' does not exist`, { keyId });
      if (account !== acct) throw this.denied(caller, 'access', keyId, 'no-resource-allow');
      let a = await this.store.get<AliasRecord>(K.alias(account, rest));
      if (!a && rest.startsWith('alias/aws/') && AWS_MANAGED_SERVICES[rest.slice('alias/aws/'.length)] !== undefined && !isService(caller.principal)) {
        await this.awsManagedKey(account, rest.slice('alias/aws/'.length));
        a = await this.store.get<AliasRecord>(K.alias(account, rest));
      }
      const rec = a ? await this.loadKey(a.value.targetKeyId) : undefined;
      if (!rec) throw notFoundAlias(account, rest);
      return { rec, how: 'alias' };
    }
    const id = rest.startsWith('key/') ? rest.slice(4) : rest;
    if (how === 'id' && rest.startsWith('key/')) throw new KmsError('NotFoundException', `Invalid keyId '${keyId}'`, { keyId });
    const rec = await this.loadKey(id);
    if (account !== acct) {
      if (!rec || rec.accountId !== account) throw this.denied(caller, 'access', keyId, 'no-resource-allow');
      return { rec, how };
    }
    if (!rec || rec.accountId !== acct) throw how === 'arn' ? notFoundKey(keyId) : new KmsError('NotFoundException', `Key '${keyArn(acct, id)}' does not exist`, { keyId });
    return { rec, how };
  }

  /**
   * AccessDeniedException with KMS's wording. `why`: an explicit deny in the caller's IAM
   * policies ('identity-deny') or in the key policy ('resource-deny'); nothing in the key
   * policy allows it ('no-resource-allow'); or the key policy delegates to the account and no
   * IAM policy allows it ('no-identity-allow', the default).
   */
  private denied(caller: KmsCaller, op: string, resource: string, why: boolean | 'identity-deny' | 'resource-deny' | 'no-resource-allow' | 'no-identity-allow' = 'no-identity-allow'): KmsError {
    const who = callerArn(caller.principal);
    const action = op === 'access' ? 'kms:*' : `kms:${op}`;
    const reason = why === true ? 'identity-deny' : why === false ? 'no-identity-allow' : why;
    const tail = {
      'identity-deny': 'with an explicit deny in an identity-based policy',
      'resource-deny': 'with an explicit deny in a resource-based policy',
      'no-resource-allow': `because no resource-based policy allows the ${action} action`,
      'no-identity-allow': `because no identity-based policy allows the ${action} action`,
    }[reason];
    return new KmsError('AccessDeniedException', `User: ${who} is not authorized to perform: ${action} on resource: ${resource} ${tail}`, { principal: who, action, resource, reason });
  }

  /** IAM only, for operations without a key (CreateKey, ListKeys, ListAliases). */
  private async authorizeAccount(caller: KmsCaller, op: string): Promise<void> {
    if (isService(caller.principal)) throw this.denied(caller, op, '*');
    const d = await this.iam.authorize({ principal: caller.principal, action: `kms:${op}`, resources: [], ...(caller.context ? { context: caller.context } : {}) });
    if (d.decision !== 'allow') throw this.denied(caller, op, '*', d.reason === 'explicit-deny');
  }

  /** IAM only, for alias operations (alias ARN and key ARN in the caller's account). */
  private async authorizeIam(caller: KmsCaller, op: string, arns: readonly string[]): Promise<void> {
    if (isService(caller.principal)) throw this.denied(caller, op, arns[0] ?? '*');
    const d = await this.iam.authorize({ principal: caller.principal, action: `kms:${op}`, resources: arns, ...(caller.context ? { context: caller.context } : {}) });
    if (d.decision !== 'allow') throw this.denied(caller, op, d.resource ?? arns[0] ?? '*', d.reason === 'explicit-deny');
  }

  /**
   * Authorizes `kms:<op>` on a key, as KMS does:
   *   1. an explicit Deny in the key policy or in the caller's IAM policies refuses (grants do not override it);
   *   2. the key policy allows the caller directly ("*", its user ARN; for another account's
   *      caller its IAM policies must allow it too), or
   *   3. the key policy allows the caller's account (…:root / account id) and the caller's IAM
   *      policies allow it (an account's root: always) — the default key policy's delegation;
   *   4. otherwise a grant for the caller's ARN with the operation, within its constraints.
   * A key of another account is usable only for the cross-account operations. Service
   * callers have no IAM policies: a key policy naming their Service, or a grant, allows them.
   */
  private async authorizeKey(caller: KmsCaller, op: string, key: { rec: KeyRecord; how: string }, o: CryptoOptions & { manage?: boolean } = {}): Promise<void> {
    const rec = key.rec;
    const p = caller.principal;
    for (const t of o.grantTokens ?? []) await this.grantByToken(t);
    const sameAccount = rec.accountId === p.accountId;
    // AWS managed keys are never managed by anyone, whatever a (legacy) policy says
    // another account's key: one answer for every refusal, the one a missing key gets (resolve())
    const refuse = (why: 'identity-deny' | 'resource-deny' | 'no-resource-allow' | 'no-identity-allow'): KmsError =>
      sameAccount ? this.denied(caller, op, rec.arn, why) : this.denied(caller, 'access', rec.arn, 'no-resource-allow');
    if (rec.keyManager === 'AWS' && o.manage) throw refuse('no-resource-allow');
    if (!sameAccount && !CROSS_ACCOUNT_OPS.has(op)) throw refuse('no-resource-allow');
    const ec = o.encryptionContext ?? {};
    const resContext: Record<string, ConditionValue> = { ...resourceTagContext(rec.tags), 'kms:CallerAccount': p.accountId, 'kms:EncryptionContextKeys': Object.keys(ec) };
    for (const [k, v] of Object.entries(ec)) resContext[`kms:EncryptionContext:${k}`] = v;
    const resource = { arn: rec.arn, context: resContext };
    const who: ResourceCaller = isService(p) ? { kind: 'service', service: callerArn(p), accountId: p.accountId } : { kind: 'aws', principal: p };
    const kp = evaluateResourcePolicy(this.keyPolicy(rec), { caller: who, action: `kms:${op}`, resource, ...(caller.context ? { context: caller.context } : {}), now: new Date(this.now()) });
    if (kp.decision === 'explicit-deny') throw refuse('resource-deny');
    let iamAllows = false;
    if (!isService(p)) {
      const d = await this.iam.authorize({ principal: p, action: `kms:${op}`, resources: [resource], ...(caller.context ? { context: caller.context } : {}), allowOtherAccounts: true });
      if (d.reason === 'explicit-deny') throw refuse('identity-deny');
      iamAllows = d.decision === 'allow';
    }
    if (kp.decision === 'allow' && (sameAccount || iamAllows)) return;
    if (kp.decision === 'allow-account' && iamAllows) return;
    // grants
    const me = callerArn(p);
    for (const e of await this.store.list(K.keyGrants(rec.keyId))) {
      const g = (await this.store.get<GrantRecord>(K.grant(e.key.slice(K.keyGrants(rec.keyId).length))))?.value;
      // a grant to a role's ARN is a grant to every session of the role (as KMS matches it)
      if (!g || (g.granteePrincipal !== me && g.granteePrincipal !== p.session?.role?.arn) || !(g.operations as readonly string[]).includes(op)) continue;
      // a service acts for one account at a time: only grants that account issued count
      if (isService(p) && g.issuingAccount !== `arn:aws:iam::${p.accountId}:root`) continue;
      if (CRYPTO_GRANT_OPS.has(op) && !contextSatisfies(g.constraints, o.encryptionContext)) continue;
      return;
    }
    throw refuse(kp.decision === 'no-match' ? 'no-resource-allow' : 'no-identity-allow');
  }
}

function usable(r: KeyRecord): void {
  if (r.keyState === 'Disabled') throw new KmsError('DisabledException', `${r.arn} is disabled.`, { keyId: r.keyId });
  if (r.keyState === 'PendingDeletion') throw pendingDeletion(r);
}

function pendingDeletion(r: KeyRecord): KmsError {
  return new KmsError('KMSInvalidStateException', `${r.arn} is pending deletion.`, { keyId: r.keyId });
}

function notFoundKey(keyId: string): KmsError {
  return new KmsError('NotFoundException', `Key '${keyId}' does not exist`, { keyId });
}

function notFoundAlias(accountId: string, aliasName: string): KmsError {
  return new KmsError('NotFoundException', `Alias ${aliasArn(accountId, aliasName)} is not found.`, { aliasName });
}
