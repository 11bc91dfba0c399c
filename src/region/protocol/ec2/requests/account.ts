// EC2 requests, account-level descriptions: DescribeAccountAttributes, DescribeInstanceTypeOfferings,
// and the ClassicLink descriptions (EC2 retired ClassicLink; tools such as Ansible's
// ec2_vpc_net_info still ask, and EC2 answers with no VPC).
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { type Base, checkVpcId, dryRun, missing, type Filter, type Paged, paged, type ParserTable, readFilters } from './common.js';

export interface DescribeAccountAttributesRequest extends Base {
  readonly action: 'DescribeAccountAttributes';
  /** AttributeName.N; empty: every attribute. */
  readonly attributeNames: readonly string[];
}

/** botocore's LocationType. */
export const LOCATION_TYPES = ['region', 'availability-zone', 'availability-zone-id', 'outpost'] as const;
export type LocationType = (typeof LOCATION_TYPES)[number];

export interface DescribeInstanceTypeOfferingsRequest extends Base, Paged {
  readonly action: 'DescribeInstanceTypeOfferings';
  /** Absent: 'region', as EC2 defaults. */
  readonly locationType: LocationType;
  readonly filters: readonly Filter[];
}

export interface DescribeVpcClassicLinkRequest extends Base {
  readonly action: 'DescribeVpcClassicLink';
  readonly vpcIds: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DescribeVpcClassicLinkDnsSupportRequest extends Base, Paged {
  readonly action: 'DescribeVpcClassicLinkDnsSupport';
  readonly vpcIds: readonly string[];
}

export type AccountRequest = DescribeAccountAttributesRequest | DescribeInstanceTypeOfferingsRequest | DescribeVpcClassicLinkRequest | DescribeVpcClassicLinkDnsSupportRequest;

export const ACCOUNT_PARSERS: ParserTable<AccountRequest> = {
  DescribeAccountAttributes: (r) => ({ action: 'DescribeAccountAttributes', dryRun: dryRun(r), attributeNames: r.stringList('AttributeName') }),

  DescribeInstanceTypeOfferings: (r) => ({
    action: 'DescribeInstanceTypeOfferings',
    dryRun: dryRun(r),
    locationType: r.enumString('LocationType', LOCATION_TYPES) ?? 'region',
    filters: readFilters(r),
    ...paged(r, 5, 1000),
  }),

  DescribeVpcClassicLink: (r) => ({ action: 'DescribeVpcClassicLink', dryRun: dryRun(r), vpcIds: r.stringList('VpcId').map(checkVpcId), filters: readFilters(r) }),

  DescribeVpcClassicLinkDnsSupport: (r) => ({ action: 'DescribeVpcClassicLinkDnsSupport', dryRun: false, vpcIds: r.stringList('VpcIds').map(checkVpcId), ...paged(r, 5, 255) }),
};

/** The account family changes nothing. */
export const ACCOUNT_MUTATING: readonly AccountRequest['action'][] = [];
