// The region's half of NitroTPM, over a real SQLite state store and a real root key: a
// TpmSupport=v2.0 image gets a fresh 32-byte vTPM key per instance at RunInstances, kept only
// sealed (never in the store's bytes), sent as spec.tpm with every instance.start, dropped at
// terminate; GetInstanceTpmEkPub asks the instance's host and answers EC2's errors otherwise.
// The "host" here records the commands it is sent (the real one is in test/vm/nitrotpm-region).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../store/sqlite-store.js';
import { RootKey } from '../../iam/root-key.js';
import { Collection } from '../repo.js';
import { Ec2Error } from '../protocol/errors.js';
import { InstanceService, vtpmKeyAad, type HostFleet } from './instances.js';
import type { ImageRecord, InstanceRecord } from './model.js';
import { testCaller as caller, testHost as host, testImage as image } from './instances.test-helper.js';

const TPM_AMI = 'ami-0123456789abcdef0';
const PLAIN_AMI = 'ami-0fedcba987654321f';

interface Sent {
  readonly type: string;
  readonly params: Record<string, unknown>;
}

function code(e: unknown): string {
  assert.ok(e instanceof Ec2Error, `expected an Ec2Error, got ${String(e)}`);
  return e.code;
}

test('NitroTPM keys: made at RunInstances, sealed in the store, sent with every start, dropped at terminate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-vtpm-keys-'));
  const store = await SqliteStore.open(join(dir, 'state.db'));
  try {
    const instances = new Collection<InstanceRecord>(store, 'ec2/instances/');
    const images = new Collection<ImageRecord>(store, 'ec2/images/');
    await images.putMany([image(TPM_AMI, true), image(PLAIN_AMI, false)]);
    const sent: Sent[] = [];
    let ekAnswer: (params: Record<string, unknown>) => unknown = (p) => ({ instanceId: p['instanceId'], keyType: p['keyType'], keyFormat: p['keyFormat'], keyValue: 'RUs=' });
    const fleet: HostFleet = {
      hosts: () => [host],
      placeable: async (ids) => new Set(ids),
      // a stand-in host: records what the region sends and answers as a controller would
      send: (async (_h: string, type: string, params: unknown) => {
        const p = params as Record<string, unknown>;
        sent.push({ type, params: p });
        if (type === 'instance.tpm-ekpub') return ekAnswer(p);
        return { state: 'running', accel: 'tcg' };
      }) as HostFleet['send'],
    };
    const run = { instanceType: 't3.nano', minCount: 2, maxCount: 2, userData: undefined, clientToken: undefined, tags: {}, subnetId: undefined, securityGroupIds: [], privateIpAddress: undefined, keyName: undefined };

    // Without a sealer the region refuses a TPM image rather than launching it without its TPM.
    const unsealed = new InstanceService(instances, images, fleet);
    await assert.rejects(unsealed.run(caller, { ...run, imageId: TPM_AMI }), (e) => code(e) === 'UnsupportedOperation');

    const rootKey = RootKey.loadOrCreate(join(dir, 'root.key'));
    const svc = new InstanceService(instances, images, fleet, { sealer: rootKey });
    const recs = await svc.run(caller, { ...run, imageId: TPM_AMI });
    const [plain] = await svc.run(caller, { ...run, minCount: 1, maxCount: 1, imageId: PLAIN_AMI });
    await svc.idle();
    assert.equal(plain!.vtpm, undefined, 'an image without TpmSupport gets no vTPM key');

    const starts = sent.filter((s) => s.type === 'instance.start').map((s) => s.params['spec'] as { instanceId: string; tpm?: { key: string } });
    const keys = new Map<string, string>();
    for (const r of recs) {
      assert.ok(r.vtpm, 'a TPM instance has a sealed key');
      const key = rootKey.unseal(r.vtpm.sealedKey, vtpmKeyAad(r.id));
      assert.equal(Buffer.from(key, 'base64').length, 32);
      keys.set(r.id, key);
      assert.deepEqual(starts.find((s) => s.instanceId === r.id)?.tpm, { key }, 'instance.start carries the key');
      // The sealed key is bound to its instance: it does not open as another's.
      assert.throws(() => rootKey.unseal(r.vtpm!.sealedKey, vtpmKeyAad(plain!.id)));
    }
    assert.notEqual(keys.get(recs[0]!.id), keys.get(recs[1]!.id), 'one key per instance');
    assert.equal(starts.find((s) => s.instanceId === plain!.id)?.tpm, undefined, 'no spec.tpm for a plain instance');

    // Stop and start: the same key again.
    const id = recs[0]!.id;
    await svc.stop(caller, [id], false);
    await svc.idle();
    sent.length = 0;
    await svc.start(caller, [id]);
    await svc.idle();
    const again = sent.find((s) => s.type === 'instance.start')?.params['spec'] as { tpm?: { key: string } } | undefined;
    assert.deepEqual(again?.tpm, { key: keys.get(id) });

    // GetInstanceTpmEkPub: rsa-2048 goes to the host as 'rsa'; EC2's errors otherwise.
    const ek = await svc.tpmEkPub(caller, id, 'rsa-2048', 'der');
    assert.deepEqual(ek, { instanceId: id, keyType: 'rsa-2048', keyFormat: 'der', keyValue: 'RUs=' });
    assert.deepEqual(sent.at(-1), { type: 'instance.tpm-ekpub', params: { instanceId: id, keyType: 'rsa', keyFormat: 'der' } });
    await assert.rejects(svc.tpmEkPub(caller, plain!.id, 'rsa-2048', 'der'), (e) => code(e) === 'UnsupportedOperation');
    await assert.rejects(svc.tpmEkPub(caller, 'i-0000000000000000a', 'rsa-2048', 'der'), (e) => code(e) === 'InvalidInstanceID.NotFound');
    await assert.rejects(svc.tpmEkPub({ ...caller, accountId: '210987654321' }, id, 'rsa-2048', 'der'), (e) => code(e) === 'InvalidInstanceID.NotFound');
    ekAnswer = () => {
      throw Object.assign(new Error('The instance has no vTPM.'), { code: 'VtpmNotProvisioned' });
    };
    await assert.rejects(svc.tpmEkPub(caller, id, 'ecc-sec-p384', 'tpmt'), (e) => code(e) === 'IncorrectInstanceState');

    // Terminate: the sealed key goes with the state the host destroyed.
    await svc.terminate(caller, [id]);
    await svc.idle();
    const gone = instances.get(id)!;
    assert.equal(gone.state, 'terminated');
    assert.equal(gone.vtpm, undefined);
    assert.ok(instances.get(recs[1]!.id)?.vtpm, 'the other instance keeps its key');
    await assert.rejects(svc.tpmEkPub(caller, id, 'rsa-2048', 'der'), (e) => code(e) === 'IncorrectInstanceState');

    // No key is in the store's bytes, in any encoding.
    await store.close();
    const bytes = Buffer.concat(readdirSync(dir).filter((f) => f.startsWith('state.db')).map((f) => readFileSync(join(dir, f))));
    for (const k of keys.values()) {
      const raw = Buffer.from(k, 'base64');
      assert.equal(bytes.includes(Buffer.from(k)), false, 'base64 key in the store');
      assert.equal(bytes.includes(Buffer.from(raw.toString('hex'))), false, 'hex key in the store');
      assert.equal(bytes.includes(raw), false, 'raw key in the store');
    }
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
