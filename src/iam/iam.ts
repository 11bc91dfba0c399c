// IAM over the state store: accounts (tenants), users, access keys and inline user policies.
//
// Store layout (every value JSON):
//   iam/bootstrap                          { accountId, accessKeyId }  the default account's admin key
//   iam/accounts/<accountId>               AccountRecord
//   iam/users/<accountId>/<username lc>    UserRecord          (IAM user names are case-insensitive)
//   iam/keys/<accessKeyId>                 AccessKeyRecord     (secret sealed with the root key)
//   iam/userkeys/<accountId>/<owner>/<id>  {}                  index; owner = username lc, or '@root'
//   iam/policies/<accountId>/<username lc>/<policyName>  { policyName, document }
//
// lookupAccessKey() is on every request's path: its answers (with the unsealed secret) and
// each user's parsed policies are cached in memory for CACHE_TTL_MS and dropped at once when
// this process changes them; the TTL bounds staleness when another process changes the store.
import { randomBytes, randomInt } from 'node:crypto';
import { nitrideHome } from '../lib/paths.js';
import type { AuditUserIdentity } from '../audit/trail.js';
import type { StateStore } from '../store/store.js';
import { IamError } from './errors.js';
import { authorize, parsePolicy, principalArn, type AuthorizeRequest, type AuthorizeResult, type AuthzPrincipal, type NamedPolicy } from './policy.js';
import { IamRoles, type RoleRecord } from './roles.js';
import { RootKey, rootKeyPath, type SealedSecret } from './root-key.js';
import { isSessionKeyId, newSessionSecret, openSessionToken, sealSessionToken, SESSION_KEY_PREFIX, type SessionPayload } from './session.js';

export const ROOT_USER = 'root';
export const MAX_ACCESS_KEYS_PER_USER = 2;
/** IAM's quota for the total size of a user's inline policies (whitespace not counted). */
export const MAX_USER_POLICY_BYTES = 2048;
const CACHE_TTL_MS = 10_000;

/** An account's life: ACTIVE until the operator closes it (Organizations' CloseAccount). */
export type AccountState = 'ACTIVE' | 'CLOSED';

export interface AccountRecord {
  readonly accountId: string;
  readonly name: string;
  readonly createDate: string;
  /** The email the operator gave at CreateAccount (absent on the default account). */
  readonly email?: string;
  /** Absent on records written before accounts could be closed: ACTIVE. */
  readonly state?: AccountState;
  readonly closedDate?: string;
}

export const accountState = (a: AccountRecord): AccountState => a.state ?? 'ACTIVE';

export interface IamUser {
  readonly accountId: string;
  readonly userName: string;
  readonly userId: string;
  readonly arn: string;
  readonly path: string;
  readonly createDate: string;
}

export type AccessKeyStatus = 'Active' | 'Inactive';

interface AccessKeyRecord {
  readonly accessKeyId: string;
  readonly accountId: string;
  /** The owning user's name as created, or 'root'. */
  readonly userName: string;
  readonly status: AccessKeyStatus;
  readonly createDate: string;
  readonly secret: SealedSecret;
}

export interface AccessKeyMetadata {
  readonly accessKeyId: string;
  readonly userName: string;
  readonly status: AccessKeyStatus;
  readonly createDate: string;
}

export interface NewAccessKey extends AccessKeyMetadata {
  readonly accountId: string;
  readonly secretAccessKey: string;
}

export interface AccessKeyLookup {
  readonly accessKeyId: string;
  readonly accountId: string;
  /** The IAM user's name, or 'root' for the account's root. */
  readonly userName: string;
  readonly secretAccessKey: string;
  readonly status: AccessKeyStatus;
  /** Ready for authorize(). */
  readonly principal: AuthzPrincipal;
  /** Session credentials: when they stop working (authenticate() refuses them after it). */
  readonly expiration?: Date;
}

/** Session credentials as STS hands them out. */
export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export interface BootstrapResult {
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** True when this call created them (first start). */
  readonly created: boolean;
}

export interface UserPolicy {
  readonly userName: string;
  readonly policyName: string;
  readonly policyDocument: string;
}

const NAME_RE = /^[\w+=,.@-]+$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomBase32(n: number): string {
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += BASE32[(b[i] ?? 0) & 31];
  return s;
}

export function newAccessKeyId(): string {
  return `AKIA${randomBase32(16)}`;
}

export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64'); // 40 characters
}

export function isAccountId(s: string): boolean {
  return /^\d{12}$/.test(s);
}

function validationError(value: string, member: string, constraint: string): IamError {
  return new IamError('ValidationError', `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`, { member });
}

export function checkUserName(name: string, member = 'userName'): void {
  if (name.length < 1 || name.length > 64) throw validationError(name, member, 'Member must have length between 1 and 64');
  if (!NAME_RE.test(name)) throw validationError(name, member, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}

export function checkPolicyName(name: string): void {
  if (name.length < 1 || name.length > 128) throw validationError(name, 'policyName', 'Member must have length between 1 and 128');
  if (!NAME_RE.test(name)) throw validationError(name, 'policyName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}

/** The operator account's administrator (Region writes its key, not the root's, to the `nitride` profile). */
export const OPERATOR_ADMIN_USER = 'admin';
export const OPERATOR_ADMIN_POLICY = 'AdministratorAccess';
const ADMIN_POLICY_DOCUMENT = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });

const K = {
  bootstrap: 'iam/bootstrap',
  operatorAdmin: 'iam/operator-admin',
  account: (a: string) => `iam/accounts/${a}`,
  accounts: 'iam/accounts/',
  user: (a: string, u: string) => `iam/users/${a}/${u.toLowerCase()}`,
  users: (a: string) => `iam/users/${a}/`,
  key: (id: string) => `iam/keys/${id}`,
  userKey: (a: string, owner: string, id: string) => `iam/userkeys/${a}/${owner}/${id}`,
  userKeys: (a: string, owner: string) => `iam/userkeys/${a}/${owner}/`,
  policy: (a: string, u: string, p: string) => `iam/policies/${a}/${u.toLowerCase()}/${p}`,
  policies: (a: string, u: string) => `iam/policies/${a}/${u.toLowerCase()}/`,
};

function owner(userName: string): string {
  return userName === ROOT_USER ? '@root' : userName.toLowerCase();
}

export class Iam {
  private readonly keyCache = new Map<string, { at: number; value: AccessKeyLookup }>();
  private readonly policyCache = new Map<string, { at: number; value: NamedPolicy[] }>();
  /** Roles, their trust policies and inline policies (roles.ts). */
  readonly roles: IamRoles;
  /** The clock sessions are issued and expire by (tests move it; see RegionOptions.sessionClock). */
  readonly now: () => Date;

  constructor(
    private readonly store: StateStore,
    private readonly rootKey: RootKey,
    opts: { now?: () => Date } = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.roles = new IamRoles({ store, requireAccount: (a) => this.requireAccount(a), principalExists: (p) => this.principalExists(p), newRoleId: () => `AROA${randomBase32(17)}` });
  }

  /** IAM over `store` with the root key at $home/region/root.key (created on first use). */
  static open(store: StateStore, opts: { home?: string; rootKeyPath?: string; now?: () => Date } = {}): Iam {
    return new Iam(store, RootKey.loadOrCreate(opts.rootKeyPath ?? rootKeyPath(opts.home ?? nitrideHome())), opts.now ? { now: opts.now } : {});
  }

  /** Whether an account id or an IAM ARN (root, user or role, path included) names something that exists. */
  async principalExists(a: string): Promise<boolean> {
    const m = /^(?:(\d{12})|arn:aws:iam::(\d{12}):(root|(user|role)\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)))$/.exec(a);
    if (!m) return false;
    const acct = m[1] ?? m[2] ?? '';
    if ((await this.getAccount(acct)) === undefined) return false;
    if (m[1] !== undefined || m[3] === 'root') return true;
    const name = m[5] ?? '';
    if (m[4] === 'role') return (await this.roles.find(acct, name))?.arn === a;
    return (await this.store.get<IamUser>(K.user(acct, name)))?.value.arn === a;
  }

  // ---- accounts -------------------------------------------------------------------------

  /**
   * First start: creates the default account and an access key for its root, and remembers
   * them. Later calls return the same account and key (a new root key if that one was deleted).
   */
  async bootstrap(): Promise<BootstrapResult> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.store.get<{ accountId: string; accessKeyId: string }>(K.bootstrap);
      if (cur !== undefined) {
        const key = await this.lookupAccessKey(cur.value.accessKeyId);
        if (key !== undefined && key.accountId === cur.value.accountId) return { accountId: key.accountId, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: false };
        const fresh = await this.createAccessKey(cur.value.accountId, ROOT_USER, { ignoreQuota: true });
        if (await this.store.txn({ compare: [{ key: K.bootstrap, version: cur.version }], put: [{ key: K.bootstrap, value: { accountId: fresh.accountId, accessKeyId: fresh.accessKeyId } }] })) {
          return { accountId: fresh.accountId, accessKeyId: fresh.accessKeyId, secretAccessKey: fresh.secretAccessKey, created: true };
        }
        continue;
      }
      const account = await this.createAccount('default');
      const key = await this.createAccessKey(account.accountId, ROOT_USER);
      if (await this.store.txn({ compare: [{ key: K.bootstrap, version: 0 }], put: [{ key: K.bootstrap, value: { accountId: account.accountId, accessKeyId: key.accessKeyId } }] })) {
        return { accountId: account.accountId, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: true };
      }
    }
    throw new IamError('ServiceFailure', 'The IAM bootstrap kept conflicting with another writer.');
  }

  /**
   * The operator account's IAM user `admin` (made once) with an allow-everything inline policy
   * (AWS's AdministratorAccess), and its access key: the one made before while it still works,
   * or a new one. As AWS advises, day-to-day work uses this key, not the root's.
   */
  async ensureOperatorAdmin(accountId: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const cur = await this.store.get<{ accessKeyId: string }>(K.operatorAdmin);
    if (cur !== undefined) {
      const k = await this.lookupAccessKey(cur.value.accessKeyId);
      if (k !== undefined && k.accountId === accountId && k.userName === OPERATOR_ADMIN_USER && k.status === 'Active') return { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey };
    }
    if ((await this.store.get(K.user(accountId, OPERATOR_ADMIN_USER))) === undefined) await this.createUser(accountId, OPERATOR_ADMIN_USER);
    if (!(await this.listUserPolicies(accountId, OPERATOR_ADMIN_USER)).includes(OPERATOR_ADMIN_POLICY)) await this.putUserPolicy(accountId, OPERATOR_ADMIN_USER, OPERATOR_ADMIN_POLICY, ADMIN_POLICY_DOCUMENT);
    const key = await this.createAccessKey(accountId, OPERATOR_ADMIN_USER);
    await this.store.txn({ compare: [], put: [{ key: K.operatorAdmin, value: { accessKeyId: key.accessKeyId } }] });
    return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  }

  /** Creates an account (a tenant) with a fresh random 12-digit id. */
  async createAccount(name = '', opts: { email?: string } = {}): Promise<AccountRecord> {
    for (;;) {
      const accountId = String(randomInt(100_000, 1_000_000)) + String(randomInt(0, 1_000_000)).padStart(6, '0');
      const rec: AccountRecord = { accountId, name, createDate: new Date().toISOString(), ...(opts.email !== undefined ? { email: opts.email } : {}), state: 'ACTIVE' };
      if (await this.store.txn({ compare: [{ key: K.account(accountId), version: 0 }], put: [{ key: K.account(accountId), value: { ...rec } }] })) return rec;
    }
  }

  async getAccount(accountId: string): Promise<AccountRecord | undefined> {
    if (!isAccountId(accountId)) return undefined;
    return (await this.store.get<AccountRecord>(K.account(accountId)))?.value;
  }

  /** Every account, open or closed, in id order. */
  async listAccounts(): Promise<AccountRecord[]> {
    return (await this.store.list<AccountRecord>(K.accounts)).map((e) => e.value);
  }

  /**
   * Closes an account: from now on its access keys authenticate nobody (lookupAccessKey) and
   * nothing can be created in it (requireAccount). Nothing it owns is deleted. Returns the
   * closed record, or the error: 'not-found', or 'already-closed' for a second close.
   */
  async closeAccount(accountId: string): Promise<{ closed: AccountRecord } | { error: 'not-found' | 'already-closed' }> {
    for (;;) {
      const got = isAccountId(accountId) ? await this.store.get<AccountRecord>(K.account(accountId)) : undefined;
      if (got === undefined) return { error: 'not-found' };
      if (accountState(got.value) === 'CLOSED') return { error: 'already-closed' };
      const closed: AccountRecord = { ...got.value, state: 'CLOSED', closedDate: new Date().toISOString() };
      if (await this.store.txn({ compare: [{ key: K.account(accountId), version: got.version }], put: [{ key: K.account(accountId), value: { ...closed } }] })) {
        // At once, in this process: every cached key of the account goes (other region processes: CACHE_TTL_MS).
        for (const [id, hit] of this.keyCache) if (hit.value.accountId === accountId) this.keyCache.delete(id);
        return { closed };
      }
    }
  }

  /** The account's record version; NoSuchEntity when it does not exist or is closed (nothing is created in a closed account). */
  async requireAccount(accountId: string): Promise<number> {
    const a = isAccountId(accountId) ? await this.store.get<AccountRecord>(K.account(accountId)) : undefined;
    if (a === undefined || accountState(a.value) === 'CLOSED') throw new IamError('NoSuchEntity', `The account ${accountId} does not exist.`, { accountId });
    return a.version;
  }

  // ---- users ----------------------------------------------------------------------------

  async createUser(accountId: string, userName: string, path = '/'): Promise<IamUser> {
    checkUserName(userName);
    if (userName.toLowerCase() === ROOT_USER) throw validationError(userName, 'userName', "The name 'root' is reserved for the account's root user");
    if (!/^\/([\x21-\x7e]*\/)?$/.test(path) || path.length > 512) throw validationError(path, 'path', 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)');
    const acctVersion = await this.requireAccount(accountId);
    const user: IamUser = {
      accountId,
      userName,
      userId: `AIDA${randomBase32(17)}`,
      arn: `arn:aws:iam::${accountId}:user${path}${userName}`,
      path,
      createDate: new Date().toISOString(),
    };
    const ok = await this.store.txn({
      compare: [
        { key: K.account(accountId), version: acctVersion },
        { key: K.user(accountId, userName), version: 0 },
      ],
      put: [{ key: K.user(accountId, userName), value: { ...user } }],
    });
    if (!ok) {
      if (await this.store.get(K.user(accountId, userName))) throw new IamError('EntityAlreadyExists', `User with name ${userName} already exists.`, { accountId, userName });
      throw new IamError('NoSuchEntity', `The account ${accountId} does not exist.`, { accountId });
    }
    return user;
  }

  private async userRecord(accountId: string, userName: string): Promise<{ user: IamUser; version: number }> {
    checkUserName(userName);
    const got = isAccountId(accountId) ? await this.store.get<IamUser>(K.user(accountId, userName)) : undefined;
    if (got === undefined) throw new IamError('NoSuchEntity', `The user with name ${userName} cannot be found.`, { accountId, userName });
    return { user: got.value, version: got.version };
  }

  async getUser(accountId: string, userName: string): Promise<IamUser> {
    return (await this.userRecord(accountId, userName)).user;
  }

  /** Users in name order; `marker` is the opaque cursor from the previous page. */
  async listUsers(accountId: string, opts: { marker?: string; maxItems?: number; pathPrefix?: string } = {}): Promise<{ users: IamUser[]; isTruncated: boolean; marker?: string }> {
    const max = opts.maxItems ?? 100;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw validationError(String(opts.maxItems), 'maxItems', 'Member must have value between 1 and 1000');
    if (!isAccountId(accountId)) return { users: [], isTruncated: false };
    const users: IamUser[] = [];
    let cursor = opts.marker === undefined ? undefined : decodeMarker(opts.marker, K.users(accountId));
    for (;;) {
      const page = await this.store.list<IamUser>(K.users(accountId), cursor === undefined ? { limit: max + 1 } : { limit: max + 1, startAfter: cursor });
      for (const e of page) {
        if (opts.pathPrefix !== undefined && !e.value.path.startsWith(opts.pathPrefix)) {
          cursor = e.key;
          continue;
        }
        if (users.length === max) return { users, isTruncated: true, marker: encodeMarker(cursor ?? '') };
        users.push(e.value);
        cursor = e.key;
      }
      if (page.length < max + 1) return { users, isTruncated: false };
    }
  }

  /** Deletes a user; IAM's DeleteConflict while the user still has access keys or policies. */
  async deleteUser(accountId: string, userName: string): Promise<void> {
    const { user, version } = await this.userRecord(accountId, userName);
    if ((await this.store.list(K.userKeys(accountId, owner(user.userName)), { limit: 1 })).length > 0) throw new IamError('DeleteConflict', 'Cannot delete entity, must delete access keys first.', { accountId, userName });
    if ((await this.store.list(K.policies(accountId, user.userName), { limit: 1 })).length > 0) throw new IamError('DeleteConflict', 'Cannot delete entity, must delete policies first.', { accountId, userName });
    if (!(await this.store.txn({ compare: [{ key: K.user(accountId, userName), version }], delete: [K.user(accountId, userName)] }))) {
      throw new IamError('DeleteConflict', 'The user changed while it was being deleted; try again.', { accountId, userName });
    }
    this.policyCache.delete(`${accountId}/${userName.toLowerCase()}`);
  }

  // ---- access keys ----------------------------------------------------------------------

  /** A new access key for an IAM user, or for the account's root when userName is 'root'. */
  async createAccessKey(accountId: string, userName: string, opts: { ignoreQuota?: boolean } = {}): Promise<NewAccessKey> {
    let guard: { key: string; version: number };
    let name = userName;
    if (userName === ROOT_USER) {
      guard = { key: K.account(accountId), version: await this.requireAccount(accountId) };
    } else {
      const { user, version } = await this.userRecord(accountId, userName);
      guard = { key: K.user(accountId, userName), version };
      name = user.userName;
    }
    const existing = await this.store.list(K.userKeys(accountId, owner(name)));
    if (!opts.ignoreQuota && existing.length >= MAX_ACCESS_KEYS_PER_USER) throw new IamError('LimitExceeded', `Cannot exceed quota for AccessKeysPerUser: ${MAX_ACCESS_KEYS_PER_USER}`, { accountId, userName });
    for (;;) {
      const accessKeyId = newAccessKeyId();
      const secretAccessKey = newSecretAccessKey();
      const rec: AccessKeyRecord = { accessKeyId, accountId, userName: name, status: 'Active', createDate: new Date().toISOString(), secret: this.rootKey.seal(secretAccessKey, sealAad(accessKeyId)) };
      const ok = await this.store.txn({
        compare: [guard, { key: K.key(accessKeyId), version: 0 }],
        put: [
          { key: K.key(accessKeyId), value: { ...rec, secret: { ...rec.secret } } },
          { key: K.userKey(accountId, owner(name), accessKeyId), value: {} },
        ],
      });
      if (ok) return { accessKeyId, accountId, userName: name, status: 'Active', createDate: rec.createDate, secretAccessKey };
      const g = await this.store.get(guard.key);
      if (g === undefined || g.version !== guard.version) throw new IamError('NoSuchEntity', `The user with name ${userName} cannot be found.`, { accountId, userName });
      // else: an access key id collision (2^80 space): draw another
    }
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKeyMetadata[]> {
    const name = userName === ROOT_USER ? ROOT_USER : (await this.userRecord(accountId, userName)).user.userName;
    const out: AccessKeyMetadata[] = [];
    for (const e of await this.store.list(K.userKeys(accountId, owner(name)))) {
      const id = e.key.slice(e.key.lastIndexOf('/') + 1);
      const rec = (await this.store.get<AccessKeyRecord>(K.key(id)))?.value;
      if (rec) out.push({ accessKeyId: rec.accessKeyId, userName: rec.userName, status: rec.status, createDate: rec.createDate });
    }
    return out;
  }

  /** Deletes an access key of the named user (or root); NoSuchEntity when that user has no such key. */
  async deleteAccessKey(accountId: string, userName: string, accessKeyId: string): Promise<void> {
    const got = /^[\w]+$/.test(accessKeyId) ? await this.store.get<AccessKeyRecord>(K.key(accessKeyId)) : undefined;
    if (got === undefined || got.value.accountId !== accountId || owner(got.value.userName) !== owner(userName)) {
      throw new IamError('NoSuchEntity', `The Access Key with id ${accessKeyId} cannot be found.`, { accountId, userName, accessKeyId });
    }
    await this.store.txn({ compare: [{ key: K.key(accessKeyId), version: got.version }], delete: [K.key(accessKeyId), K.userKey(accountId, owner(got.value.userName), accessKeyId)] });
    this.keyCache.delete(accessKeyId);
  }

  /** The hot path: who owns this key and its plaintext secret (cached), or undefined. */
  async lookupAccessKey(accessKeyId: string): Promise<AccessKeyLookup | undefined> {
    const hit = this.keyCache.get(accessKeyId);
    const now = Date.now();
    if (hit !== undefined && now - hit.at < CACHE_TTL_MS) return hit.value;
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) return undefined;
    const got = await this.store.get<AccessKeyRecord>(K.key(accessKeyId));
    if (got === undefined) {
      this.keyCache.delete(accessKeyId);
      return undefined;
    }
    const r = got.value;
    // A closed account's keys authenticate nobody: the caller sees the service's unknown-key error.
    const account = (await this.store.get<AccountRecord>(K.account(r.accountId)))?.value;
    if (account === undefined || accountState(account) === 'CLOSED') {
      this.keyCache.delete(accessKeyId);
      return undefined;
    }
    let userId: string | undefined;
    let arn: string;
    if (r.userName === ROOT_USER) arn = `arn:aws:iam::${r.accountId}:root`;
    else {
      const u = (await this.store.get<IamUser>(K.user(r.accountId, r.userName)))?.value;
      if (u === undefined) return undefined; // a key whose user is gone authenticates nobody
      userId = u.userId;
      arn = u.arn;
    }
    const principal: AuthzPrincipal = userId === undefined ? { accountId: r.accountId, userName: r.userName, arn } : { accountId: r.accountId, userName: r.userName, arn, userId };
    const value: AccessKeyLookup = { accessKeyId, accountId: r.accountId, userName: r.userName, secretAccessKey: this.rootKey.unseal(r.secret, sealAad(accessKeyId)), status: r.status, principal };
    if (this.keyCache.size > 100_000) this.keyCache.clear();
    this.keyCache.set(accessKeyId, { at: now, value });
    return value;
  }

  // ---- policies -------------------------------------------------------------------------

  /** Creates or replaces an inline user policy. MalformedPolicyDocument / LimitExceeded as IAM. */
  async putUserPolicy(accountId: string, userName: string, policyName: string, policyDocument: string): Promise<void> {
    checkPolicyName(policyName);
    const { user, version } = await this.userRecord(accountId, userName);
    parsePolicy(policyDocument);
    let total = policyDocument.replace(/\s/g, '').length;
    for (const e of await this.store.list<{ policyName: string; document: string }>(K.policies(accountId, user.userName))) {
      if (e.value.policyName !== policyName) total += e.value.document.replace(/\s/g, '').length;
    }
    if (total > MAX_USER_POLICY_BYTES) throw new IamError('LimitExceeded', `Maximum policy size of ${MAX_USER_POLICY_BYTES} bytes exceeded for user ${user.userName}`, { accountId, userName });
    const ok = await this.store.txn({ compare: [{ key: K.user(accountId, userName), version }], put: [{ key: K.policy(accountId, user.userName, policyName), value: { policyName, document: policyDocument } }] });
    if (!ok) throw new IamError('NoSuchEntity', `The user with name ${userName} cannot be found.`, { accountId, userName });
    this.policyCache.delete(`${accountId}/${user.userName.toLowerCase()}`);
  }

  async getUserPolicy(accountId: string, userName: string, policyName: string): Promise<UserPolicy> {
    const { user } = await this.userRecord(accountId, userName);
    const got = NAME_RE.test(policyName) ? await this.store.get<{ policyName: string; document: string }>(K.policy(accountId, user.userName, policyName)) : undefined;
    if (got === undefined) throw new IamError('NoSuchEntity', `The user policy with name ${policyName} cannot be found.`, { accountId, userName, policyName });
    return { userName: user.userName, policyName: got.value.policyName, policyDocument: got.value.document };
  }

  async listUserPolicies(accountId: string, userName: string): Promise<string[]> {
    const { user } = await this.userRecord(accountId, userName);
    return (await this.store.list<{ policyName: string }>(K.policies(accountId, user.userName))).map((e) => e.value.policyName);
  }

  async deleteUserPolicy(accountId: string, userName: string, policyName: string): Promise<void> {
    const { user } = await this.userRecord(accountId, userName);
    const key = K.policy(accountId, user.userName, policyName);
    if (!NAME_RE.test(policyName) || !(await this.store.delete(key))) throw new IamError('NoSuchEntity', `The user policy with name ${policyName} cannot be found.`, { accountId, userName, policyName });
    this.policyCache.delete(`${accountId}/${user.userName.toLowerCase()}`);
  }

  /** The parsed inline policies of a principal (none for root; a role session's are its role's), cached. */
  async policiesFor(principal: AuthzPrincipal): Promise<NamedPolicy[]> {
    const role = principal.session?.role;
    if (role === undefined && principal.userName === ROOT_USER) return [];
    // A role's policies are cached like a user's: role-api.ts drops the entry on every change made here (forgetRolePolicies).
    const ck = role === undefined ? `${principal.accountId}/${principal.userName.toLowerCase()}` : `${principal.accountId}/@role/${role.roleName.toLowerCase()}`;
    const hit = this.policyCache.get(ck);
    const now = Date.now();
    if (hit !== undefined && now - hit.at < CACHE_TTL_MS) return hit.value;
    const entries =
      role !== undefined
        ? await this.roles.policyDocuments(principal.accountId, role.roleName)
        : isAccountId(principal.accountId)
          ? (await this.store.list<{ policyName: string; document: string }>(K.policies(principal.accountId, principal.userName))).map((e) => e.value)
          : [];
    const value = entries.map((e) => ({ name: e.policyName, document: parsePolicy(e.document) }));
    if (this.policyCache.size > 10_000) this.policyCache.clear();
    this.policyCache.set(ck, { at: now, value });
    return value;
  }

  /** authorize() with the principal's own policies loaded. */
  async authorize(req: Omit<AuthorizeRequest, 'policies'>): Promise<AuthorizeResult> {
    return authorize({ ...req, policies: await this.policiesFor(req.principal) });
  }

  /** Drops a role's cached policies (after PutRolePolicy or DeleteRolePolicy in this process). */
  forgetRolePolicies(accountId: string, roleName: string): void {
    this.policyCache.delete(`${accountId}/@role/${roleName.toLowerCase()}`);
  }

  // ---- session credentials (STS) ---------------------------------------------------------

  /**
   * New session credentials for `principal` (GetSessionToken: a user or root) or for a role
   * (AssumeRole), valid for `durationSeconds` from now (this.now()).
   */
  issueSession(opts: { accountId: string; durationSeconds: number; source: AuthzPrincipal; role?: { record: RoleRecord; sessionName: string }; sourceIdentity?: string }): SessionCredentials {
    const accessKeyId = `${SESSION_KEY_PREFIX}${randomBase32(16)}`;
    const secretAccessKey = newSessionSecret();
    const iat = this.now().getTime();
    const exp = iat + opts.durationSeconds * 1000;
    const src = opts.source;
    const payload: SessionPayload = {
      v: 1,
      acct: opts.accountId,
      secret: secretAccessKey,
      iat,
      exp,
      ...(opts.role !== undefined ? { role: { name: opts.role.record.roleName, id: opts.role.record.roleId, session: opts.role.sessionName } } : { user: src.userName, ...(src.userId !== undefined ? { uid: src.userId } : {}) }),
      src: principalArn(src),
      ...(opts.sourceIdentity !== undefined ? { sid: opts.sourceIdentity } : {}),
      ...(src.session?.role !== undefined ? { chained: true } : {}),
    };
    return { accessKeyId, secretAccessKey, sessionToken: sealSessionToken(this.rootKey, accessKeyId, payload), expiration: new Date(exp) };
  }

  /**
   * The credentials a request presents: a long-term key (no session token), or session
   * credentials (an ASIA key id and its token). Undefined for an unknown key, a token that does
   * not open for that key id, a session whose account is closed or whose user or role is gone
   * (or was made anew: ids differ), and a long-term key presented with a token. An expired
   * session is returned with its `expiration`: authenticate() refuses it after checking the signature.
   */
  async lookupCredentials(accessKeyId: string, sessionToken: string | undefined): Promise<AccessKeyLookup | undefined> {
    if (sessionToken === undefined) return isSessionKeyId(accessKeyId) ? undefined : this.lookupAccessKey(accessKeyId);
    if (!isSessionKeyId(accessKeyId) || !/^[A-Z0-9]{16,128}$/.test(accessKeyId)) return undefined;
    const p = openSessionToken(this.rootKey, accessKeyId, sessionToken);
    if (p === undefined) return undefined;
    const account = await this.getAccount(p.acct);
    if (account === undefined || accountState(account) === 'CLOSED') return undefined;
    const session = { issuedAt: new Date(p.iat).toISOString(), expiresAt: new Date(p.exp).toISOString(), sourceArn: p.src, ...(p.sid !== undefined ? { sourceIdentity: p.sid } : {}) };
    let principal: AuthzPrincipal;
    if (p.role !== undefined) {
      const role = await this.roles.find(p.acct, p.role.name);
      if (role === undefined || role.roleId !== p.role.id) return undefined; // a deleted (or re-made) role's sessions end with it
      const assumed = { roleName: role.roleName, roleId: role.roleId, arn: role.arn, sessionName: p.role.session };
      principal = { accountId: p.acct, userName: role.roleName, arn: `arn:aws:sts::${p.acct}:assumed-role/${role.roleName}/${p.role.session}`, userId: `${role.roleId}:${p.role.session}`, session: { ...session, role: assumed } };
    } else if (p.user === ROOT_USER) {
      principal = { accountId: p.acct, userName: ROOT_USER, arn: `arn:aws:iam::${p.acct}:root`, session };
    } else {
      const u = p.user === undefined ? undefined : (await this.store.get<IamUser>(K.user(p.acct, p.user)))?.value;
      if (u === undefined || u.userId !== p.uid) return undefined;
      principal = { accountId: p.acct, userName: u.userName, arn: u.arn, userId: u.userId, session };
    }
    return { accessKeyId, accountId: p.acct, userName: principal.userName, secretAccessKey: p.secret, status: 'Active', principal, expiration: new Date(p.exp) };
  }

  /** Drops every cached key and policy (e.g. after another process changed IAM). */
  clearCaches(): void {
    this.keyCache.clear();
    this.policyCache.clear();
  }
}

/** CloudTrail's userIdentity for an audit record: the authenticated principal, or 'Unknown' when authentication failed. */
export function auditIdentity(principal: AuthzPrincipal | undefined, accessKeyId?: string): AuditUserIdentity {
  const key = accessKeyId === undefined ? {} : { accessKeyId };
  if (principal === undefined) return { type: 'Unknown', ...key };
  const s = principal.session;
  const attributes = s === undefined ? undefined : { creationDate: s.issuedAt, mfaAuthenticated: 'false' };
  if (s?.role !== undefined) {
    const r = s.role;
    return {
      type: 'AssumedRole',
      accountId: principal.accountId,
      principalId: `${r.roleId}:${r.sessionName}`,
      arn: principalArn(principal),
      ...key,
      sessionContext: { sessionIssuer: { type: 'Role', principalId: r.roleId, arn: r.arn, accountId: principal.accountId, userName: r.roleName }, attributes: attributes ?? { creationDate: '', mfaAuthenticated: 'false' }, ...(s.sourceIdentity !== undefined ? { sourceIdentity: s.sourceIdentity } : {}) },
    };
  }
  const session = attributes === undefined ? {} : { sessionContext: { attributes } };
  if (principal.userName === ROOT_USER) return { type: 'Root', accountId: principal.accountId, principalId: principal.accountId, arn: principalArn(principal), ...key, ...session };
  return { type: 'IAMUser', accountId: principal.accountId, principalId: principal.userId ?? principal.userName, arn: principalArn(principal), userName: principal.userName, ...key, ...session };
}

function sealAad(accessKeyId: string): string {
  return `nitride/iam/secret-access-key/v1/${accessKeyId}`;
}

function encodeMarker(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeMarker(marker: string, prefix: string): string {
  const key = Buffer.from(marker, 'base64url').toString('utf8');
  if (!key.startsWith(prefix)) throw new IamError('ValidationError', 'The Marker is not valid for this request.', {});
  return key;
}

