// The IAM Query API subset: CreateUser, GetUser, ListUsers, DeleteUser, CreateAccessKey,
// ListAccessKeys, DeleteAccessKey, PutUserPolicy, GetUserPolicy, ListUserPolicies and
// DeleteUserPolicy, answering with IAM's XML (botocore's iam model, "query" protocol):
//   <XResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><XResult>…</XResult>
//     <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></XResponse>
// and IAM's error XML:
//   <ErrorResponse xmlns=…><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
//     <RequestId>…</RequestId></ErrorResponse>
// Every call is itself authorized (iam:CreateUser on arn:aws:iam::<account>:user/<name>, …)
// for the calling principal, inside the caller's account only. Policy documents go out
// URL-encoded, as IAM sends them (botocore decodes them).
//
// The server authenticates (SigV4), writes the audit request record, then calls
// handleIamRequest, then writes the outcome record from the returned errorCode.
import { describeError, isNitrideError } from '../lib/errors.js';
import { XmlWriter } from '../lib/xml.js';
import { handleRoleAction, isRoleAction, ROLE_READ_ONLY, type RoleAction } from './role-api.js';
import { get, IAM_API_VERSION, IAM_XMLNS, isoSeconds, maxItems, ok, required } from './query.js';
import { IAM_ERROR_STATUS, IamError, type IamErrorCode } from './errors.js';
import { ROOT_USER, type AccessKeyMetadata, type Iam, type IamUser } from './iam.js';
import { principalArn, type AuthzPrincipal, type ConditionContext } from './policy.js';

export { IAM_XMLNS, IAM_API_VERSION } from './query.js';

export type IamAction =
  | 'CreateUser'
  | 'GetUser'
  | 'ListUsers'
  | 'DeleteUser'
  | 'CreateAccessKey'
  | 'ListAccessKeys'
  | 'DeleteAccessKey'
  | 'PutUserPolicy'
  | 'GetUserPolicy'
  | 'ListUserPolicies'
  | 'DeleteUserPolicy'
  | RoleAction;

const READ_ONLY: Readonly<Record<IamAction, boolean>> = {
  ...ROLE_READ_ONLY,
  CreateUser: false,
  GetUser: true,
  ListUsers: true,
  DeleteUser: false,
  CreateAccessKey: false,
  ListAccessKeys: true,
  DeleteAccessKey: false,
  PutUserPolicy: false,
  GetUserPolicy: true,
  ListUserPolicies: true,
  DeleteUserPolicy: false,
};

/** Every action IAM answers (the cross-account suite checks it covers each). */
export const IAM_ACTIONS = Object.keys(READ_ONLY) as readonly IamAction[];

export function isIamAction(a: string): a is IamAction {
  return Object.hasOwn(READ_ONLY, a);
}

/** For the audit record written before the call: its name and whether it only reads. */
export function iamRequestInfo(params: ReadonlyMap<string, string> | Readonly<Record<string, string>>): { action: string; readOnly: boolean; known: boolean } {
  const action = get(params, 'Action') ?? '';
  return isIamAction(action) ? { action, readOnly: READ_ONLY[action], known: true } : { action, readOnly: false, known: false };
}

export interface IamRequestContext {
  readonly requestId: string;
  /** aws:SourceIp, aws:RequestedRegion, … for policy conditions. */
  readonly context?: ConditionContext;
}

export interface IamApiResponse {
  readonly status: number;
  readonly body: string;
  readonly action: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** The IAM ARNs the call addressed (for the audit record). */
  readonly resources: readonly string[];
  /** What the call returned, without secrets, for the audit record. */
  readonly responseElements?: Record<string, unknown>;
}

function writeUser(w: XmlWriter, u: IamUser): void {
  w.leaf('Path', u.path).leaf('UserName', u.userName).leaf('UserId', u.userId).leaf('Arn', u.arn).leaf('CreateDate', isoSeconds(u.createDate));
}

function writeKeyMeta(w: XmlWriter, k: AccessKeyMetadata, displayName: string | undefined): void {
  w.leaf('UserName', displayName).leaf('AccessKeyId', k.accessKeyId).leaf('Status', k.status).leaf('CreateDate', isoSeconds(k.createDate));
}

/** IAM's error document (STS's too, in its own namespace). */
export function iamErrorXml(code: string, message: string, requestId: string, type: 'Sender' | 'Receiver' = 'Sender', xmlns = IAM_XMLNS): string {
  const w = new XmlWriter();
  w.open('ErrorResponse', { xmlns });
  w.element('Error', (e) => e.leaf('Type', type).leaf('Code', code).leaf('Message', message));
  w.leaf('RequestId', requestId);
  w.close();
  return w.toString();
}

/** The one place IAM errors become HTTP status + XML. */
export function iamErrorResponse(e: unknown, action: string, requestId: string, resources: readonly string[] = []): IamApiResponse {
  if (e instanceof IamError) {
    const status = IAM_ERROR_STATUS[e.code];
    return { status, body: iamErrorXml(e.code, e.message, requestId, status >= 500 ? 'Receiver' : 'Sender'), action, errorCode: e.code, errorMessage: e.message, resources };
  }
  const code: IamErrorCode = 'ServiceFailure';
  const message = 'The request processing has failed because of an unknown error, exception or failure.';
  return { status: 500, body: iamErrorXml(code, message, requestId, 'Receiver'), action, errorCode: code, errorMessage: isNitrideError(e) ? `${message} (${e.code})` : `${message} (${describeError(e)})`, resources };
}

async function userArn(iam: Iam, accountId: string, userName: string): Promise<string> {
  if (userName === ROOT_USER) return `arn:aws:iam::${accountId}:root`;
  try {
    return (await iam.getUser(accountId, userName)).arn;
  } catch {
    return `arn:aws:iam::${accountId}:user/${userName}`;
  }
}

/**
 * Runs one authenticated IAM Query request for `principal` (the key's owner, from
 * Iam.lookupAccessKey). Never throws: every failure becomes IAM's error response.
 */
export async function handleIamRequest(iam: Iam, principal: AuthzPrincipal, params: ReadonlyMap<string, string> | Readonly<Record<string, string>>, ctx: IamRequestContext): Promise<IamApiResponse> {
  const action = get(params, 'Action') ?? '';
  const requestId = ctx.requestId;
  const acct = principal.accountId;
  let resources: string[] = [];
  try {
    if (!isIamAction(action)) throw new IamError('InvalidAction', `Could not find operation ${action} for version ${get(params, 'Version') ?? IAM_API_VERSION}.`, { action });
    // The user a call is about: named, or (where IAM allows it) the caller itself.
    const target = async (name: string | undefined): Promise<string> => {
      // A role session is no user: the calls that default to the caller need the name (IAM's answer).
      if (name === undefined && principal.session?.role !== undefined) throw new IamError('ValidationError', 'Must specify userName when calling with non-User credentials', {});
      const userName = name ?? principal.userName;
      resources = [await userArn(iam, acct, userName)];
      return userName;
    };
    const authorizeCall = async (): Promise<void> => {
      const res = await iam.authorize({ principal, action: `iam:${action}`, resources, ...(ctx.context === undefined ? {} : { context: ctx.context }) });
      if (res.decision === 'allow') return;
      const why = res.reason === 'explicit-deny' ? 'with an explicit deny in an identity-based policy' : 'because no identity-based policy allows the action';
      throw new IamError('AccessDenied', `User: ${principalArn(principal)} is not authorized to perform: iam:${action} on resource: ${res.resource ?? resources[0] ?? '*'} ${why}`, { action, reason: res.reason });
    };

    if (isRoleAction(action)) {
      const r = await handleRoleAction(iam, acct, action, params, requestId, (arns) => (resources = arns), authorizeCall);
      return done(r.body, r.responseElements);
    }
    switch (action) {
      case 'CreateUser': {
        const userName = required(params, 'UserName');
        const path = get(params, 'Path') ?? '/';
        resources = [`arn:aws:iam::${acct}:user${path}${userName}`];
        await authorizeCall();
        const u = await iam.createUser(acct, userName, path);
        return done(ok(action, requestId, (w) => w.element('User', (x) => writeUser(x, u))), { user: { userName: u.userName, userId: u.userId, arn: u.arn, path: u.path } });
      }
      case 'GetUser': {
        const userName = await target(get(params, 'UserName'));
        await authorizeCall();
        if (userName === ROOT_USER) {
          const a = await iam.getAccount(acct);
          return done(ok(action, requestId, (w) => w.element('User', (x) => x.leaf('Path', '/').leaf('UserId', acct).leaf('Arn', `arn:aws:iam::${acct}:root`).leaf('CreateDate', isoSeconds(a?.createDate ?? new Date(0).toISOString())))));
        }
        const u = await iam.getUser(acct, userName);
        return done(ok(action, requestId, (w) => w.element('User', (x) => writeUser(x, u))));
      }
      case 'ListUsers': {
        resources = [`arn:aws:iam::${acct}:user/`];
        await authorizeCall();
        const marker = get(params, 'Marker');
        const pathPrefix = get(params, 'PathPrefix');
        const mi = maxItems(params);
        const page = await iam.listUsers(acct, { ...(marker === undefined ? {} : { marker }), ...(mi === undefined ? {} : { maxItems: mi }), ...(pathPrefix === undefined ? {} : { pathPrefix }) });
        return done(
          ok(action, requestId, (w) => {
            w.list('Users', page.users, writeUser, 'member');
            w.leaf('IsTruncated', page.isTruncated);
            w.leaf('Marker', page.marker);
          }),
        );
      }
      case 'DeleteUser': {
        const userName = await target(required(params, 'UserName'));
        await authorizeCall();
        await iam.deleteUser(acct, userName);
        return done(ok(action, requestId, undefined));
      }
      case 'CreateAccessKey': {
        const userName = await target(get(params, 'UserName'));
        await authorizeCall();
        const k = await iam.createAccessKey(acct, userName);
        const display = k.userName === ROOT_USER ? undefined : k.userName;
        return done(
          ok(action, requestId, (w) =>
            w.element('AccessKey', (x) => {
              x.leaf('UserName', display).leaf('AccessKeyId', k.accessKeyId).leaf('Status', k.status).leaf('SecretAccessKey', k.secretAccessKey).leaf('CreateDate', isoSeconds(k.createDate));
            }),
          ),
          { accessKey: { accessKeyId: k.accessKeyId, userName: k.userName, status: k.status } },
        );
      }
      case 'ListAccessKeys': {
        const userName = await target(get(params, 'UserName'));
        await authorizeCall();
        maxItems(params);
        const keys = await iam.listAccessKeys(acct, userName);
        return done(
          ok(action, requestId, (w) => {
            w.list('AccessKeyMetadata', keys, (x, k) => writeKeyMeta(x, k, k.userName === ROOT_USER ? undefined : k.userName), 'member');
            w.leaf('IsTruncated', false);
          }),
        );
      }
      case 'DeleteAccessKey': {
        const accessKeyId = required(params, 'AccessKeyId');
        const userName = await target(get(params, 'UserName'));
        await authorizeCall();
        await iam.deleteAccessKey(acct, userName, accessKeyId);
        return done(ok(action, requestId, undefined));
      }
      case 'PutUserPolicy': {
        const userName = await target(required(params, 'UserName'));
        const policyName = required(params, 'PolicyName');
        const document = required(params, 'PolicyDocument');
        await authorizeCall();
        await iam.putUserPolicy(acct, userName, policyName, document);
        return done(ok(action, requestId, undefined));
      }
      case 'GetUserPolicy': {
        const userName = await target(required(params, 'UserName'));
        const policyName = required(params, 'PolicyName');
        await authorizeCall();
        const p = await iam.getUserPolicy(acct, userName, policyName);
        return done(ok(action, requestId, (w) => w.leaf('UserName', p.userName).leaf('PolicyName', p.policyName).leaf('PolicyDocument', encodeURIComponent(p.policyDocument))));
      }
      case 'ListUserPolicies': {
        const userName = await target(required(params, 'UserName'));
        await authorizeCall();
        maxItems(params);
        const names = await iam.listUserPolicies(acct, userName);
        return done(
          ok(action, requestId, (w) => {
            w.list('PolicyNames', names, (x, n) => x.text(n), 'member');
            w.leaf('IsTruncated', false);
          }),
        );
      }
      case 'DeleteUserPolicy': {
        const userName = await target(required(params, 'UserName'));
        const policyName = required(params, 'PolicyName');
        await authorizeCall();
        await iam.deleteUserPolicy(acct, userName, policyName);
        return done(ok(action, requestId, undefined));
      }
    }
  } catch (e) {
    return iamErrorResponse(e, action, requestId, resources);
  }

  function done(body: string, responseElements?: Record<string, unknown>): IamApiResponse {
    return responseElements === undefined ? { status: 200, body, action, resources } : { status: 200, body, action, resources, responseElements };
  }
}
