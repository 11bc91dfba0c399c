// KMS's parameter checks and the errors they raise: markers and limits of list calls, alias
// and policy names, encryption contexts and grant constraints.
import { KmsError, validation } from './errors.js';
import { type GrantConstraints, KEY_POLICY_NAME } from './model.js';
import type { EncryptionContext } from './protocol/ciphertext-blob.js';

export function encodeMarker(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeMarker(marker: string | undefined, prefix: string): string | undefined {
  if (marker === undefined) return undefined;
  const key = Buffer.from(marker, 'base64url').toString('utf8');
  if (!key.startsWith(prefix)) throw new KmsError('InvalidMarkerException', 'The marker is not valid for this request.');
  return key;
}

export function checkLimit(limit: number | undefined, dflt: number, max: number): number {
  if (limit === undefined) return dflt;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw validation(`1 validation error detected: Value '${limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and ${max}`);
  return limit;
}

export const ALIAS_RE = /^alias\/[a-zA-Z0-9/_-]+$/;
export const IAM_PRINCIPAL_RE = /^arn:aws:iam::\d{12}:(root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)$/;

export function checkAliasName(name: string, opts: { allowAws?: boolean } = {}): void {
  if (name.length < 1 || name.length > 256 || !ALIAS_RE.test(name)) throw new KmsError('InvalidAliasNameException', `Alias ${name} must begin with 'alias/' and contain only alphanumeric characters, '/', '_' or '-'.`, { aliasName: name });
  if (!opts.allowAws && name.startsWith('alias/aws/')) throw new KmsError('InvalidAliasNameException', `Alias ${name} must not begin with 'alias/aws/'; that prefix is reserved for AWS managed keys.`, { aliasName: name });
}

export function checkPolicyName(name: string): void {
  if (!/^\w{1,128}$/.test(name)) throw validation(`1 validation error detected: Value '${name}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+`);
  if (name !== KEY_POLICY_NAME) throw new KmsError('NotFoundException', `Policy ${name} does not exist; a key's only policy is named '${KEY_POLICY_NAME}'.`, { policyName: name });
}

export function checkContext(ctx: EncryptionContext | undefined): void {
  if (ctx === undefined) return;
  for (const [k, v] of Object.entries(ctx)) {
    if (typeof v !== 'string' || k.length === 0) throw validation('EncryptionContext keys must be non-empty strings and values strings.');
  }
}

export function contextSatisfies(c: GrantConstraints | undefined, ctx: EncryptionContext | undefined): boolean {
  if (c === undefined) return true;
  const req = ctx ?? {};
  if (c.encryptionContextEquals !== undefined) {
    const want = c.encryptionContextEquals;
    const wk = Object.keys(want);
    if (wk.length !== Object.keys(req).length) return false;
    if (!wk.every((k) => Object.hasOwn(req, k) && req[k] === want[k])) return false;
  }
  if (c.encryptionContextSubset !== undefined) {
    for (const [k, v] of Object.entries(c.encryptionContextSubset)) if (!Object.hasOwn(req, k) || req[k] !== v) return false;
  }
  return true;
}
