// EC2 Filter semantics: a resource matches when, for every filter, at least one of the
// filter's values matches one of the resource's values for that name. Values may use
// `*` (any run) and `?` (any one character), as EC2 documents.
import { Ec2Error } from '../protocol/errors.js';

export interface Filter {
  readonly name: string;
  readonly values: readonly string[];
}

/** Returns the resource's values for a filter name, or undefined when the name is unknown. */
export type FilterExtractor<T> = (resource: T, name: string) => readonly string[] | undefined;

function wildcard(pattern: string): RegExp {
  const esc = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, 's');
}

export function compileFilters<T>(filters: readonly Filter[], extract: FilterExtractor<T>, isKnown: (name: string) => boolean): (r: T) => boolean {
  const compiled = filters.map((f) => ({ name: f.name, res: f.values.map(wildcard) }));
  for (const f of filters) {
    if (!isKnown(f.name)) {
      throw new Ec2Error('InvalidParameterValue', `The filter '${f.name}' is invalid`, { context: { filter: f.name } });
    }
  }
  return (r) =>
    compiled.every((f) => {
      const have = extract(r, f.name);
      if (have === undefined) return false;
      return have.some((v) => f.res.some((re) => re.test(v)));
    });
}

/** Tag filters shared by every taggable resource: tag:<key>, tag-key, tag-value. */
export function isTagFilter(name: string): boolean {
  return name.startsWith('tag:') || name === 'tag-key' || name === 'tag-value';
}

export function tagFilterValues(tags: Readonly<Record<string, string>>, name: string): readonly string[] | undefined {
  if (name.startsWith('tag:')) {
    const v = tags[name.slice(4)];
    return v === undefined ? [] : [v];
  }
  if (name === 'tag-key') return Object.keys(tags);
  if (name === 'tag-value') return Object.values(tags);
  return undefined;
}

/** A resource's filters as a table: each name and how to read its values off a resource. */
export type FilterTable<T> = Readonly<Record<string, (r: T) => readonly string[]>>;

/** `v` as a one-value list, or no value when it is absent. */
export const opt = (v: string | undefined): readonly string[] => (v === undefined || v === '' ? [] : [v]);

/**
 * compileFilters over a table: the table's names, plus the tag filters (tag:<key>, tag-key,
 * tag-value) read from `tags`. Any other name is EC2's InvalidParameterValue.
 */
export function compileFilterTable<T>(filters: readonly Filter[], table: FilterTable<T>, tags: (r: T) => Readonly<Record<string, string>>): (r: T) => boolean {
  const known = (n: string): boolean => Object.prototype.hasOwnProperty.call(table, n);
  return compileFilters(filters, (r, n) => (known(n) ? table[n]!(r) : tagFilterValues(tags(r), n)), (n) => known(n) || isTagFilter(n));
}
