// NitroTPM end to end through a real region (`nitride start`: region, local controller,
// hypervisor, QEMU, swtpm): RegisterImage with TpmSupport=v2.0 from the built-in image,
// RunInstances, the guest shows /dev/tpm0 and reads PCR 0 on its console,
// GetInstanceTpmEkPub answers the vTPM's EKs through SDK v3 and both AWS CLIs (DER SPKI that
// node:crypto parses as RSA 2048 and secp384r1), the EK survives stop/start, the vTPM key is
// in no file under NITRIDE_HOME (nor in the audit trail), terminate destroys the vTPM state,
// and an instance without NitroTPM gets EC2's error.
//
// Debian's AWS CLI v2 (2.9) predates GetInstanceTpmEkPub: it is driven with its own EC2
// model plus that operation and its shapes copied from the newer botocore of CLI v1, given
// through AWS_DATA_PATH (botocore's documented search path for models).
import { filesUnder } from '../../src/lib/testing/files.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  GetInstanceTpmEkPubCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { ensureImage } from '../../src/image/build.js';
import { MARKERS } from '../../src/image/markers.js';
import { imageCacheDir } from '../../src/lib/paths.js';
import { RootKey, rootKeyPath, type SealedSecret } from '../../src/iam/root-key.js';
import { vtpmKeyAad } from '../../src/region/ec2/instances.js';
import { vtpmFiles } from '../../src/hypervisor/vtpm.js';
import { BUILTIN_AMI, CLIS, auditEvents, cleanupHome, ensureGuestImage, guestConsole, startRegion, waitFor, type CliName, type RegionProcess } from '../region-fixtures.js';

const BOOT_MS = 240_000;
let region: RegionProcess | undefined;
let failed = false;

before(async () => {
  await ensureGuestImage();
  region = await startRegion();
});

after(async () => {
  if (region) await cleanupHome(region.home, [region], failed);
});

function r(): RegionProcess {
  assert.ok(region, 'the region did not start');
  return region;
}

function ec2(): EC2Client {
  return new EC2Client({ endpoint: r().endpoint, region: 'local-1', credentials: r().credentials, maxAttempts: 1 });
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { name?: string }).name ?? String(e);
  }
  assert.fail('expected an EC2 error');
}

async function stateOf(c: EC2Client, id: string): Promise<string | undefined> {
  const d = await c.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

const waitState = (c: EC2Client, id: string, want: string, ms: number): Promise<true> =>
  waitFor(`${id} ${want}`, async () => ((await stateOf(c, id)) === want ? true : undefined), ms, 2000);

/** CLI v2's EC2 model with GetInstanceTpmEkPub added from CLI v1's botocore model (see the header). */
function cliV2ModelDir(home: string): string {
  const v1Root = spawnSync('python3', ['-c', 'import botocore,os;print(os.path.dirname(botocore.__file__))'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(v1Root !== '', "CLI v1's botocore is installed");
  const v1 = JSON.parse(gunzipSync(readFileSync(join(v1Root, 'data', 'ec2', '2016-11-15', 'service-2.json.gz'))).toString('utf8')) as { operations: Record<string, unknown>; shapes: Record<string, unknown> };
  const v2 = JSON.parse(readFileSync('/usr/lib/python3/dist-packages/awscli/botocore/data/ec2/2016-11-15/service-2.json', 'utf8')) as typeof v1;
  v2.operations['GetInstanceTpmEkPub'] = v1.operations['GetInstanceTpmEkPub'];
  for (const s of ['GetInstanceTpmEkPubRequest', 'GetInstanceTpmEkPubResult', 'EkPubKeyType', 'EkPubKeyFormat', 'EkPubKeyValue']) v2.shapes[s] = v1.shapes[s];
  const dir = join(home, 'cli-v2-models');
  mkdirSync(join(dir, 'ec2', '2016-11-15'), { recursive: true });
  writeFileSync(join(dir, 'ec2', '2016-11-15', 'service-2.json'), JSON.stringify(v2));
  return dir;
}

function cliEkPub(cli: CliName, id: string, keyType: string, keyFormat: string, modelDir: string): { status: number; stdout: string; stderr: string } {
  const args = ['--profile', 'nitride', ...(cli === 'v2' ? ['--endpoint-url', r().endpoint] : []), 'ec2', 'get-instance-tpm-ek-pub', '--instance-id', id, '--key-type', keyType, '--key-format', keyFormat, '--output', 'json'];
  const env = cli === 'v2' ? { ...r().awsEnv, AWS_DATA_PATH: modelDir } : r().awsEnv;
  const res = spawnSync(CLIS[cli], args, { env, encoding: 'utf8', timeout: 120_000 });
  if (res.error) throw new Error(`the AWS CLI ${cli} (${CLIS[cli]}) could not run: ${res.error.message}`);
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** The vTPM key the region sealed for `id`, opened with the region root key (what the host was sent). */
function vtpmKeyOf(home: string, id: string): Buffer {
  const db = new Database(join(home, 'region', 'state.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT value FROM kv WHERE key = ?').get(Buffer.from(`ec2/instances/${id}`)) as { value: string } | undefined;
    assert.ok(row, `the instance record of ${id} is in the store`);
    const rec = JSON.parse(row.value) as { vtpm?: { sealedKey: SealedSecret } };
    assert.ok(rec.vtpm, 'the record holds a sealed vTPM key');
    assert.equal(rec.vtpm.sealedKey.alg, 'AES-256-GCM');
    const key = Buffer.from(RootKey.loadOrCreate(rootKeyPath(home)).unseal(rec.vtpm.sealedKey, vtpmKeyAad(id)), 'base64');
    assert.equal(key.length, 32);
    return key;
  } finally {
    db.close();
  }
}

function parseDer(b64: string): ReturnType<typeof createPublicKey> {
  return createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
}

test('vm NitroTPM through the region: TpmSupport=v2.0 image, /dev/tpm0 and a PCR in the guest, GetInstanceTpmEkPub (SDK, CLI v1, CLI v2), stop/start, no key at rest, terminate', { timeout: 1_200_000 }, async () => {
  const c = ec2();
  const home = r().home;
  try {
    // RegisterImage from the built-in image's directory with TpmSupport=v2.0.
    const builtin = await ensureImage({ cacheDir: imageCacheDir(), say: () => undefined });
    const reg = await c.send(new RegisterImageCommand({ Name: 'nitride-minimal-tpm', ImageLocation: builtin.dir, TpmSupport: 'v2.0', BootMode: 'uefi' }));
    const ami = reg.ImageId!;
    const img = (await c.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images?.[0];
    assert.equal(img?.TpmSupport, 'v2.0');
    const tpmImages = (await c.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tpm-support', Values: ['v2.0'] }] }))).Images ?? [];
    assert.deepEqual(tpmImages.map((i) => i.ImageId), [ami]);

    // An instance without NitroTPM: EC2's UnsupportedOperation (it need not boot for that).
    const plainId = (await c.send(new RunInstancesCommand({ ImageId: BUILTIN_AMI, InstanceType: 't3.nano', MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: plainId, KeyType: 'rsa-2048', KeyFormat: 'der' }))), 'UnsupportedOperation');
    await c.send(new TerminateInstancesCommand({ InstanceIds: [plainId] }));

    const run = await c.send(new RunInstancesCommand({ ImageId: ami, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    const id = run.Instances![0]!.InstanceId!;
    await waitState(c, id, 'running', BOOT_MS);
    assert.equal((await c.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.TpmSupport, 'v2.0');

    // The guest shows its TPM device and reads PCR 0 (sha256 bank) through it.
    const tpmLine = new RegExp(`${MARKERS.tpm} /dev/tpm0 pcr-sha256/0=([0-9A-Fa-f]{64})`);
    const out1 = await waitFor('the TPM marker and ready on the console', async () => {
      const o = await guestConsole(c, id);
      return tpmLine.test(o) && o.includes(MARKERS.ready) ? o : undefined;
    }, BOOT_MS, 3000);
    const pcr0 = tpmLine.exec(out1)![1]!;
    process.stderr.write(`[vm] guest: ${tpmLine.exec(out1)![0]}\n`);

    // GetInstanceTpmEkPub over SDK v3: both key types, both formats.
    const ek = async (keyType: 'rsa-2048' | 'ecc-sec-p384', keyFormat: 'der' | 'tpmt'): Promise<string> => {
      const res = await c.send(new GetInstanceTpmEkPubCommand({ InstanceId: id, KeyType: keyType, KeyFormat: keyFormat }));
      assert.equal(res.InstanceId, id);
      assert.equal(res.KeyType, keyType);
      assert.equal(res.KeyFormat, keyFormat);
      assert.ok(res.KeyValue);
      return res.KeyValue;
    };
    const rsaDer = await ek('rsa-2048', 'der');
    const eccDer = await ek('ecc-sec-p384', 'der');
    const rsaTpmt = await ek('rsa-2048', 'tpmt');
    const rsa = parseDer(rsaDer);
    assert.equal(rsa.asymmetricKeyType, 'rsa');
    assert.equal(rsa.asymmetricKeyDetails?.modulusLength, 2048);
    const ecc = parseDer(eccDer);
    assert.equal(ecc.asymmetricKeyType, 'ec');
    assert.equal(ecc.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    // The TPMT_PUBLIC carries the same modulus as the DER key.
    const modulus = Buffer.from(rsa.export({ format: 'jwk' }).n!, 'base64url');
    assert.ok(Buffer.from(rsaTpmt, 'base64').includes(modulus), 'the TPMT_PUBLIC holds the RSA modulus');

    // Both AWS CLIs, unmodified (v2 with the operation's model added).
    const modelDir = cliV2ModelDir(home);
    for (const cli of ['v1', 'v2'] as const) {
      for (const [keyType, want] of [['rsa-2048', rsaDer], ['ecc-sec-p384', eccDer]] as const) {
        const res = cliEkPub(cli, id, keyType, 'der', modelDir);
        assert.equal(res.status, 0, `${cli} get-instance-tpm-ek-pub ${keyType}: ${res.stderr}`);
        const j = JSON.parse(res.stdout) as { InstanceId: string; KeyType: string; KeyFormat: string; KeyValue: string };
        assert.deepEqual(j, { InstanceId: id, KeyType: keyType, KeyFormat: 'der', KeyValue: want }, `CLI ${cli}`);
      }
      const bad = cliEkPub(cli, 'i-0000000000000000a', 'rsa-2048', 'der', modelDir);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /InvalidInstanceID\.NotFound/, `CLI ${cli}`);
    }

    // EC2's errors.
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: 'i-0000000000000000a', KeyType: 'rsa-2048', KeyFormat: 'der' }))), 'InvalidInstanceID.NotFound');
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: 'i-nope', KeyType: 'rsa-2048', KeyFormat: 'der' }))), 'InvalidInstanceID.Malformed');
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: id, KeyType: 'rsa-4096' as never, KeyFormat: 'der' }))), 'InvalidParameterValue');
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: id, KeyType: 'rsa-2048', KeyFormat: 'pem' as never }))), 'InvalidParameterValue');
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: id, KeyType: 'rsa-2048', KeyFormat: 'der', DryRun: true }))), 'DryRunOperation');

    // Stop: the EK is still answered (from the host's record); start: the same EK, a TPM again.
    await c.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitState(c, id, 'stopped', 180_000);
    assert.equal(await ek('rsa-2048', 'der'), rsaDer, 'the EK of a stopped instance');
    await c.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await waitState(c, id, 'running', BOOT_MS);
    // The console keeps both boots: wait for the second start marker and that boot's ready.
    const startsIn = (o: string): number => o.split('\n').filter((l) => l.trim() === MARKERS.start).length;
    const boots = await waitFor('the second boot to be ready', async () => {
      const o = await guestConsole(c, id);
      return startsIn(o) >= startsIn(out1) + 1 && o.slice(o.lastIndexOf(MARKERS.start)).includes(MARKERS.ready) ? o : undefined;
    }, BOOT_MS, 3000);
    const second = tpmLine.exec(boots.slice(boots.lastIndexOf(MARKERS.start)));
    assert.ok(second, 'the restarted guest has /dev/tpm0 and reads PCR 0');
    // PCR 0 is reset at TPM start-up and extended again by the same firmware: the same value.
    assert.equal(second[1], pcr0, 'PCR 0 after stop/start');
    assert.equal(await ek('rsa-2048', 'der'), rsaDer, 'the same RSA EK after stop/start');
    assert.equal(await ek('ecc-sec-p384', 'der'), eccDer, 'the same ECC EK after stop/start');

    // The key: sealed in the store; in no file under NITRIDE_HOME in any encoding, not in the audit trail.
    const key = vtpmKeyOf(home, id);
    const forms = [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64')), Buffer.from(key.toString('base64url'))];
    const files = filesUnder(home);
    assert.ok(files.some((f) => f.includes(join('instances', id, 'tpm'))), 'the vTPM state is on disk (encrypted)');
    for (const f of files) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue; // removed meanwhile
      }
      for (const k of forms) assert.equal(bytes.includes(k), false, `${f} holds the vTPM key`);
    }
    const trail = readFileSync(join(home, 'region', 'audit.log'));
    for (const k of forms) assert.equal(trail.includes(k), false, 'the audit trail holds the vTPM key');
    // The action is audited like the others (a read: its own record, and a refused one with its error).
    const events = auditEvents(home);
    const ekEvents = events.filter((e) => e['eventName'] === 'GetInstanceTpmEkPub');
    assert.ok(ekEvents.some((e) => e['errorCode'] === undefined && e['readOnly'] === true), 'a successful GetInstanceTpmEkPub is in the audit trail');
    assert.ok(ekEvents.some((e) => e['errorCode'] === 'UnsupportedOperation'), 'the refused one is too');

    // Terminate destroys the vTPM state; the EK is no longer answered.
    const dir = join(home, 'host', 'hypervisor', 'instances', id);
    await c.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitState(c, id, 'terminated', 180_000);
    const f = vtpmFiles(dir);
    assert.equal(existsSync(f.stateDir), false, 'the vTPM state is gone');
    assert.equal(existsSync(f.ekFile), false, 'the EK record is gone');
    assert.equal(await errorCode(c.send(new GetInstanceTpmEkPubCommand({ InstanceId: id, KeyType: 'rsa-2048', KeyFormat: 'der' }))), 'IncorrectInstanceState');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    c.destroy();
  }
});
