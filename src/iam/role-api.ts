// IAM's role actions on the Query API: CreateRole, GetRole, ListRoles, DeleteRole,
// UpdateAssumeRolePolicy and the inline role policies (PutRolePolicy, GetRolePolicy,
// ListRolePolicies, DeleteRolePolicy), answering with IAM's XML shapes (botocore's iam model).
// Each call is authorized as iam:<Action> on arn:aws:iam::<account>:role/<path><name>
// (…:role/ for ListRoles) inside the caller's account; documents go out URL-encoded, as IAM does.
import type { XmlWriter } from '../lib/xml.js';
import { IamError } from './errors.js';
import type { Iam } from './iam.js';
import { get, isoSeconds, maxItems, ok, required, type QueryParams } from './query.js';
import type { RoleRecord } from './roles.js';

export type RoleAction = 'CreateRole' | 'GetRole' | 'ListRoles' | 'DeleteRole' | 'UpdateAssumeRolePolicy' | 'PutRolePolicy' | 'GetRolePolicy' | 'ListRolePolicies' | 'DeleteRolePolicy';

export const ROLE_READ_ONLY: Readonly<Record<RoleAction, boolean>> = {
  CreateRole: false,
  GetRole: true,
  ListRoles: true,
  DeleteRole: false,
  UpdateAssumeRolePolicy: false,
  PutRolePolicy: false,
  GetRolePolicy: true,
  ListRolePolicies: true,
  DeleteRolePolicy: false,
};

export function isRoleAction(a: string): a is RoleAction {
  return Object.hasOwn(ROLE_READ_ONLY, a);
}

function writeRole(w: XmlWriter, r: RoleRecord): void {
  w.leaf('Path', r.path).leaf('RoleName', r.roleName).leaf('RoleId', r.roleId).leaf('Arn', r.arn).leaf('CreateDate', isoSeconds(r.createDate));
  w.leaf('AssumeRolePolicyDocument', encodeURIComponent(r.assumeRolePolicyDocument)).leaf('Description', r.description).leaf('MaxSessionDuration', r.maxSessionDuration);
}

function integer(params: QueryParams, name: string, member: string): number | undefined {
  const v = get(params, name);
  if (v === undefined) return undefined;
  if (!/^-?\d{1,10}$/.test(v)) throw new IamError('ValidationError', `1 validation error detected: Value '${v}' at '${member}' failed to satisfy constraint: Member must be an integer`, {});
  return Number(v);
}

export interface RoleCall {
  readonly body: string;
  readonly responseElements?: Record<string, unknown>;
}

/**
 * Runs one role action for a caller of `accountId`. `setResources` records the ARNs addressed
 * (for the audit record and the authorization); `authorize` throws AccessDenied unless the
 * caller may do `iam:<action>` on them.
 */
export async function handleRoleAction(iam: Iam, accountId: string, action: RoleAction, params: QueryParams, requestId: string, setResources: (arns: string[]) => void, authorize: () => Promise<void>): Promise<RoleCall> {
  // The role a call is about, by its stored ARN (its path) when it exists.
  const target = async (): Promise<string> => {
    const roleName = required(params, 'RoleName');
    setResources([(await iam.roles.find(accountId, roleName))?.arn ?? `arn:aws:iam::${accountId}:role/${roleName}`]);
    await authorize();
    return roleName;
  };
  switch (action) {
    case 'CreateRole': {
      const roleName = required(params, 'RoleName');
      const document = required(params, 'AssumeRolePolicyDocument');
      const path = get(params, 'Path') ?? '/';
      for (const k of (params instanceof Map ? [...params.keys()] : Object.keys(params)).map((x) => x.split('.')[0] ?? x)) {
        if (k === 'PermissionsBoundary' || k === 'Tags') throw new IamError('ValidationError', `The parameter ${k} is not supported by this region (Nitride's roles have no ${k === 'Tags' ? 'tags' : 'permissions boundaries'}).`, { parameter: k });
      }
      setResources([`arn:aws:iam::${accountId}:role${path}${roleName}`]);
      await authorize();
      const description = get(params, 'Description');
      const maxSessionDuration = integer(params, 'MaxSessionDuration', 'maxSessionDuration');
      const r = await iam.roles.create(accountId, roleName, document, { path, ...(description !== undefined ? { description } : {}), ...(maxSessionDuration !== undefined ? { maxSessionDuration } : {}) });
      return { body: ok(action, requestId, (w) => w.element('Role', (x) => writeRole(x, r))), responseElements: { role: { roleName: r.roleName, roleId: r.roleId, arn: r.arn, path: r.path } } };
    }
    case 'GetRole': {
      const roleName = await target();
      const r = await iam.roles.get(accountId, roleName);
      return { body: ok(action, requestId, (w) => w.element('Role', (x) => writeRole(x, r))) };
    }
    case 'ListRoles': {
      setResources([`arn:aws:iam::${accountId}:role/`]);
      await authorize();
      const marker = get(params, 'Marker');
      const pathPrefix = get(params, 'PathPrefix');
      const page = await iam.roles.list(accountId, {
        maxItems: maxItems(params) ?? 100,
        ...(marker !== undefined ? { startAfter: Buffer.from(marker, 'base64url').toString('utf8') } : {}),
        ...(pathPrefix !== undefined ? { pathPrefix } : {}),
      });
      return {
        body: ok(action, requestId, (w) => {
          w.list('Roles', page.roles, writeRole, 'member');
          w.leaf('IsTruncated', page.next !== undefined);
          w.leaf('Marker', page.next === undefined ? undefined : Buffer.from(page.next, 'utf8').toString('base64url'));
        }),
      };
    }
    case 'DeleteRole': {
      const roleName = await target();
      await iam.roles.delete(accountId, roleName);
      iam.forgetRolePolicies(accountId, roleName);
      return { body: ok(action, requestId, undefined) };
    }
    case 'UpdateAssumeRolePolicy': {
      const document = required(params, 'PolicyDocument');
      const roleName = await target();
      await iam.roles.updateTrustPolicy(accountId, roleName, document);
      return { body: ok(action, requestId, undefined) };
    }
    case 'PutRolePolicy': {
      const policyName = required(params, 'PolicyName');
      const document = required(params, 'PolicyDocument');
      const roleName = await target();
      await iam.roles.putPolicy(accountId, roleName, policyName, document);
      iam.forgetRolePolicies(accountId, roleName);
      return { body: ok(action, requestId, undefined) };
    }
    case 'GetRolePolicy': {
      const policyName = required(params, 'PolicyName');
      const roleName = await target();
      const p = await iam.roles.getPolicy(accountId, roleName, policyName);
      return { body: ok(action, requestId, (w) => w.leaf('RoleName', p.roleName).leaf('PolicyName', p.policyName).leaf('PolicyDocument', encodeURIComponent(p.policyDocument))) };
    }
    case 'ListRolePolicies': {
      const roleName = await target();
      maxItems(params);
      const names = await iam.roles.listPolicies(accountId, roleName);
      return {
        body: ok(action, requestId, (w) => {
          w.list('PolicyNames', names, (x, n) => x.text(n), 'member');
          w.leaf('IsTruncated', false);
        }),
      };
    }
    case 'DeleteRolePolicy': {
      const policyName = required(params, 'PolicyName');
      const roleName = await target();
      await iam.roles.deletePolicy(accountId, roleName, policyName);
      iam.forgetRolePolicies(accountId, roleName);
      return { body: ok(action, requestId, undefined) };
    }
  }
}
