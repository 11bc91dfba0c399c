// The EC2 image actions. One entry per action; authorization and audit happen in server.ts first.
import type { ImageRequest } from '../../protocol/ec2/requests/index.js';
import { copyImage, createImage } from '../../ec2/image-snapshots.js';
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
      if (req.imageLocation === undefined && req.blockDeviceMappings.length > 0) {
        // an EBS-backed image: a root snapshot plus mappings (src/region/ec2/images.ts registerEbs)
        const rec = await svc.images.registerEbs(caller, req, (id) => svc.snapshots.owned(caller, id));
        const tags = tagsFor(req.tagSpecifications, 'image');
        if (Object.keys(tags).length > 0) await svc.images.setTags(rec.id, tags);
        return { action: 'RegisterImage', imageId: rec.id };
      }
      const builtin = svc.images.describe(caller, { imageIds: [], owners: ['amazon'], filters: [{ name: 'name', values: ['nitride-minimal'] }] })[0];
      const rec = await svc.images.register(
        caller,
        {
          name: req.name,
          description: req.description,
          imageLocation: req.imageLocation,
          tpmSupport: req.tpmSupport,
          bootMode: req.bootMode,
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
  CopyImage: {
    async run(svc, caller, req) {
      const rec = await copyImage(svc.images, svc.snapshots, caller, req);
      const src = svc.images.visible(caller, req.sourceImageId);
      const tags = { ...(req.copyImageTags === true ? src.tags : {}), ...tagsFor(req.tagSpecifications, 'image') };
      if (Object.keys(tags).length > 0) await svc.images.setTags(rec.id, tags);
      return { action: 'CopyImage', imageId: rec.id };
    },
    summary: (r) => ({ imageId: r.imageId }),
  },
  CreateImage: {
    async run(svc, caller, req) {
      const rec = await createImage(svc.images, svc.instances, svc.volumes, svc.snapshots, caller, req);
      const tags = tagsFor(req.tagSpecifications, 'image');
      if (Object.keys(tags).length > 0) await svc.images.setTags(rec.id, tags);
      return { action: 'CreateImage', imageId: rec.id };
    },
    summary: (r) => ({ imageId: r.imageId }),
  },
};
