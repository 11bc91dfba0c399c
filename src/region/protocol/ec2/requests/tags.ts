// EC2 requests, tags: create, delete, describe across every taggable resource.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { asStruct, type Base, checkResourceId, checkTagKey, dryRun, type Filter, missing, type Paged, paged, type ParserTable, readFilters, readTags, type Tag, type TagSelector } from './common.js';

export interface CreateTagsRequest extends Base {
  readonly action: 'CreateTags';
  readonly resources: readonly string[];
  readonly tags: readonly Tag[];
}

export interface DeleteTagsRequest extends Base {
  readonly action: 'DeleteTags';
  readonly resources: readonly string[];
  /** Empty: delete every tag of the resources (EC2's behaviour when no Tag.N is given). */
  readonly tags: readonly TagSelector[];
}

export interface DescribeTagsRequest extends Base, Paged {
  readonly action: 'DescribeTags';
  readonly filters: readonly Filter[];
}

export type TagRequest =
  | CreateTagsRequest
  | DeleteTagsRequest
  | DescribeTagsRequest;

export const TAG_PARSERS: ParserTable<TagRequest> = {
  CreateTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = readTags(r, 'Tag');
    if (tags.length === 0) throw missing('Tag');
    return { action: 'CreateTags', dryRun: dryRun(r), resources, tags };
  },

  DeleteTags(r) {
    const resources = r.stringList('ResourceId').map(checkResourceId);
    if (resources.length === 0) throw missing('ResourceId');
    const tags = r.list('Tag', (node, path) => {
      const t = asStruct(node, path);
      const key = t.string('Key');
      if (key === undefined) throw missing(`${path}.Key`);
      checkTagKey(key, `${path}.Key`);
      return { key, value: t.string('Value') };
    });
    return { action: 'DeleteTags', dryRun: dryRun(r), resources, tags };
  },

  DescribeTags: (r) => ({ action: 'DescribeTags', dryRun: dryRun(r), filters: readFilters(r), ...paged(r, 5, 1000) }),
};

/** The tags actions that change state (audited before effect; every action accepts DryRun). */
export const TAG_MUTATING: readonly TagRequest['action'][] = ['CreateTags', 'DeleteTags'];
