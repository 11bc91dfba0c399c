// The EBS actions of the EC2 API over VolumeService: a typed request in, a typed response
// out, or undefined for an action that is not EBS's (the handler's default branch asks).
import { Ec2Error } from '../protocol/errors.js';
import type { Ec2Request } from '../protocol/ec2/requests/index.js';
import type { Ec2Response } from '../protocol/ec2/responses/index.js';
import { page } from '../api/ec2-handlers.js';
import type { Caller } from './instances.js';
import { snapshotView, volumeView, type VolumeService } from './volumes.js';

function tagsFor(specs: readonly { resourceType: string; tags: readonly { key: string; value: string }[] }[], type: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    if (s.resourceType !== type) throw new Ec2Error('InvalidParameterValue', `'${s.resourceType}' is not a valid taggable resource type for this operation.`);
    for (const t of s.tags) out[t.key] = t.value;
  }
  return out;
}

export async function handleEbs(svc: VolumeService, caller: Caller, req: Ec2Request): Promise<Ec2Response | undefined> {
  switch (req.action) {
    case 'CreateVolume': {
      const v = await svc.create(caller, req, tagsFor(req.tagSpecifications, 'volume'));
      return { action: 'CreateVolume', volume: volumeView(v) };
    }
    case 'DescribeVolumes': {
      const all = svc.describe(caller, req.volumeIds, req.filters);
      const p = page(all, (v) => v.id, req.maxResults, req.nextToken);
      return { action: 'DescribeVolumes', volumes: p.items.map(volumeView), nextToken: p.nextToken };
    }
    case 'AttachVolume':
      return { action: 'AttachVolume', attachment: await svc.attach(caller, req.volumeId, req.instanceId, req.device) };
    case 'DetachVolume':
      return { action: 'DetachVolume', attachment: await svc.detach(caller, req.volumeId, req.instanceId, req.device, req.force) };
    case 'DeleteVolume':
      await svc.delete(caller, req.volumeId);
      return { action: 'DeleteVolume' };
    case 'ModifyVolume': {
      const { before, after } = await svc.modify(caller, req.volumeId, req.size, req.volumeType, req.iops, req.throughput);
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
    }
    case 'CreateSnapshot': {
      const snap = await svc.createSnapshot(caller, req.volumeId, req.description, tagsFor(req.tagSpecifications, 'snapshot'));
      return { action: 'CreateSnapshot', snapshot: snapshotView(snap) };
    }
    case 'DescribeSnapshots': {
      for (const o of req.ownerIds) {
        if (o !== 'self' && o !== caller.accountId) return { action: 'DescribeSnapshots', snapshots: [], nextToken: undefined };
      }
      const all = svc.describeSnapshots(caller, req.snapshotIds, req.filters);
      const p = page(all, (s) => s.id, req.maxResults, req.nextToken);
      return { action: 'DescribeSnapshots', snapshots: p.items.map(snapshotView), nextToken: p.nextToken };
    }
    case 'CopySnapshot': {
      const tags = tagsFor(req.tagSpecifications, 'snapshot');
      const snap = await svc.copySnapshot(caller, req, tags);
      return { action: 'CopySnapshot', snapshotId: snap.id, tags: snapshotView(snap).tags };
    }
    case 'DeleteSnapshot':
      await svc.deleteSnapshot(caller, req.snapshotId);
      return { action: 'DeleteSnapshot' };
    case 'EnableEbsEncryptionByDefault':
      return { action: req.action, ebsEncryptionByDefault: await svc.setEncryptionByDefault(caller, true) };
    case 'DisableEbsEncryptionByDefault':
      return { action: req.action, ebsEncryptionByDefault: await svc.setEncryptionByDefault(caller, false) };
    case 'GetEbsEncryptionByDefault':
      return { action: req.action, ebsEncryptionByDefault: svc.encryptionByDefault(caller) };
    case 'GetEbsDefaultKmsKeyId':
      return { action: req.action, kmsKeyId: svc.defaultKmsKeyId(caller) };
    case 'ModifyEbsDefaultKmsKeyId':
      return { action: req.action, kmsKeyId: await svc.modifyDefaultKmsKeyId(caller, req.kmsKeyId) };
    case 'ResetEbsDefaultKmsKeyId':
      return { action: req.action, kmsKeyId: await svc.resetDefaultKmsKeyId(caller) };
    default:
      return undefined;
  }
}
