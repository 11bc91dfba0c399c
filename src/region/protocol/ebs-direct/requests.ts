// Typed requests of the EBS direct APIs, parsed from a matched route, the query string, the
// headers and the body, with the model's constraints (botocore `ebs` 2019-11-02). Pure:
// every refusal is an EbsDirectError (ValidationException with the model's Reason).
import { EbsDirectError, validation } from './errors.js';
import { AGGREGATION_LINEAR, CHECKSUM_ALGORITHM, EBS_BLOCK_SIZE } from './checksum.js';
import type { EbsOperation, EbsRouteMatch } from './routes.js';

export interface EbsTag {
  readonly key: string;
  readonly value: string;
}

export interface StartSnapshotRequest {
  readonly operation: 'StartSnapshot';
  readonly volumeSize: number; // GiB
  readonly parentSnapshotId: string | undefined;
  readonly tags: readonly EbsTag[];
  readonly description: string | undefined;
  readonly clientToken: string | undefined;
  readonly encrypted: boolean | undefined;
  readonly kmsKeyArn: string | undefined;
  readonly timeout: number | undefined; // minutes
}

export interface PutSnapshotBlockRequest {
  readonly operation: 'PutSnapshotBlock';
  readonly snapshotId: string;
  readonly blockIndex: number;
  readonly data: Buffer;
  readonly dataLength: number;
  readonly progress: number | undefined;
  readonly checksum: string;
  readonly checksumAlgorithm: 'SHA256';
}

export interface CompleteSnapshotRequest {
  readonly operation: 'CompleteSnapshot';
  readonly snapshotId: string;
  readonly changedBlocksCount: number;
  readonly checksum: string | undefined;
  readonly checksumAlgorithm: 'SHA256' | undefined;
  readonly checksumAggregationMethod: 'LINEAR' | undefined;
}

export interface Paging {
  readonly nextToken: string | undefined;
  readonly maxResults: number | undefined;
  readonly startingBlockIndex: number | undefined;
}

export interface ListSnapshotBlocksRequest extends Paging {
  readonly operation: 'ListSnapshotBlocks';
  readonly snapshotId: string;
}

export interface ListChangedBlocksRequest extends Paging {
  readonly operation: 'ListChangedBlocks';
  readonly firstSnapshotId: string | undefined;
  readonly secondSnapshotId: string;
}

export interface GetSnapshotBlockRequest {
  readonly operation: 'GetSnapshotBlock';
  readonly snapshotId: string;
  readonly blockIndex: number;
  readonly blockToken: string;
}

export type EbsRequest = StartSnapshotRequest | PutSnapshotBlockRequest | CompleteSnapshotRequest | ListSnapshotBlocksRequest | ListChangedBlocksRequest | GetSnapshotBlockRequest;

/** Lower-case header names, as node gives them; repeated headers joined. */
export type EbsHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

const SNAPSHOT_ID_RE = /^snap-[0-9a-f]+$/;
const TOKEN_RE = /^[A-Za-z0-9+/=]+$/;
const KMS_ARN_RE = /^arn:aws[a-z-]*:kms:.*:[0-9]{12}:key\/.*$/;
const MAX_BLOCK_INDEX = 2 ** 31 - 1;

function header(h: EbsHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

function snapshotId(v: string | undefined, field: string): string {
  if (v === undefined || v === '') throw validation('INVALID_PARAMETER_VALUE', `The parameter ${field} is required.`, { field });
  if (v.length > 64 || !SNAPSHOT_ID_RE.test(v)) throw validation('INVALID_SNAPSHOT_ID', `The snapshot ID '${v.slice(0, 64)}' is not valid.`, { field });
  return v;
}

function integer(v: string | undefined, field: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?[0-9]{1,16}$/.test(v)) throw validation('INVALID_PARAMETER_VALUE', `The value of ${field} must be an integer.`, { field });
  const n = Number(v);
  if (n < min || n > max) throw validation('INVALID_PARAMETER_VALUE', `The value of ${field} must be from ${min} to ${max}.`, { field });
  return n;
}

function token(v: string | undefined, field: string, reason: 'INVALID_PAGE_TOKEN' | 'INVALID_BLOCK_TOKEN'): string | undefined {
  if (v === undefined) return undefined;
  if (v === '' || v.length > 256 || !TOKEN_RE.test(v)) throw validation(reason, `The ${field} is not valid.`, { field });
  return v;
}

function paging(q: URLSearchParams): Paging {
  return {
    nextToken: token(q.get('pageToken') ?? undefined, 'pageToken', 'INVALID_PAGE_TOKEN'),
    maxResults: integer(q.get('maxResults') ?? undefined, 'maxResults', 100, 10000),
    startingBlockIndex: integer(q.get('startingBlockIndex') ?? undefined, 'startingBlockIndex', 0, MAX_BLOCK_INDEX),
  };
}

function jsonBody(body: Uint8Array): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw validation('INVALID_PARAMETER_VALUE', 'The request body is not valid JSON.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw validation('INVALID_PARAMETER_VALUE', 'The request body must be a JSON object.');
  return v as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, k: string, max: number, re?: RegExp): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > max || (re && !re.test(v))) throw validation('INVALID_PARAMETER_VALUE', `The value of ${k} is not valid.`, { field: k });
  return v;
}

function parseStart(o: Record<string, unknown>): StartSnapshotRequest {
  const known = ['VolumeSize', 'ParentSnapshotId', 'Tags', 'Description', 'ClientToken', 'Encrypted', 'KmsKeyArn', 'Timeout'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw validation('INVALID_PARAMETER_VALUE', `Unknown parameter ${k.slice(0, 64)}.`, { field: k.slice(0, 64) });
  const size = o['VolumeSize'];
  if (size === undefined) throw validation('INVALID_PARAMETER_VALUE', 'The parameter VolumeSize is required.', { field: 'VolumeSize' });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw validation('INVALID_VOLUME_SIZE', 'VolumeSize must be a positive number of GiB.', { field: 'VolumeSize' });
  if (size > 65536) throw validation('INVALID_VOLUME_SIZE', 'VolumeSize must be at most 65536 GiB.', { field: 'VolumeSize' });
  const parentRaw = optString(o, 'ParentSnapshotId', 64);
  const tagsRaw = o['Tags'];
  const tags: EbsTag[] = [];
  if (tagsRaw !== undefined && tagsRaw !== null) {
    if (!Array.isArray(tagsRaw)) throw validation('INVALID_TAG', 'Tags must be a list.', { field: 'Tags' });
    for (const t of tagsRaw as unknown[]) {
      const tt = t as { Key?: unknown; Value?: unknown } | null;
      if (typeof tt !== 'object' || tt === null || typeof tt.Key !== 'string' || tt.Key === '' || tt.Key.length > 127 || (tt.Value !== undefined && (typeof tt.Value !== 'string' || tt.Value.length > 255))) {
        throw validation('INVALID_TAG', 'Each tag needs a Key of 1 to 127 characters and a Value of at most 255.', { field: 'Tags' });
      }
      if (tt.Key.startsWith('aws:')) throw validation('INVALID_TAG', "Tag keys starting with 'aws:' are reserved.", { field: 'Tags' });
      tags.push({ key: tt.Key, value: typeof tt.Value === 'string' ? tt.Value : '' });
    }
    if (tags.length > 50) throw validation('INVALID_TAG', 'A snapshot has at most 50 tags.', { field: 'Tags' });
  }
  const enc = o['Encrypted'];
  if (enc !== undefined && enc !== null && typeof enc !== 'boolean') throw validation('INVALID_PARAMETER_VALUE', 'Encrypted must be a boolean.', { field: 'Encrypted' });
  const kmsKeyArn = optString(o, 'KmsKeyArn', 2048);
  if (kmsKeyArn !== undefined && !KMS_ARN_RE.test(kmsKeyArn)) throw validation('INVALID_CUSTOMER_KEY', 'KmsKeyArn must be the ARN of a KMS key.', { field: 'KmsKeyArn' });
  const timeout = o['Timeout'];
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 10 || timeout > 4320)) {
    throw validation('INVALID_PARAMETER_VALUE', 'Timeout must be from 10 to 4320 minutes.', { field: 'Timeout' });
  }
  const description = optString(o, 'Description', 255);
  const clientToken = optString(o, 'ClientToken', 255, /^\S+$/);
  return {
    operation: 'StartSnapshot',
    volumeSize: size,
    parentSnapshotId: parentRaw === undefined ? undefined : snapshotId(parentRaw, 'ParentSnapshotId'),
    tags,
    description,
    clientToken,
    encrypted: typeof enc === 'boolean' ? enc : undefined,
    kmsKeyArn,
    timeout: typeof timeout === 'number' ? timeout : undefined,
  };
}

function parsePut(labels: Readonly<Record<string, string>>, h: EbsHeaders, body: Uint8Array): PutSnapshotBlockRequest {
  const snap = snapshotId(labels['snapshotId'], 'SnapshotId');
  const blockIndex = integer(labels['blockIndex'], 'BlockIndex', 0, MAX_BLOCK_INDEX)!;
  const dataLength = integer(header(h, 'x-amz-Data-Length'), 'DataLength', 0, 2 ** 31);
  if (dataLength === undefined) throw validation('INVALID_PARAMETER_VALUE', 'The header x-amz-Data-Length is required.', { field: 'DataLength' });
  const checksum = header(h, 'x-amz-Checksum');
  if (checksum === undefined || checksum === '') throw validation('INVALID_PARAMETER_VALUE', 'The header x-amz-Checksum is required.', { field: 'Checksum' });
  if (checksum.length > 64 || !TOKEN_RE.test(checksum)) throw validation('INVALID_PARAMETER_VALUE', 'The checksum must be base64.', { field: 'Checksum' });
  const algo = header(h, 'x-amz-Checksum-Algorithm');
  if (algo !== CHECKSUM_ALGORITHM) throw validation('INVALID_PARAMETER_VALUE', `The header x-amz-Checksum-Algorithm must be ${CHECKSUM_ALGORITHM}.`, { field: 'ChecksumAlgorithm' });
  const progress = integer(header(h, 'x-amz-Progress'), 'Progress', 0, 100);
  const encoding = header(h, 'content-encoding');
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') throw validation('INVALID_CONTENT_ENCODING', `The content encoding '${encoding.slice(0, 32)}' is not supported.`);
  if (dataLength !== EBS_BLOCK_SIZE) throw validation('INVALID_BLOCK', `DataLength must be ${EBS_BLOCK_SIZE} (one block).`, { field: 'DataLength', dataLength });
  if (body.length !== dataLength) throw validation('INVALID_BLOCK', `The block carries ${body.length} bytes; x-amz-Data-Length says ${dataLength}.`, { field: 'BlockData' });
  return { operation: 'PutSnapshotBlock', snapshotId: snap, blockIndex, data: Buffer.from(body.buffer, body.byteOffset, body.byteLength), dataLength, progress, checksum, checksumAlgorithm: 'SHA256' };
}

function parseComplete(labels: Readonly<Record<string, string>>, h: EbsHeaders): CompleteSnapshotRequest {
  const snap = snapshotId(labels['snapshotId'], 'SnapshotId');
  const count = integer(header(h, 'x-amz-ChangedBlocksCount'), 'ChangedBlocksCount', 0, MAX_BLOCK_INDEX);
  if (count === undefined) throw validation('INVALID_PARAMETER_VALUE', 'The header x-amz-ChangedBlocksCount is required.', { field: 'ChangedBlocksCount' });
  const checksum = header(h, 'x-amz-Checksum');
  if (checksum !== undefined && (checksum.length > 64 || !TOKEN_RE.test(checksum))) throw validation('INVALID_PARAMETER_VALUE', 'The checksum must be base64.', { field: 'Checksum' });
  const algo = header(h, 'x-amz-Checksum-Algorithm');
  if (algo !== undefined && algo !== CHECKSUM_ALGORITHM) throw validation('INVALID_PARAMETER_VALUE', `ChecksumAlgorithm must be ${CHECKSUM_ALGORITHM}.`, { field: 'ChecksumAlgorithm' });
  const agg = header(h, 'x-amz-Checksum-Aggregation-Method');
  if (agg !== undefined && agg !== AGGREGATION_LINEAR) throw validation('INVALID_PARAMETER_VALUE', `ChecksumAggregationMethod must be ${AGGREGATION_LINEAR}.`, { field: 'ChecksumAggregationMethod' });
  if (checksum !== undefined && (algo === undefined || agg === undefined)) {
    throw validation('INVALID_PARAMETER_VALUE', 'A checksum needs x-amz-Checksum-Algorithm and x-amz-Checksum-Aggregation-Method.', { field: 'Checksum' });
  }
  return {
    operation: 'CompleteSnapshot',
    snapshotId: snap,
    changedBlocksCount: count,
    checksum,
    checksumAlgorithm: algo === undefined ? undefined : 'SHA256',
    checksumAggregationMethod: agg === undefined ? undefined : 'LINEAR',
  };
}

/** Parses one request whose route matched. `query` is the raw query string without '?'. */
export function parseEbsRequest(route: EbsRouteMatch, query: string, headers: EbsHeaders, body: Uint8Array): EbsRequest {
  const q = new URLSearchParams(query);
  const op: EbsOperation = route.operation;
  switch (op) {
    case 'StartSnapshot':
      return parseStart(jsonBody(body));
    case 'PutSnapshotBlock':
      return parsePut(route.labels, headers, body);
    case 'CompleteSnapshot':
      return parseComplete(route.labels, headers);
    case 'ListSnapshotBlocks':
      return { operation: op, snapshotId: snapshotId(route.labels['snapshotId'], 'SnapshotId'), ...paging(q) };
    case 'ListChangedBlocks': {
      const first = q.get('firstSnapshotId');
      return {
        operation: op,
        secondSnapshotId: snapshotId(route.labels['secondSnapshotId'], 'SecondSnapshotId'),
        firstSnapshotId: first === null ? undefined : snapshotId(first, 'FirstSnapshotId'),
        ...paging(q),
      };
    }
    case 'GetSnapshotBlock': {
      const t = token(q.get('blockToken') ?? undefined, 'blockToken', 'INVALID_BLOCK_TOKEN');
      if (t === undefined) throw validation('INVALID_BLOCK_TOKEN', 'The parameter blockToken is required.', { field: 'BlockToken' });
      return { operation: op, snapshotId: snapshotId(route.labels['snapshotId'], 'SnapshotId'), blockIndex: integer(route.labels['blockIndex'], 'BlockIndex', 0, MAX_BLOCK_INDEX)!, blockToken: t };
    }
  }
}

/** The request's parameters for the audit record: never block data. */
export function auditParameters(r: EbsRequest): Record<string, unknown> {
  switch (r.operation) {
    case 'PutSnapshotBlock': {
      const { data: _d, ...rest } = r;
      return { ...rest };
    }
    case 'GetSnapshotBlock': {
      const { blockToken: _t, ...rest } = r;
      return { ...rest };
    }
    default:
      return { ...r };
  }
}

/** Page tokens: base64 of "i:<next block index>". */
export const encodePageToken = (nextIndex: number): string => Buffer.from(`i:${nextIndex}`).toString('base64');

export function decodePageToken(t: string): number {
  const m = /^i:([0-9]{1,10})$/.exec(Buffer.from(t, 'base64').toString('latin1'));
  if (!m) throw validation('INVALID_PAGE_TOKEN', 'The page token is not valid.', { field: 'NextToken' });
  return Number(m[1]);
}

export { EbsDirectError };
