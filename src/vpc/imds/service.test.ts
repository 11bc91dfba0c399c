import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { test } from 'node:test';
import type { EniConfig } from '../model.js';
import { parseHttpRequest, type HttpRequest } from './http.js';
import { ImdsService } from './service.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const eni: EniConfig = {
  eniId: 'eni-1', mac: '02:00:00:00:00:0a', ip: '172.31.16.10', subnetCidr: '172.31.16.0/20', subnetId: 'subnet-1', vpcId: 'vpc-1',
  securityGroups: ['sg-1'], sourceDestCheck: true, hostname: 'ip-172-31-16-10.ec2.internal', mtu: 9001,
  imds: {
    instanceId: 'i-0123456789abcdef0', httpTokens: 'optional', hopLimit: 1, endpoint: 'enabled', region: 'local-1', availabilityZone: 'local-1a',
    userDataBase64: Buffer.from('#cloud-config\n').toString('base64'), publicKeys: [{ name: 'k1', openssh: 'ssh-ed25519 AAAA k1' }],
    securityGroupNames: ['default'], identitySigningKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  },
};

function req(s: string): HttpRequest {
  const r = parseHttpRequest(Buffer.from(s));
  assert.equal(r.kind, 'request');
  return (r as { request: HttpRequest }).request;
}

test('IMDS: token lifecycle, TTL bounds, hop limit, v1 only when optional', () => {
  let now = 1_000_000;
  const svc = new ImdsService(eni, () => now);
  assert.equal(svc.handle(req('PUT /latest/api/token HTTP/1.1\r\n\r\n')).response.status, 400);
  assert.equal(svc.handle(req('PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 21601\r\n\r\n')).response.status, 400);
  assert.equal(svc.handle(req('PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 0\r\n\r\n')).response.status, 400);
  assert.equal(svc.handle(req('GET /latest/api/token HTTP/1.1\r\n\r\n')).response.status, 405);
  assert.equal(svc.handle(req('PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nX-aws-ec2-metadata-token-ttl-seconds: 10\r\n\r\n')).response.status, 403);
  const t = svc.handle(req('PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 10\r\n\r\n'));
  assert.equal(t.response.status, 200);
  assert.equal(t.ttl, 1);
  const token = String(t.response.body);
  const get = (path: string, tok?: string) => svc.handle(req(`GET ${path} HTTP/1.1\r\n${tok ? `X-aws-ec2-metadata-token: ${tok}\r\n` : ''}\r\n`)).response;
  assert.equal(get('/latest/meta-data/instance-id', token).body, 'i-0123456789abcdef0');
  assert.equal(get('/latest/meta-data/instance-id').status, 200, 'IMDSv1 with optional tokens');
  assert.equal(get('/latest/meta-data/instance-id', 'nope').status, 401, 'a bad token is refused even when optional');
  now += 10_001;
  assert.equal(get('/latest/meta-data/instance-id', token).status, 401, 'expired');
  const strict = new ImdsService({ ...eni, imds: { ...eni.imds!, httpTokens: 'required' } }, () => now);
  assert.equal(strict.handle(req('GET /latest/meta-data/ HTTP/1.1\r\n\r\n')).response.status, 401);
});

test('IMDS: tokens exported by one service are accepted by the next with their remaining lifetime; junk is ignored', () => {
  let now = 5_000_000;
  const old = new ImdsService(eni, () => now);
  const put = (svc: ImdsService, ttl: number) => String(svc.handle(req(`PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: ${ttl}\r\n\r\n`)).response.body);
  const long = put(old, 100);
  const short = put(old, 2);
  now += 1_000;
  const exported = old.exportTokens();
  assert.deepEqual(new Map(exported), new Map([[long, 99_000], [short, 1_000]]));
  const next = new ImdsService(eni, () => now);
  assert.equal(next.importTokens([...exported, ['bad token!', 5], ['x', -1], 'junk', [long, 'NaN'], ['y', 1e12]]), 2);
  const get = (svc: ImdsService, tok: string) => svc.handle(req(`GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: ${tok}\r\n\r\n`)).response.status;
  assert.equal(get(next, long), 200);
  assert.equal(get(next, short), 200);
  assert.equal(get(next, 'y'), 401, 'an entry with an impossible lifetime is not imported');
  now += 1_001;
  assert.equal(get(next, short), 401, 'an imported token expires when it would have on the old card');
  assert.equal(get(next, long), 200);
});

test('IMDS: EC2 paths, listings, public keys, user-data, identity document signed with ECDSA P-256', () => {
  const svc = new ImdsService(eni);
  const get = (p: string) => {
    const r = svc.handle(req(`GET ${p} HTTP/1.1\r\n\r\n`)).response;
    return r.status === 200 ? r.body.toString() : r.status;
  };
  const root = String(get('/latest/meta-data/'));
  for (const k of ['ami-id', 'instance-id', 'instance-type', 'local-ipv4', 'local-hostname', 'mac', 'placement/', 'security-groups', 'network/', 'public-keys/']) {
    assert.ok(root.split('\n').includes(k), `${k} in ${root}`);
  }
  assert.equal(get('/latest/meta-data/placement/availability-zone'), 'local-1a');
  assert.equal(get('/latest/meta-data/placement/region'), 'local-1');
  assert.equal(get('/latest/meta-data/security-groups'), 'default');
  assert.equal(get('/latest/meta-data/network/interfaces/macs/'), '02:00:00:00:00:0a/');
  const n = '/latest/meta-data/network/interfaces/macs/02:00:00:00:00:0a';
  assert.equal(get(`${n}/device-number`), '0');
  assert.equal(get(`${n}/local-ipv4s`), '172.31.16.10');
  assert.equal(get(`${n}/subnet-id`), 'subnet-1');
  assert.equal(get(`${n}/security-group-ids`), 'sg-1');
  assert.equal(get(`${n}/subnet-ipv4-cidr-block`), '172.31.16.0/20');
  assert.equal(get('/latest/meta-data/public-keys/'), '0=k1');
  assert.equal(get('/latest/meta-data/public-keys/0/'), 'openssh-key');
  assert.equal(get('/latest/meta-data/public-keys/0/openssh-key'), 'ssh-ed25519 AAAA k1');
  assert.equal(get('/latest/user-data'), '#cloud-config\n');
  assert.equal(get('/latest/meta-data/nothing'), 404);
  assert.equal(get('/latest/'), 'dynamic\nmeta-data\nuser-data');
  const doc = String(get('/latest/dynamic/instance-identity/document'));
  const parsed = JSON.parse(doc);
  assert.equal(parsed.privateIp, '172.31.16.10');
  assert.equal(parsed.version, '2017-09-30');
  const sig = Buffer.from(String(get('/latest/dynamic/instance-identity/signature')), 'base64');
  assert.ok(verify('sha256', Buffer.from(doc), publicKey, sig));
  assert.equal(svc.handle(req('POST /latest/meta-data/ HTTP/1.1\r\n\r\n')).response.status, 405);
  // cloud-init asks by version date, not by `latest` (guest-notes.md: 53 requests under 2021-03-23).
  assert.equal(get('/2021-03-23/meta-data/instance-id'), 'i-0123456789abcdef0');
  assert.equal(get('/2009-04-04/meta-data/local-ipv4'), '172.31.16.10');
  assert.equal(get('/2021-03-23/user-data'), '#cloud-config\n');
  assert.equal(get('/1999-01-01/meta-data/instance-id'), 404, 'an unknown version is not an alias of latest');
  const versions = String(get('/')).split('\n');
  assert.ok(versions.includes('2021-03-23') && versions.at(-1) === 'latest', versions.join(','));
  for (const leaf of ['ami-manifest-path', 'instance-action', 'instance-life-cycle', 'profile', 'placement/availability-zone-id', 'metrics/vhostmd', 'services/domain', 'services/partition']) {
    assert.equal(typeof get(`/2021-03-23/meta-data/${leaf}`), 'string', leaf);
  }
  assert.equal(get('/latest/meta-data/placement/availability-zone-id'), 'local1-az1');
  assert.equal(get(`${n}/owner-id`), '000000000000');
  const noUd = new ImdsService({ ...eni, imds: { ...eni.imds!, userDataBase64: undefined as never } });
  assert.equal(noUd.handle(req('GET /latest/user-data HTTP/1.1\r\n\r\n')).response.status, 404);
});

test('IMDS: public-ipv4, public-hostname and the MAC\'s public-ipv4s follow the ENI\'s public IP (404 without one)', () => {
  const get = (svc: ImdsService, path: string) => svc.handle(req(`GET ${path} HTTP/1.1\r\n\r\n`)).response;
  const none = new ImdsService(eni);
  assert.equal(get(none, '/latest/meta-data/public-ipv4').status, 404);
  assert.equal(get(none, '/latest/meta-data/public-hostname').status, 404);
  const pub: EniConfig = { ...eni, publicIp: '198.51.100.7', imds: { ...eni.imds!, publicHostname: 'ec2-198-51-100-7.local-1.compute.amazonaws.com' } };
  const svc = new ImdsService(pub);
  assert.equal(String(get(svc, '/latest/meta-data/public-ipv4').body), '198.51.100.7');
  assert.equal(String(get(svc, '/latest/meta-data/public-hostname').body), 'ec2-198-51-100-7.local-1.compute.amazonaws.com');
  assert.equal(String(get(svc, `/latest/meta-data/network/interfaces/macs/${eni.mac}/public-ipv4s`).body), '198.51.100.7');
  assert.match(String(get(svc, '/latest/meta-data/').body), /^public-ipv4$/m);
  // A disassociated address (eni.update publicIp: null) leaves the tree at once.
  svc.reconfigure(eni);
  assert.equal(get(svc, '/latest/meta-data/public-ipv4').status, 404);
});
