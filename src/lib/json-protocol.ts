// The AWS JSON 1.1 protocol as KMS and Organizations speak it (botocore's "protocol": "json"):
// a POST whose `X-Amz-Target: <targetPrefix><Operation>` names the operation and whose body is
// a JSON object. What a service's request handler shares with the others: reading the target,
// the operation and whether it only reads, the result a handler gives the front door
// (src/region/api/json-door.ts), and the request's members for the audit record written
// before a call acts. The services keep their operations, shapes and error envelopes.

export const JSON_1_1_CONTENT_TYPE = 'application/x-amz-json-1.1';

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** The X-Amz-Target a request names (the first, when it is repeated), or undefined. */
export function targetOf(headers: Headers): string | undefined {
  const t = headers['x-amz-target'];
  const v = Array.isArray(t) ? t[0] : t;
  return typeof v === 'string' ? v : undefined;
}

/** True when the request's X-Amz-Target starts with the service's prefix (`TrentService.`). */
export function hasTargetPrefix(headers: Headers, prefix: string): boolean {
  return targetOf(headers)?.startsWith(prefix) ?? false;
}

/**
 * The operation a target names and whether it only reads (CloudTrail's readOnly), from the
 * service's table of operations; an unknown one is named as given ('Unknown' when empty) and
 * counted as writing.
 */
export function operationOf(target: string, prefix: string, readOnly: Readonly<Record<string, boolean>>): { operation: string; readOnly: boolean; known: boolean } {
  const op = target.startsWith(prefix) ? target.slice(prefix.length) : target;
  return Object.hasOwn(readOnly, op) ? { operation: op, readOnly: readOnly[op]!, known: true } : { operation: op || 'Unknown', readOnly: false, known: false };
}

/** What a service's handler answers one authenticated call with: the response and what its audit record holds. */
export interface JsonCallResult {
  readonly status: number;
  /** JSON text. */
  readonly body: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** ARNs the call addressed, for the audit record. */
  readonly resources: readonly string[];
  /** The request for the audit record, without the members the service keeps out of it. */
  readonly requestParameters: Record<string, unknown> | null;
  /** The response for the audit record, likewise. */
  readonly responseElements: Record<string, unknown> | null;
}

/**
 * A JSON body's members for the request record written before a call acts (camelCase, as
 * CloudTrail writes them), leaving out the members named; null when the body is not a JSON object.
 */
export function auditMembersOf(body: Buffer, leaveOut: readonly string[]): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!leaveOut.includes(k)) out[k.charAt(0).toLowerCase() + k.slice(1)] = x;
    return out;
  } catch {
    return null;
  }
}
