// EC2 Query responses: typed results in, the XML EC2 answers with out.
//
//   renderEc2Response(requestId, response) → '<?xml …?><DescribeInstancesResponse xmlns="…">…'
//   renderEc2Error(requestId, code, message) → { status, body }   (EC2's <Response><Errors>… body)
//
// Element names are the locationNames of botocore's ec2/2016-11-15 model: every list is a
// <xxxSet> (or the model's name) of <item> children; absent optional members are omitted;
// timestamps are ISO 8601 with milliseconds (what EC2 sends and SDKs parse).
//
// One file per family, as for the requests: its result shapes, its union and one writer per
// action. To add a family: write <family>.ts and add it to the union and the writer table.

import { XmlWriter } from '../../../../lib/xml.js';
import { ec2HttpStatus, type Ec2Error } from '../../errors.js';
import type { Ec2Action } from '../requests/index.js';
import { EC2_XMLNS, type ResponseOf, type WriterTable } from './common.js';
import { EDGE_WRITERS, type EdgeResponse } from './edge.js';
import { HOST_WRITERS, type HostResponse } from './hosts.js';
import { IMAGE_WRITERS, type ImageResponse } from './images.js';
import { INSTANCE_WRITERS, type InstanceResponse } from './instances.js';
import { KEY_PAIR_WRITERS, type KeyPairResponse } from './key-pairs.js';
import { REGION_WRITERS, type RegionResponse } from './regions.js';
import { TAG_WRITERS, type TagResponse } from './tags.js';
import { VOLUME_WRITERS, type VolumeResponse } from './volumes.js';
import { VPC_WRITERS, type VpcResponse } from './vpc.js';
import { LAUNCH_TEMPLATE_WRITERS, type LaunchTemplateResponse } from './launch-templates.js';
import { ACCOUNT_WRITERS, type AccountResponse } from './account.js';

export * from './common.js';
export * from './edge.js';
export * from './hosts.js';
export * from './images.js';
export * from './instances.js';
export * from './key-pairs.js';
export * from './regions.js';
export * from './tags.js';
export * from './volumes.js';
export * from './vpc.js';
export * from './launch-templates.js';
export * from './account.js';

export type Ec2Response = InstanceResponse | HostResponse | ImageResponse | TagResponse | RegionResponse | VolumeResponse | VpcResponse | KeyPairResponse | AccountResponse | LaunchTemplateResponse | EdgeResponse;

/** The response of one action. */
export type ResponseFor<A extends Ec2Action> = ResponseOf<Ec2Response, A>;

// Every action's response is in the union, and only those (checked at compile time).
type _Covers = [Ec2Action] extends [Ec2Response['action']] ? ([Ec2Response['action']] extends [Ec2Action] ? true : never) : never;
const _covers: _Covers = true;
void _covers;

const WRITERS: WriterTable<Ec2Response> = {
  ...INSTANCE_WRITERS,
  ...HOST_WRITERS,
  ...IMAGE_WRITERS,
  ...TAG_WRITERS,
  ...REGION_WRITERS,
  ...VOLUME_WRITERS,
  ...VPC_WRITERS,
  ...KEY_PAIR_WRITERS,
  ...EDGE_WRITERS,
  ...ACCOUNT_WRITERS,
  ...LAUNCH_TEMPLATE_WRITERS,
};

/** The XML body of a successful EC2 response (HTTP 200, Content-Type text/xml;charset=UTF-8). */
export function renderEc2Response(requestId: string, response: Ec2Response): string {
  const w = new XmlWriter();
  w.open(`${response.action}Response`, { xmlns: EC2_XMLNS });
  w.leaf('requestId', requestId);
  (WRITERS[response.action] as (w: XmlWriter, r: Ec2Response) => void)(w, response);
  w.close();
  return w.toString();
}

/**
 * EC2's error document and HTTP status:
 * <Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>
 */
export function renderEc2Error(requestId: string, code: string, message: string, status: number = ec2HttpStatus(code)): { status: number; body: string } {
  const w = new XmlWriter();
  w.open('Response');
  w.open('Errors').open('Error').leaf('Code', code).leaf('Message', message).close().close();
  w.leaf('RequestID', requestId);
  w.close();
  return { status, body: w.toString() };
}

/** renderEc2Error for a thrown Ec2Error (its code, message and status). */
export function renderEc2ErrorFrom(requestId: string, e: Ec2Error): { status: number; body: string } {
  return renderEc2Error(requestId, e.code, e.message, e.httpStatus);
}

/** The content type EC2 answers with. */
export const EC2_CONTENT_TYPE = 'text/xml;charset=UTF-8';
