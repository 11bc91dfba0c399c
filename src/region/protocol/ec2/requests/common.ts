// The parts every EC2 request family shares: the typed reader over the expanded Query
// parameters, the shapes of filters, tags and paging, and the checks of ids every family uses.
// A family file (instances.ts, volumes.ts, …) declares its requests and one parser per action;
// index.ts joins the families into Ec2Request.

import { Ec2Error } from '../../errors.js';
import { truncate, type ParamNode, type ParamObject } from '../../query.js';

/** One parser per action of a family: the table index.ts joins. */
export type ParserTable<R extends { readonly action: string }> = { readonly [A in R['action']]: (r: ParamReader) => Extract<R, { action: A }> };

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

export const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

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

export interface Base {
  /** DryRun=true: check permissions only; the handler answers DryRunOperation. */
  readonly dryRun: boolean;
}

export interface Paged {
  readonly maxResults: number | undefined;
  readonly nextToken: string | undefined;
}

// ---------------------------------------------------------------- a typed reader over the expanded params

export const missing = (name: string): Ec2Error =>
  new Ec2Error('MissingParameter', `The request must contain the parameter ${name}.`, { context: { parameter: name } });

export const invalid = (name: string, value: string, why: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `Value (${truncate(value)}) for parameter ${name} is invalid. ${why}`, {
    context: { parameter: name, value: truncate(value) },
  });

/** A parameter EC2 has but Nitride does not implement: refused, never ignored. */
export const unsupported = (name: string, value: string, why: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `Value (${truncate(value)}) for parameter ${name} is invalid. ${why}`, {
    context: { parameter: name, value: truncate(value), unsupported: true },
  });

export const shapeError = (name: string, want: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `The parameter ${name} must be ${want}.`, { context: { parameter: name } });

/**
 * The names each parameter object had read from it by a ParamReader, so that what a parser
 * did not read can be refused (unreadParams) instead of silently ignored.
 */
const READ = new WeakMap<ParamObject, Set<string>>();

function markRead(obj: ParamObject, name: string): void {
  let names = READ.get(obj);
  if (names === undefined) READ.set(obj, (names = new Set()));
  names.add(name);
}

/**
 * The full names of the parameters under `root` that no ParamReader read: the ones the
 * action's request does not have. A structure no reader was made for was handled whole by
 * its parser (ParamReader.raw) and counts as read.
 */
export function unreadParams(root: ParamObject, path = ''): string[] {
  const names = READ.get(root);
  if (names === undefined) return [];
  const out: string[] = [];
  const full = (k: string): string => (path === '' ? k : `${path}.${k}`);
  const visit = (node: ParamNode, at: string): void => {
    if (typeof node === 'string') return;
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${at}.${i + 1}`));
    else out.push(...unreadParams(node, at));
  };
  for (const k of Object.keys(root)) {
    if (!names.has(k)) out.push(full(k));
    else visit(root[k] as ParamNode, full(k));
  }
  return out;
}

/** Reads typed values out of an expanded parameter object; `path` names it in errors. */
export class ParamReader {
  constructor(
    private readonly obj: ParamObject,
    private readonly path = '',
  ) {
    if (!READ.has(obj)) READ.set(obj, new Set());
  }

  private full(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  /** Marks names as read without reading them (parameters the caller handles itself). */
  accept(...names: string[]): void {
    for (const n of names) markRead(this.obj, n);
  }

  has(name: string): boolean {
    markRead(this.obj, name);
    return this.obj[name] !== undefined;
  }

  raw(name: string): ParamNode | undefined {
    markRead(this.obj, name);
    return this.obj[name];
  }

  string(name: string): string | undefined {
    markRead(this.obj, name);
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
    markRead(this.obj, name);
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
    markRead(this.obj, name);
    const v = this.obj[name];
    if (v === undefined) return undefined;
    return asStruct(v, this.full(name));
  }
}

export function asStruct(node: ParamNode, path: string): ParamReader {
  if (typeof node !== 'object' || Array.isArray(node)) throw shapeError(path, 'a structure');
  return new ParamReader(node, path);
}

// ---------------------------------------------------------------- shared field parsers

export function readFilters(r: ParamReader): Filter[] {
  return r.list('Filter', (node, path) => {
    const f = asStruct(node, path);
    const name = f.string('Name');
    if (name === undefined || name === '') throw invalid(`${path}.Name`, name ?? '', 'A filter needs a name.');
    return { name, values: f.stringList('Value') };
  });
}

export const TAG_KEY_MAX = 128;
export const TAG_VALUE_MAX = 256;
export const TAGS_PER_RESOURCE_MAX = 50;

export function checkTagKey(key: string, path: string): void {
  if (key.length === 0 || key.length > TAG_KEY_MAX) throw invalid(path, key, `Tag keys are 1 to ${TAG_KEY_MAX} characters.`);
  if (key.toLowerCase().startsWith('aws:')) throw invalid(path, key, "Tag keys starting with 'aws:' are reserved for internal use.");
}

export function checkTagValue(value: string, path: string): void {
  if (value.length > TAG_VALUE_MAX) throw invalid(path, value, `Tag values are at most ${TAG_VALUE_MAX} characters.`);
}

export function readTags(r: ParamReader, name: string): Tag[] {
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

export function readTagSpecifications(r: ParamReader): TagSpecification[] {
  return r.list('TagSpecification', (node, path) => {
    const s = asStruct(node, path);
    const resourceType = s.string('ResourceType');
    if (resourceType === undefined || resourceType === '') throw missing(`${path}.ResourceType`);
    return { resourceType, tags: readTags(s, 'Tag') };
  });
}

export function malformedInstanceId(id: string): Ec2Error {
  return new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${truncate(id)}" (expecting "i-...")`, { context: { instanceId: truncate(id) } });
}

export function checkInstanceId(id: string): string {
  if (!INSTANCE_ID_PATTERN.test(id)) throw malformedInstanceId(id);
  return id;
}

export function checkImageId(id: string): string {
  if (!IMAGE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${truncate(id)}" (expecting "ami-...")`, { context: { imageId: truncate(id) } });
  return id;
}

export function checkResourceId(id: string): string {
  if (!RESOURCE_ID_PATTERN.test(id)) throw new Ec2Error('InvalidID', `The ID '${truncate(id)}' is not valid`, { context: { resourceId: truncate(id) } });
  return id;
}

export function instanceIds(r: ParamReader, required: boolean): string[] {
  const ids = r.stringList('InstanceId').map(checkInstanceId);
  if (required && ids.length === 0) throw missing('InstanceId');
  return ids;
}

export function paged(r: ParamReader, min: number, max: number): Paged {
  return { maxResults: r.integer('MaxResults', min, max), nextToken: r.string('NextToken') };
}

export const dryRun = (r: ParamReader): boolean => r.boolean('DryRun') ?? false;

// ---------------------------------------------------------------- ids and CIDRs of the EBS and VPC resources

/** The check for one kind of resource id: EC2's `<Kind>.Malformed` code and message. */
export function idChecker(prefix: string, code: string): (id: string) => string {
  const pattern = new RegExp(`^${prefix}-[0-9a-f]{8}(?:[0-9a-f]{9})?$`);
  return (id) => {
    if (!pattern.test(id)) throw new Ec2Error(code, `Invalid id: "${truncate(id)}" (expecting "${prefix}-...")`, { context: { id: truncate(id) } });
    return id;
  };
}

export const checkVolumeId = idChecker('vol', 'InvalidVolumeID.Malformed');
export const checkSnapshotId = idChecker('snap', 'InvalidSnapshotID.Malformed');
export const checkVpcId = idChecker('vpc', 'InvalidVpcID.Malformed');
export const checkSubnetId = idChecker('subnet', 'InvalidSubnetID.Malformed');
export const checkSecurityGroupId = idChecker('sg', 'InvalidGroupId.Malformed');
export const checkNetworkInterfaceId = idChecker('eni', 'InvalidNetworkInterfaceID.Malformed');
export const checkSecurityGroupRuleId = idChecker('sgr', 'InvalidSecurityGroupRuleId.Malformed');

/** "No ids with MaxResults": EC2's rule for Describe calls whose id list and paging exclude each other. */
export function idsOrPaging(ids: readonly string[], p: Paged, idsParam: string): void {
  if (ids.length > 0 && p.maxResults !== undefined) {
    throw new Ec2Error('InvalidParameterCombination', `The parameter ${idsParam} cannot be used with the parameter maxResults`);
  }
}

/** An optional id: absent or '' is undefined, anything else must pass `check`. */
export function optionalId(id: string | undefined, check: (id: string) => string): string | undefined {
  return id === undefined || id === '' ? undefined : check(id);
}

export function checkClientToken(r: ParamReader): string | undefined {
  const clientToken = r.string('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) throw invalid('ClientToken', clientToken, 'Client tokens are at most 64 ASCII characters.');
  return clientToken;
}

export function checkDescription(r: ParamReader, name: string, max: number): string | undefined {
  const d = r.string(name);
  if (d !== undefined && d.length > max) throw invalid(name, d, `Descriptions are at most ${max} characters.`);
  return d;
}

export function readBlockDeviceMappings(r: ParamReader): BlockDeviceMappingRequest[] {
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
              snapshotId: optionalId(e.string('SnapshotId'), checkSnapshotId),
              deleteOnTermination: e.boolean('DeleteOnTermination'),
              encrypted: e.boolean('Encrypted'),
              kmsKeyId: e.string('KmsKeyId'),
              iops: e.integer('Iops', 0, 1_000_000),
              throughput: e.integer('Throughput', 0, 100_000),
            },
    };
  });
}

export function decodeUserData(b64: string): Buffer {
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
