// The EC2 actions that describe the region and its availability zones. One entry per action.
import type { RegionRequest } from '../../protocol/ec2/requests/index.js';
import { Ec2Error } from '../../protocol/errors.js';
import { AVAILABILITY_ZONES, REGION_NAME, zoneIdOf } from '../../ec2/model.js';
import type { ActionTable } from './common.js';

export const REGION_ACTIONS: ActionTable<RegionRequest> = {
  DescribeRegions: {
    run(svc, caller, req) {
      for (const n of req.regionNames) if (n !== REGION_NAME) throw new Ec2Error('InvalidParameterValue', `Invalid region: ${n}`);
      return { action: 'DescribeRegions', regions: [{ regionName: REGION_NAME, regionEndpoint: svc.endpoint(), optInStatus: 'opt-in-not-required' }] };
    },
  },
  DescribeAvailabilityZones: {
    run(svc, caller, req) {
      for (const n of req.zoneNames) {
        if (!(AVAILABILITY_ZONES as readonly string[]).includes(n)) throw new Ec2Error('InvalidParameterValue', `The zone '${n}' does not exist.`);
      }
      return {
        action: 'DescribeAvailabilityZones',
        availabilityZones: AVAILABILITY_ZONES.map((z) => ({
          zoneName: z,
          zoneId: zoneIdOf(z),
          zoneState: 'available',
          regionName: REGION_NAME,
          groupName: REGION_NAME,
          networkBorderGroup: REGION_NAME,
          optInStatus: 'opt-in-not-required',
          zoneType: 'availability-zone',
          messages: [],
        })),
      };
    },
  },
};
