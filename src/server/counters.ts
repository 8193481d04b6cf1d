/**
 * Per-worker server counters for the admin API and `/metrics`: connections, responses by status class,
 * a latency histogram and a requests-per-second ring (1 s resolution, 5 minutes).
 *
 * The runtime calls `response()` once per finished response, so it is a handful of field and typed-array
 * increments: no allocation, no Date objects. The primary reads them through the `server` control target
 * (`control('server', 'stats')`), which every worker answers besides its plugins.
 */

import { performance } from 'node:perf_hooks';
import { addProtocolSnapshots, type ProtocolStatsSnapshot } from './protocol-counters.ts';

/** Length of the requests-per-second series, in seconds (as the cache's). */
export const SERVER_RPS_SECONDS = 300;

/**
 * Upper bounds of the latency histogram buckets, in seconds (Prometheus convention). Time runs from the
 * parsed request head to the last byte handed to the socket. The last, implicit bucket is `+Inf`.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One worker's counters as plain data (structured-clonable). */
export interface ServerStatsSnapshot {
  /** Milliseconds since this worker started. */
  uptimeMs: number;
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Responses finished since start (aborted ones included). */
  requests: number;
  /** Responses by status class: index 0 = 1xx … 4 = 5xx. */
  statusClasses: [number, number, number, number, number];
  /** Responses whose client went away before the last byte. */
  aborted: number;
  /** Request body bytes received from clients. */
  bytesIn: number;
  /** Response body bytes sent to clients (heads and chunk framing not counted). */
  bytesOut: number;
  latency: {
    /** Bucket upper bounds in seconds (`LATENCY_BUCKETS`). */
    bounds: number[];
    /** Non-cumulative count per bucket; one more than `bounds` (the last is +Inf). */
    counts: number[];
    /** Sum of all latencies, in seconds. */
    sum: number;
  };
  /**
   * Per second for the last `SERVER_RPS_SECONDS` seconds, oldest first (the last is now): responses
   * (`total`), 4xx and 5xx responses, and response body bytes sent.
   */
  rps: {
    startSecond: number;
    total: number[];
    clientErrors: number[];
    serverErrors: number[];
    bytesOut: number[];
  };
  /** Connections by protocol and TLS version (protocol-counters.ts); absent without the TLS listener kit. */
  protocols?: ProtocolStatsSnapshot;
}

/** The counters of one worker. */
export class ServerCounters {
  private opened = 0;
  private closed = 0;
  private requests = 0;
  private aborted = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private latencySum = 0;
  private readonly classes = new Float64Array(5);
  private readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  private readonly ring = new Uint32Array(SERVER_RPS_SECONDS);
  private readonly ring4xx = new Uint32Array(SERVER_RPS_SECONDS);
  private readonly ring5xx = new Uint32Array(SERVER_RPS_SECONDS);
  private readonly ringBytes = new Float64Array(SERVER_RPS_SECONDS);
  private readonly startedAt: number;
  /** `performance.now()` at which the current ring slot ends: the one compare the hot path does. */
  private slotEndsAt = 0;
  private second = 0;
  private slot = 0;

  constructor() {
    this.startedAt = performance.now();
  }

  connectionOpened(): void {
    this.opened++;
  }

  connectionClosed(): void {
    this.closed++;
  }

  /**
   * Count a finished response. `now` is `performance.now()`; `start` the request's `startTime`; `bytesIn`
   * and `bytesOut` the request's and the response's body bytes.
   */
  response(status: number, start: number, now: number, aborted: boolean, bytesIn = 0, bytesOut = 0): void {
    if (now >= this.slotEndsAt) this.roll(now);
    this.requests++;
    const slot = this.slot;
    this.ring[slot]!++;
    const cls = ((status / 100) | 0) - 1;
    if (cls >= 0 && cls < 5) {
      this.classes[cls]!++;
      if (cls === 3) this.ring4xx[slot]!++;
      else if (cls === 4) this.ring5xx[slot]!++;
    }
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    this.ringBytes[slot]! += bytesOut;
    if (aborted) this.aborted++;
    const seconds = (now - start) / 1000;
    this.latencySum += seconds;
    let i = 0;
    const n = LATENCY_BUCKETS.length;
    while (i < n && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
  }

  /** Move the ring to the wall-clock second containing `now` (a `performance.now()` value). */
  private roll(now: number): void {
    const epochMs = performance.timeOrigin + now;
    const second = Math.floor(epochMs / 1000);
    const steps = Math.min(second - this.second, SERVER_RPS_SECONDS);
    if (this.second === 0 || steps < 0) {
      this.ring.fill(0);
      this.ring4xx.fill(0);
      this.ring5xx.fill(0);
      this.ringBytes.fill(0);
    } else {
      for (let i = 0; i < steps; i++) {
        const slot = (this.slot + 1) % SERVER_RPS_SECONDS;
        this.slot = slot;
        this.ring[slot] = 0;
        this.ring4xx[slot] = 0;
        this.ring5xx[slot] = 0;
        this.ringBytes[slot] = 0;
      }
    }
    this.second = second;
    this.slotEndsAt = (second + 1) * 1000 - performance.timeOrigin;
  }

  snapshot(now = performance.now()): ServerStatsSnapshot {
    this.roll(now);
    const total: number[] = new Array(SERVER_RPS_SECONDS);
    const clientErrors: number[] = new Array(SERVER_RPS_SECONDS);
    const serverErrors: number[] = new Array(SERVER_RPS_SECONDS);
    const bytesOut: number[] = new Array(SERVER_RPS_SECONDS);
    for (let i = 0; i < SERVER_RPS_SECONDS; i++) {
      const slot = (this.slot + 1 + i) % SERVER_RPS_SECONDS;
      total[i] = this.ring[slot]!;
      clientErrors[i] = this.ring4xx[slot]!;
      serverErrors[i] = this.ring5xx[slot]!;
      bytesOut[i] = this.ringBytes[slot]!;
    }
    const c = this.classes;
    return {
      uptimeMs: Math.round(now - this.startedAt),
      connections: this.opened - this.closed,
      connectionsTotal: this.opened,
      requests: this.requests,
      statusClasses: [c[0]!, c[1]!, c[2]!, c[3]!, c[4]!],
      aborted: this.aborted,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      latency: { bounds: [...LATENCY_BUCKETS], counts: Array.from(this.buckets), sum: this.latencySum },
      rps: { startSecond: this.second - SERVER_RPS_SECONDS + 1, total, clientErrors, serverErrors, bytesOut },
    };
  }

  /** The `server` control target: `stats` → {@link ServerStatsSnapshot}. */
  control(command: string): ServerStatsSnapshot {
    if (command === 'stats') return this.snapshot();
    throw new Error(`server: unknown control command "${command}" (known: stats)`);
  }
}

/**
 * Sum several workers' snapshots: counters and buckets add up, the uptime is the oldest worker's, the
 * rps series add slot by slot aligned on the newest second.
 */
export function mergeServerSnapshots(snapshots: readonly ServerStatsSnapshot[]): ServerStatsSnapshot {
  const first = snapshots[0];
  if (first === undefined) throw new RangeError('mergeServerSnapshots: no snapshots');
  const sum = structuredClone(first);
  for (let i = 1; i < snapshots.length; i++) {
    const s = snapshots[i]!;
    sum.uptimeMs = Math.max(sum.uptimeMs, s.uptimeMs);
    sum.connections += s.connections;
    sum.connectionsTotal += s.connectionsTotal;
    sum.requests += s.requests;
    sum.aborted += s.aborted;
    sum.bytesIn += s.bytesIn ?? 0;
    sum.bytesOut += s.bytesOut ?? 0;
    for (let j = 0; j < 5; j++) sum.statusClasses[j]! += s.statusClasses[j]!;
    for (let j = 0; j < sum.latency.counts.length; j++) sum.latency.counts[j]! += s.latency.counts[j] ?? 0;
    sum.latency.sum += s.latency.sum;
    const newest = Math.max(sum.rps.startSecond, s.rps.startSecond);
    const merged = { startSecond: newest } as ServerStatsSnapshot['rps'];
    for (const name of RPS_SERIES) {
      const into = shift(sum.rps[name] ?? [], newest - sum.rps.startSecond);
      const from = shift(s.rps[name] ?? [], newest - s.rps.startSecond);
      for (let j = 0; j < into.length; j++) into[j]! += from[j] ?? 0;
      merged[name] = into;
    }
    sum.rps = merged;
    if (s.protocols !== undefined)
      sum.protocols =
        sum.protocols === undefined
          ? structuredClone(s.protocols)
          : addProtocolSnapshots(sum.protocols, s.protocols);
  }
  return sum;
}

const RPS_SERIES = ['total', 'clientErrors', 'serverErrors', 'bytesOut'] as const;

/** Drop the `by` oldest slots of a series and pad with zeros at the new end (a series `by` seconds later). */
function shift(series: number[], by: number): number[] {
  if (by === 0) return series;
  const out = series.slice(by);
  while (out.length < series.length) out.push(0);
  return out;
}
