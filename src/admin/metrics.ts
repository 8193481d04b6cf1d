/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4) through prom-client. The numbers live in the
 * workers; each scrape fetches fresh snapshots and writes them into the registry with a `worker` label,
 * so `sum(rate(tamarin_http_requests_total[1m]))` is the server's rate. The primary's own process metrics
 * (CPU, memory, event-loop lag: the whole process, worker threads included) come from prom-client's
 * default collectors.
 *
 * Proxy backends are per worker too: each worker balances, counts and cools its backends on its own
 * (passive health is what that worker saw), so a backend can be `cooling` in one worker and `up` in
 * another; the series say which.
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { BackendState } from '../proxy/backend.ts';
import type { RouteSnapshot } from '../proxy/plugin.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';
import { resultsOf, WorkerCallError } from './aggregate.ts';
import { type Control, fetchWorkerStats } from './live.ts';

/**
 * What one scrape renders. `cache` is null when the cache plugin is not running; `proxy` is null or
 * absent when the proxy plugin is not running.
 */
export interface MetricsInput {
  server: ReadonlyArray<{ worker: number; result: ServerStatsSnapshot }>;
  cache: ReadonlyArray<{ worker: number; result: CacheStatsSnapshot }> | null;
  proxy?: ReadonlyArray<{ worker: number; result: RouteSnapshot[] }> | null;
}

/**
 * Everything a scrape shows, fetched from every worker: server and cache counters (as `/api/stats`) and
 * the proxy's backends (as `/api/proxy/backends`). A worker that fails to answer fails the scrape (the
 * API answers 502), as for the other series; a plugin that is not running only leaves its series out.
 */
export async function fetchMetricsInput(control: Control): Promise<MetricsInput> {
  const [stats, proxy] = await Promise.all([fetchWorkerStats(control), control('proxy', 'backends')]);
  let backends: MetricsInput['proxy'];
  try {
    backends = resultsOf<RouteSnapshot[]>(proxy);
  } catch (error) {
    if (!(error instanceof WorkerCallError && error.unavailable)) throw error;
    backends = null;
  }
  return { ...stats, proxy: backends };
}

export interface AdminMetrics {
  readonly contentType: string;
  render(input: MetricsInput): Promise<string>;
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

type CacheCounter =
  | 'hits'
  | 'misses'
  | 'insertions'
  | 'evictions'
  | 'expirations'
  | 'invalidations'
  | 'purged'
  | 'originFetches'
  | 'collapsed'
  | 'warmLoaded';
/** Snapshot field, metric name (without `tamarin_cache_` and `_total`), help. Static files and proxied
 * responses share one store and one set of counters: a proxy cache hit is a `hits` like a file's. */
const CACHE_COUNTERS: ReadonlyArray<readonly [CacheCounter, string, string]> = [
  ['hits', 'hits', 'Requests answered from the cache (static files and proxied responses).'],
  ['misses', 'misses', 'Cacheable requests the cache could not answer.'],
  ['insertions', 'insertions', 'Entries stored.'],
  ['evictions', 'evictions', 'Entries the eviction policy dropped to make room.'],
  ['expirations', 'expirations', 'Entries dropped because their TTL ran out.'],
  [
    'invalidations',
    'invalidations',
    'Entries dropped because the file changed on disk or an unsafe request.',
  ],
  ['purged', 'purged', 'Entries removed by purge calls.'],
  ['originFetches', 'origin_fetches', 'Misses sent to the origin (a file read or a backend request).'],
  ['collapsed', 'collapsed', 'Misses that waited for an identical miss in flight instead of fetching again.'],
  ['warmLoaded', 'warm_loaded', 'Entries loaded from the warm-restart state file.'],
];

const STATES: readonly BackendState[] = ['up', 'down', 'cooling'];

/**
 * A histogram whose buckets are counted elsewhere (in the workers): prom-client's Histogram only
 * observes values one by one, so this metric hands the registry the finished series.
 */
function externalHistogram(name: string, help: string) {
  let rows: MetricsInput['server'] = [];
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    set(next: MetricsInput['server']) {
      rows = next;
    },
    reset() {
      rows = [];
    },
    get() {
      const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> =
        [];
      for (const { worker, result } of rows) {
        const { bounds, counts, sum } = result.latency;
        let cumulative = 0;
        for (let i = 0; i < counts.length; i++) {
          cumulative += counts[i]!;
          const le = i < bounds.length ? String(bounds[i]) : '+Inf';
          values.push({ labels: { le, worker }, value: cumulative, metricName: `${name}_bucket` });
        }
        values.push({ labels: { worker }, value: sum, metricName: `${name}_sum` });
        values.push({ labels: { worker }, value: cumulative, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
  return metric;
}

/** Build the registry once per admin service. */
export function createMetrics(): AdminMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[] = ['worker']) =>
    new Counter({ name, help, labelNames, registers });
  const gauge = (name: string, help: string, labelNames: string[] = ['worker']) =>
    new Gauge({ name, help, labelNames, registers });

  const requests = counter('tamarin_http_requests_total', 'Responses finished, by status class.', [
    'worker',
    'class',
  ]);
  const aborted = counter(
    'tamarin_http_responses_aborted_total',
    'Responses the client left before the end.',
  );
  const accepted = counter('tamarin_http_connections_total', 'Connections accepted.');
  const open = gauge('tamarin_http_connections', 'Connections open now.');
  const uptime = gauge('tamarin_worker_uptime_seconds', 'Seconds since the worker started.');
  const latency = externalHistogram(
    'tamarin_http_request_duration_seconds',
    'Time from the parsed request head to the last response byte handed to the socket.',
  );
  registry.registerMetric(latency as unknown as Metric);
  const cacheCounters = CACHE_COUNTERS.map(
    ([key, name, help]) => [key, counter(`tamarin_cache_${name}_total`, help)] as const,
  );
  const cacheBytes = gauge('tamarin_cache_bytes', 'Bytes charged to resident cache entries.');
  const cacheMaxBytes = gauge('tamarin_cache_max_bytes', 'Cache capacity in bytes.');
  const cacheEntries = gauge('tamarin_cache_entries', 'Resident cache entries.');
  const cacheMaxEntries = gauge(
    'tamarin_cache_max_entries',
    'Entry limit (absent when only bytes bound it).',
  );
  const cachePolicy = gauge('tamarin_cache_policy_info', 'Eviction policy in use (always 1).', [
    'worker',
    'policy',
  ]);
  const cacheRejections = counter('tamarin_cache_rejections_total', 'Responses not stored, by reason.', [
    'worker',
    'reason',
  ]);
  const cacheMetrics = [
    cacheBytes,
    cacheMaxBytes,
    cacheEntries,
    cacheMaxEntries,
    cachePolicy,
    cacheRejections,
  ];

  // Proxy: one series per route, backend and worker. `route` is the route's position in the config
  // (0-based, as in /api/proxy/backends); tamarin_proxy_route_info names its patterns.
  const backendLabels = ['route', 'backend', 'worker'];
  const routeInfo = gauge('tamarin_proxy_route_info', 'A proxy route and its match patterns (always 1).', [
    'route',
    'match',
    'host',
  ]);
  const backendUp = gauge(
    'tamarin_proxy_backend_up',
    'Whether the backend gets traffic: 1 up, 0 down (active checks) or cooling (passive health).',
    backendLabels,
  );
  const backendState = gauge(
    'tamarin_proxy_backend_state',
    'Backend state, one series per state: 1 for the current one, 0 for the others.',
    [...backendLabels, 'state'],
  );
  const backendInFlight = gauge(
    'tamarin_proxy_backend_in_flight',
    'Requests being forwarded to the backend now.',
    backendLabels,
  );
  const backendRequests = counter(
    'tamarin_proxy_backend_requests_total',
    'Requests sent to the backend (each attempt of a failover counts at the backend it went to).',
    backendLabels,
  );
  const backendFailures = counter(
    'tamarin_proxy_backend_failures_total',
    "Failures that were the backend's fault: refused, reset, timed out, bad response.",
    backendLabels,
  );
  const backendLatency = gauge(
    'tamarin_proxy_backend_latency_seconds',
    'Time from the request sent to the response head, exponentially weighted (alpha 0.2): recent latency.',
    backendLabels,
  );
  const backendLatencyMean = gauge(
    'tamarin_proxy_backend_latency_mean_seconds',
    'Time from the request sent to the response head, mean over every response since the worker started.',
    backendLabels,
  );
  const backendConnections = gauge(
    'tamarin_proxy_backend_connections',
    'Upstream connections open to the backend (idle ones included).',
    backendLabels,
  );
  const backendIdle = gauge(
    'tamarin_proxy_backend_idle_connections',
    'Keep-alive upstream connections waiting in the pool.',
    backendLabels,
  );
  const proxyMetrics = [
    routeInfo,
    backendUp,
    backendState,
    backendInFlight,
    backendRequests,
    backendFailures,
    backendLatency,
    backendLatencyMean,
    backendConnections,
    backendIdle,
  ];

  const fillProxy = (rows: NonNullable<MetricsInput['proxy']>) => {
    // Every worker runs the same routes; the first one's list names them.
    for (const route of rows[0]?.result ?? []) {
      routeInfo.set({ route: route.route, match: route.match.join(' '), host: route.host ?? '' }, 1);
    }
    for (const { worker, result } of rows) {
      for (const route of result) {
        for (const backend of route.backends) {
          const labels = { route: route.route, backend: backend.url, worker };
          backendUp.set(labels, backend.state === 'up' ? 1 : 0);
          for (const state of STATES) backendState.set({ ...labels, state }, backend.state === state ? 1 : 0);
          backendInFlight.set(labels, backend.inFlight);
          backendRequests.inc(labels, backend.requests);
          backendFailures.inc(labels, backend.failures);
          // No response head yet: no latency series (a 0 would read as an instant backend).
          if (backend.latencyMs > 0 || backend.latencyEwmaMs > 0) {
            backendLatency.set(labels, backend.latencyEwmaMs / 1000);
            backendLatencyMean.set(labels, backend.latencyMs / 1000);
          }
          backendConnections.set(labels, backend.openConnections);
          backendIdle.set(labels, backend.idleConnections);
        }
      }
    }
  };

  const fill = (input: MetricsInput): Promise<string> => {
    for (const metric of [requests, aborted, accepted, open, uptime]) metric.reset();
    for (const { worker, result } of input.server) {
      const labels = { worker };
      result.statusClasses.forEach((n, i) => {
        requests.inc({ worker, class: CLASSES[i]! }, n);
      });
      aborted.inc(labels, result.aborted);
      accepted.inc(labels, result.connectionsTotal);
      open.set(labels, result.connections);
      uptime.set(labels, result.uptimeMs / 1000);
    }
    latency.set(input.server);
    for (const [, metric] of cacheCounters) metric.reset();
    for (const metric of cacheMetrics) metric.reset();
    for (const { worker, result } of input.cache ?? []) {
      const labels = { worker };
      for (const [key, metric] of cacheCounters) metric.inc(labels, result[key]);
      cacheBytes.set(labels, result.bytes);
      cacheMaxBytes.set(labels, result.maxBytes);
      cacheEntries.set(labels, result.entries);
      if (result.maxEntries !== null) cacheMaxEntries.set(labels, result.maxEntries);
      if (result.policy !== '') cachePolicy.set({ worker, policy: result.policy }, 1);
      for (const [reason, n] of Object.entries(result.rejections)) cacheRejections.inc({ worker, reason }, n);
    }
    for (const metric of proxyMetrics) metric.reset();
    fillProxy(input.proxy ?? []);
    return registry.metrics();
  };
  // The registry is shared state: scrapes that overlap are rendered one after the other.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render(input) {
      const next = queue.then(() => fill(input));
      queue = next.catch(() => {});
      return next;
    },
  };
}
