// EC2 Query requests: flat form parameters in, a typed discriminated union out.
//
//   parseEc2Request(flat) → Ec2Request   ({ action: 'RunInstances', dryRun, imageId, … } | …)
//
// Parameter names are the wire names of EC2's "ec2" protocol, taken from botocore's
// service model (ec2/2016-11-15): a member's locationName with its first letter upper-cased,
// lists flattened as Name.N (InstanceId.1, Filter.1.Value.1, TagSpecification.1.Tag.1.Key,
// BlockDeviceMapping.1.Ebs.VolumeSize). A parameter the action's parser does not read is
// refused with UnknownParameter, never ignored (the reader records what each parser read);
// known ones are validated and bad values rejected with EC2's codes:
//   InvalidAction, MissingAction, MissingParameter, UnknownParameter, InvalidParameterValue,
//   InvalidParameterCombination, InvalidInstanceID.Malformed, InvalidAMIID.Malformed, InvalidID,
//   InvalidVolumeID.Malformed, InvalidSnapshotID.Malformed, InvalidVpcID.Malformed,
//   InvalidSubnetID.Malformed, InvalidGroupId.Malformed, InvalidNetworkInterfaceID.Malformed,
//   InvalidSecurityGroupRuleId.Malformed, InvalidVpc.Range, InvalidSubnet.Range.
//
// One file per family (instances, images, volumes, vpc, tags, key pairs, hosts, regions), each with its
// requests, its union, one parser per action and its mutating actions; common.ts holds what
// they share. To add a family: write <family>.ts the same way and add it to the three lists
// below (union, parsers, mutating).

import { Ec2Error } from '../../errors.js';
import { expandParams, truncate, type FlatParams } from '../../query.js';
import { ParamReader, unreadParams, type ParserTable } from './common.js';
import { EDGE_MUTATING, EDGE_PARSERS, type EdgeRequest } from './edge.js';
import { HOST_MUTATING, HOST_PARSERS, type HostRequest } from './hosts.js';
import { IMAGE_MUTATING, IMAGE_PARSERS, type ImageRequest } from './images.js';
import { INSTANCE_MUTATING, INSTANCE_PARSERS, type InstanceRequest } from './instances.js';
import { KEY_PAIR_MUTATING, KEY_PAIR_PARSERS, type KeyPairRequest } from './key-pairs.js';
import { REGION_MUTATING, REGION_PARSERS, type RegionRequest } from './regions.js';
import { TAG_MUTATING, TAG_PARSERS, type TagRequest } from './tags.js';
import { VOLUME_MUTATING, VOLUME_PARSERS, type VolumeRequest } from './volumes.js';
import { VPC_MUTATING, VPC_PARSERS, type VpcRequest } from './vpc.js';
import { LAUNCH_TEMPLATE_MUTATING, LAUNCH_TEMPLATE_PARSERS, type LaunchTemplateRequest } from './launch-templates.js';
import { ACCOUNT_MUTATING, ACCOUNT_PARSERS, type AccountRequest } from './account.js';

export * from './common.js';
export * from './edge.js';
export * from './hosts.js';
export * from './images.js';
export * from './instances.js';
export * from './key-pairs.js';
export * from './regions.js';
export * from './tags.js';
export * from './volumes.js';
export * from './vpc.js';
export * from './launch-templates.js';
export * from './account.js';

export type Ec2Request = InstanceRequest | HostRequest | ImageRequest | TagRequest | RegionRequest | VolumeRequest | VpcRequest | KeyPairRequest | AccountRequest | LaunchTemplateRequest | EdgeRequest;

export type Ec2Action = Ec2Request['action'];

/** The request of one action. */
export type RequestOf<A extends Ec2Action> = Extract<Ec2Request, { action: A }>;

const PARSERS: ParserTable<Ec2Request> = {
  ...INSTANCE_PARSERS,
  ...HOST_PARSERS,
  ...IMAGE_PARSERS,
  ...TAG_PARSERS,
  ...REGION_PARSERS,
  ...VOLUME_PARSERS,
  ...VPC_PARSERS,
  ...KEY_PAIR_PARSERS,
  ...EDGE_PARSERS,
  ...ACCOUNT_PARSERS,
  ...LAUNCH_TEMPLATE_PARSERS,
};

/** The actions parseEc2Request understands. */
export const EC2_ACTIONS: readonly Ec2Action[] = Object.keys(PARSERS) as Ec2Action[];

export function isEc2Action(name: string): name is Ec2Action {
  return Object.prototype.hasOwnProperty.call(PARSERS, name);
}

/** The mutating actions (DryRun matters most there; every action accepts it). */
export const EC2_MUTATING_ACTIONS: ReadonlySet<Ec2Action> = new Set<Ec2Action>([
  ...INSTANCE_MUTATING,
  ...IMAGE_MUTATING,
  ...TAG_MUTATING,
  ...REGION_MUTATING,
  ...VOLUME_MUTATING,
  ...VPC_MUTATING,
  ...HOST_MUTATING,
  ...KEY_PAIR_MUTATING,
  ...EDGE_MUTATING,
  ...ACCOUNT_MUTATING,
  ...LAUNCH_TEMPLATE_MUTATING,
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
  const parser = PARSERS[action] as (r: ParamReader) => Ec2Request;
  const reader = new ParamReader(params);
  // Action and Version are the envelope; X-Amz-* are a presigned URL's signature.
  reader.accept('Action', 'Version', ...Object.keys(params).filter((k) => k.startsWith('X-Amz-')));
  const req = parser(reader);
  const unread = unreadParams(params);
  if (unread.length > 0) {
    const name = truncate(unread[0] as string);
    throw new Ec2Error('UnknownParameter', `The parameter ${name} is not recognized.`, { context: { parameter: name, unrecognized: unread.length } });
  }
  return req;
}
