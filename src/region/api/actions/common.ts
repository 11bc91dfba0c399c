// What every family of EC2 actions shares: the services they act on, the shape of an action
// table, pagination, and the IAM resource of an instance.
import { Ec2Error } from '../../protocol/errors.js';
import type { Ec2Action, Ec2Request, RequestOf } from '../../protocol/ec2/requests/index.js';
import type { ResponseFor } from '../../protocol/ec2/responses/index.js';
import type { HostUpdateService } from '../../host-updates.js';
import type { ImageService } from '../../ec2/images.js';
import type { Caller, InstanceService } from '../../ec2/instances.js';
import type { KeyPairService } from '../../ec2/key-pairs.js';
import type { LaunchTemplateService } from '../../ec2/launch-templates.js';
import type { TagService } from '../../ec2/tags.js';
import type { VpcService } from '../../ec2/vpc.js';
import type { EdgeService } from '../../ec2/edge/index.js';
import type { EbsAccountDefaults } from '../../ec2/ebs/account-defaults.js';
import type { SnapshotService } from '../../ec2/ebs/snapshots.js';
import type { VolumeService } from '../../ec2/ebs/volumes.js';
import { REGION_NAME } from '../../ec2/model.js';

export interface Ec2Services {
  readonly instances: InstanceService;
  readonly images: ImageService;
  readonly tags: TagService;
  /** VPCs, subnets, security groups, ENIs (src/region/ec2/vpc.ts). */
  readonly vpc: VpcService;
  /** The VPC edge: internet gateways, route tables, public and Elastic IPs (src/region/ec2/edge/). */
  readonly edge: EdgeService;
  /** EBS volumes (src/region/ec2/ebs/). */
  readonly volumes: VolumeService;
  readonly snapshots: SnapshotService;
  /** The account's EBS encryption defaults. */
  readonly ebsDefaults: EbsAccountDefaults;
  /** Key pairs (src/region/ec2/key-pairs.ts): only their public halves are kept. */
  readonly keyPairs: KeyPairService;
  /** Launch templates (src/region/ec2/launch-templates.ts). */
  readonly launchTemplates: LaunchTemplateService;
  /** The region operator's live updates of host components (src/region/host-updates.ts). */
  readonly hostUpdates: HostUpdateService;
  /** host:port the API answers on (known once the server listens). */
  endpoint(): string;
}

/** A resource an action acts on, as IAM evaluates it and the audit record names it. */
export interface IamResource {
  readonly arn: string;
  readonly context?: Record<string, string | string[]>;
}

/** One action: what it does, and (when it names resources) what IAM authorizes it on. */
export interface Ec2ActionHandler<A extends Ec2Action> {
  run(svc: Ec2Services, caller: Caller, req: RequestOf<A>): Promise<ResponseFor<A>> | ResponseFor<A>;
  /** The resources for IAM and the audit record; without it the action is authorized on '*'. */
  resources?(svc: Ec2Services, caller: Caller, req: RequestOf<A>): IamResource[];
  /** What the audit outcome keeps of a mutating action's response: ids and states, never user data. */
  summary?(r: ResponseFor<A>): Record<string, unknown>;
}

/** The actions of one family (or, joined in index.ts, of the whole API). */
export type ActionTable<R extends Ec2Request> = { readonly [A in R['action']]: Ec2ActionHandler<A> };

/** Opaque pagination token: the id of the last item of the previous page. */
export function encodeToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

function decodeToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    // fall through
  }
  throw new Ec2Error('InvalidNextToken', 'The specified token is not valid.');
}

/** One page of items sorted by id, after the token's id. */
export function page<T>(items: readonly T[], idOf: (t: T) => string, maxResults: number | undefined, nextToken: string | undefined): { items: T[]; nextToken: string | undefined } {
  const after = decodeToken(nextToken);
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  const start = after === undefined ? 0 : sorted.findIndex((t) => idOf(t) > after);
  const rest = start < 0 ? [] : sorted.slice(start);
  if (maxResults === undefined || rest.length <= maxResults) return { items: rest, nextToken: undefined };
  const items2 = rest.slice(0, maxResults);
  return { items: items2, nextToken: encodeToken(idOf(items2[items2.length - 1]!)) };
}

export const instanceArn = (acct: string, id: string): string => `arn:aws:ec2:${REGION_NAME}:${acct}:instance/${id}`;
export const imageArn = (id: string): string => `arn:aws:ec2:${REGION_NAME}::image/${id}`;

/** An instance as an IAM resource, with its type and tags as condition keys when the caller owns it. */
export function instanceResource(svc: Ec2Services, caller: Caller, id: string): IamResource {
  let r;
  try {
    r = svc.instances.owned(caller, [id])[0];
  } catch {
    r = undefined; // unknown ids are answered NotFound by the handler, after authorization
  }
  const context: Record<string, string | string[]> = {};
  if (r) {
    context['ec2:InstanceType'] = r.instanceType;
    for (const [k, v] of Object.entries(r.tags)) context[`ec2:ResourceTag/${k}`] = v;
  }
  return { arn: instanceArn(caller.accountId, id), context };
}
