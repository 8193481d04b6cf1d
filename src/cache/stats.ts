/**
 * Cache statistics: plain integer counters plus a requests-per-second ring (1 s resolution, 5 minutes).
 *
 * Everything the hit path touches is a field increment or a typed-array increment: no Date objects, no
 * closures, no allocation. The ring advances lazily when a request arrives in a new second, so an idle
 * cache costs nothing and the series shows zeros for the seconds nobody asked anything.
 */

import type { PolicyState } from './policy.ts';

/** Length of the requests-per-second series, in seconds. */
export const RPS_SECONDS = 300;

/** Why the admission rules refused to store a response (see `rules.ts`). */
export type RejectionReason =
  | 'status'
  | 'no-store'
  | 'too-small'
  | 'too-large'
  | 'excluded'
  | 'not-admitted'
  | 'incomplete';

/**
 * What became of a request the cache looked at, kept apart as Varnish does:
 *
 * - `hit`: answered from a fresh stored response;
 * - `stale`: answered from a stored response past its freshness (stale-while-revalidate, stale-if-error,
 *   max-stale);
 * - `revalidated`: a stored response validated with the origin (304) and answered from the store;
 * - `miss`: a cacheable lookup found nothing usable and the origin (a file, a backend) answered it;
 * - `pass`: not a cacheable lookup: a method or request the cache does not answer (HEAD miss, unsafe
 *   method), a key refused recently (too large, excluded: hit-for-pass), a route or answer that is not the
 *   cache's (an uncached proxy route, a 4xx);
 * - `error`: the answer was a 5xx (the origin's or the proxy's own 502/503/504), whatever the lookup.
 *
 * The hit ratio is taken over cacheable lookups only: (hit + stale) / (hit + stale + revalidated + miss).
 */
export const CACHE_OUTCOMES = ['hit', 'miss', 'pass', 'stale', 'revalidated', 'error'] as const;
export type CacheOutcome = (typeof CACHE_OUTCOMES)[number];

/** Who answered through the store: the static-file cache or the proxy's RFC 9111 cache. */
export const CACHE_SOURCES = ['files', 'proxy'] as const;
export type CacheSource = (typeof CACHE_SOURCES)[number];

export type OutcomeCounts = Record<CacheOutcome, number>;

/** Outcome indexes into the counters (source-major: `files` 0..5, `proxy` 6..11). */
export const HIT = 0;
export const MISS = 1;
export const PASS = 2;
export const STALE = 3;
export const REVALIDATED = 4;
export const ERROR = 5;
export const FILES = 0;
export const PROXY = 6;

/**
 * The outcome of a lookup that went to the origin, by the answer's status: a 5xx is an `error`, a 4xx or a
 * request the cache passed is a `pass` (a 404 is not a miss), anything else is a `miss`.
 */
export function outcomeOf(status: number, passed: boolean): number {
  if (status >= 500) return ERROR;
  return passed || status >= 400 ? PASS : MISS;
}

/** A stats snapshot for the admin API: plain data, structured-clonable. */
export interface CacheStatsSnapshot {
  /** Eviction policy in use. */
  policy: string;
  /**
   * What the policy chose for itself, `null` for policies that choose nothing: the candidate the adaptive
   * policy runs now (`running`), its sampled hit-ratio estimates and switch count, W-TinyLFU's window
   * share. Merged snapshots keep the first worker's (each worker adapts on its own traffic).
   */
  policyState: PolicyState | null;
  /** Answered from the store: `outcomes.hit + outcomes.stale`. */
  hits: number;
  /** Cacheable lookups that went to the origin: `outcomes.miss + outcomes.revalidated`. */
  misses: number;
  /** hits / (hits + misses): over cacheable lookups only (passes and errors left out); 0 before any. */
  hitRatio: number;
  /** Requests by outcome, both caches together (see {@link CACHE_OUTCOMES}). */
  outcomes: OutcomeCounts;
  /** The same by cache: static files (`files`) and the proxy's RFC 9111 cache (`proxy`). */
  bySource: Record<CacheSource, OutcomeCounts>;
  /**
   * Body bytes answered from the store (hits, stale answers, revalidated answers) and body bytes that came
   * from the origin (files read, backend answers relayed: misses, passes, errors).
   */
  bytesFromCache: number;
  bytesFromOrigin: number;
  /** bytesFromCache / (bytesFromCache + bytesFromOrigin): the origin offload; 0 before any. */
  offloadRatio: number;
  /** Bytes charged to resident entries (headers + body + per-entry overhead estimate). */
  bytes: number;
  maxBytes: number;
  entries: number;
  /** `null` when only bytes bound the cache. */
  maxEntries: number | null;
  insertions: number;
  rejections: Record<RejectionReason, number>;
  /** Entries the eviction policy dropped to make room. */
  evictions: number;
  /** Entries dropped because their TTL ran out. */
  expirations: number;
  /** Entries dropped because the file changed or vanished on disk. */
  invalidations: number;
  /** Entries removed by purge calls. */
  purged: number;
  /** Misses answered by the producer (static files): the number of times a file was read for the cache. */
  originFetches: number;
  /** Misses that waited for a concurrent identical miss instead of reading the file again (single flight). */
  collapsed: number;
  /** Entries loaded from the warm-restart state file. */
  warmLoaded: number;
  /**
   * Occupancy and removals are the server-wide shared store's (the same in every worker's snapshot):
   * merged once, not summed.
   */
  shared?: boolean;
  /**
   * Requests per second for the last `RPS_SECONDS` seconds, oldest first; the last slot is the current
   * second. `hits` and `misses` as the counters (stale answers are in `hits` and in `stale` too,
   * revalidations in `misses`); `total` is every outcome.
   */
  rps: CacheSeries;
}

export interface CacheSeries {
  startSecond: number;
  total: number[];
  hits: number[];
  misses: number[];
  pass: number[];
  stale: number[];
  errors: number[];
}

/** The rps series, and the outcome that counts into each (the `total` series takes all). */
const SERIES = ['total', 'hits', 'misses', 'pass', 'stale', 'errors'] as const;
/** Ring index per outcome index (outcome order: hit, miss, pass, stale, revalidated, error). */
const RING_OF: readonly number[] = [1, 2, 3, 1, 2, 5];

/** Mutable counters owned by one cache instance (one per worker). */
export class CacheStats {
  hits = 0;
  misses = 0;
  /** Requests by source and outcome: index `source + outcome` (`FILES`/`PROXY` + `HIT`..`ERROR`). */
  readonly outcomes = new Float64Array(12);
  bytesFromCache = 0;
  bytesFromOrigin = 0;
  insertions = 0;
  evictions = 0;
  expirations = 0;
  invalidations = 0;
  purged = 0;
  originFetches = 0;
  collapsed = 0;
  warmLoaded = 0;
  readonly rejections: Record<RejectionReason, number> = {
    status: 0,
    'no-store': 0,
    'too-small': 0,
    'too-large': 0,
    excluded: 0,
    'not-admitted': 0,
    incomplete: 0,
  };

  /** One ring per series but `total` (slot 0 unused): hits, misses, pass, stale, errors. */
  private readonly rings: Uint32Array[] = SERIES.map(() => new Uint32Array(RPS_SECONDS));
  /** Unix second of the ring slot `slot`. */
  private second = 0;
  private slot = 0;
  /** First millisecond of the next second: the only compare the hot path does. */
  private nextSecondAt = 0;

  /** Count a fresh hit of the static-file cache at `now` (ms since the epoch), `bytes` of body sent. */
  hit(now: number, bytes = 0): void {
    this.count(FILES + HIT, now, bytes);
  }

  /**
   * Count an outcome at `now`: `at` is a source plus an outcome (`PROXY + STALE`), `bytes` the body bytes
   * answered (from the store for hit, stale and revalidated; from the origin for the rest).
   */
  count(at: number, now: number, bytes = 0): void {
    if (now >= this.nextSecondAt) this.roll(now);
    this.outcomes[at]!++;
    const outcome = at >= PROXY ? at - PROXY : at;
    if (outcome === HIT || outcome === STALE) this.hits++;
    else if (outcome === MISS || outcome === REVALIDATED) this.misses++;
    if (outcome === HIT || outcome === STALE || outcome === REVALIDATED) this.bytesFromCache += bytes;
    else this.bytesFromOrigin += bytes;
    this.rings[RING_OF[outcome]!]![this.slot]!++;
    if (outcome === STALE) this.rings[4]![this.slot]!++;
  }

  /** Count a miss of the static-file cache (a file read for a lookup that found nothing). */
  miss(now: number, bytes = 0): void {
    this.count(FILES + MISS, now, bytes);
  }

  /** Move the ring to the second containing `now`, zeroing the seconds skipped over. */
  private roll(now: number): void {
    const second = Math.floor(now / 1000);
    const steps = Math.min(second - this.second, RPS_SECONDS);
    const rings = this.rings;
    if (this.second === 0 || steps < 0) {
      // First use, or the clock went backwards: start the series afresh.
      for (let r = 1; r < rings.length; r++) rings[r]!.fill(0);
    } else {
      for (let i = 0; i < steps; i++) {
        this.slot = (this.slot + 1) % RPS_SECONDS;
        for (let r = 1; r < rings.length; r++) rings[r]![this.slot] = 0;
      }
    }
    this.second = second;
    this.nextSecondAt = (second + 1) * 1000;
  }

  /** The rps series as of `now`, oldest first. */
  series(now: number): CacheSeries {
    this.roll(now);
    const out = SERIES.map(() => new Array<number>(RPS_SECONDS));
    const [total, hits, misses, pass, stale, errors] = out as [
      number[],
      number[],
      number[],
      number[],
      number[],
      number[],
    ];
    const [, rh, rm, rp, rs, re] = this.rings as [Uint32Array, ...Uint32Array[]];
    for (let i = 0; i < RPS_SECONDS; i++) {
      const slot = (this.slot + 1 + i) % RPS_SECONDS;
      hits[i] = rh![slot]!;
      misses[i] = rm![slot]!;
      pass[i] = rp![slot]!;
      stale[i] = rs![slot]!;
      errors[i] = re![slot]!;
      total[i] = hits[i]! + misses[i]! + pass[i]! + errors[i]!;
    }
    return { startSecond: this.second - RPS_SECONDS + 1, total, hits, misses, pass, stale, errors };
  }

  /** The outcome counters as plain data: both caches together, and by cache. */
  outcomeCounts(): { outcomes: OutcomeCounts; bySource: Record<CacheSource, OutcomeCounts> } {
    const files = countsAt(this.outcomes, FILES);
    const proxy = countsAt(this.outcomes, PROXY);
    const outcomes = { ...files };
    for (const name of CACHE_OUTCOMES) outcomes[name] += proxy[name];
    return { outcomes, bySource: { files, proxy } };
  }

  /** A plain-data snapshot; `store` supplies the occupancy figures. */
  snapshot(
    now: number,
    store: {
      bytes: number;
      count: number;
      maxBytes: number;
      maxEntries: number;
      policyState?(): PolicyState | undefined;
    },
    policy = '',
  ): CacheStatsSnapshot {
    const asked = this.hits + this.misses;
    const moved = this.bytesFromCache + this.bytesFromOrigin;
    return {
      policy,
      policyState: store.policyState?.() ?? null,
      hits: this.hits,
      misses: this.misses,
      hitRatio: asked === 0 ? 0 : this.hits / asked,
      ...this.outcomeCounts(),
      bytesFromCache: this.bytesFromCache,
      bytesFromOrigin: this.bytesFromOrigin,
      offloadRatio: moved === 0 ? 0 : this.bytesFromCache / moved,
      bytes: store.bytes,
      maxBytes: store.maxBytes,
      entries: store.count,
      maxEntries: Number.isFinite(store.maxEntries) ? store.maxEntries : null,
      insertions: this.insertions,
      rejections: { ...this.rejections },
      evictions: this.evictions,
      expirations: this.expirations,
      invalidations: this.invalidations,
      purged: this.purged,
      originFetches: this.originFetches,
      collapsed: this.collapsed,
      warmLoaded: this.warmLoaded,
      rps: this.series(now),
    };
  }
}

/**
 * Sum the snapshots of several workers into one (the admin shows the server's cache as a whole): counters
 * and capacities add up, the hit ratio is recomputed, the rps series add second by second.
 *
 * Workers sample the clock separately, so two snapshots taken a few ms apart can end on different seconds.
 * The merged series ends at the newest second; an older snapshot's slots move towards the start (its
 * slot `k` is second `startSecond + k`) and the seconds it has not seen yet count as zero.
 */
export function mergeSnapshots(snapshots: readonly CacheStatsSnapshot[]): CacheStatsSnapshot {
  const first = snapshots[0];
  if (first === undefined) throw new RangeError('mergeSnapshots: no snapshots');
  const sum = structuredClone(first);
  let newest = first.rps.startSecond;
  for (const s of snapshots) newest = Math.max(newest, s.rps.startSecond);
  const length = first.rps.total.length;
  const zeros = (): number[] => new Array<number>(length).fill(0);
  sum.rps = {
    startSecond: newest,
    total: zeros(),
    hits: zeros(),
    misses: zeros(),
    pass: zeros(),
    stale: zeros(),
    errors: zeros(),
  };
  for (let i = 0; i < snapshots.length; i++) {
    const s = snapshots[i]!;
    if (i > 0) {
      for (const key of s.shared === true ? PER_WORKER_COUNTERS : COUNTERS) sum[key] += s[key];
      if (s.shared !== true)
        sum.maxEntries =
          sum.maxEntries === null || s.maxEntries === null ? null : sum.maxEntries + s.maxEntries;
      for (const reason of Object.keys(sum.rejections) as RejectionReason[]) {
        sum.rejections[reason] += s.rejections[reason];
      }
      for (const name of CACHE_OUTCOMES) {
        sum.outcomes[name] += s.outcomes?.[name] ?? 0;
        for (const source of CACHE_SOURCES) sum.bySource[source][name] += s.bySource?.[source][name] ?? 0;
      }
    }
    // Merged slot j is second `newest + j`, which is slot `j - shift` of `s` (shift <= 0).
    const shift = s.rps.startSecond - newest;
    for (const series of SERIES) {
      const into = sum.rps[series];
      const from = s.rps[series];
      if (from === undefined) continue;
      for (let j = 0; j < length; j++) into[j]! += from[j - shift] ?? 0;
    }
  }
  const asked = sum.hits + sum.misses;
  sum.hitRatio = asked === 0 ? 0 : sum.hits / asked;
  const moved = sum.bytesFromCache + sum.bytesFromOrigin;
  sum.offloadRatio = moved === 0 ? 0 : sum.bytesFromCache / moved;
  return sum;
}

function countsAt(counters: Float64Array, source: number): OutcomeCounts {
  return {
    hit: counters[source + HIT]!,
    miss: counters[source + MISS]!,
    pass: counters[source + PASS]!,
    stale: counters[source + STALE]!,
    revalidated: counters[source + REVALIDATED]!,
    error: counters[source + ERROR]!,
  };
}

/** Counters each worker keeps for itself (with a shared store, the rest are the store's, counted once). */
const PER_WORKER_COUNTERS = [
  'hits',
  'misses',
  'bytesFromCache',
  'bytesFromOrigin',
  'insertions',
  'originFetches',
  'collapsed',
  'warmLoaded',
] as const;

const COUNTERS = [
  'hits',
  'misses',
  'bytesFromCache',
  'bytesFromOrigin',
  'bytes',
  'maxBytes',
  'entries',
  'insertions',
  'evictions',
  'expirations',
  'invalidations',
  'purged',
  'originFetches',
  'collapsed',
  'warmLoaded',
] as const;
