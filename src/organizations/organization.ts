// The region's organization: every account (tenant) of the region is a member of one
// organization whose management account is the region operator's (the default account of
// the first start). The operator creates, lists, describes and closes accounts; the accounts
// themselves live in IAM (src/iam/iam.ts), this adds the Organizations view of them and
// CreateAccount's request statuses.
//
// CreateAccount is asynchronous in AWS (IN_PROGRESS, then SUCCEEDED or FAILED through
// DescribeCreateAccountStatus). Here the account and its root access key are made within the
// call, so the status the call returns is already final (SUCCEEDED, or FAILED with
// EMAIL_ALREADY_EXISTS), and DescribeCreateAccountStatus returns the same status later.
// CloseAccount is final at once as well (AWS: PENDING_CLOSURE, then SUSPENDED): the account's
// keys stop authenticating in the same call, and nothing it owns is deleted.
//
// Store layout (JSON):
//   organizations/organization                  { id, createDate }
//   organizations/create-account-status/<car-id> CreateAccountStatusRecord
import { randomBytes } from 'node:crypto';
import type { StateStore } from '../store/store.js';
import { accountState, ROOT_USER, type AccountRecord, type Iam } from '../iam/iam.js';
import { OrganizationsError } from './errors.js';

export type CreateAccountState = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';

export interface CreateAccountStatusRecord {
  readonly id: string;
  readonly accountName: string;
  readonly state: CreateAccountState;
  readonly requestedTimestamp: string;
  readonly completedTimestamp?: string;
  readonly accountId?: string;
  readonly failureReason?: 'EMAIL_ALREADY_EXISTS';
}

/** What CreateAccount hands back: the status and, when it succeeded, the root's first access key (shown once). */
export interface CreatedAccount {
  readonly status: CreateAccountStatusRecord;
  readonly rootAccessKey?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface OrgAccount {
  readonly record: AccountRecord;
  readonly arn: string;
  /** Organizations' Status: ACTIVE, or SUSPENDED once closed. */
  readonly status: 'ACTIVE' | 'SUSPENDED';
  /** Organizations' State: ACTIVE or CLOSED. */
  readonly state: 'ACTIVE' | 'CLOSED';
}

const K = {
  organization: 'organizations/organization',
  status: (id: string) => `organizations/create-account-status/${id}`,
  statuses: 'organizations/create-account-status/',
};

const LOWER36 = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomLower(n: number): string {
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += LOWER36[(b[i] ?? 0) % 36];
  return s;
}

export class Organization {
  constructor(
    private readonly store: StateStore,
    private readonly iam: Iam,
    /** The region operator's account: the organization's management account. */
    readonly managementAccountId: string,
    /** The region's name, for the audit records of these calls. */
    readonly awsRegion: string,
  ) {}

  /** The organization's id (o-…), made on first use. */
  async id(): Promise<string> {
    for (;;) {
      const got = await this.store.get<{ id: string }>(K.organization);
      if (got !== undefined) return got.value.id;
      const id = `o-${randomLower(10)}`;
      if (await this.store.txn({ compare: [{ key: K.organization, version: 0 }], put: [{ key: K.organization, value: { id, createDate: new Date().toISOString() } }] })) return id;
    }
  }

  /** arn:aws:organizations::<management>:account/<org>/<account>. */
  async accountArn(accountId: string): Promise<string> {
    return `arn:aws:organizations::${this.managementAccountId}:account/${await this.id()}/${accountId}`;
  }

  private async view(record: AccountRecord): Promise<OrgAccount> {
    const closed = accountState(record) === 'CLOSED';
    return { record, arn: await this.accountArn(record.accountId), status: closed ? 'SUSPENDED' : 'ACTIVE', state: closed ? 'CLOSED' : 'ACTIVE' };
  }

  /** Every account (open and closed), by id. */
  async listAccounts(): Promise<OrgAccount[]> {
    return Promise.all((await this.iam.listAccounts()).map((a) => this.view(a)));
  }

  async describeAccount(accountId: string): Promise<OrgAccount> {
    const a = await this.iam.getAccount(accountId);
    if (a === undefined) throw new OrganizationsError('AccountNotFoundException', "You specified an account that doesn't exist.", { accountId });
    return this.view(a);
  }

  /** A new account with an access key for its root; FAILED (EMAIL_ALREADY_EXISTS) when an open account has that email. */
  async createAccount(accountName: string, email: string): Promise<CreatedAccount> {
    const requested = new Date().toISOString();
    const id = `car-${randomLower(32)}`;
    const taken = (await this.iam.listAccounts()).some((a) => accountState(a) === 'ACTIVE' && a.email?.toLowerCase() === email.toLowerCase());
    if (taken) {
      const status: CreateAccountStatusRecord = { id, accountName, state: 'FAILED', requestedTimestamp: requested, completedTimestamp: new Date().toISOString(), failureReason: 'EMAIL_ALREADY_EXISTS' };
      await this.store.put(K.status(id), { ...status });
      return { status };
    }
    const account = await this.iam.createAccount(accountName, { email });
    const key = await this.iam.createAccessKey(account.accountId, ROOT_USER);
    const status: CreateAccountStatusRecord = { id, accountName, state: 'SUCCEEDED', requestedTimestamp: requested, completedTimestamp: new Date().toISOString(), accountId: account.accountId };
    await this.store.put(K.status(id), { ...status });
    return { status, rootAccessKey: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } };
  }

  async describeCreateAccountStatus(id: string): Promise<CreateAccountStatusRecord> {
    const got = /^car-[a-z0-9]{8,32}$/.test(id) ? await this.store.get<CreateAccountStatusRecord>(K.status(id)) : undefined;
    if (got === undefined) throw new OrganizationsError('CreateAccountStatusNotFoundException', "We can't find a create account request with the CreateAccountRequestId that you specified.", { id });
    return got.value;
  }

  /** Every CreateAccount status, oldest first. */
  async listCreateAccountStatus(): Promise<CreateAccountStatusRecord[]> {
    const all = (await this.store.list<CreateAccountStatusRecord>(K.statuses)).map((e) => e.value);
    return all.sort((a, b) => (a.requestedTimestamp < b.requestedTimestamp ? -1 : a.requestedTimestamp > b.requestedTimestamp ? 1 : a.id < b.id ? -1 : 1));
  }

  /** Closes a member account; its keys stop at once, nothing it owns is touched. */
  async closeAccount(accountId: string): Promise<void> {
    if (accountId === this.managementAccountId) {
      throw new OrganizationsError('ConstraintViolationException', "You can't close the management account.", { accountId }, 'CANNOT_CLOSE_MANAGEMENT_ACCOUNT');
    }
    const r = await this.iam.closeAccount(accountId);
    if ('error' in r) {
      if (r.error === 'already-closed') throw new OrganizationsError('AccountAlreadyClosedException', 'You attempted to close an account that is already closed.', { accountId });
      throw new OrganizationsError('AccountNotFoundException', "You specified an account that doesn't exist.", { accountId });
    }
  }
}
