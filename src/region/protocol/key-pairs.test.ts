// The key pair actions and DescribeInstanceAttribute on the wire: requests as botocore (both
// AWS CLIs) and SDK v3 serialize them parse into the typed requests; EC2's error codes for bad
// ones; the responses as botocore and SDK v3 read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeInstanceAttributeCommand,
  DescribeKeyPairsCommand,
  EC2Client,
  ImportKeyPairCommand,
} from '@aws-sdk/client-ec2';
import { parseEc2Request, EC2_MUTATING_ACTIONS, type Ec2Request } from './ec2/requests/index.js';
import { renderEc2Response, type Ec2Response } from './ec2/responses/index.js';
import { parseForm } from './query.js';
import { botocore } from './botocore-peer.test-helper.js';
import { parse, code, assertBotocoreParses, sdkBody, type WireCase } from './ec2-wire.test-helper.js';

const I1 = 'i-0123456789abcdef0';
const KEY_ID = 'key-0123456789abcdef0';
const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host';

interface Case extends WireCase {
  /** Debian's awscli 2.9 model lacks some newer members. */
  readonly v1Only?: boolean;
}

const cases: Case[] = [
  {
    operation: 'CreateKeyPair',
    params: { KeyName: 'my key', KeyType: 'ed25519', KeyFormat: 'ppk', TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'team', Value: 'a' }] }] },
    expected: { action: 'CreateKeyPair', dryRun: false, keyName: 'my key', keyType: 'ed25519', keyFormat: 'ppk', tagSpecifications: [{ resourceType: 'key-pair', tags: [{ key: 'team', value: 'a' }] }] },
  },
  {
    operation: 'CreateKeyPair',
    params: { KeyName: 'k', DryRun: true },
    expected: { action: 'CreateKeyPair', dryRun: true, keyName: 'k', keyType: 'rsa', keyFormat: 'pem', tagSpecifications: [] },
  },
  {
    operation: 'ImportKeyPair',
    params: { KeyName: 'imported', PublicKeyMaterial: PUB },
    expected: { action: 'ImportKeyPair', dryRun: false, keyName: 'imported', publicKeyMaterial: Buffer.from(PUB), tagSpecifications: [] },
  },
  {
    operation: 'DescribeKeyPairs',
    params: { KeyNames: ['a', 'b'], KeyPairIds: [KEY_ID], Filters: [{ Name: 'key-type', Values: ['rsa'] }], IncludePublicKey: true },
    expected: { action: 'DescribeKeyPairs', dryRun: false, keyNames: ['a', 'b'], keyPairIds: [KEY_ID], filters: [{ name: 'key-type', values: ['rsa'] }], includePublicKey: true },
  },
  {
    operation: 'DescribeKeyPairs',
    params: {},
    expected: { action: 'DescribeKeyPairs', dryRun: false, keyNames: [], keyPairIds: [], filters: [], includePublicKey: false },
  },
  {
    operation: 'DeleteKeyPair',
    params: { KeyName: 'a' },
    expected: { action: 'DeleteKeyPair', dryRun: false, keyName: 'a', keyPairId: undefined },
  },
  {
    operation: 'DeleteKeyPair',
    params: { KeyPairId: KEY_ID },
    expected: { action: 'DeleteKeyPair', dryRun: false, keyName: undefined, keyPairId: KEY_ID },
  },
  {
    operation: 'DescribeInstanceAttribute',
    params: { InstanceId: I1, Attribute: 'userData' },
    expected: { action: 'DescribeInstanceAttribute', dryRun: false, instanceId: I1, attribute: 'userData' },
  },
  {
    operation: 'DescribeInstanceAttribute',
    params: { InstanceId: I1, Attribute: 'disableApiStop' },
    expected: { action: 'DescribeInstanceAttribute', dryRun: false, instanceId: I1, attribute: 'disableApiStop' },
  },
];

for (const peer of ['v1', 'v2'] as const)
  test(`botocore-serialized (AWS CLI ${peer}) key pair and instance attribute requests parse into the typed union`, () => {
    const mine = cases.filter((c) => peer === 'v1' || !c.v1Only);
    assertBotocoreParses(mine, peer);
  });

test('SDK v3-serialized key pair and instance attribute requests parse into the typed union', async () => {
  const sends: [(c: EC2Client) => Promise<unknown>, Ec2Request][] = [
    [(c) => c.send(new CreateKeyPairCommand({ KeyName: 'my key', KeyType: 'ed25519', KeyFormat: 'ppk', TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'team', Value: 'a' }] }] })), cases[0]!.expected],
    [(c) => c.send(new ImportKeyPairCommand({ KeyName: 'imported', PublicKeyMaterial: Buffer.from(PUB) })), cases[2]!.expected],
    [(c) => c.send(new DescribeKeyPairsCommand({ KeyNames: ['a', 'b'], KeyPairIds: [KEY_ID], Filters: [{ Name: 'key-type', Values: ['rsa'] }], IncludePublicKey: true })), cases[3]!.expected],
    [(c) => c.send(new DeleteKeyPairCommand({ KeyPairId: KEY_ID })), cases[6]!.expected],
    [(c) => c.send(new DescribeInstanceAttributeCommand({ InstanceId: I1, Attribute: 'userData' })), cases[7]!.expected],
  ];
  for (const [send, expected] of sends) assert.deepEqual(parseEc2Request(parseForm(await sdkBody(send))), expected);
});

test("key pair and instance attribute requests: EC2's error codes; which actions mutate", () => {
  assert.equal(code(() => parse({ Action: 'CreateKeyPair' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: '' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: 'x'.repeat(256) })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: 'clé' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: ' padded' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: 'k', KeyType: 'dsa' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: 'k', KeyFormat: 'der' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'CreateKeyPair', KeyName: 'k', 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'a' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'ImportKeyPair', KeyName: 'k' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ImportKeyPair', PublicKeyMaterial: Buffer.from(PUB).toString('base64') })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'ImportKeyPair', KeyName: 'k', PublicKeyMaterial: PUB })), 'InvalidKeyPair.Format'); // not base64
  assert.equal(code(() => parse({ Action: 'ImportKeyPair', KeyName: 'k', PublicKeyMaterial: Buffer.alloc(20_000, 65).toString('base64') })), 'InvalidKeyPair.Format');
  assert.equal(code(() => parse({ Action: 'DeleteKeyPair' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DeleteKeyPair', KeyPairId: 'key-xyz' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeKeyPairs', 'KeyPairId.1': 'sg-0123456789abcdef0' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceAttribute', InstanceId: I1 })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceAttribute', Attribute: 'userData' })), 'MissingParameter');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceAttribute', InstanceId: I1, Attribute: 'colour' })), 'InvalidParameterValue');
  assert.equal(code(() => parse({ Action: 'DescribeInstanceAttribute', InstanceId: 'i-nope', Attribute: 'userData' })), 'InvalidInstanceID.Malformed');
  for (const a of ['CreateKeyPair', 'ImportKeyPair', 'DeleteKeyPair'] as const) assert.ok(EC2_MUTATING_ACTIONS.has(a), a);
  for (const a of ['DescribeKeyPairs', 'DescribeInstanceAttribute'] as const) assert.ok(!EC2_MUTATING_ACTIONS.has(a), a);
});

const T0 = new Date('2026-12-07T10:00:00.000Z');
const responses: [string, Ec2Response, Record<string, unknown>][] = [
  [
    'CreateKeyPair',
    { action: 'CreateKeyPair', keyPairId: KEY_ID, keyName: 'k', keyFingerprint: 'ab:cd', keyMaterial: '-----BEGIN RSA PRIVATE KEY-----\nMII…\n-----END RSA PRIVATE KEY-----', tags: [{ key: 'team', value: 'a' }] },
    { KeyPairId: KEY_ID, KeyName: 'k', KeyFingerprint: 'ab:cd', KeyMaterial: '-----BEGIN RSA PRIVATE KEY-----\nMII…\n-----END RSA PRIVATE KEY-----', Tags: [{ Key: 'team', Value: 'a' }] },
  ],
  ['ImportKeyPair', { action: 'ImportKeyPair', keyPairId: KEY_ID, keyName: 'k', keyFingerprint: 'ab:cd', tags: [] }, { KeyPairId: KEY_ID, KeyName: 'k', KeyFingerprint: 'ab:cd' }],
  [
    'DescribeKeyPairs',
    {
      action: 'DescribeKeyPairs',
      keyPairs: [
        { keyPairId: KEY_ID, keyName: 'k', keyType: 'ed25519', keyFingerprint: 'x=', publicKey: PUB, createTime: T0, tags: [{ key: 'team', value: 'a' }] },
        { keyPairId: 'key-11111111111111111', keyName: 'j', keyType: 'rsa', keyFingerprint: 'ab:cd', createTime: T0, tags: [] },
      ],
    },
    {
      KeyPairs: [
        { KeyPairId: KEY_ID, KeyName: 'k', KeyType: 'ed25519', KeyFingerprint: 'x=', PublicKey: PUB, CreateTime: '2026-12-07T10:00:00+00:00', Tags: [{ Key: 'team', Value: 'a' }] },
        { KeyPairId: 'key-11111111111111111', KeyName: 'j', KeyType: 'rsa', KeyFingerprint: 'ab:cd', CreateTime: '2026-12-07T10:00:00+00:00' },
      ],
    },
  ],
  ['DeleteKeyPair', { action: 'DeleteKeyPair', keyPairId: KEY_ID }, { Return: true, KeyPairId: KEY_ID }],
  ['DeleteKeyPair', { action: 'DeleteKeyPair', keyPairId: undefined }, { Return: true }],
  ['DescribeInstanceAttribute', { action: 'DescribeInstanceAttribute', instanceId: I1, attribute: 'userData', value: { kind: 'value', value: 'IyEvYmluL3No' } }, { InstanceId: I1, UserData: { Value: 'IyEvYmluL3No' } }],
  ['DescribeInstanceAttribute', { action: 'DescribeInstanceAttribute', instanceId: I1, attribute: 'kernel', value: { kind: 'value', value: undefined } }, { InstanceId: I1, KernelId: {} }],
  ['DescribeInstanceAttribute', { action: 'DescribeInstanceAttribute', instanceId: I1, attribute: 'disableApiTermination', value: { kind: 'boolean', value: false } }, { InstanceId: I1, DisableApiTermination: { Value: false } }],
  [
    'DescribeInstanceAttribute',
    { action: 'DescribeInstanceAttribute', instanceId: I1, attribute: 'groupSet', value: { kind: 'groupSet', groups: [{ groupId: 'sg-0123456789abcdef0', groupName: 'web' }] } },
    { InstanceId: I1, Groups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'web' }] },
  ],
  [
    'DescribeInstanceAttribute',
    {
      action: 'DescribeInstanceAttribute',
      instanceId: I1,
      attribute: 'blockDeviceMapping',
      value: { kind: 'blockDeviceMapping', mappings: [{ deviceName: '/dev/sdf', ebs: { volumeId: 'vol-0123456789abcdef0', status: 'attached', attachTime: T0, deleteOnTermination: false } }] },
    },
    { InstanceId: I1, BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { VolumeId: 'vol-0123456789abcdef0', Status: 'attached', AttachTime: '2026-12-07T10:00:00+00:00', DeleteOnTermination: false } }] },
  ],
  ['DescribeInstanceAttribute', { action: 'DescribeInstanceAttribute', instanceId: I1, attribute: 'enclaveOptions', value: { kind: 'enclaveOptions', enabled: false } }, { InstanceId: I1, EnclaveOptions: { Enabled: false } }],
];

test('botocore (AWS CLI v1) reads the key pair and instance attribute responses', () => {
  const parsed = botocore(responses.map(([operation, r]) => ({ kind: 'parse' as const, operation, body: renderEc2Response('req-1', r) })), 'v1');
  responses.forEach(([operation, , expected], i) => assert.deepEqual(parsed[i], expected, operation));
});

test('SDK v3 reads the key pair and instance attribute responses', async () => {
  const replying = (xml: string): EC2Client =>
    new EC2Client({
      region: 'local-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
      requestHandler: { handle: async () => ({ response: { statusCode: 200, reason: '', headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Readable.from([Buffer.from(xml)]) } }) } as never,
    });
  const xml = (i: number): string => renderEc2Response('req-1', responses[i]![1]);
  const create = await replying(xml(0)).send(new CreateKeyPairCommand({ KeyName: 'k' }));
  assert.equal(create.KeyMaterial, '-----BEGIN RSA PRIVATE KEY-----\nMII…\n-----END RSA PRIVATE KEY-----');
  assert.equal(create.KeyPairId, KEY_ID);
  const described = await replying(xml(2)).send(new DescribeKeyPairsCommand({}));
  assert.equal(described.KeyPairs?.[0]?.PublicKey, PUB);
  assert.equal(described.KeyPairs?.[0]?.CreateTime?.toISOString(), T0.toISOString());
  assert.equal(described.KeyPairs?.[1]?.PublicKey, undefined);
  const deleted = await replying(xml(3)).send(new DeleteKeyPairCommand({ KeyName: 'k' }));
  assert.equal(deleted.KeyPairId, KEY_ID);
  const attr = await replying(xml(5)).send(new DescribeInstanceAttributeCommand({ InstanceId: I1, Attribute: 'userData' }));
  assert.deepEqual(attr.UserData, { Value: 'IyEvYmluL3No' });
  const bdm = await replying(xml(9)).send(new DescribeInstanceAttributeCommand({ InstanceId: I1, Attribute: 'blockDeviceMapping' }));
  assert.equal(bdm.BlockDeviceMappings?.[0]?.Ebs?.VolumeId, 'vol-0123456789abcdef0');
});
