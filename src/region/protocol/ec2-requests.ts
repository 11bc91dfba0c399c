// EC2 Query requests: flat form parameters in, a typed discriminated union out.
//
//   parseEc2Request(flat) → Ec2Request   ({ action: 'RunInstances', dryRun, imageId, … } | …)
//
// Parameter names are the wire names of EC2's "ec2" protocol, taken from botocore's
// service model (ec2/2016-11-15): a member's locationName with its first letter upper-cased,
// lists flattened as Name.N (InstanceId.1, Filter.1.Value.1, TagSpecification.1.Tag.1.Key,
// BlockDeviceMapping.1.Ebs.VolumeSize). Unknown parameters are ignored, as the model's other
// members are; known ones are validated and bad values rejected with EC2's codes:
//   InvalidAction, MissingAction, MissingParameter, InvalidParameterValue,
//   InvalidParameterCombination, InvalidInstanceID.Malformed, InvalidAMIID.Malformed, InvalidID.
// To add an action: add its interface to Ec2Request and one parser to PARSERS.

import { Ec2Error } from './errors.js';
import { expandParams, truncate, type FlatParams, type ParamNode, type ParamObject } from './query.js';

export const EC2_API_VERSION = '2016-11-15';
/** EC2's documented default when RunInstances names no InstanceType. */
export const EC2_DEFAULT_INSTANCE_TYPE = 'm1.small';
/** EC2's limit on user data, before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16384;

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
export const IMAGE_ID_PATTERN = /^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** Any EC2 resource id: prefix-hex (i-…, ami-…, vol-…, sg-…, subnet-…, vpc-…, snap-…, eni-…). */
export const RESOURCE_ID_PATTERN = /^[a-z]+(?:-[a-z]+)*-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

// ---------------------------------------------------------------- shared request shapes

export interface Filter {
  readonly name: string;
  readonly values: readonly string[];
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** DeleteTags may name a key without a value (delete whatever value) or with one (delete only if equal). */
export interface TagSelector {
  readonly key: string;
  readonly value: string | undefined;
}

export interface TagSpecification {
  readonly resourceType: string;
  readonly tags: readonly Tag[];
}

export interface EbsBlockDeviceRequest {
  readonly volumeSize: number | undefined;
  readonly volumeType: string | undefined;
  readonly snapshotId: string | undefined;
  readonly deleteOnTermination: boolean | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyId: string | undefined;
  readonly iops: number | undefined;
  readonly throughput: number | undefined;
}

export interface BlockDeviceMappingRequest {
  readonly deviceName: string;
  readonly virtualName: string | undefined;
  readonly noDevice: boolean;
  readonly ebs: EbsBlockDeviceRequest | undefined;
}

export interface MetadataOptionsRequest {
  readonly httpTokens: 'optional' | 'required' | undefined;
  readonly httpPutResponseHopLimit: number | undefined;
  readonly httpEndpoint: 'enabled' | 'disabled' | undefined;
  readonly httpProtocolIpv6: 'enabled' | 'disabled' | undefined;
  readonly instanceMetadataTags: 'enabled' | 'disabled' | undefined;
}

interface Base {
  /** DryRun=true: check permissions only; the handler answers DryRunOperation. */
  readonly dryRun: boolean;
}

interface Paged {
  readonly maxResults: number | undefined;
  readonly nextToken: string | undefined;
}

// ---------------------------------------------------------------- the actions

export interface RunInstancesRequest extends Base {
  readonly action: 'RunInstances';
  readonly imageId: string;
  /** Absent when not given (EC2's default is EC2_DEFAULT_INSTANCE_TYPE); names are checked by the handler. */
  readonly instanceType: string | undefined;
  readonly minCount: number;
  readonly maxCount: number;
  /** Decoded user data (the wire carries base64). */
  readonly userData: Buffer | undefined;
  readonly tagSpecifications: readonly TagSpecification[];
  readonly clientToken: string | undefined;
  readonly subnetId: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly securityGroups: readonly string[];
  readonly privateIpAddress: string | undefined;
  readonly keyName: string | undefined;
  readonly kernelId: string | undefined;
  readonly ramdiskId: string | undefined;
  readonly availabilityZone: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly metadataOptions: MetadataOptionsRequest | undefined;
  readonly monitoringEnabled: boolean | undefined;
  readonly instanceInitiatedShutdownBehavior: 'stop' | 'terminate' | undefined;
  readonly disableApiTermination: boolean | undefined;
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

export interface DeregisterImageRequest extends Base {
  readonly action: 'DeregisterImage';
  readonly imageId: string;
}

export interface DescribeInstanceTypesRequest extends Base, Paged {
  readonly action: 'DescribeInstanceTypes';
  readonly instanceTypes: readonly string[];
  readonly filters: readonly Filter[];
}

export interface CreateTagsRequest extends Base {
  readonly action: 'CreateTags';
  readonly resources: readonly string[];
  readonly tags: readonly Tag[];
}

export interface DeleteTagsRequest extends Base {
  readonly action: 'DeleteTags';
  readonly resources: readonly string[];
  /** Empty: delete every tag of the resources (EC2's behaviour when no Tag.N is given). */
  readonly tags: readonly TagSelector[];
}

export interface DescribeTagsRequest extends Base, Paged {
  readonly action: 'DescribeTags';
  readonly filters: readonly Filter[];
}

export interface DescribeRegionsRequest extends Base {
  readonly action: 'DescribeRegions';
  readonly regionNames: readonly string[];
  readonly allRegions: boolean;
  readonly filters: readonly Filter[];
}

export interface DescribeAvailabilityZonesRequest extends Base {
  readonly action: 'DescribeAvailabilityZones';
  readonly zoneNames: readonly string[];
  readonly zoneIds: readonly string[];
  readonly allAvailabilityZones: boolean;
  readonly filters: readonly Filter[];
}

export type Ec2Request =
  | RunInstancesRequest
  | DescribeInstancesRequest
  | DescribeInstanceStatusRequest
  | StartInstancesRequest
  | StopInstancesRequest
  | RebootInstancesRequest
  | TerminateInstancesRequest
  | GetConsoleOutputRequest
  | DescribeImagesRequest
  | RegisterImageRequest
  | DeregisterImageRequest
  | DescribeInstanceTypesRequest
  | CreateTagsRequest
  | DeleteTagsRequest
  | DescribeTagsRequest
  | DescribeRegionsRequest
  | DescribeAvailabilityZonesRequest;

export type Ec2Action = Ec2Request['action'];

// ---------------------------------------------------------------- a typed reader over the expanded params

const missing = (name: string): Ec2Error =>
  new Ec2Error('MissingParameter', `The request must contain the parameter ${name}.`, { context: { parameter: name } });

const invalid = (name: string, value: string, why: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `Value (${truncate(value)}) for parameter ${name} is invalid. ${why}`, {
    context: { parameter: name, value: truncate(value) },
  });

const shapeError = (name: string, want: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `The parameter ${name} must be ${want}.`, { context: { parameter: name } });

/** Reads typed values out of an expanded parameter object; `path` names it in errors. */
export class ParamReader {
  constructor(
    private readonly obj: ParamObject,
    private readonly path = '',
  ) {}

  private full(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined;
  }

  raw(name: string): ParamNode | undefined {
    return this.obj[name];
  }

  string(name: string): string | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw shapeError(this.full(name), 'a single value');
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw missing(this.full(name));
    return v;
  }

  /** A string that must be one of `allowed` when present. */
  enumString<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw invalid(this.full(name), v, `Valid values are: ${allowed.join(', ')}.`);
    return v as T;
  }

  boolean(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
    throw invalid(this.full(name), v, 'Expecting true or false.');
  }

  integer(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?[0-9]{1,15}$/.test(v)) throw invalid(this.full(name), v, 'Expecting an integer.');
    const n = Number(v);
    if (n < min || n > max) throw invalid(this.full(name), v, `Expecting a value from ${min} to ${max}.`);
    return n;
  }

  /** A flattened list Name.N of structures or values; '' (SDKs' empty list) reads as []. */
  list<T>(name: string, item: (node: ParamNode, path: string) => T): T[] {
    const v = this.obj[name];
    if (v === undefined || v === '') return [];
    if (!Array.isArray(v)) throw shapeError(this.full(name), `a list (${name}.1, ${name}.2, …)`);
    return v.map((node, i) => item(node, `${this.full(name)}.${i + 1}`));
  }

  stringList(name: string): string[] {
    return this.list(name, (node, path) => {
      if (typeof node !== 'string') throw shapeError(path, 'a single value');
      return node;
    });
  }

  /** A nested structure Name.Member; undefined when absent. */
  struct(name: string): ParamReader | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    return asStruct(v, this.full(name));
  }
}

function asStruct(node: ParamNode, path: string): ParamReader {
  if (typeof node !== 'object' || Array.isArray(node)) throw shapeError(path, 'a structure');
  return new ParamReader(node, path);
}

// ---------------------------------------------------------------- shared field parsers

function readFilters(r: ParamReader): Filter[] {
  return r.list('Filter', (node, path) => {
    const f = asStruct(node, path);
    const name = f.string('Name');
    if (name === undefined || name === '') throw invalid(`${path}.Name`, name ?? '', 'A filter needs a name.');
    return { name, values: f.stringList('Value') };
  });
}

const TAG_KEY_MAX = 128;
const TAG_VALUE_MAX = 256;
const TAGS_PER_RESOURCE_MAX = 50;

function checkTagKey(key: string, path: string): void {
  if (key.length === 0 || key.length > TAG_KEY_MAX) throw invalid(path, key, `Tag keys are 1 to ${TAG_KEY_MAX} characters.`);
  if (key.toLowerCase().startsWith('aws:')) throw invalid(path, key, "Tag keys starting with 'aws:' are reserved for internal use.");
}

function checkTagValue(value: string, path: string): void {
  if (value.length > TAG_VALUE_MAX) throw invalid(path, value, `Tag values are at most ${TAG_VALUE_MAX} characters.`);
}

function readTags(r: ParamReader, name: string): Tag[] {
  const tags = r.list(name, (node, path) => {
    const t = asStruct(node, path);
    const key = t.string('Key');
    if (key === undefined) throw missing(`${path}.Key`);
    checkTagKey(key, `${path}.Key`);
    const value = t.string('Value') ?? '';
    checkTagValue(value, `${path}.Value`);
    return { key, value };
  });
  if (tags.length > TAGS_PER_RESOURCE_MAX) throw invalid(name, String(tags.length), `At most ${TAGS_PER_RESOURCE_MAX} tags per resource.`);
  const seen = new Set<string>();
  for (const t of tags) {
    if (seen.has(t.key)) throw invalid(name, t.key, 'A tag key is given more than once.');
    seen.add(t.key);
  }
  return tags;
}

function readTagSpecifications(r: ParamReader): TagSpecification[] {
  return r.list('TagSpecification', (node, path) => {
    const s = asStruct(node, path);
    const resourceType = s.string('ResourceType');
    if (resourceType === undefined || resourceType === '') throw missing(`${path}.ResourceType`);
    return { resourceType, tags: readTags(s, 'Tag') };
  });
}

function readBlockDeviceMappings(r: ParamReader): BlockDeviceMappingRequest[] {
  return r.list('BlockDeviceMapping', (node, path) => {
    const b = asStruct(node, path);
    const e = b.struct('Ebs');
    const noDevice = b.has('NoDevice');
    if (noDevice && b.string('NoDevice') !== '') throw invalid(`${path}.NoDevice`, b.string('NoDevice') ?? '', 'NoDevice takes an empty value.');
    return {
      deviceName: b.requiredString('DeviceName'),
      virtualName: b.string('VirtualName'),
      noDevice,
      ebs:
        e === undefined
          ? undefined
          : {
              volumeSize: e.integer('VolumeSize', 1, 65536),
              volumeType: e.enumString('VolumeType', ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3']),
              snapshotId: e.string('SnapshotId'),
              deleteOnTermination: e.boolean('DeleteOnTermination'),
              encrypted: e.boolean('Encrypted'),
              kmsKeyId: e.string('KmsKeyId'),
              iops: e.integer('Iops', 0, 1_000_000),
              throughput: e.integer('Throughput', 0, 100_000),
            },
    };
  });
}

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

function malformedInstanceId(id: string): Ec2Error {
  return new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${truncate(id)}" (expecting "i-...")`, { context: { instanceId: truncate(id) } });
}

function checkInstanceId(id: string): string {
  if (!INSTANCE_ID_PATTERN.test(id)) throw malformedInstanceId(id);
  return id;
}

function checkImageId(id: string): string {
  if (!IMAGE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${truncate(id)}" (expecting "ami-...")`, { context: { imageId: truncate(id) } });
  return id;
}

function checkResourceId(id: string): string {
  if (!RESOURCE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidID', `The ID '${truncate(id)}' is not valid`, { context: { resourceId: truncate(id) } });
  return id;
}

function instanceIds(r: ParamReader, required: boolean): string[] {
  const ids = r.stringList('InstanceId').map(checkInstanceId);
  if (required && ids.length === 0) throw missing('InstanceId');
  return ids;
}

function paged(r: ParamReader, min: number, max: number): Paged {
  return { maxResults: r.integer('MaxResults', min, max), nextToken: r.string('NextToken') };
}

const dryRun = (r: ParamReader): boolean => r.boolean('DryRun') ?? false;

function decodeUserData(b64: string): Buffer {
  const clean = b64.replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/.test(clean)) {
    throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.', { context: { parameter: 'UserData' } });
  }
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length > MAX_USER_DATA_BYTES) {
    throw new Ec2Error('InvalidParameterValue', `User data is limited to ${MAX_USER_DATA_BYTES} bytes.`, { context: { parameter: 'UserData', bytes: bytes.length } });
  }
  return bytes;
}

// ---------------------------------------------------------------- one parser per action

type Parser = (r: ParamReader) => Ec2Request;

const PARSERS: { readonly [A in Ec2Action]: (r: ParamReader) => Extract<Ec2Request, { action: A }> } = {
  RunInstances(r) {
    const minCount = r.integer('MinCount', 1, 10_000);
    const maxCount = r.integer('MaxCount', 1, 10_000);
    const imageIdRaw = r.string('ImageId');
    if (imageIdRaw === undefined || imageIdRaw === '') throw missing('ImageId');
    if (minCount === undefined) throw missing('MinCount');
    if (maxCount === undefined) throw missing('MaxCount');
    if (minCount > maxCount) {
      throw new Ec2Error('InvalidParameterValue', `Value (${minCount}) for parameter MinCount is invalid. MinCount must be less than or equal to MaxCount (${maxCount}).`, {
        context: { minCount, maxCount },
      });
    }
    const userData = r.string('UserData');
    const clientToken = r.string('ClientToken');
    if (clientToken !== undefined && clientToken.length > 64) throw invalid('ClientToken', clientToken, 'Client tokens are at most 64 ASCII characters.');
    const placement = r.struct('Placement');
    const monitoring = r.struct('Monitoring');
    return {
      action: 'RunInstances',
      dryRun: dryRun(r),
      imageId: checkImageId(imageIdRaw),
      instanceType: r.string('InstanceType'),
      minCount,
      maxCount,
      userData: userData === undefined ? undefined : decodeUserData(userData),
      tagSpecifications: readTagSpecifications(r),
      clientToken,
      subnetId: r.string('SubnetId'),
      securityGroupIds: r.stringList('SecurityGroupId'),
      securityGroups: r.stringList('SecurityGroup'),
      privateIpAddress: r.string('PrivateIpAddress'),
      keyName: r.string('KeyName'),
      kernelId: r.string('KernelId'),
      ramdiskId: r.string('RamdiskId'),
      availabilityZone: placement?.string('AvailabilityZone'),
      blockDeviceMappings: readBlockDeviceMappings(r),
      metadataOptions: readMetadataOptions(r),
      monitoringEnabled: monitoring?.boolean('Enabled'),
      instanceInitiatedShutdownBehavior: r.enumString('InstanceInitiatedShutdownBehavior', ['stop', 'terminate']),
      disableApiTermination: r.boolean('DisableApiTermination'),
    };
  },

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

  DescribeInstanceTypes: (r) => ({
    action: 'DescribeInstanceTypes',
    dryRun: dryRun(r),
    instanceTypes: r.stringList('InstanceType'),
    filters: readFilters(r),
    ...paged(r, 5, 100),
  }),

  CreateTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = readTags(r, 'Tag');
    if (tags.length === 0) throw missing('Tag');
    return { action: 'CreateTags', dryRun: dryRun(r), resources, tags };
  },

  DeleteTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = r.list('Tag', (node, path) => {
      const t = asStruct(node, path);
      const key = t.string('Key');
      if (key === undefined) throw missing(`${path}.Key`);
      checkTagKey(key, `${path}.Key`);
      return { key, value: t.string('Value') };
    });
    return { action: 'DeleteTags', dryRun: dryRun(r), resources, tags };
  },

  DescribeTags: (r) => ({ action: 'DescribeTags', dryRun: dryRun(r), filters: readFilters(r), ...paged(r, 5, 1000) }),

  DescribeRegions: (r) => ({
    action: 'DescribeRegions',
    dryRun: dryRun(r),
    regionNames: r.stringList('RegionName'),
    allRegions: r.boolean('AllRegions') ?? false,
    filters: readFilters(r),
  }),

  DescribeAvailabilityZones: (r) => ({
    action: 'DescribeAvailabilityZones',
    dryRun: dryRun(r),
    zoneNames: r.stringList('ZoneName'),
    zoneIds: r.stringList('ZoneId'),
    allAvailabilityZones: r.boolean('AllAvailabilityZones') ?? false,
    filters: readFilters(r),
  }),
};

/** The actions parseEc2Request understands. */
export const EC2_ACTIONS: readonly Ec2Action[] = Object.keys(PARSERS) as Ec2Action[];

export function isEc2Action(name: string): name is Ec2Action {
  return Object.prototype.hasOwnProperty.call(PARSERS, name);
}

/** The mutating actions (DryRun matters most there; every action accepts it). */
export const EC2_MUTATING_ACTIONS: ReadonlySet<Ec2Action> = new Set<Ec2Action>([
  'RunInstances',
  'StartInstances',
  'StopInstances',
  'RebootInstances',
  'TerminateInstances',
  'RegisterImage',
  'DeregisterImage',
  'CreateTags',
  'DeleteTags',
]);

/**
 * Parses a whole EC2 request from its flat form parameters (body and query merged by the
 * caller). Throws Ec2Error with EC2's code for anything it cannot accept.
 */
export function parseEc2Request(flat: FlatParams): Ec2Request {
  const action = flat.get('Action');
  if (action === undefined || action === '') throw new Ec2Error('MissingAction', 'The request must contain the parameter Action.');
  if (!isEc2Action(action)) {
    throw new Ec2Error('InvalidAction', `The action ${truncate(action)} is not valid for this web service.`, { context: { action: truncate(action) } });
  }
  const params = expandParams(flat);
  const parser = PARSERS[action] as Parser;
  return parser(new ParamReader(params));
}
