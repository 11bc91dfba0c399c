// Key pairs and DescribeInstanceAttribute end to end through both AWS CLIs (v1 on PATH, v2 at
// /usr/bin/aws) and @aws-sdk/client-ec2 v3, against a Region opened in this process whose only
// host is a phantom (launched instances stay pending; no guest is needed for these checks).
// Real tools check what comes back: ssh-keygen reads every PEM private key and computes the
// Ed25519 fingerprint, openssl the RSA ones, puttygen reads the .ppk files. At the end the state
// store, the audit trail, every file under the home and the region's log lines are searched
// for the private keys: none is there. The IMDS public-keys paths are read from the VPC card's
// IMDS handler fed with the ENI configuration the region sends to the card.
import { filesUnder } from '../../src/lib/testing/files.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyPairCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeTagsCommand,
  EC2Client,
  ImportKeyPairCommand,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  type Instance,
  type InstanceAttributeName,
} from '@aws-sdk/client-ec2';
import { REDACTED } from '../../src/audit/trail.js';
import { ROOT_USER } from '../../src/iam/iam.js';
import type { Region } from '../../src/region/region.js';
import type { EniRecord } from '../../src/region/ec2/vpc.js';
import { ImdsService } from '../../src/vpc/imds/service.js';
import { parseHttpRequest, type HttpRequest } from '../../src/vpc/imds/http.js';
import { BUILTIN_AMI, auditEvents, awsAsync, awsAsyncError, awsAsyncJson, dumpDiagnostics, openLocalRegion, phantomHost, sdkErrorCode, seedStore, type CliName, failureTracker } from '../region-fixtures.js';

let home = '';
let region: Region | undefined;
let ec2: EC2Client;
const run = failureTracker();
const work = mkdtempSync(join(tmpdir(), 'nitride-keys-it-'));
/** Every private key the API returned: none may be found anywhere afterwards. */
const secrets: { what: string; material: string }[] = [];
/** The region's log lines (this process's stderr) while the test runs. */
let logged = '';
const realWrite = process.stderr.write.bind(process.stderr);

const guarded = run.guarded;

/** A required tool; a missing one fails loudly. */
function tool(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${cmd} is required by this test and could not run (${r.error.message}); nitride setup installs it`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let n = 0;
function file(content: string | Buffer): string {
  const p = join(work, `f${n++}`);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}
const keyPart = (line: string): string => line.trim().split(/\s+/).slice(0, 2).join(' ');

/** EC2's fingerprint of a key it created, computed by the real tools from the private key file. */
function toolFingerprint(privPath: string, type: 'rsa' | 'ed25519'): string {
  if (type === 'ed25519') return `${/SHA256:([A-Za-z0-9+/]+)/.exec(tool('ssh-keygen', ['-l', '-E', 'sha256', '-f', privPath]))![1]}=`;
  const der = join(work, `der${n++}`);
  tool('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', privPath, '-outform', 'DER', '-out', der]);
  return /= ([0-9a-f:]+)\s*$/.exec(tool('openssl', ['dgst', '-sha1', '-c', der]))![1]!;
}

/** The PEM (OpenSSH or PKCS#1) private key of a returned key material, converting a .ppk with puttygen. */
function privateKeyFile(material: string, format: 'pem' | 'ppk', type: 'rsa' | 'ed25519'): string {
  if (format === 'pem') return file(material);
  const out = join(work, `conv${n++}`);
  tool('puttygen', [file(material), '-O', type === 'rsa' ? 'private-openssh' : 'private-openssh-new', '-o', out]);
  return out;
}

const cli = (which: CliName, args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> => awsAsync(which, home, region!.endpoint, args);
const cliJson = <T = Record<string, unknown>>(which: CliName, args: readonly string[]): Promise<T> => awsAsyncJson<T>(which, home, region!.endpoint, args);
const cliError = (which: CliName, args: readonly string[]): Promise<string> => awsAsyncError(which, home, region!.endpoint, args);

const code = sdkErrorCode;

before(async () => {
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    logged += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return (realWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  home = await mkdtemp(join(tmpdir(), 'nitride-keys-region-'));
  const first = await openLocalRegion(home);
  await first.close();
  await seedStore(home, { hosts: [phantomHost(2048 + 8 * 512)] });
  region = await openLocalRegion(home);
  ec2 = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey }, maxAttempts: 1 });
});

after(async () => {
  process.stderr.write = realWrite;
  try {
    if (run.failed) dumpDiagnostics(home);
    if (region) await region.close();
  } finally {
    await rm(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test(
  'CreateKeyPair through SDK v3 and both CLIs: rsa/ed25519 × pem/ppk, read by ssh-keygen and puttygen, with EC2’s fingerprints',
  guarded(async () => {
    for (const [type, format] of [['rsa', 'pem'], ['ed25519', 'pem'], ['rsa', 'ppk'], ['ed25519', 'ppk']] as const) {
      const name = `sdk-${type}-${format}`;
      const out = await ec2.send(new CreateKeyPairCommand({ KeyName: name, KeyType: type, KeyFormat: format, TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'made-by', Value: 'sdk' }] }] }));
      assert.match(out.KeyPairId ?? '', /^key-[0-9a-f]{17}$/);
      assert.equal(out.KeyName, name);
      assert.deepEqual(out.Tags, [{ Key: 'made-by', Value: 'sdk' }]);
      const material = out.KeyMaterial ?? '';
      secrets.push({ what: name, material });
      const priv = privateKeyFile(material, format, type);
      assert.equal(out.KeyFingerprint, toolFingerprint(priv, type), `${name}: the fingerprint as the tools compute it`);
      const pub = tool('ssh-keygen', ['-y', '-f', priv]);
      const described = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [name], IncludePublicKey: true }))).KeyPairs![0]!;
      assert.equal(keyPart(described.PublicKey ?? ''), keyPart(pub), `${name}: the public key EC2 keeps is the private key's`);
      assert.equal(described.KeyType, type);
      assert.equal(described.KeyFingerprint, out.KeyFingerprint);
      assert.equal(described.KeyPairId, out.KeyPairId);
      assert.ok(described.CreateTime instanceof Date && Math.abs(described.CreateTime.getTime() - Date.now()) < 120_000);
    }
    for (const which of ['v1', 'v2'] as const) {
      for (const [type, format] of [['ed25519', 'pem'], ['rsa', 'ppk']] as const) {
        const name = `cli-${which}-${type}-${format}`;
        const out = await cliJson<{ KeyMaterial: string; KeyFingerprint: string; KeyPairId: string; KeyName: string }>(which, ['ec2', 'create-key-pair', '--key-name', name, '--key-type', type, '--key-format', format]);
        secrets.push({ what: name, material: out.KeyMaterial });
        const priv = privateKeyFile(out.KeyMaterial, format, type);
        assert.equal(out.KeyFingerprint, toolFingerprint(priv, type), name);
        assert.equal(out.KeyName, name);
      }
      // the CLI's own default: rsa, pem
      const def = await cliJson<{ KeyMaterial: string; KeyFingerprint: string }>(which, ['ec2', 'create-key-pair', '--key-name', `cli-${which}-default`]);
      secrets.push({ what: `cli-${which}-default`, material: def.KeyMaterial });
      assert.match(def.KeyMaterial, /^-----BEGIN RSA PRIVATE KEY-----/);
      assert.equal(def.KeyFingerprint, toolFingerprint(file(def.KeyMaterial), 'rsa'));
      assert.equal(await cliError(which, ['ec2', 'create-key-pair', '--key-name', `cli-${which}-default`]), 'InvalidKeyPair.Duplicate');
    }
    assert.equal(await code(ec2.send(new CreateKeyPairCommand({ KeyName: 'sdk-rsa-pem' }))), 'InvalidKeyPair.Duplicate');
    assert.equal(await code(ec2.send(new CreateKeyPairCommand({ KeyName: 'x'.repeat(256) }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new CreateKeyPairCommand({ KeyName: 'bad-tags', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }] }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['bad-tags'] }))), 'InvalidKeyPair.NotFound', 'a refused create leaves nothing');
  }),
);

test(
  'ImportKeyPair through SDK v3 and both CLIs: OpenSSH lines and RFC 4716 files; MD5 for RSA, SHA-256 for Ed25519; bad keys are InvalidKeyPair.Format',
  guarded(async () => {
    const rsa = join(work, 'id_rsa');
    tool('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'me@laptop', '-f', rsa]);
    const ed = join(work, 'id_ed25519');
    tool('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'me@laptop', '-f', ed]);
    const der = join(work, 'rsa.spki.der');
    tool('openssl', ['pkey', '-pubin', '-in', file(tool('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', `${rsa}.pub`])), '-outform', 'DER', '-out', der]);
    const rsaMd5 = /= ([0-9a-f:]+)\s*$/.exec(tool('openssl', ['dgst', '-md5', '-c', der]))![1]!;
    const edSha = `${/SHA256:([A-Za-z0-9+/]+)/.exec(tool('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${ed}.pub`]))![1]}=`;

    const sdkRsa = await ec2.send(new ImportKeyPairCommand({ KeyName: 'imp-sdk-rsa', PublicKeyMaterial: readFileSync(`${rsa}.pub`), TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'team', Value: 'blue' }] }] }));
    assert.equal(sdkRsa.KeyFingerprint, rsaMd5);
    assert.match(sdkRsa.KeyPairId ?? '', /^key-[0-9a-f]{17}$/);
    assert.deepEqual(sdkRsa.Tags, [{ Key: 'team', Value: 'blue' }]);
    const sdkEd = await ec2.send(new ImportKeyPairCommand({ KeyName: 'imp-sdk-ed', PublicKeyMaterial: Buffer.from(tool('ssh-keygen', ['-e', '-f', `${ed}.pub`])) }));
    assert.equal(sdkEd.KeyFingerprint, edSha);
    for (const which of ['v1', 'v2'] as const) {
      const r = await cliJson<{ KeyFingerprint: string; KeyName: string; KeyPairId: string }>(which, ['ec2', 'import-key-pair', '--key-name', `imp-${which}-rsa`, '--public-key-material', `fileb://${rsa}.pub`]);
      assert.equal(r.KeyFingerprint, rsaMd5, which);
      const e = await cliJson<{ KeyFingerprint: string }>(which, ['ec2', 'import-key-pair', '--key-name', `imp-${which}-ed`, '--public-key-material', `fileb://${ed}.pub`]);
      assert.equal(e.KeyFingerprint, edSha, which);
      assert.equal(await cliError(which, ['ec2', 'import-key-pair', '--key-name', `imp-${which}-ed`, '--public-key-material', `fileb://${ed}.pub`]), 'InvalidKeyPair.Duplicate');
      assert.equal(await cliError(which, ['ec2', 'import-key-pair', '--key-name', `imp-${which}-priv`, '--public-key-material', `fileb://${ed}`]), 'InvalidKeyPair.Format');
    }
    const described = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-rsa'], IncludePublicKey: true }))).KeyPairs![0]!;
    assert.equal(described.PublicKey, readFileSync(`${rsa}.pub`, 'utf8').trim());
    assert.equal(described.KeyType, 'rsa');
    const ecdsa = join(work, 'id_ecdsa');
    tool('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ecdsa]);
    assert.equal(await code(ec2.send(new ImportKeyPairCommand({ KeyName: 'imp-ecdsa', PublicKeyMaterial: readFileSync(`${ecdsa}.pub`) }))), 'InvalidKeyPair.Format');
    assert.equal(await code(ec2.send(new ImportKeyPairCommand({ KeyName: 'imp-junk', PublicKeyMaterial: Buffer.from('ssh-rsa not-a-key') }))), 'InvalidKeyPair.Format');
  }),
);

test(
  'DescribeKeyPairs: names, ids, filters (key-name, key-pair-id, fingerprint, key-type, tag:), IncludePublicKey; CreateTags on key- ids',
  guarded(async () => {
    const all = (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
    assert.ok(all.length >= 10);
    assert.ok(all.every((k) => k.PublicKey === undefined), 'no public key unless asked');
    const names = (ks: { KeyName?: string | undefined }[] | undefined): string[] => (ks ?? []).map((k) => k.KeyName!).sort();
    const f = async (Name: string, Values: string[]): Promise<string[]> => names((await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name, Values }] }))).KeyPairs);
    assert.deepEqual(await f('key-name', ['sdk-*-ppk']), ['sdk-ed25519-ppk', 'sdk-rsa-ppk']);
    assert.deepEqual(await f('key-type', ['ed25519']), names(all.filter((k) => k.KeyType === 'ed25519')));
    assert.ok((await f('key-type', ['ed25519'])).includes('imp-sdk-ed'));
    const rsaImported = all.find((k) => k.KeyName === 'imp-sdk-rsa')!;
    assert.deepEqual(await f('fingerprint', [rsaImported.KeyFingerprint!]), ['imp-sdk-rsa', 'imp-v1-rsa', 'imp-v2-rsa']);
    assert.deepEqual(await f('key-pair-id', [rsaImported.KeyPairId!]), ['imp-sdk-rsa']);
    assert.deepEqual(await f('tag:made-by', ['sdk']), ['sdk-ed25519-pem', 'sdk-ed25519-ppk', 'sdk-rsa-pem', 'sdk-rsa-ppk']);
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'colour', Values: ['x'] }] }))), 'InvalidParameterValue');
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['no-such-key'] }))), 'InvalidKeyPair.NotFound');
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ KeyPairIds: ['key-00000000000000000'] }))), 'InvalidKeyPair.NotFound');
    const byId = (await ec2.send(new DescribeKeyPairsCommand({ KeyPairIds: [rsaImported.KeyPairId!], IncludePublicKey: true }))).KeyPairs!;
    assert.equal(byId.length, 1);
    assert.match(byId[0]!.PublicKey ?? '', /^ssh-rsa AAAA/);

    await ec2.send(new CreateTagsCommand({ Resources: [rsaImported.KeyPairId!], Tags: [{ Key: 'env', Value: 'prod' }] }));
    assert.deepEqual(await f('tag:env', ['prod']), ['imp-sdk-rsa']);
    const tags = (await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [rsaImported.KeyPairId!] }] }))).Tags ?? [];
    assert.deepEqual(tags.map((t) => [t.ResourceType, t.Key, t.Value]).sort(), [['key-pair', 'env', 'prod'], ['key-pair', 'team', 'blue']]);
    assert.equal(await code(ec2.send(new CreateTagsCommand({ Resources: ['key-00000000000000000'], Tags: [{ Key: 'a', Value: 'b' }] }))), 'InvalidKeyPair.NotFound');

    for (const which of ['v1', 'v2'] as const) {
      const r = await cliJson<{ KeyPairs: { KeyName: string; PublicKey?: string }[] }>(which, ['ec2', 'describe-key-pairs', '--filters', 'Name=key-name,Values=imp-*-ed', '--include-public-key']);
      assert.deepEqual(r.KeyPairs.map((k) => k.KeyName).sort(), ['imp-sdk-ed', 'imp-v1-ed', 'imp-v2-ed']);
      assert.ok(r.KeyPairs.every((k) => /^ssh-ed25519 AAAA/.test(k.PublicKey ?? '')), which);
      assert.equal(await cliError(which, ['ec2', 'describe-key-pairs', '--key-names', 'no-such-key']), 'InvalidKeyPair.NotFound');
    }
  }),
);

function imdsGet(svc: ImdsService, path: string): { status: number; body: string } {
  const p = parseHttpRequest(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n`));
  assert.equal(p.kind, 'request');
  const r = svc.handle((p as { request: HttpRequest }).request).response;
  return { status: r.status, body: Buffer.from(r.body).toString('utf8') };
}

test(
  'RunInstances KeyName: a missing key is InvalidKeyPair.NotFound and launches nothing; a present one shows in DescribeInstances and IMDS public-keys, after the pair is deleted too',
  guarded(async () => {
    const count = async (): Promise<number> => ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).reduce((a, r) => a + (r.Instances?.length ?? 0), 0);
    const before = await count();
    assert.equal(await code(ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, KeyName: 'no-such-key' }))), 'InvalidKeyPair.NotFound');
    for (const which of ['v1', 'v2'] as const) {
      assert.equal(await cliError(which, ['ec2', 'run-instances', '--image-id', BUILTIN_AMI, '--instance-type', 't3.nano', '--key-name', 'no-such-key']), 'InvalidKeyPair.NotFound');
    }
    assert.equal(await count(), before, 'nothing was launched');

    const key = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['sdk-ed25519-pem'], IncludePublicKey: true }))).KeyPairs![0]!;
    const userData = Buffer.from('#!/bin/sh\necho keys\n').toString('base64');
    const run = await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, KeyName: 'sdk-ed25519-pem', UserData: userData }));
    const id = run.Instances![0]!.InstanceId!;
    assert.equal(run.Instances![0]!.KeyName, 'sdk-ed25519-pem');
    const inst = async (): Promise<Instance> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
    assert.equal((await inst()).KeyName, 'sdk-ed25519-pem');
    const byFilter = (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'key-name', Values: ['sdk-ed25519-pem'] }] }))).Reservations ?? [];
    assert.deepEqual(byFilter.flatMap((r) => r.Instances!.map((i) => i.InstanceId)), [id]);
    for (const which of ['v1', 'v2'] as const) {
      const d = await cliJson<{ Reservations: { Instances: { KeyName?: string }[] }[] }>(which, ['ec2', 'describe-instances', '--instance-ids', id]);
      assert.equal(d.Reservations[0]!.Instances[0]!.KeyName, 'sdk-ed25519-pem', which);
    }

    // The card's IMDS answers from the ENI configuration the region sends it (eni.put).
    const imdsOf = async (instanceId: string): Promise<ImdsService> => {
      const rec = region!.instances.owned({ accountId: region!.credentials.accountId, arn: '' }, [instanceId])[0]!;
      const eni = (await region!.store.list<EniRecord>('ec2/enis/', { limit: 10_000 })).map((e) => e.value).find((e) => e.instanceId === instanceId);
      assert.ok(eni, 'the instance has an ENI');
      return new ImdsService(region!.vpcSync!.eniConfig(eni, rec));
    };
    let imds = await imdsOf(id);
    assert.match(imdsGet(imds, '/latest/meta-data/').body, /(^|\n)public-keys\/(\n|$)/);
    assert.deepEqual(imdsGet(imds, '/latest/meta-data/public-keys/'), { status: 200, body: '0=sdk-ed25519-pem' });
    assert.deepEqual(imdsGet(imds, '/latest/meta-data/public-keys/0/'), { status: 200, body: 'openssh-key' });
    assert.deepEqual(imdsGet(imds, '/latest/meta-data/public-keys/0/openssh-key'), { status: 200, body: key.PublicKey! });

    // As on EC2, the instance keeps its key when the pair is deleted.
    await ec2.send(new DeleteKeyPairCommand({ KeyName: 'sdk-ed25519-pem' }));
    imds = await imdsOf(id);
    assert.deepEqual(imdsGet(imds, '/latest/meta-data/public-keys/0/openssh-key'), { status: 200, body: key.PublicKey! });
    assert.equal((await inst()).KeyName, 'sdk-ed25519-pem');

    // An instance launched without a key has no public-keys.
    const plain = (await ec2.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    const plainImds = await imdsOf(plain);
    assert.equal(imdsGet(plainImds, '/latest/meta-data/public-keys/').status, 404);
    assert.doesNotMatch(imdsGet(plainImds, '/latest/meta-data/').body, /public-keys/);

    // DescribeInstanceAttribute, SDK v3 and both CLIs.
    const attr = (attribute: InstanceAttributeName) => ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: attribute }));
    assert.deepEqual((await attr('instanceType')).InstanceType, { Value: 't3.nano' });
    assert.deepEqual((await attr('userData')).UserData, { Value: userData });
    assert.deepEqual((await attr('disableApiTermination')).DisableApiTermination, { Value: false });
    assert.deepEqual((await attr('disableApiStop')).DisableApiStop, { Value: false });
    assert.deepEqual((await attr('instanceInitiatedShutdownBehavior')).InstanceInitiatedShutdownBehavior, { Value: 'stop' });
    assert.deepEqual((await attr('ebsOptimized')).EbsOptimized, { Value: false });
    assert.deepEqual((await attr('enaSupport')).EnaSupport, { Value: false });
    assert.deepEqual((await attr('sourceDestCheck')).SourceDestCheck, { Value: true });
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }));
    assert.deepEqual((await attr('sourceDestCheck')).SourceDestCheck, { Value: false }, 'what ModifyInstanceAttribute changed');
    const groups = (await inst()).SecurityGroups!.map((g) => ({ GroupId: g.GroupId, GroupName: g.GroupName }));
    assert.ok(groups.length >= 1);
    assert.deepEqual((await attr('groupSet')).Groups, groups);
    assert.equal((await attr('kernel')).InstanceId, id);
    assert.deepEqual((await attr('blockDeviceMapping')).BlockDeviceMappings, (await inst()).BlockDeviceMappings ?? []);
    assert.deepEqual((await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: plain, Attribute: 'userData' }))).UserData ?? {}, {});
    assert.equal(await code(ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: 'i-00000000000000000', Attribute: 'userData' }))), 'InvalidInstanceID.NotFound');
    for (const which of ['v1', 'v2'] as const) {
      assert.deepEqual(await cliJson(which, ['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', 'instanceType']), { InstanceId: id, InstanceType: { Value: 't3.nano' } });
      assert.deepEqual(await cliJson(which, ['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', 'userData']), { InstanceId: id, UserData: { Value: userData } });
      assert.deepEqual((await cliJson<{ Groups: unknown }>(which, ['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', 'groupSet'])).Groups, groups);
    }
  }),
);

test(
  'DeleteKeyPair: by name and by id through SDK v3 and both CLIs; deleting what does not exist succeeds, as on EC2',
  guarded(async () => {
    const id = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['sdk-rsa-ppk'] }))).KeyPairs![0]!.KeyPairId!;
    const del = await ec2.send(new DeleteKeyPairCommand({ KeyPairId: id }));
    assert.equal(del.Return, true);
    assert.equal(del.KeyPairId, id);
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ KeyPairIds: [id] }))), 'InvalidKeyPair.NotFound');
    assert.equal((await ec2.send(new DeleteKeyPairCommand({ KeyPairId: id }))).Return, true, 'again: still success');
    assert.equal((await ec2.send(new DeleteKeyPairCommand({ KeyName: 'never-existed' }))).Return, true);
    for (const which of ['v1', 'v2'] as const) {
      // CLI v1's model answers Return and KeyPairId; Debian's v2.9 model has no output for DeleteKeyPair.
      const first = await cliJson<{ Return?: boolean; KeyPairId?: string }>(which, ['ec2', 'delete-key-pair', '--key-name', `cli-${which}-default`]);
      if (which === 'v1') assert.match(first.KeyPairId ?? '', /^key-/);
      const second = await cliJson<{ Return?: boolean; KeyPairId?: string }>(which, ['ec2', 'delete-key-pair', '--key-name', `cli-${which}-default`]);
      if (which === 'v1') assert.deepEqual(second, { Return: true });
      assert.equal(await cliError(which, ['ec2', 'describe-key-pairs', '--key-names', `cli-${which}-default`]), 'InvalidKeyPair.NotFound');
    }
    // A name freed by a delete can be used again.
    const again = await ec2.send(new CreateKeyPairCommand({ KeyName: 'sdk-rsa-ppk', KeyType: 'ed25519' }));
    secrets.push({ what: 'sdk-rsa-ppk (again)', material: again.KeyMaterial ?? '' });
    assert.notEqual(again.KeyPairId, id);
  }),
);

test(
  'IAM scopes key pair actions by their ARN (key-pair/<name>); accounts do not see or touch each other’s pairs, and a name is per account',
  guarded(async () => {
    const iam = region!.iam;
    const accountId = region!.credentials.accountId;
    await iam.createUser(accountId, 'dev');
    await iam.putUserPolicy(
      accountId,
      'dev',
      'dev-keys',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['ec2:CreateKeyPair', 'ec2:DeleteKeyPair'], Resource: `arn:aws:ec2:local-1:${accountId}:key-pair/dev-*` },
          { Effect: 'Allow', Action: 'ec2:DescribeKeyPairs', Resource: '*' },
        ],
      }),
    );
    const dk = await iam.createAccessKey(accountId, 'dev');
    const dev = new EC2Client({ endpoint: region!.endpoint, region: 'local-1', credentials: { accessKeyId: dk.accessKeyId, secretAccessKey: dk.secretAccessKey }, maxAttempts: 1 });
    const mine = await dev.send(new CreateKeyPairCommand({ KeyName: 'dev-1', KeyType: 'ed25519' }));
    secrets.push({ what: 'dev-1', material: mine.KeyMaterial ?? '' });
    assert.equal(await code(dev.send(new CreateKeyPairCommand({ KeyName: 'prod-1' }))), 'UnauthorizedOperation');
    assert.equal(await code(dev.send(new DeleteKeyPairCommand({ KeyName: 'imp-sdk-ed' }))), 'UnauthorizedOperation');
    assert.equal(await code(dev.send(new DeleteKeyPairCommand({ KeyPairId: (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-ed'] }))).KeyPairs![0]!.KeyPairId! }))), 'UnauthorizedOperation', 'by id: the ARN names the pair found');
    assert.equal((await dev.send(new DeleteKeyPairCommand({ KeyPairId: mine.KeyPairId! }))).Return, true);
    assert.equal(await code(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['prod-1'] }))), 'InvalidKeyPair.NotFound', 'a denied create leaves nothing');
    dev.destroy();

    const other = await iam.createAccount('other-keys');
    const ok = await iam.createAccessKey(other.accountId, ROOT_USER);
    const them = new EC2Client({ endpoint: region!.endpoint, region: 'local-1', credentials: { accessKeyId: ok.accessKeyId, secretAccessKey: ok.secretAccessKey }, maxAttempts: 1 });
    const target = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-ed'] }))).KeyPairs![0]!;
    assert.deepEqual((await them.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [], []);
    assert.equal(await code(them.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-ed'] }))), 'InvalidKeyPair.NotFound');
    assert.equal(await code(them.send(new DescribeKeyPairsCommand({ KeyPairIds: [target.KeyPairId!] }))), 'InvalidKeyPair.NotFound');
    assert.equal((await them.send(new DeleteKeyPairCommand({ KeyPairId: target.KeyPairId! }))).KeyPairId, undefined, 'nothing of theirs to delete');
    assert.equal(await code(them.send(new CreateTagsCommand({ Resources: [target.KeyPairId!], Tags: [{ Key: 'x', Value: 'y' }] }))), 'InvalidKeyPair.NotFound');
    assert.equal(await code(them.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1, KeyName: 'imp-sdk-ed' }))), 'InvalidKeyPair.NotFound');
    const theirs = await them.send(new CreateKeyPairCommand({ KeyName: 'imp-sdk-ed' }));
    secrets.push({ what: 'other account imp-sdk-ed', material: theirs.KeyMaterial ?? '' });
    assert.notEqual(theirs.KeyPairId, target.KeyPairId);
    assert.deepEqual((await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-ed'] }))).KeyPairs![0], target, 'ours is unchanged');
    them.destroy();
  }),
);

/** Pieces of a private key that only the private key has: its base64 body, in 32-character runs. */
function privatePieces(material: string): string[] {
  const body = material
    .split('\n')
    .filter((l) => !/^(-----|PuTTY-User-Key-File|Encryption:|Comment:|Public-Lines:|Private-Lines:|Private-MAC:)/.test(l))
    .join('');
  const ppkPrivate = /Private-Lines: \d+\n([\s\S]*?)\nPrivate-MAC/.exec(material)?.[1]?.replace(/\n/g, '');
  const text = ppkPrivate ?? body;
  const out: string[] = [];
  for (let i = 0; i + 32 <= text.length; i += 32) out.push(text.slice(i, i + 32));
  const mac = /Private-MAC: ([0-9a-f]+)/.exec(material)?.[1];
  if (mac) out.push(mac);
  return out;
}

test(
  'no private key is kept: not in the state store, the audit trail, any file under the home, nor the log',
  guarded(async () => {
    assert.ok(secrets.length >= 10, 'the private keys of the tests above');
    const files = filesUnder(home);
    assert.ok(files.some((f) => f.endsWith('state.db')), 'the state store is searched');
    assert.ok(files.some((f) => f.endsWith('audit.log')), 'the audit trail is searched');
    const haystacks = files.filter((f) => statSync(f).size < 256 * 1024 * 1024).map((f) => ({ f, text: readFileSync(f).toString('latin1') }));
    haystacks.push({ f: '(the region log)', text: logged });
    // the state store holds the key pairs' public halves: the search does look where they are
    const pub = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['imp-sdk-ed'], IncludePublicKey: true }))).KeyPairs![0]!.PublicKey!;
    assert.ok(haystacks.some((h) => h.text.includes(pub.split(' ')[1]!)), 'the public key is found (the search works)');
    for (const s of secrets) {
      const pieces = privatePieces(s.material);
      assert.ok(pieces.length >= 2, `${s.what}: pieces to search for`);
      for (const h of haystacks) for (const p of pieces) assert.ok(!h.text.includes(p), `${s.what}: a piece of the private key is in ${h.f}`);
    }
    // The audit trail records each create's outcome with the pair's id and fingerprint, the key removed.
    const outcomes = auditEvents(home).filter((e) => e['eventName'] === 'CreateKeyPair' && e['phase'] === 'outcome' && e['errorCode'] === undefined);
    assert.ok(outcomes.length >= 10);
    const all = (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
    for (const e of outcomes) {
      const r = e['responseElements'] as Record<string, unknown>;
      assert.equal(r['keyMaterial'], REDACTED);
      assert.match(String(r['keyPairId']), /^key-[0-9a-f]{17}$/);
      const k = all.find((x) => x.KeyPairId === r['keyPairId']);
      if (k) assert.equal(r['keyFingerprint'], k.KeyFingerprint);
      assert.ok(!JSON.stringify(e).includes('PRIVATE KEY') && !JSON.stringify(e).includes('PuTTY-User-Key-File'));
    }
  }),
);

test(
  'key pairs survive a region restart: the same ids, fingerprints, public keys and tags; the names stay taken',
  guarded(async () => {
    const before = (await ec2.send(new DescribeKeyPairsCommand({ IncludePublicKey: true }))).KeyPairs ?? [];
    assert.ok(before.length >= 10);
    await region!.close();
    region = undefined;
    region = await openLocalRegion(home);
    ec2 = new EC2Client({ endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey }, maxAttempts: 1 });
    const after = (await ec2.send(new DescribeKeyPairsCommand({ IncludePublicKey: true }))).KeyPairs ?? [];
    assert.deepEqual(after, before);
    assert.equal(await code(ec2.send(new CreateKeyPairCommand({ KeyName: before[0]!.KeyName! }))), 'InvalidKeyPair.Duplicate');
  }),
);
