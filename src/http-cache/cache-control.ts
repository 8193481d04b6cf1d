/**
 * Cache-Control parsing (RFC 9111 §5.2), robust to what real origins send: any case, whitespace around
 * `,` and `=`, quoted values (with `\` escapes), repeated fields and directives, and invalid values.
 * Where the RFC leaves a choice, the conservative reading wins (§4.2.1: "the most restrictive directive
 * should be honored"; invalid or conflicting freshness information makes the response stale).
 */

import { parseDictionary } from '../http/structured-fields.ts';

/** delta-seconds are capped at 2^31 (RFC 9111 §1.2.2). */
export const MAX_DELTA_SECONDS = 2147483648;

/** Directives a cache acts on, request and response side (one parser serves both). */
export interface CacheDirectives {
  /** `max-age` in seconds; 0 when invalid or given twice with different values (§4.2.1). */
  maxAge: number | undefined;
  /** `s-maxage` in seconds (§5.2.2.10), same rules. */
  sMaxage: number | undefined;
  noStore: boolean;
  /** `no-cache`, qualified or not: a qualified one is treated as unqualified (§5.2.2.4, conservative). */
  noCache: boolean;
  /** `private` without field names (§5.2.2.7): a shared cache does not store the response. */
  private: boolean;
  /** Field names of a qualified `private="a, b"`: stored without those fields. */
  privateFields: string[] | null;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  mustUnderstand: boolean;
  noTransform: boolean;
  immutable: boolean;
  /** RFC 5861 §3, seconds. */
  staleWhileRevalidate: number | undefined;
  /** RFC 5861 §4, seconds (response and request). */
  staleIfError: number | undefined;
  /** Request `max-stale` (§5.2.1.2): seconds, `Infinity` when given without a value. */
  maxStale: number | undefined;
  /** Request `min-fresh` (§5.2.1.3), seconds. */
  minFresh: number | undefined;
  onlyIfCached: boolean;
}

/** A fresh set of "nothing said" directives. */
export function emptyDirectives(): CacheDirectives {
  return {
    maxAge: undefined,
    sMaxage: undefined,
    noStore: false,
    noCache: false,
    private: false,
    privateFields: null,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    mustUnderstand: false,
    noTransform: false,
    immutable: false,
    staleWhileRevalidate: undefined,
    staleIfError: undefined,
    maxStale: undefined,
    minFresh: undefined,
    onlyIfCached: false,
  };
}

/** One `name[=value]` member of the list, name lower-cased, value unquoted (or null when absent). */
export interface RawDirective {
  name: string;
  value: string | null;
}

/** Split a Cache-Control value into directives; commas inside quoted strings do not split. */
export function splitDirectives(value: string): RawDirective[] {
  const out: RawDirective[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    // Skip separators and whitespace (empty list members are allowed, RFC 9110 §5.6.1).
    let c = value.charCodeAt(i);
    if (c === 0x2c || c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    let start = i;
    while (i < n) {
      c = value.charCodeAt(i);
      if (c === 0x2c || c === 0x3d /* = */) break;
      i++;
    }
    const name = value.slice(start, i).trim().toLowerCase();
    let directiveValue: string | null = null;
    if (i < n && value.charCodeAt(i) === 0x3d) {
      i++;
      while (i < n && (value.charCodeAt(i) === 0x20 || value.charCodeAt(i) === 0x09)) i++;
      if (value.charCodeAt(i) === 0x22 /* " */) {
        // quoted-string (RFC 9110 §5.6.4): backslash escapes the next character.
        i++;
        let text = '';
        while (i < n && value.charCodeAt(i) !== 0x22) {
          if (value.charCodeAt(i) === 0x5c && i + 1 < n) i++;
          text += value[i];
          i++;
        }
        i++; // closing quote (or end)
        directiveValue = text;
        while (i < n && value.charCodeAt(i) !== 0x2c) i++; // junk after the quote is ignored
      } else {
        start = i;
        while (i < n && value.charCodeAt(i) !== 0x2c) i++;
        directiveValue = value.slice(start, i).trim();
      }
    }
    if (name !== '') out.push({ name, value: directiveValue });
  }
  return out;
}

/** delta-seconds (RFC 9111 §1.2.2): digits only, capped at 2^31; -1 when invalid. */
export function parseDeltaSeconds(text: string | null): number {
  if (text === null || text.length === 0) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  const n = Number(text);
  return Math.min(n, MAX_DELTA_SECONDS);
}

type SecondsKey = 'maxAge' | 'sMaxage' | 'staleWhileRevalidate' | 'staleIfError' | 'minFresh';

/**
 * Merge a seconds-valued directive. Freshness-granting directives (max-age, s-maxage) become 0 when
 * invalid or repeated with different values (§4.2.1: treat as stale); the stale-serving ones (RFC 5861)
 * are dropped instead (never serve stale on doubtful information); min-fresh keeps the larger value.
 */
function mergeSeconds(d: CacheDirectives, key: SecondsKey, raw: string | null): void {
  const seconds = parseDeltaSeconds(raw);
  const previous = d[key];
  if (key === 'maxAge' || key === 'sMaxage') {
    if (seconds < 0) d[key] = 0;
    else if (previous === undefined) d[key] = seconds;
    else if (previous !== seconds) d[key] = 0;
    return;
  }
  if (key === 'minFresh') {
    if (seconds >= 0) d.minFresh = previous === undefined ? seconds : Math.max(previous, seconds);
    return;
  }
  if (seconds < 0 || (previous !== undefined && previous !== seconds)) d[key] = -1;
  else if (previous === undefined) d[key] = seconds;
}

/**
 * Parse one or more Cache-Control field values (pass `headers.getJoined('cache-control')`). Unknown
 * directives are ignored (§5.2.3). `undefined` gives the empty set.
 */
export function parseCacheControl(value: string | undefined): CacheDirectives {
  const d = emptyDirectives();
  if (value === undefined || value === '') return d;
  for (const { name, value: raw } of splitDirectives(value)) {
    switch (name) {
      case 'max-age':
        mergeSeconds(d, 'maxAge', raw);
        break;
      case 's-maxage':
        mergeSeconds(d, 'sMaxage', raw);
        break;
      case 'stale-while-revalidate':
        mergeSeconds(d, 'staleWhileRevalidate', raw);
        break;
      case 'stale-if-error':
        mergeSeconds(d, 'staleIfError', raw);
        break;
      case 'min-fresh':
        mergeSeconds(d, 'minFresh', raw);
        break;
      case 'max-stale': {
        // §5.2.1.2: without a value, any staleness is accepted; an invalid value accepts none.
        if (raw === null) d.maxStale = Number.POSITIVE_INFINITY;
        else {
          const seconds = parseDeltaSeconds(raw);
          const previous = d.maxStale;
          const next = Math.max(seconds, 0);
          d.maxStale = previous === undefined ? next : Math.min(previous, next);
        }
        break;
      }
      case 'no-store':
        d.noStore = true;
        break;
      case 'no-cache':
        d.noCache = true;
        break;
      case 'private':
        if (raw === null || raw.trim() === '') d.private = true;
        else {
          const fields = raw
            .split(',')
            .map((f) => f.trim().toLowerCase())
            .filter((f) => f !== '');
          d.privateFields = [...(d.privateFields ?? []), ...fields];
        }
        break;
      case 'public':
        d.public = true;
        break;
      case 'must-revalidate':
        d.mustRevalidate = true;
        break;
      case 'proxy-revalidate':
        d.proxyRevalidate = true;
        break;
      case 'must-understand':
        d.mustUnderstand = true;
        break;
      case 'no-transform':
        d.noTransform = true;
        break;
      case 'immutable':
        d.immutable = true;
        break;
      case 'only-if-cached':
        d.onlyIfCached = true;
        break;
    }
  }
  // Dropped stale-serving directives were marked -1 above.
  if (d.staleWhileRevalidate === -1) d.staleWhileRevalidate = undefined;
  if (d.staleIfError === -1) d.staleIfError = undefined;
  return d;
}

/**
 * Request directives, with `Pragma: no-cache` standing for `Cache-Control: no-cache` when the request has
 * no Cache-Control field (RFC 9111 §5.4; RFC 7234 §5.4 semantics, still what clients send).
 */
export function parseRequestDirectives(
  cacheControl: string | undefined,
  pragma: string | undefined,
): CacheDirectives {
  const d = parseCacheControl(cacheControl);
  if (cacheControl === undefined && pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)) {
    d.noCache = true;
  }
  return d;
}

/**
 * A targeted cache-control field such as `CDN-Cache-Control` (RFC 9213 §2.1): an RFC 8941 Dictionary whose
 * members are response directives. Durations must be non-negative Integers, flags bare (Boolean true) or
 * `?0` (absent); `private` and `no-cache` may carry a String of field names. An empty field, one that is
 * not a valid Dictionary, or a known directive with a value of another type (`max-age="60"`) makes the
 * whole field ignored: `null`, and the caller falls back to Cache-Control (§2.1: "the cache MUST ignore
 * the field"). Unknown directives are ignored whatever their value (RFC 9111 §5.2.3).
 */
export function parseTargetedCacheControl(value: string | undefined): CacheDirectives | null {
  if (value === undefined) return null;
  const dictionary = parseDictionary(value);
  if (dictionary === null || dictionary.size === 0) return null;
  const d = emptyDirectives();
  for (const [name, member] of dictionary) {
    switch (name) {
      case 'max-age':
      case 's-maxage':
      case 'stale-while-revalidate':
      case 'stale-if-error': {
        if (member.type !== 'integer' || member.value < 0) return null;
        const seconds = Math.min(member.value, MAX_DELTA_SECONDS);
        if (name === 'max-age') d.maxAge = seconds;
        else if (name === 's-maxage') d.sMaxage = seconds;
        else if (name === 'stale-while-revalidate') d.staleWhileRevalidate = seconds;
        else d.staleIfError = seconds;
        break;
      }
      case 'private':
      case 'no-cache': {
        let on: boolean;
        if (member.type === 'boolean') on = member.value;
        else if (member.type === 'string') on = true;
        else return null;
        if (!on) break;
        if (name === 'no-cache') d.noCache = true;
        else if (member.type === 'string' && member.value.trim() !== '') {
          const fields = member.value
            .split(',')
            .map((f) => f.trim().toLowerCase())
            .filter((f) => f !== '');
          d.privateFields = [...(d.privateFields ?? []), ...fields];
        } else d.private = true;
        break;
      }
      case 'no-store':
      case 'public':
      case 'must-revalidate':
      case 'proxy-revalidate':
      case 'must-understand':
      case 'no-transform':
      case 'immutable': {
        if (member.type !== 'boolean') return null;
        if (!member.value) break;
        if (name === 'no-store') d.noStore = true;
        else if (name === 'public') d.public = true;
        else if (name === 'must-revalidate') d.mustRevalidate = true;
        else if (name === 'proxy-revalidate') d.proxyRevalidate = true;
        else if (name === 'must-understand') d.mustUnderstand = true;
        else if (name === 'no-transform') d.noTransform = true;
        else d.immutable = true;
        break;
      }
    }
  }
  return d;
}
