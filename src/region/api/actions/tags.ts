// The EC2 tag actions over every taggable resource. One entry per action; authorization and
// audit happen in server.ts first.
import type { TagRequest } from '../../protocol/ec2/requests/index.js';
import { REGION_NAME } from '../../ec2/model.js';
import type { Caller } from '../../ec2/instances.js';
import { imageArn, instanceResource, page, type ActionTable, type Ec2Services, type IamResource } from './common.js';

const taggedResource = (svc: Ec2Services, caller: Caller, id: string): IamResource =>
  id.startsWith('i-') ? instanceResource(svc, caller, id) : { arn: id.startsWith('ami-') ? imageArn(id) : `arn:aws:ec2:${REGION_NAME}:${caller.accountId}:${id}` };

export const TAG_ACTIONS: ActionTable<TagRequest> = {
  CreateTags: {
    async run(svc, caller, req) {
      await svc.tags.create(caller, req.resources, req.tags);
      return { action: 'CreateTags' };
    },
    resources: (svc, caller, req) => req.resources.map((id) => taggedResource(svc, caller, id)),
  },
  DeleteTags: {
    async run(svc, caller, req) {
      await svc.tags.delete(caller, req.resources, req.tags);
      return { action: 'DeleteTags' };
    },
    resources: (svc, caller, req) => req.resources.map((id) => taggedResource(svc, caller, id)),
  },
  DescribeTags: {
    run(svc, caller, req) {
      const all = svc.tags.describe(caller, req.filters);
      const key = (t: (typeof all)[number]): string => `${t.resourceId}\u0000${t.key}`;
      const p = page(all, key, req.maxResults, req.nextToken);
      return { action: 'DescribeTags', tags: p.items, nextToken: p.nextToken };
    },
  },
};
