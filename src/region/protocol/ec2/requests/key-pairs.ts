// EC2 requests, key pairs: create, import, describe, delete. Wire names from botocore's
// ec2/2016-11-15 model:
//   CreateKeyPair      KeyName, KeyType (rsa|ed25519), KeyFormat (pem|ppk), TagSpecification.N
//   ImportKeyPair      KeyName, PublicKeyMaterial (a Blob: base64 on the wire), TagSpecification.N
//   DescribeKeyPairs   KeyName.N, KeyPairId.N, Filter.N, IncludePublicKey
//   DeleteKeyPair      KeyName, KeyPairId (one of them)
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { type Base, dryRun, type Filter, invalid, missing, type ParamReader, type ParserTable, readFilters, readTagSpecifications, type TagSpecification } from './common.js';

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

export type KeyPairRequest = CreateKeyPairRequest | ImportKeyPairRequest | DescribeKeyPairsRequest | DeleteKeyPairRequest;

/** EC2's limit on a key name: 1 to 255 ASCII characters. */
export const KEY_NAME_MAX = 255;
export const KEY_PAIR_ID_PATTERN = /^key-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** ImportKeyPair takes public keys, which are small; a 16384-bit RSA key line is under 3 KiB. */
export const MAX_PUBLIC_KEY_BYTES = 16 * 1024;

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

export const KEY_PAIR_PARSERS: ParserTable<KeyPairRequest> = {
  CreateKeyPair: (r) => ({
    action: 'CreateKeyPair',
    dryRun: dryRun(r),
    keyName: requiredKeyName(r),
    keyType: r.enumString('KeyType', ['rsa', 'ed25519']) ?? 'rsa',
    keyFormat: r.enumString('KeyFormat', ['pem', 'ppk']) ?? 'pem',
    tagSpecifications: keyPairTagSpecifications(r),
  }),

  ImportKeyPair(r) {
    const keyName = requiredKeyName(r);
    const material = r.string('PublicKeyMaterial');
    if (material === undefined || material === '') throw missing('PublicKeyMaterial');
    return { action: 'ImportKeyPair', dryRun: dryRun(r), keyName, publicKeyMaterial: decodePublicKeyMaterial(material), tagSpecifications: keyPairTagSpecifications(r) };
  },

  DescribeKeyPairs: (r) => ({
    action: 'DescribeKeyPairs',
    dryRun: dryRun(r),
    keyNames: r.stringList('KeyName').map((n, i) => checkKeyName(n, `KeyName.${i + 1}`)),
    keyPairIds: r.stringList('KeyPairId').map((id, i) => checkKeyPairId(id, `KeyPairId.${i + 1}`)),
    filters: readFilters(r),
    includePublicKey: r.boolean('IncludePublicKey') ?? false,
  }),

  DeleteKeyPair(r) {
    const name = r.string('KeyName') || undefined;
    const id = r.string('KeyPairId') || undefined;
    if (name === undefined && id === undefined) throw missing('KeyName or KeyPairId');
    return {
      action: 'DeleteKeyPair',
      dryRun: dryRun(r),
      keyName: name === undefined ? undefined : checkKeyName(name, 'KeyName'),
      keyPairId: id === undefined ? undefined : checkKeyPairId(id, 'KeyPairId'),
    };
  },
};

/** The key pair actions that change state (audited before effect; every action accepts DryRun). */
export const KEY_PAIR_MUTATING: readonly KeyPairRequest['action'][] = ['CreateKeyPair', 'ImportKeyPair', 'DeleteKeyPair'];
