/**
 * Whether a shared cache may store a response (RFC 9111 §3), and which of its fields it keeps (§3.1).
 * Pure: the request facts, the response status, fields and parsed directives in; a decision with a
 * reason (for Cache-Status and the stats) out.
 */
import { HOP_BY_HOP } from '../http/semantics/hop-by-hop.ts';
import type { CacheDirectives } from './cache-control.ts';
import { HEURISTIC_STATUSES, type Lifetime } from './freshness.ts';

/** Status codes whose caching rules this cache implements (for `must-understand`, §5.2.2.3). */
const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
]);

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, the proxy's one list) and fields this cache regenerates per
 * response: never stored (§3.1). `age` is recomputed (§5.1), framing is the writer's.
 */
export const NOT_STORED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'age']);

/** Per-route storage settings. */
export interface StorageOptions {
  /** Request methods whose responses may be stored: GET always; POST only when listed (§9.3.3 RFC 9110). */
  allowPost: boolean;
  /** `Set-Cookie` in a response: `bypass` = not stored (default), `strip` = stored without it. */
  setCookie: 'bypass' | 'strip';
  /**
   * A response to a request with `Cookie` may be stored on implicit freshness (heuristic, `default_ttl`)
   * or for validation alone; false: only with explicit freshness or `public`.
   */
  cookieImplicitFreshness: boolean;
}

/** Why a response was not stored. */
export type NotStoredReason =
  | 'method'
  | 'status'
  | 'no-store'
  | 'private'
  | 'authorization'
  | 'set-cookie'
  | 'cookie-implicit-freshness'
  | 'vary-star'
  | 'no-freshness'
  | 'partial'
  | 'content-location';

export type StoreDecision = { store: true } | { store: false; reason: NotStoredReason };

/** The facts `decideStorage` looks at. */
export interface StorageInput {
  method: string;
  /** The request carried `Authorization` (§3.5). */
  authorization: boolean;
  /** The request carried `Cookie`. */
  cookie: boolean;
  /** The request's target, to compare with a POST response's Content-Location. */
  target: string;
  status: number;
  response: CacheDirectives;
  /** The request said `no-store` (§5.2.1.5). */
  requestNoStore: boolean;
  lifetime: Lifetime;
  hasValidator: boolean;
  hasSetCookie: boolean;
  /** Vary field value, joined. */
  vary: string | undefined;
  contentLocation: string | undefined;
}

/** RFC 9111 §3: the conditions for storing a response in a shared cache, checked in order. */
export function decideStorage(input: StorageInput, options: StorageOptions): StoreDecision {
  const d = input.response;
  const method = input.method;
  // §3 "the request method is understood by the cache" and cacheable: GET; POST only with explicit
  // freshness and a Content-Location equal to the target (RFC 9110 §9.3.3), and only when allowed.
  if (method === 'POST') {
    if (!options.allowPost) return { store: false, reason: 'method' };
    if (input.contentLocation === undefined || input.contentLocation !== input.target) {
      return { store: false, reason: 'content-location' };
    }
    if (input.lifetime.source !== 'explicit') return { store: false, reason: 'no-freshness' };
  } else if (method !== 'GET') return { store: false, reason: 'method' };
  // §3 "the response status code is final"; a 206 is not a full response (§3.3: not stored as one here).
  if (input.status < 200) return { store: false, reason: 'status' };
  if (input.status === 206) return { store: false, reason: 'partial' };
  if (input.status === 304) return { store: false, reason: 'status' };
  // §5.2.2.3: must-understand limits storage to caches that implement the status code's rules; such a
  // cache then ignores no-store.
  if (d.mustUnderstand) {
    if (!UNDERSTOOD_STATUSES.has(input.status)) return { store: false, reason: 'status' };
  } else if (d.noStore) return { store: false, reason: 'no-store' };
  if (input.requestNoStore) return { store: false, reason: 'no-store' }; // §5.2.1.5
  if (d.private) return { store: false, reason: 'private' }; // §5.2.2.7: a shared cache
  // §3.5: a response to an authenticated request only with an explicit permission.
  if (input.authorization && !(d.public || d.sMaxage !== undefined || d.mustRevalidate)) {
    return { store: false, reason: 'authorization' };
  }
  if (input.hasSetCookie && options.setCookie === 'bypass') return { store: false, reason: 'set-cookie' };
  // Web cache deception: a page built for a Cookie (a session) that says nothing about caching but
  // `Last-Modified` would get heuristic freshness and reach everyone; and stored only to be validated, a
  // 304 from an origin that compares dates alone would hand it out too. The origin must say so itself.
  if (input.cookie && !options.cookieImplicitFreshness && input.lifetime.source !== 'explicit' && !d.public) {
    return { store: false, reason: 'cookie-implicit-freshness' };
  }
  // §4.1: "Vary: *" always fails to match: storing it would only take memory.
  if (input.vary !== undefined && /(^|,)\s*\*\s*(,|$)/.test(input.vary)) {
    return { store: false, reason: 'vary-star' };
  }
  // §3: explicit freshness, `public`, or a heuristically cacheable status. A response that would be stale
  // at once is worth keeping only when it can be validated (§4.3).
  const permitted = input.lifetime.source !== 'none' || d.public || HEURISTIC_STATUSES.has(input.status);
  if (!permitted) return { store: false, reason: 'status' };
  if (input.lifetime.ms <= 0 && !input.hasValidator) return { store: false, reason: 'no-freshness' };
  return { store: true };
}

/**
 * Whether a stored field is kept (§3.1): not hop-by-hop, not named in Connection, not one of the
 * qualified `private` fields, not Set-Cookie when stripping.
 */
export function keepField(
  lowerName: string,
  privateFields: readonly string[] | null,
  connectionNamed: readonly string[] | null,
  stripSetCookie: boolean,
): boolean {
  if (NOT_STORED.has(lowerName)) return false;
  if (connectionNamed?.includes(lowerName)) return false;
  if (privateFields?.includes(lowerName)) return false;
  if (stripSetCookie && lowerName === 'set-cookie') return false;
  return true;
}
