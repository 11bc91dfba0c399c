// EC2 responses, account-level descriptions: account attributes, instance type offerings,
// ClassicLink (always no VPC). The typed results and their XML writers.

import type { LocationType } from '../requests/account.js';
import type { WriterTable } from './common.js';

export interface AccountAttribute {
  readonly attributeName: string;
  readonly attributeValues: readonly string[];
}

export interface InstanceTypeOffering {
  readonly instanceType: string;
  readonly locationType: LocationType;
  readonly location: string;
}

export type AccountResponse =
  | { readonly action: 'DescribeAccountAttributes'; readonly accountAttributes: readonly AccountAttribute[] }
  | { readonly action: 'DescribeInstanceTypeOfferings'; readonly offerings: readonly InstanceTypeOffering[]; readonly nextToken: string | undefined }
  | { readonly action: 'DescribeVpcClassicLink' }
  | { readonly action: 'DescribeVpcClassicLinkDnsSupport' };

export const ACCOUNT_WRITERS: WriterTable<AccountResponse> = {
  DescribeAccountAttributes(w, r) {
    w.list('accountAttributeSet', r.accountAttributes, (x, a) => {
      x.leaf('attributeName', a.attributeName);
      x.list('attributeValueSet', a.attributeValues, (y, v) => y.leaf('attributeValue', v));
    });
  },
  DescribeInstanceTypeOfferings(w, r) {
    w.list('instanceTypeOfferingSet', r.offerings, (x, o) => x.leaf('instanceType', o.instanceType).leaf('locationType', o.locationType).leaf('location', o.location));
    if (r.nextToken !== undefined) w.leaf('nextToken', r.nextToken);
  },
  DescribeVpcClassicLink: (w) => void w.empty('vpcSet'),
  DescribeVpcClassicLinkDnsSupport: (w) => void w.empty('vpcs'),
};
