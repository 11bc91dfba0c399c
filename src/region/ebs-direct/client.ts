// A small client of the region's public API for `nitride image import`: the EBS direct APIs
// (rest-json, SigV4 service `ebs`) and the few EC2 Query actions an import needs
// (RegisterImage, DeleteSnapshot). A real HTTP client signed with src/iam/sigv4 — the same
// front door, authentication, authorization and audit every SDK call goes through.
import { regionRequest } from '../../lib/region-request.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signRequest, type SigningCredentials } from '../../iam/sigv4/sign.js';
import { NitrideError } from '../../lib/errors.js';
import { CHECKSUM_ALGORITHM, AGGREGATION_LINEAR } from '../protocol/ebs-direct/checksum.js';

export interface ApiEndpoint {
  readonly endpoint: string; // http://127.0.0.1:8773/
  readonly region: string;
  readonly credentials: SigningCredentials;
  /** The CA file that verifies an https endpoint (the profile's ca_bundle). */
  readonly caBundle?: string;
}

/** A refusal from the API: the service's error code and message. */
export class ApiCallError extends NitrideError {
  constructor(
    readonly apiCode: string,
    message: string,
    readonly status: number,
  ) {
    super('ApiCallError', status >= 500 ? 'internal' : status === 403 ? 'denied' : status === 404 ? 'not-found' : 'invalid', `${apiCode}: ${message}`, { apiCode, status });
  }
}

function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    const s = /^\[(.+)\]\s*$/.exec(line.trim());
    if (s) {
      cur = out[s[1]!] = {};
      continue;
    }
    const kv = /^([^=#;]+?)\s*=\s*(.*)$/.exec(line.trim());
    if (kv && cur) cur[kv[1]!] = kv[2]!;
  }
  return out;
}

/** The endpoint and credentials of a profile in $home/aws/{config,credentials} (the files the region writes on first start). */
export function endpointFromHome(home: string, profile = 'nitride'): ApiEndpoint {
  let creds: Record<string, string> | undefined;
  let conf: Record<string, string> | undefined;
  try {
    creds = parseIni(readFileSync(join(home, 'aws', 'credentials'), 'utf8'))[profile];
    conf = parseIni(readFileSync(join(home, 'aws', 'config'), 'utf8'))[`profile ${profile}`];
  } catch (e) {
    throw new NitrideError('NoCredentials', 'unavailable', `No AWS profile files under ${home}/aws (start the region once with this NITRIDE_HOME).`, { home }, { cause: e });
  }
  const accessKeyId = creds?.['aws_access_key_id'];
  const secretAccessKey = creds?.['aws_secret_access_key'];
  const endpoint = conf?.['endpoint_url'];
  if (!accessKeyId || !secretAccessKey || !endpoint) throw new NitrideError('NoCredentials', 'unavailable', `The profile ${profile} in ${home}/aws has no keys or endpoint_url.`, { home, profile });
  const caBundle = conf?.['ca_bundle'];
  return { endpoint, region: conf?.['region'] ?? 'local-1', credentials: { accessKeyId, secretAccessKey }, ...(caBundle ? { caBundle } : {}) };
}

interface Raw {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export class RegionApiClient {
  private readonly url: URL;

  constructor(private readonly ep: ApiEndpoint) {
    this.url = new URL(ep.endpoint);
  }

  private send(method: string, path: string, query: string, service: string, headers: Record<string, string>, body: Buffer, unsignedPayload = false): Promise<Raw> {
    const host = this.url.host;
    const signed = signRequest({ method, path, query, headers: { host, ...headers }, body }, this.ep.credentials, { region: this.ep.region, service, contentSha256Header: true, unsignedPayload });
    return new Promise((resolve, reject) => {
      const req = regionRequest(
        this.url,
        this.ep.caBundle,
        { method, path: query ? `${path}?${query}` : path, headers: { ...signed.headers, 'content-length': String(body.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.setTimeout(300_000, () => req.destroy(new Error('the region did not answer within 300 s')));
      req.on('error', reject);
      req.end(body);
    });
  }

  private async ebs(method: string, path: string, headers: Record<string, string>, body: Buffer, unsigned = false): Promise<Raw> {
    const r = await this.send(method, path, '', 'ebs', headers, body, unsigned);
    if (r.status >= 300) {
      let msg = r.body.toString('utf8');
      try {
        const j = JSON.parse(msg) as { Message?: string; message?: string; Reason?: string };
        msg = `${j.Message ?? j.message ?? ''}${j.Reason ? ` (${j.Reason})` : ''}`;
      } catch {
        // not JSON
      }
      throw new ApiCallError(String(r.headers['x-amzn-errortype'] ?? `HTTP${r.status}`), msg, r.status);
    }
    return r;
  }

  async startSnapshot(p: { volumeSize: number; description?: string; encrypted?: boolean; clientToken?: string; timeout?: number }): Promise<{ snapshotId: string }> {
    const body = Buffer.from(JSON.stringify({ VolumeSize: p.volumeSize, ...(p.description ? { Description: p.description } : {}), ...(p.encrypted ? { Encrypted: true } : {}), ...(p.clientToken ? { ClientToken: p.clientToken } : {}), ...(p.timeout ? { Timeout: p.timeout } : {}) }));
    const r = await this.ebs('POST', '/snapshots', { 'content-type': 'application/json' }, body);
    return { snapshotId: (JSON.parse(r.body.toString('utf8')) as { SnapshotId: string }).SnapshotId };
  }

  async putSnapshotBlock(snapshotId: string, index: number, data: Buffer, checksum: string, progress?: number): Promise<void> {
    await this.ebs(
      'PUT',
      `/snapshots/${snapshotId}/blocks/${index}`,
      { 'content-type': 'application/octet-stream', 'x-amz-data-length': String(data.length), 'x-amz-checksum': checksum, 'x-amz-checksum-algorithm': CHECKSUM_ALGORITHM, ...(progress !== undefined ? { 'x-amz-progress': String(progress) } : {}) },
      data,
      true,
    );
  }

  async completeSnapshot(snapshotId: string, changedBlocksCount: number, aggregate: string): Promise<string> {
    const r = await this.ebs(
      'POST',
      `/snapshots/completion/${snapshotId}`,
      { 'x-amz-changedblockscount': String(changedBlocksCount), 'x-amz-checksum': aggregate, 'x-amz-checksum-algorithm': CHECKSUM_ALGORITHM, 'x-amz-checksum-aggregation-method': AGGREGATION_LINEAR },
      Buffer.alloc(0),
    );
    return (JSON.parse(r.body.toString('utf8')) as { Status: string }).Status;
  }

  /** One EC2 Query action (form POST); the XML answer's text. */
  async ec2(action: string, params: Record<string, string>): Promise<string> {
    const form = new URLSearchParams({ Action: action, Version: '2016-11-15', ...params }).toString();
    const r = await this.send('POST', '/', '', 'ec2', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, Buffer.from(form));
    const text = r.body.toString('utf8');
    if (r.status >= 300) {
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP${r.status}`;
      const msg = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
      throw new ApiCallError(code, msg.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'), r.status);
    }
    return text;
  }
}
