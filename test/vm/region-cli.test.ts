// The unmodified AWS CLIs against a real `nitride start`: v1 (`aws` on PATH, reads
// endpoint_url from the profile) and v2 (Debian's /usr/bin/aws 2.9, given --endpoint-url).
// One region for the file; one t3.nano guest per CLI, run one after the other (TCG).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILTIN_AMI,
  CLIS,
  auditEvents,
  auditVerify,
  aws,
  awsJson,
  cleanupHome,
  ensureGuestImage,
  qemuPids,
  startRegion,
  waitFor,
  type CliName,
  type RegionProcess,
  failureTracker,
} from '../region-fixtures.js';

let region: RegionProcess | undefined;
const run = failureTracker();
/** Secrets the CLIs received (CreateAccessKey): never in the audit log. */
const secrets: string[] = [];

const guarded = run.guarded;

before(async () => {
  await ensureGuestImage();
  region = await startRegion();
});

after(async () => {
  if (region) await cleanupHome(region.home, [region], run.failed);
});

function r(): RegionProcess {
  assert.ok(region, 'the region did not start');
  return region;
}

for (const cli of ['v1', 'v2'] as const) {
  test(`AWS CLI ${cli} is installed (a missing CLI fails)`, () => {
    const v = spawnSync(CLIS[cli], ['--version'], { encoding: 'utf8' });
    assert.equal(v.error, undefined, `${CLIS[cli]} cannot run: ${String(v.error)}`);
    assert.equal(v.status, 0);
    assert.match(v.stdout + v.stderr, cli === 'v1' ? /^aws-cli\/1\./ : /^aws-cli\/2\./);
  });
}

const state = (cli: CliName, id: string): string => {
  const d = awsJson<{ Reservations: { Instances: { State: { Name: string } }[] }[] }>(cli, r(), ['ec2', 'describe-instances', '--instance-ids', id]);
  return d.Reservations[0]!.Instances[0]!.State.Name;
};

for (const cli of ['v1', 'v2'] as const) {
  test(
    `AWS CLI ${cli}: describe-images, run-instances, wait, console output, stop, start, terminate`,
    { timeout: 600_000 },
    guarded(async () => {
      const images = awsJson<{ Images: { ImageId: string; Name: string; State: string }[] }>(cli, r(), [
        'ec2',
        'describe-images',
        '--owners',
        'amazon',
        '--filters',
        'Name=name,Values=nitride-minimal',
      ]);
      assert.equal(images.Images.length, 1);
      assert.equal(images.Images[0]!.ImageId, BUILTIN_AMI);
      assert.equal(images.Images[0]!.State, 'available');

      const run = awsJson<{ Instances: { InstanceId: string; State: { Name: string }; InstanceType: string; Tags?: { Key: string; Value: string }[] }[] }>(cli, r(), [
        'ec2',
        'run-instances',
        '--image-id',
        images.Images[0]!.ImageId,
        '--instance-type',
        't3.nano',
        '--count',
        '1',
        '--tag-specifications',
        `ResourceType=instance,Tags=[{Key=Name,Value=cli-${cli}},{Key=suite,Value=region-cli}]`,
      ]);
      assert.equal(run.Instances.length, 1);
      const id = run.Instances[0]!.InstanceId;
      assert.match(id, /^i-[0-9a-f]{17}$/);
      assert.equal(run.Instances[0]!.State.Name, 'pending');
      assert.equal(run.Instances[0]!.InstanceType, 't3.nano');

      const byTag = awsJson<{ Reservations: { Instances: { InstanceId: string }[] }[] }>(cli, r(), ['ec2', 'describe-instances', '--filters', `Name=tag:Name,Values=cli-${cli}`]);
      assert.deepEqual(byTag.Reservations.flatMap((x) => x.Instances.map((i) => i.InstanceId)), [id]);

      const w1 = aws(cli, r(), ['ec2', 'wait', 'instance-running', '--instance-ids', id], 300_000);
      assert.equal(w1.status, 0, w1.stderr);
      assert.equal(state(cli, id), 'running');
      assert.ok(qemuPids(r().home).has(id), 'a running instance has a QEMU');

      // The console: poll until the guest's ready marker shows (the CLI decodes the base64).
      const console1 = await waitFor(
        'nitride-init: ready on the console',
        () => {
          const out = awsJson<{ Output?: string; InstanceId: string }>(cli, r(), ['ec2', 'get-console-output', '--instance-id', id]);
          assert.equal(out.InstanceId, id);
          return out.Output?.includes('nitride-init: ready') ? out.Output : undefined;
        },
        90_000,
        3_000,
      );
      assert.match(console1, /nitride-init: start/);

      const stop = awsJson<{ StoppingInstances: { InstanceId: string; CurrentState: { Name: string }; PreviousState: { Name: string } }[] }>(cli, r(), [
        'ec2',
        'stop-instances',
        '--instance-ids',
        id,
      ]);
      assert.equal(stop.StoppingInstances[0]!.InstanceId, id);
      assert.equal(stop.StoppingInstances[0]!.PreviousState.Name, 'running');
      assert.equal(stop.StoppingInstances[0]!.CurrentState.Name, 'stopping');
      const w2 = aws(cli, r(), ['ec2', 'wait', 'instance-stopped', '--instance-ids', id], 300_000);
      assert.equal(w2.status, 0, w2.stderr);
      assert.equal(qemuPids(r().home).has(id), false, 'a stopped instance has no QEMU');
      // EC2 keeps the console output of a stopped instance.
      const afterStop = aws(cli, r(), ['ec2', 'get-console-output', '--instance-id', id, '--output', 'json']);
      assert.equal(afterStop.status, 0, `get-console-output of a stopped instance: ${afterStop.stderr}`);

      const start = awsJson<{ StartingInstances: { CurrentState: { Name: string }; PreviousState: { Name: string } }[] }>(cli, r(), ['ec2', 'start-instances', '--instance-ids', id]);
      assert.equal(start.StartingInstances[0]!.PreviousState.Name, 'stopped');
      assert.equal(start.StartingInstances[0]!.CurrentState.Name, 'pending');
      const w3 = aws(cli, r(), ['ec2', 'wait', 'instance-running', '--instance-ids', id], 300_000);
      assert.equal(w3.status, 0, w3.stderr);
      assert.ok(qemuPids(r().home).has(id), 'the restarted instance has a QEMU');

      const term = awsJson<{ TerminatingInstances: { CurrentState: { Name: string } }[] }>(cli, r(), ['ec2', 'terminate-instances', '--instance-ids', id]);
      assert.ok(['shutting-down', 'terminated'].includes(term.TerminatingInstances[0]!.CurrentState.Name));
      const w4 = aws(cli, r(), ['ec2', 'wait', 'instance-terminated', '--instance-ids', id], 300_000);
      assert.equal(w4.status, 0, w4.stderr);
      assert.equal(state(cli, id), 'terminated');
      // The QEMU is gone (allow the host a moment to reap it).
      await waitFor('no QEMU for the terminated instance', () => (qemuPids(r().home).has(id) ? undefined : true), 15_000, 250);
    }),
  );
}

for (const cli of ['v1', 'v2'] as const) {
  test(
    `AWS CLI ${cli}: iam create-user, create-access-key, put-user-policy, list-users, get-user, delete-access-key`,
    guarded(async () => {
      const name = `cli-user-${cli}`;
      const u = awsJson<{ User: { UserName: string; Arn: string } }>(cli, r(), ['iam', 'create-user', '--user-name', name]);
      assert.equal(u.User.UserName, name);
      assert.match(u.User.Arn, new RegExp(`^arn:aws:iam::\\d{12}:user/${name}$`));
      const k = awsJson<{ AccessKey: { AccessKeyId: string; SecretAccessKey: string; Status: string; UserName: string } }>(cli, r(), ['iam', 'create-access-key', '--user-name', name]);
      assert.equal(k.AccessKey.UserName, name);
      assert.equal(k.AccessKey.Status, 'Active');
      assert.ok(k.AccessKey.SecretAccessKey.length >= 40);
      secrets.push(k.AccessKey.SecretAccessKey);
      const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] });
      const p = aws(cli, r(), ['iam', 'put-user-policy', '--user-name', name, '--policy-name', 'describe-only', '--policy-document', policy]);
      assert.equal(p.status, 0, p.stderr);
      const list = awsJson<{ Users: { UserName: string }[] }>(cli, r(), ['iam', 'list-users']);
      assert.ok(list.Users.some((x) => x.UserName === name));
      const g = awsJson<{ User: { UserName: string } }>(cli, r(), ['iam', 'get-user', '--user-name', name]);
      assert.equal(g.User.UserName, name);
      const d = aws(cli, r(), ['iam', 'delete-access-key', '--user-name', name, '--access-key-id', k.AccessKey.AccessKeyId]);
      assert.equal(d.status, 0, d.stderr);
      // Unknown user: the IAM error code reaches the CLI.
      const missing = aws(cli, r(), ['iam', 'get-user', '--user-name', 'nobody-here']);
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /NoSuchEntity/);
    }),
  );
}

test(
  'AWS CLI: the error codes reach the CLI (malformed id, unknown id, DryRun)',
  guarded(async () => {
    for (const cli of ['v1', 'v2'] as const) {
      const m = aws(cli, r(), ['ec2', 'describe-instances', '--instance-ids', 'i-xyz']);
      assert.notEqual(m.status, 0);
      assert.match(m.stderr, /\(InvalidInstanceID\.Malformed\)/);
      const nf = aws(cli, r(), ['ec2', 'stop-instances', '--instance-ids', 'i-0123456789abcdef0']);
      assert.match(nf.stderr, /\(InvalidInstanceID\.NotFound\)/);
      const dry = aws(cli, r(), ['ec2', 'run-instances', '--dry-run', '--image-id', BUILTIN_AMI, '--instance-type', 't3.nano']);
      assert.match(dry.stderr, /\(DryRunOperation\)/);
    }
    await sleep(0);
  }),
);

test(
  'the audit trail of the CLI session: every action from both CLIs, no secrets, and it verifies',
  guarded(async () => {
    const events = auditEvents(r().home);
    for (const agent of [/aws-cli\/1\./, /aws-cli\/2\./]) {
      const mine = events.filter((e) => agent.test(String(e['userAgent'] ?? '')));
      const names = new Set(mine.map((e) => e['eventName']));
      for (const n of ['DescribeImages', 'RunInstances', 'DescribeInstances', 'GetConsoleOutput', 'StopInstances', 'StartInstances', 'TerminateInstances', 'CreateUser', 'CreateAccessKey', 'PutUserPolicy', 'ListUsers', 'GetUser', 'DeleteAccessKey']) {
        assert.ok(names.has(n), `${n} from ${agent} is in the audit log`);
      }
      const codes = new Set(mine.map((e) => e['errorCode']).filter(Boolean));
      for (const c of ['InvalidInstanceID.Malformed', 'InvalidInstanceID.NotFound', 'DryRunOperation', 'NoSuchEntity']) assert.ok(codes.has(c), `${c} from ${agent} is in the audit log`);
    }
    const text = readFileSync(join(r().home, 'region', 'audit.log'), 'utf8');
    assert.ok(secrets.length === 2);
    for (const s of [...secrets, r().credentials.secretAccessKey]) assert.ok(!text.includes(s), 'no secret access key in the audit log');
    const v = auditVerify(r().home);
    assert.equal(v.status, 0, `audit verify (live trail): ${v.stdout}${v.stderr}`);
  }),
);
