/**
 * Per-route counters of the proxy (one set per route and worker): requests forwarded, answers by status
 * class, the proxy's own error answers, body bytes relayed from the backends and the time to the
 * backend's response head as a histogram (the server's latency buckets). Routes come from the
 * configuration, so their number is bounded: the admin labels series by route index, never by path.
 *
 * Requests the proxy's cache answers from its store never reach the route: they are the cache's
 * (`/api/stats` → cache outcomes). Cache misses, passes and validations are forwarded and count here.
 */
import { LATENCY_BUCKETS } from '../server/counters.ts';
import type { Backend } from './backend.ts';

/** One backend's counters within a route's snapshot. */
export interface BackendStats {
  url: string;
  requests: number;
  failures: number;
  /** Responses heads received and the sum of their times, in seconds (mean = sum / count). */
  latencyCount: number;
  latencySum: number;
}

/** One route's counters as plain data (structured-clonable). */
export interface RouteStatsSnapshot {
  route: number;
  match: string[];
  host: string | null;
  upstream: string | null;
  /** Requests forwarded (a failover's attempts count once here, at each backend in `backends`). */
  requests: number;
  /** Answers by status class: index 0 = 1xx … 4 = 5xx (the backend's status, or the proxy's error). */
  statusClasses: [number, number, number, number, number];
  /** The proxy's own error answers (502 no backend / refused / bad response, 504 timeout, 508 loop). */
  errors: number;
  /** Response body bytes received from the backends. */
  bytesFromBackends: number;
  /** Request body bytes sent to the backends. */
  bytesToBackends: number;
  /** Time from asking a backend to its response head, in seconds (`LATENCY_BUCKETS`, last = +Inf). */
  upstreamLatency: { bounds: number[]; counts: number[]; sum: number };
  backends: BackendStats[];
}

/** What the proxy's `stats` control command answers. */
export interface ProxyStatsSnapshot {
  routes: RouteStatsSnapshot[];
}

export class RouteStats {
  requests = 0;
  errors = 0;
  bytesFromBackends = 0;
  bytesToBackends = 0;
  private latencySum = 0;
  private readonly classes = new Float64Array(5);
  private readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);

  /** The answer's status (a backend's or the proxy's own). */
  answered(status: number): void {
    const cls = ((status / 100) | 0) - 1;
    if (cls >= 0 && cls < 5) this.classes[cls]!++;
  }

  /** A backend's response head arrived `ms` after it was asked. */
  upstreamTime(ms: number): void {
    const seconds = ms / 1000;
    this.latencySum += seconds;
    let i = 0;
    const n = LATENCY_BUCKETS.length;
    while (i < n && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
  }

  /** Take over the counters of the same route under the configuration a reload replaced. */
  adopt(previous: RouteStats): void {
    this.requests = previous.requests;
    this.errors = previous.errors;
    this.bytesFromBackends = previous.bytesFromBackends;
    this.bytesToBackends = previous.bytesToBackends;
    this.latencySum = previous.latencySum;
    this.classes.set(previous.classes);
    this.buckets.set(previous.buckets);
  }

  snapshot(
    route: {
      index: number;
      patterns: readonly string[];
      host: string | undefined;
      upstream: string | undefined;
    },
    backends: readonly Backend[],
  ): RouteStatsSnapshot {
    const c = this.classes;
    return {
      route: route.index,
      match: [...route.patterns],
      host: route.host ?? null,
      upstream: route.upstream ?? null,
      requests: this.requests,
      statusClasses: [c[0]!, c[1]!, c[2]!, c[3]!, c[4]!],
      errors: this.errors,
      bytesFromBackends: this.bytesFromBackends,
      bytesToBackends: this.bytesToBackends,
      upstreamLatency: {
        bounds: [...LATENCY_BUCKETS],
        counts: Array.from(this.buckets),
        sum: this.latencySum,
      },
      backends: backends.map((b) => ({
        url: b.url,
        requests: b.requests,
        failures: b.failures,
        latencyCount: b.latencyCount,
        latencySum: b.latencyTotal / 1000,
      })),
    };
  }
}

/**
 * Sum the workers' snapshots route by route (every worker runs the same routes): counters, classes and
 * buckets add up, backends too (matched by position).
 */
export function mergeProxyStats(perWorker: readonly ProxyStatsSnapshot[]): ProxyStatsSnapshot {
  const first = perWorker[0];
  if (first === undefined) return { routes: [] };
  const sum = structuredClone(first);
  for (let w = 1; w < perWorker.length; w++) {
    const routes = perWorker[w]!.routes;
    sum.routes.forEach((into, r) => {
      const from = routes[r];
      if (from === undefined) return;
      into.requests += from.requests;
      into.errors += from.errors;
      into.bytesFromBackends += from.bytesFromBackends;
      into.bytesToBackends += from.bytesToBackends;
      for (let i = 0; i < 5; i++) into.statusClasses[i]! += from.statusClasses[i]!;
      const latency = into.upstreamLatency;
      for (let i = 0; i < latency.counts.length; i++)
        latency.counts[i]! += from.upstreamLatency.counts[i] ?? 0;
      latency.sum += from.upstreamLatency.sum;
      into.backends.forEach((b, i) => {
        const other = from.backends[i];
        if (other === undefined) return;
        b.requests += other.requests;
        b.failures += other.failures;
        b.latencyCount += other.latencyCount;
        b.latencySum += other.latencySum;
      });
    });
  }
  return sum;
}
