// The STS Query API: GetCallerIdentity, GetSessionToken and AssumeRole, answering with STS's
// XML (botocore's sts model, "query" protocol, namespace https://sts.amazonaws.com/doc/2011-06-15/)
// and STS's error XML (IAM's ErrorResponse shape in STS's namespace).
//
//   GetCallerIdentity  who signed: needs no permission (an explicit deny does not stop it, as in AWS).
//   GetSessionToken    session credentials for the caller itself (a user, or root for at most an
//                      hour); refused to session credentials; only an explicit deny stops it.
//   AssumeRole         session credentials for a role: its trust policy must allow the caller
//                      (sts:AssumeRole), and, unless the trust policy names the caller itself in
//                      the role's account, the caller's own policies must allow sts:AssumeRole
//                      on the role (always so across accounts). Roots may not assume roles.
//
// The credentials are made by Iam.issueSession (src/iam/session.ts): the front door checks
// them on every service (authenticate.ts), and IAM evaluates their requests as the role (its
// inline policies) or as the user.
import { describeError, isNitrideError } from '../lib/errors.js';
import { XmlWriter } from '../lib/xml.js';
import { iamErrorXml } from '../iam/api.js';
import type { Iam, SessionCredentials } from '../iam/iam.js';
import { evaluateResourcePolicy, isRootPrincipal, parseResourcePolicy, principalArn, type AuthzPrincipal, type ConditionContext } from '../iam/policy.js';
import { IamError } from '../iam/errors.js';
import { STS_ERROR_STATUS, StsError } from './errors.js';

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_API_VERSION = '2011-06-15';

export type StsAction = 'GetCallerIdentity' | 'GetSessionToken' | 'AssumeRole';
const STS_ACTION_SET: ReadonlySet<string> = new Set<StsAction>(['GetCallerIdentity', 'GetSessionToken', 'AssumeRole']);

/** Every action STS answers (the cross-account suite checks it covers each). */
export const STS_ACTIONS = [...STS_ACTION_SET] as readonly StsAction[];

export function isStsAction(a: string): a is StsAction {
  return STS_ACTION_SET.has(a);
}

/** AssumeRole's session limits (STS's): 15 minutes to the role's MaxSessionDuration, 1 hour by default and when chained. */
export const MIN_SESSION_SECONDS = 900;
export const ROLE_DEFAULT_SECONDS = 3600;
export const CHAINED_MAX_SECONDS = 3600;
/** GetSessionToken: 15 minutes to 36 hours for users (12 by default); an account's root gets at most 1 hour. */
export const USER_SESSION_DEFAULT_SECONDS = 43_200;
export const USER_SESSION_MAX_SECONDS = 129_600;
export const ROOT_SESSION_MAX_SECONDS = 3600;

type Params = ReadonlyMap<string, string>;

export interface StsApiResponse {
  readonly status: number;
  readonly body: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** The role ARNs the call addressed (for the audit record). */
  readonly resources: readonly string[];
  /** What the call returned, without the secret or the token, for the audit record. */
  readonly responseElements?: Record<string, unknown>;
}

export function stsErrorXml(code: string, message: string, requestId: string, type: 'Sender' | 'Receiver' = 'Sender'): string {
  return iamErrorXml(code, message, requestId, type, STS_XMLNS);
}

function ok(action: string, requestId: string, result: (w: XmlWriter) => void): string {
  const w = new XmlWriter();
  w.open(`${action}Response`, { xmlns: STS_XMLNS });
  w.element(`${action}Result`, result);
  w.element('ResponseMetadata', (m) => m.leaf('RequestId', requestId));
  w.close();
  return w.toString();
}

function validation(value: string, member: string, constraint: string): StsError {
  return new StsError('ValidationError', `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`, { member });
}

function required(params: Params, name: string): string {
  const v = params.get(name);
  if (v === undefined) throw new StsError('ValidationError', `1 validation error detected: Value null at '${name.charAt(0).toLowerCase() + name.slice(1)}' failed to satisfy constraint: Member must not be null`, { parameter: name });
  return v;
}

function durationOf(params: Params, min: number, max: number): number | undefined {
  const v = params.get('DurationSeconds');
  if (v === undefined) return undefined;
  if (!/^-?\d{1,10}$/.test(v)) throw new StsError('ValidationError', `Value '${v}' for parameter DurationSeconds is invalid. It must be an integer.`, {});
  const n = Number(v);
  if (n < min) throw validation(v, 'durationSeconds', `Member must have value greater than or equal to ${min}`);
  if (n > max) throw validation(v, 'durationSeconds', `Member must have value less than or equal to ${max}`);
  return n;
}

/** Members of the model Nitride does not implement: refused rather than silently ignored. */
function refuseUnsupported(params: Params, names: readonly string[]): void {
  for (const k of params.keys()) {
    const top = k.split('.')[0] ?? k;
    if (names.includes(top)) throw new StsError('ValidationError', `The parameter ${top} is not supported by this region (Nitride has no ${top === 'SerialNumber' || top === 'TokenCode' ? 'MFA devices' : 'session policies, session tags or provided contexts'}).`, { parameter: top });
  }
}

function writeCredentials(w: XmlWriter, c: SessionCredentials): void {
  w.element('Credentials', (x) => x.leaf('AccessKeyId', c.accessKeyId).leaf('SecretAccessKey', c.secretAccessKey).leaf('SessionToken', c.sessionToken).leaf('Expiration', c.expiration.toISOString()));
}

/** ARN parts of arn:aws:iam::<acct>:role/<path><name>, or undefined. */
function parseRoleArn(arn: string): { accountId: string; roleName: string } | undefined {
  const m = /^arn:aws:iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/.exec(arn);
  return m ? { accountId: m[1] ?? '', roleName: m[2] ?? '' } : undefined;
}

export interface StsRequestContext {
  readonly requestId: string;
  readonly context?: ConditionContext;
}

/** Runs one authenticated STS request for `principal`. Never throws: every failure becomes STS's error response. */
export async function handleStsRequest(iam: Iam, principal: AuthzPrincipal, params: Params, ctx: StsRequestContext): Promise<StsApiResponse> {
  const action = params.get('Action') ?? '';
  const requestId = ctx.requestId;
  let resources: string[] = [];
  try {
    if (!isStsAction(action)) throw new StsError('InvalidAction', `Could not find operation ${action} for version ${params.get('Version') ?? STS_API_VERSION}.`, { action });
    switch (action) {
      case 'GetCallerIdentity': {
        const userId = principal.userId ?? (isRootPrincipal(principal) ? principal.accountId : principal.userName);
        const body = ok(action, requestId, (w) => w.leaf('UserId', userId).leaf('Account', principal.accountId).leaf('Arn', principalArn(principal)));
        return { status: 200, body, resources };
      }
      case 'GetSessionToken': {
        refuseUnsupported(params, ['SerialNumber', 'TokenCode']);
        const root = isRootPrincipal(principal);
        let duration = durationOf(params, MIN_SESSION_SECONDS, USER_SESSION_MAX_SECONDS) ?? (root ? ROOT_SESSION_MAX_SECONDS : USER_SESSION_DEFAULT_SECONDS);
        if (root) duration = Math.min(duration, ROOT_SESSION_MAX_SECONDS); // STS: an account owner's session is at most an hour
        if (principal.session !== undefined) throw new StsError('AccessDenied', 'Cannot call GetSessionToken with session credentials', {});
        const d = await iam.authorize({ principal, action: 'sts:GetSessionToken', ...(ctx.context ? { context: ctx.context } : {}) });
        if (d.reason === 'explicit-deny') throw new StsError('AccessDenied', `User: ${principalArn(principal)} is not authorized to perform: sts:GetSessionToken with an explicit deny in an identity-based policy`, {});
        const c = iam.issueSession({ accountId: principal.accountId, durationSeconds: duration, source: principal });
        const body = ok(action, requestId, (w) => writeCredentials(w, c));
        return { status: 200, body, resources, responseElements: { credentials: { accessKeyId: c.accessKeyId, expiration: c.expiration.toISOString() } } };
      }
      case 'AssumeRole': {
        const roleArn = required(params, 'RoleArn');
        const sessionName = required(params, 'RoleSessionName');
        resources = [roleArn];
        if (sessionName.length < 2 || sessionName.length > 64) throw validation(sessionName, 'roleSessionName', 'Member must have length between 2 and 64');
        if (!/^[\w+=,.@-]*$/.test(sessionName)) throw validation(sessionName, 'roleSessionName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
        if (roleArn.length < 20 || roleArn.length > 2048) throw validation(roleArn, 'roleArn', 'Member must have length between 20 and 2048');
        const externalId = params.get('ExternalId');
        if (externalId !== undefined && (externalId.length < 2 || externalId.length > 1224 || !/^[\w+=,.@:/-]*$/.test(externalId))) throw validation(externalId, 'externalId', 'Member must have length between 2 and 1224');
        const sourceIdentity = params.get('SourceIdentity');
        if (sourceIdentity !== undefined && (sourceIdentity.length < 2 || sourceIdentity.length > 64 || !/^[\w+=,.@-]*$/.test(sourceIdentity))) throw validation(sourceIdentity, 'sourceIdentity', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
        refuseUnsupported(params, ['Policy', 'PolicyArns', 'Tags', 'TransitiveTagKeys', 'SerialNumber', 'TokenCode', 'ProvidedContexts']);
        const requested = durationOf(params, MIN_SESSION_SECONDS, 43_200);
        const parsed = parseRoleArn(roleArn);
        if (parsed === undefined) throw new StsError('ValidationError', `${roleArn} is invalid`, { roleArn });
        const denied = (): StsError => new StsError('AccessDenied', `User: ${principalArn(principal)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, { roleArn });
        if (isRootPrincipal(principal)) throw new StsError('AccessDenied', 'Roles may not be assumed by root accounts.', {});
        const role = await iam.roles.find(parsed.accountId, parsed.roleName);
        // A missing role and a refused one answer alike: probing role ARNs reveals nothing.
        if (role === undefined || role.arn !== roleArn) throw denied();
        const context: ConditionContext = {
          ...ctx.context,
          'sts:RoleSessionName': sessionName,
          ...(externalId !== undefined ? { 'sts:ExternalId': externalId } : {}),
          ...(sourceIdentity !== undefined ? { 'sts:SourceIdentity': sourceIdentity } : {}),
        };
        const trust = evaluateResourcePolicy(parseResourcePolicy(role.assumeRolePolicyDocument, { trust: true }), { caller: { kind: 'aws', principal }, action: 'sts:AssumeRole', resource: { arn: role.arn }, context, now: iam.now() });
        if (trust.decision === 'explicit-deny' || trust.decision === 'no-match') throw denied();
        const own = await iam.authorize({ principal, action: 'sts:AssumeRole', resources: [role.arn], context, allowOtherAccounts: true });
        if (own.reason === 'explicit-deny') throw denied();
        const sameAccountNamed = trust.decision === 'allow' && role.accountId === principal.accountId;
        if (!sameAccountNamed && own.decision !== 'allow') throw denied();
        const chained = principal.session?.role !== undefined;
        const duration = requested ?? ROLE_DEFAULT_SECONDS;
        if (chained && duration > CHAINED_MAX_SECONDS) throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.', {});
        if (duration > role.maxSessionDuration) throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', {});
        const c = iam.issueSession({ accountId: role.accountId, durationSeconds: duration, source: principal, role: { record: role, sessionName }, ...(sourceIdentity !== undefined ? { sourceIdentity } : {}) });
        const assumedId = `${role.roleId}:${sessionName}`;
        const assumedArn = `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${sessionName}`;
        const body = ok(action, requestId, (w) => {
          writeCredentials(w, c);
          w.element('AssumedRoleUser', (x) => x.leaf('AssumedRoleId', assumedId).leaf('Arn', assumedArn));
          w.leaf('SourceIdentity', sourceIdentity);
        });
        return {
          status: 200,
          body,
          resources,
          responseElements: { credentials: { accessKeyId: c.accessKeyId, expiration: c.expiration.toISOString() }, assumedRoleUser: { assumedRoleId: assumedId, arn: assumedArn } },
        };
      }
    }
  } catch (e) {
    return stsErrorResponse(e, requestId, resources);
  }
}

function stsErrorResponse(e: unknown, requestId: string, resources: readonly string[]): StsApiResponse {
  if (e instanceof StsError) {
    const status = STS_ERROR_STATUS[e.code];
    return { status, body: stsErrorXml(e.code, e.message, requestId), errorCode: e.code, errorMessage: e.message, resources };
  }
  if (e instanceof IamError && e.code === 'MalformedPolicyDocument') {
    // A stored trust policy that no longer parses allows nobody.
    return { status: 403, body: stsErrorXml('AccessDenied', 'Not authorized to perform sts:AssumeRole', requestId), errorCode: 'AccessDenied', errorMessage: e.message, resources };
  }
  const message = 'The request processing has failed because of an unknown error, exception or failure.';
  return { status: 500, body: stsErrorXml('ServiceFailure', message, requestId, 'Receiver'), errorCode: 'ServiceFailure', errorMessage: isNitrideError(e) ? `${message} (${e.code})` : `${message} (${describeError(e)})`, resources };
}
