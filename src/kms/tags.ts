// KMS key tags: KMS's limits and errors, and the condition keys tags give a request.
//   - a key has at most 50 tags (LimitExceededException beyond);
//   - TagKey 1–128 characters, TagValue 0–256, no key starting with "aws:" (reserved), one
//     value per key in a request (TagException otherwise); tagging an existing key replaces
//     its value;
//   - aws:ResourceTag/<key> (the key's tags, for every operation on the key, in key policies and
//     IAM policies alike), aws:RequestTag/<key> and aws:TagKeys (TagResource, CreateKey with
//     Tags; UntagResource: aws:TagKeys).
import type { ConditionValue } from '../iam/policy.js';
import { KmsError } from './errors.js';
import type { Tag } from './model.js';

export const MAX_TAGS_PER_KEY = 50;
export const MAX_LIST_TAGS = 50;

function tagError(message: string, tagKey: string): KmsError {
  return new KmsError('TagException', message, { tagKey });
}

/** Validates a request's tags (TagResource, CreateKey). */
export function checkTags(tags: readonly Tag[]): void {
  const seen = new Set<string>();
  for (const t of tags) {
    if (t.tagKey.length < 1 || t.tagKey.length > 128) throw tagError(`The tag key ${JSON.stringify(t.tagKey.slice(0, 140))} must be 1 to 128 characters long.`, t.tagKey);
    if (t.tagValue.length > 256) throw tagError(`The tag value of ${t.tagKey} must be at most 256 characters long.`, t.tagKey);
    if (t.tagKey.toLowerCase().startsWith('aws:')) throw tagError(`Tag keys may not begin with 'aws:' (${t.tagKey}): that prefix is reserved for AWS.`, t.tagKey);
    if (seen.has(t.tagKey)) throw tagError(`The tag key ${t.tagKey} appears more than once in the request.`, t.tagKey);
    seen.add(t.tagKey);
  }
  if (tags.length > MAX_TAGS_PER_KEY) throw new KmsError('LimitExceededException', `A key may have at most ${MAX_TAGS_PER_KEY} tags.`, {});
}

/** Checks tag keys named for removal (UntagResource). */
export function checkTagKeys(keys: readonly string[]): void {
  for (const k of keys) if (k.length < 1 || k.length > 128) throw tagError(`The tag key ${JSON.stringify(k.slice(0, 140))} must be 1 to 128 characters long.`, k);
}

/** The key's tags with `add` set (existing keys take the new value); LimitExceededException past 50. */
export function withTags(current: readonly Tag[], add: readonly Tag[]): Tag[] {
  const m = new Map(current.map((t) => [t.tagKey, t.tagValue]));
  for (const t of add) m.set(t.tagKey, t.tagValue);
  if (m.size > MAX_TAGS_PER_KEY) throw new KmsError('LimitExceededException', `A key may have at most ${MAX_TAGS_PER_KEY} tags (it would have ${m.size}).`, {});
  return [...m].map(([tagKey, tagValue]) => ({ tagKey, tagValue }));
}

export function withoutTags(current: readonly Tag[], keys: readonly string[]): Tag[] {
  const drop = new Set(keys);
  return current.filter((t) => !drop.has(t.tagKey));
}

/** aws:ResourceTag/<key> for each of the key's tags. */
export function resourceTagContext(tags: readonly Tag[]): Record<string, ConditionValue> {
  const out: Record<string, ConditionValue> = {};
  for (const t of tags) out[`aws:ResourceTag/${t.tagKey}`] = t.tagValue;
  return out;
}

/** aws:RequestTag/<key> and aws:TagKeys for the tags a request sets. */
export function requestTagContext(tags: readonly Tag[]): Record<string, ConditionValue> {
  const out: Record<string, ConditionValue> = { 'aws:TagKeys': tags.map((t) => t.tagKey) };
  for (const t of tags) out[`aws:RequestTag/${t.tagKey}`] = t.tagValue;
  return out;
}

/** A page of a key's tags: Marker is the index to start at, opaque (base64url). */
export function tagPage(tags: readonly Tag[], limit: number, marker: string | undefined): { items: Tag[]; truncated: boolean; nextMarker?: string } {
  let start = 0;
  if (marker !== undefined) {
    const n = /^[A-Za-z0-9_-]+$/.test(marker) ? Number(Buffer.from(marker, 'base64url').toString('utf8').replace(/^t/, '')) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > tags.length) throw new KmsError('InvalidMarkerException', 'The request was rejected because the marker that specifies where pagination should next begin is not valid.', {});
    start = n;
  }
  const items = tags.slice(start, start + limit);
  const next = start + items.length;
  return next < tags.length ? { items, truncated: true, nextMarker: Buffer.from(`t${next}`, 'utf8').toString('base64url') } : { items, truncated: false };
}
