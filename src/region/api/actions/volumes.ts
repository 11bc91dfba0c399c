// The EC2 API's EBS actions over VolumeService: volumes, snapshots and the account's
// encryption defaults. One entry per action; authorization and audit happen in server.ts first.
import type { VolumeRequest } from '../../protocol/ec2/requests/index.js';
import { tagsFor } from '../../ec2/tags.js';
import { snapshotView, volumeView } from '../../ec2/ebs/records.js';
import { page, type ActionTable } from './common.js';

export const VOLUME_ACTIONS: ActionTable<VolumeRequest> = {
  CreateVolume: {
    async run(svc, caller, req) {
      const v = await svc.volumes.create(caller, req, tagsFor(req.tagSpecifications, 'volume'));
      return { action: 'CreateVolume', volume: volumeView(v) };
    },
  },
  DescribeVolumes: {
    run(svc, caller, req) {
      const all = svc.volumes.describe(caller, req.volumeIds, req.filters);
      const p = page(all, (v) => v.id, req.maxResults, req.nextToken);
      return { action: 'DescribeVolumes', volumes: p.items.map(volumeView), nextToken: p.nextToken };
    },
  },
  AttachVolume: {
    run: async (svc, caller, req) => ({ action: 'AttachVolume', attachment: await svc.volumes.attach(caller, req.volumeId, req.instanceId, req.device) }),
  },
  DetachVolume: {
    run: async (svc, caller, req) => ({ action: 'DetachVolume', attachment: await svc.volumes.detach(caller, req.volumeId, req.instanceId, req.device, req.force) }),
  },
  DeleteVolume: {
    async run(svc, caller, req) {
      await svc.volumes.delete(caller, req.volumeId);
      return { action: 'DeleteVolume' };
    },
  },
  ModifyVolume: {
    async run(svc, caller, req) {
      const { before, after } = await svc.volumes.modify(caller, req.volumeId, req.size, req.volumeType, req.iops, req.throughput);
      const now = new Date();
      return {
        action: 'ModifyVolume',
        modification: {
          volumeId: after.id,
          modificationState: 'completed',
          targetSize: after.size,
          targetIops: after.iops,
          targetVolumeType: after.volumeType,
          targetThroughput: after.throughput,
          originalSize: before.size,
          originalIops: before.iops,
          originalVolumeType: before.volumeType,
          originalThroughput: before.throughput,
          progress: 100,
          startTime: now,
          endTime: now,
        },
      };
    },
  },
  CreateSnapshot: {
    async run(svc, caller, req) {
      const snap = await svc.snapshots.create(caller, req.volumeId, req.description, tagsFor(req.tagSpecifications, 'snapshot'));
      return { action: 'CreateSnapshot', snapshot: snapshotView(snap) };
    },
  },
  DescribeSnapshots: {
    run(svc, caller, req) {
      for (const o of req.ownerIds) {
        if (o !== 'self' && o !== caller.accountId) return { action: 'DescribeSnapshots', snapshots: [], nextToken: undefined };
      }
      const all = svc.snapshots.describe(caller, req.snapshotIds, req.filters);
      const p = page(all, (s) => s.id, req.maxResults, req.nextToken);
      return { action: 'DescribeSnapshots', snapshots: p.items.map(snapshotView), nextToken: p.nextToken };
    },
  },
  CopySnapshot: {
    async run(svc, caller, req) {
      const tags = tagsFor(req.tagSpecifications, 'snapshot');
      const snap = await svc.snapshots.copy(caller, req, tags);
      return { action: 'CopySnapshot', snapshotId: snap.id, tags: snapshotView(snap).tags };
    },
  },
  DeleteSnapshot: {
    async run(svc, caller, req) {
      await svc.snapshots.delete(caller, req.snapshotId);
      return { action: 'DeleteSnapshot' };
    },
  },
  EnableEbsEncryptionByDefault: {
    run: async (svc, caller, req) => ({ action: req.action, ebsEncryptionByDefault: await svc.ebsDefaults.setEncryptionByDefault(caller, true) }),
  },
  DisableEbsEncryptionByDefault: {
    run: async (svc, caller, req) => ({ action: req.action, ebsEncryptionByDefault: await svc.ebsDefaults.setEncryptionByDefault(caller, false) }),
  },
  GetEbsEncryptionByDefault: {
    run: (svc, caller, req) => ({ action: req.action, ebsEncryptionByDefault: svc.ebsDefaults.encryptionByDefault(caller) }),
  },
  GetEbsDefaultKmsKeyId: {
    run: (svc, caller, req) => ({ action: req.action, kmsKeyId: svc.ebsDefaults.defaultKmsKeyId(caller) }),
  },
  ModifyEbsDefaultKmsKeyId: {
    run: async (svc, caller, req) => ({ action: req.action, kmsKeyId: await svc.ebsDefaults.modifyDefaultKmsKeyId(caller, req.kmsKeyId) }),
  },
  ResetEbsDefaultKmsKeyId: {
    run: async (svc, caller, req) => ({ action: req.action, kmsKeyId: await svc.ebsDefaults.resetDefaultKmsKeyId(caller) }),
  },
};
