// EC2 responses, images: the typed results and their XML writers.

import type { XmlWriter } from '../../../../lib/xml.js';
import { type StateReason, type TagItem, writeReturn, type WriterTable, writeStateReason, writeTags } from './common.js';

export interface Image {
  readonly imageId: string;
  readonly imageLocation: string;
  readonly imageState: 'pending' | 'available' | 'invalid' | 'deregistered' | 'transient' | 'failed' | 'error' | 'disabled';
  readonly imageOwnerId: string;
  readonly imageOwnerAlias?: string | undefined;
  readonly creationDate: Date;
  readonly isPublic: boolean;
  readonly architecture: 'i386' | 'x86_64' | 'arm64';
  readonly imageType: 'machine' | 'kernel' | 'ramdisk';
  readonly kernelId?: string | undefined;
  readonly ramdiskId?: string | undefined;
  readonly name: string;
  readonly description?: string | undefined;
  readonly rootDeviceType: 'ebs' | 'instance-store';
  readonly rootDeviceName?: string | undefined;
  readonly blockDeviceMappings: readonly {
    readonly deviceName: string;
    readonly ebs?:
      | {
          readonly snapshotId?: string | undefined;
          readonly volumeSize?: number | undefined;
          readonly volumeType?: string | undefined;
          readonly deleteOnTermination?: boolean | undefined;
          readonly encrypted?: boolean | undefined;
          readonly kmsKeyId?: string | undefined;
          readonly iops?: number | undefined;
          readonly throughput?: number | undefined;
        }
      | undefined;
    readonly virtualName?: string | undefined;
    readonly noDevice?: boolean | undefined;
  }[];
  readonly virtualizationType: 'hvm' | 'paravirtual';
  readonly hypervisor: 'xen' | 'ovm';
  readonly enaSupport?: boolean | undefined;
  readonly bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred' | undefined;
  readonly tpmSupport?: string | undefined;
  readonly platformDetails?: string | undefined;
  readonly usageOperation?: string | undefined;
  readonly tags: readonly TagItem[];
  readonly stateReason?: StateReason | undefined;
}

export function writeImage(w: XmlWriter, i: Image): void {
  w.leaf('imageId', i.imageId).leaf('imageLocation', i.imageLocation).leaf('imageState', i.imageState);
  w.leaf('imageOwnerId', i.imageOwnerId).leaf('creationDate', i.creationDate).leaf('isPublic', i.isPublic);
  w.leaf('architecture', i.architecture).leaf('imageType', i.imageType).leaf('kernelId', i.kernelId).leaf('ramdiskId', i.ramdiskId);
  w.leaf('platformDetails', i.platformDetails).leaf('usageOperation', i.usageOperation);
  w.leaf('imageOwnerAlias', i.imageOwnerAlias).leaf('name', i.name).leaf('description', i.description);
  w.leaf('rootDeviceType', i.rootDeviceType).leaf('rootDeviceName', i.rootDeviceName);
  w.list('blockDeviceMapping', i.blockDeviceMappings, (x, b) => {
    x.leaf('deviceName', b.deviceName).leaf('virtualName', b.virtualName);
    if (b.ebs !== undefined) {
      x.open('ebs')
        .leaf('snapshotId', b.ebs.snapshotId)
        .leaf('volumeSize', b.ebs.volumeSize)
        .leaf('deleteOnTermination', b.ebs.deleteOnTermination)
        .leaf('volumeType', b.ebs.volumeType)
        .leaf('iops', b.ebs.iops)
        .leaf('encrypted', b.ebs.encrypted)
        .leaf('kmsKeyId', b.ebs.kmsKeyId)
        .leaf('throughput', b.ebs.throughput)
        .close();
    }
    if (b.noDevice === true) x.leaf('noDevice', '');
  });
  w.leaf('virtualizationType', i.virtualizationType).leaf('hypervisor', i.hypervisor).leaf('enaSupport', i.enaSupport);
  w.leaf('bootMode', i.bootMode).leaf('tpmSupport', i.tpmSupport);
  writeStateReason(w, i.stateReason);
  writeTags(w, i.tags);
}

export type ImageResponse =
  | { readonly action: 'DeregisterImage' }
  | { readonly action: 'DescribeImages'; readonly images: readonly Image[]; readonly nextToken?: string | undefined }
  | { readonly action: 'RegisterImage'; readonly imageId: string }
  | { readonly action: 'CopyImage'; readonly imageId: string }
  | { readonly action: 'CreateImage'; readonly imageId: string };

export const IMAGE_WRITERS: WriterTable<ImageResponse> = {
  DeregisterImage: writeReturn,
  DescribeImages(w, r) {
    w.list('imagesSet', r.images, writeImage);
    w.leaf('nextToken', r.nextToken);
  },
  RegisterImage: (w, r) => {
    w.leaf('imageId', r.imageId);
  },
  CopyImage: (w, r) => {
    w.leaf('imageId', r.imageId);
  },
  CreateImage: (w, r) => {
    w.leaf('imageId', r.imageId);
  },
};
