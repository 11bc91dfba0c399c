// ModifyInstanceAttribute, whichever part of the region keeps the attribute: the instance's ENI
// (groupSet, sourceDestCheck), its attached volumes (blockDeviceMapping) or the instance record
// (src/region/ec2/instance-attributes.ts). The request parser sits in the VPC family, where the
// action first came; the entry there calls this.
import type { RequestOf } from '../../protocol/ec2/requests/index.js';
import type { ResponseFor } from '../../protocol/ec2/responses/index.js';
import { changedInstance } from '../../ec2/instance-attributes.js';
import type { Caller } from '../../ec2/instances.js';
import type { Ec2Services } from './common.js';

export async function modifyInstanceAttribute(svc: Ec2Services, caller: Caller, req: RequestOf<'ModifyInstanceAttribute'>): Promise<ResponseFor<'ModifyInstanceAttribute'>> {
  const c = req.change;
  switch (c.attribute) {
    case 'groupSet':
      await svc.vpc.modifyInstance(caller, req.instanceId, { attribute: 'groupSet', groupIds: c.groupIds });
      break;
    case 'sourceDestCheck':
      await svc.vpc.modifyInstance(caller, req.instanceId, { attribute: 'sourceDestCheck', value: c.value });
      break;
    case 'blockDeviceMapping':
      svc.instances.owned(caller, [req.instanceId]);
      await svc.volumes.setDeleteOnTermination(caller, req.instanceId, c.mappings);
      break;
    default:
      await svc.instances.modify(caller, req.instanceId, (r) => changedInstance(r, c));
  }
  return { action: 'ModifyInstanceAttribute' };
}
