/**
 * Per-second samples of the live feed that the workers do not keep as series themselves: status classes,
 * latency buckets, cache outcomes, bytes and per-backend counters are cumulative counters in the workers,
 * so the feed turns them into per-second figures by taking the difference between two ticks. A counter
 * that went down (a worker restarted) counts as restarted from zero, never as a negative rate.
 *
 * What a sample holds depends on what the server reports: a field the stats do not carry (no cache, no
 * proxy, an older worker) is simply absent, and the dashboard draws only what is present.
 */
import type { PolicyState } from '../cache/policy.ts';
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';

/** Cumulative counters of one tick, flattened to name → count. */
export type Counters = Record<string, number>;

/**
 * The cache outcomes kept apart (Varnish's hit, miss, pass, stale, revalidated, error), as far as the
 * cache reports them: the plain hits/misses pair otherwise.
 */
export function outcomeCounters(
  cache: Omit<CacheStatsSnapshot, 'rps' | 'policyState'> | null,
): Counters | null {
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
  cache: Omit<CacheStatsSnapshot, 'rps' | 'policyState'> | null,
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

/**
 * The policy's state with its window and estimates to 3 decimals: the live feed sends it when it changed,
 * and a fourth decimal moving is no change an operator can see (the sample rate is kept as it is: it is
 * set once, and can be far below 0.001).
 */
export function roundPolicyState(state: PolicyState): PolicyState {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const out: PolicyState = { ...state };
  if (state.window !== undefined) out.window = round(state.window);
  if (state.estimates !== undefined) {
    out.estimates = Object.fromEntries(Object.entries(state.estimates).map(([k, v]) => [k, round(v)]));
  }
  return out;
}

/** A change of what the eviction policy chose: the candidate it runs, W-TinyLFU's window share. */
export interface PolicyChange {
  /** Unix second. */
  t: number;
  running: string;
  window?: number;
  switches?: number;
}

/**
 * What the eviction policy chose over the last `seconds`, as a list of changes: a handful of entries
 * where a sample per second would be hundreds. The change before the window stays, as the choice the
 * window starts with.
 */
export class PolicyTimeline {
  private readonly seconds: number;
  private list: PolicyChange[] = [];

  constructor(seconds: number) {
    this.seconds = seconds;
  }

  /** The state at second `t`: a new entry when the candidate or the window differs from the last. */
  record(t: number, state: PolicyState): void {
    const last = this.list[this.list.length - 1];
    if (last === undefined || last.running !== state.running || last.window !== state.window) {
      const change: PolicyChange = { t, running: state.running };
      if (state.window !== undefined) change.window = state.window;
      if (state.switches !== undefined) change.switches = state.switches;
      this.list.push(change);
    }
    // Keep one change at or before the window's start: the choice the window begins with.
    const start = t - this.seconds + 1;
    while (this.list.length > 1 && this.list[1]!.t <= start) this.list.shift();
  }

  changes(): PolicyChange[] {
    return this.list.map((c) => ({ ...c }));
  }
}
