/**
 * Per-second samples of the live feed that the workers do not keep as series themselves: status classes,
 * latency buckets, cache outcomes, bytes and per-backend counters are cumulative counters in the workers,
 * so the feed turns them into per-second figures by taking the difference between two ticks. A counter
 * that went down (a worker restarted) counts as restarted from zero, never as a negative rate.
 *
 * What a sample holds depends on what the server reports: a field the stats do not carry (no cache, no
 * proxy, an older worker) is simply absent, and the dashboard draws only what is present.
 */
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';

/** Cumulative counters of one tick, flattened to name → count. */
export type Counters = Record<string, number>;

/**
 * The cache outcomes kept apart (Varnish's hit, miss, pass, stale, revalidated, error), as far as the
 * cache reports them: the plain hits/misses pair otherwise.
 */
export function outcomeCounters(cache: Omit<CacheStatsSnapshot, 'rps'> | null): Counters | null {
  if (cache === null) return null;
  return cache.outcomes === undefined ? { hit: cache.hits, miss: cache.misses } : { ...cache.outcomes };
}

/**
 * Body bytes sent to clients (`out`) and read from them (`in`), summed over the workers, and the cache's
 * body bytes answered from the store (`cached`) and fetched from origins (`origin`), when the server and
 * the cache count them: from these the page draws bandwidth and origin offload.
 */
export function byteCounters(
  server: ReadonlyArray<{ result: ServerStatsSnapshot }>,
  cache: Omit<CacheStatsSnapshot, 'rps'> | null,
): Counters | null {
  const counters: Counters = {};
  for (const { result } of server) {
    if (result.bytesOut !== undefined) counters.out = (counters.out ?? 0) + result.bytesOut;
    if (result.bytesIn !== undefined) counters.in = (counters.in ?? 0) + result.bytesIn;
  }
  if (cache?.bytesFromCache !== undefined) counters.cached = cache.bytesFromCache;
  if (cache?.bytesFromOrigin !== undefined) counters.origin = cache.bytesFromOrigin;
  return Object.keys(counters).length === 0 ? null : counters;
}

/** `now - before` per name (names absent before count from zero); a counter that went down restarted. */
export function deltas(now: Counters, before: Counters | null): Counters {
  const out: Counters = {};
  for (const [name, value] of Object.entries(now)) {
    const previous = before?.[name] ?? 0;
    out[name] = value >= previous ? value - previous : value;
  }
  return out;
}

/** Element-wise difference of two arrays of counters of the same meaning, with the same restart rule. */
export function arrayDeltas(now: readonly number[], before: readonly number[] | null): number[] {
  return now.map((value, i) => {
    const previous = before?.[i] ?? 0;
    return value >= previous ? value - previous : value;
  });
}

/**
 * A proxy route as the feed lists it: the per-second arrays of `BackendSecond` index the backends of every
 * route in turn (route 0's URLs, then route 1's…). Grouped by route so that host and patterns are sent
 * once per route, not once per backend.
 */
export interface LiveRoute {
  route: number;
  /** The route's host, or null for every host. */
  host: string | null;
  match: string[];
  urls: string[];
}

/** A backend's cumulative counters in the proxy's per-route stats. */
export interface BackendCounters {
  requests: number;
  failures: number;
  /** Response heads received, and the sum of their times in seconds. */
  latencyCount: number;
  latencySum: number;
}

/** The proxy's merged `stats` as the feed reads them (src/proxy/route-stats.ts has the whole shape). */
export interface ProxyRoutes {
  routes: Array<{
    route: number;
    host: string | null;
    match: string[];
    backends: Array<{ url: string } & BackendCounters>;
  }>;
}

/**
 * One second of every backend, as arrays in the order of the backend list (compact on purpose: with 100
 * backends the dashboard's stream must stay under 10 KiB/s). `r`: requests sent in that second, `e`:
 * failures, `l`: the mean time to the response head of that second's answers in ms (0.1 ms precision),
 * null when none came back.
 */
export interface BackendSecond {
  r: number[];
  e: number[];
  l: Array<number | null>;
}
