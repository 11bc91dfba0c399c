// Runs botocore (the library inside the AWS CLI) as an independent peer for the protocol tests:
// its EC2 serializer produces request bodies, its EC2 parser reads our response XML.
// A missing python3/botocore is a loud failure, never a skip.
import { spawnSync } from 'node:child_process';

const SCRIPT = String.raw`
import json, sys, datetime, base64
import botocore.session
from botocore.serialize import create_serializer
from botocore.parsers import create_parser
model = botocore.session.get_session().get_service_model('ec2')
jobs = json.load(sys.stdin)
out = []
def enc(o):
    if isinstance(o, datetime.datetime): return o.isoformat()
    if isinstance(o, bytes): return base64.b64encode(o).decode()
    raise TypeError(type(o))
for job in jobs:
    op = model.operation_model(job['operation'])
    if job['kind'] == 'serialize':
        req = create_serializer('ec2').serialize_to_request(job['params'], op)
        body = req['body']
        out.append({k: str(v) for k, v in body.items()} if isinstance(body, dict) else body)
    else:
        parser = create_parser('ec2')
        shape = op.output_shape
        resp = {'body': job['body'].encode('utf-8'), 'headers': {}, 'status_code': job.get('status', 200)}
        parsed = parser.parse(resp, shape)
        parsed.pop('ResponseMetadata', None)
        out.append(parsed)
print(json.dumps(out, default=enc))
`;

export type BotocoreJob =
  | { kind: 'serialize'; operation: string; params: Record<string, unknown> }
  | { kind: 'parse'; operation: string; body: string; status?: number };

/** Runs the jobs through botocore in one python3 process; returns one result per job. */
export function botocore(jobs: readonly BotocoreJob[]): unknown[] {
  const r = spawnSync('python3', ['-c', SCRIPT], { input: JSON.stringify(jobs), encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`python3 could not be run (botocore is a required test peer): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`botocore peer failed (status ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}
