// Issue 14's EC2 actions through the AWS CLI v2 (/usr/bin/aws, the tutorials' commands), the CLI
// v1 and @aws-sdk/client-ec2 v3, against a Region opened in this process whose only host is a
// phantom (launched instances stay pending) plus stopped instances seeded in its store: account
// attributes, instance type offerings, launch templates and RunInstances --launch-template,
// ModifyInstanceAttribute on a stopped instance (and IncorrectInstanceState on a pending one),
// termination and stop protection, --key-name of no key pair (nothing launched), CreateTags on
// every resource type with an id, DescribeVpcs isDefault and ClassicLink's empty answers. Every
// mutating call is in the audit trail before its effect, as every other action's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '@aws-sdk/client-ec2';
import type { Region } from '../../src/region/region.js';
import { BUILTIN_AMI, auditEvents, awsAsyncError, awsAsyncJson, dumpDiagnostics, instanceRecord, failureTracker, openLocalRegion, phantomHost, sdkErrorCode, seedStore, type CliName } from '../region-fixtures.js';

let home = '';
let region: Region | undefined;
let ec2: E.EC2Client;
let stoppedId = '';
let stopped2Id = '';

const run = failureTracker();
const guarded = run.guarded;

const cli = <T = Record<string, unknown>>(which: CliName, args: readonly string[]): Promise<T> => awsAsyncJson<T>(which, home, region!.endpoint, args);
const cliError = (which: CliName, args: readonly string[]): Promise<string> => awsAsyncError(which, home, region!.endpoint, args);

const code = sdkErrorCode;

const instanceCount = async (): Promise<number> => ((await ec2.send(new E.DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nitride-ec2tools-'));
  const first = await openLocalRegion(home);
  const accountId = first.credentials.accountId;
  await first.close();
  const s1 = instanceRecord(accountId, undefined); // stopped, never placed on a host
  const s2 = instanceRecord(accountId, undefined);
  stoppedId = s1.id;
  stopped2Id = s2.id;
  await seedStore(home, { hosts: [phantomHost(2048 + 16 * 512)], instances: [s1, s2] });
  region = await openLocalRegion(home);
  ec2 = new E.EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey }, maxAttempts: 1 });
});

after(async () => {
  try {
    if (run.failed) dumpDiagnostics(home);
    if (region) await region.close();
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test(
  'DescribeAccountAttributes and DescribeInstanceTypeOfferings (region, availability-zone, availability-zone-id; filters) through both CLIs and SDK v3',
  guarded(async () => {
    for (const which of ['v2', 'v1'] as const) {
      const attrs = await cli<{ AccountAttributes: { AttributeName: string; AttributeValues: { AttributeValue: string }[] }[] }>(which, ['ec2', 'describe-account-attributes']);
      const byName = Object.fromEntries(attrs.AccountAttributes.map((a) => [a.AttributeName, a.AttributeValues.map((v) => v.AttributeValue)]));
      assert.deepEqual(byName['supported-platforms'], ['VPC']);
      const defaultVpc = (await ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs![0]!.VpcId!;
      assert.deepEqual(byName['default-vpc'], [defaultVpc]);
      const one = await cli<{ AccountAttributes: { AttributeName: string }[] }>(which, ['ec2', 'describe-account-attributes', '--attribute-names', 'default-vpc']);
      assert.deepEqual(one.AccountAttributes.map((a) => a.AttributeName), ['default-vpc']);

      const regionWide = await cli<{ InstanceTypeOfferings: { InstanceType: string; LocationType: string; Location: string }[] }>(which, ['ec2', 'describe-instance-type-offerings']);
      const types = (await ec2.send(new E.DescribeInstanceTypesCommand({}))).InstanceTypes!.map((t) => t.InstanceType!).sort();
      assert.deepEqual(regionWide.InstanceTypeOfferings.map((o) => o.InstanceType).sort(), types, 'every instance type is offered in the region');
      assert.ok(regionWide.InstanceTypeOfferings.every((o) => o.LocationType === 'region' && o.Location === 'local-1'));
      const inZone = await cli<{ InstanceTypeOfferings: { InstanceType: string; LocationType: string; Location: string }[] }>(which, [
        'ec2', 'describe-instance-type-offerings', '--location-type', 'availability-zone', '--filters', 'Name=instance-type,Values=t3.nano,t3.micro', 'Name=location,Values=local-1a',
      ]);
      assert.deepEqual(inZone.InstanceTypeOfferings.map((o) => `${o.InstanceType}@${o.LocationType}:${o.Location}`).sort(), ['t3.micro@availability-zone:local-1a', 't3.nano@availability-zone:local-1a']);
      assert.equal(await cliError(which, ['ec2', 'describe-instance-type-offerings', '--filters', 'Name=frob,Values=x']), 'InvalidParameterValue');
    }
    const byId = await ec2.send(new E.DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone-id', Filters: [{ Name: 'instance-type', Values: ['t3.nano'] }] }));
    const zoneId = (await ec2.send(new E.DescribeAvailabilityZonesCommand({}))).AvailabilityZones![0]!.ZoneId;
    assert.deepEqual(byId.InstanceTypeOfferings, [{ InstanceType: 't3.nano', LocationType: 'availability-zone-id', Location: zoneId }]);
    const paged = await ec2.send(new E.DescribeInstanceTypeOfferingsCommand({ MaxResults: 5 }));
    assert.equal(paged.InstanceTypeOfferings!.length, 5);
    assert.ok(paged.NextToken);
    assert.equal(await code(ec2.send(new E.DescribeAccountAttributesCommand({ AttributeNames: ['frob' as E.AccountAttributeName] }))), 'InvalidParameterValue');
  }),
);

test(
  'launch templates through the CLI v2: create, versions, default version, RunInstances --launch-template (explicit parameters override), delete',
  guarded(async () => {
    const data = JSON.stringify({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'from', Value: 'template' }] }], DisableApiTermination: true });
    const made = await cli<{ LaunchTemplate: { LaunchTemplateId: string; LaunchTemplateName: string; DefaultVersionNumber: number; LatestVersionNumber: number } }>('v2', [
      'ec2', 'create-launch-template', '--launch-template-name', 'web', '--version-description', 'first', '--launch-template-data', data, '--tag-specifications', 'ResourceType=launch-template,Tags=[{Key=team,Value=a}]',
    ]);
    const ltId = made.LaunchTemplate.LaunchTemplateId;
    assert.match(ltId, /^lt-[0-9a-f]{17}$/);
    assert.deepEqual([made.LaunchTemplate.LaunchTemplateName, made.LaunchTemplate.DefaultVersionNumber, made.LaunchTemplate.LatestVersionNumber], ['web', 1, 1]);
    assert.equal(await cliError('v2', ['ec2', 'create-launch-template', '--launch-template-name', 'web', '--launch-template-data', data]), 'InvalidLaunchTemplateName.AlreadyExistsException');
    // a retry with the same client token is answered with the same template
    const again = await cli<{ LaunchTemplate: { LaunchTemplateId: string } }>('v2', ['ec2', 'create-launch-template', '--launch-template-name', 'retry', '--launch-template-data', data, '--client-token', 'retry-1']);
    const retried = await cli<{ LaunchTemplate: { LaunchTemplateId: string } }>('v2', ['ec2', 'create-launch-template', '--launch-template-name', 'retry', '--launch-template-data', data, '--client-token', 'retry-1']);
    assert.equal(retried.LaunchTemplate.LaunchTemplateId, again.LaunchTemplate.LaunchTemplateId);
    assert.equal(await cliError('v2', ['ec2', 'create-launch-template', '--launch-template-name', 'other', '--launch-template-data', data, '--client-token', 'retry-1']), 'IdempotentParameterMismatch');
    await cli('v2', ['ec2', 'delete-launch-template', '--launch-template-id', again.LaunchTemplate.LaunchTemplateId]);
    assert.equal(await cliError('v2', ['ec2', 'create-launch-template', '--launch-template-name', 'bad name!', '--launch-template-data', data]), 'InvalidLaunchTemplateName.MalformedException');

    const v2 = await cli<{ LaunchTemplateVersion: { VersionNumber: number; LaunchTemplateData: { ImageId: string; InstanceType: string; DisableApiTermination: boolean } } }>('v2', [
      'ec2', 'create-launch-template-version', '--launch-template-id', ltId, '--source-version', '1', '--launch-template-data', '{"InstanceType":"t3.micro"}',
    ]);
    assert.equal(v2.LaunchTemplateVersion.VersionNumber, 2);
    assert.deepEqual([v2.LaunchTemplateVersion.LaunchTemplateData.ImageId, v2.LaunchTemplateVersion.LaunchTemplateData.InstanceType, v2.LaunchTemplateVersion.LaunchTemplateData.DisableApiTermination], [BUILTIN_AMI, 't3.micro', true], 'the source version under the new data');

    const described = await cli<{ LaunchTemplates: { LaunchTemplateId: string; DefaultVersionNumber: number; LatestVersionNumber: number; Tags: { Key: string; Value: string }[] }[] }>('v2', ['ec2', 'describe-launch-templates', '--launch-template-names', 'web']);
    assert.deepEqual(described.LaunchTemplates.map((t) => [t.LaunchTemplateId, t.DefaultVersionNumber, t.LatestVersionNumber, t.Tags]), [[ltId, 1, 2, [{ Key: 'team', Value: 'a' }]]]);
    const versions = await cli<{ LaunchTemplateVersions: { VersionNumber: number; DefaultVersion: boolean; VersionDescription?: string }[] }>('v2', ['ec2', 'describe-launch-template-versions', '--launch-template-id', ltId]);
    assert.deepEqual(versions.LaunchTemplateVersions.map((v) => [v.VersionNumber, v.DefaultVersion, v.VersionDescription]).sort(), [[1, true, 'first'], [2, false, undefined]]);

    // $Default (version 1): t3.nano, termination protection and the template's tags
    const before = await instanceCount();
    const fromDefault = (await cli<{ Instances: { InstanceId: string; InstanceType: string; ImageId: string; Tags: { Key: string; Value: string }[] }[] }>('v2', ['ec2', 'run-instances', '--launch-template', 'LaunchTemplateName=web'])).Instances[0]!;
    assert.deepEqual([fromDefault.ImageId, fromDefault.InstanceType], [BUILTIN_AMI, 't3.nano']);
    assert.deepEqual(fromDefault.Tags, [{ Key: 'from', Value: 'template' }]);
    assert.deepEqual((await ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: fromDefault.InstanceId, Attribute: 'disableApiTermination' }))).DisableApiTermination, { Value: true });
    assert.equal(await cliError('v2', ['ec2', 'terminate-instances', '--instance-ids', fromDefault.InstanceId]), 'OperationNotPermitted');
    // $Latest (version 2), and an explicit --instance-type over the template's
    const fromLatest = (await cli<{ Instances: { InstanceType: string }[] }>('v2', ['ec2', 'run-instances', '--launch-template', `LaunchTemplateId=${ltId},Version=$Latest`])).Instances[0]!;
    assert.equal(fromLatest.InstanceType, 't3.micro');
    const overridden = (await cli<{ Instances: { InstanceType: string }[] }>('v2', ['ec2', 'run-instances', '--launch-template', `LaunchTemplateId=${ltId},Version=2`, '--instance-type', 't3.small'])).Instances[0]!;
    assert.equal(overridden.InstanceType, 't3.small');
    assert.equal(await instanceCount(), before + 3);
    assert.equal(await cliError('v2', ['ec2', 'run-instances', '--launch-template', `LaunchTemplateId=${ltId},Version=9`]), 'InvalidLaunchTemplateId.VersionNotFound');
    assert.equal(await cliError('v2', ['ec2', 'run-instances', '--launch-template', 'LaunchTemplateName=nope']), 'InvalidLaunchTemplateName.NotFoundException');
    assert.equal(await instanceCount(), before + 3, 'a refused launch launches nothing');

    // the default version moves; the default one cannot be deleted, others can
    const modified = await cli<{ LaunchTemplate: { DefaultVersionNumber: number } }>('v2', ['ec2', 'modify-launch-template', '--launch-template-id', ltId, '--default-version', '2']);
    assert.equal(modified.LaunchTemplate.DefaultVersionNumber, 2);
    const del = await cli<{ SuccessfullyDeletedLaunchTemplateVersions: { VersionNumber: number }[]; UnsuccessfullyDeletedLaunchTemplateVersions: { VersionNumber: number; ResponseError: { Code: string } }[] }>('v2', [
      'ec2', 'delete-launch-template-versions', '--launch-template-id', ltId, '--versions', '1', '2', '7',
    ]);
    assert.deepEqual(del.SuccessfullyDeletedLaunchTemplateVersions.map((v) => v.VersionNumber), [1]);
    assert.deepEqual(del.UnsuccessfullyDeletedLaunchTemplateVersions.map((v) => [v.VersionNumber, v.ResponseError.Code]), [[2, 'unexpectedError'], [7, 'launchTemplateVersionDoesNotExist']]);
    // SDK v3 reads the same shapes
    const sdkVersions = await ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'web', Versions: ['$Default'] }));
    assert.deepEqual(sdkVersions.LaunchTemplateVersions!.map((v) => [v.VersionNumber, v.DefaultVersion, v.LaunchTemplateData?.InstanceType]), [[2, true, 't3.micro']]);
    const all = await ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest'] }));
    assert.deepEqual(all.LaunchTemplateVersions!.map((v) => v.LaunchTemplateId), [ltId]);

    const deleted = await cli<{ LaunchTemplate: { LaunchTemplateId: string } }>('v2', ['ec2', 'delete-launch-template', '--launch-template-name', 'web']);
    assert.equal(deleted.LaunchTemplate.LaunchTemplateId, ltId);
    assert.equal(await cliError('v2', ['ec2', 'describe-launch-templates', '--launch-template-ids', ltId]), 'InvalidLaunchTemplateId.NotFound');
    assert.equal(await cliError('v2', ['ec2', 'describe-launch-templates', '--launch-template-ids', 'lt-zz']), 'InvalidLaunchTemplateId.Malformed');

    const events = auditEvents(home);
    for (const a of ['CreateLaunchTemplate', 'CreateLaunchTemplateVersion', 'ModifyLaunchTemplate', 'DeleteLaunchTemplateVersions', 'DeleteLaunchTemplate']) {
      assert.ok(events.some((e) => e['eventName'] === a && e['phase'] === 'request'), `${a} is audited before its effect`);
      assert.ok(events.some((e) => e['eventName'] === a && e['phase'] === 'outcome' && e['errorCode'] === undefined), `${a}'s outcome is audited`);
    }
  }),
);

test(
  'ModifyInstanceAttribute through the CLI v2 on a stopped instance (type, user data, protection, shutdown behaviour, ebsOptimized), IncorrectInstanceState on a pending one',
  guarded(async () => {
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--instance-type', 'Value=t3.micro']);
    const attr = async (a: string): Promise<Record<string, unknown>> => cli('v2', ['ec2', 'describe-instance-attribute', '--instance-id', stoppedId, '--attribute', a]);
    assert.deepEqual((await attr('instanceType'))['InstanceType'], { Value: 't3.micro' });
    assert.equal((await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [stoppedId] }))).Reservations![0]!.Instances![0]!.InstanceType, 't3.micro');
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--attribute', 'userData', '--value', Buffer.from('#!/bin/sh\necho hi\n').toString('base64')]);
    assert.equal(Buffer.from(((await attr('userData'))['UserData'] as { Value: string }).Value, 'base64').toString(), '#!/bin/sh\necho hi\n');
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--instance-initiated-shutdown-behavior', 'Value=terminate']);
    assert.deepEqual((await attr('instanceInitiatedShutdownBehavior'))['InstanceInitiatedShutdownBehavior'], { Value: 'terminate' });
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--ebs-optimized']);
    assert.deepEqual((await attr('ebsOptimized'))['EbsOptimized'], { Value: true });
    assert.equal((await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [stoppedId] }))).Reservations![0]!.Instances![0]!.EbsOptimized, true);
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--disable-api-termination']);
    assert.equal(await cliError('v2', ['ec2', 'terminate-instances', '--instance-ids', stoppedId]), 'OperationNotPermitted');
    assert.equal(await code(ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [stoppedId] }))), 'OperationNotPermitted');
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--no-disable-api-termination']);
    assert.equal(await cliError('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--instance-type', 'Value=x9.huge']), 'InvalidInstanceAttributeValue');
    assert.equal(await cliError('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stoppedId, '--kernel', 'Value=aki-12345678']), 'InvalidParameterValue');

    // a pending instance (the phantom host never runs it): type and user data are refused; stop protection holds
    const pending = (await ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, DisableApiStop: true }))).Instances![0]!.InstanceId!;
    assert.equal(await cliError('v2', ['ec2', 'modify-instance-attribute', '--instance-id', pending, '--instance-type', 'Value=t3.micro']), 'IncorrectInstanceState');
    assert.equal(await cliError('v1', ['ec2', 'modify-instance-attribute', '--instance-id', pending, '--user-data', 'Value=eA==']), 'IncorrectInstanceState');
    assert.equal(await cliError('v2', ['ec2', 'stop-instances', '--instance-ids', pending]), 'OperationNotPermitted');
    assert.deepEqual((await ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: pending, Attribute: 'disableApiStop' }))).DisableApiStop, { Value: true });
    assert.equal((await ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [pending] }))).Reservations![0]!.Instances![0]!.State!.Name, 'pending', 'a refused stop changes nothing');

    // blockDeviceMapping: DeleteOnTermination of an attached volume
    const vol = await ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }));
    await ec2.send(new E.AttachVolumeCommand({ VolumeId: vol.VolumeId!, InstanceId: stopped2Id, Device: '/dev/sdf' }));
    await cli('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stopped2Id, '--block-device-mappings', `DeviceName=/dev/sdf,Ebs={DeleteOnTermination=true,VolumeId=${vol.VolumeId}}`]);
    const bdm = (await ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: stopped2Id, Attribute: 'blockDeviceMapping' }))).BlockDeviceMappings!;
    assert.deepEqual(bdm.map((m) => [m.DeviceName, m.Ebs?.VolumeId, m.Ebs?.DeleteOnTermination]), [['/dev/sdf', vol.VolumeId, true]]);
    assert.equal(await cliError('v2', ['ec2', 'modify-instance-attribute', '--instance-id', stopped2Id, '--block-device-mappings', 'DeviceName=/dev/sdz,Ebs={DeleteOnTermination=true}']), 'InvalidInstanceAttributeValue');

    const audited = auditEvents(home).filter((e) => e['eventName'] === 'ModifyInstanceAttribute' && e['phase'] === 'request').length;
    assert.ok(audited >= 8, `ModifyInstanceAttribute calls are audited before their effect (${audited})`);
  }),
);

test(
  'RunInstances --key-name of a key pair that does not exist: InvalidKeyPair.NotFound through both CLIs and SDK v3, nothing launched',
  guarded(async () => {
    const before = await instanceCount();
    for (const which of ['v2', 'v1'] as const) {
      assert.equal(await cliError(which, ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--instance-type', 't3.nano', '--key-name', 'no-such-key']), 'InvalidKeyPair.NotFound');
    }
    assert.equal(await code(ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, MinCount: 1, MaxCount: 1, KeyName: 'no-such-key' }))), 'InvalidKeyPair.NotFound');
    assert.equal(await instanceCount(), before);
  }),
);

test(
  'tags on every resource type with an id (vpc, subnet, security group, ENI, launch template) and DescribeTags resource types; DescribeVpcs isDefault; ClassicLink answers no VPC',
  guarded(async () => {
    const vpc = (await ec2.send(new E.CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new E.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.9.1.0/24' }))).Subnet!.SubnetId!;
    const sg = (await ec2.send(new E.CreateSecurityGroupCommand({ GroupName: 'tagged', Description: 'tagged', VpcId: vpc }))).GroupId!;
    const inst = (await ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, SubnetId: subnet }))).Instances![0]!;
    const eni = inst.NetworkInterfaces![0]!.NetworkInterfaceId!;
    const lt = (await ec2.send(new E.CreateLaunchTemplateCommand({ LaunchTemplateName: 'tagged', LaunchTemplateData: { ImageId: BUILTIN_AMI } }))).LaunchTemplate!.LaunchTemplateId!;
    const ids = { vpc, subnet, 'security-group': sg, 'network-interface': eni, 'launch-template': lt };
    await cli('v2', ['ec2', 'create-tags', '--resources', ...Object.values(ids), '--tags', 'Key=env,Value=test', 'Key=gone,Value=soon']);
    await cli('v1', ['ec2', 'delete-tags', '--resources', ...Object.values(ids), '--tags', 'Key=gone']);
    const tags = await cli<{ Tags: { ResourceId: string; ResourceType: string; Key: string; Value: string }[] }>('v2', ['ec2', 'describe-tags', '--filters', 'Name=key,Values=env,gone']);
    assert.deepEqual(
      tags.Tags.map((t) => `${t.ResourceType} ${t.ResourceId} ${t.Key}=${t.Value}`).sort(),
      Object.entries(ids).map(([type, id]) => `${type} ${id} env=test`).sort(),
    );
    assert.deepEqual((await ec2.send(new E.DescribeVpcsCommand({ VpcIds: [vpc] }))).Vpcs![0]!.Tags, [{ Key: 'env', Value: 'test' }]);
    assert.deepEqual((await ec2.send(new E.DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups![0]!.Tags, [{ Key: 'env', Value: 'test' }]);
    assert.deepEqual((await ec2.send(new E.DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] }))).NetworkInterfaces![0]!.TagSet, [{ Key: 'env', Value: 'test' }]);
    assert.deepEqual((await ec2.send(new E.DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [lt] }))).LaunchTemplates![0]!.Tags, [{ Key: 'env', Value: 'test' }]);
    assert.equal(await code(ec2.send(new E.CreateTagsCommand({ Resources: ['vpc-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] }))), 'InvalidVpcID.NotFound');
    assert.equal(await code(ec2.send(new E.CreateTagsCommand({ Resources: ['sg-0123456789abcdef0', vpc], Tags: [{ Key: 'x', Value: 'y' }] }))), 'InvalidGroup.NotFound');
    assert.deepEqual((await ec2.send(new E.DescribeVpcsCommand({ VpcIds: [vpc] }))).Vpcs![0]!.Tags, [{ Key: 'env', Value: 'test' }], 'a refused CreateTags tags nothing');

    // DescribeVpcs: isDefault (what Ansible's ec2_instance sends) alongside is-default
    const dflt = (await ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs!.map((v) => v.VpcId);
    assert.equal(dflt.length, 1);
    assert.deepEqual((await ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }))).Vpcs!.map((v) => v.VpcId), dflt);
    assert.deepEqual((await cli<{ Vpcs: { VpcId: string }[] }>('v2', ['ec2', 'describe-vpcs', '--filters', 'Name=isDefault,Values=false'])).Vpcs.map((v) => v.VpcId), [vpc]);

    // ClassicLink: EC2 retired it and answers no VPC; unknown VPCs and filters keep their codes
    assert.deepEqual((await cli<{ Vpcs: unknown[] }>('v2', ['ec2', 'describe-vpc-classic-link'])).Vpcs, []);
    assert.deepEqual((await ec2.send(new E.DescribeVpcClassicLinkCommand({ VpcIds: [vpc], Filters: [{ Name: 'is-classic-link-enabled', Values: ['false'] }] }))).Vpcs, []);
    assert.deepEqual((await ec2.send(new E.DescribeVpcClassicLinkDnsSupportCommand({ VpcIds: [vpc] }))).Vpcs, []);
    assert.equal(await code(ec2.send(new E.DescribeVpcClassicLinkCommand({ VpcIds: ['vpc-0123456789abcdef0'] }))), 'InvalidVpcID.NotFound');
    assert.equal(await code(ec2.send(new E.DescribeVpcClassicLinkCommand({ Filters: [{ Name: 'frob', Values: ['x'] }] }))), 'InvalidParameterValue');
  }),
);
