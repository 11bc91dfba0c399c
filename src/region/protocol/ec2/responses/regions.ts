// EC2 responses, regions and availability zones: the typed results and their XML writers.

import type { WriterTable } from './common.js';

export interface Region {
  readonly regionName: string;
  readonly regionEndpoint: string;
  readonly optInStatus: 'opt-in-not-required' | 'opted-in' | 'not-opted-in';
}

export interface AvailabilityZone {
  readonly zoneName: string;
  readonly zoneId: string;
  readonly zoneState: 'available' | 'information' | 'impaired' | 'unavailable' | 'constrained';
  readonly regionName: string;
  readonly groupName: string;
  readonly networkBorderGroup: string;
  readonly optInStatus: 'opt-in-not-required' | 'opted-in' | 'not-opted-in';
  readonly zoneType: 'availability-zone' | 'local-zone' | 'wavelength-zone';
  readonly messages: readonly string[];
}

export type RegionResponse =
  | { readonly action: 'DescribeRegions'; readonly regions: readonly Region[] }
  | { readonly action: 'DescribeAvailabilityZones'; readonly availabilityZones: readonly AvailabilityZone[] };

export const REGION_WRITERS: WriterTable<RegionResponse> = {
  DescribeRegions: (w, r) => {
    w.list('regionInfo', r.regions, (x, g) => x.leaf('regionName', g.regionName).leaf('regionEndpoint', g.regionEndpoint).leaf('optInStatus', g.optInStatus));
  },
  DescribeAvailabilityZones(w, r) {
    w.list('availabilityZoneInfo', r.availabilityZones, (x, z) => {
      x.leaf('zoneName', z.zoneName).leaf('zoneState', z.zoneState).leaf('regionName', z.regionName).leaf('zoneId', z.zoneId);
      x.leaf('groupName', z.groupName).leaf('networkBorderGroup', z.networkBorderGroup).leaf('optInStatus', z.optInStatus).leaf('zoneType', z.zoneType);
      x.list('messageSet', z.messages, (y, m) => y.leaf('message', m));
    });
  },
};
