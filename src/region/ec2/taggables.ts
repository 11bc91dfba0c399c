// The resource types CreateTags/DeleteTags/DescribeTags reach whose records an account owns
// outright in one collection (VPCs, subnets, security groups, ENIs, launch templates, and the
// VPC edge's gateways, route tables and addresses): one line each in the region's registry,
// `tags.register(ownedTaggable(…))`. Instances, images, volumes, snapshots and key pairs keep
// their own entries (visibility rules, derived views).
import { Ec2Error, ec2NotFound } from '../protocol/errors.js';
import type { Collection } from '../repo.js';
import type { Caller } from './instances.js';
import type { Taggable } from './tags.js';

/** A record an account owns, with tags (absent: none yet). */
export interface OwnedTaggableRecord {
  readonly id: string;
  readonly accountId: string;
  readonly tags?: Readonly<Record<string, string>>;
}

/** EC2's not-found error for one type: ec2NotFound's kinds, or a code and message of its own. */
export type NotFound = Parameters<typeof ec2NotFound>[0] | ((id: string) => Ec2Error);

export function ownedTaggable<R extends OwnedTaggableRecord>(resourceType: string, idPrefix: string, notFound: NotFound, records: Collection<R>): Taggable {
  const mine = (c: Caller, id: string): R | undefined => {
    const r = records.get(id);
    return r && r.accountId === c.accountId ? r : undefined;
  };
  return {
    resourceType,
    idPrefix,
    notFound: typeof notFound === 'function' ? notFound : (id) => ec2NotFound(notFound, id),
    find: (c, id) => {
      const r = mine(c, id);
      return r ? { tags: r.tags ?? {} } : undefined;
    },
    canTag: (c, id) => mine(c, id) !== undefined,
    list: (c) => records.all().filter((r) => r.accountId === c.accountId).map((r) => ({ id: r.id, tags: r.tags ?? {} })),
    setTags: async (id, tags) => void (await records.update(id, (cur) => ({ ...cur, tags }))),
  };
}

/** EC2's not-found for a launch template named by id. */
export const launchTemplateNotFound = (id: string): Ec2Error => new Ec2Error('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${id}, does not exist.`, { context: { launchTemplateId: id } });
