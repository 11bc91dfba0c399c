// The small readers every controller command parser uses (src/controller/protocol/commands.ts,
// ebs-direct-commands.ts): each refuses with the controller's InvalidParameter and names the
// field. Pure.
import { ControllerError } from '../errors.js';

export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
export const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;

export function bad(code: string, message: string, context: Record<string, unknown> = {}): ControllerError {
  return new ControllerError(code, 'invalid', message, context);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw bad('InvalidParameter', `${where} has an unknown field '${k}'.`, { field: k, allowed });
  }
}

export function str(o: Record<string, unknown>, k: string, where: string, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw bad('InvalidParameter', `${where}.${k} must be a non-empty string.`, { field: k });
  if (re && !re.test(v)) throw bad('InvalidParameter', `${where}.${k} is not in the expected form.`, { field: k, pattern: re.source });
  return v;
}

export function optBool(o: Record<string, unknown>, k: string, where: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad('InvalidParameter', `${where}.${k} must be a boolean.`, { field: k });
  return v;
}

export function optInt(o: Record<string, unknown>, k: string, where: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad('InvalidParameter', `${where}.${k} must be an integer from ${min} to ${max}.`, { field: k });
  }
  return v;
}

/** A key sealed to the card (base64, at most 4 KiB) or null for an unencrypted snapshot or volume. */
export function sealedOrNull(o: Record<string, unknown>, k: string): string | null {
  const v = o[k];
  if (v !== null && (typeof v !== 'string' || v.length > 4096 || !BASE64.test(v))) throw bad('InvalidParameter', `params.${k} must be base64 or null.`, { field: k });
  return v;
}
