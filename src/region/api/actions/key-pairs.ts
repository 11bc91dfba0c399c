// The EC2 key pair actions: create, import, describe, delete. One entry per action;
// authorization and audit happen in server.ts first. Key pairs are IAM resources
// arn:aws:ec2:<region>:<account>:key-pair/<name>, and the audit outcome of a create keeps the
// pair's name, id and fingerprint but never its private key (RunInstances' KeyName check is in
// instances.ts, through KeyPairService.launchPublicKey).
import { REDACTED } from '../../../audit/trail.js';
import type { KeyPairRequest, TagSpecification } from '../../protocol/ec2/requests/index.js';
import type { KeyPairInfo } from '../../protocol/ec2/responses/index.js';
import type { Caller } from '../../ec2/instances.js';
import type { KeyPairRecord } from '../../ec2/key-pairs.js';
import { REGION_NAME } from '../../ec2/model.js';
import { tagItems } from '../views.js';
import type { ActionTable, IamResource } from './common.js';

/** The tags of TagSpecification.N for the key pair (the parser admits only ResourceType key-pair). */
function tagsOf(specs: readonly TagSpecification[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) if (s.resourceType === 'key-pair') for (const t of s.tags) out[t.key] = t.value;
  return out;
}

const keyPairInfo = (k: KeyPairRecord, includePublicKey: boolean): KeyPairInfo => ({
  keyPairId: k.id,
  keyName: k.name,
  keyType: k.keyType,
  keyFingerprint: k.fingerprint,
  ...(includePublicKey ? { publicKey: k.publicKey } : {}),
  createTime: new Date(k.createTime),
  tags: tagItems(k.tags),
});

/** A key pair as an IAM resource: arn:aws:ec2:<region>:<account>:key-pair/<name>. */
export const keyPairArn = (caller: Caller, name: string): IamResource => ({ arn: `arn:aws:ec2:${REGION_NAME}:${caller.accountId}:key-pair/${name}` });

export const KEY_PAIR_ACTIONS: ActionTable<KeyPairRequest> = {
  CreateKeyPair: {
    async run(svc, caller, req) {
      const { record, keyMaterial } = await svc.keyPairs.create(caller, { name: req.keyName, keyType: req.keyType, keyFormat: req.keyFormat, tags: tagsOf(req.tagSpecifications) });
      return { action: 'CreateKeyPair', keyPairId: record.id, keyName: record.name, keyFingerprint: record.fingerprint, keyMaterial, tags: tagItems(record.tags) };
    },
    resources: (_svc, caller, req) => [keyPairArn(caller, req.keyName)],
    // The private key is never handed to the trail: its member carries the trail's REDACTED
    // mark, as CloudTrail shows a CreateKeyPair.
    summary: (r) => ({ keyName: r.keyName, keyPairId: r.keyPairId, keyFingerprint: r.keyFingerprint, keyMaterial: REDACTED }),
  },
  ImportKeyPair: {
    async run(svc, caller, req) {
      const k = await svc.keyPairs.import(caller, { name: req.keyName, material: req.publicKeyMaterial, tags: tagsOf(req.tagSpecifications) });
      return { action: 'ImportKeyPair', keyPairId: k.id, keyName: k.name, keyFingerprint: k.fingerprint, tags: tagItems(k.tags) };
    },
    resources: (_svc, caller, req) => [keyPairArn(caller, req.keyName)],
    summary: (r) => ({ keyName: r.keyName, keyPairId: r.keyPairId, keyFingerprint: r.keyFingerprint }),
  },
  DescribeKeyPairs: {
    run(svc, caller, req) {
      const keys = svc.keyPairs.describe(caller, { names: req.keyNames, ids: req.keyPairIds, filters: req.filters });
      return { action: 'DescribeKeyPairs', keyPairs: keys.map((k) => keyPairInfo(k, req.includePublicKey)) };
    },
  },
  DeleteKeyPair: {
    run: async (svc, caller, req) => ({ action: 'DeleteKeyPair', keyPairId: await svc.keyPairs.delete(caller, { name: req.keyName, id: req.keyPairId }) }),
    // By id: the pair found names the resource (an unknown id falls back to the name given, or '*').
    resources(svc, caller, req) {
      const name = req.keyPairId !== undefined ? (svc.keyPairs.find(caller, req.keyPairId)?.name ?? req.keyName) : req.keyName;
      return [keyPairArn(caller, name ?? '*')];
    },
    summary: (r) => ({ return: true, ...(r.keyPairId !== undefined ? { keyPairId: r.keyPairId } : {}) }),
  },
};
