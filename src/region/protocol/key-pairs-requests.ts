// EC2 Query requests of the key pair actions and DescribeInstanceAttribute: expanded
// parameters in, typed requests out. Wire names from botocore's ec2/2016-11-15 model:
//   CreateKeyPair      KeyName, KeyType (rsa|ed25519), KeyFormat (pem|ppk), TagSpecification.N
//   ImportKeyPair      KeyName, PublicKeyMaterial (a Blob: base64 on the wire), TagSpecification.N
//   DescribeKeyPairs   KeyName.N, KeyPairId.N, Filter.N, IncludePublicKey
//   DeleteKeyPair      KeyName, KeyPairId (one of them)
//   DescribeInstanceAttribute  InstanceId, Attribute (InstanceAttributeName)
// The parsers are function declarations: ec2-requests.ts spreads keyPairParsers() into its
// table while the two modules load each other.
import { Ec2Error } from './errors.js';
import { checkInstanceId, readFilters, readTagSpecifications, type Filter, type ParamReader, type TagSpecification } from './ec2-requests.js';
import { truncate } from './query.js';

interface Base {
  readonly dryRun: boolean;
}

export interface CreateKeyPairRequest extends Base {
  readonly action: 'CreateKeyPair';
  readonly keyName: string;
  readonly keyType: 'rsa' | 'ed25519';
  readonly keyFormat: 'pem' | 'ppk';
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface ImportKeyPairRequest extends Base {
  readonly action: 'ImportKeyPair';
  readonly keyName: string;
  /** The decoded PublicKeyMaterial: the public key file's bytes. */
  readonly publicKeyMaterial: Buffer;
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface DescribeKeyPairsRequest extends Base {
  readonly action: 'DescribeKeyPairs';
  readonly keyNames: readonly string[];
  readonly keyPairIds: readonly string[];
  readonly filters: readonly Filter[];
  readonly includePublicKey: boolean;
}

export interface DeleteKeyPairRequest extends Base {
  readonly action: 'DeleteKeyPair';
  readonly keyName: string | undefined;
  readonly keyPairId: string | undefined;
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

export interface DescribeInstanceAttributeRequest extends Base {
  readonly action: 'DescribeInstanceAttribute';
  readonly instanceId: string;
  readonly attribute: InstanceAttributeName;
}

export type KeyPairRequest = CreateKeyPairRequest | ImportKeyPairRequest | DescribeKeyPairsRequest | DeleteKeyPairRequest | DescribeInstanceAttributeRequest;

/** EC2's limit on a key name: 1 to 255 ASCII characters. */
export const KEY_NAME_MAX = 255;
export const KEY_PAIR_ID_PATTERN = /^key-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** ImportKeyPair takes public keys, which are small; a 16384-bit RSA key line is under 3 KiB. */
export const MAX_PUBLIC_KEY_BYTES = 16 * 1024;

const missing = (name: string): Ec2Error => new Ec2Error('MissingParameter', `The request must contain the parameter ${name}.`, { context: { parameter: name } });

const invalid = (name: string, value: string, why: string): Ec2Error =>
  new Ec2Error('InvalidParameterValue', `Value (${truncate(value)}) for parameter ${name} is invalid. ${why}`, { context: { parameter: name, value: truncate(value) } });

const dryRun = (r: ParamReader): boolean => r.boolean('DryRun') ?? false;

export function checkKeyName(name: string, param: string): string {
  if (name.length > KEY_NAME_MAX || !/^[\x20-\x7e]+$/.test(name)) throw invalid(param, name, `Key names are 1 to ${KEY_NAME_MAX} ASCII characters.`);
  if (name !== name.trim()) throw invalid(param, name, 'Key names cannot start or end with a space.');
  return name;
}

export function checkKeyPairId(id: string, param: string): string {
  if (!KEY_PAIR_ID_PATTERN.test(id)) throw invalid(param, id, 'Expecting a key pair ID (key-...).');
  return id;
}

function requiredKeyName(r: ParamReader): string {
  const name = r.string('KeyName');
  if (name === undefined || name === '') throw missing('KeyName');
  return checkKeyName(name, 'KeyName');
}

/** TagSpecification.N of a key pair action: only ResourceType key-pair. */
function keyPairTagSpecifications(r: ParamReader): TagSpecification[] {
  const specs = readTagSpecifications(r);
  for (const s of specs) {
    if (s.resourceType !== 'key-pair') throw invalid('TagSpecification.ResourceType', s.resourceType, "Key pair actions tag only the resource type 'key-pair'.");
  }
  return specs;
}

function decodePublicKeyMaterial(b64: string): Buffer {
  const clean = b64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: PublicKeyMaterial must be base64.');
  }
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length === 0) throw missing('PublicKeyMaterial');
  if (bytes.length > MAX_PUBLIC_KEY_BYTES) throw new Ec2Error('InvalidKeyPair.Format', `Key is not in valid OpenSSH public key format: it is larger than ${MAX_PUBLIC_KEY_BYTES} bytes.`);
  return bytes;
}

export function parseCreateKeyPair(r: ParamReader): CreateKeyPairRequest {
  return {
    action: 'CreateKeyPair',
    dryRun: dryRun(r),
    keyName: requiredKeyName(r),
    keyType: r.enumString('KeyType', ['rsa', 'ed25519']) ?? 'rsa',
    keyFormat: r.enumString('KeyFormat', ['pem', 'ppk']) ?? 'pem',
    tagSpecifications: keyPairTagSpecifications(r),
  };
}

export function parseImportKeyPair(r: ParamReader): ImportKeyPairRequest {
  const keyName = requiredKeyName(r);
  const material = r.string('PublicKeyMaterial');
  if (material === undefined || material === '') throw missing('PublicKeyMaterial');
  return { action: 'ImportKeyPair', dryRun: dryRun(r), keyName, publicKeyMaterial: decodePublicKeyMaterial(material), tagSpecifications: keyPairTagSpecifications(r) };
}

export function parseDescribeKeyPairs(r: ParamReader): DescribeKeyPairsRequest {
  return {
    action: 'DescribeKeyPairs',
    dryRun: dryRun(r),
    keyNames: r.stringList('KeyName').map((n, i) => checkKeyName(n, `KeyName.${i + 1}`)),
    keyPairIds: r.stringList('KeyPairId').map((id, i) => checkKeyPairId(id, `KeyPairId.${i + 1}`)),
    filters: readFilters(r),
    includePublicKey: r.boolean('IncludePublicKey') ?? false,
  };
}

export function parseDeleteKeyPair(r: ParamReader): DeleteKeyPairRequest {
  const name = r.string('KeyName') || undefined;
  const id = r.string('KeyPairId') || undefined;
  if (name === undefined && id === undefined) throw missing('KeyName or KeyPairId');
  return {
    action: 'DeleteKeyPair',
    dryRun: dryRun(r),
    keyName: name === undefined ? undefined : checkKeyName(name, 'KeyName'),
    keyPairId: id === undefined ? undefined : checkKeyPairId(id, 'KeyPairId'),
  };
}

export function parseDescribeInstanceAttribute(r: ParamReader): DescribeInstanceAttributeRequest {
  const id = r.string('InstanceId');
  if (id === undefined || id === '') throw missing('InstanceId');
  const attribute = r.string('Attribute');
  if (attribute === undefined || attribute === '') throw missing('Attribute');
  if (!(INSTANCE_ATTRIBUTE_NAMES as readonly string[]).includes(attribute)) throw invalid('Attribute', attribute, `Valid values are: ${INSTANCE_ATTRIBUTE_NAMES.join(', ')}.`);
  return { action: 'DescribeInstanceAttribute', dryRun: dryRun(r), instanceId: checkInstanceId(id), attribute: attribute as InstanceAttributeName };
}

/** The parsers, by action, for ec2-requests.ts's table. */
export function keyPairParsers(): {
  readonly CreateKeyPair: typeof parseCreateKeyPair;
  readonly ImportKeyPair: typeof parseImportKeyPair;
  readonly DescribeKeyPairs: typeof parseDescribeKeyPairs;
  readonly DeleteKeyPair: typeof parseDeleteKeyPair;
  readonly DescribeInstanceAttribute: typeof parseDescribeInstanceAttribute;
} {
  return {
    CreateKeyPair: parseCreateKeyPair,
    ImportKeyPair: parseImportKeyPair,
    DescribeKeyPairs: parseDescribeKeyPairs,
    DeleteKeyPair: parseDeleteKeyPair,
    DescribeInstanceAttribute: parseDescribeInstanceAttribute,
  };
}
