// A volume's data key is sealed only to the EBS card key the host's attestation binds: over a
// real SQLite store, real IAM and KMS (the data key wrapped under a KMS key and unwrapped under
// the EBS grant), with a stand-in host that answers ebs.info with one card key while its
// attestation binds another (the real path is in test/vm/ebs-volumes.test.ts and
// test/vm/host-update*.test.ts). Every release asks for an attestation of its own; a card
// that does not match it → a refusal recorded with the gate, no key leaves the region and
// nothing is attached.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Iam } from '../../../iam/iam.js';
import { Kms } from '../../../kms/kms.js';
import { generateSealKeyPair, openSealed } from '../../../lib/seal.js';
import { SqliteStore } from '../../../store/sqlite-store.js';
import { Collection } from '../../repo.js';
import { InstanceService, type HostFleet } from '../instances.js';
import type { ImageRecord, InstanceRecord } from '../model.js';
import { testHost as host } from '../instances.test-helper.js';
import { EbsAccountDefaults } from './account-defaults.js';
import { EbsKeyRelease, type CardKeyGate } from './key-release.js';
import type { EbsDefaultsRecord, SnapshotRecord, VolumeRecord } from './records.js';
import { VolumeService } from './volumes.js';

test('the data key is sealed only to the attested EBS card key; a card the attestation does not bind gets nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-attested-key-'));
  const store = await SqliteStore.open(join(dir, 'state.db'));
  try {
    const iam = Iam.open(store, { home: dir });
    const boot = await iam.bootstrap();
    const caller = { accountId: boot.accountId, arn: `arn:aws:iam::${boot.accountId}:root` };
    const kms = Kms.open(store, iam, { home: dir });
    const instances = new Collection<InstanceRecord>(store, 'ec2/instances/');
    const images = new Collection<ImageRecord>(store, 'ec2/images/');
    const now = new Date().toISOString();
    const inst: InstanceRecord = {
      id: 'i-0123456789abcdef0', reservationId: 'r-0123456789abcdef0', accountId: boot.accountId, requesterPrincipal: caller.arn, imageId: 'ami-0123456789abcdef0', instanceType: 't3.nano', amiLaunchIndex: 0,
      clientToken: undefined, state: 'running', desired: 'running', stateReason: undefined, stateTransitionReason: '', launchTime: now, createdAt: now, stateChangedAt: now, terminatedAt: undefined,
      userData: undefined, tags: {}, hostId: host.id, availabilityZone: 'local-1a', generation: 1, readyAt: now, accel: 'tcg', subnetId: undefined, securityGroupIds: [], privateIpAddress: undefined,
      keyName: undefined, metadataOptions: { httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' },
    } as unknown as InstanceRecord;
    await instances.put(inst);

    const card = generateSealKeyPair(); // the card ebs.info names
    const other = generateSealKeyPair(); // a card the host attested earlier
    let attested = other.publicKey;
    let fresh = 0;
    const refusals: { reason: string; code: string }[] = [];
    const sent: { type: string; params: Record<string, unknown> }[] = [];
    const fleet = {
      hosts: () => [host],
      send: async (_h: string, type: string, params: Record<string, unknown>) => {
        sent.push({ type, params });
        if (type === 'ebs.info') return { publicKey: card.publicKey.toString('base64') };
        return {};
      },
    } as unknown as HostFleet;
    const gate: CardKeyGate = {
      requireAttestedHost: async (hostId: string, reason: string) => {
        assert.equal(reason, 'key-release', 'the gate is asked for a key release (a fresh attestation, never a cached verdict)');
        fresh++;
        return { hostId, ebsCardPublicKey: attested, verdict: {} };
      },
      refuse: async (_hostId: string, reason: string, code: string) => {
        refusals.push({ reason, code });
        return {};
      },
    };
    const svc = new InstanceService(instances, images, fleet);
    const keys = new EbsKeyRelease(fleet, kms, gate);
    const defaults = new EbsAccountDefaults(new Collection<EbsDefaultsRecord>(store, 'ec2/ebs-defaults/'), keys);
    const volumes = new VolumeService(new Collection<VolumeRecord>(store, 'ec2/volumes/'), new Collection<SnapshotRecord>(store, 'ec2/snapshots/'), svc, fleet, keys, defaults);
    const create = (): Promise<VolumeRecord> =>
      volumes.create(caller, { action: 'CreateVolume', dryRun: false, availabilityZone: 'local-1a', availabilityZoneId: undefined, size: 1, snapshotId: undefined, volumeType: 'gp3', iops: undefined, throughput: undefined, encrypted: true, kmsKeyId: undefined, multiAttachEnabled: undefined, tagSpecifications: [], clientToken: undefined }, {});

    // The card is not the one the release's own attestation binds: no key, no attach, a refusal.
    const v1 = await create();
    await assert.rejects(volumes.attach(caller, v1.id, inst.id, '/dev/sdf'), (e: { code?: string }) => e.code === 'InternalError');
    assert.equal(fresh, 1);
    assert.deepEqual(refusals, [{ reason: 'key-release', code: 'AttestationCardKeyMismatch' }]);
    assert.equal(sent.filter((s) => s.type === 'volume.attach').length, 0, 'no volume.attach, so no sealed key left the region');
    assert.equal(volumes.find(caller, v1.id)?.attachment, undefined, 'the volume stays available');

    // The host now attests the card it names: the next release (its own attestation) seals to it.
    attested = card.publicKey;
    await volumes.attach(caller, v1.id, inst.id, '/dev/sdf');
    assert.equal(fresh, 2);
    const att = sent.filter((s) => s.type === 'volume.attach');
    assert.equal(att.length, 1);
    const sealed = Buffer.from(String(att[0]!.params['sealedKey']), 'base64');
    assert.equal(openSealed(card, sealed, Buffer.from(v1.id)).length, 64, 'sealed to the attested card: it opens the 64-byte XTS key');
    assert.throws(() => openSealed(other, sealed, Buffer.from(v1.id)), 'and to no other card');

    // Every release attests afresh, even one right after another.
    const v2 = await create();
    await volumes.attach(caller, v2.id, inst.id, '/dev/sdg');
    assert.equal(fresh, 3);
    assert.equal(refusals.length, 1);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
