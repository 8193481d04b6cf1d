/**
 * Range requests (RFC 9110 §14): which bytes of a representation to send. Pure, so the static plugin and
 * the cache (which answers 206 from memory) agree exactly. `If-Range` (§13.1.5) is evaluated here because it
 * only decides whether the Range applies.
 */
import { randomBytes } from 'node:crypto';
import type { HeaderList } from '../types.ts';
import { parseHttpDate } from './http-date.ts';

/** One satisfiable byte range, both ends inclusive (as in `Content-Range`). */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeResult =
  | { type: 'full' }
  | { type: 'partial'; ranges: Array<{ start: number; end: number }> }
  | { type: 'unsatisfiable' };

/** More range-specs than this in one header and the header is ignored (§14.2: guard against abuse). */
const MAX_SPECS = 100;
/** More ranges than this left after coalescing and the whole representation is sent instead. */
const MAX_RANGES = 16;
/** Ranges closer than this are merged: a multipart part's own head costs about as much (§14.6). */
const COALESCE_GAP = 80;

const FULL: RangeResult = { type: 'full' };
const UNSATISFIABLE: RangeResult = { type: 'unsatisfiable' };

/** `If-Range` (§13.1.5): a strong entity tag equal to ours, or a date exactly equal to Last-Modified. */
function ifRangeMatches(
  value: string,
  etag: string | undefined,
  lastModifiedMs: number | undefined,
): boolean {
  if (value.charCodeAt(0) === 0x22 /* " */) return etag !== undefined && value === etag;
  if (value.startsWith('W/')) return false; // a weak tag never matches here
  const date = parseHttpDate(value);
  return (
    date !== undefined && lastModifiedMs !== undefined && Math.floor(lastModifiedMs / 1000) === date / 1000
  );
}

/** Parses a run of ASCII digits (the whole string), or -1. */
function digits(text: string): number {
  if (text.length === 0) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  return Number(text);
}

/** Merges overlapping or nearly adjacent ranges (sorted); keeps request order when none touch (§14.6). */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = ranges.slice().sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [{ ...sorted[0]! }];
  for (let i = 1; i < sorted.length; i++) {
    const last = merged[merged.length - 1]!;
    const next = sorted[i]!;
    if (next.start <= last.end + COALESCE_GAP) last.end = Math.max(last.end, next.end);
    else merged.push({ ...next });
  }
  return merged.length === ranges.length ? ranges : merged;
}

/**
 * Decides how to answer a request's `Range` header (§14.2):
 *
 * - `full` (200) when the method is not GET (Range is defined for GET only), there is no Range, the unit is
 *   not `bytes`, the header is malformed (ignored, as §14.2 allows), `If-Range` does not match, the file is
 *   empty (nothing to range over), or there are too many ranges to be worth a multipart answer;
 * - `unsatisfiable` (416) when no range-spec overlaps the representation (§14.1.1);
 * - `partial` (206) with the satisfiable ranges, clipped to the size, overlapping ones coalesced (§14.6).
 *
 * @param size length of the selected representation in bytes
 * @param etag its entity tag, for `If-Range`
 * @param lastModifiedMs its modification time, for a date in `If-Range`
 */
export function evaluateRange(
  headers: HeaderList,
  method: string,
  size: number,
  etag: string | undefined,
  lastModifiedMs: number | undefined,
): RangeResult {
  if (method !== 'GET') return FULL;
  const header = headers.get('range');
  if (header === undefined || size === 0) return FULL;
  // The range unit is case-insensitive (§14.1); OWS around "=" is not allowed.
  if (header.length < 7 || header.slice(0, 6).toLowerCase() !== 'bytes=') return FULL;
  const ifRange = headers.get('if-range');
  if (ifRange !== undefined && !ifRangeMatches(ifRange, etag, lastModifiedMs)) return FULL;

  const specs = header.slice(6).split(',');
  if (specs.length > MAX_SPECS) return FULL;
  const ranges: ByteRange[] = [];
  let sawSpec = false;
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec.length === 0) continue; // empty list elements are allowed (§5.6.1)
    sawSpec = true;
    const dash = spec.indexOf('-');
    if (dash < 0) return FULL;
    if (dash === 0) {
      // suffix-range: the last N bytes (§14.1.2); N = 0 is unsatisfiable.
      const length = digits(spec.slice(1));
      if (length < 0) return FULL;
      if (length > 0) ranges.push({ start: Math.max(0, size - length), end: size - 1 });
      continue;
    }
    const first = digits(spec.slice(0, dash));
    const lastText = spec.slice(dash + 1);
    const last = lastText.length === 0 ? Number.POSITIVE_INFINITY : digits(lastText);
    if (first < 0 || last < 0 || last < first) return FULL; // invalid range-spec: ignore the header
    if (first >= size) continue; // does not overlap: unsatisfiable member
    ranges.push({ start: first, end: Math.min(last, size - 1) });
  }
  if (!sawSpec) return FULL;
  if (ranges.length === 0) return UNSATISFIABLE;
  const merged = ranges.length === 1 ? ranges : coalesce(ranges);
  if (merged.length > MAX_RANGES) return FULL;
  return { type: 'partial', ranges: merged };
}

/** `Content-Range` value of a 206 part: `bytes 0-99/1234`. */
export function contentRange(range: ByteRange, size: number): string {
  return 'bytes ' + range.start + '-' + range.end + '/' + size;
}

/** `Content-Range` value of a 416: `bytes *\/1234` (§14.4). */
export function unsatisfiedRange(size: number): string {
  return 'bytes */' + size;
}

/** The framing of a multipart/byteranges body (§14.6): the part heads, the closing line and the length. */
export interface MultipartPlan {
  /** `Content-Type` of the whole response. */
  contentType: string;
  /** Head of each part (boundary line, Content-Type, Content-Range, blank line), one per range. */
  heads: Buffer[];
  /** The closing boundary line. */
  tail: Buffer;
  /** Total body length: heads + ranges + tail, for `Content-Length`. */
  length: number;
}

/**
 * Plans a multipart/byteranges body. The boundary is random per response, so file content cannot forge
 * a part delimiter.
 */
export function planMultipart(ranges: ByteRange[], size: number, partType: string): MultipartPlan {
  const boundary = randomBytes(12).toString('hex');
  const heads: Buffer[] = [];
  let length = 0;
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    const head = Buffer.from(
      (i === 0 ? '' : '\r\n') +
        '--' +
        boundary +
        '\r\nContent-Type: ' +
        partType +
        '\r\nContent-Range: ' +
        contentRange(range, size) +
        '\r\n\r\n',
      'latin1',
    );
    heads.push(head);
    length += head.length + range.end - range.start + 1;
  }
  const tail = Buffer.from('\r\n--' + boundary + '--\r\n', 'latin1');
  length += tail.length;
  return { contentType: 'multipart/byteranges; boundary=' + boundary, heads, tail, length };
}
