// EC2 Query responses of the key pair actions and DescribeInstanceAttribute: typed results
// in, EC2's XML out (element names are botocore's locationNames: KeyPair, ImportKeyPairResult,
// DescribeKeyPairsResult/keySet, DeleteKeyPairResult, InstanceAttribute).
import type { XmlWriter } from './xml.js';
import type { GroupIdentifier, InstanceBlockDeviceMapping, TagItem } from './ec2-responses.js';
import type { InstanceAttributeName } from './key-pairs-requests.js';

export interface KeyPairInfo {
  readonly keyPairId: string;
  readonly keyName: string;
  readonly keyType: 'rsa' | 'ed25519';
  readonly keyFingerprint: string;
  /** Only when DescribeKeyPairs asked IncludePublicKey. */
  readonly publicKey?: string | undefined;
  readonly createTime: Date;
  readonly tags: readonly TagItem[];
}

/** One attribute's value, in the member EC2 answers it with. */
export type InstanceAttributeValue =
  | { readonly kind: 'value'; /** undefined: an empty element, as EC2 sends for an unset value */ readonly value: string | undefined }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'blockDeviceMapping'; readonly mappings: readonly InstanceBlockDeviceMapping[] }
  | { readonly kind: 'groupSet'; readonly groups: readonly GroupIdentifier[] }
  | { readonly kind: 'productCodes' }
  | { readonly kind: 'enclaveOptions'; readonly enabled: boolean };

export type KeyPairResponse =
  | {
      readonly action: 'CreateKeyPair';
      readonly keyPairId: string;
      readonly keyName: string;
      readonly keyFingerprint: string;
      /** The private key, shown this once. */
      readonly keyMaterial: string;
      readonly tags: readonly TagItem[];
    }
  | { readonly action: 'ImportKeyPair'; readonly keyPairId: string; readonly keyName: string; readonly keyFingerprint: string; readonly tags: readonly TagItem[] }
  | { readonly action: 'DescribeKeyPairs'; readonly keyPairs: readonly KeyPairInfo[] }
  | { readonly action: 'DeleteKeyPair'; /** the deleted pair's id; absent when there was none */ readonly keyPairId: string | undefined }
  | { readonly action: 'DescribeInstanceAttribute'; readonly instanceId: string; readonly attribute: InstanceAttributeName; readonly value: InstanceAttributeValue };

function writeTags(w: XmlWriter, tags: readonly TagItem[]): void {
  // EC2 omits tagSet when a resource has no tags.
  if (tags.length === 0) return;
  w.list('tagSet', tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
}

function writeAttribute(w: XmlWriter, name: InstanceAttributeName, v: InstanceAttributeValue): void {
  switch (v.kind) {
    case 'value':
      if (v.value === undefined) w.empty(name);
      else w.open(name).leaf('value', v.value).close();
      return;
    case 'boolean':
      w.open(name).leaf('value', v.value).close();
      return;
    case 'blockDeviceMapping':
      w.list('blockDeviceMapping', v.mappings, (x, b) => {
        x.leaf('deviceName', b.deviceName);
        x.open('ebs').leaf('volumeId', b.ebs.volumeId).leaf('status', b.ebs.status).leaf('attachTime', b.ebs.attachTime).leaf('deleteOnTermination', b.ebs.deleteOnTermination).close();
      });
      return;
    case 'groupSet':
      w.list('groupSet', v.groups, (x, g) => x.leaf('groupId', g.groupId).leaf('groupName', g.groupName));
      return;
    case 'productCodes':
      w.empty('productCodes');
      return;
    case 'enclaveOptions':
      w.open('enclaveOptions').leaf('enabled', v.enabled).close();
      return;
  }
}

/** The body of a key pair action's (or DescribeInstanceAttribute's) response, after requestId. */
export function writeKeyPairBody(w: XmlWriter, r: KeyPairResponse): void {
  switch (r.action) {
    case 'CreateKeyPair':
      w.leaf('keyName', r.keyName).leaf('keyFingerprint', r.keyFingerprint).leaf('keyMaterial', r.keyMaterial).leaf('keyPairId', r.keyPairId);
      writeTags(w, r.tags);
      return;
    case 'ImportKeyPair':
      w.leaf('keyFingerprint', r.keyFingerprint).leaf('keyName', r.keyName).leaf('keyPairId', r.keyPairId);
      writeTags(w, r.tags);
      return;
    case 'DescribeKeyPairs':
      w.list('keySet', r.keyPairs, (x, k) => {
        x.leaf('keyPairId', k.keyPairId).leaf('keyName', k.keyName).leaf('keyType', k.keyType).leaf('keyFingerprint', k.keyFingerprint);
        x.leaf('publicKey', k.publicKey).leaf('createTime', k.createTime);
        writeTags(x, k.tags);
      });
      return;
    case 'DeleteKeyPair':
      w.leaf('return', true).leaf('keyPairId', r.keyPairId);
      return;
    case 'DescribeInstanceAttribute':
      w.leaf('instanceId', r.instanceId);
      writeAttribute(w, r.attribute, r.value);
      return;
  }
}
