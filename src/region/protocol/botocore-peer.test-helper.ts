// Runs botocore (the library inside the AWS CLI) as an independent peer for the protocol tests:
// its EC2 serializer produces request bodies, its EC2 parser reads our response XML.
// Two peers: 'v1' is botocore on PATH's python3 (AWS CLI v1), 'v2' is the botocore vendored in
// Debian's awscli 2.x (/usr/bin/python3, package awscli.botocore).
// A missing python3/botocore is a loud failure, never a skip.
import { spawnSync } from 'node:child_process';

const IMPORTS = {
  v1: 'import botocore.session as bsession\nfrom botocore.serialize import create_serializer\nfrom botocore.parsers import create_parser\n',
  v2: 'import awscli.botocore.session as bsession\nfrom awscli.botocore.serialize import create_serializer\nfrom awscli.botocore.parsers import create_parser\n',
} as const;
const PYTHON = { v1: 'python3', v2: '/usr/bin/python3' } as const;
export type BotocorePeer = keyof typeof PYTHON;

const SCRIPT = String.raw`
import json, sys, datetime, base64
model = bsession.get_session().get_service_model('ec2')
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
export function botocore(jobs: readonly BotocoreJob[], peer: BotocorePeer = 'v1'): unknown[] {
  const r = spawnSync(PYTHON[peer], ['-c', IMPORTS[peer] + SCRIPT], { input: JSON.stringify(jobs), encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${PYTHON[peer]} could not be run (botocore is a required test peer): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`botocore peer ${peer} failed (status ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}
