// The one table of EC2 actions: every family's entries joined, checked complete at compile
// time against the request union (protocol/ec2/requests). To add a family: write
// actions/<family>.ts exporting its table and add one line below.
import type { Ec2Action, Ec2Request, RequestOf } from '../../protocol/ec2/requests/index.js';
import type { Ec2Response, ResponseFor } from '../../protocol/ec2/responses/index.js';
import type { Caller } from '../../ec2/instances.js';
import type { ActionTable, Ec2ActionHandler, Ec2Services, IamResource } from './common.js';
import { EDGE_ACTIONS } from './edge.js';
import { HOST_ACTIONS } from './hosts.js';
import { IMAGE_ACTIONS } from './images.js';
import { INSTANCE_ACTIONS } from './instances.js';
import { KEY_PAIR_ACTIONS } from './key-pairs.js';
import { REGION_ACTIONS } from './regions.js';
import { TAG_ACTIONS } from './tags.js';
import { VOLUME_ACTIONS } from './volumes.js';
import { VPC_ACTIONS } from './vpc.js';
import { LAUNCH_TEMPLATE_ACTIONS } from './launch-templates.js';
import { ACCOUNT_ACTIONS } from './account.js';

export type { Ec2Services, IamResource } from './common.js';

export const EC2_ACTION_TABLE: ActionTable<Ec2Request> = {
  ...INSTANCE_ACTIONS,
  ...IMAGE_ACTIONS,
  ...VOLUME_ACTIONS,
  ...VPC_ACTIONS,
  ...TAG_ACTIONS,
  ...KEY_PAIR_ACTIONS,
  ...HOST_ACTIONS,
  ...REGION_ACTIONS,
  ...EDGE_ACTIONS,
  ...ACCOUNT_ACTIONS,
  ...LAUNCH_TEMPLATE_ACTIONS,
};

const entry = <A extends Ec2Action>(action: A): Ec2ActionHandler<A> => EC2_ACTION_TABLE[action] as Ec2ActionHandler<A>;

/** Runs a typed request against the region's services. */
export async function handleEc2<A extends Ec2Action>(svc: Ec2Services, caller: Caller, req: RequestOf<A>): Promise<ResponseFor<A>> {
  return await entry(req.action as A).run(svc, caller, req);
}

/** The resources an EC2 request acts on, for IAM and for the audit record. */
export function ec2Resources(svc: Ec2Services, caller: Caller, req: Ec2Request): IamResource[] {
  const e = entry(req.action) as Ec2ActionHandler<Ec2Action>;
  return e.resources ? e.resources(svc, caller, req as RequestOf<Ec2Action>) : [];
}

/** What the audit outcome keeps of a response: ids and states, never user data. */
export function responseSummary(r: Ec2Response): Record<string, unknown> {
  const e = entry(r.action) as Ec2ActionHandler<Ec2Action>;
  return e.summary ? e.summary(r as ResponseFor<Ec2Action>) : { ok: true };
}
