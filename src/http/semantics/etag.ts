/**
 * Entity tags (RFC 9110 §8.8.3): how Tamarin makes them for files and how it compares them to the lists
 * clients send in `If-Match`, `If-None-Match` and `If-Range`.
 */

/**
 * A strong ETag for a file: `"<size-hex>-<mtime-ms-hex>"`, plus `-<encoding>` for a precompressed sibling
 * so that the identity and encoded representations never share a tag (§8.8.3: a strong tag names exact
 * bytes). Built from size and mtime only, like nginx, so several instances serving the same deployed files
 * agree on it; the inode would differ from machine to machine.
 */
export function makeEtag(size: number, mtimeMs: number, encoding?: string): string {
  const base = '"' + size.toString(16) + '-' + Math.floor(mtimeMs).toString(16);
  return encoding === undefined ? base + '"' : base + '-' + encoding + '"';
}

/** Whether a tag is weak (`W/"..."`). */
function isWeak(tag: string): boolean {
  return tag.charCodeAt(0) === 0x57 /* W */;
}

/** The opaque part of a tag including its quotes, without the `W/` prefix. */
function opaque(tag: string): string {
  return isWeak(tag) ? tag.slice(2) : tag;
}

/**
 * Splits an entity-tag list (`"a", W/"b"`) into its members; `*` is returned as `['*']`. Commas may
 * appear inside the quotes (§8.8.3 etagc includes them), so this scans rather than splitting on `,`.
 * Malformed members end the scan: what came before still counts.
 */
export function parseEtagList(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed === '*') return ['*'];
  const tags: string[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x2c) {
      i++;
      continue;
    }
    const start = i;
    if (c === 0x57 && value.charCodeAt(i + 1) === 0x2f /* W/ */) i += 2;
    if (value.charCodeAt(i) !== 0x22) break;
    const close = value.indexOf('"', i + 1);
    if (close < 0) break;
    tags.push(value.slice(start, close + 1));
    i = close + 1;
  }
  return tags;
}

/** Strong comparison (§8.8.3.2): both strong and the same characters. */
export function strongMatch(a: string, b: string): boolean {
  return a === b && !isWeak(a);
}

/** Weak comparison (§8.8.3.2): the opaque parts are equal, weakness ignored. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}

/** Whether `etag` matches any member of a header's list (`*` matches any current representation). */
export function listMatches(list: string, etag: string, strong: boolean): boolean {
  // Fast path: a single tag exactly equal to ours, the usual revalidation.
  if (list === etag) return !strong || !isWeak(etag);
  for (const tag of parseEtagList(list)) {
    if (tag === '*') return true;
    if (strong ? strongMatch(tag, etag) : weakMatch(tag, etag)) return true;
  }
  return false;
}
