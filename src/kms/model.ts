// KMS's model: the records it keeps in the state store, the shapes its operations answer
// with, who calls (KmsCaller, serviceCaller) and KMS's constants. No behaviour beyond
// naming and shaping; src/kms/kms.ts holds the operations.
import { type AuthzPrincipal, type ConditionContext, principalArn } from '../iam/policy.js';
import type { SealedSecret } from '../iam/root-key.js';
import type { EncryptionContext } from './protocol/ciphertext-blob.js';

export const KMS_REGION = 'local-1';
export const EC2_VIA_SERVICE = `ec2.${KMS_REGION}.amazonaws.com`;
export const MAX_PLAINTEXT_BYTES = 4096;
export const MAX_DATA_KEY_BYTES = 1024;
export const DEFAULT_ROTATION_DAYS = 365;
export const DAY_MS = 86_400_000;

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type KeyManager = 'CUSTOMER' | 'AWS';

/** Operations a grant can allow (KMS's GrantOperation values for symmetric keys). */
export const GRANT_OPERATIONS = ['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'CreateGrant', 'RetireGrant', 'DescribeKey'] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];
export const CRYPTO_GRANT_OPS: ReadonlySet<string> = new Set(['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo']);
/** Operations KMS allows on a key of another account (by key ARN or ciphertext); the rest are same-account only. */
export const CROSS_ACCOUNT_OPS: ReadonlySet<string> = new Set([...CRYPTO_GRANT_OPS, 'DescribeKey', 'CreateGrant', 'ListGrants', 'RetireGrant', 'RevokeGrant', 'GetKeyRotationStatus']);
/** The only key policy name KMS has. */
export const KEY_POLICY_NAME = 'default';
/** KMS's quota on a key policy document (bytes). */
export const MAX_KEY_POLICY_BYTES = 32_768;

/** AWS-managed keys this region creates on first use: alias/aws/<service>. */
export const AWS_MANAGED_SERVICES: Readonly<Record<string, string>> = {
  ebs: 'Default key that protects my EBS volumes when no other key is defined',
};

export interface Tag {
  readonly tagKey: string;
  readonly tagValue: string;
}

export interface MaterialRecord {
  readonly version: number;
  readonly createdAt: number;
  readonly sealed: SealedSecret;
}

export interface KeyRecord {
  readonly keyId: string;
  readonly accountId: string;
  readonly arn: string;
  readonly creationDate: number; // epoch ms
  readonly description: string;
  readonly keyState: KeyState;
  readonly deletionDate?: number;
  readonly pendingWindowInDays?: number;
  readonly keyManager: KeyManager;
  readonly policy: string;
  readonly tags: readonly Tag[];
  readonly rotationEnabled: boolean;
  readonly rotationPeriodInDays?: number;
  readonly nextRotationDate?: number;
  readonly lastRotationDate?: number;
  readonly currentVersion: number;
  readonly materials: readonly MaterialRecord[];
}

export interface AliasRecord {
  readonly aliasName: string;
  readonly targetKeyId: string;
  readonly creationDate: number;
  readonly lastUpdatedDate: number;
}

export interface GrantConstraints {
  readonly encryptionContextSubset?: EncryptionContext;
  readonly encryptionContextEquals?: EncryptionContext;
}

export interface GrantRecord {
  readonly grantId: string;
  readonly keyId: string;
  readonly keyArn: string;
  readonly name?: string;
  readonly creationDate: number;
  readonly granteePrincipal: string;
  readonly retiringPrincipal?: string;
  readonly issuingAccount: string;
  readonly operations: readonly GrantOperation[];
  readonly constraints?: GrantConstraints;
  readonly tokenSha256: string;
}

export interface KeyMetadata {
  readonly accountId: string;
  readonly keyId: string;
  readonly arn: string;
  readonly creationDate: Date;
  readonly enabled: boolean;
  readonly description: string;
  readonly keyUsage: 'ENCRYPT_DECRYPT';
  readonly keySpec: 'SYMMETRIC_DEFAULT';
  readonly keyState: KeyState;
  readonly deletionDate?: Date;
  readonly keyManager: KeyManager;
  readonly origin: 'AWS_KMS';
}

export interface AliasEntry {
  readonly aliasName: string;
  readonly aliasArn: string;
  readonly targetKeyId: string;
  readonly creationDate: Date;
  readonly lastUpdatedDate: Date;
}

export interface GrantEntry {
  readonly keyId: string; // the key ARN, as ListGrants returns it
  readonly grantId: string;
  readonly name?: string;
  readonly creationDate: Date;
  readonly granteePrincipal: string;
  readonly retiringPrincipal?: string;
  readonly issuingAccount: string;
  readonly operations: readonly GrantOperation[];
  readonly constraints?: GrantConstraints;
}

export interface Page<T> {
  readonly items: T[];
  readonly truncated: boolean;
  readonly nextMarker?: string;
}

/** Who calls: an authenticated IAM principal, or a service principal (serviceCaller()). */
export interface KmsCaller {
  readonly principal: AuthzPrincipal;
  /** IAM condition keys of the request (aws:SourceIp, kms:ViaService, …). */
  readonly context?: ConditionContext;
}

export const SERVICE_PREFIX = 'service:';
export const SERVICE_RE = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com$/;

/** A caller for a service acting inside the region (e.g. 'ebs.amazonaws.com' decrypting a volume key under a grant). */
export function serviceCaller(service: string, accountId: string): KmsCaller {
  if (!SERVICE_RE.test(service)) throw new RangeError(`Not a service principal: ${service}`);
  return { principal: { accountId, userName: `${SERVICE_PREFIX}${service}`, arn: service } };
}

export function isService(p: AuthzPrincipal): boolean {
  return p.userName.startsWith(SERVICE_PREFIX);
}

export function callerArn(p: AuthzPrincipal): string {
  return isService(p) ? p.userName.slice(SERVICE_PREFIX.length) : principalArn(p);
}

export const keyArn = (accountId: string, keyId: string): string => `arn:aws:kms:${KMS_REGION}:${accountId}:key/${keyId}`;
export const aliasArn = (accountId: string, aliasName: string): string => `arn:aws:kms:${KMS_REGION}:${accountId}:${aliasName}`;

export function metadata(r: KeyRecord): KeyMetadata {
  return {
    accountId: r.accountId,
    keyId: r.keyId,
    arn: r.arn,
    creationDate: new Date(r.creationDate),
    enabled: r.keyState === 'Enabled',
    description: r.description,
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    keyState: r.keyState,
    ...(r.deletionDate !== undefined ? { deletionDate: new Date(r.deletionDate) } : {}),
    keyManager: r.keyManager,
    origin: 'AWS_KMS',
  };
}

export function grantEntry(g: GrantRecord): GrantEntry {
  return {
    keyId: g.keyArn,
    grantId: g.grantId,
    ...(g.name !== undefined ? { name: g.name } : {}),
    creationDate: new Date(g.creationDate),
    granteePrincipal: g.granteePrincipal,
    ...(g.retiringPrincipal !== undefined ? { retiringPrincipal: g.retiringPrincipal } : {}),
    issuingAccount: g.issuingAccount,
    operations: g.operations,
    ...(g.constraints !== undefined ? { constraints: g.constraints } : {}),
  };
}

/** Options of one cryptographic call. */
export interface CryptoOptions {
  readonly encryptionContext?: EncryptionContext;
  readonly grantTokens?: readonly string[];
}
