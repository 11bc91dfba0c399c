// The EC2 actions that describe the account and what it may launch where: account attributes,
// instance type offerings, and ClassicLink (retired by EC2, which answers with no VPC; tools such
// as Ansible's ec2_vpc_net_info still ask). One entry per action; none changes anything.
import type { AccountRequest, LocationType } from '../../protocol/ec2/requests/index.js';
import { Ec2Error } from '../../protocol/errors.js';
import type { InstanceTypeOffering } from '../../protocol/ec2/responses/index.js';
import { compileFilters, isTagFilter } from '../../ec2/filters.js';
import type { Caller } from '../../ec2/instances.js';
import { AVAILABILITY_ZONES, REGION_NAME, zoneIdOf } from '../../ec2/model.js';
import { allInstanceTypes } from '../views.js';
import { page, type ActionTable, type Ec2Services } from './common.js';

/** The attributes DescribeAccountAttributes knows (botocore's AccountAttributeName). */
const ACCOUNT_ATTRIBUTES: Readonly<Record<string, (svc: Ec2Services, caller: Caller) => Promise<string[]>>> = {
  'supported-platforms': async () => ['VPC'],
  'default-vpc': async (svc, caller) => [(await svc.vpc.ensureDefault(caller)).id],
};

function locationsOf(type: LocationType): string[] {
  switch (type) {
    case 'region':
      return [REGION_NAME];
    case 'availability-zone':
      return [...AVAILABILITY_ZONES];
    case 'availability-zone-id':
      return AVAILABILITY_ZONES.map(zoneIdOf);
    case 'outpost':
      return []; // the region has no Outposts
  }
}

/** ClassicLink's filters (EC2 answers no VPC whatever they say, but refuses unknown names). */
const classicLinkFilters = (filters: readonly { name: string; values: readonly string[] }[]): void =>
  void compileFilters(filters, () => [], (n) => n === 'is-classic-link-enabled' || isTagFilter(n));

export const ACCOUNT_ACTIONS: ActionTable<AccountRequest> = {
  DescribeAccountAttributes: {
    async run(svc, caller, req) {
      for (const n of req.attributeNames) {
        if (!Object.prototype.hasOwnProperty.call(ACCOUNT_ATTRIBUTES, n)) throw new Ec2Error('InvalidParameterValue', `Value (${n}) for parameter attributeName is invalid. Valid values are: ${Object.keys(ACCOUNT_ATTRIBUTES).join(', ')}.`);
      }
      const names = req.attributeNames.length > 0 ? [...new Set(req.attributeNames)] : Object.keys(ACCOUNT_ATTRIBUTES);
      const accountAttributes = [];
      for (const n of names) accountAttributes.push({ attributeName: n, attributeValues: await ACCOUNT_ATTRIBUTES[n]!(svc, caller) });
      return { action: 'DescribeAccountAttributes', accountAttributes };
    },
  },
  DescribeInstanceTypeOfferings: {
    run(_svc, _caller, req) {
      const offerings: InstanceTypeOffering[] = [];
      for (const location of locationsOf(req.locationType)) for (const t of allInstanceTypes()) offerings.push({ instanceType: t.name, locationType: req.locationType, location });
      const match = compileFilters<InstanceTypeOffering>(req.filters, (o, n) => (n === 'location' ? [o.location] : n === 'instance-type' ? [o.instanceType] : undefined), (n) => n === 'location' || n === 'instance-type');
      const p = page(offerings.filter(match), (o) => `${o.location}\u0000${o.instanceType}`, req.maxResults, req.nextToken);
      return { action: 'DescribeInstanceTypeOfferings', offerings: p.items, nextToken: p.nextToken };
    },
  },
  DescribeVpcClassicLink: {
    run(svc, caller, req) {
      for (const id of req.vpcIds) svc.vpc.vpc(caller, id); // EC2's InvalidVpcID.NotFound for a VPC the caller does not have
      classicLinkFilters(req.filters);
      return { action: 'DescribeVpcClassicLink' };
    },
  },
  DescribeVpcClassicLinkDnsSupport: {
    run(svc, caller, req) {
      for (const id of req.vpcIds) svc.vpc.vpc(caller, id);
      return { action: 'DescribeVpcClassicLinkDnsSupport' };
    },
  },
};
