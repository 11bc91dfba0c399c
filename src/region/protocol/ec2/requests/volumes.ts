// EC2 requests, EBS: volumes, snapshots and the account's encryption defaults.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { type Base, checkClientToken, checkDescription, checkInstanceId, checkSnapshotId, checkVolumeId, dryRun, type Filter, idsOrPaging, missing, type Paged, paged, type ParamReader, type ParserTable, readFilters, readTagSpecifications, type TagSpecification, VOLUME_TYPES, type VolumeType } from './common.js';

// ---------------------------------------------------------------- EBS: volumes, snapshots, account defaults

export interface CreateVolumeRequest extends Base {
  readonly action: 'CreateVolume';
  /** AvailabilityZone or AvailabilityZoneId is present (the parser insists on one). */
  readonly availabilityZone: string | undefined;
  readonly availabilityZoneId: string | undefined;
  /** GiB. Size or snapshotId is present (the parser insists on one); per-type bounds are the handler's. */
  readonly size: number | undefined;
  readonly snapshotId: string | undefined;
  /** Absent: EC2's default (gp2) — the handler decides. */
  readonly volumeType: VolumeType | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly multiAttachEnabled: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
  readonly clientToken: string | undefined;
}

export interface DescribeVolumesRequest extends Base, Paged {
  readonly action: 'DescribeVolumes';
  readonly volumeIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface AttachVolumeRequest extends Base {
  readonly action: 'AttachVolume';
  readonly device: string;
  readonly instanceId: string;
  readonly volumeId: string;
}

export interface DetachVolumeRequest extends Base {
  readonly action: 'DetachVolume';
  readonly volumeId: string;
  readonly device: string | undefined;
  readonly instanceId: string | undefined;
  readonly force: boolean;
}

export interface DeleteVolumeRequest extends Base {
  readonly action: 'DeleteVolume';
  readonly volumeId: string;
}

export interface ModifyVolumeRequest extends Base {
  readonly action: 'ModifyVolume';
  readonly volumeId: string;
  readonly size: number | undefined;
  readonly volumeType: VolumeType | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
  readonly multiAttachEnabled: boolean | undefined;
}

export interface CreateSnapshotRequest extends Base {
  readonly action: 'CreateSnapshot';
  readonly volumeId: string;
  readonly description: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeSnapshotsRequest extends Base, Paged {
  readonly action: 'DescribeSnapshots';
  readonly snapshotIds: readonly string[];
  /** Owner.N: account ids, 'self' or 'amazon'. */
  readonly ownerIds: readonly string[];
  /** RestorableBy.N: account ids or 'all'. */
  readonly restorableByUserIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DeleteSnapshotRequest extends Base {
  readonly action: 'DeleteSnapshot';
  readonly snapshotId: string;
}

export interface CopySnapshotRequest extends Base {
  readonly action: 'CopySnapshot';
  readonly sourceSnapshotId: string;
  readonly sourceRegion: string;
  readonly destinationRegion: string | undefined;
  readonly description: string | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface EnableEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'EnableEbsEncryptionByDefault';
}

export interface DisableEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'DisableEbsEncryptionByDefault';
}

export interface GetEbsEncryptionByDefaultRequest extends Base {
  readonly action: 'GetEbsEncryptionByDefault';
}

export interface GetEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'GetEbsDefaultKmsKeyId';
}

export interface ModifyEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'ModifyEbsDefaultKmsKeyId';
  /** Key id, key ARN, alias name or alias ARN; resolved by the handler through KMS. */
  readonly kmsKeyId: string;
}

export interface ResetEbsDefaultKmsKeyIdRequest extends Base {
  readonly action: 'ResetEbsDefaultKmsKeyId';
}

export type VolumeRequest =
  | CreateVolumeRequest
  | DescribeVolumesRequest
  | AttachVolumeRequest
  | DetachVolumeRequest
  | DeleteVolumeRequest
  | ModifyVolumeRequest
  | CreateSnapshotRequest
  | DescribeSnapshotsRequest
  | DeleteSnapshotRequest
  | CopySnapshotRequest
  | EnableEbsEncryptionByDefaultRequest
  | DisableEbsEncryptionByDefaultRequest
  | GetEbsEncryptionByDefaultRequest
  | GetEbsDefaultKmsKeyIdRequest
  | ModifyEbsDefaultKmsKeyIdRequest
  | ResetEbsDefaultKmsKeyIdRequest;

function copySnapshot(r: ParamReader): CopySnapshotRequest {
  return {
    action: 'CopySnapshot',
    dryRun: dryRun(r),
    sourceSnapshotId: checkSnapshotId(r.requiredString('SourceSnapshotId')),
    sourceRegion: r.requiredString('SourceRegion'),
    destinationRegion: r.string('DestinationRegion'),
    description: checkDescription(r, 'Description', 255),
    encrypted: r.boolean('Encrypted'),
    kmsKeyId: r.string('KmsKeyId'),
    tagSpecifications: readTagSpecifications(r),
  };
}

export const VOLUME_PARSERS: ParserTable<VolumeRequest> = {
  CreateVolume(r) {
    const availabilityZone = r.string('AvailabilityZone');
    const availabilityZoneId = r.string('AvailabilityZoneId');
    if (!availabilityZone && !availabilityZoneId) throw missing('AvailabilityZone');
    if (availabilityZone && availabilityZoneId) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter AvailabilityZone cannot be used with the parameter AvailabilityZoneId.');
    }
    const size = r.integer('Size', 1, 65536);
    const snapshotId = r.string('SnapshotId');
    if (size === undefined && (snapshotId === undefined || snapshotId === '')) {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter size or snapshotId', { context: { parameter: 'Size' } });
    }
    return {
      action: 'CreateVolume',
      dryRun: dryRun(r),
      availabilityZone: availabilityZone || undefined,
      availabilityZoneId: availabilityZoneId || undefined,
      size,
      snapshotId: snapshotId === undefined || snapshotId === '' ? undefined : checkSnapshotId(snapshotId),
      volumeType: r.enumString('VolumeType', VOLUME_TYPES),
      iops: r.integer('Iops', 1, 1_000_000),
      throughput: r.integer('Throughput', 1, 100_000),
      encrypted: r.boolean('Encrypted'),
      kmsKeyId: r.string('KmsKeyId'),
      multiAttachEnabled: r.boolean('MultiAttachEnabled'),
      tagSpecifications: readTagSpecifications(r),
      clientToken: checkClientToken(r),
    };
  },

  DescribeVolumes(r) {
    const volumeIds = r.stringList('VolumeId').map(checkVolumeId);
    const p = paged(r, 5, 1000);
    idsOrPaging(volumeIds, p, 'volumeSet');
    return { action: 'DescribeVolumes', dryRun: dryRun(r), volumeIds, filters: readFilters(r), ...p };
  },

  AttachVolume: (r) => ({
    action: 'AttachVolume',
    dryRun: dryRun(r),
    device: r.requiredString('Device'),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
  }),

  DetachVolume(r) {
    const instanceId = r.string('InstanceId');
    return {
      action: 'DetachVolume',
      dryRun: dryRun(r),
      volumeId: checkVolumeId(r.requiredString('VolumeId')),
      device: r.string('Device') || undefined,
      instanceId: instanceId === undefined || instanceId === '' ? undefined : checkInstanceId(instanceId),
      force: r.boolean('Force') ?? false,
    };
  },

  DeleteVolume: (r) => ({ action: 'DeleteVolume', dryRun: dryRun(r), volumeId: checkVolumeId(r.requiredString('VolumeId')) }),

  ModifyVolume: (r) => ({
    action: 'ModifyVolume',
    dryRun: dryRun(r),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
    size: r.integer('Size', 1, 65536),
    volumeType: r.enumString('VolumeType', VOLUME_TYPES),
    iops: r.integer('Iops', 1, 1_000_000),
    throughput: r.integer('Throughput', 1, 100_000),
    multiAttachEnabled: r.boolean('MultiAttachEnabled'),
  }),

  CreateSnapshot: (r) => ({
    action: 'CreateSnapshot',
    dryRun: dryRun(r),
    volumeId: checkVolumeId(r.requiredString('VolumeId')),
    description: checkDescription(r, 'Description', 255),
    tagSpecifications: readTagSpecifications(r),
  }),

  DescribeSnapshots(r) {
    const snapshotIds = r.stringList('SnapshotId').map(checkSnapshotId);
    const p = paged(r, 5, 1000);
    idsOrPaging(snapshotIds, p, 'snapshotSet');
    return {
      action: 'DescribeSnapshots',
      dryRun: dryRun(r),
      snapshotIds,
      ownerIds: r.stringList('Owner'),
      restorableByUserIds: r.stringList('RestorableBy'),
      filters: readFilters(r),
      ...p,
    };
  },

  DeleteSnapshot: (r) => ({ action: 'DeleteSnapshot', dryRun: dryRun(r), snapshotId: checkSnapshotId(r.requiredString('SnapshotId')) }),

  CopySnapshot: (r) => {
    // The SDKs and CLIs add a presigned URL for the source region to every copy; a copy
    // inside this region (the only one) has no use for it, which is what AWS does too.
    r.accept('PresignedUrl');
    return copySnapshot(r);
  },

  EnableEbsEncryptionByDefault: (r) => ({ action: 'EnableEbsEncryptionByDefault', dryRun: dryRun(r) }),  DisableEbsEncryptionByDefault: (r) => ({ action: 'DisableEbsEncryptionByDefault', dryRun: dryRun(r) }),
  GetEbsEncryptionByDefault: (r) => ({ action: 'GetEbsEncryptionByDefault', dryRun: dryRun(r) }),
  GetEbsDefaultKmsKeyId: (r) => ({ action: 'GetEbsDefaultKmsKeyId', dryRun: dryRun(r) }),
  ModifyEbsDefaultKmsKeyId: (r) => ({ action: 'ModifyEbsDefaultKmsKeyId', dryRun: dryRun(r), kmsKeyId: r.requiredString('KmsKeyId') }),
  ResetEbsDefaultKmsKeyId: (r) => ({ action: 'ResetEbsDefaultKmsKeyId', dryRun: dryRun(r) }),
};

/** The volumes actions that change state (audited before effect; every action accepts DryRun). */
export const VOLUME_MUTATING: readonly VolumeRequest['action'][] = ['CreateVolume', 'AttachVolume', 'DetachVolume', 'DeleteVolume', 'ModifyVolume', 'CreateSnapshot', 'DeleteSnapshot', 'CopySnapshot', 'EnableEbsEncryptionByDefault', 'DisableEbsEncryptionByDefault', 'ModifyEbsDefaultKmsKeyId', 'ResetEbsDefaultKmsKeyId'];
