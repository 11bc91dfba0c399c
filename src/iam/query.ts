// The IAM Query API's shared pieces: reading parameters (with IAM's validation wording) and
// writing the <XResponse><XResult>…</XResult><ResponseMetadata>… envelope. api.ts (users, keys,
// user policies) and role-api.ts (roles) use them.
import { XmlWriter } from '../lib/xml.js';
import { IamError } from './errors.js';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const IAM_API_VERSION = '2010-05-08';

export type QueryParams = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export function get(params: QueryParams, name: string): string | undefined {
  if (params instanceof Map) return params.get(name);
  const rec = params as Readonly<Record<string, string>>;
  return Object.hasOwn(rec, name) ? rec[name] : undefined;
}

export function required(params: QueryParams, name: string): string {
  const v = get(params, name);
  if (v === undefined) {
    const member = name.charAt(0).toLowerCase() + name.slice(1);
    throw new IamError('ValidationError', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`, { parameter: name });
  }
  return v;
}

export function maxItems(params: QueryParams): number | undefined {
  const v = get(params, 'MaxItems');
  if (v === undefined) return undefined;
  const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new IamError('ValidationError', `1 validation error detected: Value '${v}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000`, {});
  return n;
}

export function isoSeconds(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

export function ok(action: string, requestId: string, result: ((w: XmlWriter) => void) | undefined): string {
  const w = new XmlWriter();
  w.open(`${action}Response`, { xmlns: IAM_XMLNS });
  if (result) w.element(`${action}Result`, result);
  w.element('ResponseMetadata', (m) => m.leaf('RequestId', requestId));
  w.close();
  return w.toString();
}

