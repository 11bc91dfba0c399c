// Ansible's amazon.aws collection (Debian's ansible, ansible-core 2.14 with amazon.aws 5.5, over
// Debian's python3-boto3), unmodified, against a real `nitride start` with busybox guests:
// test/vm/ansible/launch.yml makes a key pair, a security group with rules and tags, a volume,
// an instance in the default VPC (no subnet: DescribeVpcs isDefault) with the group and tags and
// one in a subnet, both waited for running, after ec2_vpc_net_info (DescribeVpcAttribute,
// ClassicLink), and a KMS key with an alias and tags (kms_key: KMS tags, STS GetCallerIdentity). Run twice, the second run changes nothing (changed=0 in the json callback's
// stats). teardown.yml stops one, terminates both and deletes the rest. What the playbooks did
// is read back with the AWS CLI v2. A missing tool fails the test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_AMI, awsJson, cleanEnv, cleanupHome, ensureGuestImage, failureTracker, startRegion, type RegionProcess } from '../region-fixtures.js';

/** The playbooks, in the source tree (this file runs as dist/test/vm/ansible.test.js). */
const PLAYBOOKS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'vm', 'ansible');
/** Debian's python, whose boto3/botocore the modules must use (not another python on PATH). */
const PYTHON = '/usr/bin/python3';

let region: RegionProcess | undefined;
let subnetId = '';

const run = failureTracker();
const guarded = run.guarded;

function r(): RegionProcess {
  assert.ok(region, 'the region did not start');
  return region;
}

interface PlayStats {
  readonly ok: number;
  readonly changed: number;
  readonly failures: number;
  readonly unreachable: number;
}

/** One ansible-playbook run with the json callback: its stats for localhost, and every failed task's message. */
function playbook(name: string, vars: Record<string, string>): Promise<{ stats: PlayStats; failedTasks: string[]; raw: string }> {
  const home = r().home;
  const env = cleanEnv({
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'),
    AWS_PROFILE: 'nitride',
    AWS_EC2_METADATA_DISABLED: 'true',
    ANSIBLE_STDOUT_CALLBACK: 'json',
    ANSIBLE_LOCALHOST_WARNING: 'false',
    ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
    ANSIBLE_LOCAL_TEMP: join(home, 'ansible-tmp'),
  });
  const args = ['-i', 'localhost,', '-e', `ansible_python_interpreter=${PYTHON}`, ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]), join(PLAYBOOKS, name)];
  return new Promise((resolve, reject) => {
    const child = spawn('ansible-playbook', args, { env, cwd: home, stdio: ['ignore', 'pipe', 'pipe'], timeout: 1_500_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new Error(`ansible-playbook could not run (${e.message}); nitride setup installs Debian's ansible`)));
    child.on('close', () => {
      let doc: { stats?: Record<string, PlayStats>; plays?: { tasks: { task: { name: string }; hosts: Record<string, { failed?: boolean; msg?: string }> }[] }[] };
      try {
        doc = JSON.parse(out.slice(out.indexOf('{'))) as typeof doc;
      } catch {
        reject(new Error(`ansible-playbook ${name} wrote no JSON:\n${out.slice(-4000)}\n${err.slice(-4000)}`));
        return;
      }
      const stats = doc.stats?.['localhost'];
      if (!stats) {
        reject(new Error(`ansible-playbook ${name} has no stats for localhost:\n${out.slice(-4000)}\n${err.slice(-2000)}`));
        return;
      }
      const failedTasks = (doc.plays ?? []).flatMap((p) => p.tasks.filter((t) => t.hosts['localhost']?.failed).map((t) => `${t.task.name}: ${t.hosts['localhost']?.msg ?? ''}`));
      resolve({ stats, failedTasks, raw: out });
    });
  });
}

before(async () => {
  await ensureGuestImage();
  region = await startRegion();
});

after(async () => {
  if (region) await cleanupHome(region.home, [region], run.failed);
});

test('ansible-playbook, the amazon.aws collection and Debian boto3 are installed (a missing tool fails)', () => {
  const v = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' });
  assert.equal(v.error, undefined, `ansible-playbook cannot run: ${String(v.error)}; nitride setup installs Debian's ansible`);
  assert.match(v.stdout, /core 2\.\d+/);
  const c = spawnSync('ansible-galaxy', ['collection', 'list', 'amazon.aws'], { encoding: 'utf8' });
  assert.match(c.stdout, /amazon\.aws\s+\d+\.\d+\.\d+/, `the amazon.aws collection is missing: ${c.stdout}${c.stderr}`);
  const b = spawnSync(PYTHON, ['-c', 'import boto3, botocore; print(boto3.__version__)'], { encoding: 'utf8' });
  assert.equal(b.status, 0, `${PYTHON} has no boto3 (${b.stderr}); nitride setup installs python3-boto3`);
});

test(
  'launch.yml: ec2_vpc_net_info, ec2_key, ec2_security_group with tags, ec2_vol, ec2_instance without and with a subnet (waited for), kms_key with an alias and tags; the second run changes nothing',
  { timeout: 1_800_000 },
  guarded(async () => {
    const defaultVpc = awsJson<{ Vpcs: { VpcId: string }[] }>('v2', r(), ['ec2', 'describe-vpcs', '--filters', 'Name=is-default,Values=true']).Vpcs[0]!.VpcId;
    subnetId = awsJson<{ Subnet: { SubnetId: string } }>('v2', r(), ['ec2', 'create-subnet', '--vpc-id', defaultVpc, '--cidr-block', '172.31.16.0/20']).Subnet.SubnetId;
    const vars = { endpoint: r().endpoint, image_id: BUILTIN_AMI, subnet_id: subnetId };

    const first = await playbook('launch.yml', vars);
    assert.deepEqual(first.failedTasks, [], 'no task failed');
    assert.equal(first.stats.failures, 0);
    assert.equal(first.stats.changed, 6, 'the key pair, the group, the volume, two instances and the KMS key were made');

    const second = await playbook('launch.yml', vars);
    assert.deepEqual(second.failedTasks, []);
    assert.equal(second.stats.failures, 0);
    assert.equal(second.stats.changed, 0, 'the second run reports no change');

    // what the playbook made, read back with the CLI
    const inst = awsJson<{ Reservations: { Instances: { InstanceId: string; State: { Name: string }; SubnetId: string; VpcId: string; KeyName?: string; SecurityGroups: { GroupName: string }[]; Tags: { Key: string; Value: string }[] }[] }[] }>('v2', r(), [
      'ec2', 'describe-instances', '--filters', 'Name=tag:env,Values=ansible',
    ]).Reservations.flatMap((x) => x.Instances);
    const byName = new Map(inst.map((i) => [i.Tags.find((t) => t.Key === 'Name')?.Value, i]));
    assert.equal(inst.length, 2, 'the rerun launched nothing more');
    assert.equal(byName.get('ansible-a')?.State.Name, 'running');
    assert.equal(byName.get('ansible-a')?.VpcId, defaultVpc);
    assert.equal(byName.get('ansible-a')?.KeyName, 'ansible-key');
    assert.deepEqual(byName.get('ansible-a')?.SecurityGroups.map((g) => g.GroupName), ['ansible-sg']);
    assert.equal(byName.get('ansible-b')?.State.Name, 'running');
    assert.equal(byName.get('ansible-b')?.SubnetId, subnetId);
    const sg = awsJson<{ SecurityGroups: { Tags: { Key: string; Value: string }[]; IpPermissions: { FromPort: number; IpRanges: { CidrIp: string }[] }[] }[] }>('v2', r(), ['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=ansible-sg']).SecurityGroups;
    assert.deepEqual(sg[0]?.Tags.filter((t) => t.Key === 'env'), [{ Key: 'env', Value: 'ansible' }]);
    assert.deepEqual(sg[0]?.IpPermissions.map((p) => [p.FromPort, p.IpRanges.map((x) => x.CidrIp)]), [[22, ['10.0.0.0/8']]]);
    const vols = awsJson<{ Volumes: { Size: number }[] }>('v2', r(), ['ec2', 'describe-volumes', '--filters', 'Name=tag:Name,Values=ansible-vol']).Volumes;
    assert.deepEqual(vols.map((v) => v.Size), [1]);
    const alias = awsJson<{ Aliases: { AliasName: string; TargetKeyId: string }[] }>('v2', r(), ['kms', 'list-aliases']).Aliases.filter((a) => a.AliasName === 'alias/ansible-key');
    assert.equal(alias.length, 1, 'one key with the alias: the rerun made no orphan key');
    const keyTags = awsJson<{ Tags: { TagKey: string; TagValue: string }[] }>('v2', r(), ['kms', 'list-resource-tags', '--key-id', alias[0]!.TargetKeyId]).Tags;
    assert.deepEqual(keyTags, [{ TagKey: 'env', TagValue: 'ansible' }]);
    assert.equal(awsJson<{ Keys: unknown[] }>('v2', r(), ['kms', 'list-keys']).Keys.length, 1, 'no orphan key');
  }),
);

test(
  'teardown.yml: ec2_instance stop (waited for), terminate both, then ec2_vol, ec2_security_group and ec2_key absent, kms_key scheduled for deletion',
  { timeout: 1_800_000 },
  guarded(async () => {
    const down = await playbook('teardown.yml', { endpoint: r().endpoint });
    assert.deepEqual(down.failedTasks, []);
    assert.equal(down.stats.failures, 0);
    assert.equal(down.stats.changed, 6, 'stopped, terminated, three deletions and the KMS key scheduled for deletion');
    const states = awsJson<{ Reservations: { Instances: { State: { Name: string } }[] }[] }>('v2', r(), ['ec2', 'describe-instances', '--filters', 'Name=tag:env,Values=ansible'])
      .Reservations.flatMap((x) => x.Instances)
      .map((i) => i.State.Name);
    assert.deepEqual(states, ['terminated', 'terminated']);
    assert.deepEqual(awsJson<{ KeyPairs: unknown[] }>('v2', r(), ['ec2', 'describe-key-pairs']).KeyPairs, []);
    assert.deepEqual(awsJson<{ Volumes: unknown[] }>('v2', r(), ['ec2', 'describe-volumes', '--filters', 'Name=tag:Name,Values=ansible-vol']).Volumes, []);
    assert.deepEqual(awsJson<{ SecurityGroups: unknown[] }>('v2', r(), ['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=ansible-sg']).SecurityGroups, []);
    const keyId = awsJson<{ Keys: { KeyId: string }[] }>('v2', r(), ['kms', 'list-keys']).Keys[0]!.KeyId;
    assert.equal(awsJson<{ KeyMetadata: { KeyState: string } }>('v2', r(), ['kms', 'describe-key', '--key-id', keyId]).KeyMetadata.KeyState, 'PendingDeletion');
  }),
);
