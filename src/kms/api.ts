// The AWS KMS JSON 1.1 protocol (botocore's kms model: "protocol": "json", targetPrefix
// "TrentService"): a POST with `X-Amz-Target: TrentService.<Op>` and a JSON body; answers
// are JSON with blobs in base64 and timestamps in epoch seconds; errors are
// {"__type": "<Exception>", "message": "…"} (see ./errors.ts for the HTTP statuses).
//
// handleKmsRequest() runs one authenticated call: decode the body into the operation's typed
// request, call Kms (which authorizes: IAM policies + grants), render. It also returns what
// the audit record needs, with plaintext and ciphertext blobs and grant tokens left out.
// The front door authenticates (SigV4, service 'kms'), writes the audit records and sends.
import { isNitrideError } from '../lib/errors.js';
import type { AuthzPrincipal, ConditionContext } from '../iam/policy.js';
import { KmsError, isKmsError, kmsErrorBody, kmsErrorStatus, validation } from './errors.js';
import type { Kms } from './kms.js';
import type { AliasEntry, GrantConstraints, GrantEntry, KeyMetadata, KmsCaller, Page, Tag } from './model.js';
import type { EncryptionContext } from './protocol/ciphertext-blob.js';

export const KMS_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const KMS_TARGET_PREFIX = 'TrentService.';

export type KmsOperation =
  | 'CreateKey'
  | 'DescribeKey'
  | 'ListKeys'
  | 'GetKeyPolicy'
  | 'PutKeyPolicy'
  | 'ListKeyPolicies'
  | 'CreateAlias'
  | 'UpdateAlias'
  | 'DeleteAlias'
  | 'ListAliases'
  | 'Encrypt'
  | 'Decrypt'
  | 'GenerateDataKey'
  | 'GenerateDataKeyWithoutPlaintext'
  | 'ReEncrypt'
  | 'GenerateRandom'
  | 'EnableKey'
  | 'DisableKey'
  | 'ScheduleKeyDeletion'
  | 'CancelKeyDeletion'
  | 'EnableKeyRotation'
  | 'DisableKeyRotation'
  | 'GetKeyRotationStatus'
  | 'RotateKeyOnDemand'
  | 'CreateGrant'
  | 'ListGrants'
  | 'RetireGrant'
  | 'RevokeGrant'
  | 'TagResource'
  | 'UntagResource'
  | 'ListResourceTags';

/** CloudTrail's readOnly per operation (KMS's cryptographic calls are read-only events there). */
const READ_ONLY: Readonly<Record<KmsOperation, boolean>> = {
  CreateKey: false,
  DescribeKey: true,
  ListKeys: true,
  GetKeyPolicy: true,
  PutKeyPolicy: false,
  ListKeyPolicies: true,
  CreateAlias: false,
  UpdateAlias: false,
  DeleteAlias: false,
  ListAliases: true,
  Encrypt: true,
  Decrypt: true,
  GenerateDataKey: true,
  GenerateDataKeyWithoutPlaintext: true,
  ReEncrypt: true,
  GenerateRandom: true,
  EnableKey: false,
  DisableKey: false,
  ScheduleKeyDeletion: false,
  CancelKeyDeletion: false,
  EnableKeyRotation: false,
  DisableKeyRotation: false,
  GetKeyRotationStatus: true,
  RotateKeyOnDemand: false,
  CreateGrant: false,
  ListGrants: true,
  RetireGrant: false,
  RevokeGrant: false,
  TagResource: false,
  UntagResource: false,
  ListResourceTags: true,
};

/** Every operation KMS answers (the cross-account suite checks it covers each). */
export const KMS_OPERATIONS = Object.keys(READ_ONLY) as readonly KmsOperation[];

export function isKmsOperation(op: string): op is KmsOperation {
  return Object.hasOwn(READ_ONLY, op);
}

/** True when a request is for KMS: `X-Amz-Target: TrentService.<Op>`. The front door checks this before parsing a form. */
export function kmsRoute(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const t = headers['x-amz-target'];
  const v = Array.isArray(t) ? t[0] : t;
  return typeof v === 'string' && v.startsWith(KMS_TARGET_PREFIX);
}

/** The operation a target header names, and whether it only reads (for the audit record written before the call). */
export function kmsOperationInfo(target: string): { operation: string; readOnly: boolean; known: boolean } {
  const op = target.startsWith(KMS_TARGET_PREFIX) ? target.slice(KMS_TARGET_PREFIX.length) : target;
  return isKmsOperation(op) ? { operation: op, readOnly: READ_ONLY[op], known: true } : { operation: op || 'Unknown', readOnly: false, known: false };
}

export interface KmsRequestContext {
  readonly requestId: string;
  /** aws:SourceIp, aws:RequestedRegion, … for IAM policy conditions. */
  readonly context?: ConditionContext;
}

export interface KmsApiResponse {
  readonly status: number;
  /** JSON text. */
  readonly body: string;
  readonly operation: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** Key ARNs (or the KeyId as given, when it did not resolve) for the audit record. */
  readonly resources: readonly string[];
  /** The request for the audit record: no Plaintext, CiphertextBlob or GrantTokens. */
  readonly requestParameters: Record<string, unknown> | null;
  /** The response for the audit record: no Plaintext, CiphertextBlob or GrantToken. */
  readonly responseElements: Record<string, unknown> | null;
}

// ---- decoding --------------------------------------------------------------------------------

type Body = Record<string, unknown>;

const badType = (member: string, want: string): KmsError => new KmsError('SerializationException', `Member ${member} must be ${want}.`, { member });

function str(b: Body, m: string): string | undefined {
  const v = b[m];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badType(m, 'a string');
  return v;
}

function reqStr(b: Body, m: string): string {
  const v = str(b, m);
  if (v === undefined) throw validation(`1 validation error detected: Value null at '${m.charAt(0).toLowerCase()}${m.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return v;
}

/** A required list member that is absent: KMS's validation answer (never returns). */
function reqList(_b: Body, m: string): never {
  throw validation(`1 validation error detected: Value null at '${m.charAt(0).toLowerCase()}${m.slice(1)}' failed to satisfy constraint: Member must not be null`);
}

function int(b: Body, m: string): number | undefined {
  const v = b[m];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badType(m, 'an integer');
  return v;
}

function bool(b: Body, m: string): boolean | undefined {
  const v = b[m];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badType(m, 'a boolean');
  return v;
}

function blob(b: Body, m: string): Buffer {
  const v = reqStr(b, m);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) throw new KmsError('SerializationException', `Member ${m} is not valid base64.`, { member: m });
  return Buffer.from(v, 'base64');
}

function strMap(b: Body, m: string): EncryptionContext | undefined {
  const v = b[m];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badType(m, 'a map of strings');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') throw badType(m, 'a map of strings');
    out[k] = x;
  }
  return out;
}

function strList(b: Body, m: string): string[] | undefined {
  const v = b[m];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badType(m, 'a list of strings');
  return v as string[];
}

function tags(b: Body): Tag[] | undefined {
  const v = b['Tags'];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw badType('Tags', 'a list');
  return v.map((t: unknown) => {
    const o = (typeof t === 'object' && t !== null ? t : {}) as Body;
    return { tagKey: reqStr(o, 'TagKey'), tagValue: reqStr(o, 'TagValue') };
  });
}

function constraints(b: Body): GrantConstraints | undefined {
  const v = b['Constraints'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badType('Constraints', 'a structure');
  const o = v as Body;
  const sub = strMap(o, 'EncryptionContextSubset');
  const eq = strMap(o, 'EncryptionContextEquals');
  return { ...(sub !== undefined ? { encryptionContextSubset: sub } : {}), ...(eq !== undefined ? { encryptionContextEquals: eq } : {}) };
}

const opt = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [k]: v } as { [P in K]?: V }));

// ---- rendering -------------------------------------------------------------------------------

const epoch = (d: Date): number => d.getTime() / 1000;
const b64 = (b: Buffer): string => b.toString('base64');

function keyMetadataJson(m: KeyMetadata): Record<string, unknown> {
  return {
    AWSAccountId: m.accountId,
    KeyId: m.keyId,
    Arn: m.arn,
    CreationDate: epoch(m.creationDate),
    Enabled: m.enabled,
    Description: m.description,
    KeyUsage: m.keyUsage,
    KeyState: m.keyState,
    ...(m.deletionDate ? { DeletionDate: epoch(m.deletionDate) } : {}),
    Origin: m.origin,
    KeyManager: m.keyManager,
    CustomerMasterKeySpec: m.keySpec,
    KeySpec: m.keySpec,
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

function pageJson<T>(p: Page<T>, member: string, f: (t: T) => unknown): Record<string, unknown> {
  return { [member]: p.items.map(f), Truncated: p.truncated, ...(p.nextMarker !== undefined ? { NextMarker: p.nextMarker } : {}) };
}

function aliasJson(a: AliasEntry): Record<string, unknown> {
  return { AliasName: a.aliasName, AliasArn: a.aliasArn, TargetKeyId: a.targetKeyId, CreationDate: epoch(a.creationDate), LastUpdatedDate: epoch(a.lastUpdatedDate) };
}

function grantJson(g: GrantEntry): Record<string, unknown> {
  const c = g.constraints;
  return {
    KeyId: g.keyId,
    GrantId: g.grantId,
    ...(g.name !== undefined ? { Name: g.name } : {}),
    CreationDate: epoch(g.creationDate),
    GranteePrincipal: g.granteePrincipal,
    ...(g.retiringPrincipal !== undefined ? { RetiringPrincipal: g.retiringPrincipal } : {}),
    IssuingAccount: g.issuingAccount,
    Operations: g.operations,
    ...(c !== undefined
      ? { Constraints: { ...opt('EncryptionContextSubset', c.encryptionContextSubset), ...opt('EncryptionContextEquals', c.encryptionContextEquals) } }
      : {}),
  };
}

// ---- dispatch --------------------------------------------------------------------------------

async function dispatch(kms: Kms, caller: KmsCaller, op: KmsOperation, b: Body): Promise<Record<string, unknown>> {
  const crypto = () => ({ ...opt('encryptionContext', strMap(b, 'EncryptionContext')), ...opt('grantTokens', strList(b, 'GrantTokens')) });
  switch (op) {
    case 'CreateKey': {
      if (str(b, 'CustomKeyStoreId') !== undefined || str(b, 'XksKeyId') !== undefined) throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported.');
      const keySpec = str(b, 'KeySpec') ?? str(b, 'CustomerMasterKeySpec');
      const m = await kms.createKey(caller, {
        ...opt('description', str(b, 'Description')),
        ...opt('keyUsage', str(b, 'KeyUsage')),
        ...opt('keySpec', keySpec),
        ...opt('policy', str(b, 'Policy')),
        ...opt('bypassPolicyLockoutSafetyCheck', bool(b, 'BypassPolicyLockoutSafetyCheck')),
        ...opt('tags', tags(b)),
        ...opt('origin', str(b, 'Origin')),
      });
      return { KeyMetadata: keyMetadataJson(m) };
    }
    case 'DescribeKey':
      return { KeyMetadata: keyMetadataJson(await kms.describeKey(caller, reqStr(b, 'KeyId'))) };
    case 'ListKeys':
      return pageJson(await kms.listKeys(caller, { ...opt('limit', int(b, 'Limit')), ...opt('marker', str(b, 'Marker')) }), 'Keys', (k) => ({ KeyId: k.keyId, KeyArn: k.keyArn }));
    case 'GetKeyPolicy': {
      const name = str(b, 'PolicyName') ?? 'default';
      return { Policy: await kms.getKeyPolicy(caller, reqStr(b, 'KeyId'), name), PolicyName: name };
    }
    case 'PutKeyPolicy':
      await kms.putKeyPolicy(caller, {
        keyId: reqStr(b, 'KeyId'),
        policy: reqStr(b, 'Policy'),
        ...opt('policyName', str(b, 'PolicyName')),
        ...opt('bypassPolicyLockoutSafetyCheck', bool(b, 'BypassPolicyLockoutSafetyCheck')),
      });
      return {};
    case 'ListKeyPolicies':
      return pageJson(await kms.listKeyPolicies(caller, reqStr(b, 'KeyId'), { ...opt('limit', int(b, 'Limit')), ...opt('marker', str(b, 'Marker')) }), 'PolicyNames', (n) => n);
    case 'CreateAlias':
      await kms.createAlias(caller, reqStr(b, 'AliasName'), reqStr(b, 'TargetKeyId'));
      return {};
    case 'UpdateAlias':
      await kms.updateAlias(caller, reqStr(b, 'AliasName'), reqStr(b, 'TargetKeyId'));
      return {};
    case 'DeleteAlias':
      await kms.deleteAlias(caller, reqStr(b, 'AliasName'));
      return {};
    case 'ListAliases':
      return pageJson(await kms.listAliases(caller, { ...opt('keyId', str(b, 'KeyId')), ...opt('limit', int(b, 'Limit')), ...opt('marker', str(b, 'Marker')) }), 'Aliases', aliasJson);
    case 'Encrypt': {
      algorithm(b, 'EncryptionAlgorithm');
      const r = await kms.encrypt(caller, { keyId: reqStr(b, 'KeyId'), plaintext: blob(b, 'Plaintext'), ...crypto() });
      return { CiphertextBlob: b64(r.ciphertextBlob), KeyId: r.keyId, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    }
    case 'Decrypt': {
      algorithm(b, 'EncryptionAlgorithm');
      if (b['Recipient'] !== undefined) throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported.');
      const r = await kms.decrypt(caller, { ciphertextBlob: blob(b, 'CiphertextBlob'), ...opt('keyId', str(b, 'KeyId')), ...crypto() });
      try {
        return { KeyId: r.keyId, Plaintext: b64(r.plaintext), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      } finally {
        r.plaintext.fill(0);
      }
    }
    case 'GenerateDataKey': {
      const r = await kms.generateDataKey(caller, { keyId: reqStr(b, 'KeyId'), ...opt('keySpec', str(b, 'KeySpec')), ...opt('numberOfBytes', int(b, 'NumberOfBytes')), ...crypto() });
      try {
        return { CiphertextBlob: b64(r.ciphertextBlob), Plaintext: b64(r.plaintext), KeyId: r.keyId };
      } finally {
        r.plaintext.fill(0);
      }
    }
    case 'GenerateDataKeyWithoutPlaintext': {
      const r = await kms.generateDataKeyWithoutPlaintext(caller, { keyId: reqStr(b, 'KeyId'), ...opt('keySpec', str(b, 'KeySpec')), ...opt('numberOfBytes', int(b, 'NumberOfBytes')), ...crypto() });
      return { CiphertextBlob: b64(r.ciphertextBlob), KeyId: r.keyId };
    }
    case 'ReEncrypt': {
      algorithm(b, 'SourceEncryptionAlgorithm');
      algorithm(b, 'DestinationEncryptionAlgorithm');
      const r = await kms.reEncrypt(caller, {
        ciphertextBlob: blob(b, 'CiphertextBlob'),
        destinationKeyId: reqStr(b, 'DestinationKeyId'),
        ...opt('sourceKeyId', str(b, 'SourceKeyId')),
        ...opt('sourceEncryptionContext', strMap(b, 'SourceEncryptionContext')),
        ...opt('destinationEncryptionContext', strMap(b, 'DestinationEncryptionContext')),
        ...opt('grantTokens', strList(b, 'GrantTokens')),
      });
      return { CiphertextBlob: b64(r.ciphertextBlob), SourceKeyId: r.sourceKeyId, KeyId: r.keyId, SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    }
    case 'GenerateRandom': {
      const r = await kms.generateRandom(caller, int(b, 'NumberOfBytes'));
      return { Plaintext: b64(r) };
    }
    case 'EnableKey':
      await kms.enableKey(caller, reqStr(b, 'KeyId'));
      return {};
    case 'DisableKey':
      await kms.disableKey(caller, reqStr(b, 'KeyId'));
      return {};
    case 'ScheduleKeyDeletion': {
      const r = await kms.scheduleKeyDeletion(caller, reqStr(b, 'KeyId'), int(b, 'PendingWindowInDays') ?? 30);
      return { KeyId: r.keyId, DeletionDate: epoch(r.deletionDate), KeyState: r.keyState, PendingWindowInDays: r.pendingWindowInDays };
    }
    case 'CancelKeyDeletion':
      return { KeyId: (await kms.cancelKeyDeletion(caller, reqStr(b, 'KeyId'))).keyId };
    case 'EnableKeyRotation':
      await kms.enableKeyRotation(caller, reqStr(b, 'KeyId'), int(b, 'RotationPeriodInDays') ?? undefined);
      return {};
    case 'DisableKeyRotation':
      await kms.disableKeyRotation(caller, reqStr(b, 'KeyId'));
      return {};
    case 'GetKeyRotationStatus': {
      const r = await kms.getKeyRotationStatus(caller, reqStr(b, 'KeyId'));
      return {
        KeyRotationEnabled: r.keyRotationEnabled,
        KeyId: r.keyId,
        ...opt('RotationPeriodInDays', r.rotationPeriodInDays),
        ...(r.nextRotationDate ? { NextRotationDate: epoch(r.nextRotationDate) } : {}),
      };
    }
    case 'RotateKeyOnDemand':
      return { KeyId: (await kms.rotateKeyOnDemand(caller, reqStr(b, 'KeyId'))).keyId };
    case 'CreateGrant': {
      const r = await kms.createGrant(caller, {
        keyId: reqStr(b, 'KeyId'),
        granteePrincipal: reqStr(b, 'GranteePrincipal'),
        operations: strList(b, 'Operations') ?? [],
        ...opt('retiringPrincipal', str(b, 'RetiringPrincipal')),
        ...opt('constraints', constraints(b)),
        ...opt('name', str(b, 'Name')),
        ...opt('grantTokens', strList(b, 'GrantTokens')),
      });
      return { GrantToken: r.grantToken, GrantId: r.grantId };
    }
    case 'ListGrants':
      return pageJson(
        await kms.listGrants(caller, {
          keyId: reqStr(b, 'KeyId'),
          ...opt('grantId', str(b, 'GrantId')),
          ...opt('granteePrincipal', str(b, 'GranteePrincipal')),
          ...opt('limit', int(b, 'Limit')),
          ...opt('marker', str(b, 'Marker')),
        }),
        'Grants',
        grantJson,
      );
    case 'RetireGrant':
      await kms.retireGrant(caller, { ...opt('grantToken', str(b, 'GrantToken')), ...opt('keyId', str(b, 'KeyId')), ...opt('grantId', str(b, 'GrantId')) });
      return {};
    case 'RevokeGrant':
      await kms.revokeGrant(caller, reqStr(b, 'KeyId'), reqStr(b, 'GrantId'));
      return {};
    case 'TagResource':
      await kms.tagResource(caller, reqStr(b, 'KeyId'), tags(b) ?? reqList(b, 'Tags'));
      return {};
    case 'UntagResource':
      await kms.untagResource(caller, reqStr(b, 'KeyId'), strList(b, 'TagKeys') ?? reqList(b, 'TagKeys'));
      return {};
    case 'ListResourceTags':
      return pageJson(await kms.listResourceTags(caller, reqStr(b, 'KeyId'), { ...opt('limit', int(b, 'Limit')), ...opt('marker', str(b, 'Marker')) }), 'Tags', (t) => ({ TagKey: t.tagKey, TagValue: t.tagValue }));
  }
}

function algorithm(b: Body, m: string): void {
  const v = str(b, m);
  if (v !== undefined && v !== 'SYMMETRIC_DEFAULT') throw new KmsError('InvalidKeyUsageException', `The encryption algorithm ${v} is not compatible with a SYMMETRIC_DEFAULT key.`);
}

const SECRET_MEMBERS = new Set(['Plaintext', 'CiphertextBlob', 'GrantTokens', 'GrantToken']);

/** CloudTrail-style elements: lower-camel member names, secrets and blobs left out. */
function auditElements(o: Body): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (SECRET_MEMBERS.has(k) || v === undefined) continue;
    out[k.charAt(0).toLowerCase() + k.slice(1)] = v;
  }
  return out;
}

function resourcesOf(req: Body, res: Body | undefined): string[] {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === 'string' && v.length > 0 && v.length <= 2048) out.add(v);
  };
  if (res) {
    add(res['SourceKeyId']);
    add(res['KeyId']);
    const km = res['KeyMetadata'];
    if (typeof km === 'object' && km !== null) add((km as Body)['Arn']);
  }
  if (out.size === 0) {
    add(req['KeyId']);
    add(req['SourceKeyId']);
    add(req['DestinationKeyId']);
    add(req['TargetKeyId']);
  }
  return [...out];
}

/**
 * One KMS call by an authenticated principal. Never throws for bad input: every failure
 * becomes a KMS error response (KMSInternalException for a bug, without its details).
 */
export async function handleKmsRequest(kms: Kms, principal: AuthzPrincipal, target: string, body: Buffer, ctx: KmsRequestContext): Promise<KmsApiResponse> {
  const { operation, known } = kmsOperationInfo(target);
  let parsed: Body = {};
  const fail = (e: unknown): KmsApiResponse => {
    let code = 'KMSInternalException';
    let message = 'An internal error has occurred.';
    if (isKmsError(e)) {
      code = e.code;
      message = e.message;
    } else if (isNitrideError(e) && e.kind === 'invalid') {
      code = 'ValidationException';
      message = e.message;
    }
    return {
      status: kmsErrorStatus(code),
      body: kmsErrorBody(code, message),
      operation,
      errorCode: code,
      errorMessage: message,
      resources: resourcesOf(parsed, undefined),
      requestParameters: Object.keys(parsed).length ? auditElements(parsed) : null,
      responseElements: null,
    };
  };
  try {
    if (!known || !target.startsWith(KMS_TARGET_PREFIX)) throw new KmsError('UnknownOperationException', `Unknown operation ${operation}.`, { target });
    let v: unknown;
    try {
      v = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new KmsError('SerializationException', 'The request body is not valid JSON.', {}, { cause: e });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KmsError('SerializationException', 'The request body must be a JSON object.');
    parsed = v as Body;
    const caller: KmsCaller = ctx.context ? { principal, context: ctx.context } : { principal };
    const res = await dispatch(kms, caller, operation as KmsOperation, parsed);
    return {
      status: 200,
      body: JSON.stringify(res),
      operation,
      resources: resourcesOf(parsed, res),
      requestParameters: auditElements(parsed),
      responseElements: Object.keys(res).length ? auditElements(res) : null,
    };
  } catch (e) {
    return fail(e);
  }
}

export { kmsErrorBody, kmsErrorStatus };
