// What the EC2 Query parser refuses rather than ignores: a parameter the action's request
// does not have (UnknownParameter, wherever it sits in the tree), and a parameter EC2 has
// but Nitride does not implement (RunInstances NetworkInterface.N.NetworkInterfaceId).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { parseEc2Request } from './ec2/requests/index.js';
import { Ec2Error } from './errors.js';
import { parseForm } from './query.js';
import { botocore } from './botocore-peer.test-helper.js';
import { code, parse, sdkBody } from './ec2-wire.test-helper.js';

const AMI = 'ami-0123456789abcdef0';
const RUN = { Action: 'RunInstances', Version: '2016-11-15', ImageId: AMI, MinCount: '1', MaxCount: '1' };

function refusal(params: Record<string, string>): { code: string; message: string } {
  try {
    parse(params);
  } catch (e) {
    assert.ok(e instanceof Ec2Error);
    return { code: e.code, message: e.message };
  }
  assert.fail('expected the request to be refused');
}

test('a parameter the action does not have is refused with UnknownParameter, at any depth', () => {
  assert.equal(parse(RUN).action, 'RunInstances');
  assert.deepEqual(refusal({ ...RUN, Frobnicate: 'yes' }), { code: 'UnknownParameter', message: 'The parameter Frobnicate is not recognized.' });
  assert.deepEqual(refusal({ ...RUN, 'Placement.AvailabilityZone': 'local-1a', 'Placement.Tenancy': 'dedicated' }), {
    code: 'UnknownParameter',
    message: 'The parameter Placement.Tenancy is not recognized.',
  });
  assert.equal(refusal({ ...RUN, 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'a', 'TagSpecification.1.Tag.1.Colour': 'red' }).message, 'The parameter TagSpecification.1.Tag.1.Colour is not recognized.');
  // another action's parameter
  assert.equal(code(() => parse({ Action: 'DescribeInstances', Version: '2016-11-15', ImageId: AMI })), 'UnknownParameter');
  // The envelope and a presigned URL's own parameters are not the action's and are accepted.
  const presigned = { Action: 'DescribeInstances', Version: '2016-11-15', 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256', 'X-Amz-Credential': 'a/b/c/d/aws4_request', 'X-Amz-Date': '20260101T000000Z', 'X-Amz-Expires': '60', 'X-Amz-SignedHeaders': 'host', 'X-Amz-Signature': '00' };
  assert.equal(parse(presigned).action, 'DescribeInstances');
});

test('RunInstances refuses NetworkInterface.N.NetworkInterfaceId and a second interface instead of ignoring them', async () => {
  const withEni = { ...RUN, 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.NetworkInterfaceId': 'eni-0123456789abcdef0' };
  const r = refusal(withEni);
  assert.equal(r.code, 'InvalidParameterValue');
  assert.match(r.message, /NetworkInterface\.1\.NetworkInterfaceId/);
  const two = { ...RUN, 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.SubnetId': 'subnet-12345678', 'NetworkInterface.2.DeviceIndex': '1', 'NetworkInterface.2.SubnetId': 'subnet-12345678' };
  assert.equal(code(() => parse(two)), 'InvalidParameterValue');
  // What the CLIs send for --no-associate-public-ip-address (subnet moved into NetworkInterface.1) still parses.
  const one = { ...RUN, 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.SubnetId': 'subnet-12345678', 'NetworkInterface.1.AssociatePublicIpAddress': 'false' };
  assert.equal(parse(one).action, 'RunInstances');
  // The same refusal for the bodies the real SDK v3 and both botocores serialize.
  const body = await sdkBody((c) => c.send(new RunInstancesCommand({ ImageId: AMI, MinCount: 1, MaxCount: 1, NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0123456789abcdef0' }] })));
  assert.equal(code(() => parseEc2Request(parseForm(body))), 'InvalidParameterValue');
  for (const peer of ['v1', 'v2'] as const) {
    const [wire] = botocore([{ kind: 'serialize', operation: 'RunInstances', params: { ImageId: AMI, MinCount: 1, MaxCount: 1, NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0123456789abcdef0' }] } }], peer) as Record<string, string>[];
    assert.ok(wire !== undefined);
    assert.equal(code(() => parseEc2Request(new Map(Object.entries(wire)))), 'InvalidParameterValue', peer);
  }
});

test('RunInstances values Nitride does not implement are refused; the values it does implement pass', () => {
  const refused: [Record<string, string>, string][] = [
    [{ KernelId: 'aki-12345678' }, 'KernelId'],
    [{ RamdiskId: 'ari-12345678' }, 'RamdiskId'],
    [{ 'Monitoring.Enabled': 'true' }, 'Monitoring.Enabled'],
    [{ 'MetadataOptions.HttpProtocolIpv6': 'enabled' }, 'MetadataOptions.HttpProtocolIpv6'],
    [{ 'MetadataOptions.InstanceMetadataTags': 'enabled' }, 'MetadataOptions.InstanceMetadataTags'],
    [{ 'NetworkInterface.1.DeviceIndex': '1' }, 'NetworkInterface.1.DeviceIndex'],
    [{ 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.DeleteOnTermination': 'false' }, 'NetworkInterface.1.DeleteOnTermination'],
    [{ 'NetworkInterface.1.DeviceIndex': '0', 'NetworkInterface.1.Description': 'mine' }, 'NetworkInterface.1.Description'],
  ];
  for (const [extra, name] of refused) {
    const r = refusal({ ...RUN, ...extra });
    assert.equal(r.code, 'InvalidParameterValue', name);
    assert.ok(r.message.includes(`parameter ${name} is invalid`), r.message);
  }
  const honoured = {
    ...RUN,
    'Monitoring.Enabled': 'false',
    // kept on the instance and honoured (src/region/ec2/instance-attributes.ts)
    InstanceInitiatedShutdownBehavior: 'terminate',
    DisableApiTermination: 'true',
    DisableApiStop: 'true',
    EbsOptimized: 'true',
    'MetadataOptions.HttpProtocolIpv6': 'disabled',
    'MetadataOptions.InstanceMetadataTags': 'disabled',
    'NetworkInterface.1.DeviceIndex': '0',
    'NetworkInterface.1.AssociatePublicIpAddress': 'false',
    'NetworkInterface.1.DeleteOnTermination': 'true',
  };
  assert.equal(parse(honoured).action, 'RunInstances');
});
