// EC2 requests, images: describe, register, deregister, copy, create (from an instance).
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { type Base, type BlockDeviceMappingRequest, checkDescription, checkImageId, checkInstanceId, dryRun, type Filter, invalid, type Paged, paged, type ParserTable, readBlockDeviceMappings, readFilters, readTagSpecifications, type TagSpecification } from './common.js';

export interface DescribeImagesRequest extends Base, Paged {
  readonly action: 'DescribeImages';
  readonly imageIds: readonly string[];
  readonly owners: readonly string[];
  readonly executableUsers: readonly string[];
  readonly filters: readonly Filter[];
}

export interface RegisterImageRequest extends Base {
  readonly action: 'RegisterImage';
  readonly name: string;
  readonly description: string | undefined;
  readonly imageLocation: string | undefined;
  readonly kernelId: string | undefined;
  readonly ramdiskId: string | undefined;
  readonly architecture: string | undefined;
  readonly rootDeviceName: string | undefined;
  readonly virtualizationType: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly tpmSupport: string | undefined;
  readonly bootMode: string | undefined;
  readonly enaSupport: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface CopyImageRequest extends Base {
  readonly action: 'CopyImage';
  readonly sourceImageId: string;
  readonly sourceRegion: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly clientToken: string | undefined;
  readonly copyImageTags: boolean | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface CreateImageRequest extends Base {
  readonly action: 'CreateImage';
  readonly instanceId: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly noReboot: boolean | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DeregisterImageRequest extends Base {
  readonly action: 'DeregisterImage';
  readonly imageId: string;
}

export type ImageRequest =
  | DescribeImagesRequest
  | RegisterImageRequest
  | DeregisterImageRequest
  | CopyImageRequest
  | CreateImageRequest;

export const IMAGE_PARSERS: ParserTable<ImageRequest> = {
  DescribeImages: (r) => ({
    action: 'DescribeImages',
    dryRun: dryRun(r),
    imageIds: r.stringList('ImageId').map(checkImageId),
    owners: r.stringList('Owner'),
    executableUsers: r.stringList('ExecutableBy'),
    filters: readFilters(r),
    ...paged(r, 5, 1000),
  }),

  RegisterImage(r) {
    const name = r.requiredString('Name');
    if (name.length < 3 || name.length > 128 || !/^[A-Za-z0-9()[\]./\-'@_ ]+$/.test(name)) {
      throw invalid('Name', name, 'AMI names are 3 to 128 characters: letters, digits, ( ) [ ] space . / - \' @ _.');
    }
    const description = r.string('Description');
    if (description !== undefined && description.length > 255) throw invalid('Description', description, 'Descriptions are at most 255 characters.');
    const kernelId = r.string('KernelId');
    const ramdiskId = r.string('RamdiskId');
    return {
      action: 'RegisterImage',
      dryRun: dryRun(r),
      name,
      description,
      imageLocation: r.string('ImageLocation'),
      kernelId,
      ramdiskId,
      architecture: r.enumString('Architecture', ['i386', 'x86_64', 'arm64', 'x86_64_mac', 'arm64_mac']),
      rootDeviceName: r.string('RootDeviceName'),
      virtualizationType: r.enumString('VirtualizationType', ['hvm', 'paravirtual']),
      blockDeviceMappings: readBlockDeviceMappings(r),
      tpmSupport: r.enumString('TpmSupport', ['v2.0']),
      bootMode: r.enumString('BootMode', ['legacy-bios', 'uefi', 'uefi-preferred']),
      enaSupport: r.boolean('EnaSupport'),
      tagSpecifications: readTagSpecifications(r),
    };
  },

  DeregisterImage: (r) => ({ action: 'DeregisterImage', dryRun: dryRun(r), imageId: checkImageId(r.requiredString('ImageId')) }),

  CopyImage: (r) => ({
    action: 'CopyImage',
    dryRun: dryRun(r),
    sourceImageId: checkImageId(r.requiredString('SourceImageId')),
    sourceRegion: r.requiredString('SourceRegion'),
    name: r.requiredString('Name'),
    description: checkDescription(r, 'Description', 255),
    encrypted: r.boolean('Encrypted'),
    kmsKeyId: r.string('KmsKeyId'),
    clientToken: r.string('ClientToken'),
    copyImageTags: r.boolean('CopyImageTags'),
    tagSpecifications: readTagSpecifications(r),
  }),

  CreateImage: (r) => ({
    action: 'CreateImage',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    name: r.requiredString('Name'),
    description: checkDescription(r, 'Description', 255),
    noReboot: r.boolean('NoReboot'),
    blockDeviceMappings: readBlockDeviceMappings(r),
    tagSpecifications: readTagSpecifications(r),
  }),
};

/** The images actions that change state (audited before effect; every action accepts DryRun). */
export const IMAGE_MUTATING: readonly ImageRequest['action'][] = ['RegisterImage', 'DeregisterImage', 'CopyImage', 'CreateImage'];
