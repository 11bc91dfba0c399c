import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite-store.js';
import { authenticate, presentedAccessKeyId } from './authenticate.js';
import { Iam } from './iam.js';
import { presignRequest, signRequest } from './sigv4/sign.js';
import { isSigV4Error } from './sigv4/errors.js';
import type { SigV4Request } from './sigv4/verify.js';

const BODY = 'Action=DescribeInstances&Version=2016-11-15';

function signed(creds: { accessKeyId: string; secretAccessKey: string }, now = new Date()): SigV4Request {
  const s = signRequest({ method: 'POST', path: '/', query: '', headers: { host: '127.0.0.1:8773', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: BODY }, creds, { region: 'local-1', service: 'ec2', now });
  return { method: 'POST', path: '/', query: '', headers: s.headers, body: Buffer.from(BODY) };
}

describe('authenticate (SigV4 + IAM keys)', () => {
  let home = '';
  let store: SqliteStore;
  let iam: Iam;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-authn-'));
    store = await SqliteStore.open(join(home, 'region', 'state.db'));
    iam = Iam.open(store, { home });
  });
  after(async () => {
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  const reason = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      assert.ok(isSigV4Error(e), String(e));
      return e.reason;
    }
    return 'accepted';
  };
  const opts = { now: new Date(), service: 'ec2', region: 'local-1' };

  it('accepts a request signed with a live key and names its owner', async () => {
    const b = await iam.bootstrap();
    const a = await authenticate(iam, signed(b), { ...opts, now: new Date() });
    assert.equal(a.key.principal.userName, 'root');
    assert.equal(a.key.accountId, b.accountId);
    assert.equal(a.identity.accessKeyId, b.accessKeyId);
    await iam.createUser(b.accountId, 'alice');
    const k = await iam.createAccessKey(b.accountId, 'alice');
    const q = presignRequest({ method: 'GET', path: '/', query: 'Action=DescribeInstances&Version=2016-11-15', headers: { host: '127.0.0.1:8773' } }, k, { region: 'local-1', service: 'ec2', now: new Date(), expiresIn: 60 });
    const req: SigV4Request = { method: 'GET', path: '/', query: q.query, headers: { host: '127.0.0.1:8773' }, body: new Uint8Array(0) };
    assert.equal(presentedAccessKeyId(req), k.accessKeyId);
    assert.equal((await authenticate(iam, req, { ...opts, now: new Date() })).key.principal.userName, 'alice');
  });

  it('refuses unknown, deleted and wrongly-signed keys, and unsigned requests', async () => {
    const b = await iam.bootstrap();
    assert.equal(await reason(authenticate(iam, signed({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x'.repeat(40) }), opts)), 'unknown-key');
    assert.equal(await reason(authenticate(iam, signed({ accessKeyId: b.accessKeyId, secretAccessKey: 'y'.repeat(40) }), opts)), 'bad-signature');
    const k = await iam.createAccessKey(b.accountId, 'alice');
    assert.equal(await reason(authenticate(iam, signed(k), { ...opts, now: new Date() })), 'accepted');
    await iam.deleteAccessKey(b.accountId, 'alice', k.accessKeyId);
    assert.equal(await reason(authenticate(iam, signed(k), { ...opts, now: new Date() })), 'unknown-key');
    assert.equal(await reason(authenticate(iam, { method: 'POST', path: '/', query: '', headers: { host: 'h' }, body: Buffer.from(BODY) }, opts)), 'missing');
    assert.equal(await reason(authenticate(iam, { method: 'POST', path: '/', query: '', headers: { host: 'h', authorization: 'AWS4-HMAC-SHA256 garbage' }, body: Buffer.from(BODY) }, opts)), 'malformed');
    assert.equal(await reason(authenticate(iam, signed(b, new Date(Date.now() - 20 * 60_000)), { ...opts, now: new Date() })), 'expired');
  });
});
