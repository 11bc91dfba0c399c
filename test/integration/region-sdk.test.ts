// The region's API through @aws-sdk/client-ec2 v3 and raw signed requests, against a
// Region opened in this process over a seeded store. Its only host is a phantom (nothing
// listens at its loopback port), so launched instances stay pending and seeded ones stay
// as seeded: enough for pagination, filters, tags, images, every negative case and the
// audit trail, without guests. The guest lifecycle is in test/vm/region-*.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DescribeTagsCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RebootInstancesCommand,
  CopyImageCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  paginateDescribeInstances,
  type Instance,
} from '@aws-sdk/client-ec2';
import { ROOT_USER } from '../../src/iam/iam.js';
import { presignRequest, signRequest } from '../../src/iam/sigv4/index.js';
import type { Region } from '../../src/region/region.js';
import { REFUSALS_EVENT_NAME, type RefusalCount } from '../../src/region/api/refusals.js';
import type { InstanceRecord } from '../../src/region/ec2/model.js';
import { BUILTIN_AMI, auditEvents, auditVerify, dumpDiagnostics, instanceRecord, openLocalRegion, phantomHost, seedStore, failureTracker } from '../region-fixtures.js';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

let home = '';
let region: Region | undefined;
const run = failureTracker();
let rootCreds: Creds;
let accountId = '';
const seeded: InstanceRecord[] = [];
/** requestIds of every call made that authenticated, allowed or denied, to find in the audit log. */
const requestIds: string[] = [];
/** Codes of the requests that failed authentication: counted in the RefusedRequests record, not written one by one. */
const refusedCodes: string[] = [];
const AUTH_REFUSALS = new Set(['MissingAuthenticationToken', 'AuthFailure', 'RequestExpired', 'IncompleteSignature', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'MalformedQueryString', 'RequestEntityTooLarge']);
function track(id: string | undefined | null, code?: string): void {
  if (code !== undefined && AUTH_REFUSALS.has(code)) refusedCodes.push(code);
  else if (id) requestIds.push(id);
}
const USER_DATA_PLAIN = 'echo secret-user-data-7f3a9c';

const guarded = run.guarded;

function client(creds: Creds = rootCreds): EC2Client {
  return new EC2Client({ endpoint: region!.endpoint, region: 'local-1', credentials: creds, maxAttempts: 1 });
}

async function call<T>(p: Promise<T>): Promise<T> {
  const out = await p;
  const id = (out as { $metadata?: { requestId?: string } }).$metadata?.requestId;
  if (id) requestIds.push(id);
  return out;
}

/** The exact EC2 error code a call fails with (SDK error name), recording its requestId. */
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await call(p);
  } catch (e) {
    const err = e as { name: string; Code?: string; $metadata?: { requestId?: string } };
    track(err.$metadata?.requestId, err.Code ?? err.name);
    return err.Code ?? err.name;
  }
  return 'no error';
}

/** What the caller sees and what the store holds (ids, states, tags), for "nothing changed" checks. */
async function snapshot(): Promise<string> {
  const rows = await region!.store.list('ec2/instances/', { limit: 100_000 });
  const imgs = await region!.store.list('ec2/images/', { limit: 100_000 });
  return JSON.stringify({ rows: rows.map((r) => [r.key, r.version]), imgs: imgs.map((r) => [r.key, r.version]) });
}

async function unchanged(what: string, fn: () => Promise<void>): Promise<void> {
  const before = await snapshot();
  await fn();
  assert.equal(await snapshot(), before, `${what} changed the store`);
}

/** A raw POST of a form body, optionally signed with the given signer. */
async function rawPost(form: string, headers: Record<string, string>): Promise<{ status: number; body: string; code: string | undefined; requestId: string | undefined }> {
  const res = await fetch(region!.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...headers }, body: form });
  const body = await res.text();
  const requestId = res.headers.get('x-amzn-requestid') ?? undefined;
  const code = /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
  track(requestId, code);
  return { status: res.status, body, code, requestId };
}

function signed(form: string, creds: Creds, now = new Date()): Record<string, string> {
  const host = new URL(region!.endpoint).host;
  const s = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: form },
    creds,
    { region: 'local-1', service: 'ec2', now },
  );
  return s.headers;
}

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-region-sdk-'));
  // First open: bootstrap the account, then seed records for it and reopen.
  const first = await openLocalRegion(home);
  accountId = first.credentials.accountId;
  await first.close();
  const host = phantomHost(2048 + 2 * 512); // room for two t3.nano beyond the seeded (stopped) ones
  for (let i = 0; i < 12; i++) {
    seeded.push(
      instanceRecord(accountId, host.id, {
        tags: { fleet: 'seed', idx: String(i), ...(i % 3 === 0 ? { role: 'web' } : {}) },
        instanceType: i % 2 === 0 ? 't3.nano' : 't3.micro',
      }),
    );
  }
  seeded.push(instanceRecord(accountId, host.id, { state: 'terminated', desired: 'terminated', terminatedAt: new Date().toISOString(), tags: { fleet: 'gone' } }));
  await seedStore(home, { hosts: [host], instances: seeded });
  region = await openLocalRegion(home);
  rootCreds = { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey };
});

after(async () => {
  try {
    if (region) await region.close();
  } finally {
    if (run.failed) dumpDiagnostics(home);
    await rm(home, { recursive: true, force: true });
  }
});

test(
  'paginateDescribeInstances walks more than one page (MaxResults 5) and sees every instance once',
  guarded(async () => {
    const seen: string[] = [];
    let pages = 0;
    for await (const p of paginateDescribeInstances({ client: client(), pageSize: 5 }, { MaxResults: 5 })) {
      pages++;
      if (p.$metadata.requestId) requestIds.push(p.$metadata.requestId);
      for (const r of p.Reservations ?? []) for (const i of r.Instances ?? []) seen.push(i.InstanceId!);
    }
    assert.ok(pages >= 3, `expected at least 3 pages, got ${pages}`);
    assert.equal(new Set(seen).size, seen.length, 'no instance twice');
    assert.deepEqual([...seen].sort(), seeded.map((s) => s.id).sort());
  }),
);

test(
  'filters: tag:k, tag-key, instance-state-name, instance-type, image-id',
  guarded(async () => {
    const ids = async (filters: { Name: string; Values: string[] }[]): Promise<string[]> => {
      const out = await call(client().send(new DescribeInstancesCommand({ Filters: filters })));
      return (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId!)).sort();
    };
    const web = seeded.filter((s) => s.tags['role'] === 'web').map((s) => s.id).sort();
    assert.deepEqual(await ids([{ Name: 'tag:role', Values: ['web'] }]), web);
    assert.deepEqual(await ids([{ Name: 'tag-key', Values: ['role'] }]), web);
    assert.deepEqual(await ids([{ Name: 'tag:idx', Values: ['1', '2'] }]), seeded.filter((s) => ['1', '2'].includes(s.tags['idx'] ?? '')).map((s) => s.id).sort());
    assert.deepEqual(await ids([{ Name: 'instance-state-name', Values: ['terminated'] }]), [seeded[12]!.id]);
    assert.equal((await ids([{ Name: 'instance-state-name', Values: ['stopped'] }])).length, 12);
    assert.deepEqual(
      await ids([
        { Name: 'instance-type', Values: ['t3.micro'] },
        { Name: 'tag:role', Values: ['web'] },
      ]),
      seeded.filter((s) => s.instanceType === 't3.micro' && s.tags['role'] === 'web').map((s) => s.id).sort(),
    );
    assert.equal((await ids([{ Name: 'image-id', Values: [BUILTIN_AMI] }])).length, 13);
    assert.deepEqual(await ids([{ Name: 'tag:role', Values: ['nope'] }]), []);
  }),
);

test(
  'DescribeInstanceTypes, DescribeRegions, DescribeAvailabilityZones',
  guarded(async () => {
    const t = await call(client().send(new DescribeInstanceTypesCommand({ InstanceTypes: ['t3.nano'] })));
    assert.equal(t.InstanceTypes?.[0]?.InstanceType, 't3.nano');
    assert.equal(t.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB, 512);
    assert.equal(t.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus, 2);
    const all = await call(client().send(new DescribeInstanceTypesCommand({})));
    assert.ok((all.InstanceTypes?.length ?? 0) > 3);
    const r = await call(client().send(new DescribeRegionsCommand({})));
    assert.equal(r.Regions?.[0]?.RegionName, 'local-1');
    assert.equal(r.Regions?.[0]?.Endpoint, `127.0.0.1:${region!.port}`);
    const z = await call(client().send(new DescribeAvailabilityZonesCommand({})));
    assert.deepEqual(z.AvailabilityZones?.map((a) => [a.ZoneName, a.State]), [['local-1a', 'available']]);
  }),
);

test(
  'CreateTags, DescribeTags, DeleteTags',
  guarded(async () => {
    const id = seeded[1]!.id;
    await call(client().send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'owner', Value: 'qa' }, { Key: 'tmp', Value: '1' }] })));
    const d = await call(client().send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] })));
    const tags = Object.fromEntries((d.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags['owner'], 'qa');
    assert.equal(tags['tmp'], '1');
    assert.equal(d.Tags?.[0]?.ResourceType, 'instance');
    await call(client().send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'tmp' }] })));
    const after = await call(client().send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    const t2 = Object.fromEntries((after.Reservations?.[0]?.Instances?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(t2['owner'], 'qa');
    assert.equal(t2['tmp'], undefined);
    const byKey = await call(client().send(new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['owner'] }] })));
    assert.deepEqual(byKey.Tags?.map((t) => t.ResourceId), [id]);
  }),
);

test(
  'RegisterImage from a directory, DescribeImages owners self/amazon, DeregisterImage',
  guarded(async () => {
    const builtin = region!.images.describe({ accountId, arn: '' }, { imageIds: [BUILTIN_AMI], owners: [], filters: [] })[0]!;
    const dir = mkdtempSync(join(home, 'img-'));
    copyFileSync(builtin.kernel!.path, join(dir, 'vmlinux'));
    copyFileSync(builtin.initrd!.path, join(dir, 'initrd.img'));
    const reg = await call(client().send(new RegisterImageCommand({ Name: 'my-image-1', ImageLocation: dir, Description: 'copy' })));
    assert.match(reg.ImageId ?? '', /^ami-[0-9a-f]{17}$/);
    const self = await call(client().send(new DescribeImagesCommand({ Owners: ['self'] })));
    assert.deepEqual(self.Images?.map((i) => i.ImageId), [reg.ImageId]);
    assert.equal(self.Images?.[0]?.OwnerId, accountId);
    assert.equal(self.Images?.[0]?.Public, false);
    const amazon = await call(client().send(new DescribeImagesCommand({ Owners: ['amazon'] })));
    assert.deepEqual(amazon.Images?.map((i) => i.Name), ['nitride-minimal']);
    assert.equal(await code(client().send(new RegisterImageCommand({ Name: 'my-image-1', ImageLocation: dir }))), 'InvalidAMIName.Duplicate');
    await call(client().send(new DeregisterImageCommand({ ImageId: reg.ImageId })));
    const gone = await call(client().send(new DescribeImagesCommand({ Owners: ['self'] })));
    assert.deepEqual(gone.Images ?? [], []);
    assert.equal(await code(client().send(new DeregisterImageCommand({ ImageId: reg.ImageId }))), 'InvalidAMIID.NotFound');
  }),
);

test(
  'InvalidAMIName.Duplicate names the caller\'s own image, never another account\'s',
  guarded(async () => {
    const builtin = region!.images.describe({ accountId, arn: '' }, { imageIds: [BUILTIN_AMI], owners: [], filters: [] })[0]!;
    const dir = mkdtempSync(join(home, 'img-dup-'));
    copyFileSync(builtin.kernel!.path, join(dir, 'vmlinux'));
    copyFileSync(builtin.initrd!.path, join(dir, 'initrd.img'));
    // Another tenant takes the name first (a copy of the public image: a tenant may not register
    // from a path on the region's machine, and learns nothing about it), so its image sorts
    // wherever its id falls.
    const other = await region!.iam.createAccount('dup-other');
    const ok = await region!.iam.createAccessKey(other.accountId, ROOT_USER);
    const tenant = client({ accessKeyId: ok.accessKeyId, secretAccessKey: ok.secretAccessKey });
    for (const location of [dir, '/etc', '/nonexistent-dir']) {
      assert.equal(await code(tenant.send(new RegisterImageCommand({ Name: 'from-a-path', ImageLocation: location }))), 'UnauthorizedOperation', location);
    }
    const theirs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(tenant.send(new CopyImageCommand({ Name: `dup-name-${i}`, SourceImageId: BUILTIN_AMI, SourceRegion: 'local-1' })));
      theirs.push(r.ImageId!);
    }
    for (let i = 0; i < 4; i++) {
      const mine = await call(client().send(new RegisterImageCommand({ Name: `dup-name-${i}`, ImageLocation: dir })));
      try {
        await call(client().send(new RegisterImageCommand({ Name: `dup-name-${i}`, ImageLocation: dir })));
        assert.fail('a duplicate name was accepted');
      } catch (e) {
        const err = e as { name: string; message: string; $metadata?: { requestId?: string } };
        if (err.$metadata?.requestId) requestIds.push(err.$metadata.requestId);
        assert.equal(err.name, 'InvalidAMIName.Duplicate');
        assert.ok(err.message.includes(mine.ImageId!), `the message names the caller's image: ${err.message}`);
        for (const t of theirs) assert.ok(!err.message.includes(t), `the message leaks another account's image ${t}: ${err.message}`);
      }
      await call(client().send(new DeregisterImageCommand({ ImageId: mine.ImageId })));
    }
  }),
);

test(
  'authentication failures get EC2 codes: missing, unknown key, bad signature, clock skew, expired presign',
  guarded(async () => {
    const form = 'Action=DescribeInstances&Version=2016-11-15';
    await unchanged('auth failures', async () => {
      assert.equal((await rawPost(form, {})).code, 'MissingAuthenticationToken');
      assert.equal(await code(client({ accessKeyId: 'AKIAEXAMPLENOTAKEY00', secretAccessKey: 'x'.repeat(40) }).send(new DescribeInstancesCommand({}))), 'AuthFailure');
      assert.equal(await code(client({ accessKeyId: rootCreds.accessKeyId, secretAccessKey: 'y'.repeat(40) }).send(new DescribeInstancesCommand({}))), 'AuthFailure');
      const skewed = await rawPost(form, signed(form, rootCreds, new Date(Date.now() - 16 * 60_000)));
      assert.equal(skewed.code, 'RequestExpired');
      const ahead = await rawPost(form, signed(form, rootCreds, new Date(Date.now() + 16 * 60_000)));
      assert.equal(ahead.code, 'RequestExpired');
      const ok = await rawPost(form, signed(form, rootCreds, new Date(Date.now() - 14 * 60_000)));
      assert.equal(ok.status, 200, ok.body);
      // Presigned GET: valid now, expired when signed an hour ago for 60 s.
      const host = new URL(region!.endpoint).host;
      const pre = (now: Date): string =>
        presignRequest({ method: 'GET', path: '/', query: form, headers: { host } }, rootCreds, { region: 'local-1', service: 'ec2', now, expiresIn: 60 }).query;
      const good = await fetch(`${region!.endpoint}?${pre(new Date())}`);
      const goodId = good.headers.get('x-amzn-requestid');
      if (goodId) requestIds.push(goodId);
      assert.equal(good.status, 200, await good.text());
      const old = await fetch(`${region!.endpoint}?${pre(new Date(Date.now() - 3600_000))}`);
      const oldId = old.headers.get('x-amzn-requestid');
      track(oldId, 'RequestExpired');
      assert.match(await old.text(), /<Code>RequestExpired<\/Code>/);
      const tampered = await fetch(`${region!.endpoint}?${pre(new Date()).replace('DescribeInstances', 'DescribeImages')}`);
      assert.match(await tampered.text(), /<Code>AuthFailure<\/Code>/);
    });
  }),
);

test(
  'IAM: describe-only user is denied RunInstances; explicit Deny beats Allow; DryRun allowed/denied',
  guarded(async () => {
    const iam = region!.iam;
    await iam.createUser(accountId, 'reader');
    await iam.putUserPolicy(accountId, 'reader', 'ro', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] }));
    const rk = await iam.createAccessKey(accountId, 'reader');
    const reader = client({ accessKeyId: rk.accessKeyId, secretAccessKey: rk.secretAccessKey });
    await iam.createUser(accountId, 'almost-admin');
    await iam.putUserPolicy(
      accountId,
      'almost-admin',
      'p',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'ec2:*', Resource: '*' },
          { Effect: 'Deny', Action: ['ec2:TerminateInstances', 'ec2:Run*'], Resource: '*' },
        ],
      }),
    );
    const ak = await iam.createAccessKey(accountId, 'almost-admin');
    const almost = client({ accessKeyId: ak.accessKeyId, secretAccessKey: ak.secretAccessKey });

    const d = await call(reader.send(new DescribeInstancesCommand({ MaxResults: 5 })));
    assert.ok((d.Reservations?.length ?? 0) > 0);
    const run = { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };
    await unchanged('denied calls', async () => {
      assert.equal(await code(reader.send(new RunInstancesCommand(run))), 'UnauthorizedOperation');
      assert.equal(await code(reader.send(new StopInstancesCommand({ InstanceIds: [seeded[0]!.id] }))), 'UnauthorizedOperation');
      assert.equal(await code(reader.send(new RunInstancesCommand({ ...run, DryRun: true }))), 'UnauthorizedOperation');
      assert.equal(await code(almost.send(new TerminateInstancesCommand({ InstanceIds: [seeded[0]!.id] }))), 'UnauthorizedOperation');
      assert.equal(await code(almost.send(new RunInstancesCommand(run))), 'UnauthorizedOperation');
      // DryRun of an allowed call: DryRunOperation, and nothing happens.
      assert.equal(await code(client().send(new RunInstancesCommand({ ...run, DryRun: true }))), 'DryRunOperation');
      assert.equal(await code(almost.send(new CreateTagsCommand({ DryRun: true, Resources: [seeded[0]!.id], Tags: [{ Key: 'a', Value: 'b' }] }))), 'DryRunOperation');
      assert.equal(await code(client().send(new TerminateInstancesCommand({ DryRun: true, InstanceIds: [seeded[0]!.id] }))), 'DryRunOperation');
      assert.equal(await code(client().send(new StopInstancesCommand({ DryRun: true, InstanceIds: [seeded[0]!.id] }))), 'DryRunOperation');
    });
    // The allowed part of almost-admin's policy works.
    await call(almost.send(new CreateTagsCommand({ Resources: [seeded[2]!.id], Tags: [{ Key: 'by', Value: 'almost' }] })));
  }),
);

test(
  'accounts are tenants: a second account sees NotFound for the first account\'s instance',
  guarded(async () => {
    const iam = region!.iam;
    const other = await iam.createAccount('other');
    const k = await iam.createAccessKey(other.accountId, ROOT_USER);
    const c2 = client({ accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey });
    const id = seeded[0]!.id;
    await unchanged('cross-account calls', async () => {
      assert.equal(await code(c2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new StartInstancesCommand({ InstanceIds: [id] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new TerminateInstancesCommand({ InstanceIds: [id] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'x', Value: 'y' }] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new StopInstancesCommand({ InstanceIds: [id] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new RebootInstancesCommand({ InstanceIds: [id] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new GetConsoleOutputCommand({ InstanceId: id }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id], IncludeAllInstances: true }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(c2.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'fleet' }] }))), 'InvalidInstanceID.NotFound');
      const tags = await call(c2.send(new DescribeTagsCommand({})));
      assert.deepEqual(tags.Tags ?? [], [], 'no tags of another account');
      const st = await call(c2.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true })));
      assert.deepEqual(st.InstanceStatuses ?? [], []);
      const all = await call(c2.send(new DescribeInstancesCommand({})));
      assert.deepEqual(all.Reservations ?? [], []);
      const imgs = await call(c2.send(new DescribeImagesCommand({ Owners: ['self'] })));
      assert.deepEqual(imgs.Images ?? [], []);
    });
  }),
);

test(
  'bad input gets the exact EC2 code and changes nothing',
  guarded(async () => {
    const terminated = seeded[12]!.id;
    const stopped = seeded[3]!.id;
    const run = { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' as const, MinCount: 1, MaxCount: 1 };
    await unchanged('bad calls', async () => {
      assert.equal(await code(client().send(new DescribeInstancesCommand({ InstanceIds: ['i-xyz'] }))), 'InvalidInstanceID.Malformed');
      assert.equal(await code(client().send(new TerminateInstancesCommand({ InstanceIds: ['bogus'] }))), 'InvalidInstanceID.Malformed');
      assert.equal(await code(client().send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(client().send(new StopInstancesCommand({ InstanceIds: [stopped, 'i-0123456789abcdef0'] }))), 'InvalidInstanceID.NotFound');
      assert.equal(await code(client().send(new StartInstancesCommand({ InstanceIds: [terminated] }))), 'IncorrectInstanceState');
      assert.equal(await code(client().send(new StopInstancesCommand({ InstanceIds: [terminated] }))), 'IncorrectInstanceState');
      assert.equal(await code(client().send(new RunInstancesCommand({ InstanceType: 't3.nano', MinCount: 1, MaxCount: 1 }))), 'MissingParameter');
      assert.equal(await code(client().send(new StopInstancesCommand({ InstanceIds: [] }))), 'MissingParameter');
      assert.equal(await code(client().send(new RunInstancesCommand({ ...run, InstanceType: 'x9.huge' as 't3.nano' }))), 'InvalidParameterValue');
      assert.equal(await code(client().send(new RunInstancesCommand({ ...run, ImageId: 'ami-0123456789abcdef0' }))), 'InvalidAMIID.NotFound');
      assert.equal(await code(client().send(new RunInstancesCommand({ ...run, ImageId: 'ami-zz' }))), 'InvalidAMIID.Malformed');
      // Capacity: the host has room for two t3.nano, not three.
      assert.equal(await code(client().send(new RunInstancesCommand({ ...run, MinCount: 3, MaxCount: 3 }))), 'InsufficientInstanceCapacity');
      assert.equal(await code(client().send(new DescribeInstancesCommand({ NextToken: 'not-a-token' }))), 'InvalidNextToken');
      const bad = await rawPost('Action=NoSuchAction&Version=2016-11-15', signed('Action=NoSuchAction&Version=2016-11-15', rootCreds));
      assert.equal(bad.code, 'InvalidAction');
    });
  }),
);

test(
  'RunInstances records a pending instance (user-data is kept but redacted in the audit); ClientToken is idempotent',
  guarded(async () => {
    const ud = Buffer.from(USER_DATA_PLAIN).toString('base64');
    const c = client();
    const r1 = await call(c.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: ud, ClientToken: 'tok-1', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k', Value: 'v' }] }] })));
    const inst = r1.Instances![0]! as Instance;
    assert.equal(inst.State?.Name, 'pending');
    const r2 = await call(c.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, UserData: ud, ClientToken: 'tok-1' })));
    assert.equal(r2.Instances![0]!.InstanceId, inst.InstanceId);
    const byTag = await call(c.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:k', Values: ['v'] }] })));
    assert.deepEqual(byTag.Reservations?.flatMap((r) => r.Instances?.map((i) => i.InstanceId)), [inst.InstanceId]);
    // Terminate it: the region records shutting-down before any host hears of it.
    const t = await call(c.send(new TerminateInstancesCommand({ InstanceIds: [inst.InstanceId!] })));
    assert.equal(t.TerminatingInstances?.[0]?.CurrentState?.Name, 'shutting-down');
  }),
);

test(
  'the audit trail holds every call (allowed and denied), redacts user-data, and verifies',
  guarded(async () => {
    // Reads are recorded before their answer leaves; let the last completions land.
    await region!.trail.flush();
    await region!.api.admission.refusals.flush();
    const events = auditEvents(home);
    const seen = new Set(events.map((e) => e['requestID'] as string));
    assert.ok(requestIds.length > 50, `requests tracked: ${requestIds.length}`);
    const missing = requestIds.filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], 'every request id is in the audit log');
    // Failed authentications are counters of the RefusedRequests record, one per interval.
    const refused = events.filter((e) => e['eventName'] === REFUSALS_EVENT_NAME).flatMap((e) => (e['requestParameters'] as { counts: RefusalCount[] }).counts);
    assert.ok(refused.reduce((n, c) => n + c.count, 0) >= refusedCodes.length, `${refusedCodes.length} refusals counted`);
    for (const c of new Set(refusedCodes)) assert.ok(refused.some((r) => r.errorCode === c), `a RefusedRequests counter for ${c}`);
    const codes = new Set([...events.map((e) => e['errorCode']), ...refused.map((c) => c.errorCode)].filter(Boolean));
    for (const c of ['MissingAuthenticationToken', 'AuthFailure', 'RequestExpired', 'UnauthorizedOperation', 'DryRunOperation', 'InvalidInstanceID.Malformed', 'InvalidInstanceID.NotFound', 'IncorrectInstanceState', 'MissingParameter', 'InsufficientInstanceCapacity']) {
      assert.ok(codes.has(c), `an audit record with errorCode ${c}`);
    }
    const text = readFileSync(join(home, 'region', 'audit.log'), 'utf8');
    assert.ok(!text.includes(Buffer.from(USER_DATA_PLAIN).toString('base64')), 'user-data (base64) is not in the audit log');
    assert.ok(!text.includes('secret-user-data'), 'user-data (plain) is not in the audit log');
    assert.ok(!text.includes(rootCreds.secretAccessKey), 'no secret key in the audit log');
    const run = events.find((e) => e['eventName'] === 'RunInstances' && (e['requestParameters'] as Record<string, unknown> | undefined)?.['UserData'] !== undefined);
    assert.ok(run, 'the RunInstances with user-data is recorded');
    // The secret is in the store only sealed.
    const db = readFileSync(join(home, 'region', 'state.db'));
    assert.equal(db.includes(Buffer.from(rootCreds.secretAccessKey)), false, 'the secret key is not in state.db in plain text');
    const v = auditVerify(home);
    assert.equal(v.status, 0, `audit verify: ${v.stdout}${v.stderr}`);
  }),
);
