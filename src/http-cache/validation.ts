/**
 * Validation (RFC 9111 §4.3): the conditional request a cache sends for a stale entry (§4.3.1), what a
 * 304 changes in the stored response (§4.3.4, §3.2), and answering clients' own conditional requests from
 * a stored response (§4.3.2).
 */

import { listMatches } from '../http/semantics/etag.ts';
import { parseHttpDate } from '../http/semantics/http-date.ts';
import type { HeaderList } from '../http/types.ts';
import { NOT_STORED } from './storability.ts';

/** A stored header field `[name as received, value]`. */
export type Field = readonly [string, string];

/** First value of a lower-case field name among fields. */
export function fieldOf(fields: readonly Field[], lowerName: string): string | undefined {
  for (const [name, value] of fields) if (name.toLowerCase() === lowerName) return value;
  return undefined;
}

/**
 * The validators to send upstream for a stored response (§4.3.1): its entity tag in `If-None-Match` and
 * its `Last-Modified` in `If-Modified-Since` (an origin gives If-None-Match precedence, RFC 9110 §13.2.2).
 */
export function validatorFields(fields: readonly Field[]): Field[] {
  const out: Field[] = [];
  const etag = fieldOf(fields, 'etag');
  if (etag !== undefined) out.push(['If-None-Match', etag]);
  const lastModified = fieldOf(fields, 'last-modified');
  if (lastModified !== undefined && parseHttpDate(lastModified) !== undefined) {
    out.push(['If-Modified-Since', lastModified]);
  }
  return out;
}

/**
 * Whether a 304 may update this stored response (§4.3.4): when the 304 carries a strong entity tag it must
 * equal the stored one; a weak tag must match weakly; a Last-Modified must be equal; with no validator at
 * all the (single) response the cache asked about is the one selected.
 */
export function notModifiedMatches(stored: readonly Field[], notModified: HeaderList): boolean {
  const etag = notModified.get('etag');
  const storedEtag = fieldOf(stored, 'etag');
  if (etag !== undefined) {
    if (storedEtag === undefined) return false;
    if (etag.startsWith('W/')) return listMatches(etag, storedEtag, false);
    // A variant this server encoded carries the weak form of the origin's strong tag (the compress
    // plugin's ETag): the origin's 304 names the strong one.
    return etag === storedEtag || (storedEtag.startsWith('W/') && storedEtag.slice(2) === etag);
  }
  const lastModified = notModified.get('last-modified');
  if (lastModified !== undefined) {
    const storedLm = fieldOf(stored, 'last-modified');
    return storedLm !== undefined && parseHttpDate(storedLm) === parseHttpDate(lastModified);
  }
  return true;
}

/** Fields a 304 must not replace (§3.2): framing, and what the stored body depends on. */
const NOT_UPDATED: ReadonlySet<string> = new Set([
  'content-length',
  'content-range',
  'content-encoding',
  'transfer-encoding',
]);

/**
 * §3.2 / §4.3.4: the stored fields with every field of the 304 replacing the ones of the same name (except
 * hop-by-hop and framing fields, and the ones the body depends on); fields the 304 does not mention stay.
 */
export function mergeNotModified(
  stored: readonly Field[],
  notModified: HeaderList,
  connectionNamed: readonly string[] | null,
): Field[] {
  const incoming = new Map<string, Field[]>();
  for (let i = 0; i < notModified.length; i++) {
    const name = notModified.name(i);
    if (NOT_STORED.has(name) || NOT_UPDATED.has(name) || connectionNamed?.includes(name)) continue;
    let list = incoming.get(name);
    if (list === undefined) incoming.set(name, (list = []));
    list.push([notModified.rawName(i), notModified.value(i)]);
  }
  const out: Field[] = [];
  const placed = new Set<string>();
  for (const field of stored) {
    const lower = field[0].toLowerCase();
    const replacement = incoming.get(lower);
    if (replacement === undefined) out.push(field);
    else if (!placed.has(lower)) {
      // Replace in place (first position), keeping the field order a client saw before.
      out.push(...replacement);
      placed.add(lower);
    }
  }
  for (const [lower, list] of incoming) if (!placed.has(lower)) out.push(...list);
  return keepEncodedVariant(stored, out);
}

/**
 * A variant this server encoded (its weak ETag, its Vary naming Accept-Encoding) stays one after the
 * origin's 304, whose fields describe the unencoded representation: the strong tag does not replace the
 * weak one, and Vary keeps Accept-Encoding.
 */
function keepEncodedVariant(stored: readonly Field[], merged: Field[]): Field[] {
  const storedEtag = fieldOf(stored, 'etag');
  const storedVary = fieldOf(stored, 'vary');
  const varies = storedVary !== undefined && /(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(storedVary);
  if (storedEtag?.startsWith('W/') !== true && !varies) return merged;
  return merged.map((field): Field => {
    const lower = field[0].toLowerCase();
    if (lower === 'etag' && storedEtag !== undefined && `W/${field[1]}` === storedEtag)
      return [field[0], storedEtag];
    if (lower === 'vary' && varies && !/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(field[1]))
      return [field[0], field[1] === '' ? 'Accept-Encoding' : `${field[1]}, Accept-Encoding`];
    return field;
  });
}

/** What a client's conditional request gets from a stored response. */
export type ClientConditional = 'none' | 'not-modified' | 'full' | 'forward';

/**
 * §4.3.2: a cache answers `If-None-Match` (weak comparison, RFC 9110 §13.1.2) and, only when there is no
 * If-None-Match, `If-Modified-Since` against the stored Last-Modified (or Date when absent). Preconditions
 * meant for the origin (`If-Match`, `If-Unmodified-Since`) are forwarded.
 */
export function evaluateClientConditional(
  headers: HeaderList,
  fields: readonly Field[],
  responseTime: number,
): ClientConditional {
  if (headers.has('if-match') || headers.has('if-unmodified-since')) return 'forward';
  const ifNoneMatch = headers.getJoined('if-none-match');
  if (ifNoneMatch !== undefined) {
    const etag = fieldOf(fields, 'etag');
    if (ifNoneMatch.trim() === '*') return 'not-modified';
    return etag !== undefined && listMatches(ifNoneMatch, etag, false) ? 'not-modified' : 'full';
  }
  const ifModifiedSince = headers.get('if-modified-since');
  if (ifModifiedSince === undefined) return 'none';
  const since = parseHttpDate(ifModifiedSince);
  if (since === undefined) return 'none'; // an invalid date is ignored (RFC 9110 §13.1.3)
  const lastModifiedText = fieldOf(fields, 'last-modified') ?? fieldOf(fields, 'date');
  const modified = lastModifiedText === undefined ? responseTime : parseHttpDate(lastModifiedText);
  if (modified === undefined) return 'full';
  return Math.floor(modified / 1000) <= Math.floor(since / 1000) ? 'not-modified' : 'full';
}

/** Fields a 304 repeats from the 200 (RFC 9110 §15.4.5), lower-case. */
export const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
  'last-modified',
]);
