// IAM roles over the state store: a role has a trust policy (AssumeRolePolicyDocument: who may
// assume it, evaluated by STS's AssumeRole) and inline permission policies (PutRolePolicy),
// which are what a session of the role may do.
//
// Store layout (every value JSON):
//   iam/roles/<accountId>/<rolename lc>                       RoleRecord   (role names are case-insensitive)
//   iam/rolepolicies/<accountId>/<rolename lc>/<policyName>   { policyName, document }
import { IamError } from './errors.js';
import { parsePolicy, parseResourcePolicy, resourcePolicyPrincipals, type ResourcePolicyDocument } from './policy.js';
import type { StateStore } from '../store/store.js';

/** IAM's quotas: a trust policy's length and the total of a role's inline policies (whitespace not counted). */
export const MAX_TRUST_POLICY_BYTES = 2048;
export const MAX_ROLE_POLICY_BYTES = 10_240;
/** A role's MaxSessionDuration: 1 to 12 hours, 1 hour by default. */
export const DEFAULT_MAX_SESSION_SECONDS = 3600;
const MAX_SESSION_RANGE = [3600, 43_200] as const;

export interface RoleRecord {
  readonly accountId: string;
  readonly roleName: string;
  /** AROA… */
  readonly roleId: string;
  readonly arn: string;
  readonly path: string;
  readonly createDate: string;
  readonly assumeRolePolicyDocument: string;
  readonly description?: string;
  readonly maxSessionDuration: number;
}

export interface RolePolicy {
  readonly roleName: string;
  readonly policyName: string;
  readonly policyDocument: string;
}

const NAME_RE = /^[\w+=,.@-]+$/;

const K = {
  role: (a: string, r: string) => `iam/roles/${a}/${r.toLowerCase()}`,
  roles: (a: string) => `iam/roles/${a}/`,
  policy: (a: string, r: string, p: string) => `iam/rolepolicies/${a}/${r.toLowerCase()}/${p}`,
  policies: (a: string, r: string) => `iam/rolepolicies/${a}/${r.toLowerCase()}/`,
};

function validation(value: string, member: string, constraint: string): IamError {
  return new IamError('ValidationError', `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`, { member });
}

export function checkRoleName(name: string): void {
  if (name.length < 1 || name.length > 64) throw validation(name, 'roleName', 'Member must have length between 1 and 64');
  if (!NAME_RE.test(name)) throw validation(name, 'roleName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}

function checkPolicyName(name: string): void {
  if (name.length < 1 || name.length > 128) throw validation(name, 'policyName', 'Member must have length between 1 and 128');
  if (!NAME_RE.test(name)) throw validation(name, 'policyName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}

const noSuchRole = (accountId: string, roleName: string): IamError => new IamError('NoSuchEntity', `The role with name ${roleName} cannot be found.`, { accountId, roleName });

export interface RoleDeps {
  readonly store: StateStore;
  /** The account's record version; NoSuchEntity when it is absent or closed. */
  readonly requireAccount: (accountId: string) => Promise<number>;
  /** Whether an account id or IAM ARN a trust policy names exists (IAM refuses others). */
  readonly principalExists: (principal: string) => Promise<boolean>;
  readonly newRoleId: () => string;
}

export class IamRoles {
  constructor(private readonly d: RoleDeps) {}

  /** Parses a trust policy as IAM does: a resource policy without Resource, whose principals exist. */
  async checkTrustPolicy(text: string): Promise<ResourcePolicyDocument> {
    if (text.replace(/\s/g, '').length > MAX_TRUST_POLICY_BYTES) throw new IamError('LimitExceeded', `Cannot exceed quota for ACLSizePerRole: ${MAX_TRUST_POLICY_BYTES}`, {});
    const doc = parseResourcePolicy(text, { trust: true });
    for (const p of resourcePolicyPrincipals(doc)) {
      if (!(await this.d.principalExists(p))) throw new IamError('MalformedPolicyDocument', `Invalid principal in policy: "AWS":"${p}"`, { principal: p });
    }
    return doc;
  }

  async create(accountId: string, roleName: string, trustPolicy: string, opts: { path?: string; description?: string; maxSessionDuration?: number } = {}): Promise<RoleRecord> {
    checkRoleName(roleName);
    const path = opts.path ?? '/';
    if (!/^\/([\x21-\x7e]*\/)?$/.test(path) || path.length > 512) throw validation(path, 'path', 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)');
    if (opts.description !== undefined && opts.description.length > 1000) throw validation(opts.description, 'description', 'Member must have length less than or equal to 1000');
    const max = opts.maxSessionDuration ?? DEFAULT_MAX_SESSION_SECONDS;
    if (!Number.isInteger(max) || max < MAX_SESSION_RANGE[0] || max > MAX_SESSION_RANGE[1]) throw validation(String(max), 'maxSessionDuration', 'Member must have value between 3600 and 43200');
    await this.checkTrustPolicy(trustPolicy);
    const acctVersion = await this.d.requireAccount(accountId);
    const rec: RoleRecord = {
      accountId,
      roleName,
      roleId: this.d.newRoleId(),
      arn: `arn:aws:iam::${accountId}:role${path}${roleName}`,
      path,
      createDate: new Date().toISOString(),
      assumeRolePolicyDocument: trustPolicy,
      ...(opts.description !== undefined ? { description: opts.description } : {}),
      maxSessionDuration: max,
    };
    const ok = await this.d.store.txn({
      compare: [
        { key: `iam/accounts/${accountId}`, version: acctVersion },
        { key: K.role(accountId, roleName), version: 0 },
      ],
      put: [{ key: K.role(accountId, roleName), value: { ...rec } }],
    });
    if (!ok) {
      if (await this.d.store.get(K.role(accountId, roleName))) throw new IamError('EntityAlreadyExists', `Role with name ${roleName} already exists.`, { accountId, roleName });
      throw new IamError('NoSuchEntity', `The account ${accountId} does not exist.`, { accountId });
    }
    return rec;
  }

  private async record(accountId: string, roleName: string): Promise<{ role: RoleRecord; version: number }> {
    checkRoleName(roleName);
    const got = /^\d{12}$/.test(accountId) ? await this.d.store.get<RoleRecord>(K.role(accountId, roleName)) : undefined;
    if (got === undefined) throw noSuchRole(accountId, roleName);
    return { role: got.value, version: got.version };
  }

  async get(accountId: string, roleName: string): Promise<RoleRecord> {
    return (await this.record(accountId, roleName)).role;
  }

  /** The role, or undefined (no validation error): for AssumeRole, which must not tell a missing role from a refused one. */
  async find(accountId: string, roleName: string): Promise<RoleRecord | undefined> {
    if (!NAME_RE.test(roleName) || roleName.length > 64 || !/^\d{12}$/.test(accountId)) return undefined;
    return (await this.d.store.get<RoleRecord>(K.role(accountId, roleName)))?.value;
  }

  /** Roles in name order, `pathPrefix` filtered; `marker` is the key to start after. */
  async list(accountId: string, opts: { startAfter?: string; maxItems: number; pathPrefix?: string }): Promise<{ roles: RoleRecord[]; next?: string }> {
    const out: RoleRecord[] = [];
    if (!/^\d{12}$/.test(accountId)) return { roles: out };
    let cursor = opts.startAfter;
    if (cursor !== undefined && !cursor.startsWith(K.roles(accountId))) throw new IamError('ValidationError', 'The Marker is not valid for this request.', {});
    for (;;) {
      const page = await this.d.store.list<RoleRecord>(K.roles(accountId), cursor === undefined ? { limit: opts.maxItems + 1 } : { limit: opts.maxItems + 1, startAfter: cursor });
      for (const e of page) {
        if (opts.pathPrefix !== undefined && !e.value.path.startsWith(opts.pathPrefix)) {
          cursor = e.key;
          continue;
        }
        if (out.length === opts.maxItems) return { roles: out, next: cursor ?? '' };
        out.push(e.value);
        cursor = e.key;
      }
      if (page.length < opts.maxItems + 1) return { roles: out };
    }
  }

  async updateTrustPolicy(accountId: string, roleName: string, trustPolicy: string): Promise<void> {
    const { role, version } = await this.record(accountId, roleName);
    await this.checkTrustPolicy(trustPolicy);
    const ok = await this.d.store.txn({ compare: [{ key: K.role(accountId, roleName), version }], put: [{ key: K.role(accountId, roleName), value: { ...role, assumeRolePolicyDocument: trustPolicy } }] });
    if (!ok) throw new IamError('ServiceFailure', 'The role changed while its trust policy was being updated; try again.', { accountId, roleName });
  }

  /** DeleteConflict while the role still has inline policies, as IAM. */
  async delete(accountId: string, roleName: string): Promise<void> {
    const { role, version } = await this.record(accountId, roleName);
    if ((await this.d.store.list(K.policies(accountId, role.roleName), { limit: 1 })).length > 0) throw new IamError('DeleteConflict', 'Cannot delete entity, must delete policies first.', { accountId, roleName });
    if (!(await this.d.store.txn({ compare: [{ key: K.role(accountId, roleName), version }], delete: [K.role(accountId, roleName)] }))) {
      throw new IamError('DeleteConflict', 'The role changed while it was being deleted; try again.', { accountId, roleName });
    }
  }

  async putPolicy(accountId: string, roleName: string, policyName: string, document: string): Promise<void> {
    checkPolicyName(policyName);
    const { role, version } = await this.record(accountId, roleName);
    parsePolicy(document);
    let total = document.replace(/\s/g, '').length;
    for (const e of await this.d.store.list<{ policyName: string; document: string }>(K.policies(accountId, role.roleName))) {
      if (e.value.policyName !== policyName) total += e.value.document.replace(/\s/g, '').length;
    }
    if (total > MAX_ROLE_POLICY_BYTES) throw new IamError('LimitExceeded', `Maximum policy size of ${MAX_ROLE_POLICY_BYTES} bytes exceeded for role ${role.roleName}`, { accountId, roleName });
    const ok = await this.d.store.txn({ compare: [{ key: K.role(accountId, roleName), version }], put: [{ key: K.policy(accountId, role.roleName, policyName), value: { policyName, document } }] });
    if (!ok) throw noSuchRole(accountId, roleName);
  }

  async getPolicy(accountId: string, roleName: string, policyName: string): Promise<RolePolicy> {
    const { role } = await this.record(accountId, roleName);
    const got = NAME_RE.test(policyName) ? await this.d.store.get<{ policyName: string; document: string }>(K.policy(accountId, role.roleName, policyName)) : undefined;
    if (got === undefined) throw new IamError('NoSuchEntity', `The role policy with name ${policyName} cannot be found.`, { accountId, roleName, policyName });
    return { roleName: role.roleName, policyName: got.value.policyName, policyDocument: got.value.document };
  }

  async listPolicies(accountId: string, roleName: string): Promise<string[]> {
    const { role } = await this.record(accountId, roleName);
    return (await this.d.store.list<{ policyName: string }>(K.policies(accountId, role.roleName))).map((e) => e.value.policyName);
  }

  async deletePolicy(accountId: string, roleName: string, policyName: string): Promise<void> {
    const { role } = await this.record(accountId, roleName);
    if (!NAME_RE.test(policyName) || !(await this.d.store.delete(K.policy(accountId, role.roleName, policyName)))) {
      throw new IamError('NoSuchEntity', `The role policy with name ${policyName} cannot be found.`, { accountId, roleName, policyName });
    }
  }

  /** The documents of a role's inline policies (no validation: they were validated when put). */
  async policyDocuments(accountId: string, roleName: string): Promise<{ policyName: string; document: string }[]> {
    if (!/^\d{12}$/.test(accountId)) return [];
    return (await this.d.store.list<{ policyName: string; document: string }>(K.policies(accountId, roleName))).map((e) => e.value);
  }
}
