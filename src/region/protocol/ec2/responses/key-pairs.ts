// EC2 responses, key pairs: the typed results and their XML writers (element names are
// botocore's locationNames: KeyPair, ImportKeyPairResult, DescribeKeyPairsResult/keySet,
// DeleteKeyPairResult).

import type { XmlWriter } from '../../../../lib/xml.js';
import { type TagItem, type WriterTable, writeTags } from './common.js';

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
  | { readonly action: 'DeleteKeyPair'; /** the deleted pair's id; absent when there was none */ readonly keyPairId: string | undefined };

function writeKeyPairInfo(w: XmlWriter, k: KeyPairInfo): void {
  w.leaf('keyPairId', k.keyPairId).leaf('keyName', k.keyName).leaf('keyType', k.keyType).leaf('keyFingerprint', k.keyFingerprint);
  w.leaf('publicKey', k.publicKey).leaf('createTime', k.createTime);
  writeTags(w, k.tags);
}

export const KEY_PAIR_WRITERS: WriterTable<KeyPairResponse> = {
  CreateKeyPair(w, r) {
    w.leaf('keyName', r.keyName).leaf('keyFingerprint', r.keyFingerprint).leaf('keyMaterial', r.keyMaterial).leaf('keyPairId', r.keyPairId);
    writeTags(w, r.tags);
  },
  ImportKeyPair(w, r) {
    w.leaf('keyFingerprint', r.keyFingerprint).leaf('keyName', r.keyName).leaf('keyPairId', r.keyPairId);
    writeTags(w, r.tags);
  },
  DescribeKeyPairs(w, r) {
    w.list('keySet', r.keyPairs, writeKeyPairInfo);
  },
  DeleteKeyPair(w, r) {
    w.leaf('return', true).leaf('keyPairId', r.keyPairId);
  },
};
