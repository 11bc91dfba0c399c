// The AWS CLI's shared files in $NITRIDE_HOME/aws: `credentials` ([NAME] with the access key)
// and `config` ([profile NAME] with region and endpoint_url), both 0600 in a 0700 directory.
// The region writes the operator's profile `nitride` on every start; `nitride account create`
// adds one profile per account. Writing one profile keeps every other section as it was, and
// moves every profile's endpoint_url to the endpoint given (the region's port can change) and
// its ca_bundle to the one given (the region CA's certificate when the API serves HTTPS), or
// drops it (plain HTTP).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Section {
  readonly name: string;
  readonly entries: [string, string][];
}

/** Sections of an INI text in order (keys as written; comments and blank lines dropped). */
function parseIni(text: string): Section[] {
  const out: Section[] = [];
  let cur: Section | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      cur = { name: s[1]!.trim(), entries: [] };
      out.push(cur);
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && cur) cur.entries.push([kv[1]!, kv[2]!]);
  }
  return out;
}

const renderIni = (sections: readonly Section[]): string => sections.map((s) => `[${s.name}]\n${s.entries.map(([k, v]) => `${k} = ${v}\n`).join('')}`).join('\n');

function readIni(path: string): Section[] {
  return existsSync(path) ? parseIni(readFileSync(path, 'utf8')) : [];
}

function writeIni(path: string, sections: readonly Section[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, renderIni(sections), { mode: 0o600 });
  renameSync(tmp, path);
}

export const awsDir = (home: string): string => join(home, 'aws');

/** A profile name both AWS CLIs and the SDKs read without quoting. */
export const isProfileName = (name: string): boolean => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name);

export interface AwsProfile {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region?: string;
  readonly endpointUrl?: string;
  /** The CA certificate file that verifies the endpoint's HTTPS (ca_bundle). */
  readonly caBundle?: string;
}

/** The profile NAME from $home/aws, or undefined when its credentials are not there. */
export function readAwsProfile(home: string, name: string): AwsProfile | undefined {
  const creds = new Map(readIni(join(awsDir(home), 'credentials')).find((s) => s.name === name)?.entries ?? []);
  const cfg = new Map(readIni(join(awsDir(home), 'config')).find((s) => s.name === `profile ${name}`)?.entries ?? []);
  const accessKeyId = creds.get('aws_access_key_id');
  const secretAccessKey = creds.get('aws_secret_access_key');
  if (accessKeyId === undefined || secretAccessKey === undefined) return undefined;
  const region = cfg.get('region');
  const endpointUrl = cfg.get('endpoint_url');
  const caBundle = cfg.get('ca_bundle');
  return { accessKeyId, secretAccessKey, ...(region !== undefined ? { region } : {}), ...(endpointUrl !== undefined ? { endpointUrl } : {}), ...(caBundle !== undefined ? { caBundle } : {}) };
}

/** Writes (or replaces) the profile NAME; other profiles stay, with their endpoint_url set to this one. */
export function writeAwsProfile(home: string, name: string, key: { accessKeyId: string; secretAccessKey: string }, cfg: { region: string; endpointUrl: string; caBundle?: string }): void {
  if (!isProfileName(name)) throw new Error(`'${name}' cannot be an AWS CLI profile name (letters, digits, '_', '.', '-', at most 64).`);
  const dir = awsDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const creds = upsert(readIni(join(dir, 'credentials')), { name, entries: [['aws_access_key_id', key.accessKeyId], ['aws_secret_access_key', key.secretAccessKey]] });
  const config = upsert(
    readIni(join(dir, 'config')).map((s) => ({ name: s.name, entries: withCaBundle(s.entries.filter(([k]) => k !== 'ca_bundle').map(([k, v]): [string, string] => [k, k === 'endpoint_url' ? cfg.endpointUrl : v]), cfg.caBundle) })),
    { name: `profile ${name}`, entries: withCaBundle([['region', cfg.region], ['endpoint_url', cfg.endpointUrl], ['output', 'json']], cfg.caBundle) },
  );
  writeIni(join(dir, 'credentials'), creds);
  writeIni(join(dir, 'config'), config);
}

const withCaBundle = (entries: [string, string][], caBundle: string | undefined): [string, string][] => (caBundle === undefined ? entries : [...entries, ['ca_bundle', caBundle]]);

/** The sections with `section` in place of the one of its name (where it was), or appended. */
function upsert(sections: Section[], section: Section): Section[] {
  const i = sections.findIndex((s) => s.name === section.name);
  if (i < 0) return [...sections, section];
  return [...sections.slice(0, i), section, ...sections.slice(i + 1)];
}
