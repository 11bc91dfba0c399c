// The EC2 API's VPC edge actions over EdgeService: internet gateways, route tables, Elastic IPs
// and the VPC/subnet attributes. Changes run one at a time (EdgeService.serial); authorization
// and audit happen in server.ts first.
import type { EdgeRequest } from '../../protocol/ec2/requests/index.js';
import type { ActionTable } from './common.js';

export const EDGE_ACTIONS: ActionTable<EdgeRequest> = {
  CreateInternetGateway: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.createInternetGateway(caller, req)), summary: (r) => ({ internetGatewayId: r.internetGateway.internetGatewayId }) },
  AttachInternetGateway: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.attachInternetGateway(caller, req)) },
  DetachInternetGateway: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.detachInternetGateway(caller, req)) },
  DeleteInternetGateway: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.deleteInternetGateway(caller, req)) },
  DescribeInternetGateways: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.describeInternetGateways(caller, req)) },
  CreateRouteTable: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.createRouteTable(caller, req)), summary: (r) => ({ routeTableId: r.routeTable.routeTableId }) },
  DeleteRouteTable: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.deleteRouteTable(caller, req)) },
  DescribeRouteTables: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.describeRouteTables(caller, req)) },
  CreateRoute: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.createRoute(caller, req)) },
  ReplaceRoute: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.replaceRoute(caller, req)) },
  DeleteRoute: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.deleteRoute(caller, req)) },
  AssociateRouteTable: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.associateRouteTable(caller, req)), summary: (r) => ({ associationId: r.associationId }) },
  DisassociateRouteTable: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.disassociateRouteTable(caller, req)) },
  ReplaceRouteTableAssociation: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.replaceRouteTableAssociation(caller, req)), summary: (r) => ({ newAssociationId: r.newAssociationId }) },
  AllocateAddress: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.addresses.allocateAddress(caller, req)), summary: (r) => ({ allocationId: r.address.allocationId, publicIp: r.address.publicIp }) },
  AssociateAddress: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.addresses.associateAddress(caller, req)), summary: (r) => ({ associationId: r.associationId }) },
  DisassociateAddress: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.addresses.disassociateAddress(caller, req)) },
  ReleaseAddress: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.addresses.releaseAddress(caller, req)) },
  DescribeAddresses: { run: (svc, caller, req) => svc.edge.addresses.describeAddresses(caller, req) },
  DescribeVpcAttribute: { run: (svc, caller, req) => svc.edge.routing.describeVpcAttribute(caller, req) },
  ModifyVpcAttribute: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.routing.modifyVpcAttribute(caller, req)) },
  ModifySubnetAttribute: { run: (svc, caller, req) => svc.edge.serial(() => svc.edge.addresses.modifySubnetAttribute(caller, req)) },
};
