// Seeded fuzzing of the EC2 query decoder: random and mutated form bodies through
// parseForm → expandParams → parseEc2Request. Every input either parses into a known action
// or is refused with an Ec2Error whose error document renders; nothing else is ever thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { parseForm, expandParams } from './query.js';
import { parseEc2Request, EC2_ACTIONS } from './ec2/requests/index.js';
import { Ec2Error } from './errors.js';
import { renderEc2ErrorFrom } from './ec2/responses/index.js';
import { seededRandom as prng } from '../../lib/testing/seeded-rng.js';

const SEEDS = [
  'Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&InstanceType=t3.micro&MinCount=1&MaxCount=2&UserData=IyEvYmluL3NoCg%3D%3D&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web&SecurityGroupId.1=sg-12345678&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda&BlockDeviceMapping.1.Ebs.VolumeSize=8&MetadataOptions.HttpTokens=required&ClientToken=abc&DryRun=false',
  'Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=instance-state-name&Filter.1.Value.1=running&Filter.1.Value.2=pending&Filter.2.Name=tag%3AName&Filter.2.Value.1=web&MaxResults=5&NextToken=abc',
  'Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0&InstanceId.2=i-1234abcd',
  'Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0&DryRun=true',
  'Action=StopInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0&Force=true',
  'Action=GetConsoleOutput&Version=2016-11-15&InstanceId=i-0123456789abcdef0&Latest=true',
  'Action=CreateTags&Version=2016-11-15&ResourceId.1=i-0123456789abcdef0&Tag.1.Key=k&Tag.1.Value=v',
  'Action=DeleteTags&Version=2016-11-15&ResourceId.1=i-0123456789abcdef0&Tag.1.Key=k',
  'Action=RegisterImage&Version=2016-11-15&Name=my-image&KernelId=aki-12345678&Architecture=x86_64&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda',
  'Action=DescribeImages&Version=2016-11-15&Owner.1=self&ImageId.1=ami-12345678&Filter.1.Name=name&Filter.1.Value.1=nitride-minimal',
  'Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=t3.micro&MaxResults=5',
  'Action=DescribeInstanceStatus&Version=2016-11-15&IncludeAllInstances=true',
  'Action=DescribeTags&Version=2016-11-15&Filter.1.Name=resource-id&Filter.1.Value.1=i-1234abcd',
  'Action=DescribeRegions&Version=2016-11-15&RegionName.1=local-1',
  'Action=DescribeAvailabilityZones&Version=2016-11-15&ZoneName.1=local-1a',
  'Action=CreateVolume&Version=2016-11-15&AvailabilityZone=local-1a&Size=8&VolumeType=gp3&Encrypted=true&KmsKeyId=alias%2Faws%2Febs&TagSpecification.1.ResourceType=volume&TagSpecification.1.Tag.1.Key=Name',
  'Action=AttachVolume&Version=2016-11-15&Device=%2Fdev%2Fsdf&InstanceId=i-1234abcd&VolumeId=vol-1234abcd',
  'Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self&RestorableBy.1=all&SnapshotId.1=snap-1234abcd',
  'Action=CreateSubnet&Version=2016-11-15&VpcId=vpc-1234abcd&CidrBlock=10.0.1.0%2F24&AvailabilityZone=local-1a',
  'Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1234abcd&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.1.Groups.1.GroupId=sg-12345678',
  'Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupName=web&IpProtocol=tcp&FromPort=80&ToPort=80&CidrIp=0.0.0.0%2F0',
  'Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId=i-1234abcd&Attribute=sourceDestCheck&Value=false',
  'Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId=i-1234abcd&GroupId.1=sg-1234abcd&GroupId.2=sg-12345678',
  'Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId=eni-1234abcd&SourceDestCheck.Value=false&Description.Value=x',
  'Action=ModifyInstanceMetadataOptions&Version=2016-11-15&InstanceId=i-1234abcd&HttpTokens=required&HttpPutResponseHopLimit=2',
];

const ALPHABET = 'aZ09.=&%+-_~ \u00e9\u4e2d\ud83d\ude00\u0000\n<>"\'';
const TOKENS = ['.', '=', '&', '%', '%2', '%zz', '%00', '%E1%88', '.0', '.1', '.01', '.1001', '.99999999999999999999', '..', '__proto__', 'constructor', 'Action', 'Value', 'Filter.1', 'InstanceId.1', '=i-', 'true', 'TRUE', '-1', '1e3', ''];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomString(r: () => number, max: number): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += r() < 0.5 ? pick(r, [...ALPHABET]) : pick(r, TOKENS);
  return s;
}

function mutate(r: () => number, body: string): string {
  let s = body;
  const steps = 1 + Math.floor(r() * 4);
  for (let k = 0; k < steps; k++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 7)) {
      case 0: // delete a span
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
        break;
      case 1: // insert a token
        s = s.slice(0, at) + pick(r, TOKENS) + s.slice(at);
        break;
      case 2: // replace a character
        s = s.slice(0, at) + pick(r, [...ALPHABET]) + s.slice(at + 1);
        break;
      case 3: {
        // duplicate a parameter
        const parts = s.split('&');
        parts.push(pick(r, parts));
        s = parts.join('&');
        break;
      }
      case 4: {
        // drop a parameter
        const parts = s.split('&');
        parts.splice(Math.floor(r() * parts.length), 1);
        s = parts.join('&');
        break;
      }
      case 5: // renumber an index
        s = s.replace(/\.([0-9]+)/, () => `.${pick(r, ['0', '2', '3', '01', '1000', '1001', '4294967297', String(Math.floor(r() * 50))])}`);
        break;
      default: // swap in another action
        s = s.replace(/Action=[A-Za-z]*/, `Action=${pick(r, [...EC2_ACTIONS, 'Nope', '', 'toString', '__proto__'])}`);
    }
  }
  return s;
}

const xml = new XMLParser();

function runOne(body: string | Uint8Array): 'ok' | 'error' {
  try {
    const req = parseEc2Request(parseForm(body));
    assert.ok((EC2_ACTIONS as readonly string[]).includes(req.action));
    assert.equal(typeof req.dryRun, 'boolean');
    return 'ok';
  } catch (e) {
    if (!(e instanceof Ec2Error)) throw new Error(`non-Ec2Error for body ${JSON.stringify(typeof body === 'string' ? body : Buffer.from(body).toString('base64'))}: ${String(e)}`, { cause: e });
    assert.ok(e.httpStatus >= 400 && e.httpStatus < 600);
    const rendered = renderEc2ErrorFrom('fuzz', e);
    const doc = xml.parse(rendered.body) as { Response: { Errors: { Error: { Code: string } } } };
    assert.equal(doc.Response.Errors.Error.Code, e.code);
    return 'error';
  }
}

test('fuzz: mutated and random form bodies give a typed request or an Ec2Error', { timeout: 120_000 }, () => {
  const r = prng(0x5eed1);
  const counts = { ok: 0, error: 0 };
  for (let i = 0; i < 4000; i++) {
    const kind = i % 4;
    let body: string | Uint8Array;
    if (kind === 0) body = randomString(r, 40);
    else if (kind === 1) body = Uint8Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256));
    else body = mutate(r, pick(r, SEEDS));
    counts[runOne(body)]++;
  }
  process.stderr.write(`[fuzz] query: ${counts.ok} parsed, ${counts.error} refused\n`);
  // The seeds themselves all parse.
  for (const s of SEEDS) assert.equal(runOne(s), 'ok', s);
  assert.ok(counts.ok > 100, `some mutations still parse (${counts.ok})`);
  assert.ok(counts.error > 1000, `most random inputs are refused (${counts.error})`);
});

// How fast these are is not a test's business (the test timeout only stops a hang).
test('fuzz: pathological sizes are answered cleanly', { timeout: 120_000 }, () => {
  const many = Array.from({ length: 1000 }, (_, i) => `InstanceId.${i + 1}=i-${(i + 0x10000000).toString(16)}`).join('&');
  assert.equal(runOne(`Action=DescribeInstances&${many}`), 'ok');
  assert.equal(runOne(`Action=DescribeInstances&${many}&InstanceId.1001=i-12345678`), 'error');
  assert.equal(runOne(`Action=DescribeInstances&${'Filter.1.'.repeat(50)}Name=x`), 'error');
  assert.equal(runOne(`Action=DescribeInstances&${Array.from({ length: 6000 }, (_, i) => `P${i}=x`).join('&')}`), 'error');
  assert.equal(runOne(`Action=DescribeInstances&A=${'%'.repeat(100_000)}`), 'error');
  assert.equal(runOne('&'.repeat(100_000)), 'error');
  assert.throws(() => expandParams(new Map([['a'.repeat(10_000), 'x']])), Ec2Error);
});
