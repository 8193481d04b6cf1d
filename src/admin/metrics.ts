/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4) through prom-client. The numbers live in the
 * workers; each scrape fetches fresh snapshots and writes them into the registry with a `worker` label,
 * so `sum(rate(tamarin_http_requests_total[1m]))` is the server's rate. The primary's own process metrics
 * (CPU, memory, event-loop lag: the whole process, worker threads included) come from prom-client's
 * default collectors.
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';

/** What one scrape renders. `cache` is null when the cache plugin is not running. */
export interface MetricsInput {
  server: ReadonlyArray<{ worker: number; result: ServerStatsSnapshot }>;
  cache: ReadonlyArray<{ worker: number; result: CacheStatsSnapshot }> | null;
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
  | 'purged';
const CACHE_COUNTERS: ReadonlyArray<readonly [CacheCounter, string]> = [
  ['hits', 'Requests answered from the cache.'],
  ['misses', 'Cacheable requests the cache could not answer.'],
  ['insertions', 'Entries stored.'],
  ['evictions', 'Entries the eviction policy dropped to make room.'],
  ['expirations', 'Entries dropped because their TTL ran out.'],
  ['invalidations', 'Entries dropped because the file changed on disk.'],
  ['purged', 'Entries removed by purge calls.'],
];

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
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['worker'], registers });

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
    ([key, help]) => [key, counter(`tamarin_cache_${key}_total`, help)] as const,
  );
  const cacheBytes = gauge('tamarin_cache_bytes', 'Bytes charged to resident cache entries.');
  const cacheMaxBytes = gauge('tamarin_cache_max_bytes', 'Cache capacity in bytes.');
  const cacheEntries = gauge('tamarin_cache_entries', 'Resident cache entries.');
  const cacheRejections = counter('tamarin_cache_rejections_total', 'Responses not stored, by reason.', [
    'worker',
    'reason',
  ]);

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
    for (const metric of [cacheBytes, cacheMaxBytes, cacheEntries, cacheRejections]) metric.reset();
    for (const { worker, result } of input.cache ?? []) {
      const labels = { worker };
      for (const [key, metric] of cacheCounters) metric.inc(labels, result[key]);
      cacheBytes.set(labels, result.bytes);
      cacheMaxBytes.set(labels, result.maxBytes);
      cacheEntries.set(labels, result.entries);
      for (const [reason, n] of Object.entries(result.rejections)) cacheRejections.inc({ worker, reason }, n);
    }
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
