import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHash, createHmac } from 'node:crypto';
import { NodeSha256 } from '../../lib/testing/node-sha256.js';
import { SignatureV4 } from '@smithy/signature-v4';
import { EC2Client, DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  verifySigV4,
  signRequest,
  presignRequest,
  canonicalRequest,
  canonicalUri,
  parseQueryPairs,
  stringToSign,
  credentialScope,
  deriveSigningKey,
  signatureHex,
  SigV4Error,
  type SigV4Request,
  type HeaderMap,
} from './index.js';

interface Vector {
  name: string;
  kind?: 'header' | 'query';
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: string;
  canonicalRequest?: string;
  stringToSign?: string;
  authorization?: string;
  signature: string;
}
interface VectorFile {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  time: string;
  vectors: Vector[];
}

const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/sigv4/', import.meta.url));
const load = (name: string): VectorFile => JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as VectorFile;
const published = load('suite-published.json');
const derived = load('derived-botocore.json');
const SUITE_NOW = new Date('2015-08-30T12:36:00Z');

function headerMap(pairs: readonly (readonly [string, string])[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of pairs) (out[k.toLowerCase()] ??= []).push(v);
  return out;
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SigV4Error, `expected SigV4Error, got ${String(e)}`);
    return e.reason;
  }
  assert.fail('expected a SigV4Error');
}

const lookupFor =
  (f: { accessKeyId: string; secretAccessKey: string }) =>
  (id: string): { secretAccessKey: string } | undefined =>
    id === f.accessKeyId ? { secretAccessKey: f.secretAccessKey } : undefined;

test('each step reproduces the published SigV4 test-suite values', () => {
  for (const v of published.vectors) {
    const headers = headerMap(v.headers);
    const signedHeaders = Object.keys(headers).sort();
    const body = Buffer.from(v.body);
    const payloadHash = createHash('sha256').update(body).digest('hex');
    const cr = canonicalRequest({ method: v.method, path: v.path, query: parseQueryPairs(v.query), headers, signedHeaders, payloadHash });
    if (v.canonicalRequest !== undefined) assert.equal(cr, v.canonicalRequest, `${v.name}: canonical request`);
    const sts = stringToSign('20150830T123600Z', credentialScope('20150830', 'us-east-1', 'service'), cr);
    if (v.stringToSign !== undefined) assert.equal(sts, v.stringToSign, `${v.name}: string to sign`);
    const key = deriveSigningKey(published.secretAccessKey, '20150830', 'us-east-1', 'service');
    assert.equal(signatureHex(key, sts), v.signature, `${v.name}: signature`);

    // The signer produces the same, and the verifier accepts it.
    const signed = signRequest({ method: v.method, path: v.path, query: v.query, headers: Object.fromEntries(v.headers.filter(([k]) => k.toLowerCase() !== 'x-amz-date')), body }, published, {
      region: 'us-east-1',
      service: 'service',
      now: SUITE_NOW,
    });
    assert.equal(signed.signature, v.signature, `${v.name}: signRequest`);
    const id = verifySigV4(
      { method: v.method, path: v.path, query: v.query, headers: { ...headers, authorization: signed.authorization }, body },
      lookupFor(published),
      { now: SUITE_NOW, service: 'service', region: 'us-east-1' },
    );
    assert.equal(id.accessKeyId, 'AKIDEXAMPLE');
    assert.equal(id.presigned, false);
  }
});

test("AWS's documented signing-key derivation example", () => {
  // "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference).
  const key = deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
  assert.equal(key.toString('hex'), 'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
});

test('canonical URI normalisation (non-S3) and double encoding of an encoded wire path', () => {
  assert.equal(canonicalUri('/'), '/');
  assert.equal(canonicalUri(''), '/');
  assert.equal(canonicalUri('//'), '/');
  assert.equal(canonicalUri('/example/..'), '/');
  assert.equal(canonicalUri('/example1/example2/../..'), '/');
  assert.equal(canonicalUri('/./'), '/');
  assert.equal(canonicalUri('/./example'), '/example');
  assert.equal(canonicalUri('//example//'), '/example/');
  assert.equal(canonicalUri('/example%20space/'), '/example%2520space/');
});

test('botocore-derived vectors (header and presigned) verify; the overlap equals the published suite', () => {
  const publishedByName = new Map(published.vectors.map((v) => [v.name, v.signature]));
  let overlap = 0;
  for (const v of derived.vectors) {
    const pub = publishedByName.get(v.name);
    if (pub !== undefined && v.kind === 'header') {
      assert.equal(v.signature, pub, `${v.name}: botocore and the published suite agree`);
      overlap++;
    }
    const headers: Record<string, string | string[]> = headerMap(v.headers);
    if (v.kind === 'header') headers['authorization'] = v.authorization as string;
    const id = verifySigV4({ method: v.method, path: v.path, query: v.query, headers, body: Buffer.from(v.body) }, lookupFor(derived), {
      now: new Date(SUITE_NOW.getTime() + 60_000),
      service: 'service',
      region: 'us-east-1',
    });
    assert.equal(id.presigned, v.kind === 'query', v.name);
    if (v.kind === 'header' && v.canonicalRequest !== undefined) {
      const cr = canonicalRequest({
        method: v.method,
        path: v.path,
        query: parseQueryPairs(v.query),
        headers,
        signedHeaders: id.signedHeaders,
        payloadHash: createHash('sha256').update(v.body).digest('hex'),
      });
      assert.equal(cr, v.canonicalRequest, `${v.name}: canonical request equals botocore's`);
    }
  }
  assert.ok(overlap >= 7, `overlap ${overlap}`);
});

const CREDS = { accessKeyId: 'AKIANITRIDETEST00001', secretAccessKey: 'nitride/secret+key/0123456789abcdefghijklmn' };
const lookup = lookupFor(CREDS);
const HOST = '127.0.0.1:8773';

const PEERS = {
  v1: { python: 'python3', pkg: 'botocore' },
  v2: { python: '/usr/bin/python3', pkg: 'awscli.botocore' },
} as const;

for (const peer of ['v1', 'v2'] as const)
test(`requests signed now by botocore (AWS CLI ${peer} signer) verify, header and presigned`, () => {
  const { python, pkg } = PEERS[peer];
  // Importing the session first avoids a circular import in awscli 2.9's vendored botocore.
  const script = `import ${pkg}.session
from ${pkg}.auth import SigV4Auth, SigV4QueryAuth
from ${pkg}.awsrequest import AWSRequest
from ${pkg}.credentials import Credentials
` + String.raw`
import json, sys
c = json.load(sys.stdin)
creds = Credentials(c['id'], c['secret'])
body = 'Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%20b'
r = AWSRequest(method='POST', url='http://' + c['host'] + '/', data=body, headers={'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'})
SigV4Auth(creds, 'ec2', 'local-1').add_auth(r)
q = AWSRequest(method='GET', url='http://' + c['host'] + '/?Action=DescribeRegions&Version=2016-11-15')
SigV4QueryAuth(creds, 'ec2', 'local-1', expires=300).add_auth(q)
q.prepare()
print(json.dumps({'headers': dict(r.headers.items()), 'body': body, 'url': q.url}))
`;
  const p = spawnSync(python, ['-c', script], { input: JSON.stringify({ id: CREDS.accessKeyId, secret: CREDS.secretAccessKey, host: HOST }), encoding: 'utf8', timeout: 60_000 });
  assert.equal(p.error, undefined, 'python3 with botocore is a required test peer');
  assert.equal(p.status, 0, p.stderr);
  const out = JSON.parse(p.stdout) as { headers: Record<string, string>; body: string; url: string };
  const headers: Record<string, string> = { host: HOST };
  for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
  const id = verifySigV4({ method: 'POST', path: '/', query: '', headers, body: Buffer.from(out.body) }, lookup, { now: new Date(), service: 'ec2', region: 'local-1' });
  assert.deepEqual([id.accessKeyId, id.region, id.service, id.presigned, id.payloadSigned], [CREDS.accessKeyId, 'local-1', 'ec2', false, true]);

  const u = new URL(out.url);
  const q = verifySigV4({ method: 'GET', path: u.pathname, query: u.search.slice(1), headers: { host: HOST }, body: Buffer.alloc(0) }, lookup, {
    now: new Date(),
    service: 'ec2',
    region: 'local-1',
  });
  assert.equal(q.presigned, true);
  assert.ok(q.expiresAt !== undefined);
  assert.match(u.search, /Action=DescribeRegions/);
  // A tampered body no longer verifies.
  assert.equal(
    reasonOf(() => verifySigV4({ method: 'POST', path: '/', query: '', headers, body: Buffer.from(out.body.replace('a%20b', 'a%20c')) }, lookup, { now: new Date() })),
    'bad-signature',
  );
});

test('requests signed by SDK v3 (EC2Client and @smithy/signature-v4 presign) verify', async () => {
  const captured: { method: string; path: string; query: Record<string, string | string[] | null>; headers: Record<string, string>; body: unknown }[] = [];
  const client = new EC2Client({
    region: 'local-1',
    endpoint: `http://${HOST}`,
    credentials: CREDS,
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: { method: string; path: string; query: Record<string, string | string[] | null>; headers: Record<string, string>; body: unknown }) => {
        captured.push(req);
        throw new Error('captured');
      },
    } as never,
  });
  await assert.rejects(client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['x y&z'] }] })), /captured/);
  await assert.rejects(client.send(new RunInstancesCommand({ ImageId: 'ami-12345678', MinCount: 1, MaxCount: 1, UserData: 'aGk=' })), /captured/);
  client.destroy();
  assert.equal(captured.length, 2);
  for (const req of captured) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    const id = verifySigV4({ method: req.method, path: req.path, query: '', headers, body: Buffer.from(String(req.body)) }, lookup, { now: new Date(), service: 'ec2', region: 'local-1' });
    assert.equal(id.accessKeyId, CREDS.accessKeyId);
  }

  const signer = new SignatureV4({ credentials: CREDS, region: 'local-1', service: 'ec2', sha256: NodeSha256 });
  const presigned = await signer.presign(
    { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 8773, path: '/', query: { Action: 'DescribeInstances', Version: '2016-11-15' }, headers: { host: HOST } },
    { expiresIn: 300 },
  );
  const qs = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const pid = verifySigV4({ method: 'GET', path: '/', query: qs, headers: { host: HOST }, body: Buffer.alloc(0) }, lookup, { now: new Date(), service: 'ec2', region: 'local-1' });
  assert.equal(pid.presigned, true);
});


function signedNow(over: { now?: Date; body?: string; headers?: Record<string, string>; service?: string; region?: string } = {}): SigV4Request & { headers: HeaderMap } {
  const body = over.body ?? 'Action=DescribeInstances&Version=2016-11-15';
  const s = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded', ...over.headers }, body },
    CREDS,
    { region: over.region ?? 'local-1', service: over.service ?? 'ec2', now: over.now ?? new Date() },
  );
  return { method: 'POST', path: '/', query: '', headers: s.headers, body: Buffer.from(body) };
}

test('each failure has its reason and EC2 code', () => {
  const now = new Date();
  const opts = { now, service: 'ec2', region: 'local-1' };
  const ok = signedNow();
  assert.equal(verifySigV4(ok, lookup, opts).accessKeyId, CREDS.accessKeyId);

  const codeOf = (fn: () => unknown): [string, string, number] => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof SigV4Error);
      return [e.reason, e.code, e.httpStatus];
    }
    assert.fail('expected failure');
  };
  const noAuth = { ...ok, headers: { ...ok.headers, authorization: undefined } };
  assert.deepEqual(codeOf(() => verifySigV4(noAuth, lookup, opts)), ['missing', 'MissingAuthenticationToken', 403]);
  assert.deepEqual(codeOf(() => verifySigV4(ok, () => undefined, opts)), ['unknown-key', 'AuthFailure', 401]);
  const badSig = { ...ok, headers: { ...ok.headers, authorization: String(ok.headers['authorization']).replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`) } };
  assert.deepEqual(codeOf(() => verifySigV4(badSig, lookup, opts)), ['bad-signature', 'AuthFailure', 401]);
  const wrongSecret = () => ({ secretAccessKey: 'other' });
  assert.deepEqual(codeOf(() => verifySigV4(ok, wrongSecret, opts)), ['bad-signature', 'AuthFailure', 401]);
  const skewed = signedNow({ now: new Date(now.getTime() - 16 * 60_000) });
  assert.deepEqual(codeOf(() => verifySigV4(skewed, lookup, opts)), ['expired', 'RequestExpired', 400]);
  const future = signedNow({ now: new Date(now.getTime() + 16 * 60_000) });
  assert.deepEqual(codeOf(() => verifySigV4(future, lookup, opts)), ['expired', 'RequestExpired', 400]);
  assert.equal(verifySigV4(signedNow({ now: new Date(now.getTime() - 14 * 60_000) }), lookup, opts).accessKeyId, CREDS.accessKeyId);
  assert.deepEqual(codeOf(() => verifySigV4(signedNow({ region: 'us-east-1' }), lookup, opts)), ['scope', 'SignatureDoesNotMatch', 403]);
  assert.deepEqual(codeOf(() => verifySigV4(signedNow({ service: 'kms' }), lookup, opts)), ['scope', 'SignatureDoesNotMatch', 403]);
  const garbled = { ...ok, headers: { ...ok.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } };
  assert.deepEqual(codeOf(() => verifySigV4(garbled, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);
  const sigv2 = { ...ok, headers: { ...ok.headers, authorization: 'AWS AKID:c2ln' } };
  assert.deepEqual(codeOf(() => verifySigV4(sigv2, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);
  const noDate = { ...ok, headers: { ...ok.headers, 'x-amz-date': undefined } };
  assert.deepEqual(codeOf(() => verifySigV4(noDate, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);
  const both = { ...ok, query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' };
  assert.deepEqual(codeOf(() => verifySigV4(both, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);
  const tamperedBody = { ...ok, body: Buffer.from('Action=TerminateInstances&InstanceId.1=i-12345678') };
  assert.deepEqual(codeOf(() => verifySigV4(tamperedBody, lookup, opts)), ['bad-signature', 'AuthFailure', 401]);
  const tamperedHeader = { ...ok, headers: { ...ok.headers, 'content-type': 'text/plain' } };
  assert.deepEqual(codeOf(() => verifySigV4(tamperedHeader, lookup, opts)), ['bad-signature', 'AuthFailure', 401]);

  // x-amz-content-sha256: the body must match; UNSIGNED-PAYLOAD only without a body unless allowed.
  const hashed = signedNow({ headers: { 'x-amz-content-sha256': createHash('sha256').update('Action=DescribeInstances&Version=2016-11-15').digest('hex') } });
  assert.equal(verifySigV4(hashed, lookup, opts).payloadSigned, true);
  assert.deepEqual(codeOf(() => verifySigV4({ ...hashed, body: Buffer.from('Action=RunInstances') }, lookup, opts)), ['payload', 'AuthFailure', 401]);
  const s = signRequest({ method: 'POST', path: '/', query: '', headers: { host: HOST }, body: 'Action=X' }, CREDS, { region: 'local-1', service: 'ec2', now, contentSha256Header: true, unsignedPayload: true });
  const unsigned = { method: 'POST', path: '/', query: '', headers: s.headers, body: Buffer.from('Action=X') };
  assert.deepEqual(codeOf(() => verifySigV4(unsigned, lookup, opts)), ['payload', 'AuthFailure', 401]);
  assert.equal(verifySigV4(unsigned, lookup, { ...opts, allowUnsignedPayload: true }).payloadSigned, false);

  // Presigned: honoured until X-Amz-Expires, then RequestExpired; max 7 days.
  const pre = presignRequest({ method: 'GET', path: '/', query: 'Action=DescribeInstances&Version=2016-11-15', headers: { host: HOST } }, CREDS, {
    region: 'local-1',
    service: 'ec2',
    now: new Date(now.getTime() - 60 * 60_000),
    expiresIn: 7200,
  });
  const preq = { method: 'GET', path: '/', query: pre.query, headers: { host: HOST }, body: Buffer.alloc(0) };
  assert.equal(verifySigV4(preq, lookup, opts).presigned, true);
  assert.deepEqual(codeOf(() => verifySigV4(preq, lookup, { ...opts, now: new Date(now.getTime() + 61 * 60_000) })), ['expired', 'RequestExpired', 400]);
  const week = presignRequest({ method: 'GET', path: '/', query: '', headers: { host: HOST } }, CREDS, { region: 'local-1', service: 'ec2', now, expiresIn: 604801 });
  assert.deepEqual(codeOf(() => verifySigV4({ ...preq, query: week.query }, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);
  assert.deepEqual(codeOf(() => verifySigV4({ ...preq, query: pre.query.replace('Action=DescribeInstances', 'Action=TerminateInstances') }, lookup, opts)), [
    'bad-signature',
    'AuthFailure',
    401,
  ]);
  assert.deepEqual(codeOf(() => verifySigV4({ ...preq, query: pre.query.replace(/&X-Amz-Signature=[0-9a-f]+/, '') }, lookup, opts)), ['malformed', 'IncompleteSignature', 400]);

  // IAM's own codes for the same failures.
  try {
    verifySigV4(ok, () => undefined, opts);
  } catch (e) {
    assert.ok(e instanceof SigV4Error);
    assert.deepEqual(e.iamWire(), { code: 'InvalidClientTokenId', status: 403 });
  }
});

/** The SigV4Error a verification throws (fails when it accepts). */
function failureOf(fn: () => unknown): SigV4Error {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SigV4Error);
    return e;
  }
  assert.fail('expected the request to be refused');
}

test('the credential scope must name the expected region and service, in AWS words', () => {
  const opts = { now: new Date(), service: 'ec2', region: 'local-1' };
  for (const region of ['us-east-1', 'eu-west-1']) {
    const e = failureOf(() => verifySigV4(signedNow({ region }), lookup, opts));
    assert.equal(e.reason, 'scope');
    assert.equal(e.message, `Credential should be scoped to a valid region, not '${region}'. `);
    assert.deepEqual(e.iamWire(), { code: 'SignatureDoesNotMatch', status: 403 });
  }
  for (const service of ['s3', 'kms', 'iam']) {
    const e = failureOf(() => verifySigV4(signedNow({ service }), lookup, opts));
    assert.equal(e.reason, 'scope');
    assert.equal(e.message, "Credential should be scoped to correct service: 'ec2'. ");
  }
  // Without expectations any scope verifies (the option is what the front door must pass).
  assert.equal(verifySigV4(signedNow({ region: 'us-east-1', service: 's3' }), lookup, { now: new Date() }).region, 'us-east-1');
});

test('a service can require headers among the signed ones (KMS: x-amz-target)', () => {
  const now = new Date();
  const body = '{"KeyId":"alias/x"}';
  const headers = { host: HOST, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' };
  const opts = { now, service: 'kms', region: 'local-1', requiredSignedHeaders: ['x-amz-target'] };
  const signed = signRequest({ method: 'POST', path: '/', query: '', headers, body }, CREDS, { region: 'local-1', service: 'kms', now });
  const req = { method: 'POST', path: '/', query: '', headers: signed.headers, body: Buffer.from(body) };
  assert.deepEqual(verifySigV4(req, lookup, opts).signedHeaders, ['content-type', 'host', 'x-amz-date', 'x-amz-target']);
  // The same request signed over host and x-amz-date only: the target could be swapped freely.
  const narrow = signRequest({ method: 'POST', path: '/', query: '', headers: { host: HOST }, body }, CREDS, { region: 'local-1', service: 'kms', now });
  const swapped = { method: 'POST', path: '/', query: '', headers: { ...narrow.headers, 'x-amz-target': 'TrentService.DisableKey' }, body: Buffer.from(body) };
  const e = failureOf(() => verifySigV4(swapped, lookup, opts));
  assert.equal(e.reason, 'malformed');
  assert.equal(e.message, "'X-Amz-Target' must be a signed header.");
  // 'host' is always required.
  const noHost = { ...req, headers: { ...req.headers, authorization: String(req.headers['authorization']).replace('SignedHeaders=content-type;host;', 'SignedHeaders=content-type;') } };
  assert.equal(failureOf(() => verifySigV4(noHost, lookup, opts)).message, "'Host' must be a signed header.");
});

test("'+' in a query reads as a space in the signature, as the parameter parser reads it", () => {
  assert.deepEqual(parseQueryPairs('Tag.1.Value=a+b&k%2Bx=a%2Bb&s=a%20b'), [
    ['Tag.1.Value', 'a b'],
    ['k+x', 'a+b'],
    ['s', 'a b'],
  ]);
  // A presigned CreateTags with the value 'a+b' (signed as a%2Bb) re-sent with a literal '+'
  // is a different request ('a b') and its signature does not match.
  const now = new Date();
  const pre = presignRequest(
    { method: 'GET', path: '/', query: 'Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=k&Tag.1.Value=a%2Bb', headers: { host: HOST } },
    CREDS,
    { region: 'local-1', service: 'ec2', now, expiresIn: 300 },
  );
  const opts = { now, service: 'ec2', region: 'local-1' };
  const req = { method: 'GET', path: '/', query: pre.query, headers: { host: HOST }, body: Buffer.alloc(0) };
  assert.equal(verifySigV4(req, lookup, opts).presigned, true);
  const plus = { ...req, query: pre.query.replace('a%2Bb', 'a+b') };
  assert.notEqual(plus.query, pre.query);
  assert.equal(failureOf(() => verifySigV4(plus, lookup, opts)).reason, 'bad-signature');
  // A space may be sent as '+' or %20: both are the same request.
  const spaced = presignRequest(
    { method: 'GET', path: '/', query: 'Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=k&Tag.1.Value=a%20b', headers: { host: HOST } },
    CREDS,
    { region: 'local-1', service: 'ec2', now, expiresIn: 300 },
  );
  assert.equal(verifySigV4({ ...req, query: spaced.query.replace('a%20b', 'a+b') }, lookup, opts).presigned, true);
});
