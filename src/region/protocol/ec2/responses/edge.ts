// EC2 responses, the VPC edge: internet gateways, route tables, Elastic IP addresses and the VPC
// attributes: the typed results and their XML writers (element names from botocore's ec2 model).

import type { XmlWriter } from '../../../../lib/xml.js';
import type { VpcAttributeName } from '../requests/edge.js';
import { type TagItem, writeReturn, type WriterTable, writeTags } from './common.js';

export interface InternetGateway {
  readonly internetGatewayId: string;
  readonly ownerId: string;
  /** EC2 shows an attached gateway's VPC with state 'available'. */
  readonly attachments: readonly { readonly vpcId: string; readonly state: 'attaching' | 'attached' | 'detaching' | 'detached' | 'available' }[];
  readonly tags: readonly TagItem[];
}

export interface Route {
  readonly destinationCidrBlock: string;
  /** 'local' or igw-… */
  readonly gatewayId: string;
  readonly origin: 'CreateRouteTable' | 'CreateRoute' | 'EnableVgwRoutePropagation';
  /** 'blackhole' when the gateway is gone or detached. */
  readonly state: 'active' | 'blackhole';
}

export interface RouteTableAssociation {
  readonly main: boolean;
  readonly routeTableAssociationId: string;
  readonly routeTableId: string;
  readonly subnetId?: string | undefined;
  readonly state: 'associating' | 'associated' | 'disassociating' | 'disassociated' | 'failed';
}

export interface RouteTable {
  readonly routeTableId: string;
  readonly vpcId: string;
  readonly ownerId: string;
  readonly routes: readonly Route[];
  readonly associations: readonly RouteTableAssociation[];
  readonly tags: readonly TagItem[];
}

export interface Address {
  readonly allocationId: string;
  readonly publicIp: string;
  readonly domain: 'vpc';
  readonly associationId?: string | undefined;
  readonly instanceId?: string | undefined;
  readonly networkInterfaceId?: string | undefined;
  readonly networkInterfaceOwnerId?: string | undefined;
  readonly privateIpAddress?: string | undefined;
  readonly subnetId?: string | undefined;
  readonly publicIpv4Pool: string;
  readonly networkBorderGroup: string;
  readonly tags: readonly TagItem[];
}

export type EdgeResponse =
  | {
      readonly action:
        | 'AttachInternetGateway'
        | 'DetachInternetGateway'
        | 'DeleteInternetGateway'
        | 'DeleteRouteTable'
        | 'CreateRoute'
        | 'ReplaceRoute'
        | 'DeleteRoute'
        | 'DisassociateRouteTable'
        | 'DisassociateAddress'
        | 'ReleaseAddress'
        | 'ModifyVpcAttribute'
        | 'ModifySubnetAttribute';
    }
  | { readonly action: 'CreateInternetGateway'; readonly internetGateway: InternetGateway }
  | { readonly action: 'DescribeInternetGateways'; readonly internetGateways: readonly InternetGateway[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CreateRouteTable'; readonly routeTable: RouteTable; readonly clientToken?: string | undefined }
  | { readonly action: 'DescribeRouteTables'; readonly routeTables: readonly RouteTable[]; readonly nextToken?: string | undefined }
  | { readonly action: 'AssociateRouteTable'; readonly associationId: string }
  | { readonly action: 'ReplaceRouteTableAssociation'; readonly newAssociationId: string }
  | { readonly action: 'AllocateAddress'; readonly address: Address }
  | { readonly action: 'AssociateAddress'; readonly associationId: string }
  | { readonly action: 'DescribeAddresses'; readonly addresses: readonly Address[] }
  | { readonly action: 'DescribeVpcAttribute'; readonly vpcId: string; readonly attribute: VpcAttributeName; readonly value: boolean };

export function writeInternetGateway(w: XmlWriter, g: InternetGateway): void {
  w.leaf('internetGatewayId', g.internetGatewayId).leaf('ownerId', g.ownerId);
  w.list('attachmentSet', g.attachments, (x, a) => x.leaf('vpcId', a.vpcId).leaf('state', a.state));
  // EC2 sends tagSet for gateways even when empty.
  w.list('tagSet', g.tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
}

export function writeRouteTable(w: XmlWriter, t: RouteTable): void {
  w.leaf('routeTableId', t.routeTableId).leaf('vpcId', t.vpcId).leaf('ownerId', t.ownerId);
  w.list('routeSet', t.routes, (x, r) => x.leaf('destinationCidrBlock', r.destinationCidrBlock).leaf('gatewayId', r.gatewayId).leaf('state', r.state).leaf('origin', r.origin));
  w.list('associationSet', t.associations, (x, a) => {
    x.leaf('routeTableAssociationId', a.routeTableAssociationId).leaf('routeTableId', a.routeTableId).leaf('subnetId', a.subnetId).leaf('main', a.main);
    x.open('associationState').leaf('state', a.state).close();
  });
  w.empty('propagatingVgwSet');
  w.list('tagSet', t.tags, (x, g) => x.leaf('key', g.key).leaf('value', g.value));
}

export function writeAddress(w: XmlWriter, a: Address): void {
  w.leaf('publicIp', a.publicIp).leaf('allocationId', a.allocationId).leaf('domain', a.domain);
  w.leaf('instanceId', a.instanceId).leaf('associationId', a.associationId).leaf('networkInterfaceId', a.networkInterfaceId).leaf('networkInterfaceOwnerId', a.networkInterfaceOwnerId);
  w.leaf('privateIpAddress', a.privateIpAddress).leaf('subnetId', a.subnetId);
  writeTags(w, a.tags);
  w.leaf('publicIpv4Pool', a.publicIpv4Pool).leaf('networkBorderGroup', a.networkBorderGroup);
}

function writeAssociationState(w: XmlWriter): void {
  w.open('associationState').leaf('state', 'associated').close();
}

export const EDGE_WRITERS: WriterTable<EdgeResponse> = {
  AttachInternetGateway: writeReturn,
  DetachInternetGateway: writeReturn,
  DeleteInternetGateway: writeReturn,
  DeleteRouteTable: writeReturn,
  CreateRoute: writeReturn,
  ReplaceRoute: writeReturn,
  DeleteRoute: writeReturn,
  DisassociateRouteTable: writeReturn,
  DisassociateAddress: writeReturn,
  ReleaseAddress: writeReturn,
  ModifyVpcAttribute: writeReturn,
  ModifySubnetAttribute: writeReturn,
  CreateInternetGateway: (w, r) => {
    w.element('internetGateway', (x) => writeInternetGateway(x, r.internetGateway));
  },
  DescribeInternetGateways(w, r) {
    w.list('internetGatewaySet', r.internetGateways, writeInternetGateway);
    w.leaf('nextToken', r.nextToken);
  },
  CreateRouteTable(w, r) {
    w.element('routeTable', (x) => writeRouteTable(x, r.routeTable));
    w.leaf('clientToken', r.clientToken);
  },
  DescribeRouteTables(w, r) {
    w.list('routeTableSet', r.routeTables, writeRouteTable);
    w.leaf('nextToken', r.nextToken);
  },
  AssociateRouteTable(w, r) {
    w.leaf('associationId', r.associationId);
    writeAssociationState(w);
  },
  ReplaceRouteTableAssociation(w, r) {
    w.leaf('newAssociationId', r.newAssociationId);
    writeAssociationState(w);
  },
  AllocateAddress(w, r) {
    const a = r.address;
    w.leaf('publicIp', a.publicIp).leaf('domain', a.domain).leaf('allocationId', a.allocationId).leaf('publicIpv4Pool', a.publicIpv4Pool).leaf('networkBorderGroup', a.networkBorderGroup);
  },
  AssociateAddress(w, r) {
    w.leaf('return', true).leaf('associationId', r.associationId);
  },
  DescribeAddresses(w, r) {
    w.list('addressesSet', r.addresses, writeAddress);
  },
  DescribeVpcAttribute(w, r) {
    w.leaf('vpcId', r.vpcId);
    w.open(r.attribute).leaf('value', r.value).close();
  },
};
