// Rendering of the EBS direct APIs' answers (rest-json): status, headers and body per
// operation, and the error shape botocore and the SDKs read (x-amzn-errortype plus a JSON
// body with the exception's members). Timestamps are epoch seconds. Pure.
import { CHECKSUM_ALGORITHM, EBS_BLOCK_SIZE } from './checksum.js';
import { EBS_ERROR_STATUS, type EbsDirectErrorCode } from './errors.js';
import type { EbsTag } from './requests.js';

export const EBS_JSON_CONTENT_TYPE = 'application/json';

export interface EbsReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface SnapshotSummary {
  readonly snapshotId: string;
  readonly ownerId: string;
  readonly status: 'pending' | 'completed' | 'error';
  readonly startTime: Date;
  readonly volumeSize: number;
  readonly description: string | undefined;
  readonly tags: readonly EbsTag[];
  readonly parentSnapshotId: string | undefined;
  readonly kmsKeyArn: string | undefined;
  readonly sseType: 'sse-ebs' | 'sse-kms' | 'none';
}

export interface BlockPage<B> {
  readonly blocks: readonly B[];
  readonly volumeSize: number;
  readonly expiryTime: Date;
  readonly nextToken: string | undefined;
}

const epoch = (d: Date): number => Math.floor(d.getTime() / 1000);

function json(status: number, v: unknown, extra: Record<string, string> = {}): EbsReply {
  const body = Buffer.from(JSON.stringify(v));
  return { status, headers: { 'content-type': EBS_JSON_CONTENT_TYPE, ...extra }, body };
}

const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export function renderStartSnapshot(s: SnapshotSummary): EbsReply {
  return json(
    201,
    defined({
      Description: s.description,
      SnapshotId: s.snapshotId,
      OwnerId: s.ownerId,
      Status: s.status,
      StartTime: epoch(s.startTime),
      VolumeSize: s.volumeSize,
      BlockSize: EBS_BLOCK_SIZE,
      Tags: s.tags.length > 0 ? s.tags.map((t) => ({ Key: t.key, Value: t.value })) : undefined,
      ParentSnapshotId: s.parentSnapshotId,
      KmsKeyArn: s.kmsKeyArn,
      SseType: s.sseType,
    }),
  );
}

export function renderPutSnapshotBlock(checksum: string): EbsReply {
  return json(201, {}, { 'x-amz-Checksum': checksum, 'x-amz-Checksum-Algorithm': CHECKSUM_ALGORITHM });
}

export function renderCompleteSnapshot(status: 'pending' | 'completed' | 'error'): EbsReply {
  return json(202, { Status: status });
}

export function renderListSnapshotBlocks(p: BlockPage<{ index: number; token: string }>): EbsReply {
  return json(
    200,
    defined({
      Blocks: p.blocks.map((b) => ({ BlockIndex: b.index, BlockToken: b.token })),
      ExpiryTime: epoch(p.expiryTime),
      VolumeSize: p.volumeSize,
      BlockSize: EBS_BLOCK_SIZE,
      NextToken: p.nextToken,
    }),
  );
}

export function renderListChangedBlocks(p: BlockPage<{ index: number; firstToken: string | undefined; secondToken: string | undefined }>): EbsReply {
  return json(
    200,
    defined({
      ChangedBlocks: p.blocks.map((b) => defined({ BlockIndex: b.index, FirstBlockToken: b.firstToken, SecondBlockToken: b.secondToken })),
      ExpiryTime: epoch(p.expiryTime),
      VolumeSize: p.volumeSize,
      BlockSize: EBS_BLOCK_SIZE,
      NextToken: p.nextToken,
    }),
  );
}

export function renderGetSnapshotBlock(data: Buffer, checksum: string): EbsReply {
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'x-amz-Data-Length': String(data.length), 'x-amz-Checksum': checksum, 'x-amz-Checksum-Algorithm': CHECKSUM_ALGORITHM },
    body: data,
  };
}

/** An exception as rest-json carries it: the type in x-amzn-errortype, the members in the body. */
export function renderEbsError(code: EbsDirectErrorCode | 'UnknownOperationException' | 'MissingAuthenticationTokenException' | 'UnrecognizedClientException' | 'InvalidSignatureException' | 'IncompleteSignatureException' | 'ExpiredTokenException', message: string, reason?: string, status?: number): EbsReply {
  const st = status ?? (code in EBS_ERROR_STATUS ? EBS_ERROR_STATUS[code as EbsDirectErrorCode] : 400);
  return json(st, defined({ Message: message.slice(0, 256), Reason: reason }), { 'x-amzn-errortype': code });
}
