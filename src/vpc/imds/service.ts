// The instance metadata service of one ENI: IMDSv2 tokens, IMDSv1 when allowed, the EC2
// path tree, user-data and the signed instance identity document. Takes parsed HTTP
// requests, returns responses; the TCP endpoint carries them. Pure but for the clock,
// randomness and signing, which come from node:crypto.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { HttpRequest, HttpResponse } from './http.js';
import type { EniConfig, ImdsConfig } from '../model.js';
import { cidrToString, parseCidr } from '../protocol/addr.js';

export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const MAX_TOKEN_TTL = 21600;
const MAX_TOKENS = 1000;

export interface ImdsAnswer {
  readonly response: HttpResponse;
  /** IP TTL for the response's segments (the hop limit for a token PUT). */
  readonly ttl?: number;
}

/** A signer: returns the signature of the identity document. The region's key by default. */
export type IdentitySigner = (document: Buffer) => Buffer;

export function signerFromPem(pem: string): IdentitySigner {
  const key: KeyObject = createPrivateKey(pem);
  const t = key.asymmetricKeyType;
  if (t !== 'rsa' && !(t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')) {
    throw new Error('the identity signing key must be RSA or EC P-256');
  }
  // RSA: PKCS#1 v1.5 with SHA-256. EC: ECDSA P-256 SHA-256, DER-encoded signature.
  return (doc) => sign('sha256', doc, key);
}

/**
 * The metadata versions EC2 lists at `/`. A path may start with any of them or with `latest`:
 * cloud-init asks for `/2021-03-23/meta-data/…` and falls back to older dates on a 404.
 */
export const IMDS_VERSIONS: readonly string[] = [
  '1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01',
  '2009-04-04', '2011-01-01', '2011-05-01', '2012-01-12', '2014-02-25', '2014-11-05', '2015-10-20',
  '2016-04-19', '2016-06-30', '2016-09-02', '2018-03-28', '2018-08-17', '2018-09-24', '2019-10-01',
  '2020-10-27', '2021-01-03', '2021-03-23', '2021-07-15', '2022-09-24', '2024-04-11',
];
const KNOWN_VERSIONS = new Set(IMDS_VERSIONS);

/** `/2021-03-23/meta-data/x` → `/latest/meta-data/x`; other paths unchanged. */
function versioned(path: string): string {
  const m = /^\/([^/]+)(\/.*)?$/.exec(path);
  if (m && KNOWN_VERSIONS.has(m[1]!)) return `/latest${m[2] ?? ''}`;
  return path;
}

function text(status: number, body: string | Buffer, headers: readonly (readonly [string, string])[] = []): HttpResponse {
  return { status, body, headers };
}

export class ImdsService {
  private readonly tokens = new Map<string, number>(); // token → expiry (ms)
  private signer: IdentitySigner | undefined;
  private signerPem: string | undefined;

  constructor(
    private eni: EniConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.reconfigure(eni);
  }

  get config(): ImdsConfig | undefined {
    return this.eni.imds;
  }

  reconfigure(eni: EniConfig): void {
    this.eni = eni;
    const pem = eni.imds?.identitySigningKeyPem;
    if (pem !== this.signerPem) {
      this.signerPem = pem;
      this.signer = pem ? signerFromPem(pem) : undefined;
    }
  }

  /** Replaces the signer (the region's hook); undefined returns to the PEM in the config. */
  setSigner(s: IdentitySigner | undefined): void {
    this.signer = s ?? (this.signerPem ? signerFromPem(this.signerPem) : undefined);
  }

  handle(req: HttpRequest): ImdsAnswer {
    const m = this.eni.imds;
    if (!m) return { response: text(404, 'Not Found') };
    const path = versioned(req.target.split('?')[0] ?? '/');
    if (path === '/latest/api/token') return this.token(req, m);
    if (req.method !== 'GET' && req.method !== 'HEAD') return { response: text(405, '', [['Allow', 'OPTIONS, GET, HEAD']]) };
    const token = req.headers.get(TOKEN_HEADER);
    if (token !== undefined) {
      const exp = this.tokens.get(token);
      if (exp === undefined || exp <= this.now()) return { response: text(401, '') };
    } else if (m.httpTokens === 'required') {
      return { response: text(401, '') };
    }
    const body = this.lookup(path, m);
    return { response: body === undefined ? text(404, 'Not Found') : text(200, body) };
  }

  /**
   * The live IMDSv2 tokens as `[token, msLeft]`, for a live update: the next card accepts
   * the tokens the guest already holds, so its next GET does not get a 401.
   */
  exportTokens(): [string, number][] {
    const now = this.now();
    const out: [string, number][] = [];
    for (const [t, exp] of this.tokens) if (exp > now) out.push([t, exp - now]);
    return out;
  }

  /** Takes over tokens a previous card exported (bad entries are ignored; at most MAX_TOKENS). */
  importTokens(list: readonly unknown[]): number {
    const now = this.now();
    let n = 0;
    for (const e of list) {
      if (this.tokens.size >= MAX_TOKENS) break;
      if (!Array.isArray(e) || e.length !== 2) continue;
      const [t, left] = e as unknown[];
      if (typeof t !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(t)) continue;
      if (typeof left !== 'number' || !Number.isFinite(left) || left <= 0 || left > MAX_TOKEN_TTL * 1000) continue;
      this.tokens.set(t, now + left);
      n++;
    }
    return n;
  }

  private token(req: HttpRequest, m: ImdsConfig): ImdsAnswer {
    if (req.method !== 'PUT') return { response: text(405, '', [['Allow', 'OPTIONS, PUT']]) };
    // EC2 refuses token requests that came through a proxy.
    if (req.headers.has('x-forwarded-for')) return { response: text(403, 'Forbidden') };
    const ttlText = req.headers.get(TOKEN_TTL_HEADER);
    const ttl = ttlText !== undefined && /^\d{1,5}$/.test(ttlText) ? Number(ttlText) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TOKEN_TTL)) return { response: text(400, 'Bad Request') };
    const now = this.now();
    for (const [t, exp] of this.tokens) if (exp <= now) this.tokens.delete(t);
    if (this.tokens.size >= MAX_TOKENS) {
      const first = this.tokens.keys().next();
      if (!first.done) this.tokens.delete(first.value);
    }
    const token = randomBytes(40).toString('base64url');
    this.tokens.set(token, now + ttl * 1000);
    return { response: text(200, token, [[ 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds', String(ttl) ]]), ttl: m.hopLimit };
  }

  identityDocument(m: ImdsConfig): string {
    const doc = {
      accountId: m.accountId ?? '000000000000',
      architecture: 'x86_64',
      availabilityZone: m.availabilityZone ?? 'local-1a',
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: m.amiId ?? 'ami-00000000000000000',
      instanceId: m.instanceId,
      instanceType: m.instanceType ?? 't3.nano',
      kernelId: null,
      pendingTime: m.pendingTime ?? '1970-01-01T00:00:00Z',
      privateIp: this.eni.ip,
      ramdiskId: null,
      region: m.region ?? 'local-1',
      version: '2017-09-30',
    };
    return JSON.stringify(doc, null, 2);
  }

  /** The value at a path, a directory listing, or undefined (404). */
  lookup(path: string, m: ImdsConfig): string | Buffer | undefined {
    const tree = this.tree(m);
    if (path === '/') return [...IMDS_VERSIONS, 'latest'].join('\n');
    if (path === '/latest' || path === '/latest/') return 'dynamic\nmeta-data\nuser-data';
    if (path === '/latest/user-data') return m.userDataBase64 !== undefined ? Buffer.from(m.userDataBase64, 'base64') : undefined;
    if (path === '/latest/dynamic' || path === '/latest/dynamic/') return 'instance-identity/';
    if (path === '/latest/dynamic/instance-identity' || path === '/latest/dynamic/instance-identity/') return 'document\nsignature';
    if (path === '/latest/dynamic/instance-identity/document') return this.identityDocument(m);
    if (path === '/latest/dynamic/instance-identity/signature') {
      if (!this.signer) return undefined;
      return this.signer(Buffer.from(this.identityDocument(m))).toString('base64');
    }
    const prefix = '/latest/meta-data';
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return undefined;
    const rel = path.slice(prefix.length + 1);
    // EC2 lists public-keys/ as "0=name" lines; public-keys/0/ lists openssh-key.
    if ((rel === 'public-keys' || rel === 'public-keys/') && m.publicKeys && m.publicKeys.length > 0) {
      return m.publicKeys.map((k, i) => `${i}=${k.name}`).join('\n');
    }
    const leaf = tree.get(rel);
    if (leaf !== undefined && !rel.endsWith('/')) return leaf;
    // A directory: list its immediate children (sub-directories end with "/").
    const dir = rel === '' || rel.endsWith('/') ? rel : `${rel}/`;
    const children = new Set<string>();
    for (const k of tree.keys()) {
      if (!k.startsWith(dir)) continue;
      const rest = k.slice(dir.length);
      const slash = rest.indexOf('/');
      children.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    return children.size === 0 ? undefined : [...children].sort().join('\n');
  }

  private tree(m: ImdsConfig): Map<string, string> {
    const e = this.eni;
    const subnet = parseCidr(e.subnetCidr);
    const mac = e.mac.toLowerCase();
    const t = new Map<string, string>();
    const az = m.availabilityZone ?? 'local-1a';
    t.set('ami-id', m.amiId ?? 'ami-00000000000000000');
    t.set('ami-launch-index', '0');
    t.set('ami-manifest-path', '(unknown)');
    t.set('instance-action', 'none');
    t.set('instance-life-cycle', 'on-demand');
    t.set('metrics/vhostmd', '<?xml version="1.0" encoding="UTF-8"?>');
    t.set('profile', 'default-hvm');
    if (m.reservationId !== undefined) t.set('reservation-id', m.reservationId);
    t.set('hostname', e.hostname);
    t.set('instance-id', m.instanceId);
    t.set('instance-type', m.instanceType ?? 't3.nano');
    t.set('local-hostname', e.hostname);
    t.set('local-ipv4', e.ip);
    t.set('mac', mac);
    t.set('placement/availability-zone', az);
    t.set('placement/region', m.region ?? 'local-1');
    t.set('placement/availability-zone-id', availabilityZoneId(az));
    t.set('security-groups', (m.securityGroupNames ?? e.securityGroups).join('\n'));
    const n = `network/interfaces/macs/${mac}/`;
    t.set(`${n}device-number`, String(m.deviceNumber ?? 0));
    t.set(`${n}interface-id`, e.eniId);
    t.set(`${n}local-hostname`, e.hostname);
    t.set(`${n}local-ipv4s`, e.ip);
    t.set(`${n}mac`, mac);
    t.set(`${n}owner-id`, m.accountId ?? '000000000000');
    t.set(`${n}security-group-ids`, e.securityGroups.join('\n'));
    if (m.securityGroupNames) t.set(`${n}security-groups`, m.securityGroupNames.join('\n'));
    if (e.subnetId) t.set(`${n}subnet-id`, e.subnetId);
    t.set(`${n}subnet-ipv4-cidr-block`, cidrToString(subnet));
    t.set(`${n}vpc-id`, e.vpcId);
    if (e.vpcCidr) {
      t.set(`${n}vpc-ipv4-cidr-block`, e.vpcCidr);
      t.set(`${n}vpc-ipv4-cidr-blocks`, e.vpcCidr);
    }
    // The public side (issue 13): the ENI's public or Elastic IP and its public DNS name, when it has them.
    if (e.publicIp !== undefined) {
      t.set('public-ipv4', e.publicIp);
      t.set(`${n}public-ipv4s`, e.publicIp);
      if (m.publicHostname !== undefined) {
        t.set('public-hostname', m.publicHostname);
        t.set(`${n}public-hostname`, m.publicHostname);
      }
    }
    t.set('services/domain', 'amazonaws.com');
    t.set('services/partition', 'aws');
    (m.publicKeys ?? []).forEach((k, i) => t.set(`public-keys/${i}/openssh-key`, k.openssh));
    for (const [k, v] of Object.entries(m.extraMetadata ?? {})) if (!k.startsWith('/') && !k.includes('..')) t.set(k, v);
    return t;
  }
}

/** EC2's zone id for a zone name: `local-1a` → `local1-az1` (the region without dashes, then the letter's index). */
export function availabilityZoneId(az: string): string {
  const m = /^(.*?)([a-z])$/.exec(az);
  if (!m) return az;
  return `${m[1]!.replace(/-/g, '')}-az${m[2]!.charCodeAt(0) - 96}`;
}
