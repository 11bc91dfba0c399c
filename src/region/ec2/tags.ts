// Tags on any taggable resource. Each resource type registers how to find a resource
// the caller owns and how to store its tags; CreateTags/DeleteTags/DescribeTags work
// across them as EC2's do.
import { Ec2Error } from '../protocol/errors.js';
import { compileFilters, type Filter } from './filters.js';
import type { Caller } from './instances.js';

export interface Taggable {
  readonly resourceType: string; // EC2's resource-type name: instance, image, volume, …
  readonly idPrefix: string; // 'i-', 'ami-', …
  /**
   * EC2's code when the id names nothing the caller may see (another account's resource
   * included): each type has its own, spelled as EC2 spells it (InvalidVolume.NotFound, not
   * a name built from the type), so it is given, never derived.
   */
  notFound(id: string): Ec2Error;
  /** The caller's resource, or undefined when it does not exist for this caller. */
  find(caller: Caller, id: string): { readonly tags: Readonly<Record<string, string>> } | undefined;
  /** Only the owner may tag (public images are visible but not taggable by others). */
  canTag(caller: Caller, id: string): boolean;
  list(caller: Caller): readonly { readonly id: string; readonly tags: Readonly<Record<string, string>> }[];
  setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void>;
}

export interface TagDescription {
  readonly resourceId: string;
  readonly resourceType: string;
  readonly key: string;
  readonly value: string;
}

export const MAX_TAGS_PER_RESOURCE = 50;

export class TagService {
  private readonly types: Taggable[] = [];

  register(t: Taggable): void {
    this.types.push(t);
  }

  private typeOf(id: string): Taggable | undefined {
    // The longest matching prefix wins (e.g. 'subnet-' vs 'sg-').
    return [...this.types].sort((a, b) => b.idPrefix.length - a.idPrefix.length).find((t) => id.startsWith(t.idPrefix));
  }

  private resolve(caller: Caller, ids: readonly string[]): { t: Taggable; id: string; tags: Readonly<Record<string, string>> }[] {
    return ids.map((id) => {
      const t = this.typeOf(id);
      if (!t) throw new Ec2Error('InvalidID', `The ID '${id}' is not valid`, { context: { resourceId: id } });
      const r = t.find(caller, id);
      if (!r) {
        throw t.notFound(id);
      }
      if (!t.canTag(caller, id)) throw new Ec2Error('UnauthorizedOperation', `You are not authorized to tag ${id}.`, { context: { resourceId: id } });
      return { t, id, tags: r.tags };
    });
  }

  static checkTags(tags: readonly { key: string; value: string }[]): void {
    for (const { key, value } of tags) {
      if (key.length === 0 || key.length > 128) throw new Ec2Error('InvalidParameterValue', `Tag key must be between 1 and 128 characters: '${key}'`, { context: { key } });
      if (value.length > 256) throw new Ec2Error('InvalidParameterValue', `Tag value must be at most 256 characters for key '${key}'`, { context: { key } });
      if (key.toLowerCase().startsWith('aws:')) throw new Ec2Error('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`, { context: { key } });
    }
  }

  /** Checks everything first, so a failure changes nothing. */
  async create(caller: Caller, ids: readonly string[], tags: readonly { key: string; value: string }[]): Promise<void> {
    TagService.checkTags(tags);
    const targets = this.resolve(caller, ids);
    const next = targets.map(({ t, id, tags: cur }) => {
      const merged: Record<string, string> = { ...cur };
      for (const { key, value } of tags) merged[key] = value;
      if (Object.keys(merged).length > MAX_TAGS_PER_RESOURCE) {
        throw new Ec2Error('TagLimitExceeded', `The maximum number of Tags for a resource has been reached (${MAX_TAGS_PER_RESOURCE}).`, { context: { resourceId: id } });
      }
      return { t, id, merged };
    });
    for (const { t, id, merged } of next) await t.setTags(id, merged);
  }

  /** A tag named with a value is removed only when the value matches; with no value, always. */
  async delete(caller: Caller, ids: readonly string[], tags: readonly { key: string; value: string | undefined }[]): Promise<void> {
    const targets = this.resolve(caller, ids);
    for (const { t, id, tags: cur } of targets) {
      const next: Record<string, string> = { ...cur };
      if (tags.length === 0) for (const k of Object.keys(next)) delete next[k];
      for (const { key, value } of tags) if (value === undefined || next[key] === value) delete next[key];
      await t.setTags(id, next);
    }
  }

  describe(caller: Caller, filters: readonly Filter[]): TagDescription[] {
    const known = new Set(['resource-id', 'resource-type', 'key', 'value']);
    const match = compileFilters<TagDescription>(
      filters,
      (d, name) => {
        switch (name) {
          case 'resource-id':
            return [d.resourceId];
          case 'resource-type':
            return [d.resourceType];
          case 'key':
            return [d.key];
          case 'value':
            return [d.value];
          default:
            if (name.startsWith('tag:')) return d.key === name.slice(4) ? [d.value] : [];
            return undefined;
        }
      },
      (n) => known.has(n) || n.startsWith('tag:'),
    );
    const out: TagDescription[] = [];
    for (const t of this.types) {
      for (const r of t.list(caller)) {
        for (const [key, value] of Object.entries(r.tags)) out.push({ resourceId: r.id, resourceType: t.resourceType, key, value });
      }
    }
    return out.filter(match).sort((a, b) => (a.resourceId === b.resourceId ? (a.key < b.key ? -1 : 1) : a.resourceId < b.resourceId ? -1 : 1));
  }
}

/**
 * The tags a create action puts on its new resource of `type`, from its TagSpecification.N.
 * A specification for a type the action cannot tag is refused as EC2 refuses it; `alsoTaggable`
 * names the other types the action creates and tags itself (RunInstances: its volumes and ENIs).
 */
export function tagsFor(
  specs: readonly { resourceType: string; tags: readonly { key: string; value: string }[] }[],
  type: string,
  alsoTaggable: readonly string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    if (s.resourceType !== type && !alsoTaggable.includes(s.resourceType)) {
      throw new Ec2Error('InvalidParameterValue', `'${s.resourceType}' is not a valid taggable resource type for this operation.`);
    }
    if (s.resourceType === type) for (const t of s.tags) out[t.key] = t.value;
  }
  return out;
}
