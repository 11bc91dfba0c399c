// The EC2 API's VPC actions over VpcService: VPCs, subnets, security groups, network
// interfaces and the network attributes of instances. One entry per action; authorization and
// audit happen in server.ts first.
import type { VpcRequest } from '../../protocol/ec2/requests/index.js';
import { instanceResource, type ActionTable } from './common.js';
import { modifyInstanceAttribute } from './instance-attributes.js';

export const VPC_ACTIONS: ActionTable<VpcRequest> = {
  CreateVpc: {
    run: (svc, caller, req) => svc.vpc.createVpc(caller, req),
  },
  DescribeVpcs: {
    run: (svc, caller, req) => svc.vpc.describeVpcs(caller, req),
  },
  DeleteVpc: {
    run: (svc, caller, req) => svc.vpc.deleteVpc(caller, req),
  },
  CreateSubnet: {
    run: (svc, caller, req) => svc.vpc.createSubnet(caller, req),
  },
  DescribeSubnets: {
    run: (svc, caller, req) => svc.vpc.describeSubnets(caller, req),
  },
  DeleteSubnet: {
    run: (svc, caller, req) => svc.vpc.deleteSubnet(caller, req),
  },
  CreateSecurityGroup: {
    run: (svc, caller, req) => svc.vpc.createSecurityGroup(caller, req),
  },
  DescribeSecurityGroups: {
    run: (svc, caller, req) => svc.vpc.describeSecurityGroups(caller, req),
  },
  DeleteSecurityGroup: {
    run: (svc, caller, req) => svc.vpc.deleteSecurityGroup(caller, req),
  },
  AuthorizeSecurityGroupIngress: {
    run: (svc, caller, req) => svc.vpc.authorizeSecurityGroupIngress(caller, req),
  },
  AuthorizeSecurityGroupEgress: {
    run: (svc, caller, req) => svc.vpc.authorizeSecurityGroupEgress(caller, req),
  },
  RevokeSecurityGroupIngress: {
    run: (svc, caller, req) => svc.vpc.revokeSecurityGroupIngress(caller, req),
  },
  RevokeSecurityGroupEgress: {
    run: (svc, caller, req) => svc.vpc.revokeSecurityGroupEgress(caller, req),
  },
  DescribeNetworkInterfaces: {
    run: (svc, caller, req) => svc.vpc.describeNetworkInterfaces(caller, req),
  },
  ModifyNetworkInterfaceAttribute: {
    run: (svc, caller, req) => svc.vpc.modifyNetworkInterfaceAttribute(caller, req),
  },
  ModifyInstanceAttribute: {
    run: modifyInstanceAttribute,
    resources: (svc, caller, req) => [instanceResource(svc, caller, req.instanceId)],
  },
  ModifyInstanceMetadataOptions: {
    run: (svc, caller, req) => svc.vpc.modifyInstanceMetadataOptions(caller, req),
  },
};
