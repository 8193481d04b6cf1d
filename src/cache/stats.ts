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
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 when nothing was asked yet. */
  hitRatio: number;
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
  /** Requests per second for the last `RPS_SECONDS` seconds, oldest first; the last slot is the current second. */
  rps: { startSecond: number; total: number[]; hits: number[]; misses: number[] };
}

/** Mutable counters owned by one cache instance (one per worker). */
export class CacheStats {
  hits = 0;
  misses = 0;
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

  private readonly ringHits = new Uint32Array(RPS_SECONDS);
  private readonly ringMisses = new Uint32Array(RPS_SECONDS);
  /** Unix second of the ring slot `slot`. */
  private second = 0;
  private slot = 0;
  /** First millisecond of the next second: the only compare the hot path does. */
  private nextSecondAt = 0;

  /** Count a hit at `now` (ms since the epoch). */
  hit(now: number): void {
    if (now >= this.nextSecondAt) this.roll(now);
    this.hits++;
    this.ringHits[this.slot]!++;
  }

  /** Count a miss at `now` (ms since the epoch). */
  miss(now: number): void {
    if (now >= this.nextSecondAt) this.roll(now);
    this.misses++;
    this.ringMisses[this.slot]!++;
  }

  /** Move the ring to the second containing `now`, zeroing the seconds skipped over. */
  private roll(now: number): void {
    const second = Math.floor(now / 1000);
    const steps = Math.min(second - this.second, RPS_SECONDS);
    if (this.second === 0 || steps < 0) {
      // First use, or the clock went backwards: start the series afresh.
      this.ringHits.fill(0);
      this.ringMisses.fill(0);
    } else {
      for (let i = 0; i < steps; i++) {
        this.slot = (this.slot + 1) % RPS_SECONDS;
        this.ringHits[this.slot] = 0;
        this.ringMisses[this.slot] = 0;
      }
    }
    this.second = second;
    this.nextSecondAt = (second + 1) * 1000;
  }

  /** The rps series as of `now`, oldest first. */
  series(now: number): CacheStatsSnapshot['rps'] {
    this.roll(now);
    const hits: number[] = new Array(RPS_SECONDS);
    const misses: number[] = new Array(RPS_SECONDS);
    const total: number[] = new Array(RPS_SECONDS);
    for (let i = 0; i < RPS_SECONDS; i++) {
      const slot = (this.slot + 1 + i) % RPS_SECONDS;
      const h = this.ringHits[slot]!;
      const m = this.ringMisses[slot]!;
      hits[i] = h;
      misses[i] = m;
      total[i] = h + m;
    }
    return { startSecond: this.second - RPS_SECONDS + 1, total, hits, misses };
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
    return {
      policy,
      policyState: store.policyState?.() ?? null,
      hits: this.hits,
      misses: this.misses,
      hitRatio: asked === 0 ? 0 : this.hits / asked,
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
  sum.rps = { startSecond: newest, total: zeros(), hits: zeros(), misses: zeros() };
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
    }
    // Merged slot j is second `newest + j`, which is slot `j - shift` of `s` (shift <= 0).
    const shift = s.rps.startSecond - newest;
    for (const series of SERIES) {
      const into = sum.rps[series];
      const from = s.rps[series];
      for (let j = 0; j < length; j++) into[j]! += from[j - shift] ?? 0;
    }
  }
  const asked = sum.hits + sum.misses;
  sum.hitRatio = asked === 0 ? 0 : sum.hits / asked;
  return sum;
}

const SERIES = ['total', 'hits', 'misses'] as const;

/** Counters each worker keeps for itself (with a shared store, the rest are the store's, counted once). */
const PER_WORKER_COUNTERS = [
  'hits',
  'misses',
  'insertions',
  'originFetches',
  'collapsed',
  'warmLoaded',
] as const;

const COUNTERS = [
  'hits',
  'misses',
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
