/**
 * Per-route cache settings: `cache = true` or a `cache = { ... }` table in a `[[proxy.routes]]` entry.
 * Nothing is cached on a route that does not ask for it, and nothing the origin did not allow is cached
 * on a route that does (`default_ttl` is off unless configured).
 */
import { z } from 'zod';
import { byteSize, duration } from '../server/units.ts';
import { compileQueryRules, keyHeadersSchema, type QueryRules, queryDropSchema } from './cache-key.ts';
import { compileTtlRules, type TtlRules, ttlRulesSchema } from './ttl-rules.ts';

const HOUR = 3_600_000;

const routeCacheTable = z.strictObject({
  /** Cache this route's responses. @default true (when the table is given) */
  enabled: z.boolean().default(true),
  /**
   * Lifetime of responses that carry no freshness information (no s-maxage, max-age or Expires), for
   * status codes that are cacheable by default (RFC 9111 §4.2.2). @default off
   */
  default_ttl: duration()
    .refine((ms) => ms > 0, 'default_ttl must be longer than 0 (leave it out to turn it off)')
    .optional(),
  /** Heuristic freshness from Last-Modified (10% of its age, RFC 9111 §4.2.2). @default true */
  heuristic: z.boolean().default(true),
  /**
   * Responses to requests that carry `Cookie` may be stored without explicit freshness: heuristic or
   * `default_ttl` lifetimes, or zero freshness kept for validation. Off, such a response is stored only
   * with `s-maxage`, `max-age`, `Expires` or `public` from the origin: a personalised page that sends only
   * `Last-Modified` must not be served to others (web cache deception). @default false
   */
  cookie_implicit_freshness: z.boolean().default(false),
  /** Longest heuristic lifetime. @default "24h" */
  heuristic_max: duration().default(24 * HOUR),
  /** Largest body stored for this route (bigger ones stream through). @default [cache] max_object_size */
  max_object_size: byteSize().optional(),
  /**
   * Store responses to POST that have explicit freshness and a Content-Location equal to the target
   * (RFC 9110 §9.3.3); they answer later GETs. @default false
   */
  allow_post: z.boolean().default(false),
  /**
   * Responses with Set-Cookie: "bypass" (not stored) or "strip" (stored without it). "strip" is outside
   * RFC 9111 §3.1 (a cache stores the fields it received): later clients get the page without the cookie
   * the origin meant each of them to get; only for cookies no cached page needs. @default "bypass"
   */
  set_cookie: z.enum(['bypass', 'strip']).default('bypass'),
  /** Honour `CDN-Cache-Control` (RFC 9213) over Cache-Control, and remove it from responses. @default false */
  cdn_cache_control: z.boolean().default(false),
  /**
   * When no backend can be reached, serve a stale response up to this long past its freshness (never one
   * marked must-revalidate, proxy-revalidate, no-cache or s-maxage). @default off
   */
  serve_stale_when_down: duration().default(0),
  /** How long a stale response that has a validator is kept to be revalidated with a 304. @default "1h" */
  keep_stale: duration().default(HOUR),
  /** Collapse concurrent misses for one URL into one backend request. @default true */
  collapse: z.boolean().default(true),
  /**
   * Lifetimes by status (`{ "200" = "10m", "404" = "1m", any = "30s" }`) for responses the origin gave
   * none (see ttl-rules.ts). Never makes storable what the origin forbids (no-store, private). @default none
   */
  ttl: ttlRulesSchema,
  /** `ttl` also replaces the origin's own lifetime (s-maxage, max-age, Expires). @default false */
  ttl_override: z.boolean().default(false),
  /** Sort query parameters by name (one entry for `?a=1&b=2` and `?b=2&a=1`). @default false */
  query_sort: z.boolean().default(false),
  /**
   * Query parameters removed from the request before it is looked up and forwarded (`["utm_*",
   * "fbclid"]`): the backend never sees them (see cache-key.ts). @default none
   */
  query_drop: queryDropSchema,
  /**
   * Request fields added to the key as if the origin had listed them in `Vary` (`["accept-language"]`):
   * one entry per value, for backends that vary without saying so. @default none
   */
  key_headers: keyHeadersSchema,
});

/**
 * `cache` in a proxy route: `true`, `false` or a table. The booleans are turned into tables first so that
 * an error in a table names its key (`proxy.routes[0].cache.default_ttl`).
 */
export const routeCacheSchema = z
  .preprocess(
    (value) => (value === true ? {} : value === false ? { enabled: false } : value),
    routeCacheTable,
  )
  .optional();

/** A route's cache settings, resolved (null: the route is not cached). */
export interface RouteCachePolicy {
  defaultTtlMs: number;
  heuristic: boolean;
  heuristicMaxMs: number;
  cookieImplicitFreshness: boolean;
  maxObjectSize: number;
  allowPost: boolean;
  setCookie: 'bypass' | 'strip';
  cdnCacheControl: boolean;
  serveStaleWhenDownMs: number;
  keepStaleMs: number;
  collapse: boolean;
  /** Per-status lifetimes (`ttl`, `ttl_override`); null when none. */
  ttlRules: TtlRules | null;
  /** Query normalisation (`query_sort`, `query_drop`); null when none. */
  queryRules: QueryRules | null;
  /** Fields keyed as if in Vary (`key_headers`); null when none. */
  keyHeaders: readonly string[] | null;
}

/** Resolve one route's `cache` value against the `[cache]` defaults. */
export function routePolicy(
  value: z.output<typeof routeCacheSchema>,
  maxObjectSize: number,
): RouteCachePolicy | null {
  if (value === undefined) return null;
  const table = value;
  if (!table.enabled) return null;
  return {
    defaultTtlMs: table.default_ttl ?? 0,
    heuristic: table.heuristic,
    heuristicMaxMs: table.heuristic_max,
    cookieImplicitFreshness: table.cookie_implicit_freshness,
    maxObjectSize: Math.min(table.max_object_size ?? maxObjectSize, maxObjectSize),
    allowPost: table.allow_post,
    setCookie: table.set_cookie,
    cdnCacheControl: table.cdn_cache_control,
    serveStaleWhenDownMs: table.serve_stale_when_down,
    keepStaleMs: table.keep_stale,
    collapse: table.collapse,
    ttlRules: compileTtlRules(table.ttl, table.ttl_override),
    queryRules: compileQueryRules(table.query_sort, table.query_drop),
    keyHeaders: table.key_headers === undefined || table.key_headers.length === 0 ? null : table.key_headers,
  };
}

/** The policies of the proxy's routes, by route index (null: not cached). */
export function routePolicies(
  routes: ReadonlyArray<{ readonly cache?: z.output<typeof routeCacheSchema> }>,
  maxObjectSize: number,
): Array<RouteCachePolicy | null> {
  return routes.map((route) => routePolicy(route.cache, maxObjectSize));
}
