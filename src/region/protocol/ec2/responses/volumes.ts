// EC2 responses, EBS: volumes, snapshots and the account's encryption defaults: the typed results and their XML writers.

import type { VolumeType } from '../requests/common.js';
import type { XmlWriter } from '../../../../lib/xml.js';
import { type ResponseOf, type TagItem, writeReturn, type WriterTable, writeTags } from './common.js';

export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
export type VolumeAttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';

export interface VolumeAttachment {
  readonly volumeId: string;
  readonly instanceId: string;
  readonly device: string;
  readonly state: VolumeAttachmentState;
  readonly attachTime: Date;
  readonly deleteOnTermination: boolean;
}

export interface Volume {
  readonly volumeId: string;
  /** GiB */
  readonly size: number;
  /** The source snapshot; EC2 sends an empty <snapshotId/> when there is none. */
  readonly snapshotId?: string | undefined;
  readonly availabilityZone: string;
  readonly availabilityZoneId?: string | undefined;
  readonly state: VolumeState;
  readonly createTime: Date;
  readonly attachments: readonly VolumeAttachment[];
  readonly volumeType: VolumeType;
  readonly iops?: number | undefined;
  readonly throughput?: number | undefined;
  readonly encrypted: boolean;
  /** The KMS key ARN, when encrypted. */
  readonly kmsKeyId?: string | undefined;
  readonly multiAttachEnabled: boolean;
  readonly tags: readonly TagItem[];
}

export interface VolumeModification {
  readonly volumeId: string;
  readonly modificationState: 'modifying' | 'optimizing' | 'completed' | 'failed';
  readonly statusMessage?: string | undefined;
  readonly targetSize: number;
  readonly targetIops?: number | undefined;
  readonly targetVolumeType: VolumeType;
  readonly targetThroughput?: number | undefined;
  readonly targetMultiAttachEnabled?: boolean | undefined;
  readonly originalSize: number;
  readonly originalIops?: number | undefined;
  readonly originalVolumeType: VolumeType;
  readonly originalThroughput?: number | undefined;
  readonly originalMultiAttachEnabled?: boolean | undefined;
  /** 0–100 */
  readonly progress: number;
  readonly startTime: Date;
  readonly endTime?: Date | undefined;
}

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';

export interface Snapshot {
  readonly snapshotId: string;
  /** The source volume (EC2 shows vol-ffffffff for a copied snapshot). */
  readonly volumeId: string;
  readonly state: SnapshotState;
  readonly stateMessage?: string | undefined;
  readonly startTime: Date;
  /** e.g. '100%' (a string on the wire). */
  readonly progress: string;
  readonly ownerId: string;
  readonly ownerAlias?: string | undefined;
  /** EC2 sends an empty <description/> when there is none. */
  readonly description: string;
  readonly volumeSize: number;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string | undefined;
  readonly storageTier?: 'archive' | 'standard' | undefined;
  readonly completionTime?: Date | undefined;
  readonly tags: readonly TagItem[];
}

export function writeAttachment(w: XmlWriter, a: VolumeAttachment): void {
  w.leaf('volumeId', a.volumeId).leaf('instanceId', a.instanceId).leaf('device', a.device).leaf('status', a.state);
  w.leaf('attachTime', a.attachTime).leaf('deleteOnTermination', a.deleteOnTermination);
}

export function writeVolume(w: XmlWriter, v: Volume): void {
  w.leaf('volumeId', v.volumeId).leaf('size', v.size).leaf('snapshotId', v.snapshotId ?? '');
  w.leaf('availabilityZone', v.availabilityZone).leaf('availabilityZoneId', v.availabilityZoneId);
  w.leaf('status', v.state).leaf('createTime', v.createTime);
  w.list('attachmentSet', v.attachments, writeAttachment);
  writeTags(w, v.tags);
  w.leaf('volumeType', v.volumeType).leaf('iops', v.iops).leaf('throughput', v.throughput);
  w.leaf('encrypted', v.encrypted).leaf('kmsKeyId', v.kmsKeyId).leaf('multiAttachEnabled', v.multiAttachEnabled);
}

export function writeVolumeModification(w: XmlWriter, m: VolumeModification): void {
  w.open('volumeModification');
  w.leaf('volumeId', m.volumeId).leaf('modificationState', m.modificationState).leaf('statusMessage', m.statusMessage);
  w.leaf('targetSize', m.targetSize).leaf('targetIops', m.targetIops).leaf('targetVolumeType', m.targetVolumeType);
  w.leaf('targetThroughput', m.targetThroughput).leaf('targetMultiAttachEnabled', m.targetMultiAttachEnabled);
  w.leaf('originalSize', m.originalSize).leaf('originalIops', m.originalIops).leaf('originalVolumeType', m.originalVolumeType);
  w.leaf('originalThroughput', m.originalThroughput).leaf('originalMultiAttachEnabled', m.originalMultiAttachEnabled);
  w.leaf('progress', m.progress).leaf('startTime', m.startTime).leaf('endTime', m.endTime);
  w.close();
}

export function writeSnapshot(w: XmlWriter, s: Snapshot): void {
  w.leaf('snapshotId', s.snapshotId).leaf('volumeId', s.volumeId).leaf('status', s.state).leaf('statusMessage', s.stateMessage);
  w.leaf('startTime', s.startTime).leaf('progress', s.progress).leaf('ownerId', s.ownerId).leaf('ownerAlias', s.ownerAlias);
  w.leaf('volumeSize', s.volumeSize).leaf('description', s.description).leaf('encrypted', s.encrypted).leaf('kmsKeyId', s.kmsKeyId);
  w.leaf('storageTier', s.storageTier).leaf('completionTime', s.completionTime);
  writeTags(w, s.tags);
}

export type VolumeResponse =
  | { readonly action: 'CreateVolume'; readonly volume: Volume }
  | { readonly action: 'DescribeVolumes'; readonly volumes: readonly Volume[]; readonly nextToken?: string | undefined }
  | { readonly action: 'AttachVolume' | 'DetachVolume'; readonly attachment: VolumeAttachment }
  | { readonly action: 'ModifyVolume'; readonly modification: VolumeModification }
  | { readonly action: 'CreateSnapshot'; readonly snapshot: Snapshot }
  | { readonly action: 'DescribeSnapshots'; readonly snapshots: readonly Snapshot[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CopySnapshot'; readonly snapshotId: string; readonly tags?: readonly TagItem[] | undefined }
  | { readonly action: 'EnableEbsEncryptionByDefault' | 'DisableEbsEncryptionByDefault' | 'GetEbsEncryptionByDefault'; readonly ebsEncryptionByDefault: boolean }
  | { readonly action: 'GetEbsDefaultKmsKeyId' | 'ModifyEbsDefaultKmsKeyId' | 'ResetEbsDefaultKmsKeyId'; /** the key's ARN */ readonly kmsKeyId: string }
  | { readonly action: 'DeleteVolume' | 'DeleteSnapshot';
    };

function writeAttachVolume(w: XmlWriter, r: ResponseOf<VolumeResponse, 'AttachVolume' | 'DetachVolume'>): void {
  writeAttachment(w, r.attachment);
}

function writeEnableEbsEncryptionByDefault(w: XmlWriter, r: ResponseOf<VolumeResponse, 'EnableEbsEncryptionByDefault' | 'DisableEbsEncryptionByDefault' | 'GetEbsEncryptionByDefault'>): void {
  w.leaf('ebsEncryptionByDefault', r.ebsEncryptionByDefault);
}

function writeGetEbsDefaultKmsKeyId(w: XmlWriter, r: ResponseOf<VolumeResponse, 'GetEbsDefaultKmsKeyId' | 'ModifyEbsDefaultKmsKeyId' | 'ResetEbsDefaultKmsKeyId'>): void {
  w.leaf('kmsKeyId', r.kmsKeyId);
}

export const VOLUME_WRITERS: WriterTable<VolumeResponse> = {
  CreateVolume: (w, r) => {
    writeVolume(w, r.volume);
  },
  DescribeVolumes(w, r) {
    w.list('volumeSet', r.volumes, writeVolume);
    w.leaf('nextToken', r.nextToken);
  },
  AttachVolume: writeAttachVolume,
  DetachVolume: writeAttachVolume,
  ModifyVolume: (w, r) => {
    writeVolumeModification(w, r.modification);
  },
  CreateSnapshot: (w, r) => {
    writeSnapshot(w, r.snapshot);
  },
  DescribeSnapshots(w, r) {
    w.list('snapshotSet', r.snapshots, writeSnapshot);
    w.leaf('nextToken', r.nextToken);
  },
  CopySnapshot(w, r) {
    w.leaf('snapshotId', r.snapshotId);
    writeTags(w, r.tags ?? []);
  },
  EnableEbsEncryptionByDefault: writeEnableEbsEncryptionByDefault,
  DisableEbsEncryptionByDefault: writeEnableEbsEncryptionByDefault,
  GetEbsEncryptionByDefault: writeEnableEbsEncryptionByDefault,
  GetEbsDefaultKmsKeyId: writeGetEbsDefaultKmsKeyId,
  ModifyEbsDefaultKmsKeyId: writeGetEbsDefaultKmsKeyId,
  ResetEbsDefaultKmsKeyId: writeGetEbsDefaultKmsKeyId,
  DeleteVolume: writeReturn,
  DeleteSnapshot: writeReturn,
};
