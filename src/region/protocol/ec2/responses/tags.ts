// EC2 responses, tags: the typed results and their XML writers.

import { writeReturn, type WriterTable } from './common.js';

export interface TagDescription {
  readonly resourceId: string;
  readonly resourceType: string;
  readonly key: string;
  readonly value: string;
}

export type TagResponse =
  | { readonly action: 'CreateTags' | 'DeleteTags' }
  | { readonly action: 'DescribeTags'; readonly tags: readonly TagDescription[]; readonly nextToken?: string | undefined };

export const TAG_WRITERS: WriterTable<TagResponse> = {
  CreateTags: writeReturn,
  DeleteTags: writeReturn,
  DescribeTags(w, r) {
    w.list('tagSet', r.tags, (x, t) => x.leaf('resourceId', t.resourceId).leaf('resourceType', t.resourceType).leaf('key', t.key).leaf('value', t.value));
    w.leaf('nextToken', r.nextToken);
  },
};
