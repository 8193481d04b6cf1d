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
import type { BackendSnapshot, ListedState } from '../proxy/backend.ts';
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
/** Counters that belong to a shared store rather than to a worker. */
const SHARED_STORE_COUNTERS: ReadonlySet<string> = new Set([
  'evictions',
  'expirations',
  'invalidations',
  'purged',
]);

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

const STATES: readonly ListedState[] = ['up', 'down', 'cooling', 'draining', 'drained', 'disabled'];

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

type Sample = { labels: Record<string, string | number>; value: number };

/**
 * Proxy series: one per route, backend and worker. `route` is the route's position in the config
 * (0-based, as in /api/proxy/backends); `tamarin_proxy_route_info` names its patterns. The samples are
 * computed from the scrape's snapshots when the registry renders: prom-client's labelled Gauge hashes the
 * labels on every set, which doubled the scrape time (43 ms instead of 20 ms for 20 routes x 5 backends x
 * 4 workers; about 2 ms for a small config).
 */
const BACKEND_SERIES: ReadonlyArray<
  readonly [
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    value: (b: BackendSnapshot) => number | null,
  ]
> = [
  [
    'up',
    'gauge',
    'Whether the backend gets traffic: 1 up, 0 down (active checks) or cooling (passive health).',
    (b) => (b.state === 'up' ? 1 : 0),
  ],
  ['in_flight', 'gauge', 'Requests being forwarded to the backend now.', (b) => b.inFlight],
  [
    'requests_total',
    'counter',
    'Requests sent to the backend (each attempt of a failover counts at the backend it went to).',
    (b) => b.requests,
  ],
  [
    'failures_total',
    'counter',
    "Failures that were the backend's fault: refused, reset, timed out, bad response.",
    (b) => b.failures,
  ],
  // No response head yet: no latency sample (a 0 would read as an instant backend).
  [
    'latency_seconds',
    'gauge',
    'Time from the request sent to the response head, exponentially weighted (alpha 0.2): recent latency.',
    (b) => (answered(b) ? b.latencyEwmaMs / 1000 : null),
  ],
  [
    'latency_mean_seconds',
    'gauge',
    'Time from the request sent to the response head, mean over every response since the worker started.',
    (b) => (answered(b) ? b.latencyMs / 1000 : null),
  ],
  [
    'connections',
    'gauge',
    'Upstream connections open to the backend (idle ones included).',
    (b) => b.openConnections,
  ],
  [
    'idle_connections',
    'gauge',
    'Keep-alive upstream connections waiting in the pool.',
    (b) => b.idleConnections,
  ],
];

function answered(b: BackendSnapshot): boolean {
  return b.latencyMs > 0 || b.latencyEwmaMs > 0;
}

/** A metric whose samples `collect` computes at render time; prom-client only formats them. */
function externalMetric(name: string, help: string, type: string, collect: () => Sample[]): Metric {
  const get = () => ({ name, help, type, values: collect(), aggregator: 'sum' });
  return { name, help, type, aggregator: 'sum', get, reset() {} } as unknown as Metric;
}

/** What the proxy metrics render: set by each scrape. */
interface ProxyScrape {
  routes: readonly RouteSnapshot[];
  backends: ReadonlyArray<{ backend: BackendSnapshot; labels: Sample['labels'] }>;
}

function proxyScrape(rows: NonNullable<MetricsInput['proxy']>): ProxyScrape {
  const backends: ProxyScrape['backends'][number][] = [];
  for (const { worker, result } of rows) {
    for (const route of result) {
      for (const backend of route.backends) {
        backends.push({ backend, labels: { route: route.route, backend: backend.url, worker } });
      }
    }
  }
  // Every worker runs the same routes; the first one's list names them.
  return { routes: rows[0]?.result ?? [], backends };
}

/** The proxy's metrics, rendering whatever `scrape` holds when the registry asks. */
function proxyMetrics(scrape: { current: ProxyScrape }): Metric[] {
  const metrics = BACKEND_SERIES.map(([suffix, type, help, value]) =>
    externalMetric(`tamarin_proxy_backend_${suffix}`, help, type, () => {
      const samples: Sample[] = [];
      for (const { backend, labels } of scrape.current.backends) {
        const v = value(backend);
        if (v !== null) samples.push({ labels, value: v });
      }
      return samples;
    }),
  );
  metrics.push(
    externalMetric(
      'tamarin_proxy_backend_state',
      'Backend state, one series per state: 1 for the current one, 0 for the others.',
      'gauge',
      () =>
        scrape.current.backends.flatMap(({ backend, labels }) =>
          STATES.map((state) => ({ labels: { ...labels, state }, value: backend.state === state ? 1 : 0 })),
        ),
    ),
    externalMetric(
      'tamarin_proxy_route_info',
      'A proxy route and its match patterns (always 1).',
      'gauge',
      () =>
        scrape.current.routes.map((route) => ({
          labels: { route: route.route, match: route.match.join(' '), host: route.host ?? '' },
          value: 1,
        })),
    ),
  );
  return metrics;
}

/** Build the registry once per admin service. */
export function createMetrics(): AdminMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client's `_total` gauges: `_total` promises a counter (`promtool check metrics` refuses them), and
  // each is the sum of its per-type gauge (`sum(nodejs_active_handles)` gives the same number).
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
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
  const byProtocol = counter(
    'tamarin_connections_by_protocol_total',
    'Connections accepted, by protocol (h1, h2).',
    ['worker', 'protocol'],
  );
  const byTlsVersion = counter('tamarin_tls_connections_total', 'TLS connections, by negotiated version.', [
    'worker',
    'version',
  ]);
  const tlsErrors = counter(
    'tamarin_tls_handshake_errors_total',
    'Failed TLS handshakes, by cause (plain_http, timeout, other).',
    ['worker', 'reason'],
  );
  const h2Streams = counter('tamarin_http2_streams_total', 'HTTP/2 streams (requests) received.');
  const h2Goaways = counter(
    'tamarin_http2_limit_goaways_total',
    'HTTP/2 connections ended by a limit (rapid reset).',
  );
  const protocolMetrics = [byProtocol, byTlsVersion, tlsErrors, h2Streams, h2Goaways];
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

  const proxy = { current: proxyScrape([]) };
  for (const metric of proxyMetrics(proxy)) registry.registerMetric(metric);

  const fill = (input: MetricsInput): Promise<string> => {
    for (const metric of [requests, aborted, accepted, open, uptime, ...protocolMetrics]) metric.reset();
    for (const { worker, result } of input.server) {
      const labels = { worker };
      result.statusClasses.forEach((n, i) => {
        requests.inc({ worker, class: CLASSES[i]! }, n);
      });
      aborted.inc(labels, result.aborted);
      accepted.inc(labels, result.connectionsTotal);
      open.set(labels, result.connections);
      uptime.set(labels, result.uptimeMs / 1000);
      const p = result.protocols;
      if (p !== undefined) {
        byProtocol.inc({ worker, protocol: 'h1' }, p.connections.h1);
        byProtocol.inc({ worker, protocol: 'h2' }, p.connections.h2);
        for (const [version, n] of Object.entries(p.tlsVersions)) byTlsVersion.inc({ worker, version }, n);
        for (const [reason, n] of Object.entries(p.tlsErrors)) tlsErrors.inc({ worker, reason }, n);
        h2Streams.inc(labels, p.h2Streams);
        h2Goaways.inc(labels, p.h2Goaways);
      }
    }
    latency.set(input.server);
    for (const [, metric] of cacheCounters) metric.reset();
    for (const metric of cacheMetrics) metric.reset();
    let storeReported = false;
    for (const { worker, result } of input.cache ?? []) {
      const labels = { worker };
      // A shared store is the server's: its occupancy and removals are exported once (on the first
      // worker), so that sum() over workers stays right; requests are per worker either way.
      const storeHere = result.shared !== true || !storeReported;
      storeReported = true;
      for (const [key, metric] of cacheCounters)
        if (storeHere || !SHARED_STORE_COUNTERS.has(key)) metric.inc(labels, result[key]);
      if (storeHere) {
        cacheBytes.set(labels, result.bytes);
        cacheMaxBytes.set(labels, result.maxBytes);
        cacheEntries.set(labels, result.entries);
        if (result.maxEntries !== null) cacheMaxEntries.set(labels, result.maxEntries);
      }
      if (result.policy !== '') cachePolicy.set({ worker, policy: result.policy }, 1);
      for (const [reason, n] of Object.entries(result.rejections)) cacheRejections.inc({ worker, reason }, n);
    }
    proxy.current = proxyScrape(input.proxy ?? []);
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
