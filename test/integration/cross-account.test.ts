// Accounts are tenants: the cross-account suite. Two accounts, A and B, are made through
// `nitride account create` on a region with its local host (controller and cards; one guest of
// the minimal image for A, stopped before the attempts). A owns one of every resource type the
// region has: an instance with its ENI, a private image, volumes, snapshots (EC2 and EBS direct,
// completed and pending), a key pair, the default VPC with its subnet and security group, a
// VPC of its own with a subnet and a group, a KMS key with an alias, a grant and a ciphertext,
// an IAM user with a policy and an access key, and tags on each of them.
//
// Then B tries every action of every service the region answers (EC2, KMS, IAM, EBS direct,
// Organizations), naming A's resources wherever the action takes one, through SDK v3 (and a few
// through both AWS CLIs). Each attempt must be refused with the service's own code (recorded
// with each case), or, for an action that names nothing of another account (a Describe without ids, a
// Create of B's own), succeed while its answer holds none of A's identifiers. Afterwards A's
// view of everything it owns is byte-for-byte what it was, and every refusal is in the audit
// trail with its code.
//
// The attempts are data, in test/cross-account-cases.ts (CASES, keyed service:Action). The
// suite stays complete: a test compares CASES' keys with the region's own action tables
// (EC2_ACTION_TABLE, KMS_OPERATIONS, IAM_ACTIONS, EBS_ROUTES, ORGANIZATIONS_OPERATIONS), so a
// new action fails the suite until it has its cases there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import * as E from '@aws-sdk/client-ec2';
import * as K from '@aws-sdk/client-kms';
import * as I from '@aws-sdk/client-iam';
import * as B from '@aws-sdk/client-ebs';
import { readAwsProfile } from '../../src/lib/aws-profile.js';
import { BLOCK, CASES, block, clients, regionActions, sha256, tcp22, type AResources, type BResources, type Clients, type Creds } from '../cross-account-cases.js';
import { BUILTIN_AMI, CLIS, CLI_MAIN, auditEvents, cleanEnv, waitFor, withLocalRegion, type CliName } from '../region-fixtures.js';

test('the cross-account suite has cases for every action the region answers, and no others', () => {
  const actions = regionActions();
  const covered = Object.keys(CASES).sort();
  assert.deepEqual(
    actions.filter((a) => !covered.includes(a)),
    [],
    'actions without cross-account cases: add them to test/cross-account-cases.ts',
  );
  assert.deepEqual(
    covered.filter((a) => !actions.includes(a)),
    [],
    'cases for actions the region does not have',
  );
  assert.ok(actions.length > 100, `${actions.length} actions`);
});
// ---- the run ------------------------------------------------------------------------------

/** Runs a command line asynchronously (the region answers in this process). */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1;
      resolve({ status: code, stdout, stderr });
    });
  });
}

async function nitrideAccountCreate(home: string, name: string): Promise<{ accountId: string; creds: Creds }> {
  const r = await run(process.execPath, [CLI_MAIN, 'account', 'create', name, '--json'], cleanEnv({ NITRIDE_HOME: home }));
  assert.equal(r.status, 0, `nitride account create ${name}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { accountId: string; profile: string };
  const p = readAwsProfile(home, out.profile);
  assert.ok(p, `profile ${out.profile} written`);
  return { accountId: out.accountId, creds: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey } };
}

/** Everything A can see of what it owns, without per-request metadata (and without ListSnapshotBlocks' ExpiryTime, which moves with the clock). */
async function viewOf(a: AResources, c: Clients): Promise<Record<string, string>> {
  const strip = (o: unknown): unknown => JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === '$metadata' || k === 'ExpiryTime' ? undefined : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)));
  const keys = (await c.kms.send(new K.ListKeysCommand({}))).Keys ?? [];
  const blk = await c.ebs.send(new B.GetSnapshotBlockCommand({ SnapshotId: a.directSnapshotId, BlockIndex: 0, BlockToken: a.blockToken }));
  const bytes = Buffer.from(await blk.BlockData!.transformToByteArray());
  const v = {
    instances: await c.ec2.send(new E.DescribeInstancesCommand({})),
    images: await c.ec2.send(new E.DescribeImagesCommand({ Owners: ['self'] })),
    volumes: await c.ec2.send(new E.DescribeVolumesCommand({})),
    snapshots: await c.ec2.send(new E.DescribeSnapshotsCommand({ OwnerIds: ['self'] })),
    keyPairs: await c.ec2.send(new E.DescribeKeyPairsCommand({ IncludePublicKey: true })),
    vpcs: await c.ec2.send(new E.DescribeVpcsCommand({})),
    subnets: await c.ec2.send(new E.DescribeSubnetsCommand({})),
    groups: await c.ec2.send(new E.DescribeSecurityGroupsCommand({})),
    enis: await c.ec2.send(new E.DescribeNetworkInterfacesCommand({})),
    internetGateways: await c.ec2.send(new E.DescribeInternetGatewaysCommand({})),
    routeTables: await c.ec2.send(new E.DescribeRouteTablesCommand({})),
    addresses: await c.ec2.send(new E.DescribeAddressesCommand({})),
    dnsHostnames: await c.ec2.send(new E.DescribeVpcAttributeCommand({ VpcId: a.vpcId, Attribute: 'enableDnsHostnames' })),
    tags: await c.ec2.send(new E.DescribeTagsCommand({})),
    ebsDefault: await c.ec2.send(new E.GetEbsEncryptionByDefaultCommand({})),
    ebsKey: await c.ec2.send(new E.GetEbsDefaultKmsKeyIdCommand({})),
    kmsKeys: await Promise.all(keys.map((k) => c.kms.send(new K.DescribeKeyCommand({ KeyId: k.KeyId! })))),
    aliases: await c.kms.send(new K.ListAliasesCommand({})),
    policy: await c.kms.send(new K.GetKeyPolicyCommand({ KeyId: a.kmsKeyId, PolicyName: 'default' })),
    grants: await c.kms.send(new K.ListGrantsCommand({ KeyId: a.kmsKeyId })),
    rotation: await c.kms.send(new K.GetKeyRotationStatusCommand({ KeyId: a.kmsKeyId })),
    keyTags: await c.kms.send(new K.ListResourceTagsCommand({ KeyId: a.kmsKeyId })),
    role: await c.iam.send(new I.GetRoleCommand({ RoleName: a.roleName })),
    rolePolicy: await c.iam.send(new I.GetRolePolicyCommand({ RoleName: a.roleName, PolicyName: a.rolePolicyName })),
    decrypted: Buffer.from((await c.kms.send(new K.DecryptCommand({ CiphertextBlob: a.ciphertext }))).Plaintext!).toString('utf8'),
    users: await c.iam.send(new I.ListUsersCommand({})),
    userKeys: await c.iam.send(new I.ListAccessKeysCommand({ UserName: a.userName })),
    rootKeys: await c.iam.send(new I.ListAccessKeysCommand({})),
    userPolicy: await c.iam.send(new I.GetUserPolicyCommand({ UserName: a.userName, PolicyName: a.policyName })),
    directBlocks: await c.ebs.send(new B.ListSnapshotBlocksCommand({ SnapshotId: a.directSnapshotId })),
    block0: sha256(bytes),
  };
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, JSON.stringify(strip(x))]));
}

async function makeA(c: Clients, accountId: string): Promise<AResources> {
  const key = (await c.kms.send(new K.CreateKeyCommand({ Description: 'a' }))).KeyMetadata!;
  const aliasName = 'alias/a-key';
  await c.kms.send(new K.CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId! }));
  const grant = await c.kms.send(new K.CreateGrantCommand({ KeyId: key.KeyId!, GranteePrincipal: `arn:aws:iam::${accountId}:root`, Operations: ['Decrypt'] }));
  const ciphertext = (await c.kms.send(new K.EncryptCommand({ KeyId: key.KeyId!, Plaintext: Buffer.from('a secret') }))).CiphertextBlob!;

  const user = (await c.iam.send(new I.CreateUserCommand({ UserName: 'alice' }))).User!;
  await c.iam.send(new I.CreateUserCommand({ UserName: 'only-in-a' }));
  await c.iam.send(new I.PutUserPolicyCommand({ UserName: 'alice', PolicyName: 'ec2-read', PolicyDocument: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}' }));
  const userKey = (await c.iam.send(new I.CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
  const role = (
    await c.iam.send(
      new I.CreateRoleCommand({ RoleName: 'only-in-a-role', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' } }) }),
    )
  ).Role!;
  await c.iam.send(new I.PutRolePolicyCommand({ RoleName: 'only-in-a-role', PolicyName: 'ec2-read', PolicyDocument: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}' }));
  await c.kms.send(new K.TagResourceCommand({ KeyId: key.KeyId!, Tags: [{ TagKey: 'owner', TagValue: 'a' }] }));

  const kp = await c.ec2.send(new E.CreateKeyPairCommand({ KeyName: 'a-pair', KeyType: 'ed25519' }));
  const vpc = (await c.ec2.send(new E.CreateVpcCommand({ CidrBlock: '10.7.0.0/16' }))).Vpc!;
  const subnet = (await c.ec2.send(new E.CreateSubnetCommand({ VpcId: vpc.VpcId!, CidrBlock: '10.7.1.0/24', AvailabilityZone: 'local-1a' }))).Subnet!;
  const group = await c.ec2.send(new E.CreateSecurityGroupCommand({ GroupName: 'a-group', Description: 'a', VpcId: vpc.VpcId! }));
  await c.ec2.send(new E.AuthorizeSecurityGroupIngressCommand({ GroupId: group.GroupId!, IpPermissions: tcp22 }));

  const inst = (await c.ec2.send(new E.RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, KeyName: 'a-pair' }))).Instances![0]!;
  const instanceId = inst.InstanceId!;
  const state = async (): Promise<string | undefined> => (await c.ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
  await waitFor("A's instance running", async () => (await state()) === 'running', 180_000, 500);
  await c.ec2.send(new E.StopInstancesCommand({ InstanceIds: [instanceId] }));
  await waitFor("A's instance stopped", async () => (await state()) === 'stopped', 180_000, 500);
  const described = (await c.ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations![0]!.Instances![0]!;
  const eniId = described.NetworkInterfaces?.[0]?.NetworkInterfaceId;
  assert.ok(eniId, "A's instance has an ENI");
  const defaultVpcId = described.VpcId!;
  const defaultSubnetId = described.SubnetId!;
  const defaultGroupId = described.SecurityGroups![0]!.GroupId!;
  // The VPC edge: the default VPC's gateway and main table, and an Elastic IP on the instance.
  const igwId = (await c.ec2.send(new E.DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [defaultVpcId] }] }))).InternetGateways![0]!.InternetGatewayId!;
  const mainTable = (await c.ec2.send(new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [defaultVpcId] }] }))).RouteTables![0]!;
  const eip = await c.ec2.send(new E.AllocateAddressCommand({ Domain: 'vpc' }));
  const eipAssociationId = (await c.ec2.send(new E.AssociateAddressCommand({ AllocationId: eip.AllocationId!, InstanceId: instanceId }))).AssociationId!;

  const vol = await c.ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1, Encrypted: true, KmsKeyId: key.Arn! }));
  const snap = await c.ec2.send(new E.CreateSnapshotCommand({ VolumeId: vol.VolumeId!, Description: 'a' }));
  await waitFor("A's snapshot completed", async () => (await c.ec2.send(new E.DescribeSnapshotsCommand({ SnapshotIds: [snap.SnapshotId!] }))).Snapshots?.[0]?.State === 'completed', 120_000, 500);
  const image = await c.ec2.send(new E.RegisterImageCommand({ Name: 'a-image', RootDeviceName: '/dev/xvda', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap.SnapshotId! } }] }));

  const direct = (await c.ebs.send(new B.StartSnapshotCommand({ VolumeSize: 1, Timeout: 60 }))).SnapshotId!;
  await c.ebs.send(new B.PutSnapshotBlockCommand({ SnapshotId: direct, BlockIndex: 0, BlockData: block, DataLength: BLOCK, Checksum: sha256(block), ChecksumAlgorithm: 'SHA256' }));
  await c.ebs.send(new B.CompleteSnapshotCommand({ SnapshotId: direct, ChangedBlocksCount: 1 }));
  const blocks = await c.ebs.send(new B.ListSnapshotBlocksCommand({ SnapshotId: direct }));
  const pending = (await c.ebs.send(new B.StartSnapshotCommand({ VolumeSize: 1, Timeout: 60 }))).SnapshotId!;

  const lt = (await c.ec2.send(new E.CreateLaunchTemplateCommand({ LaunchTemplateName: 'a-template', LaunchTemplateData: { ImageId: BUILTIN_AMI, InstanceType: 't3.nano' } }))).LaunchTemplate!;
  for (const id of [instanceId, image.ImageId!, vol.VolumeId!, snap.SnapshotId!, kp.KeyPairId!, vpc.VpcId!, subnet.SubnetId!, group.GroupId!, eniId, lt.LaunchTemplateId!]) {
    await c.ec2.send(new E.CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'owner', Value: 'a' }] }));
  }
  return {
    accountId,
    instanceId,
    eniId,
    imageId: image.ImageId!,
    volumeId: vol.VolumeId!,
    snapshotId: snap.SnapshotId!,
    directSnapshotId: direct,
    pendingSnapshotId: pending,
    blockToken: blocks.Blocks![0]!.BlockToken!,
    keyPairId: kp.KeyPairId!,
    keyPairName: 'a-pair',
    launchTemplateId: lt.LaunchTemplateId!,
    launchTemplateName: 'a-template',
    defaultVpcId,
    defaultSubnetId,
    defaultGroupId,
    igwId,
    routeTableId: mainTable.RouteTableId!,
    routeTableAssociationId: mainTable.Associations![0]!.RouteTableAssociationId!,
    allocationId: eip.AllocationId!,
    publicIp: eip.PublicIp!,
    eipAssociationId,
    vpcId: vpc.VpcId!,
    subnetId: subnet.SubnetId!,
    groupId: group.GroupId!,
    kmsKeyId: key.KeyId!,
    kmsKeyArn: key.Arn!,
    aliasName,
    grantId: grant.GrantId!,
    grantToken: grant.GrantToken!,
    ciphertext,
    userName: 'alice',
    userId: user.UserId!,
    userAccessKeyId: userKey.AccessKeyId!,
    policyName: 'ec2-read',
    roleName: role.RoleName!,
    roleArn: role.Arn!,
    roleId: role.RoleId!,
    rolePolicyName: 'ec2-read',
  };
}

/** The identifiers of A that must never appear in an answer to B. */
function secretsOf(a: AResources): string[] {
  return [
    a.accountId,
    a.instanceId,
    a.eniId,
    a.imageId,
    a.volumeId,
    a.snapshotId,
    a.directSnapshotId,
    a.pendingSnapshotId,
    a.keyPairId,
    a.launchTemplateId,
    a.defaultVpcId,
    a.defaultSubnetId,
    a.defaultGroupId,
    a.igwId,
    a.routeTableId,
    a.routeTableAssociationId,
    a.allocationId,
    a.publicIp,
    a.eipAssociationId,
    a.vpcId,
    a.subnetId,
    a.groupId,
    a.kmsKeyId,
    a.grantId,
    a.userId,
    a.userAccessKeyId,
    a.roleId,
  ];
}

const errName = (e: unknown): string => (e as { name?: string }).name ?? String(e);
/** The code on the wire (and in the audit record): SDK v3 names IAM's NoSuchEntity NoSuchEntityException. */
const wireCode = (action: string, name: string): string => (action.startsWith('iam:') ? name.replace(/Exception$/, '') : name);
const requestIdOf = (x: unknown): string | undefined => (x as { $metadata?: { requestId?: string } } | undefined)?.$metadata?.requestId;

/** Both AWS CLIs, as B, for a few attempts: the same refusals as the SDK's. */
async function cliAttempts(home: string, endpoint: string, profile: string, a: AResources): Promise<string[]> {
  const env = cleanEnv({ AWS_CONFIG_FILE: `${home}/aws/config`, AWS_SHARED_CREDENTIALS_FILE: `${home}/aws/credentials`, HOME: home });
  const wrong: string[] = [];
  const cases: [string, string[]][] = [
    ['InvalidInstanceID.NotFound', ['ec2', 'describe-instances', '--instance-ids', a.instanceId]],
    ['InvalidVolume.NotFound', ['ec2', 'delete-volume', '--volume-id', a.volumeId]],
    ['InvalidGroup.NotFound', ['ec2', 'authorize-security-group-ingress', '--group-id', a.groupId, '--protocol', 'tcp', '--port', '22', '--cidr', '10.0.0.0/8']],
    ['AccessDeniedException', ['kms', 'disable-key', '--key-id', a.kmsKeyArn]],
    ['AccessDeniedException', ['organizations', 'close-account', '--account-id', a.accountId]],
  ];
  for (const cli of ['v1', 'v2'] as CliName[]) {
    for (const [code, args] of cases) {
      const r = await run(CLIS[cli], ['--profile', profile, ...(cli === 'v2' ? ['--endpoint-url', endpoint] : []), ...args], env);
      if (r.status === 0 || !r.stderr.includes(`(${code})`)) wrong.push(`${cli} ${args.slice(0, 2).join(' ')}: exit ${r.status}, ${r.stderr.trim().slice(0, 300)}`);
    }
  }
  return wrong;
}

test('cross-account: account B, made by `nitride account create`, is refused or sees nothing of A for every action of every service, and A is unchanged', { timeout: 900_000 }, async () => {
  await withLocalRegion('nitride-xacct-', async ({ region, home }) => {
    const made = { a: await nitrideAccountCreate(home, 'tenant-a'), b: await nitrideAccountCreate(home, 'tenant-b') };
    const ca = clients(region.endpoint, made.a.creds);
    const cb = clients(region.endpoint, made.b.creds);
    const a = await makeA(ca, made.a.accountId);
    const bVol = await cb.ec2.send(new E.CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: 1 }));
    const bGroup = await cb.ec2.send(new E.CreateSecurityGroupCommand({ GroupName: 'b-group', Description: 'b' }));
    const bKey = (await cb.kms.send(new K.CreateKeyCommand({ Description: 'b' }))).KeyMetadata!;
    await cb.kms.send(new K.CreateAliasCommand({ AliasName: 'alias/b-key', TargetKeyId: bKey.KeyId! }));
    const b: BResources = { accountId: made.b.accountId, volumeId: bVol.VolumeId!, groupId: bGroup.GroupId!, kmsKeyId: bKey.KeyId!, aliasName: 'alias/b-key' };

    const before = await viewOf(a, ca);
    const secrets = secretsOf(a);
    const wrong: string[] = [];
    const refusals: { label: string; code: string; requestId: string | undefined }[] = [];
    let attempts = 0;
    let twins = 0;
    for (const [action, cases] of Object.entries(CASES)) {
      for (const t of cases(a, b, cb)) {
        attempts++;
        const label = `${action} (${t.label})`;
        let out: unknown;
        try {
          out = await t.call();
        } catch (e) {
          const name = errName(e);
          if (t.expect === 'ok' || name !== t.expect) wrong.push(`${label}: refused with ${name} (${(e as Error).message}), expected ${t.expect}`);
          else refusals.push({ label, code: wireCode(action, name), requestId: requestIdOf(e) });
          if (t.twin) {
            twins++;
            const twin = await t.twin().then(
              () => 'success',
              (e2: unknown) => errName(e2),
            );
            if (twin !== name) wrong.push(`${label}: an existence oracle: A's resource gets ${name}, a missing one of A's account gets ${twin}`);
          }
          continue;
        }
        if (t.expect !== 'ok') {
          wrong.push(`${label}: SUCCEEDED, expected ${t.expect}`);
          continue;
        }
        const text = JSON.stringify(out, (_k, v: unknown) => (v instanceof Uint8Array ? '<bytes>' : v));
        const seen = secrets.filter((s) => text.includes(s));
        if (seen.length > 0) wrong.push(`${label}: the answer shows A's ${seen.join(', ')}`);
      }
    }
    wrong.push(...(await cliAttempts(home, region.endpoint, 'tenant-b', a)));
    assert.deepEqual(wrong, [], `${wrong.length} of ${attempts} attempts went wrong`);
    assert.ok(attempts > 150, `${attempts} attempts`);
    process.stderr.write(`[cross-account] ${Object.keys(CASES).length} actions, ${attempts} attempts by B: ${refusals.length} refused, ${attempts - refusals.length} answered without A's identifiers, ${twins} existence twins, 10 through the AWS CLIs\n`);

    // Nothing of A changed.
    const after = await viewOf(a, ca);
    const changed = Object.keys(before).filter((k) => after[k] !== before[k]);
    assert.deepEqual(changed.map((k) => `${k}: ${before[k]} -> ${after[k]}`), [], "A's view of its resources changed");

    // Every refusal is in the audit trail, with its code and B's identity.
    await region.trail.flush();
    const events = auditEvents(home);
    const missing = refusals.filter((r) => {
      if (r.requestId === undefined) return true;
      return !events.some((e) => e['requestID'] === r.requestId && e['errorCode'] === r.code && (e['userIdentity'] as { accountId?: string } | undefined)?.accountId === b.accountId);
    });
    assert.deepEqual(missing.map((r) => `${r.label}: ${r.code} (request ${String(r.requestId)})`), [], 'refusals not in the audit trail');
  });
});
