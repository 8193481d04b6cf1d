/**
 * Freshness (RFC 9111 §4.2): how long a stored response may be used without asking the origin, how old it
 * is (§4.2.3, the Age a cache sends, §5.1), and whether a request may take it as it is, stale, or only
 * after validation. Pure functions over milliseconds; the caller supplies the clock.
 */
import { parseHttpDate } from '../http/semantics/http-date.ts';
import type { CacheDirectives } from './cache-control.ts';

/** Status codes that are heuristically cacheable (RFC 9110 §15.1) and that this cache understands. */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** When a response arrived, and what its Date and Age said (the inputs of §4.2.3). */
export interface ResponseTiming {
  /** Epoch ms when the request was sent upstream. */
  requestTime: number;
  /** Epoch ms when the response head arrived. */
  responseTime: number;
  /** Epoch ms of the Date field (or `responseTime` when absent or invalid, RFC 9110 §6.6.1). */
  dateValue: number;
  /** Seconds of the Age field received (0 when absent or invalid). */
  ageValue: number;
}

/** `Age` field value (§5.1): delta-seconds; a list or garbage counts as 0 ... unless it is a bigger list. */
export function parseAge(value: string | undefined): number {
  if (value === undefined) return 0;
  // §5.1: a recipient parsing a list should use the first value; invalid → ignored.
  const first = value.split(',')[0]!.trim();
  if (!/^\d+$/.test(first)) return 0;
  return Math.min(Number(first), 2147483648);
}

/** §4.2.3 corrected_initial_age, in ms. */
export function correctedInitialAge(t: ResponseTiming): number {
  const apparentAge = Math.max(0, t.responseTime - t.dateValue);
  const responseDelay = Math.max(0, t.responseTime - t.requestTime);
  const correctedAgeValue = t.ageValue * 1000 + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** §4.2.3 current_age at `now`, in ms. */
export function currentAge(initialAgeMs: number, responseTime: number, now: number): number {
  return initialAgeMs + Math.max(0, now - responseTime);
}

/** Per-route freshness settings. */
export interface FreshnessOptions {
  /** Lifetime given to responses with no explicit freshness (ms); 0 = off. */
  defaultTtlMs: number;
  /** Allow heuristic freshness (§4.2.2). */
  heuristic: boolean;
  /** Upper bound of a heuristic lifetime, ms. */
  heuristicMaxMs: number;
}

/** What `freshnessLifetime` decided and why. */
export interface Lifetime {
  ms: number;
  /** `explicit` (s-maxage, max-age, Expires), `heuristic` (§4.2.2), `default` (configured) or `none`. */
  source: 'explicit' | 'heuristic' | 'default' | 'none';
}

/** Header values freshness depends on (first values; `expiresCount` for repeated Expires). */
export interface FreshnessFields {
  date: string | undefined;
  expires: string | undefined;
  /** Number of Expires field lines; more than one with different values is invalid (§4.2.1). */
  expiresConflict?: boolean;
  lastModified: string | undefined;
}

/**
 * §4.2.1: s-maxage (shared caches) over max-age over Expires − Date; an invalid Expires (e.g. "0") means
 * already expired (§5.3). Without explicit information: the configured default TTL, else the heuristic
 * (10% of the time since Last-Modified, bounded, only for heuristically cacheable statuses or `public`).
 */
export function freshnessLifetime(
  d: CacheDirectives,
  fields: FreshnessFields,
  status: number,
  timing: ResponseTiming,
  options: FreshnessOptions,
): Lifetime {
  if (d.sMaxage !== undefined) return { ms: d.sMaxage * 1000, source: 'explicit' };
  if (d.maxAge !== undefined) return { ms: d.maxAge * 1000, source: 'explicit' };
  if (fields.expires !== undefined) {
    const expires = fields.expiresConflict ? undefined : parseHttpDate(fields.expires);
    if (expires === undefined) return { ms: 0, source: 'explicit' };
    return { ms: Math.max(0, expires - timing.dateValue), source: 'explicit' };
  }
  const cacheable = HEURISTIC_STATUSES.has(status) || d.public;
  if (!cacheable) return { ms: 0, source: 'none' };
  if (options.defaultTtlMs > 0) return { ms: options.defaultTtlMs, source: 'default' };
  if (options.heuristic && fields.lastModified !== undefined) {
    const lastModified = parseHttpDate(fields.lastModified);
    if (lastModified !== undefined && lastModified < timing.dateValue) {
      // §4.2.2: "a typical setting of this fraction might be 10%".
      const ms = Math.min(options.heuristicMaxMs, Math.floor((timing.dateValue - lastModified) / 10));
      return { ms, source: 'heuristic' };
    }
  }
  return { ms: 0, source: 'none' };
}

/** Whether the response forbids ever being served stale (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10). */
export function neverStale(d: CacheDirectives): boolean {
  return d.noCache || d.mustRevalidate || d.proxyRevalidate || d.sMaxage !== undefined;
}

/** How a stored response may answer a request. */
export type ReuseDecision =
  /** Fresh (and the request accepts it): serve. */
  | 'fresh'
  /** Stale, but the request's max-stale accepts it (§4.2.4): serve with no validation. */
  | 'stale'
  /** Stale within stale-while-revalidate (RFC 5861 §3): serve, refresh in the background. */
  | 'stale-while-revalidate'
  /** Must be validated with the origin first (§4.3). */
  | 'validate';

/** The facts of one stored response needed for reuse decisions. */
export interface StoredFreshness {
  lifetimeMs: number;
  initialAgeMs: number;
  responseTime: number;
  directives: CacheDirectives;
}

/**
 * Decide reuse at `now` (§4, §4.2.4, §5.2.1): response `no-cache` and request `no-cache` / `max-age` /
 * `min-fresh` force validation; a stale response is served only when nothing forbids it.
 */
export function decideReuse(entry: StoredFreshness, request: CacheDirectives, now: number): ReuseDecision {
  const age = currentAge(entry.initialAgeMs, entry.responseTime, now);
  const d = entry.directives;
  if (d.noCache || request.noCache) return 'validate'; // §5.2.2.4, §5.2.1.4
  // §5.2.1.1: max-age=N means "not older than N seconds", fresh or not.
  if (request.maxAge !== undefined && age > request.maxAge * 1000) return 'validate';
  const remaining = entry.lifetimeMs - age;
  // §5.2.1.3: min-fresh=N needs N more seconds of freshness.
  if (request.minFresh !== undefined && remaining < request.minFresh * 1000) return 'validate';
  if (remaining > 0) return 'fresh';
  if (neverStale(d)) return 'validate';
  const staleness = -remaining;
  // §5.2.1.2: the client accepts this much staleness.
  if (request.maxStale !== undefined && staleness <= request.maxStale * 1000) return 'stale';
  if (d.staleWhileRevalidate !== undefined && staleness <= d.staleWhileRevalidate * 1000) {
    return 'stale-while-revalidate';
  }
  return 'validate';
}

/**
 * Whether a stale response may stand in for an error (RFC 5861 §4 `stale-if-error`, from the response or
 * the request, or the configured `fallbackMs` when all backends are down), never when the response forbids
 * stale use.
 */
export function staleOnError(
  entry: StoredFreshness,
  request: CacheDirectives,
  now: number,
  fallbackMs: number,
): boolean {
  if (neverStale(entry.directives)) return false;
  const staleness = currentAge(entry.initialAgeMs, entry.responseTime, now) - entry.lifetimeMs;
  if (staleness <= 0) return true;
  const windows = [entry.directives.staleIfError, request.staleIfError];
  for (const seconds of windows) if (seconds !== undefined && staleness <= seconds * 1000) return true;
  return fallbackMs > 0 && staleness <= fallbackMs;
}
