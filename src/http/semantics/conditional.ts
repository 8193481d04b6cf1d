/**
 * Conditional requests (RFC 9110 §13): the decision between sending the representation (200), telling the
 * client its copy is current (304) and refusing because a precondition failed (412). Pure, so the static
 * plugin and the cache (which answers from memory) reach the same answer for the same request.
 *
 * `If-Range` is not handled here: it only decides whether a Range applies (see `range.ts`).
 */
import type { HeaderList } from '../types.ts';
import { listMatches } from './etag.ts';
import { parseHttpDate } from './http-date.ts';

/** Whole seconds: `Last-Modified` and the dates clients echo back carry no finer resolution. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** True when any field name starts with `if-`: most requests have none and skip all further work. */
function hasConditionalField(headers: HeaderList): boolean {
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    if (name.charCodeAt(0) === 0x69 && name.charCodeAt(1) === 0x66 && name.charCodeAt(2) === 0x2d)
      return true;
  }
  return false;
}

/**
 * Whether the request has a field starting with `if-` or a `Range` field: a cache answers the others with
 * its pre-built bytes, without evaluating anything.
 */
export function hasConditionalOrRange(headers: HeaderList): boolean {
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    const c = name.charCodeAt(0);
    if (c === 0x69 /* i */ && name.charCodeAt(1) === 0x66 && name.charCodeAt(2) === 0x2d) return true;
    if (c === 0x72 /* r */ && name === 'range') return true;
  }
  return false;
}

/**
 * Evaluates the preconditions of a request against the selected representation, in the order of
 * RFC 9110 §13.2.2:
 *
 * 1. `If-Match` (strong comparison, §13.1.1) false → 412;
 * 2. else `If-Unmodified-Since` (§13.1.4) false → 412 (ignored without a modification date or a valid date);
 * 3. `If-None-Match` (weak comparison, §13.1.2) matches → 304 for GET/HEAD, 412 otherwise;
 * 4. else, for GET/HEAD, `If-Modified-Since` (§13.1.3) not modified → 304.
 *
 * @param etag the representation's entity tag, or `undefined` when it has none
 * @param lastModifiedMs its modification time in epoch ms, or `undefined` when unknown
 * @returns 200 to proceed (and evaluate Range), 304 or 412
 */
export function checkPreconditions(
  headers: HeaderList,
  method: string,
  etag: string | undefined,
  lastModifiedMs: number | undefined,
): 200 | 304 | 412 {
  if (!hasConditionalField(headers)) return 200;
  const getOrHead = method === 'GET' || method === 'HEAD';

  const ifMatch = headers.getJoined('if-match');
  if (ifMatch !== undefined) {
    // `*` matches any current representation; one without a tag matches no listed tag.
    const ok = ifMatch.trim() === '*' || (etag !== undefined && listMatches(ifMatch, etag, true));
    if (!ok) return 412;
  } else {
    const ifUnmodifiedSince = headers.get('if-unmodified-since');
    if (ifUnmodifiedSince !== undefined && lastModifiedMs !== undefined) {
      const date = parseHttpDate(ifUnmodifiedSince);
      if (date !== undefined && seconds(lastModifiedMs) > seconds(date)) return 412;
    }
  }

  const ifNoneMatch = headers.getJoined('if-none-match');
  if (ifNoneMatch !== undefined) {
    const matched =
      ifNoneMatch.trim() === '*' || (etag !== undefined && listMatches(ifNoneMatch, etag, false));
    if (matched) return getOrHead ? 304 : 412;
  } else if (getOrHead && lastModifiedMs !== undefined) {
    const ifModifiedSince = headers.get('if-modified-since');
    if (ifModifiedSince !== undefined) {
      const date = parseHttpDate(ifModifiedSince);
      if (date !== undefined && seconds(lastModifiedMs) <= seconds(date)) return 304;
    }
  }
  return 200;
}
