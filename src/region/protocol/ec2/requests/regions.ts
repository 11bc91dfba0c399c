// EC2 requests, regions and availability zones.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { type Base, dryRun, type Filter, type ParserTable, readFilters } from './common.js';

export interface DescribeRegionsRequest extends Base {
  readonly action: 'DescribeRegions';
  readonly regionNames: readonly string[];
  readonly allRegions: boolean;
  readonly filters: readonly Filter[];
}

export interface DescribeAvailabilityZonesRequest extends Base {
  readonly action: 'DescribeAvailabilityZones';
  readonly zoneNames: readonly string[];
  readonly zoneIds: readonly string[];
  readonly allAvailabilityZones: boolean;
  readonly filters: readonly Filter[];
}

export type RegionRequest =
  | DescribeRegionsRequest
  | DescribeAvailabilityZonesRequest;

export const REGION_PARSERS: ParserTable<RegionRequest> = {
  DescribeRegions: (r) => ({
    action: 'DescribeRegions',
    dryRun: dryRun(r),
    regionNames: r.stringList('RegionName'),
    allRegions: r.boolean('AllRegions') ?? false,
    filters: readFilters(r),
  }),

  DescribeAvailabilityZones: (r) => ({
    action: 'DescribeAvailabilityZones',
    dryRun: dryRun(r),
    zoneNames: r.stringList('ZoneName'),
    zoneIds: r.stringList('ZoneId'),
    allAvailabilityZones: r.boolean('AllAvailabilityZones') ?? false,
    filters: readFilters(r),
  }),
};

/** The regions actions that change state (audited before effect; every action accepts DryRun). */
export const REGION_MUTATING: readonly RegionRequest['action'][] = [];
