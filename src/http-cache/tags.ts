/**
 * Purge by tag (Fastly's surrogate keys, Cloudflare's Cache-Tag, Varnish's xkey): an origin labels a
 * response (`Cache-Tag: product-42 author-7`, `Surrogate-Key: ...`), and one purge removes every stored
 * response with that label. An index from tag to store keys makes a purge cost O(entries with the tag),
 * never a scan of the store.
 *
 * The index is behind {@link TagIndex} so that a shared store can keep it elsewhere (in its arena, or a
 * Redis set per tag) without the cache's logic changing.
 */
import type { StoredField } from '../cache/entry.ts';
import { KeyIndex } from '../cache/key-index.ts';
import { splitTags } from '../cache/purge.ts';

export { MAX_TAG_LENGTH, splitTags } from '../cache/purge.ts';

/** Tags read from one response at most (an origin cannot make one entry cost unbounded memory). */
export const MAX_TAGS_PER_ENTRY = 128;

/** Tag → store keys. `add` and `remove` are called as entries enter and leave the store. */
export interface TagIndex {
  add(key: string, tags: readonly string[]): void;
  remove(key: string, tags: readonly string[]): void;
  /** The keys stored with `tag` (a copy: the caller may delete while iterating). */
  keysOf(tag: string): string[];
  /** Distinct tags indexed. */
  readonly size: number;
}

/** The in-memory index of one worker's store. */
export class MemoryTagIndex implements TagIndex {
  private readonly index = new KeyIndex();

  add(key: string, tags: readonly string[]): void {
    for (const tag of tags) this.index.add(tag, key);
  }

  remove(key: string, tags: readonly string[]): void {
    for (const tag of tags) this.index.remove(tag, key);
  }

  keysOf(tag: string): string[] {
    return this.index.keys(tag);
  }

  get size(): number {
    return this.index.size;
  }
}

/**
 * The tags of a stored response: every value of the fields named in `names` (lower-case), deduplicated,
 * at most {@link MAX_TAGS_PER_ENTRY}; null when it has none.
 */
export function tagsOf(fields: readonly StoredField[], names: ReadonlySet<string>): string[] | null {
  let tags: Set<string> | null = null;
  for (const [name, value] of fields) {
    if (!names.has(name.toLowerCase())) continue;
    tags ??= new Set();
    for (const tag of splitTags(value)) {
      if (tags.size >= MAX_TAGS_PER_ENTRY) break;
      tags.add(tag);
    }
  }
  return tags === null || tags.size === 0 ? null : [...tags];
}
