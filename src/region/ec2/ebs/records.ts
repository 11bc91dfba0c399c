// The EBS records the region keeps (metadata only: the bytes live in the hosts' EBS cards) and
// what the EC2 API shows of them.
import { Ec2Error, ec2NotFound } from '../../protocol/errors.js';
import type { Snapshot, Volume, VolumeAttachment, VolumeAttachmentState, VolumeState } from '../../protocol/ec2/responses/index.js';
import type { VolumeType } from '../../protocol/ec2/requests/index.js';
import type { Collection } from '../../repo.js';
import type { Caller } from '../instances.js';

export const GiB = 2 ** 30;

export interface VolumeRecord {
  readonly id: string;
  readonly accountId: string;
  readonly size: number; // GiB
  readonly volumeType: VolumeType;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly encrypted: boolean;
  readonly kmsKeyArn: string | undefined;
  /** base64 of the KMS ciphertext blob of the data key; never the key itself. */
  readonly wrappedKey: string | undefined;
  readonly snapshotId: string | undefined;
  readonly availabilityZone: string;
  readonly state: VolumeState;
  readonly createTime: string;
  readonly attachment: AttachmentRecord | undefined;
  /** The host whose card holds the volume's bytes (set by the first attach). */
  readonly storeHostId: string | undefined;
  readonly multiAttachEnabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
  /** A volume made from a snapshot keeps the source volume's data key and its KMS context. */
  readonly keyContextId?: string | undefined;
}

export interface SnapshotRecord {
  readonly id: string;
  readonly accountId: string;
  readonly volumeId: string;
  readonly volumeSize: number; // GiB
  readonly encrypted: boolean;
  readonly kmsKeyArn: string | undefined;
  /** The wrapped data key of the source volume (the bytes are encrypted under it). */
  readonly wrappedKey: string | undefined;
  /** The volume id in the data key's KMS encryption context (aws:ebs:id). */
  readonly keyContextId: string | undefined;
  readonly hostId: string;
  readonly state: 'pending' | 'completed' | 'error';
  readonly startTime: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  /** EBS direct APIs: the last x-amz-Progress of a pending snapshot, and when it completed. */
  readonly progress?: number | undefined;
  readonly completionTime?: string | undefined;
}

export interface AttachmentRecord {
  readonly instanceId: string;
  readonly device: string;
  readonly state: VolumeAttachmentState;
  readonly attachTime: string;
  readonly deleteOnTermination: boolean;
  /**
   * Attached to a stopped instance: recorded (and shown `attached`, as EC2 does) but not yet
   * on any host; the watcher plugs it once the instance runs, as for RunInstances mappings.
   */
  readonly pendingPlug?: boolean | undefined;
  /** DetachVolume with Force=true: the background detach closes the export even if the guest holds on. */
  readonly detachForce?: boolean | undefined;
}

export interface EbsDefaultsRecord {
  readonly id: string; // the account id
  readonly encryptionByDefault: boolean;
  readonly kmsKeyArn: string | undefined;
}

/** The caller's snapshot, or EC2's Malformed / NotFound error. */
export function ownedSnapshot(snapshots: Collection<SnapshotRecord>, c: Caller, id: string): SnapshotRecord {
  if (!/^snap-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error('InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
  const s = snapshots.get(id);
  if (!s || s.accountId !== c.accountId) throw ec2NotFound('snapshot', id);
  return s;
}

export function snapshotView(s: SnapshotRecord): Snapshot {
  return {
    snapshotId: s.id,
    volumeId: s.volumeId,
    state: s.state,
    startTime: new Date(s.startTime),
    progress: s.state === 'completed' ? '100%' : `${s.progress ?? 0}%`,
    ownerId: s.accountId,
    description: s.description,
    volumeSize: s.volumeSize,
    encrypted: s.encrypted,
    kmsKeyId: s.kmsKeyArn,
    storageTier: 'standard',
    completionTime: s.state === 'completed' ? new Date(s.completionTime ?? s.startTime) : undefined,
    tags: Object.entries(s.tags).map(([key, value]) => ({ key, value })),
  };
}

export function attachmentView(volumeId: string, a: AttachmentRecord): VolumeAttachment {
  return { volumeId, instanceId: a.instanceId, device: a.device, state: a.state, attachTime: new Date(a.attachTime), deleteOnTermination: a.deleteOnTermination };
}

export function volumeView(v: VolumeRecord): Volume {
  return {
    volumeId: v.id,
    size: v.size,
    snapshotId: v.snapshotId,
    availabilityZone: v.availabilityZone,
    availabilityZoneId: 'local1-az1',
    state: v.state,
    createTime: new Date(v.createTime),
    attachments: v.attachment ? [attachmentView(v.id, v.attachment)] : [],
    volumeType: v.volumeType,
    iops: v.iops ?? (v.volumeType === 'gp3' ? 3000 : v.volumeType === 'gp2' ? Math.min(16000, Math.max(100, v.size * 3)) : undefined),
    throughput: v.throughput ?? (v.volumeType === 'gp3' ? 125 : undefined),
    encrypted: v.encrypted,
    kmsKeyId: v.kmsKeyArn,
    multiAttachEnabled: v.multiAttachEnabled,
    tags: Object.entries(v.tags).map(([key, value]) => ({ key, value })),
  };
}
