// The Organizations handler without HTTP: the management account only, Organizations' codes for
// malformed bodies, unknown operations and bad members, and the audit view without the email or
// the new account's secret.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { Iam } from '../iam/iam.js';
import { handleOrganizationsRequest } from './api.js';
import { Organization } from './organization.js';

describe('handleOrganizationsRequest', () => {
  let home = '';
  let store: SqliteStore;
  let iam: Iam;
  let org: Organization;
  let operator: { accountId: string; userName: string; arn: string };
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-org-'));
    store = await SqliteStore.open(join(home, 'region', 'state.db'));
    iam = Iam.open(store, { home });
    const boot = await iam.bootstrap();
    org = new Organization(store, iam, boot.accountId, 'local-1');
    operator = { accountId: boot.accountId, userName: 'root', arn: `arn:aws:iam::${boot.accountId}:root` };
  });
  after(async () => {
    await store.close();
    await rm(home, { recursive: true, force: true });
  });
  const call = (who: { accountId: string; userName: string; arn: string }, op: string, body: unknown) =>
    handleOrganizationsRequest(org, iam, who, `AWSOrganizationsV20161128.${op}`, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), {});
  const typeOf = (r: { body: string }): string => (JSON.parse(r.body) as { __type?: string }).__type ?? 'none';

  it('creates an account for the operator; the answer carries the root key once, the audit view neither key nor email', async () => {
    const r = await call(operator, 'CreateAccount', { AccountName: 'x', Email: 'x@example.invalid' });
    assert.equal(r.status, 200, r.body);
    const out = JSON.parse(r.body) as { CreateAccountStatus: { State: string; AccountId: string }; NitrideRootAccessKey: { AccessKeyId: string; SecretAccessKey: string } };
    assert.equal(out.CreateAccountStatus.State, 'SUCCEEDED');
    assert.equal((await iam.lookupAccessKey(out.NitrideRootAccessKey.AccessKeyId))?.accountId, out.CreateAccountStatus.AccountId);
    const audit = JSON.stringify([r.requestParameters, r.responseElements]);
    assert.ok(!audit.includes(out.NitrideRootAccessKey.SecretAccessKey));
    assert.ok(!audit.includes('x@example.invalid'));
    assert.ok(audit.includes(out.NitrideRootAccessKey.AccessKeyId));
    // another account: AccessDeniedException for every operation
    const other = { accountId: out.CreateAccountStatus.AccountId, userName: 'root', arn: `arn:aws:iam::${out.CreateAccountStatus.AccountId}:root` };
    for (const op of ['CreateAccount', 'ListAccounts', 'DescribeAccount', 'CloseAccount', 'ListCreateAccountStatus', 'DescribeCreateAccountStatus']) {
      assert.equal(typeOf(await call(other, op, { AccountId: operator.accountId, AccountName: 'y', Email: 'y@example.invalid', CreateAccountRequestId: 'car-00000000' })), 'AccessDeniedException', op);
    }
  });

  it("answers bad requests with Organizations' codes", async () => {
    assert.equal(typeOf(await call(operator, 'ListAccounts', '[1,2]')), 'SerializationException');
    assert.equal(typeOf(await call(operator, 'ListAccounts', '{')), 'SerializationException');
    assert.equal(typeOf(await call(operator, 'LeaveOrganization', {})), 'UnknownOperationException');
    assert.equal(typeOf(await call(operator, 'CreateAccount', { AccountName: 'x' })), 'InvalidInputException');
    assert.equal(typeOf(await call(operator, 'CreateAccount', { AccountName: 7, Email: 'x@example.invalid' })), 'SerializationException');
    assert.equal(typeOf(await call(operator, 'CreateAccount', { AccountName: 'x', Email: 'z@example.invalid', RoleName: 'R' })), 'InvalidInputException');
    assert.equal(typeOf(await call(operator, 'DescribeAccount', { AccountId: '12' })), 'InvalidInputException');
    assert.equal(typeOf(await call(operator, 'ListAccounts', { MaxResults: 0 })), 'InvalidInputException');
    assert.equal(typeOf(await call(operator, 'ListCreateAccountStatus', { States: ['DONE'] })), 'InvalidInputException');
    const bad = await call(operator, 'DescribeAccount', { AccountId: '12' });
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { Reason?: string }).Reason, 'INVALID_PATTERN');
  });
});
