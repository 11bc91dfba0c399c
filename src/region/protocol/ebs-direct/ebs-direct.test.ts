// The EBS direct APIs' codec without HTTP: the route table against botocore's model, request
// parsing and its ValidationException reasons, the LINEAR aggregated checksum, block and page
// tokens, and the rendered shapes (rest-json: x-amzn-errortype + members in the body).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { seededInt } from '../../../lib/testing/seeded-rng.js';
import { blockChecksum, blockToken, EBS_BLOCK_SIZE, linearAggregate } from './checksum.js';
import { EbsDirectError } from './errors.js';
import { auditParameters, decodePageToken, encodePageToken, parseEbsRequest } from './requests.js';
import { renderEbsError, renderGetSnapshotBlock, renderListSnapshotBlocks, renderStartSnapshot } from './responses.js';
import { EBS_ROUTES, isEbsDirectPath, matchEbsRoute } from './routes.js';

const reasonOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof EbsDirectError, String(e));
    return `${e.code}/${e.reason ?? ''}`;
  }
  return 'no error';
};

test('routes: every operation of the botocore ebs model, with its method, URI and status', () => {
  // the model, read by botocore itself (a missing python3/botocore fails the test)
  const model = JSON.parse(
    execFileSync('python3', ['-c', 'import botocore.session,json;m=botocore.session.get_session().get_service_model("ebs");print(json.dumps({o:{"m":m.operation_model(o).http["method"],"u":m.operation_model(o).http["requestUri"],"s":m.operation_model(o).http.get("responseCode",200)} for o in m.operation_names}))'], { encoding: 'utf8' }),
  ) as Record<string, { m: string; u: string; s: number }>;
  assert.deepEqual(new Set(Object.keys(model)), new Set(EBS_ROUTES.map((r) => r.operation)));
  for (const r of EBS_ROUTES) {
    const m = model[r.operation]!;
    assert.equal(r.method, m.m, r.operation);
    assert.equal(`/${r.segments.join('/')}`, m.u, r.operation);
    assert.equal(r.status, m.s, r.operation);
  }
  assert.deepEqual(matchEbsRoute('POST', '/snapshots'), { operation: 'StartSnapshot', labels: {} });
  assert.deepEqual(matchEbsRoute('POST', '/snapshots/completion/snap-0123456789abcdef0'), { operation: 'CompleteSnapshot', labels: { snapshotId: 'snap-0123456789abcdef0' } });
  assert.deepEqual(matchEbsRoute('PUT', '/snapshots/snap-01234567/blocks/7'), { operation: 'PutSnapshotBlock', labels: { snapshotId: 'snap-01234567', blockIndex: '7' } });
  assert.deepEqual(matchEbsRoute('GET', '/snapshots/snap-01234567/blocks/7'), { operation: 'GetSnapshotBlock', labels: { snapshotId: 'snap-01234567', blockIndex: '7' } });
  assert.equal(matchEbsRoute('GET', '/snapshots/snap-01234567/blocks')?.operation, 'ListSnapshotBlocks');
  assert.equal(matchEbsRoute('GET', '/snapshots/snap-01234567/changedblocks')?.operation, 'ListChangedBlocks');
  assert.equal(matchEbsRoute('DELETE', '/snapshots/snap-01234567/blocks/7'), undefined);
  assert.equal(matchEbsRoute('GET', '/snapshots/snap-01234567/other'), undefined);
  assert.ok(isEbsDirectPath('/snapshots') && isEbsDirectPath('/snapshots/x') && !isEbsDirectPath('/') && !isEbsDirectPath('/snapshotsx'));
});

test('requests: typed, with the model constraints and reasons', () => {
  const block = Buffer.alloc(EBS_BLOCK_SIZE, 7);
  const sum = blockChecksum(block);
  const put = (h: Record<string, string>, body: Buffer = block, idx = '3') =>
    parseEbsRequest({ operation: 'PutSnapshotBlock', labels: { snapshotId: 'snap-0123456789abcdef0', blockIndex: idx } }, '', h, body);
  const good = { 'x-amz-data-length': String(EBS_BLOCK_SIZE), 'x-amz-checksum': sum, 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-progress': '12' };
  const p = put(good);
  assert.equal(p.operation, 'PutSnapshotBlock');
  assert.ok(p.operation === 'PutSnapshotBlock' && p.blockIndex === 3 && p.progress === 12 && p.checksum === sum && p.data.equals(block));
  assert.equal(reasonOf(() => put({ ...good, 'x-amz-checksum-algorithm': 'MD5' })), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => put({ ...good, 'x-amz-data-length': '4096' }, Buffer.alloc(4096))), 'ValidationException/INVALID_BLOCK');
  assert.equal(reasonOf(() => put(good, Buffer.alloc(10))), 'ValidationException/INVALID_BLOCK');
  assert.equal(reasonOf(() => put({ ...good, 'x-amz-progress': '101' })), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => put({ ...good, 'content-encoding': 'gzip' })), 'ValidationException/INVALID_CONTENT_ENCODING');
  assert.equal(reasonOf(() => put(good, block, '-1')), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => parseEbsRequest({ operation: 'ListSnapshotBlocks', labels: { snapshotId: 'vol-1234' } }, '', {}, Buffer.alloc(0))), 'ValidationException/INVALID_SNAPSHOT_ID');
  assert.equal(auditParameters(p)['data'], undefined, 'no block data in the audit record');

  const start = (o: unknown) => parseEbsRequest({ operation: 'StartSnapshot', labels: {} }, '', {}, Buffer.from(JSON.stringify(o)));
  const s = start({ VolumeSize: 8, Encrypted: true, KmsKeyArn: 'arn:aws:kms:local-1:123456789012:key/abc', Tags: [{ Key: 'a', Value: 'b' }], Timeout: 60, ClientToken: 't1' });
  assert.ok(s.operation === 'StartSnapshot' && s.volumeSize === 8 && s.encrypted === true && s.tags[0]?.key === 'a' && s.clientToken === 't1');
  assert.equal(reasonOf(() => start({})), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => start({ VolumeSize: 0 })), 'ValidationException/INVALID_VOLUME_SIZE');
  assert.equal(reasonOf(() => start({ VolumeSize: 1, KmsKeyArn: 'alias/x' })), 'ValidationException/INVALID_CUSTOMER_KEY');
  assert.equal(reasonOf(() => start({ VolumeSize: 1, Timeout: 5 })), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => start({ VolumeSize: 1, Tags: [{ Key: 'aws:x', Value: '' }] })), 'ValidationException/INVALID_TAG');
  assert.equal(reasonOf(() => parseEbsRequest({ operation: 'StartSnapshot', labels: {} }, '', {}, Buffer.from('{'))), 'ValidationException/INVALID_PARAMETER_VALUE');

  const complete = (h: Record<string, string>) => parseEbsRequest({ operation: 'CompleteSnapshot', labels: { snapshotId: 'snap-01234567' } }, '', h, Buffer.alloc(0));
  const c = complete({ 'x-amz-changedblockscount': '2', 'x-amz-checksum': sum, 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-checksum-aggregation-method': 'LINEAR' });
  assert.ok(c.operation === 'CompleteSnapshot' && c.changedBlocksCount === 2 && c.checksumAggregationMethod === 'LINEAR');
  assert.equal(reasonOf(() => complete({})), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => complete({ 'x-amz-changedblockscount': '1', 'x-amz-checksum': sum, 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-checksum-aggregation-method': 'TREE' })), 'ValidationException/INVALID_PARAMETER_VALUE');

  const list = parseEbsRequest({ operation: 'ListSnapshotBlocks', labels: { snapshotId: 'snap-01234567' } }, `maxResults=100&startingBlockIndex=5&pageToken=${encodeURIComponent(encodePageToken(9))}`, {}, Buffer.alloc(0));
  assert.ok(list.operation === 'ListSnapshotBlocks' && list.maxResults === 100 && list.startingBlockIndex === 5 && decodePageToken(list.nextToken!) === 9);
  assert.equal(reasonOf(() => parseEbsRequest({ operation: 'ListSnapshotBlocks', labels: { snapshotId: 'snap-01234567' } }, 'maxResults=99', {}, Buffer.alloc(0))), 'ValidationException/INVALID_PARAMETER_VALUE');
  assert.equal(reasonOf(() => decodePageToken(Buffer.from('nope').toString('base64'))), 'ValidationException/INVALID_PAGE_TOKEN');
  assert.equal(reasonOf(() => parseEbsRequest({ operation: 'GetSnapshotBlock', labels: { snapshotId: 'snap-01234567', blockIndex: '1' } }, '', {}, Buffer.alloc(0))), 'ValidationException/INVALID_BLOCK_TOKEN');
});

test('checksums: LINEAR is SHA256 over the per-block SHA256 digests in block-index order', () => {
  const blocks = [9, 2, 5].map((i) => [i, Buffer.alloc(EBS_BLOCK_SIZE, i)] as const);
  const byIndex = [...blocks].sort((a, b) => a[0] - b[0]);
  const expected = createHash('sha256');
  for (const [, d] of byIndex) expected.update(createHash('sha256').update(d).digest());
  assert.equal(linearAggregate(blocks.map(([i, d]) => [i, blockChecksum(d)] as const)), expected.digest('base64'));
  // python's hashlib agrees (an independent implementation)
  const py = execFileSync('python3', ['-c', 'import hashlib,base64;h=b"".join(hashlib.sha256(bytes([i])*524288).digest() for i in (2,5,9));print(base64.b64encode(hashlib.sha256(h).digest()).decode())'], { encoding: 'utf8' }).trim();
  assert.equal(linearAggregate(blocks.map(([i, d]) => [i, blockChecksum(d)] as const)), py);
  assert.equal(linearAggregate([]), createHash('sha256').digest('base64'));
  // block tokens name a version of a block
  const t = blockToken('snap-01234567', 1, blockChecksum(Buffer.alloc(1)));
  assert.match(t, /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(t, blockToken('snap-01234567', 2, blockChecksum(Buffer.alloc(1))));
  assert.notEqual(t, blockToken('snap-01234567', 1, blockChecksum(Buffer.alloc(2))));
});

test('responses: rest-json shapes and errors', () => {
  const st = renderStartSnapshot({ snapshotId: 'snap-01234567', ownerId: '123456789012', status: 'pending', startTime: new Date(1_700_000_000_500), volumeSize: 8, description: undefined, tags: [], parentSnapshotId: undefined, kmsKeyArn: undefined, sseType: 'none' });
  assert.equal(st.status, 201);
  assert.deepEqual(JSON.parse(st.body.toString()), { SnapshotId: 'snap-01234567', OwnerId: '123456789012', Status: 'pending', StartTime: 1_700_000_000, VolumeSize: 8, BlockSize: EBS_BLOCK_SIZE, SseType: 'none' });
  const l = renderListSnapshotBlocks({ blocks: [{ index: 1, token: 'AA==' }], volumeSize: 8, expiryTime: new Date(2_000_000_000_000), nextToken: undefined });
  assert.deepEqual(JSON.parse(l.body.toString()), { Blocks: [{ BlockIndex: 1, BlockToken: 'AA==' }], ExpiryTime: 2_000_000_000, VolumeSize: 8, BlockSize: EBS_BLOCK_SIZE });
  const g = renderGetSnapshotBlock(Buffer.alloc(8, 1), 'x=');
  assert.equal(g.headers['x-amz-Data-Length'], '8');
  assert.equal(g.headers['content-type'], 'application/octet-stream');
  const e = renderEbsError('ValidationException', 'bad', 'INVALID_BLOCK');
  assert.equal(e.status, 400);
  assert.equal(e.headers['x-amzn-errortype'], 'ValidationException');
  assert.deepEqual(JSON.parse(e.body.toString()), { Message: 'bad', Reason: 'INVALID_BLOCK' });
  assert.equal(renderEbsError('ResourceNotFoundException', 'x').status, 404);
  assert.equal(renderEbsError('ConflictException', 'x').status, 409);
});

test('a seeded random-input loop: the router and parser answer only with clean ValidationExceptions', () => {
  const rnd = seededInt(0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const junk = (): string => Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256))).toString(pick(['latin1', 'base64', 'hex', 'utf8'] as const));
  const paths = ['/snapshots', '/snapshots/', `/snapshots/${junk()}`, '/snapshots/snap-01234567/blocks/', '/snapshots/snap-01234567/blocks/%ff', '/snapshots/completion/', '/snapshots/snap-1/changedblocks'];
  for (let i = 0; i < 3000; i++) {
    const path = rnd(3) === 0 ? `/snapshots/${encodeURIComponent(junk())}/${pick(['blocks', 'changedblocks', 'completion'])}/${junk()}` : pick(paths);
    const method = pick(['GET', 'PUT', 'POST', 'DELETE']);
    const route = matchEbsRoute(method, path);
    if (!route) continue;
    const headers: Record<string, string> = {};
    for (const h of ['x-amz-data-length', 'x-amz-checksum', 'x-amz-checksum-algorithm', 'x-amz-progress', 'x-amz-changedblockscount', 'x-amz-checksum-aggregation-method', 'content-encoding']) if (rnd(2)) headers[h] = rnd(2) ? junk() : String(rnd(600000) - 10);
    const body = rnd(3) === 0 ? Buffer.from(JSON.stringify({ VolumeSize: rnd(3) ? rnd(100) : junk(), Tags: rnd(2) ? [{ Key: junk(), Value: junk() }] : junk(), Timeout: rnd(5000) })) : Buffer.from(junk());
    try {
      parseEbsRequest(route, rnd(2) ? `maxResults=${junk()}&pageToken=${encodeURIComponent(junk())}&blockToken=${encodeURIComponent(junk())}` : '', headers, body);
    } catch (e) {
      assert.ok(e instanceof EbsDirectError && e.code === 'ValidationException', `unexpected ${String(e)}`);
    }
  }
});
