// IAM identity-policy parsing and evaluation. Pure: no store, no clock except the
// aws:CurrentTime default, no I/O.
//
// Evaluation follows IAM's logic for identity policies in one account:
//   1. a resource owned by another account is denied (accounts are tenants), unless the
//      caller says a resource policy has admitted it (allowOtherAccounts: KMS key policies,
//      evaluated by evaluateResourcePolicy() at the end of this file);
//   2. the root of an account is allowed everything in its own account;
//   3. otherwise every statement of every policy is checked against each resource:
//      a matching Deny wins at once (explicit deny); else each resource needs a matching
//      Allow; a resource without one is the implicit deny.
// A statement matches when its Action (or NotAction) matches the action, its Resource (or
// NotResource) matches the resource, and every Condition clause holds.
//
// Condition semantics (as IAM documents them): operators in a block are ANDed, keys under
// an operator are ANDed, values under a key are ORed. A key absent from the request makes a
// positive operator false and a negated one (StringNotEquals, NotIpAddress, …) true;
// …IfExists makes an absent key true; Null tests presence. ForAnyValue:/ForAllValues:
// handle multi-valued keys. Key names are case-insensitive; a tag key after '/' is not.
// Policy variables (${aws:username}, ${aws:PrincipalAccount}, ${ec2:ResourceTag/k}, ${*},
// ${?}, ${$}) are substituted in Resource and in String/Arn condition values for Version
// 2012-10-17 documents.
import { BlockList, isIP } from 'node:net';
import { IamError } from './errors.js';

export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;

type BaseOperator =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'NumericEquals'
  | 'NumericNotEquals'
  | 'NumericLessThan'
  | 'NumericLessThanEquals'
  | 'NumericGreaterThan'
  | 'NumericGreaterThanEquals'
  | 'DateEquals'
  | 'DateNotEquals'
  | 'DateLessThan'
  | 'DateLessThanEquals'
  | 'DateGreaterThan'
  | 'DateGreaterThanEquals'
  | 'Bool'
  | 'IpAddress'
  | 'NotIpAddress'
  | 'ArnEquals'
  | 'ArnNotEquals'
  | 'ArnLike'
  | 'ArnNotLike'
  | 'Null';

const OPERATORS: ReadonlySet<string> = new Set<BaseOperator>([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
  'ArnNotLike',
  'Null',
]);

const NEGATED: ReadonlySet<BaseOperator> = new Set<BaseOperator>(['StringNotEquals', 'StringNotEqualsIgnoreCase', 'StringNotLike', 'NumericNotEquals', 'DateNotEquals', 'NotIpAddress', 'ArnNotEquals', 'ArnNotLike']);

export interface ConditionClause {
  /** As written, e.g. 'ForAnyValue:StringLikeIfExists'. */
  readonly operator: string;
  readonly base: BaseOperator;
  readonly ifExists: boolean;
  readonly set: 'single' | 'any' | 'all';
  readonly key: string;
  readonly values: readonly string[];
}

export interface PolicyStatement {
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
  readonly action?: readonly string[];
  readonly notAction?: readonly string[];
  readonly resource?: readonly string[];
  readonly notResource?: readonly string[];
  readonly conditions: readonly ConditionClause[];
}

export interface PolicyDocument {
  readonly version: string;
  readonly id?: string;
  readonly statements: readonly PolicyStatement[];
}

function malformed(message: string, context: Record<string, unknown> = {}): IamError {
  return new IamError('MalformedPolicyDocument', message, context);
}

function stringList(v: unknown, field: string): string[] {
  const arr = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(arr) || arr.length === 0 || !arr.every((x) => typeof x === 'string' && x.length > 0)) {
    throw malformed(`${field} must be a non-empty string or a non-empty array of strings.`, { field });
  }
  return arr as string[];
}

const ACTION_RE = /^[a-zA-Z0-9-]+:[A-Za-z0-9*?_-]+$/;

function checkActions(list: string[]): string[] {
  for (const a of list) {
    if (a !== '*' && !ACTION_RE.test(a)) throw malformed(`Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. (found ${JSON.stringify(a)}).`, { action: a });
  }
  return list;
}

function checkResources(list: string[]): string[] {
  for (const r of list) {
    if (r !== '*' && !(r.startsWith('arn:') && splitArn(r).length === 6)) throw malformed(`Resource ${r} must be in ARN format or "*".`, { resource: r });
  }
  return list;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseDate(s: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  if (!DATE_RE.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function parseNumber(s: string): number | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return undefined;
  return Number(s);
}

function parseCidr(s: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [addr, bits, extra] = s.split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const fam = isIP(addr);
  if (fam === 0) return undefined;
  const max = fam === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address: addr, prefix, type: fam === 4 ? 'ipv4' : 'ipv6' };
}

function conditionValues(v: unknown, where: string): string[] {
  const arr = Array.isArray(v) ? v : [v];
  if (arr.length === 0) throw malformed(`Condition ${where} has no values.`);
  return arr.map((x) => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' || typeof x === 'boolean') return String(x);
    throw malformed(`Condition ${where} values must be strings, numbers or booleans.`);
  });
}

function parseConditions(v: unknown): ConditionClause[] {
  if (v === undefined) return [];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed('Condition must be an object.');
  const out: ConditionClause[] = [];
  for (const [operator, body] of Object.entries(v as Record<string, unknown>)) {
    let rest = operator;
    let set: ConditionClause['set'] = 'single';
    if (rest.startsWith('ForAnyValue:')) {
      set = 'any';
      rest = rest.slice('ForAnyValue:'.length);
    } else if (rest.startsWith('ForAllValues:')) {
      set = 'all';
      rest = rest.slice('ForAllValues:'.length);
    }
    let ifExists = false;
    if (rest.endsWith('IfExists') && rest !== 'IfExists') {
      ifExists = true;
      rest = rest.slice(0, -'IfExists'.length);
    }
    if (!OPERATORS.has(rest) || (rest === 'Null' && (ifExists || set !== 'single'))) throw malformed(`Invalid Condition type : ${operator}.`, { operator });
    const base = rest as BaseOperator;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw malformed(`Condition ${operator} must map condition keys to values.`);
    for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
      if (!/^[A-Za-z0-9-]+:.+$/.test(key)) throw malformed(`Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. (condition key ${JSON.stringify(key)}).`, { key });
      const values = conditionValues(raw, `${operator} ${key}`);
      for (const val of values) {
        const bad =
          (base.startsWith('Numeric') && parseNumber(val) === undefined) ||
          (base.startsWith('Date') && !val.includes('${') && parseDate(val) === undefined) ||
          ((base === 'Bool' || base === 'Null') && !/^(true|false)$/i.test(val)) ||
          ((base === 'IpAddress' || base === 'NotIpAddress') && parseCidr(val) === undefined);
        if (bad) throw malformed(`Condition ${operator} has an invalid value ${JSON.stringify(val)} for ${key}.`, { operator, key, value: val });
      }
      out.push({ operator, base, ifExists, set, key, values });
    }
  }
  return out;
}

const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

function parseStatement(s: unknown, i: number): PolicyStatement {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw malformed('Each statement must be an object.', { statement: i });
  const o = s as Record<string, unknown>;
  if ('Principal' in o || 'NotPrincipal' in o) throw malformed('Policy document should not specify a principal.', { statement: i });
  for (const k of Object.keys(o)) if (!STATEMENT_KEYS.has(k)) throw malformed(`Syntax errors in policy: unknown field ${k}.`, { statement: i, field: k });
  if (o['Sid'] !== undefined && (typeof o['Sid'] !== 'string' || !/^[A-Za-z0-9]*$/.test(o['Sid']))) throw malformed('Statement IDs (SID) must be alpha-numeric.', { statement: i });
  if (o['Effect'] === undefined) throw malformed('Missing required field Effect.', { statement: i });
  if (o['Effect'] !== 'Allow' && o['Effect'] !== 'Deny') throw malformed(`Invalid effect: ${String(o['Effect'])}.`, { statement: i });
  const hasA = o['Action'] !== undefined;
  const hasNA = o['NotAction'] !== undefined;
  if (hasA === hasNA) throw malformed(hasA ? 'A statement must not contain both Action and NotAction.' : 'Policy statement must contain actions.', { statement: i });
  const hasR = o['Resource'] !== undefined;
  const hasNR = o['NotResource'] !== undefined;
  if (hasR === hasNR) throw malformed(hasR ? 'A statement must not contain both Resource and NotResource.' : 'Policy statement must contain resources.', { statement: i });
  const st: {
    sid?: string;
    effect: 'Allow' | 'Deny';
    action?: readonly string[];
    notAction?: readonly string[];
    resource?: readonly string[];
    notResource?: readonly string[];
    conditions: readonly ConditionClause[];
  } = { effect: o['Effect'], conditions: parseConditions(o['Condition']) };
  if (typeof o['Sid'] === 'string') st.sid = o['Sid'];
  if (hasA) st.action = checkActions(stringList(o['Action'], 'Action'));
  else st.notAction = checkActions(stringList(o['NotAction'], 'NotAction'));
  if (hasR) st.resource = checkResources(stringList(o['Resource'], 'Resource'));
  else st.notResource = checkResources(stringList(o['NotResource'], 'NotResource'));
  return st;
}

/**
 * The envelope every policy document shares: a JSON object with Version (a known one,
 * default 2008-10-17), an optional string Id and a non-empty Statement (one or a list).
 * `syntax` words the refusal of text that is not JSON.
 */
function parseEnvelope(text: string, syntax: (e: unknown) => string): { version: string; id: string | undefined; list: unknown[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw malformed(syntax(e));
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw malformed('The policy must be a JSON object.');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'Version' && k !== 'Id' && k !== 'Statement') throw malformed(`Syntax errors in policy: unknown field ${k}.`, { field: k });
  const version = o['Version'] ?? '2008-10-17';
  if (typeof version !== 'string' || !(POLICY_VERSIONS as readonly string[]).includes(version)) throw malformed(`The policy must contain a valid version string (found ${JSON.stringify(version)}).`);
  if (o['Id'] !== undefined && typeof o['Id'] !== 'string') throw malformed('Id must be a string.');
  const stRaw = o['Statement'];
  if (stRaw === undefined) throw malformed('Missing required field Statement.');
  const list = Array.isArray(stRaw) ? stRaw : [stRaw];
  if (list.length === 0) throw malformed('Missing required field Statement.');
  return { version, id: typeof o['Id'] === 'string' ? o['Id'] : undefined, list };
}

/** Parses and validates an identity-policy JSON document; throws IamError('MalformedPolicyDocument'). */
export function parsePolicy(text: string): PolicyDocument {
  const { version, id, list } = parseEnvelope(text, () => 'Syntax errors in policy.');
  const statements = list.map((s, i) => parseStatement(s, i));
  const sids = new Set<string>();
  for (const s of statements) {
    if (s.sid === undefined || s.sid === '') continue;
    if (sids.has(s.sid)) throw malformed('Statement IDs (SID) in a single policy must be unique.', { sid: s.sid });
    sids.add(s.sid);
  }
  const doc: { version: string; id?: string; statements: readonly PolicyStatement[] } = { version, statements };
  if (id !== undefined) doc.id = id;
  return doc;
}

// ---------------------------------------------------------------------------------------
// Evaluation

export type ConditionValue = string | number | boolean | readonly string[];
/** Request context: condition key → value(s). Names as IAM spells them (aws:SourceIp, ec2:ResourceTag/Name). */
export type ConditionContext = Readonly<Record<string, ConditionValue | undefined>>;

export interface AuthzPrincipal {
  readonly accountId: string;
  /** An IAM user's name, or 'root' for the account's root; for a role session, the role's name (see `session.role`). */
  readonly userName: string;
  /** The caller's ARN: the user's, the root's, or a role session's (arn:aws:sts::<acct>:assumed-role/<role>/<session>). */
  readonly arn?: string;
  readonly userId?: string;
  /** Set when the caller signed with session credentials (STS). */
  readonly session?: SessionContext;
}

/** What session credentials carry about their session (src/iam/session.ts). */
export interface SessionContext {
  /** ISO times. */
  readonly issuedAt: string;
  readonly expiresAt: string;
  /** AssumeRole: the role whose policies the session has; absent for GetSessionToken (the user's or root's own). */
  readonly role?: AssumedRole;
  /** The ARN of the principal that made the session. */
  readonly sourceArn: string;
  readonly sourceIdentity?: string;
}

export interface AssumedRole {
  readonly roleName: string;
  /** AROA… */
  readonly roleId: string;
  /** arn:aws:iam::<acct>:role/<path><name> */
  readonly arn: string;
  readonly sessionName: string;
}

export interface ResourceRequest {
  readonly arn: string;
  /** Keys that differ per resource, e.g. ec2:ResourceTag/<k>, ec2:InstanceType. */
  readonly context?: ConditionContext;
}

export interface NamedPolicy {
  readonly name: string;
  readonly document: PolicyDocument;
}

export interface AuthorizeRequest {
  readonly principal: AuthzPrincipal;
  /** 'service:Action', e.g. 'ec2:RunInstances'. */
  readonly action: string;
  /** ARNs (or '*'); an empty list means '*', the resource of actions without resource-level permissions. */
  readonly resources?: readonly (string | ResourceRequest)[];
  readonly context?: ConditionContext;
  /** The principal's identity policies (ignored for root). */
  readonly policies?: readonly NamedPolicy[];
  /** For aws:CurrentTime/aws:EpochTime when the context does not set them (default: now). */
  readonly now?: Date;
  /**
   * Evaluate identity policies for resources of other accounts too, instead of denying them
   * at once: for a resource whose own policy (a KMS key policy) has already admitted the
   * caller, where AWS then also requires the caller's identity policies to allow it. The
   * root of the caller's account is allowed, as in its own account.
   */
  readonly allowOtherAccounts?: boolean;
}

export interface MatchedStatement {
  readonly policyName: string;
  readonly index: number;
  readonly sid?: string;
}

export interface AuthorizeResult {
  readonly decision: 'allow' | 'deny';
  readonly reason: 'explicit-deny' | 'allowed' | 'implicit-deny';
  /** The Deny that decided, or the first Allow that allowed. */
  readonly statement?: MatchedStatement;
  /** The resource that was denied. */
  readonly resource?: string;
  /** A sentence on why (for logs and AccessDenied messages). */
  readonly detail: string;
}

export function isRootPrincipal(p: AuthzPrincipal): boolean {
  return p.userName === 'root' && p.session?.role === undefined;
}

export function principalArn(p: AuthzPrincipal): string {
  return p.arn ?? (isRootPrincipal(p) ? `arn:aws:iam::${p.accountId}:root` : `arn:aws:iam::${p.accountId}:user/${p.userName}`);
}

/** Splits an ARN (or ARN pattern) into at most 6 parts; colons inside ${…} do not split. */
export function splitArn(arn: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < arn.length; i++) {
    const c = arn[i] ?? '';
    if (c === '$' && arn[i + 1] === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    if (c === ':' && depth === 0 && parts.length < 5) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** The account field of an ARN ('' when it has none, e.g. an AMI shared by the region). */
export function arnAccount(arn: string): string {
  if (!arn.startsWith('arn:')) return '';
  return splitArn(arn)[4] ?? '';
}

type Lookup = (key: string) => string[] | undefined;

function normalizeKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key.toLowerCase() : key.slice(0, slash).toLowerCase() + key.slice(slash);
}

function toValues(v: ConditionValue | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  return [...v];
}

function makeLookup(...contexts: (ConditionContext | undefined)[]): Lookup {
  const m = new Map<string, string[]>();
  for (const ctx of contexts) {
    if (!ctx) continue;
    for (const [k, v] of Object.entries(ctx)) {
      const vals = toValues(v);
      if (vals !== undefined) m.set(normalizeKey(k), vals);
    }
  }
  return (key) => m.get(normalizeKey(key));
}

/** A compiled wildcard pattern: literal text runs, '*' (any run) and '?' (any one character). */
type GlobToken = string | 1 /* '*' */ | 2 /* '?' */;

/**
 * Tokenizes a pattern with * and ? wildcards and, when `lookup` is given, policy variables
 * (whose values are literal text). Returns undefined when a variable has no single value.
 */
function tokenizeGlob(pattern: string, lookup: Lookup | undefined): GlobToken[] | undefined {
  const out: GlobToken[] = [];
  let lit = '';
  const flush = (): void => {
    if (lit !== '') out.push(lit);
    lit = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (lookup && c === '$' && pattern[i + 1] === '{') {
      const end = pattern.indexOf('}', i + 2);
      if (end > 0) {
        const name = pattern.slice(i + 2, end).trim();
        i = end;
        if (name === '*' || name === '?' || name === '$') {
          lit += name;
          continue;
        }
        const vals = lookup(name);
        if (vals === undefined || vals.length !== 1) return undefined;
        lit += vals[0] ?? '';
        continue;
      }
    }
    if (c === '*' || c === '?') {
      flush();
      if (c === '?') out.push(2);
      else if (out[out.length - 1] !== 1) out.push(1);
    } else lit += c;
  }
  flush();
  return out;
}

/**
 * Wildcard matching without regular expressions (a policy author cannot make it backtrack
 * exponentially): greedy with one remembered '*', O(|pattern| × |value|) at worst.
 */
function matchTokens(tokens: readonly GlobToken[], value: string): boolean {
  let t = 0; // token index
  let off = 0; // offset inside a literal token
  let s = 0;
  let starT = -1;
  let starS = 0;
  while (s < value.length) {
    const tok = tokens[t];
    if (typeof tok === 'string' && tok[off] === value[s]) {
      off++;
      s++;
      if (off === tok.length) {
        t++;
        off = 0;
      }
      continue;
    }
    if (tok === 2 && off === 0) {
      t++;
      s++;
      continue;
    }
    if (tok === 1 && off === 0) {
      starT = t++;
      starS = s;
      continue;
    }
    if (starT < 0) return false;
    t = starT + 1;
    off = 0;
    s = ++starS;
  }
  while (tokens[t] === 1 && off === 0) t++;
  return t === tokens.length && off === 0;
}

/** Replaces policy variables in a literal (non-wildcard) value; undefined when one has no value. */
function substituteVariables(pattern: string, lookup: Lookup): string | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '$' && pattern[i + 1] === '{') {
      const end = pattern.indexOf('}', i + 2);
      if (end > 0) {
        const name = pattern.slice(i + 2, end).trim();
        i = end;
        if (name === '*' || name === '?' || name === '$') {
          out += name;
          continue;
        }
        const vals = lookup(name);
        if (vals === undefined || vals.length !== 1) return undefined;
        out += vals[0] ?? '';
        continue;
      }
    }
    out += c;
  }
  return out;
}

const globCache = new Map<string, GlobToken[]>();

function globMatch(pattern: string, value: string, caseInsensitive: boolean, lookup: Lookup | undefined): boolean {
  if (pattern === '*') return true;
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  const v = caseInsensitive ? value.toLowerCase() : value;
  if (lookup && pattern.includes('${')) {
    const toks = tokenizeGlob(pattern, lookup);
    if (toks === undefined) return false;
    return matchTokens(caseInsensitive ? toks.map((x) => (typeof x === 'string' ? x.toLowerCase() : x)) : toks, v);
  }
  if (!p.includes('*') && !p.includes('?')) return p === v;
  let toks = globCache.get(p);
  if (toks === undefined) {
    if (globCache.size > 10_000) globCache.clear();
    toks = tokenizeGlob(p, undefined) ?? [];
    globCache.set(p, toks);
  }
  return matchTokens(toks, v);
}

/** ARN matching: each of the six colon-separated parts is matched separately with * and ?. */
export function arnMatches(pattern: string, arn: string, lookup?: Lookup): boolean {
  if (pattern === '*') return true;
  const p = splitArn(pattern);
  const a = splitArn(arn);
  if (p.length !== 6 || a.length !== 6) return globMatch(pattern, arn, false, lookup);
  for (let i = 0; i < 6; i++) if (!globMatch(p[i] ?? '', a[i] ?? '', false, lookup)) return false;
  return true;
}

export function actionMatches(pattern: string, action: string): boolean {
  return globMatch(pattern, action, true, undefined);
}

function compare(base: BaseOperator, ctx: string, pol: string, lookup: Lookup | undefined): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return (lookup && pol.includes('${') ? substituteVariables(pol, lookup) : pol) === ctx;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return (lookup && pol.includes('${') ? substituteVariables(pol, lookup) : pol)?.toLowerCase() === ctx.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return globMatch(pol, ctx, false, lookup);
    case 'NumericEquals':
    case 'NumericNotEquals':
    case 'NumericLessThan':
    case 'NumericLessThanEquals':
    case 'NumericGreaterThan':
    case 'NumericGreaterThanEquals': {
      const a = parseNumber(ctx);
      const b = parseNumber(pol);
      if (a === undefined || b === undefined) return false;
      return ordered(base.slice('Numeric'.length), a, b);
    }
    case 'DateEquals':
    case 'DateNotEquals':
    case 'DateLessThan':
    case 'DateLessThanEquals':
    case 'DateGreaterThan':
    case 'DateGreaterThanEquals': {
      const a = parseDate(ctx);
      const b = parseDate(pol);
      if (a === undefined || b === undefined) return false;
      return ordered(base.slice('Date'.length), a, b);
    }
    case 'Bool':
      return ctx.toLowerCase() === pol.toLowerCase();
    case 'IpAddress':
    case 'NotIpAddress': {
      const fam = isIP(ctx);
      const cidr = parseCidr(pol);
      if (fam === 0 || cidr === undefined) return false;
      const bl = new BlockList();
      bl.addSubnet(cidr.address, cidr.prefix, cidr.type);
      return bl.check(ctx, fam === 4 ? 'ipv4' : 'ipv6');
    }
    case 'ArnEquals':
    case 'ArnNotEquals':
    case 'ArnLike':
    case 'ArnNotLike':
      return arnMatches(pol, ctx, lookup);
    case 'Null':
      return false; // handled by the caller
  }
}

function ordered(op: string, a: number, b: number): boolean {
  switch (op) {
    case 'Equals':
      return a === b;
    case 'NotEquals':
      return a === b; // the negation is applied by the caller
    case 'LessThan':
      return a < b;
    case 'LessThanEquals':
      return a <= b;
    case 'GreaterThan':
      return a > b;
    case 'GreaterThanEquals':
      return a >= b;
    default:
      return false;
  }
}

function clauseHolds(c: ConditionClause, lookup: Lookup, variables: Lookup | undefined): boolean {
  const ctx = lookup(c.key);
  const absent = ctx === undefined || ctx.length === 0;
  if (c.base === 'Null') return c.values.some((v) => (v.toLowerCase() === 'true') === absent);
  if (absent) {
    if (c.ifExists) return true;
    if (c.set === 'all') return true;
    if (c.set === 'any') return false;
    return NEGATED.has(c.base);
  }
  const negated = NEGATED.has(c.base);
  const valueOk = (v: string): boolean => {
    const any = c.values.some((p) => compare(c.base, v, p, variables));
    return negated ? !any : any;
  };
  if (c.set === 'all') return ctx.every(valueOk);
  if (c.set === 'any') return ctx.some(valueOk);
  return negated ? ctx.every(valueOk) : ctx.some(valueOk);
}

function statementMatches(s: PolicyStatement, action: string, resource: string, lookup: Lookup, variables: Lookup | undefined): boolean {
  if (s.action !== undefined ? !s.action.some((p) => actionMatches(p, action)) : (s.notAction ?? []).some((p) => actionMatches(p, action))) return false;
  if (s.resource !== undefined ? !s.resource.some((p) => arnMatches(p, resource, variables)) : (s.notResource ?? []).some((p) => arnMatches(p, resource, variables))) return false;
  return s.conditions.every((c) => clauseHolds(c, lookup, variables));
}

/** The context keys IAM supplies from the principal and the clock. */
export function principalContext(p: AuthzPrincipal, now: Date): Record<string, string> {
  const role = p.session?.role;
  const ctx: Record<string, string> = {
    'aws:PrincipalAccount': p.accountId,
    'aws:PrincipalArn': role?.arn ?? principalArn(p),
    'aws:PrincipalType': role !== undefined ? 'AssumedRole' : isRootPrincipal(p) ? 'Account' : 'User',
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
  };
  if (role === undefined && !isRootPrincipal(p)) ctx['aws:username'] = p.userName;
  if (role !== undefined) ctx['aws:userid'] = `${role.roleId}:${role.sessionName}`;
  else if (p.userId !== undefined) ctx['aws:userid'] = p.userId;
  if (p.session !== undefined) {
    ctx['aws:TokenIssueTime'] = p.session.issuedAt;
    ctx['aws:MultiFactorAuthPresent'] = 'false';
    if (p.session.sourceIdentity !== undefined) ctx['aws:SourceIdentity'] = p.session.sourceIdentity;
  }
  return ctx;
}

/** Decides one request. Pure. */
export function authorize(req: AuthorizeRequest): AuthorizeResult {
  const p = req.principal;
  const resources: ResourceRequest[] = (req.resources === undefined || req.resources.length === 0 ? ['*'] : req.resources).map((r) => (typeof r === 'string' ? { arn: r } : r));
  for (const r of resources) {
    const acct = arnAccount(r.arn);
    if (acct !== '' && acct !== '*' && acct !== p.accountId && req.allowOtherAccounts !== true) {
      return { decision: 'deny', reason: 'implicit-deny', resource: r.arn, detail: `${r.arn} belongs to another account` };
    }
  }
  if (isRootPrincipal(p)) return { decision: 'allow', reason: 'allowed', detail: 'the root of an account may do anything in its account' };
  const base = { ...principalContext(p, req.now ?? new Date()), ...req.context };
  let firstAllow: MatchedStatement | undefined;
  const unallowed: string[] = [];
  for (const r of resources) {
    const lookup = makeLookup(base, r.context);
    let allowed: MatchedStatement | undefined;
    for (const pol of req.policies ?? []) {
      const variables = pol.document.version === '2012-10-17' ? lookup : undefined;
      for (const [index, s] of pol.document.statements.entries()) {
        if (!statementMatches(s, req.action, r.arn, lookup, variables)) continue;
        const m: MatchedStatement = s.sid === undefined ? { policyName: pol.name, index } : { policyName: pol.name, index, sid: s.sid };
        if (s.effect === 'Deny') return { decision: 'deny', reason: 'explicit-deny', statement: m, resource: r.arn, detail: `explicitly denied by statement ${index}${s.sid ? ` (${s.sid})` : ''} of policy ${pol.name}` };
        allowed ??= m;
      }
    }
    if (allowed === undefined) unallowed.push(r.arn);
    else firstAllow ??= allowed;
  }
  const missing = unallowed[0];
  if (missing !== undefined) return { decision: 'deny', reason: 'implicit-deny', resource: missing, detail: `no policy allows ${req.action} on ${missing}` };
  return firstAllow === undefined
    ? { decision: 'deny', reason: 'implicit-deny', detail: 'no policy allows it' }
    : { decision: 'allow', reason: 'allowed', statement: firstAllow, detail: `allowed by policy ${firstAllow.policyName}` };
}

// ---------------------------------------------------------------------------------------
// Resource policies (KMS key policies): statements with Principal / NotPrincipal.
//
// A resource policy names who it speaks about. For an AWS principal the forms are "*"
// (anyone), an account ("111122223333" or "arn:aws:iam::111122223333:root") and a user
// (or role) ARN. Naming an account does not admit the account's users by itself: it
// delegates to the account, whose identity policies must then allow the request (the root of
// the account is allowed by its identity policies by definition). evaluateResourcePolicy()
// therefore tells apart an Allow that names the caller ('allow') from one that names the
// caller's account ('allow-account'). "*" and user ARNs admit the caller directly.
// NotPrincipal matches every caller that none of its entries names; there, an account entry
// names only the account's root (as AWS documents for NotPrincipal).

export interface PrincipalSpec {
  /** "*", 12-digit account ids and IAM ARNs (…:root, …:user/…, …:role/…). */
  readonly aws: readonly string[];
  /** Service principals, e.g. 'ec2.amazonaws.com'. */
  readonly service: readonly string[];
}

export interface ResourcePolicyStatement extends PolicyStatement {
  /** Principal "*" (the JSON string, not {"AWS": "*"}). */
  readonly anyPrincipal?: boolean;
  readonly principal?: PrincipalSpec;
  readonly notPrincipal?: PrincipalSpec;
}

export interface ResourcePolicyDocument {
  readonly version: string;
  readonly id?: string;
  readonly statements: readonly ResourcePolicyStatement[];
}

const AWS_PRINCIPAL_RE = /^arn:aws:iam::(\d{12}):(root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)$/;
const SERVICE_PRINCIPAL_RE = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com$/;

function invalidPrincipals(statement: number, value: string): IamError {
  return malformed(`Policy contains a statement with one or more invalid principals (statement ${statement}: ${JSON.stringify(value)}).`, { statement, principal: value });
}

function parsePrincipal(v: unknown, field: string, i: number): { any: boolean; spec?: PrincipalSpec } {
  if (v === '*') return { any: true };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed(`${field} must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"} (statement ${i}).`, { statement: i });
  const o = v as Record<string, unknown>;
  let aws: string[] = [];
  let service: string[] = [];
  for (const [k, raw] of Object.entries(o)) {
    if (k === 'AWS') aws = stringList(raw, `${field}.AWS`);
    else if (k === 'Service') service = stringList(raw, `${field}.Service`);
    else throw malformed(`${field} type ${k} is not supported here (only AWS and Service) (statement ${i}).`, { statement: i, type: k });
  }
  if (aws.length === 0 && service.length === 0) throw malformed(`${field} names no principal (statement ${i}).`, { statement: i });
  for (const a of aws) if (a !== '*' && !/^\d{12}$/.test(a) && !AWS_PRINCIPAL_RE.test(a)) throw invalidPrincipals(i, a);
  for (const s of service) if (!SERVICE_PRINCIPAL_RE.test(s)) throw invalidPrincipals(i, s);
  return { any: false, spec: { aws, service } };
}

const RESOURCE_STATEMENT_KEYS = new Set([...STATEMENT_KEYS, 'Principal', 'NotPrincipal']);

function parseResourceStatement(s: unknown, i: number, trust: boolean): ResourcePolicyStatement {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw malformed(`Each statement must be an object (statement ${i}).`, { statement: i });
  const o = s as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!RESOURCE_STATEMENT_KEYS.has(k)) throw malformed(`Syntax errors in policy: unknown field ${k} (statement ${i}).`, { statement: i, field: k });
  const hasP = o['Principal'] !== undefined;
  const hasNP = o['NotPrincipal'] !== undefined;
  if (hasP === hasNP) throw malformed(hasP ? `A statement must not contain both Principal and NotPrincipal (statement ${i}).` : `Missing required field Principal (statement ${i}).`, { statement: i });
  if (o['Sid'] !== undefined && typeof o['Sid'] !== 'string') throw malformed(`Sid must be a string (statement ${i}).`, { statement: i });
  // The identity-policy rules for the rest; a key policy's Sid may hold any text.
  const { Principal: p, NotPrincipal: np, Sid: sid, ...rest } = o;
  // A role's trust policy is about the role itself: it has no Resource (IAM refuses one).
  if (trust && (rest['Resource'] !== undefined || rest['NotResource'] !== undefined)) throw malformed(`Has prohibited field Resource (statement ${i}).`, { statement: i });
  if (trust) rest['Resource'] = '*';
  let base: PolicyStatement;
  try {
    base = parseStatement(rest, i);
  } catch (e) {
    if (e instanceof IamError) throw malformed(`${e.message.replace(/\.$/, '')} (statement ${i}).`, { statement: i });
    throw e;
  }
  const pr = parsePrincipal(hasP ? p : np, hasP ? 'Principal' : 'NotPrincipal', i);
  const out: ResourcePolicyStatement = {
    ...base,
    ...(typeof sid === 'string' ? { sid } : {}),
    ...(pr.spec === undefined ? (hasP ? { anyPrincipal: true } : { notPrincipal: { aws: ['*'], service: [] } }) : hasP ? { principal: pr.spec } : { notPrincipal: pr.spec }),
  };
  return out;
}

/**
 * Parses and validates a resource policy (a KMS key policy): like parsePolicy(), but every
 * statement needs Principal or NotPrincipal, and Sid may be any string. Throws
 * IamError('MalformedPolicyDocument') with a message naming the statement at fault.
 * `trust`: a role's trust policy (who may assume it), whose statements have no Resource.
 */
export function parseResourcePolicy(text: string, opts: { trust?: boolean } = {}): ResourcePolicyDocument {
  const { version, id, list } = parseEnvelope(text, (e) => `The policy is not valid JSON: ${e instanceof Error ? e.message : String(e)}.`);
  const statements = list.map((s, i) => parseResourceStatement(s, i, opts.trust === true));
  return id !== undefined ? { version, id, statements } : { version, statements };
}

/** The principals a resource policy names in AWS entries (accounts and ARNs; not "*"), for existence checks. */
export function resourcePolicyPrincipals(doc: ResourcePolicyDocument): string[] {
  const out = new Set<string>();
  for (const s of doc.statements) for (const a of [...(s.principal?.aws ?? []), ...(s.notPrincipal?.aws ?? [])]) if (a !== '*') out.add(a);
  return [...out];
}

/** Who asks a resource policy: an IAM principal, or a service principal acting for an account. */
export type ResourceCaller = { readonly kind: 'aws'; readonly principal: AuthzPrincipal } | { readonly kind: 'service'; readonly service: string; readonly accountId: string };

export interface ResourcePolicyRequest {
  readonly caller: ResourceCaller;
  readonly action: string;
  readonly resource: ResourceRequest;
  readonly context?: ConditionContext;
  readonly now?: Date;
}

export interface ResourcePolicyResult {
  /**
   * 'explicit-deny': a matching Deny; 'allow': an Allow names the caller (or "*");
   * 'allow-account': only an Allow naming the caller's account matched (the caller's identity
   * policies decide); 'no-match': nothing allows it.
   */
  readonly decision: 'explicit-deny' | 'allow' | 'allow-account' | 'no-match';
  readonly statement?: MatchedStatement;
  readonly detail: string;
}

function callerAccount(c: ResourceCaller): string {
  return c.kind === 'aws' ? c.principal.accountId : c.accountId;
}

/** How a principal entry names the caller: directly, through its account, or not at all. */
function principalMatch(spec: PrincipalSpec, c: ResourceCaller, not: boolean, deny: boolean): 'direct' | 'account' | undefined {
  // {"AWS": "*"} reaches service principals only where it can only take away (a Deny, or NotPrincipal)
  if (c.kind === 'service') return spec.service.includes(c.service) || ((not || deny) && spec.aws.includes('*')) ? 'direct' : undefined;
  const p = c.principal;
  const me = principalArn(p);
  const roleArn = p.session?.role?.arn;
  const root = isRootPrincipal(p);
  let how: 'direct' | 'account' | undefined;
  for (const a of spec.aws) {
    // A role's ARN names every session of the role (as AWS matches it in resource policies).
    if (a === '*' || a === me || a === roleArn) return 'direct';
    if (a === p.accountId || a === `arn:aws:iam::${p.accountId}:root`) {
      if (not) {
        if (root) return 'direct';
      } else how = root ? 'direct' : 'account';
    }
  }
  return how;
}

/**
 * Evaluates a resource policy for one request. Pure. An explicit Deny wins; otherwise an
 * Allow naming the caller beats one naming only its account. Conditions use the same
 * evaluator as identity policies, over the principal's keys, `context` and the resource's.
 */
export function evaluateResourcePolicy(doc: ResourcePolicyDocument, req: ResourcePolicyRequest): ResourcePolicyResult {
  const c = req.caller;
  const now = req.now ?? new Date();
  const principalKeys: Record<string, string> =
    c.kind === 'aws'
      ? principalContext(c.principal, now)
      : { 'aws:PrincipalServiceName': c.service, 'aws:PrincipalAccount': c.accountId, 'aws:CurrentTime': now.toISOString(), 'aws:EpochTime': String(Math.floor(now.getTime() / 1000)) };
  const lookup = makeLookup(principalKeys, req.context, req.resource.context);
  const variables = doc.version === '2012-10-17' ? lookup : undefined;
  let direct: MatchedStatement | undefined;
  let account: MatchedStatement | undefined;
  for (const [index, s] of doc.statements.entries()) {
    let how: 'direct' | 'account' | undefined;
    if (s.anyPrincipal) how = c.kind === 'aws' || s.effect === 'Deny' ? 'direct' : undefined;
    else if (s.principal) how = principalMatch(s.principal, c, false, s.effect === 'Deny');
    else if (s.notPrincipal) how = principalMatch(s.notPrincipal, c, true, s.effect === 'Deny') === undefined ? 'direct' : undefined;
    if (how === undefined) continue;
    if (!statementMatches(s, req.action, req.resource.arn, lookup, variables)) continue;
    const m: MatchedStatement = s.sid === undefined ? { policyName: 'resource-policy', index } : { policyName: 'resource-policy', index, sid: s.sid };
    if (s.effect === 'Deny') return { decision: 'explicit-deny', statement: m, detail: `explicitly denied by statement ${index}${s.sid ? ` (${s.sid})` : ''} of the resource policy` };
    if (how === 'direct') direct ??= m;
    else account ??= m;
  }
  if (direct) return { decision: 'allow', statement: direct, detail: `allowed by statement ${direct.index} of the resource policy` };
  if (account) return { decision: 'allow-account', statement: account, detail: `statement ${account.index} of the resource policy delegates to account ${callerAccount(c)}` };
  return { decision: 'no-match', detail: `no statement of the resource policy allows ${req.action}` };
}
