// The key pair actions and DescribeInstanceAttribute: a typed request in, a typed response
// out (authorization and audit happen in the front door first). Also what RunInstances asks
// of key pairs: KeyName must name one of the caller's pairs, whose public key the instance keeps.
import { REDACTED } from '../../audit/trail.js';
import { Ec2Error } from '../protocol/errors.js';
import type { Ec2Request } from '../protocol/ec2-requests.js';
import type { Ec2Instance } from '../protocol/ec2-responses.js';
import type { InstanceAttributeValue, KeyPairResponse } from '../protocol/key-pairs-responses.js';
import type { InstanceAttributeName } from '../protocol/key-pairs-requests.js';
import type { Caller } from '../ec2/instances.js';
import { REGION_NAME } from '../ec2/model.js';
import type { KeyPairRecord } from '../ec2/key-pairs.js';
import type { InstanceRecord } from '../ec2/model.js';
import type { Ec2Services } from './ec2-handlers.js';
import { instanceView, tagItems } from './views.js';

function tagsOf(specs: readonly { resourceType: string; tags: readonly { key: string; value: string }[] }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) if (s.resourceType === 'key-pair') for (const t of s.tags) out[t.key] = t.value;
  return out;
}

function keyPairService(svc: Ec2Services): NonNullable<Ec2Services['keyPairs']> {
  if (!svc.keyPairs) throw new Ec2Error('InvalidAction', 'The key pair actions are not valid for this web service.');
  return svc.keyPairs;
}

/**
 * RunInstances KeyName: the public key line of the caller's key pair of that name (copied onto
 * the instance for IMDS), undefined when no KeyName was given; InvalidKeyPair.NotFound otherwise.
 */
export function launchPublicKey(svc: Ec2Services, caller: Caller, keyName: string | undefined): string | undefined {
  if (keyName === undefined || keyName === '') return undefined;
  return keyPairService(svc).forLaunch(caller, keyName).publicKey;
}

/** The caller's instance and its view as DescribeInstances shows it (with the VPC and EBS parts). */
function fullView(svc: Ec2Services, caller: Caller, instanceId: string): { readonly rec: InstanceRecord; readonly v: Ec2Instance } {
  const rec = svc.instances.owned(caller, [instanceId])[0]!;
  let v = instanceView(rec);
  if (svc.vpc) v = svc.vpc.decorate(v);
  const bdm = svc.volumes?.blockDevicesByInstance(caller).get(instanceId);
  if (bdm) v = { ...v, blockDeviceMappings: bdm };
  return { rec, v };
}

/** One attribute of an instance, as DescribeInstanceAttribute answers it. */
export function instanceAttribute(svc: Ec2Services, caller: Caller, instanceId: string, attribute: InstanceAttributeName): InstanceAttributeValue {
  const { rec, v } = fullView(svc, caller, instanceId);
  switch (attribute) {
    case 'instanceType':
      return { kind: 'value', value: v.instanceType };
    case 'kernel':
      return { kind: 'value', value: v.kernelId };
    case 'ramdisk':
      return { kind: 'value', value: v.ramdiskId };
    case 'userData':
      return { kind: 'value', value: rec.userData };
    case 'rootDeviceName':
      return { kind: 'value', value: v.rootDeviceName };
    case 'sriovNetSupport':
      return { kind: 'value', value: undefined };
    // The region keeps no termination or stop protection and always stops on a guest shutdown.
    case 'instanceInitiatedShutdownBehavior':
      return { kind: 'value', value: 'stop' };
    case 'disableApiTermination':
    case 'disableApiStop':
      return { kind: 'boolean', value: false };
    case 'ebsOptimized':
      return { kind: 'boolean', value: v.ebsOptimized };
    case 'enaSupport':
      return { kind: 'boolean', value: v.enaSupport ?? false };
    case 'sourceDestCheck':
      return { kind: 'boolean', value: v.sourceDestCheck ?? true };
    case 'blockDeviceMapping':
      return { kind: 'blockDeviceMapping', mappings: v.blockDeviceMappings };
    case 'groupSet':
      return { kind: 'groupSet', groups: v.securityGroups };
    case 'productCodes':
      return { kind: 'productCodes' };
    case 'enclaveOptions':
      return { kind: 'enclaveOptions', enabled: false };
  }
}

const info = (k: KeyPairRecord, includePublicKey: boolean): Extract<KeyPairResponse, { action: 'DescribeKeyPairs' }>['keyPairs'][number] => ({
  keyPairId: k.id,
  keyName: k.name,
  keyType: k.keyType,
  keyFingerprint: k.fingerprint,
  ...(includePublicKey ? { publicKey: k.publicKey } : {}),
  createTime: new Date(k.createTime),
  tags: tagItems(k.tags),
});

/**
 * The resources a key pair action acts on, for IAM and the audit record: the pair's ARN,
 * arn:aws:ec2:<region>:<account>:key-pair/<name> (DeleteKeyPair by id names the pair it finds).
 */
export function keyPairResources(svc: Ec2Services, caller: Caller, req: Extract<Ec2Request, { action: 'CreateKeyPair' | 'ImportKeyPair' | 'DeleteKeyPair' }>): { arn: string }[] {
  const arn = (name: string): { arn: string } => ({ arn: `arn:aws:ec2:${REGION_NAME}:${caller.accountId}:key-pair/${name}` });
  if (req.action !== 'DeleteKeyPair') return [arn(req.keyName)];
  const name = req.keyPairId !== undefined ? (svc.keyPairs?.find(caller, req.keyPairId)?.name ?? req.keyName) : req.keyName;
  return [arn(name ?? '*')];
}

/**
 * What the audit outcome keeps of a key pair action's answer: names, ids and the fingerprint.
 * The private key is never handed to the trail: its member carries the trail's REDACTED mark,
 * as CloudTrail shows a CreateKeyPair.
 */
export function keyPairAuditSummary(r: KeyPairResponse): Record<string, unknown> {
  switch (r.action) {
    case 'CreateKeyPair':
      return { keyName: r.keyName, keyPairId: r.keyPairId, keyFingerprint: r.keyFingerprint, keyMaterial: REDACTED };
    case 'ImportKeyPair':
      return { keyName: r.keyName, keyPairId: r.keyPairId, keyFingerprint: r.keyFingerprint };
    case 'DeleteKeyPair':
      return { return: true, ...(r.keyPairId !== undefined ? { keyPairId: r.keyPairId } : {}) };
    default:
      return { ok: true };
  }
}

/** The answer to a key pair action or DescribeInstanceAttribute; undefined for any other action. */
export async function handleKeyPairs(svc: Ec2Services, caller: Caller, req: Ec2Request): Promise<KeyPairResponse | undefined> {
  switch (req.action) {
    case 'CreateKeyPair': {
      const { record, keyMaterial } = await keyPairService(svc).create(caller, { name: req.keyName, keyType: req.keyType, keyFormat: req.keyFormat, tags: tagsOf(req.tagSpecifications) });
      return { action: 'CreateKeyPair', keyPairId: record.id, keyName: record.name, keyFingerprint: record.fingerprint, keyMaterial, tags: tagItems(record.tags) };
    }
    case 'ImportKeyPair': {
      const k = await keyPairService(svc).import(caller, { name: req.keyName, material: req.publicKeyMaterial, tags: tagsOf(req.tagSpecifications) });
      return { action: 'ImportKeyPair', keyPairId: k.id, keyName: k.name, keyFingerprint: k.fingerprint, tags: tagItems(k.tags) };
    }
    case 'DescribeKeyPairs': {
      const keys = keyPairService(svc).describe(caller, { names: req.keyNames, ids: req.keyPairIds, filters: req.filters });
      return { action: 'DescribeKeyPairs', keyPairs: keys.map((k) => info(k, req.includePublicKey)) };
    }
    case 'DeleteKeyPair':
      return { action: 'DeleteKeyPair', keyPairId: await keyPairService(svc).delete(caller, { name: req.keyName, id: req.keyPairId }) };
    case 'DescribeInstanceAttribute':
      return { action: 'DescribeInstanceAttribute', instanceId: req.instanceId, attribute: req.attribute, value: instanceAttribute(svc, caller, req.instanceId, req.attribute) };
    default:
      return undefined;
  }
}
