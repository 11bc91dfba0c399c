// The EC2 image actions. One entry per action; authorization and audit happen in server.ts first.
import type { ImageRequest } from '../../protocol/ec2/requests/index.js';
import { ebsImageFields } from '../../ec2/register-ebs-image.js';
import { tagsFor } from '../../ec2/tags.js';
import { imageView } from '../views.js';
import { imageArn, page, type ActionTable } from './common.js';

export const IMAGE_ACTIONS: ActionTable<ImageRequest> = {
  DescribeImages: {
    run(svc, caller, req) {
      const imgs = svc.images.describe(caller, { imageIds: req.imageIds, owners: req.owners, filters: req.filters });
      const p = page(imgs, (i) => i.id, req.maxResults, req.nextToken);
      return { action: 'DescribeImages', images: p.items.map(imageView), nextToken: p.nextToken };
    },
  },
  RegisterImage: {
    async run(svc, caller, req) {
      const builtin = svc.images.describe(caller, { imageIds: [], owners: ['amazon'], filters: [{ name: 'name', values: ['nitride-minimal'] }] })[0];
      const rec = await svc.images.register(
        caller,
        {
          name: req.name,
          description: req.description,
          imageLocation: req.imageLocation,
          tpmSupport: req.tpmSupport,
          bootMode: req.bootMode,
          // STOP-GAP RegisterImage of an EBS-backed image (src/region/ec2/register-ebs-image.ts), until wt-ebsdirect's lands
          ebs: req.imageLocation === undefined && req.blockDeviceMappings.length > 0 ? ebsImageFields(caller, req, svc.snapshots) : undefined,
        },
        builtin?.cmdline ?? 'console=ttyS0 panic=-1',
      );
      const tags = tagsFor(req.tagSpecifications, 'image');
      if (Object.keys(tags).length > 0) await svc.images.setTags(rec.id, tags);
      return { action: 'RegisterImage', imageId: rec.id };
    },
    summary: (r) => ({ imageId: r.imageId }),
  },
  DeregisterImage: {
    async run(svc, caller, req) {
      await svc.images.deregister(caller, req.imageId);
      return { action: 'DeregisterImage' };
    },
    resources: (_svc, _caller, req) => [{ arn: imageArn(req.imageId) }],
  },
};
