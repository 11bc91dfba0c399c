// AWS Organizations' account operations over the JSON 1.1 protocol (botocore's organizations
// model: targetPrefix AWSOrganizationsV20161128, SigV4 service 'organizations'): CreateAccount,
// DescribeCreateAccountStatus, ListCreateAccountStatus, ListAccounts, DescribeAccount and
// CloseAccount. Timestamps go out in epoch seconds, errors as {"__type", "Message"}.
//
// Only the organization's management account (the region operator's) may call them: any other
// account gets AccessDeniedException, as a member account does in AWS; inside the management
// account the root may do anything and an IAM user needs organizations:<Operation> (on the
// account's ARN for DescribeAccount and CloseAccount, '*' for the rest).
//
// One extension: CreateAccount's answer carries `NitrideRootAccessKey` {AccessKeyId,
// SecretAccessKey}, the new account's root credentials (AWS would have the operator assume
// OrganizationAccountAccessRole, which Nitride has not). SDKs and the AWS CLIs ignore the
// member; `nitride account create` writes it as a profile. It is shown once and never audited.
import { isNitrideError } from '../lib/errors.js';
import { JSON_1_1_CONTENT_TYPE, hasTargetPrefix, operationOf, type JsonCallResult } from '../lib/json-protocol.js';
import type { AuthzPrincipal, ConditionContext } from '../iam/policy.js';
import type { Iam } from '../iam/iam.js';
import { invalidInput, OrganizationsError } from './errors.js';
import type { CreateAccountStatusRecord, OrgAccount, Organization } from './organization.js';

export const ORGANIZATIONS_TARGET_PREFIX = 'AWSOrganizationsV20161128.';
export const ORGANIZATIONS_CONTENT_TYPE = JSON_1_1_CONTENT_TYPE;

/** The operations and whether each only reads (CloudTrail's readOnly). */
export const ORGANIZATIONS_OPERATIONS = {
  CreateAccount: false,
  DescribeCreateAccountStatus: true,
  ListCreateAccountStatus: true,
  ListAccounts: true,
  DescribeAccount: true,
  CloseAccount: false,
} as const;
export type OrganizationsOperation = keyof typeof ORGANIZATIONS_OPERATIONS;

const isOperation = (op: string): op is OrganizationsOperation => Object.hasOwn(ORGANIZATIONS_OPERATIONS, op);

/** True when a request is for Organizations (`X-Amz-Target: AWSOrganizationsV20161128.<Op>`). */
export function organizationsRoute(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return hasTargetPrefix(headers, ORGANIZATIONS_TARGET_PREFIX);
}

export function organizationsOperationInfo(target: string): { operation: string; readOnly: boolean; known: boolean } {
  return operationOf(target, ORGANIZATIONS_TARGET_PREFIX, ORGANIZATIONS_OPERATIONS);
}

/**
 * One call's answer. resources: the account ARNs the call addressed; requestParameters leave
 * out the email (sensitive in the model); responseElements hold no secret and no email.
 */
export type OrganizationsApiResponse = JsonCallResult;

type Body = Record<string, unknown>;

function str(b: Body, member: string, required: boolean): string | undefined {
  const v = b[member];
  if (v === undefined || v === null) {
    if (required) throw invalidInput('INPUT_REQUIRED', `You must specify a value for ${member}.`);
    return undefined;
  }
  if (typeof v !== 'string') throw new OrganizationsError('SerializationException', `Member ${member} must be a string.`);
  return v;
}

function accountIdOf(b: Body): string {
  const id = str(b, 'AccountId', true) as string;
  if (!/^\d{12}$/.test(id)) throw invalidInput('INVALID_PATTERN', 'You provided a value that does not match the required pattern: AccountId.');
  return id;
}

function maxResults(b: Body): number {
  const v = b['MaxResults'];
  if (v === undefined || v === null) return 20;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new OrganizationsError('SerializationException', 'Member MaxResults must be an integer.');
  if (v < 1) throw invalidInput('MIN_VALUE_EXCEEDED', 'You provided a value that is less than the minimum: MaxResults (1).');
  if (v > 20) throw invalidInput('MAX_VALUE_EXCEEDED', 'You provided a value that exceeds the maximum: MaxResults (20).');
  return v;
}

/** One page after NextToken (the opaque last key of the previous page). */
function pageOf<T>(items: readonly T[], keyOf: (t: T) => string, b: Body): { items: T[]; nextToken?: string } {
  const max = maxResults(b);
  const token = str(b, 'NextToken', false);
  let start = 0;
  if (token !== undefined) {
    const after = Buffer.from(token, 'base64url').toString('utf8');
    const i = items.findIndex((t) => keyOf(t) === after);
    if (i < 0) throw invalidInput('INVALID_NEXT_TOKEN', 'The NextToken is not valid.');
    start = i + 1;
  }
  const page = items.slice(start, start + max);
  return start + max < items.length ? { items: page, nextToken: Buffer.from(keyOf(page[page.length - 1]!)).toString('base64url') } : { items: page };
}

const epoch = (iso: string): number => new Date(iso).getTime() / 1000;

function accountJson(a: OrgAccount): Record<string, unknown> {
  return { Id: a.record.accountId, Arn: a.arn, Email: a.record.email ?? '', Name: a.record.name, Status: a.status, State: a.state, JoinedMethod: 'CREATED', JoinedTimestamp: epoch(a.record.createDate) };
}

function statusJson(s: CreateAccountStatusRecord): Record<string, unknown> {
  return {
    Id: s.id,
    AccountName: s.accountName,
    State: s.state,
    RequestedTimestamp: epoch(s.requestedTimestamp),
    ...(s.completedTimestamp !== undefined ? { CompletedTimestamp: epoch(s.completedTimestamp) } : {}),
    ...(s.accountId !== undefined ? { AccountId: s.accountId } : {}),
    ...(s.failureReason !== undefined ? { FailureReason: s.failureReason } : {}),
  };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface OrganizationsRequestContext {
  readonly context?: ConditionContext;
}

/**
 * Runs one authenticated Organizations request for `principal`. Never throws: every failure
 * becomes Organizations' error document.
 */
export async function handleOrganizationsRequest(org: Organization, iam: Iam, principal: AuthzPrincipal, target: string, body: Buffer, ctx: OrganizationsRequestContext): Promise<OrganizationsApiResponse> {
  const op = target.startsWith(ORGANIZATIONS_TARGET_PREFIX) ? target.slice(ORGANIZATIONS_TARGET_PREFIX.length) : target;
  let resources: string[] = [];
  let requestParameters: Record<string, unknown> | null = null;
  try {
    if (!isOperation(op)) throw new OrganizationsError('UnknownOperationException', `The operation ${op} is not supported.`);
    let b: Body;
    try {
      const v = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as unknown);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      b = v as Body;
    } catch {
      throw new OrganizationsError('SerializationException', 'The request body is not a JSON object.');
    }
    requestParameters = {};
    for (const [k, v] of Object.entries(b)) if (k !== 'Email') requestParameters[k.charAt(0).toLowerCase() + k.slice(1)] = v;

    // The management account only; then IAM for its users.
    const authorize = async (resource: string): Promise<void> => {
      resources = resource === '*' ? [] : [resource];
      const denied = new OrganizationsError('AccessDeniedException', "You don't have permissions to access this resource.", { operation: op });
      if (principal.accountId !== org.managementAccountId) throw denied;
      const r = await iam.authorize({ principal, action: `organizations:${op}`, resources: [{ arn: resource }], ...(ctx.context !== undefined ? { context: ctx.context } : {}) });
      if (r.decision !== 'allow') throw denied;
    };
    const ok = (out: Record<string, unknown>, audit: Record<string, unknown> | null = null): OrganizationsApiResponse => ({ status: 200, body: JSON.stringify(out), resources, requestParameters, responseElements: audit });

    switch (op) {
      case 'CreateAccount': {
        await authorize('*');
        const email = str(b, 'Email', true) as string;
        const name = str(b, 'AccountName', true) as string;
        if (email.length < 6 || email.length > 64 || !EMAIL.test(email)) throw invalidInput('INVALID_EMAIL_ADDRESS_TARGET', 'You provided an email address that is not valid.');
        if (name.length < 1) throw invalidInput('MIN_LENGTH_EXCEEDED', 'You provided a value that does not meet the required minimum length: AccountName (1).');
        if (name.length > 50) throw invalidInput('MAX_LENGTH_EXCEEDED', 'You provided a value that exceeds the maximum length: AccountName (50).');
        if (!/^[\u0020-\u007e]+$/.test(name)) throw invalidInput('INVALID_PATTERN', 'You provided a value that does not match the required pattern: AccountName.');
        for (const m of ['RoleName', 'IamUserAccessToBilling', 'Tags']) {
          if (b[m] !== undefined && b[m] !== null) throw invalidInput('INVALID_ENUM', `${m} is not supported by this region: accounts get no role and no tags.`);
        }
        const made = await org.createAccount(name, email);
        if (made.status.accountId !== undefined) resources = [await org.accountArn(made.status.accountId)];
        const out: Record<string, unknown> = { CreateAccountStatus: statusJson(made.status) };
        if (made.rootAccessKey) out['NitrideRootAccessKey'] = { AccessKeyId: made.rootAccessKey.accessKeyId, SecretAccessKey: made.rootAccessKey.secretAccessKey };
        return ok(out, { createAccountStatus: statusJson(made.status), ...(made.rootAccessKey ? { rootAccessKeyId: made.rootAccessKey.accessKeyId } : {}) });
      }
      case 'DescribeCreateAccountStatus': {
        await authorize('*');
        const s = await org.describeCreateAccountStatus(str(b, 'CreateAccountRequestId', true) as string);
        return ok({ CreateAccountStatus: statusJson(s) });
      }
      case 'ListCreateAccountStatus': {
        await authorize('*');
        const v = b['States'];
        if (v !== undefined && v !== null && (!Array.isArray(v) || !v.every((x) => x === 'IN_PROGRESS' || x === 'SUCCEEDED' || x === 'FAILED'))) {
          throw invalidInput('INVALID_ENUM', 'States must be a list of IN_PROGRESS, SUCCEEDED or FAILED.');
        }
        const states = Array.isArray(v) ? (v as string[]) : undefined;
        const all = (await org.listCreateAccountStatus()).filter((s) => states === undefined || states.includes(s.state));
        const p = pageOf(all, (s) => s.id, b);
        return ok({ CreateAccountStatuses: p.items.map(statusJson), ...(p.nextToken !== undefined ? { NextToken: p.nextToken } : {}) });
      }
      case 'ListAccounts': {
        await authorize('*');
        const p = pageOf(await org.listAccounts(), (a) => a.record.accountId, b);
        return ok({ Accounts: p.items.map(accountJson), ...(p.nextToken !== undefined ? { NextToken: p.nextToken } : {}) });
      }
      case 'DescribeAccount': {
        const id = accountIdOf(b);
        await authorize(await org.accountArn(id));
        return ok({ Account: accountJson(await org.describeAccount(id)) });
      }
      case 'CloseAccount': {
        const id = accountIdOf(b);
        await authorize(await org.accountArn(id));
        await org.closeAccount(id);
        return ok({}, { accountId: id, state: 'CLOSED' });
      }
    }
  } catch (e) {
    const err =
      e instanceof OrganizationsError
        ? e
        : new OrganizationsError('ServiceException', 'Organizations can\'t complete your request because of an internal service error.', { cause: isNitrideError(e) ? e.code : String(e) });
    return { status: err.httpStatus, body: err.body(), errorCode: err.code, errorMessage: err.message, resources, requestParameters, responseElements: null };
  }
}
