// EbsDirectService over a real SQLite store, real IAM and KMS, with a stand-in host that
// records the card commands (the real card path is in test/integration/ebs-direct.test.ts):
// an encrypted snapshot's key reaches the card only sealed to its key (aad: the snapshot id)
// and is stored only wrapped; a snapshot past its Timeout turns `error`, is dropped on the
// card and refuses writes (WRITE_REQUEST_TIMEOUT); the sweep forgets the blocks of deleted
// snapshots.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Iam } from '../../iam/iam.js';
import { Kms } from '../../kms/kms.js';
import { generateSealKeyPair, openSealed } from '../../lib/seal.js';
import { SqliteStore } from '../../store/sqlite-store.js';
import { Collection } from '../repo.js';
import { InstanceService, type HostFleet } from '../ec2/instances.js';
import type { HostRecord, ImageRecord, InstanceRecord } from '../ec2/model.js';
import { EbsAccountDefaults } from '../ec2/ebs/account-defaults.js';
import { EbsKeyRelease } from '../ec2/ebs/key-release.js';
import type { EbsDefaultsRecord, SnapshotRecord, VolumeRecord } from '../ec2/ebs/records.js';
import { SnapshotService } from '../ec2/ebs/snapshots.js';
import { VolumeService } from '../ec2/ebs/volumes.js';
import { EbsDirectError } from '../protocol/ebs-direct/errors.js';
import { EbsDirectService, type EbsBlockRecord, type EbsSessionRecord } from './service.js';

const host: HostRecord = { id: 'h-0123456789abcdef0', address: '127.0.0.1', port: 9, availabilityZone: 'local-1a', memoryMiB: 16384, vcpus: 2, enrolledAt: new Date().toISOString(), certFingerprint: '0'.repeat(64) };
const BLOCK = 512 * 1024;

test('EBS direct service: sealed keys only, Timeout → error with the card dropping the snapshot, sweep of deleted snapshots', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-ebs-direct-svc-'));
  const store = await SqliteStore.open(join(dir, 'state.db'));
  try {
    const iam = Iam.open(store, { home: dir });
    const boot = await iam.bootstrap();
    const caller = { accountId: boot.accountId, arn: `arn:aws:iam::${boot.accountId}:root` };
    const kms = Kms.open(store, iam, { home: dir });
    const card = generateSealKeyPair();
    const sent: { type: string; params: Record<string, unknown> }[] = [];
    const fleet = {
      hosts: () => [host],
      placeable: async (ids: readonly string[]) => new Set(ids),
      send: async (_h: string, type: string, params: Record<string, unknown>) => {
        sent.push({ type, params });
        if (type === 'ebs.info') return { publicKey: card.publicKey.toString('base64') };
        return {};
      },
    } as unknown as HostFleet;
    const instances = new InstanceService(new Collection<InstanceRecord>(store, 'ec2/instances/'), new Collection<ImageRecord>(store, 'ec2/images/'), fleet);
    const snapshots = new Collection<SnapshotRecord>(store, 'ec2/snapshots/');
    const keys = new EbsKeyRelease(fleet, kms, undefined);
    const defaults = new EbsAccountDefaults(new Collection<EbsDefaultsRecord>(store, 'ec2/ebs-defaults/'), keys);
    const volumes = new VolumeService(new Collection<VolumeRecord>(store, 'ec2/volumes/'), snapshots, instances, fleet, keys, defaults);
    const snapshotService = new SnapshotService(snapshots, volumes, fleet, keys, defaults);
    let clock = Date.parse('2026-12-07T12:00:00Z');
    const blocks = new Collection<EbsBlockRecord>(store, 'ebs/blocks/');
    const svc = new EbsDirectService({ snapshots, blocks, sessions: new Collection<EbsSessionRecord>(store, 'ebs/sessions/') }, keys, defaults, fleet, () => new Date(clock));

    const s = await svc.start(caller, { operation: 'StartSnapshot', volumeSize: 1, parentSnapshotId: undefined, tags: [], description: undefined, clientToken: undefined, encrypted: true, kmsKeyArn: undefined, timeout: 10 });
    assert.equal(s.sseType, 'sse-ebs');
    const begin = sent.find((x) => x.type === 'snapshot.begin')!;
    const key = openSealed(card, Buffer.from(begin.params['key'] as string, 'base64'), Buffer.from(s.snapshotId));
    assert.equal(key.length, 64);
    assert.throws(() => openSealed(card, Buffer.from(begin.params['key'] as string, 'base64'), Buffer.from('snap-other')), 'the seal names the snapshot');
    // the plaintext key is nowhere in the region's files
    for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (f.isFile()) assert.equal(readFileSync(join(f.parentPath, f.name)).indexOf(key), -1, `the data key in ${f.name}`);
    }
    assert.ok(snapshots.get(s.snapshotId)!.wrappedKey!.length > 64);

    const data = Buffer.alloc(BLOCK, 3);
    const put = () => svc.putBlock(caller, { operation: 'PutSnapshotBlock', snapshotId: s.snapshotId, blockIndex: 1, data, dataLength: BLOCK, progress: 10, checksum: createHash('sha256').update(data).digest('base64'), checksumAlgorithm: 'SHA256' });
    await put();
    assert.equal(snapshots.get(s.snapshotId)!.progress, 10);

    // ten minutes later: timed out
    clock += 10 * 60_000 + 1;
    await assert.rejects(put(), (e: unknown) => e instanceof EbsDirectError && e.reason === 'WRITE_REQUEST_TIMEOUT');
    assert.equal(snapshots.get(s.snapshotId)!.state, 'error');
    assert.ok(sent.some((x) => x.type === 'snapshot.abort' && x.params['snapshotId'] === s.snapshotId), 'the card drops what was written');
    await assert.rejects(svc.complete(caller, { operation: 'CompleteSnapshot', snapshotId: s.snapshotId, changedBlocksCount: 1, checksum: undefined, checksumAlgorithm: undefined, checksumAggregationMethod: undefined }), (e: unknown) => e instanceof EbsDirectError && e.code === 'ValidationException');

    // a second one times out through the sweep alone
    const s2 = await svc.start(caller, { operation: 'StartSnapshot', volumeSize: 1, parentSnapshotId: undefined, tags: [], description: undefined, clientToken: undefined, encrypted: false, kmsKeyArn: undefined, timeout: 10 });
    assert.equal(s2.sseType, 'none');
    assert.equal(sent.filter((x) => x.type === 'snapshot.begin').at(-1)!.params['key'], null);
    clock += 11 * 60_000;
    await svc.sweepOnce();
    assert.equal(snapshots.get(s2.snapshotId)!.state, 'error');

    // deleted snapshots: their blocks go at the next sweep
    assert.equal(svc.blocksOf(s.snapshotId).length, 1);
    await snapshotService.delete(caller, s.snapshotId);
    await svc.sweepOnce();
    assert.equal(svc.blocksOf(s.snapshotId).length, 0);
    key.fill(0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
