// GetInstanceTpmEkPub on the wire: the request as botocore (AWS CLI v1) and SDK v3 serialize it,
// EC2's errors for bad values, and the response as botocore and SDK v3 read it. Debian's
// awscli 2.9 predates the action (its vendored model has no GetInstanceTpmEkPub), so the v2
// peer is not asked here; test/vm/nitrotpm-region.test.ts drives that CLI with the model added.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EC2Client, GetInstanceTpmEkPubCommand } from '@aws-sdk/client-ec2';
import { parseEc2Request, EC2_MUTATING_ACTIONS } from './ec2/requests/index.js';
import { renderEc2Response } from './ec2/responses/index.js';
import { parseForm } from './query.js';
import { botocore } from './botocore-peer.test-helper.js';
import { parse, code, sdkBody } from './ec2-wire.test-helper.js';

const I1 = 'i-0123456789abcdef0';

test('GetInstanceTpmEkPub: botocore-serialized requests parse into the typed request', () => {
  const jobs = [
    { kind: 'serialize' as const, operation: 'GetInstanceTpmEkPub', params: { InstanceId: I1, KeyType: 'rsa-2048', KeyFormat: 'der' } },
    { kind: 'serialize' as const, operation: 'GetInstanceTpmEkPub', params: { InstanceId: I1, KeyType: 'ecc-sec-p384', KeyFormat: 'tpmt', DryRun: true } },
  ];
  const [a, b] = botocore(jobs, 'v1') as Record<string, string>[];
  assert.deepEqual(parseEc2Request(new Map(Object.entries(a!))), { action: 'GetInstanceTpmEkPub', dryRun: false, instanceId: I1, keyType: 'rsa-2048', keyFormat: 'der' });
  assert.deepEqual(parseEc2Request(new Map(Object.entries(b!))), { action: 'GetInstanceTpmEkPub', dryRun: true, instanceId: I1, keyType: 'ecc-sec-p384', keyFormat: 'tpmt' });
});

test('GetInstanceTpmEkPub: the SDK v3 request parses', async () => {
  const body = await sdkBody((c) => c.send(new GetInstanceTpmEkPubCommand({ InstanceId: I1, KeyType: 'ecc-sec-p384', KeyFormat: 'der' })));
  assert.deepEqual(parseEc2Request(parseForm(body)), { action: 'GetInstanceTpmEkPub', dryRun: false, instanceId: I1, keyType: 'ecc-sec-p384', keyFormat: 'der' });
});

test("GetInstanceTpmEkPub: EC2's error codes for bad requests; a read, not a mutation", () => {
  const ok = { Action: 'GetInstanceTpmEkPub', InstanceId: I1, KeyType: 'rsa-2048', KeyFormat: 'der' };
  assert.equal(code(() => parse({ ...ok, InstanceId: 'i-xyz' })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ ...ok, InstanceId: 'vol-0123456789abcdef0' })), 'InvalidInstanceID.Malformed');
  assert.equal(code(() => parse({ ...ok, KeyType: 'rsa' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ ...ok, KeyType: 'ecc-sec-p256' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ ...ok, KeyFormat: 'pem' })), 'InvalidParameterValue');
  const { InstanceId: _i, ...noId } = ok;
  assert.equal(code(() => parse(noId)), 'MissingParameter');
  const { KeyType: _t, ...noType } = ok;
  assert.equal(code(() => parse(noType)), 'MissingParameter');
  const { KeyFormat: _f, ...noFormat } = ok;
  assert.equal(code(() => parse(noFormat)), 'MissingParameter');
  assert.equal(EC2_MUTATING_ACTIONS.has('GetInstanceTpmEkPub'), false);
});

test('GetInstanceTpmEkPub: botocore and SDK v3 read the response', async () => {
  const keyValue = Buffer.from('not a real key, just bytes \u0000\u00ff').toString('base64');
  const xml = renderEc2Response('req-tpm', { action: 'GetInstanceTpmEkPub', instanceId: I1, keyType: 'rsa-2048', keyFormat: 'der', keyValue });
  assert.match(xml, /^<\?xml[^>]*>\s*<GetInstanceTpmEkPubResponse xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2016-11-15\/">/);
  const [parsed] = botocore([{ kind: 'parse', operation: 'GetInstanceTpmEkPub', body: xml }], 'v1');
  assert.deepEqual(parsed, { InstanceId: I1, KeyType: 'rsa-2048', KeyFormat: 'der', KeyValue: keyValue });

  const { Readable } = await import('node:stream');
  const client = new EC2Client({
    region: 'local-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({ response: { statusCode: 200, reason: '', headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Readable.from([Buffer.from(xml)]) } }),
    } as never,
  });
  const out = await client.send(new GetInstanceTpmEkPubCommand({ InstanceId: I1, KeyType: 'rsa-2048', KeyFormat: 'der' }));
  assert.equal(out.InstanceId, I1);
  assert.equal(out.KeyType, 'rsa-2048');
  assert.equal(out.KeyFormat, 'der');
  assert.equal(out.KeyValue, keyValue);
  client.destroy();
});
