// The EBS direct APIs' HTTP routes (botocore `ebs` 2019-11-02, rest-json): method and path
// template per operation, matched against a request's method and raw path. Pure.
export type EbsOperation = 'StartSnapshot' | 'PutSnapshotBlock' | 'CompleteSnapshot' | 'ListSnapshotBlocks' | 'ListChangedBlocks' | 'GetSnapshotBlock';

export interface EbsRouteMatch {
  readonly operation: EbsOperation;
  /** Path labels by the model's locationName (snapshotId, blockIndex, secondSnapshotId), still raw text. */
  readonly labels: Readonly<Record<string, string>>;
}

interface RouteDef {
  readonly operation: EbsOperation;
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Path segments; `{Name}` is a label bound to the model member Name. */
  readonly segments: readonly string[];
  /** The model's success status. */
  readonly status: number;
}

export const EBS_ROUTES: readonly RouteDef[] = [
  { operation: 'StartSnapshot', method: 'POST', segments: ['snapshots'], status: 201 },
  { operation: 'CompleteSnapshot', method: 'POST', segments: ['snapshots', 'completion', '{snapshotId}'], status: 202 },
  { operation: 'PutSnapshotBlock', method: 'PUT', segments: ['snapshots', '{snapshotId}', 'blocks', '{blockIndex}'], status: 201 },
  { operation: 'GetSnapshotBlock', method: 'GET', segments: ['snapshots', '{snapshotId}', 'blocks', '{blockIndex}'], status: 200 },
  { operation: 'ListSnapshotBlocks', method: 'GET', segments: ['snapshots', '{snapshotId}', 'blocks'], status: 200 },
  { operation: 'ListChangedBlocks', method: 'GET', segments: ['snapshots', '{secondSnapshotId}', 'changedblocks'], status: 200 },
];

export const EBS_SUCCESS_STATUS: Readonly<Record<EbsOperation, number>> = Object.fromEntries(EBS_ROUTES.map((r) => [r.operation, r.status])) as Record<EbsOperation, number>;

/** CloudTrail's readOnly for each operation. */
export const EBS_READ_ONLY: Readonly<Record<EbsOperation, boolean>> = {
  StartSnapshot: false,
  PutSnapshotBlock: false,
  CompleteSnapshot: false,
  ListSnapshotBlocks: true,
  ListChangedBlocks: true,
  GetSnapshotBlock: true,
};

/** True for a path the EBS direct APIs own (the front door sends it here, not to the Query APIs). */
export const isEbsDirectPath = (path: string): boolean => path === '/snapshots' || path.startsWith('/snapshots/');

/** The operation a request names, or undefined when no route has this method and path. */
export function matchEbsRoute(method: string, path: string): EbsRouteMatch | undefined {
  const parts = path.split('/').slice(1);
  if (parts.length > 0 && parts[parts.length - 1] === '' && parts.length > 1) parts.pop(); // a trailing slash
  for (const r of EBS_ROUTES) {
    if (r.method !== method.toUpperCase() || r.segments.length !== parts.length) continue;
    const labels: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < r.segments.length && ok; i++) {
      const seg = r.segments[i]!;
      const got = parts[i]!;
      if (seg.startsWith('{')) {
        let v: string;
        try {
          v = decodeURIComponent(got);
        } catch {
          v = got;
        }
        if (v === '') ok = false;
        labels[seg.slice(1, -1)] = v;
      } else if (seg !== got) ok = false;
    }
    // "completion" is not a snapshot id: /snapshots/completion/{id} wins over nothing else here,
    // since no other two-or-three segment POST exists.
    if (ok) return { operation: r.operation, labels };
  }
  return undefined;
}
