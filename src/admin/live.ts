/**
 * The live feed behind `/api/stats`, `/api/events` and the dashboard: fetches every worker's counters
 * (`server` and `cache` control targets), and once a second — just after the second turns, so the second
 * that ended is complete in every worker — builds a snapshot and hands it to the subscribers (SSE).
 *
 * The workers keep requests/s for the last 300 s themselves; everything else the dashboard graphs (cache
 * occupancy and connections, which are levels; status classes, latency buckets, cache outcomes, bytes and
 * per-backend counters, which are cumulative) the feed samples each second and keeps for 300 s itself
 * (live-samples.ts). The proxy's backends are fetched with the stats when the proxy runs.
 *
 * What changes seldom travels only when it changed: the eviction policy's state (its choice and
 * estimates) and the protocol counters. The policy's choices over the window are kept as a list of
 * changes (live-samples.ts `PolicyTimeline`), sent whole in the history frame.
 */
import type { PolicyState } from '../cache/policy.ts';
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import { LATENCY_BUCKETS, type ServerStatsSnapshot } from '../server/counters.ts';
import type { ProtocolStatsSnapshot } from '../server/protocol-counters.ts';
import type { ControlResult } from '../server/workers.ts';
import {
  type Contributions,
  mergeCacheStats,
  mergeServerStats,
  resultsOf,
  WorkerCallError,
} from './aggregate.ts';
import {
  arrayDeltas,
  type BackendCounters,
  type BackendSecond,
  byteCounters,
  type Counters,
  deltas,
  type LiveRoute,
  outcomeCounters,
  type PolicyChange,
  PolicyTimeline,
  type ProxyRoutes,
  roundPolicyState,
} from './live-samples.ts';

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
  /** Open connections at the end of the second. */
  conn?: number;
  /** Responses finished in the second by status class (1xx … 5xx). */
  status?: number[];
  /** Responses finished in the second per latency bucket (`LATENCY_BUCKETS`, the last is +Inf). */
  lat?: number[];
  /** Cache lookups in the second by outcome (`hit`, `miss`, and `pass`, `stale`… when the cache counts them). */
  outcomes?: Counters;
  /**
   * Body bytes in the second (when counted): `out` to clients, `in` from them; the cache's `cached`
   * (answered from the store) and `origin` (fetched from origins).
   */
  io?: Counters;
}

/** The proxy's backends in the feed: the list changes only on reload, the figures every second. */
export interface LiveBackends {
  /** Bumped whenever the list changes; the figures of a second index the list of its version. */
  version: number;
  /**
   * The list, in the history frame and in the one stats frame after a change (a page that missed it sees
   * a version it has no list for and reconnects, which brings the history frame).
   */
  list?: LiveRoute[];
  /** The newest complete second. */
  t: number;
  now: BackendSecond;
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
  /** The cache's counters; its policy's state travels apart, in `policy`. */
  cache: Omit<CacheStatsSnapshot, 'rps' | 'policyState'> | null;
  /**
   * What the eviction policy chose and its estimates (ratios to 3 decimals), only in the frame after it
   * changed (the history frame has the state of its time). The first worker's: each worker runs its own.
   */
  policy?: PolicyState;
  /** Connections by protocol and TLS version (cumulative), only in the frame after they changed. */
  protocols?: ProtocolStatsSnapshot;
  /** The last few complete seconds (a late tick still fills its gap; the page replaces by `t`). */
  points: Point[];
  /** Per-backend figures of the newest second; null without the proxy. */
  backends: LiveBackends | null;
}

/** What `/api/events` sends first (`event: history`). */
export interface LiveHistory {
  /** Latency bucket upper bounds in seconds (the histogram behind `Point.lat`; the last bucket is +Inf). */
  latencyBounds: readonly number[];
  /** The last `HISTORY_SECONDS` complete seconds, oldest first. */
  points: Point[];
  /** The backends and their seconds over the same window (seconds before the list's version omitted). */
  backends: { version: number; list: LiveRoute[]; seconds: Array<{ t: number } & BackendSecond> } | null;
  /**
   * The eviction policy now, and its choices over the window (the first change may be older: it is the
   * choice the window starts with); null when no policy reports a choice.
   */
  policy: { now: PolicyState; changes: PolicyChange[] } | null;
  /** The protocol counters now; null before the first tick. */
  protocols: ProtocolStatsSnapshot | null;
}

export interface LiveFeed {
  /** The latest snapshot, or null before the first tick. */
  readonly latest: LiveSnapshot | null;
  /** The last `HISTORY_SECONDS` complete seconds, oldest first. */
  history(): Point[];
  /** The history frame: points and backend seconds. */
  historyFrame(): LiveHistory;
  /** Called with every snapshot; returns the unsubscribe function. */
  subscribe(listener: (snapshot: LiveSnapshot) => void): () => void;
  close(): void;
}

/** What the feed samples itself each tick (levels and counter differences), by second. */
interface Sample {
  bytes: number | null;
  entries: number | null;
  conn: number;
  status: number[];
  lat: number[];
  outcomes: Counters | null;
  io: Counters | null;
  backends: BackendSecond | null;
}

/** Cumulative counters of the previous tick, to difference against. */
interface Previous {
  status: number[];
  lat: number[];
  outcomes: Counters | null;
  io: Counters | null;
  backends: Map<string, BackendCounters>;
}

/**
 * The proxy's per-route stats over every worker (its `stats`, merged by its own admin contribution: the
 * admin knows the proxy only through that seam), or null when the proxy does not run.
 */
async function fetchProxyRoutes(control: Control, contributions: Contributions): Promise<ProxyRoutes | null> {
  const merge = contributions.get('proxy')?.mergeStats;
  if (merge === undefined) return null;
  try {
    return merge(resultsOf<unknown>(await control('proxy', 'stats')).map((r) => r.result)) as ProxyRoutes;
  } catch (error) {
    if (error instanceof WorkerCallError && error.unavailable) return null;
    throw error;
  }
}

/** Start ticking once a second (timers unref'd: the feed never keeps a process alive). */
export function startLiveFeed(
  control: Control,
  workers: number,
  log: (message: string) => void,
  contributions: Contributions,
): LiveFeed {
  const listeners = new Set<(snapshot: LiveSnapshot) => void>();
  const samples = new Map<number, Sample>();
  let latest: LiveSnapshot | null = null;
  let series: { start: number; requests: number[]; hits: number[] | null; misses: number[] | null } | null =
    null;
  let previous: Previous | null = null;
  let backendList: LiveRoute[] = [];
  let backendKeys = '';
  let backendVersion = 0;
  /** The second the current list version took effect (older backend seconds index another list). */
  let backendSince = 0;
  let listChanged = false;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let failing = false;
  const policy = new PolicyTimeline(HISTORY_SECONDS);
  let policyNow: PolicyState | null = null;
  let policySent = '';
  let protocolsNow: ProtocolStatsSnapshot | null = null;
  let protocolsSent = '';

  const pointAt = (t: number): Point => {
    const i = series === null ? -1 : t - series.start;
    const sample = samples.get(t);
    const point: Point = {
      t,
      requests: series?.requests[i] ?? 0,
      hits: series?.hits?.[i] ?? 0,
      misses: series?.misses?.[i] ?? 0,
      bytes: sample?.bytes ?? null,
      entries: sample?.entries ?? null,
    };
    if (sample !== undefined) {
      point.conn = sample.conn;
      point.status = sample.status;
      point.lat = sample.lat;
      if (sample.outcomes !== null) point.outcomes = sample.outcomes;
      if (sample.io !== null) point.io = sample.io;
    }
    return point;
  };

  /** This second's backend figures, and the list (a new version when routes or backends changed). */
  const sampleBackends = (proxy: ProxyRoutes | null, complete: number, before: Previous | null) => {
    if (proxy === null) return { second: null, counters: new Map() };
    const list: LiveRoute[] = [];
    const counters = new Map<string, BackendCounters>();
    const second: BackendSecond = { r: [], e: [], l: [] };
    for (const route of proxy.routes) {
      list.push({
        route: route.route,
        host: route.host,
        match: route.match,
        urls: route.backends.map((b) => b.url),
      });
      for (const backend of route.backends) {
        const key = `${route.route} ${backend.url}`;
        const now: BackendCounters = {
          requests: backend.requests,
          failures: backend.failures,
          latencySum: backend.latencySum,
          latencyCount: backend.latencyCount,
        };
        counters.set(key, now);
        const was = before?.backends.get(key);
        // Before the first difference there is no rate: 0, not the counter since start.
        const d = was === undefined ? null : deltas({ ...now }, { ...was });
        second.r.push(d?.requests ?? 0);
        second.e.push(d?.failures ?? 0);
        // The mean time to the response head of this second's answers; none answered, no latency.
        const answered = d?.latencyCount ?? 0;
        second.l.push(answered > 0 ? Math.round((d!.latencySum! / answered) * 10_000) / 10 : null);
      }
    }
    const keys = JSON.stringify(list);
    if (keys !== backendKeys) {
      backendKeys = keys;
      backendList = list;
      backendVersion++;
      backendSince = complete;
      listChanged = true;
    }
    return { second, counters };
  };

  const tick = async () => {
    let stats: WorkerStats;
    let routes: ProxyRoutes | null;
    try {
      [stats, routes] = await Promise.all([
        fetchWorkerStats(control),
        fetchProxyRoutes(control, contributions),
      ]);
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
    let cache: LiveSnapshot['cache'] = null;
    let policyChanged: PolicyState | undefined;
    if (view.cache !== null) {
      const { rps: _rps, perWorker: _perWorker, policyState, ...counters } = view.cache;
      cache = counters;
      if (policyState !== null && policyState !== undefined) {
        policyNow = roundPolicyState(policyState);
        policy.record(complete, policyNow);
        const text = JSON.stringify(policyNow);
        if (text !== policySent) policyChanged = policyNow;
        policySent = text;
      }
    }
    let protocolsChanged: ProtocolStatsSnapshot | undefined;
    if (view.server.protocols !== null) {
      protocolsNow = view.server.protocols;
      const text = JSON.stringify(protocolsNow);
      if (text !== protocolsSent) protocolsChanged = protocolsNow;
      protocolsSent = text;
    }
    // Counter differences since the previous tick, filed under the second that just ended. The first tick
    // has nothing to difference against: its second gets levels only.
    const outcomes = outcomeCounters(cache);
    const io = byteCounters(stats.server, cache);
    const before = previous;
    const backends = sampleBackends(routes, complete, before);
    if (before !== null) {
      samples.set(complete, {
        bytes: cache?.bytes ?? null,
        entries: cache?.entries ?? null,
        conn: view.server.connections,
        status: arrayDeltas(view.server.statusClasses, before.status),
        lat: arrayDeltas(view.server.latency.counts, before.lat),
        outcomes: outcomes === null ? null : deltas(outcomes, before.outcomes),
        io: io === null ? null : deltas(io, before.io),
        backends: backends.second,
      });
    }
    previous = {
      status: view.server.statusClasses,
      lat: view.server.latency.counts,
      outcomes,
      io,
      backends: backends.counters,
    };
    for (const t of samples.keys()) if (t <= complete - HISTORY_SECONDS) samples.delete(t);
    const points: Point[] = [];
    for (let t = complete - 4; t <= complete; t++) points.push(pointAt(t));
    let live: LiveBackends | null = null;
    if (backends.second !== null) {
      live = { version: backendVersion, t: complete, now: backends.second };
      if (listChanged) live.list = backendList;
      listChanged = false;
    }
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
      backends: live,
    };
    if (policyChanged !== undefined) latest.policy = policyChanged;
    if (protocolsChanged !== undefined) latest.protocols = protocolsChanged;
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

  const history = (): Point[] => {
    if (latest === null) return [];
    const complete = latest.points[latest.points.length - 1]!.t;
    const points: Point[] = [];
    for (let t = complete - HISTORY_SECONDS + 1; t <= complete; t++) points.push(pointAt(t));
    return points;
  };

  return {
    get latest() {
      return latest;
    },
    history,
    historyFrame() {
      const points = history();
      const latencyBounds = LATENCY_BUCKETS;
      const slow = {
        policy: policyNow === null ? null : { now: policyNow, changes: policy.changes() },
        protocols: protocolsNow,
      };
      if (latest === null || latest.backends === null)
        return { latencyBounds, points, backends: null, ...slow };
      const seconds: Array<{ t: number } & BackendSecond> = [];
      for (const { t } of points) {
        const second = samples.get(t)?.backends;
        if (t >= backendSince && second !== undefined && second !== null) seconds.push({ t, ...second });
      }
      return {
        latencyBounds,
        points,
        backends: { version: backendVersion, list: backendList, seconds },
        ...slow,
      };
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
