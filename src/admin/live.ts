/**
 * The live feed behind `/api/stats`, `/api/events` and the dashboard: fetches every worker's counters
 * (`server` and `cache` control targets), and once a second — just after the second turns, so the second
 * that ended is complete in every worker — builds a snapshot and hands it to the subscribers (SSE).
 *
 * The workers keep requests/s for the last 300 s themselves; cache occupancy is a level, not a count, so
 * the feed samples it each second and keeps its own 300 s history.
 */
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';
import type { ControlResult } from '../server/workers.ts';
import {
  type Contributions,
  mergeCacheStats,
  mergeServerStats,
  resultsOf,
  WorkerCallError,
} from './aggregate.ts';

/** Seconds of history the dashboard shows. */
export const HISTORY_SECONDS = 300;

export type Control = (plugin: string, command: string, args?: unknown) => Promise<ControlResult[]>;

/** Raw per-worker stats of one fetch; `cache` is null when no cache plugin runs. */
export interface WorkerStats {
  server: Array<{ worker: number; result: ServerStatsSnapshot }>;
  cache: Array<{ worker: number; result: CacheStatsSnapshot }> | null;
}

/** Fetch the counters of every worker. */
export async function fetchWorkerStats(control: Control): Promise<WorkerStats> {
  const [server, cache] = await Promise.all([control('server', 'stats'), control('cache', 'stats')]);
  let cacheResults: WorkerStats['cache'];
  try {
    cacheResults = resultsOf<CacheStatsSnapshot>(cache);
  } catch (error) {
    if (!(error instanceof WorkerCallError && error.unavailable)) throw error;
    cacheResults = null;
  }
  return { server: resultsOf<ServerStatsSnapshot>(server), cache: cacheResults };
}

/** `GET /api/stats`: server and cache, totals and per worker. */
export function statsView(stats: WorkerStats, workers: number, contributions: Contributions) {
  const server = mergeServerStats(stats.server);
  const merge = contributions.get('cache')?.mergeStats as
    | ((perWorker: readonly CacheStatsSnapshot[]) => CacheStatsSnapshot)
    | undefined;
  const cache = stats.cache === null || merge === undefined ? null : mergeCacheStats(stats.cache, merge);
  const last = server.total.rps.total.length - 2; // the last complete second
  return {
    time: Date.now(),
    server: {
      uptimeMs: server.total.uptimeMs,
      workers,
      connections: server.total.connections,
      requests: server.total.requests,
      requestsPerSecond: server.total.rps.total[last] ?? 0,
      statusClasses: server.total.statusClasses,
      aborted: server.total.aborted,
      latency: server.total.latency,
      rps: server.total.rps,
      /** Connections by protocol (h1/h2) and TLS version, h2 streams, TLS handshake errors. */
      protocols: server.total.protocols ?? null,
      perWorker: server.workers,
    },
    cache: cache === null ? null : { ...cache.total, perWorker: cache.workers },
  };
}

/** One second of the dashboard's graphs; `null` where the value is unknown (before the feed started). */
export interface Point {
  /** Unix second. */
  t: number;
  requests: number;
  hits: number;
  misses: number;
  bytes: number | null;
  entries: number | null;
}

/** What `/api/events` sends every second (`event: stats`). */
export interface LiveSnapshot {
  time: number;
  server: {
    uptimeMs: number;
    workers: number;
    connections: number;
    requests: number;
    statusClasses: number[];
  };
  cache: Omit<CacheStatsSnapshot, 'rps'> | null;
  /** The last few complete seconds (a late tick still fills its gap; the page replaces by `t`). */
  points: Point[];
}

export interface LiveFeed {
  /** The latest snapshot, or null before the first tick. */
  readonly latest: LiveSnapshot | null;
  /** The last `HISTORY_SECONDS` complete seconds, oldest first. */
  history(): Point[];
  /** Called with every snapshot; returns the unsubscribe function. */
  subscribe(listener: (snapshot: LiveSnapshot) => void): () => void;
  close(): void;
}

/** Start ticking once a second (timers unref'd: the feed never keeps a process alive). */
export function startLiveFeed(
  control: Control,
  workers: number,
  log: (message: string) => void,
  contributions: Contributions,
): LiveFeed {
  const listeners = new Set<(snapshot: LiveSnapshot) => void>();
  const occupancy = new Map<number, { bytes: number; entries: number }>();
  let latest: LiveSnapshot | null = null;
  let series: { start: number; requests: number[]; hits: number[] | null; misses: number[] | null } | null =
    null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let failing = false;

  const pointAt = (t: number): Point => {
    const i = series === null ? -1 : t - series.start;
    const occ = occupancy.get(t);
    return {
      t,
      requests: series?.requests[i] ?? 0,
      hits: series?.hits?.[i] ?? 0,
      misses: series?.misses?.[i] ?? 0,
      bytes: occ?.bytes ?? null,
      entries: occ?.entries ?? null,
    };
  };

  const tick = async () => {
    let stats: WorkerStats;
    try {
      stats = await fetchWorkerStats(control);
      failing = false;
    } catch (error) {
      // A worker restarting: skip this second (the page shows a gap), say so once.
      if (!failing) log(`live stats unavailable: ${(error as Error).message}`);
      failing = true;
      return;
    }
    const view = statsView(stats, workers, contributions);
    const start = view.server.rps.startSecond;
    const complete = start + view.server.rps.total.length - 2;
    let hits: number[] | null = null;
    let misses: number[] | null = null;
    if (view.cache !== null) {
      // Cache series are aligned on their own newest second; re-index them onto the server's.
      const shift = view.cache.rps.startSecond - start;
      hits = view.server.rps.total.map((_, i) => view.cache!.rps.hits[i - shift] ?? 0);
      misses = view.server.rps.total.map((_, i) => view.cache!.rps.misses[i - shift] ?? 0);
    }
    series = { start, requests: view.server.rps.total, hits, misses };
    if (view.cache !== null)
      occupancy.set(complete, { bytes: view.cache.bytes, entries: view.cache.entries });
    for (const t of occupancy.keys()) if (t <= complete - HISTORY_SECONDS) occupancy.delete(t);
    let cache: LiveSnapshot['cache'] = null;
    if (view.cache !== null) {
      const { rps: _rps, perWorker: _perWorker, ...counters } = view.cache;
      cache = counters;
    }
    const points: Point[] = [];
    for (let t = complete - 4; t <= complete; t++) points.push(pointAt(t));
    latest = {
      time: view.time,
      server: {
        uptimeMs: view.server.uptimeMs,
        workers,
        connections: view.server.connections,
        requests: view.server.requests,
        statusClasses: view.server.statusClasses,
      },
      cache,
      points,
    };
    for (const listener of listeners) listener(latest);
  };

  const schedule = () => {
    if (closed) return;
    // 50 ms after the next second starts: the second before it is over in every worker.
    const delay = 1000 - (Date.now() % 1000) + 50;
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, delay);
    timer.unref();
  };
  void tick().finally(schedule);

  return {
    get latest() {
      return latest;
    },
    history() {
      if (latest === null) return [];
      const complete = latest.points[latest.points.length - 1]!.t;
      const points: Point[] = [];
      for (let t = complete - HISTORY_SECONDS + 1; t <= complete; t++) points.push(pointAt(t));
      return points;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      listeners.clear();
    },
  };
}
