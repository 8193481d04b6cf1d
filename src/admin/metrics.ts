/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4) through prom-client. The numbers live in the
 * workers; each scrape fetches fresh snapshots and writes them into the registry with a `worker` label,
 * so `sum(rate(tamarin_http_requests_total[1m]))` is the server's rate. The primary's own process metrics
 * (CPU, memory, event-loop lag: the whole process, worker threads included) come from prom-client's
 * default collectors.
 *
 * The plugins' series (the cache's, the proxy's) are theirs: each contributes its families through the
 * admin contract (`AdminContribution.metrics`), built from its workers' answers to one control command.
 */
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { MetricFamily, WorkerResult } from '../server/admin-contract.ts';
import type { ServerStatsSnapshot } from '../server/counters.ts';
import { type Contributions, resultsOf, WorkerCallError } from './aggregate.ts';
import type { Control } from './live.ts';

/**
 * What one scrape renders: the server's counters of every worker, and per plugin that contributes metrics
 * its workers' answers (null when the plugin is not running: its families are listed without samples).
 */
export interface MetricsInput {
  server: ReadonlyArray<{ worker: number; result: ServerStatsSnapshot }>;
  plugins: Readonly<Record<string, ReadonlyArray<WorkerResult> | null>>;
}

/**
 * Everything a scrape shows, fetched from every worker. A worker that fails to answer fails the scrape
 * (the API answers 502); a plugin that is not running only leaves its series out.
 */
export async function fetchMetricsInput(
  control: Control,
  contributions: Contributions,
): Promise<MetricsInput> {
  const names = [...contributions].filter(([, c]) => c.metrics !== undefined).map(([name]) => name);
  const [server, ...answers] = await Promise.all([
    control('server', 'stats'),
    ...names.map((name) => control(name, contributions.get(name)!.metrics!.command ?? 'stats')),
  ]);
  const plugins: Record<string, ReadonlyArray<WorkerResult> | null> = {};
  names.forEach((name, i) => {
    try {
      plugins[name] = resultsOf(answers[i]!);
    } catch (error) {
      if (!(error instanceof WorkerCallError && error.unavailable)) throw error;
      plugins[name] = null;
    }
  });
  return { server: resultsOf<ServerStatsSnapshot>(server!), plugins };
}

export interface AdminMetrics {
  readonly contentType: string;
  render(input: MetricsInput): Promise<string>;
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

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

/**
 * A plugin's family as a registry metric: its samples are whatever the latest scrape collected (the
 * registry only formats them). prom-client's labelled Gauge hashes the labels on every set, which doubled
 * the scrape time for a large proxy config (43 ms instead of 20 ms for 20 routes x 5 backends x 4 workers).
 */
function contributedMetric(declared: MetricFamily, current: Map<string, MetricFamily>): Metric {
  const { name, help, type } = declared;
  const get = () => ({
    name,
    help,
    type,
    aggregator: 'sum',
    values: (current.get(name)?.samples ?? []).map((s) =>
      s.suffix === undefined
        ? { labels: s.labels, value: s.value }
        : { labels: s.labels, value: s.value, metricName: name + s.suffix },
    ),
  });
  return { name, help, type, aggregator: 'sum', get, reset() {} } as unknown as Metric;
}

/** Build the registry once per admin service, with the families the plugins in `contributions` declare. */
export function createMetrics(contributions: Contributions = new Map()): AdminMetrics {
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
  const bytesIn = counter('tamarin_http_received_bytes_total', 'Request body bytes received from clients.');
  const bytesOut = counter(
    'tamarin_http_sent_bytes_total',
    'Response body bytes sent to clients (heads and chunk framing not counted).',
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

  // Every family a plugin declares is registered once, up front: a scrape lists the same families
  // whether or not the plugin runs (without samples when it does not).
  const current = new Map<string, MetricFamily>();
  const collectors: Array<readonly [string, (rows: ReadonlyArray<WorkerResult>) => MetricFamily[]]> = [];
  for (const [plugin, contribution] of contributions) {
    const metrics = contribution.metrics;
    if (metrics === undefined) continue;
    collectors.push([plugin, (rows) => metrics.collect(rows)]);
    for (const declared of metrics.collect([])) {
      registry.registerMetric(contributedMetric(declared, current));
    }
  }

  const fill = (input: MetricsInput): Promise<string> => {
    for (const metric of [requests, aborted, bytesIn, bytesOut, accepted, open, uptime, ...protocolMetrics])
      metric.reset();
    for (const { worker, result } of input.server) {
      const labels = { worker };
      result.statusClasses.forEach((n, i) => {
        requests.inc({ worker, class: CLASSES[i]! }, n);
      });
      aborted.inc(labels, result.aborted);
      bytesIn.inc(labels, result.bytesIn ?? 0);
      bytesOut.inc(labels, result.bytesOut ?? 0);
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
    current.clear();
    for (const [plugin, collect] of collectors) {
      const rows = input.plugins[plugin];
      if (rows === null || rows === undefined) continue;
      for (const family of collect(rows)) current.set(family.name, family);
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
