// EC2 requests, instances: run, describe, start/stop/reboot/terminate, console, NitroTPM EK, instance types,
// DescribeInstanceAttribute.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { asStruct, type Base, type BlockDeviceMappingRequest, checkImageId, checkInstanceId, checkSecurityGroupId, checkSubnetId, decodeUserData, dryRun, EC2_DEFAULT_INSTANCE_TYPE, type Filter, instanceIds, invalid, missing, type Paged, paged, ParamReader, type ParserTable, readBlockDeviceMappings, readFilters, readTagSpecifications, type TagSpecification, unsupported } from './common.js';

/**
 * RunInstances NetworkInterface.N. The AWS CLI moves --subnet-id/--security-group-ids into
 * NetworkInterface.1 when --associate-public-ip-address is given, so a handler should read the
 * subnet, groups and address from here when the top-level ones are absent.
 */
export interface InstanceNetworkInterfaceRequest {
  readonly deviceIndex: number | undefined;
  readonly subnetId: string | undefined;
  readonly groups: readonly string[];
  readonly privateIpAddress: string | undefined;
  readonly description: string | undefined;
  readonly deleteOnTermination: boolean | undefined;
  readonly associatePublicIpAddress: boolean | undefined;
}

export interface MetadataOptionsRequest {
  readonly httpTokens: 'optional' | 'required' | undefined;
  readonly httpPutResponseHopLimit: number | undefined;
  readonly httpEndpoint: 'enabled' | 'disabled' | undefined;
  readonly httpProtocolIpv6: 'enabled' | 'disabled' | undefined;
  readonly instanceMetadataTags: 'enabled' | 'disabled' | undefined;
}

// ---------------------------------------------------------------- the actions

/**
 * What an instance is launched with: RunInstances' own members, and a launch template's
 * LaunchTemplateData (the same wire names, but RamDiskId), so RunInstances with LaunchTemplate
 * merges the two member by member (src/region/ec2/launch-templates.ts).
 */
export interface LaunchData {
  readonly imageId: string | undefined;
  /** Absent when not given (EC2's default is EC2_DEFAULT_INSTANCE_TYPE); names are checked by the handler. */
  readonly instanceType: string | undefined;
  /** Decoded user data (the wire carries base64). */
  readonly userData: Buffer | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
  readonly securityGroupIds: readonly string[];
  readonly securityGroups: readonly string[];
  readonly keyName: string | undefined;
  readonly kernelId: string | undefined;
  readonly ramdiskId: string | undefined;
  readonly availabilityZone: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly networkInterfaces: readonly InstanceNetworkInterfaceRequest[];
  readonly metadataOptions: MetadataOptionsRequest | undefined;
  readonly monitoringEnabled: boolean | undefined;
  readonly instanceInitiatedShutdownBehavior: 'stop' | 'terminate' | undefined;
  readonly disableApiTermination: boolean | undefined;
  readonly disableApiStop: boolean | undefined;
  readonly ebsOptimized: boolean | undefined;
}

/** RunInstances LaunchTemplate: one of id or name, and a version ($Latest, $Default or a number; absent: $Default). */
export interface LaunchTemplateSpecification {
  readonly launchTemplateId: string | undefined;
  readonly launchTemplateName: string | undefined;
  readonly version: string | undefined;
}

export interface RunInstancesRequest extends Base, LaunchData {
  readonly action: 'RunInstances';
  readonly minCount: number;
  readonly maxCount: number;
  readonly clientToken: string | undefined;
  readonly subnetId: string | undefined;
  readonly privateIpAddress: string | undefined;
  readonly launchTemplate: LaunchTemplateSpecification | undefined;
}

export interface DescribeInstancesRequest extends Base, Paged {
  readonly action: 'DescribeInstances';
  readonly instanceIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DescribeInstanceStatusRequest extends Base, Paged {
  readonly action: 'DescribeInstanceStatus';
  readonly instanceIds: readonly string[];
  readonly filters: readonly Filter[];
  readonly includeAllInstances: boolean;
}

export interface StartInstancesRequest extends Base {
  readonly action: 'StartInstances';
  readonly instanceIds: readonly string[];
}

export interface StopInstancesRequest extends Base {
  readonly action: 'StopInstances';
  readonly instanceIds: readonly string[];
  readonly force: boolean;
  readonly hibernate: boolean;
}

export interface RebootInstancesRequest extends Base {
  readonly action: 'RebootInstances';
  readonly instanceIds: readonly string[];
}

export interface TerminateInstancesRequest extends Base {
  readonly action: 'TerminateInstances';
  readonly instanceIds: readonly string[];
}

export interface GetConsoleOutputRequest extends Base {
  readonly action: 'GetConsoleOutput';
  readonly instanceId: string;
  readonly latest: boolean;
}

/** NitroTPM: the public endorsement key of an instance's vTPM (docs/NITROTPM.md). */
export interface GetInstanceTpmEkPubRequest extends Base {
  readonly action: 'GetInstanceTpmEkPub';
  readonly instanceId: string;
  readonly keyType: 'rsa-2048' | 'ecc-sec-p384';
  readonly keyFormat: 'der' | 'tpmt';
}

export interface DescribeInstanceTypesRequest extends Base, Paged {
  readonly action: 'DescribeInstanceTypes';
  readonly instanceTypes: readonly string[];
  readonly filters: readonly Filter[];
}

/** botocore's InstanceAttributeName. */
export const INSTANCE_ATTRIBUTE_NAMES = [
  'instanceType',
  'kernel',
  'ramdisk',
  'userData',
  'disableApiTermination',
  'instanceInitiatedShutdownBehavior',
  'rootDeviceName',
  'blockDeviceMapping',
  'productCodes',
  'sourceDestCheck',
  'groupSet',
  'ebsOptimized',
  'sriovNetSupport',
  'enaSupport',
  'enclaveOptions',
  'disableApiStop',
] as const;
export type InstanceAttributeName = (typeof INSTANCE_ATTRIBUTE_NAMES)[number];

/** DescribeInstanceAttribute: InstanceId, Attribute (InstanceAttributeName). */
export interface DescribeInstanceAttributeRequest extends Base {
  readonly action: 'DescribeInstanceAttribute';
  readonly instanceId: string;
  readonly attribute: InstanceAttributeName;
}

export type InstanceRequest =
  | RunInstancesRequest
  | DescribeInstancesRequest
  | DescribeInstanceStatusRequest
  | StartInstancesRequest
  | StopInstancesRequest
  | RebootInstancesRequest
  | TerminateInstancesRequest
  | GetConsoleOutputRequest
  | GetInstanceTpmEkPubRequest
  | DescribeInstanceTypesRequest
  | DescribeInstanceAttributeRequest;

function readMetadataOptions(r: ParamReader): MetadataOptionsRequest | undefined {
  const m = r.struct('MetadataOptions');
  if (m === undefined) return undefined;
  return {
    httpTokens: m.enumString('HttpTokens', ['optional', 'required']),
    httpPutResponseHopLimit: m.integer('HttpPutResponseHopLimit', 1, 64),
    httpEndpoint: m.enumString('HttpEndpoint', ['enabled', 'disabled']),
    httpProtocolIpv6: m.enumString('HttpProtocolIpv6', ['enabled', 'disabled']),
    instanceMetadataTags: m.enumString('InstanceMetadataTags', ['enabled', 'disabled']),
  };
}

/** RunInstances NetworkInterface.N (and a launch template's): one launch interface, never an existing ENI. */
function readNetworkInterfaces(r: ParamReader): InstanceNetworkInterfaceRequest[] {
  return r.list('NetworkInterface', (node, path) => {
    const n = asStruct(node, path);
    const subnetId = n.string('SubnetId');
    // A launch makes its own interface: attaching an existing one is not supported, and
    // is refused rather than ignored (the instance would not get the interface asked for).
    const eniId = n.string('NetworkInterfaceId');
    if (eniId !== undefined) throw unsupported(`${path}.NetworkInterfaceId`, eniId, 'Launching with an existing network interface is not supported; name a SubnetId instead.');
    if (!path.endsWith('NetworkInterface.1')) throw unsupported(path, '', 'An instance is launched with one network interface.');
    return {
      deviceIndex: n.integer('DeviceIndex', 0, 64),
      subnetId: subnetId === undefined || subnetId === '' ? undefined : checkSubnetId(subnetId),
      groups: n.stringList('SecurityGroupId').map(checkSecurityGroupId),
      privateIpAddress: n.string('PrivateIpAddress'),
      description: n.string('Description'),
      deleteOnTermination: n.boolean('DeleteOnTermination'),
      associatePublicIpAddress: n.boolean('AssociatePublicIpAddress'),
    };
  });
}

/** The launch members RunInstances and LaunchTemplateData share; `ramdisk` is the one name they spell differently. */
export function readLaunchData(r: ParamReader, ramdisk: 'RamdiskId' | 'RamDiskId'): LaunchData {
  const imageId = r.string('ImageId');
  const userData = r.string('UserData');
  const placement = r.struct('Placement');
  const monitoring = r.struct('Monitoring');
  return {
    imageId: imageId === undefined || imageId === '' ? undefined : checkImageId(imageId),
    instanceType: r.string('InstanceType'),
    userData: userData === undefined ? undefined : decodeUserData(userData),
    tagSpecifications: readTagSpecifications(r),
    securityGroupIds: r.stringList('SecurityGroupId'),
    securityGroups: r.stringList('SecurityGroup'),
    keyName: r.string('KeyName'),
    kernelId: r.string('KernelId'),
    ramdiskId: r.string(ramdisk),
    availabilityZone: placement?.string('AvailabilityZone'),
    blockDeviceMappings: readBlockDeviceMappings(r),
    networkInterfaces: readNetworkInterfaces(r),
    metadataOptions: readMetadataOptions(r),
    monitoringEnabled: monitoring?.boolean('Enabled'),
    instanceInitiatedShutdownBehavior: r.enumString('InstanceInitiatedShutdownBehavior', ['stop', 'terminate']),
    disableApiTermination: r.boolean('DisableApiTermination'),
    disableApiStop: r.boolean('DisableApiStop'),
    ebsOptimized: r.boolean('EbsOptimized'),
  };
}

function readRunInstances(r: ParamReader): RunInstancesRequest {
  const minCount = r.integer('MinCount', 1, 10_000);
  const maxCount = r.integer('MaxCount', 1, 10_000);
  const lt = r.struct('LaunchTemplate');
  const launchTemplate = lt === undefined ? undefined : { launchTemplateId: lt.string('LaunchTemplateId'), launchTemplateName: lt.string('LaunchTemplateName'), version: lt.string('Version') };
  if (launchTemplate !== undefined && (launchTemplate.launchTemplateId === undefined) === (launchTemplate.launchTemplateName === undefined)) {
    throw new Ec2Error('InvalidParameterCombination', 'Specify either a launch template ID or a launch template name, not both.');
  }
  const data = readLaunchData(r, 'RamdiskId');
  if (data.imageId === undefined && launchTemplate === undefined) throw missing('ImageId');
  if (minCount === undefined) throw missing('MinCount');
  if (maxCount === undefined) throw missing('MaxCount');
  if (minCount > maxCount) {
    throw new Ec2Error('InvalidParameterValue', `Value (${minCount}) for parameter MinCount is invalid. MinCount must be less than or equal to MaxCount (${maxCount}).`, {
      context: { minCount, maxCount },
    });
  }
  const clientToken = r.string('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) throw invalid('ClientToken', clientToken, 'Client tokens are at most 64 ASCII characters.');
  return {
    action: 'RunInstances',
    dryRun: dryRun(r),
    ...data,
    minCount,
    maxCount,
    clientToken,
    subnetId: r.string('SubnetId'),
    privateIpAddress: r.string('PrivateIpAddress'),
    launchTemplate,
  };
}

/**
 * RunInstances members whose other values Nitride does not implement: the value that matches
 * what Nitride does is accepted (so the CLIs' and SDKs' defaults pass) and any other refused
 * with InvalidParameterValue, never ignored. (The zone is checked by the handler.)
 */
export function refuseUnhonoured<R extends LaunchData>(req: R): R {
  const refuse = (name: string, value: string, why: string): never => {
    throw unsupported(name, value, why);
  };
  if (req.kernelId !== undefined && req.kernelId !== '') refuse('KernelId', req.kernelId, "An instance boots its image's own kernel.");
  if (req.ramdiskId !== undefined && req.ramdiskId !== '') refuse('RamdiskId', req.ramdiskId, "An instance boots its image's own initial ramdisk.");
  if (req.monitoringEnabled === true) refuse('Monitoring.Enabled', 'true', 'Detailed monitoring is not supported.');
  if (req.metadataOptions?.httpProtocolIpv6 === 'enabled') refuse('MetadataOptions.HttpProtocolIpv6', 'enabled', 'The instance metadata service has no IPv6 endpoint.');
  if (req.metadataOptions?.instanceMetadataTags === 'enabled') refuse('MetadataOptions.InstanceMetadataTags', 'enabled', 'Instance tags are not in the instance metadata.');
  const nic = req.networkInterfaces[0];
  if (nic !== undefined) {
    if (nic.deviceIndex !== undefined && nic.deviceIndex !== 0) refuse('NetworkInterface.1.DeviceIndex', String(nic.deviceIndex), 'The launch interface is device 0.');
    if (nic.deleteOnTermination === false) refuse('NetworkInterface.1.DeleteOnTermination', 'false', 'The launch interface is deleted with its instance.');
    if (nic.description !== undefined && nic.description !== '') refuse('NetworkInterface.1.Description', nic.description, 'The launch interface takes no description.');
  }
  return req;
}

export const INSTANCE_PARSERS: ParserTable<InstanceRequest> = {
  RunInstances: (r) => refuseUnhonoured(readRunInstances(r)),

  DescribeInstances(r) {
    const ids = instanceIds(r, false);
    const p = paged(r, 5, 1000);
    if (ids.length > 0 && p.maxResults !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    return { action: 'DescribeInstances', dryRun: dryRun(r), instanceIds: ids, filters: readFilters(r), ...p };
  },

  DescribeInstanceStatus(r) {
    const ids = instanceIds(r, false);
    const p = paged(r, 5, 1000);
    if (ids.length > 0 && p.maxResults !== undefined) {
      throw new Ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    return {
      action: 'DescribeInstanceStatus',
      dryRun: dryRun(r),
      instanceIds: ids,
      filters: readFilters(r),
      includeAllInstances: r.boolean('IncludeAllInstances') ?? false,
      ...p,
    };
  },

  StartInstances: (r) => ({ action: 'StartInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  StopInstances(r) {
    const force = r.boolean('Force') ?? false;
    const hibernate = r.boolean('Hibernate') ?? false;
    if (force && hibernate) throw new Ec2Error('InvalidParameterCombination', 'The parameters Force and Hibernate cannot be used together.');
    return { action: 'StopInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true), force, hibernate };
  },

  RebootInstances: (r) => ({ action: 'RebootInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  TerminateInstances: (r) => ({ action: 'TerminateInstances', dryRun: dryRun(r), instanceIds: instanceIds(r, true) }),

  GetConsoleOutput: (r) => ({
    action: 'GetConsoleOutput',
    dryRun: dryRun(r),
    instanceId: checkInstanceId(r.requiredString('InstanceId')),
    latest: r.boolean('Latest') ?? false,
  }),

  GetInstanceTpmEkPub(r) {
    const instanceId = checkInstanceId(r.requiredString('InstanceId'));
    const keyType = r.enumString('KeyType', ['rsa-2048', 'ecc-sec-p384']);
    if (keyType === undefined) throw missing('KeyType');
    const keyFormat = r.enumString('KeyFormat', ['der', 'tpmt']);
    if (keyFormat === undefined) throw missing('KeyFormat');
    return { action: 'GetInstanceTpmEkPub', dryRun: dryRun(r), instanceId, keyType, keyFormat };
  },

  DescribeInstanceTypes: (r) => ({
    action: 'DescribeInstanceTypes',
    dryRun: dryRun(r),
    instanceTypes: r.stringList('InstanceType'),
    filters: readFilters(r),
    ...paged(r, 5, 100),
  }),

  DescribeInstanceAttribute(r) {
    const id = r.string('InstanceId');
    if (id === undefined || id === '') throw missing('InstanceId');
    const attribute = r.string('Attribute');
    if (attribute === undefined || attribute === '') throw missing('Attribute');
    if (!(INSTANCE_ATTRIBUTE_NAMES as readonly string[]).includes(attribute)) throw invalid('Attribute', attribute, `Valid values are: ${INSTANCE_ATTRIBUTE_NAMES.join(', ')}.`);
    return { action: 'DescribeInstanceAttribute', dryRun: dryRun(r), instanceId: checkInstanceId(id), attribute: attribute as InstanceAttributeName };
  },
};

/** The instances actions that change state (audited before effect; every action accepts DryRun). */
export const INSTANCE_MUTATING: readonly InstanceRequest['action'][] = ['RunInstances', 'StartInstances', 'StopInstances', 'RebootInstances', 'TerminateInstances'];
