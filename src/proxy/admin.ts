/**
 * The proxy's part of the admin (its `AdminContribution`): per-route stats merged over the workers, the
 * endpoints under `/api/proxy` (backends, drain / disable / enable), its Prometheus metrics and its
 * dashboard panel. Each worker balances, counts and cools its backends on its own (passive health is what
 * that worker saw), so a backend can be `cooling` in one worker and `up` in another: the merged views give
 * the worst state and the per-worker list, the metrics a series per worker.
 */
import {
  type AdminContribution,
  type AdminEndpoint,
  AdminRequestError,
  intParam,
  type MetricFamily,
  metricFamily,
  queryParams,
  type WorkerResult,
} from '../server/admin-contract.ts';
import type { BackendSnapshot, ListedState } from './backend.ts';
import type { BackendAction, BackendChange } from './backend-admin.ts';
import type { RouteSnapshot } from './plugin.ts';
import { mergeProxyStats, type ProxyStatsSnapshot } from './route-stats.ts';

/** What the `metrics` control command answers: the backends' state and the routes' counters. */
export interface ProxyMetricsSnapshot {
  backends: RouteSnapshot[];
  stats: ProxyStatsSnapshot;
}

/** Backends as every worker sees them: counters summed, state per worker (health is checked per worker). */
export function mergeBackends(results: ReadonlyArray<{ worker: number; result: RouteSnapshot[] }>) {
  const first = results[0]?.result ?? [];
  return first.map((route, r) => ({
    route: route.route,
    upstream: route.upstream ?? null,
    match: route.match,
    host: route.host,
    backends: route.backends.map((backend, b) => {
      const views = results.map(({ worker, result }) => ({ worker, ...result[r]!.backends[b]! }));
      const states = views.map((v) => v.state);
      return {
        url: backend.url,
        weight: backend.weight,
        // The worst state wins in the summary; the per-worker list tells the whole story.
        state: summaryState(states),
        health: views.some((v) => v.health === 'down') ? 'down' : views[0]!.health,
        admin: backend.admin,
        inFlight: sum(views, 'inFlight'),
        requests: sum(views, 'requests'),
        failures: sum(views, 'failures'),
        openConnections: sum(views, 'openConnections'),
        idleConnections: sum(views, 'idleConnections'),
        // Each worker's mean weighted by its successful requests; the EWMA of the slowest worker (what
        // some clients see now).
        latencyMs: weightedLatency(views),
        latencyEwmaMs: Math.max(0, ...views.map((v) => v.latencyEwmaMs)),
        lastError: views.find((v) => v.lastError !== null)?.lastError ?? null,
        workers: views,
      };
    }),
  }));
}

/**
 * The worst state wins; a drain applies to every worker at once, so it is `draining` until every worker's
 * requests to the backend are done, then `drained`.
 */
function summaryState(states: readonly string[]): string {
  if (states.includes('down')) return 'down';
  if (states.every((s) => s === 'draining' || s === 'drained')) {
    return states.includes('draining') ? 'draining' : 'drained';
  }
  return states.every((s) => s === states[0]) ? (states[0] ?? 'up') : 'mixed';
}

function weightedLatency(
  views: ReadonlyArray<{ latencyMs: number; requests: number; failures: number }>,
): number {
  let total = 0;
  let weight = 0;
  for (const v of views) {
    const ok = Math.max(0, v.requests - v.failures);
    total += v.latencyMs * ok;
    weight += ok;
  }
  return weight === 0 ? 0 : total / weight;
}

function sum<K extends string>(rows: ReadonlyArray<Record<K, number>>, key: K): number {
  let total = 0;
  for (const row of rows) total += row[key];
  return total;
}

/** `GET /api/proxy/backends`: every route's backends, merged over the workers. */
const backends: AdminEndpoint = {
  method: 'GET',
  path: '/api/proxy/backends',
  async handle(request, workers) {
    queryParams(request.query, []);
    return { body: { routes: mergeBackends(await workers<RouteSnapshot[]>('backends')) } };
  },
};

/**
 * `POST /api/proxy/backends/{drain,disable,enable}?url=http://h:p[&route=n]`: change the backend with that
 * URL (in every route that has it, or in route `n` only) in every worker; 404 naming the configured
 * backends when none has that URL.
 */
function backendAction(action: BackendAction): AdminEndpoint {
  return {
    method: 'POST',
    path: `/api/proxy/backends/${action}`,
    async handle(request, workers) {
      const params = queryParams(request.query, ['url', 'route']);
      const url = params.get('url');
      if (url === undefined || url === '') {
        throw new AdminRequestError(
          400,
          'bad_parameter',
          'url is required (a backend URL, e.g. http://10.0.0.5:8080)',
        );
      }
      const route = params.has('route') ? intParam(params, 'route', 0, 0, 100_000) : undefined;
      const command = route === undefined ? { action, url } : { action, url, route };
      const results = await workers<BackendChange[]>('backend-state', command);
      const changed = results[0]?.result ?? [];
      if (changed.length === 0) {
        const listed = (await workers<RouteSnapshot[]>('backends'))[0]?.result ?? [];
        const urls = [...new Set(listed.flatMap((r) => r.backends.map((b) => b.url)))];
        const where = route === undefined ? '' : ` in route ${route}`;
        throw new AdminRequestError(
          404,
          'no_such_backend',
          `no backend ${url}${where} (configured: ${urls.join(', ') || 'none'})`,
        );
      }
      const inFlight = results.reduce(
        (n, { result }) => n + result.reduce((m, change) => m + change.inFlight, 0),
        0,
      );
      return {
        body: {
          action,
          backends: changed.map(({ route: r, url: u, from, to }) => ({ route: r, url: u, from, to })),
          inFlight,
        },
      };
    },
  };
}

const STATES: readonly ListedState[] = ['up', 'down', 'cooling', 'draining', 'drained', 'disabled'];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * Backend series: one per route, backend and worker. `route` is the route's position in the config
 * (0-based, as in /api/proxy/backends); `tamarin_proxy_route_info` names its patterns.
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

/** The proxy's metric families from every worker's `metrics` answer. */
export function proxyMetrics(perWorker: ReadonlyArray<WorkerResult>): MetricFamily[] {
  const rows = perWorker as ReadonlyArray<WorkerResult<ProxyMetricsSnapshot>>;
  const backendFamilies = BACKEND_SERIES.map(([suffix, type, help, value]) => ({
    family: metricFamily(`tamarin_proxy_backend_${suffix}`, type, help),
    value,
  }));
  const state = metricFamily(
    'tamarin_proxy_backend_state',
    'gauge',
    'Backend state, one series per state: 1 for the current one, 0 for the others.',
  );
  const responseSeconds = metricFamily(
    'tamarin_proxy_backend_response_seconds_total',
    'counter',
    'Sum of the times from the request sent to the response head; over tamarin_proxy_backend_responses_total: the mean.',
  );
  const responses = metricFamily(
    'tamarin_proxy_backend_responses_total',
    'counter',
    'Response heads received from the backend.',
  );
  const info = metricFamily(
    'tamarin_proxy_route_info',
    'gauge',
    'A proxy route and its match patterns (always 1).',
  );
  const requests = metricFamily(
    'tamarin_proxy_route_requests_total',
    'counter',
    'Requests the route forwarded (cache hits on a cached route are counted by the cache, not here).',
  );
  const statuses = metricFamily(
    'tamarin_proxy_route_responses_total',
    'counter',
    "Answers of the route by status class (the backend's status, or the proxy's own error).",
  );
  const errors = metricFamily(
    'tamarin_proxy_route_errors_total',
    'counter',
    "The proxy's own error answers on the route (no backend, refused, timed out, bad response, loop).",
  );
  const received = metricFamily(
    'tamarin_proxy_route_received_bytes_total',
    'counter',
    'Response body bytes received from the backends of the route.',
  );
  const sent = metricFamily(
    'tamarin_proxy_route_sent_bytes_total',
    'counter',
    'Request body bytes sent to the backends of the route.',
  );
  const upstream = metricFamily(
    'tamarin_proxy_upstream_duration_seconds',
    'histogram',
    'Time from asking a backend to its response head, per route.',
  );
  // Every worker runs the same routes; the first one's list names them.
  for (const route of rows[0]?.result.backends ?? []) {
    info.samples.push({
      labels: { route: route.route, match: route.match.join(' '), host: route.host ?? '' },
      value: 1,
    });
  }
  for (const { worker, result } of rows) {
    for (const route of result.backends) {
      for (const backend of route.backends) {
        const labels = { route: route.route, backend: backend.url, worker };
        for (const { family: f, value } of backendFamilies) {
          const v = value(backend);
          if (v !== null) f.samples.push({ labels, value: v });
        }
        for (const s of STATES)
          state.samples.push({ labels: { ...labels, state: s }, value: backend.state === s ? 1 : 0 });
      }
    }
    for (const route of result.stats.routes) {
      const labels = { route: route.route, worker };
      requests.samples.push({ labels, value: route.requests });
      errors.samples.push({ labels, value: route.errors });
      received.samples.push({ labels, value: route.bytesFromBackends });
      sent.samples.push({ labels, value: route.bytesToBackends });
      route.statusClasses.forEach((n, i) => {
        statuses.samples.push({ labels: { ...labels, class: CLASSES[i]! }, value: n });
      });
      const { bounds, counts, sum: total } = route.upstreamLatency;
      let cumulative = 0;
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i]!;
        const le = i < bounds.length ? String(bounds[i]) : '+Inf';
        upstream.samples.push({ labels: { ...labels, le }, value: cumulative, suffix: '_bucket' });
      }
      upstream.samples.push({ labels, value: total, suffix: '_sum' });
      upstream.samples.push({ labels, value: cumulative, suffix: '_count' });
      for (const backend of route.backends) {
        const b = { route: route.route, backend: backend.url, worker };
        responses.samples.push({ labels: b, value: backend.latencyCount });
        responseSeconds.samples.push({ labels: b, value: backend.latencySum });
      }
    }
  }
  return [
    ...backendFamilies.map((f) => f.family),
    state,
    responses,
    responseSeconds,
    info,
    requests,
    statuses,
    errors,
    received,
    sent,
    upstream,
  ];
}

/** The proxy's contribution to the admin. */
export const proxyAdmin: AdminContribution = {
  mergeStats: (perWorker) => mergeProxyStats(perWorker as ProxyStatsSnapshot[]),
  endpoints: [backends, backendAction('drain'), backendAction('disable'), backendAction('enable')],
  metrics: { command: 'metrics', collect: proxyMetrics },
  panel: {
    title: 'Proxy routes',
    fields: [
      { label: 'Requests', path: 'routes.*.requests' },
      { label: '5xx', path: 'routes.*.statusClasses.4' },
      { label: 'Proxy errors', path: 'routes.*.errors' },
      { label: 'Bytes from backends', path: 'routes.*.bytesFromBackends', format: 'bytes' },
    ],
  },
};
