/**
 * Per-worker control results turned into one answer for the whole server. Each worker has its own cache
 * store (a hot file sits in every worker that served it), its own counters and its own view of the
 * backends; the admin shows the server as one, with the per-worker figures beside the totals.
 */
import type { CacheStatsSnapshot } from '../cache/stats.ts';
import type { EntryInfo, EntrySort, PurgeResult } from '../cache/store.ts';
import type { RouteSnapshot } from '../proxy/plugin.ts';
import { mergeServerSnapshots, type ServerStatsSnapshot } from '../server/counters.ts';
import type { AdminContribution } from '../server/plugin.ts';
import type { ControlResult } from '../server/workers.ts';

/** What each running plugin adds to the admin, by plugin name (see `AdminContribution`). */
export type Contributions = ReadonlyMap<string, AdminContribution>;

/** A control call failed in some worker: the API answers 502 (or 404 when the feature is off). */
export class WorkerCallError extends Error {
  readonly failures: ReadonlyArray<{ worker: number; error: string }>;
  /** Every worker said the plugin is not running or disabled. */
  readonly unavailable: boolean;
  constructor(failures: ReadonlyArray<{ worker: number; error: string }>, unavailable: boolean) {
    super(failures.map((f) => `worker ${f.worker}: ${f.error}`).join('; '));
    this.name = 'WorkerCallError';
    this.failures = failures;
    this.unavailable = unavailable;
  }
}

const UNAVAILABLE = /^no plugin "[^"]+" is running|disabled/;

/** The results of every worker, or a `WorkerCallError` naming the ones that failed. */
export function resultsOf<T>(results: readonly ControlResult[]): Array<{ worker: number; result: T }> {
  const failures = results.filter((r) => r.error !== undefined) as Array<{ worker: number; error: string }>;
  if (failures.length > 0) {
    throw new WorkerCallError(
      failures,
      failures.length === results.length && failures.every((f) => UNAVAILABLE.test(f.error)),
    );
  }
  return results.map((r) => ({ worker: r.worker, result: r.result as T }));
}

/**
 * The merged `stats` of every plugin that contributes a `mergeStats`, by plugin name (those in `skip`
 * left out); a plugin not running in this configuration is left out too.
 */
export async function fetchContributedStats(
  control: (plugin: string, command: string, args?: unknown) => Promise<ControlResult[]>,
  contributions: Contributions,
  skip: readonly string[] = [],
): Promise<Record<string, unknown>> {
  const names = [...contributions]
    .filter(([name, c]) => c.mergeStats !== undefined && !skip.includes(name))
    .map(([name]) => name);
  const results = await Promise.all(names.map((name) => control(name, 'stats')));
  const merged: Record<string, unknown> = {};
  names.forEach((name, i) => {
    try {
      const perWorker = resultsOf<unknown>(results[i]!).map((r) => r.result);
      merged[name] = contributions.get(name)!.mergeStats!(perWorker);
    } catch (error) {
      if (!(error instanceof WorkerCallError && error.unavailable)) throw error;
    }
  });
  return merged;
}

/** The cache part of `/api/stats` (without the 300-slot series per worker, which the total carries). */
export interface CacheStatsView {
  total: CacheStatsSnapshot;
  workers: Array<{ worker: number } & Omit<CacheStatsSnapshot, 'rps'>>;
}

/**
 * @param merge the cache plugin's own merge (its `AdminContribution`): workers answer a few ms apart,
 *   sometimes on either side of a second, and the merge aligns the series on the newest second
 */
export function mergeCacheStats(
  results: ReadonlyArray<{ worker: number; result: CacheStatsSnapshot }>,
  merge: (perWorker: readonly CacheStatsSnapshot[]) => CacheStatsSnapshot,
) {
  const total = merge(results.map((r) => r.result));
  const workers = results.map(({ worker, result }) => {
    const { rps: _rps, ...rest } = result;
    return { worker, ...rest };
  });
  return { total, workers } satisfies CacheStatsView;
}

export interface ServerStatsView {
  total: ServerStatsSnapshot;
  workers: Array<{ worker: number } & Omit<ServerStatsSnapshot, 'rps' | 'latency'>>;
}

export function mergeServerStats(
  results: ReadonlyArray<{ worker: number; result: ServerStatsSnapshot }>,
): ServerStatsView {
  const total = mergeServerSnapshots(results.map((r) => r.result));
  const workers = results.map(({ worker, result }) => {
    const { rps: _rps, latency: _latency, ...rest } = result;
    return { worker, ...rest };
  });
  return { total, workers };
}

/** One cache entry across workers: the copies share key, path and size; hits add up. */
export interface MergedEntry extends EntryInfo {
  /** Workers holding a copy. */
  workers: number[];
}

/**
 * Merge the top `offset + limit` entries of every worker by key and take the page. Exact for `size` and
 * `age`; for `hits` an entry that is just outside every worker's top but first by its summed hits could
 * be missed, which a top table can live with.
 */
export function mergeEntries(
  results: ReadonlyArray<{ worker: number; result: { total: number; entries: EntryInfo[] } }>,
  sort: EntrySort,
  limit: number,
  offset: number,
): { total: number; entries: MergedEntry[] } {
  const byKey = new Map<string, MergedEntry>();
  let total = 0;
  for (const { worker, result } of results) {
    total += result.total;
    for (const entry of result.entries) {
      const seen = byKey.get(entry.key);
      if (seen === undefined) {
        byKey.set(entry.key, { ...entry, workers: [worker] });
        continue;
      }
      seen.hits += entry.hits;
      seen.ageMs = Math.max(seen.ageMs, entry.ageMs);
      if (entry.expiresInMs !== null) {
        seen.expiresInMs =
          seen.expiresInMs === null ? entry.expiresInMs : Math.min(seen.expiresInMs, entry.expiresInMs);
      }
      seen.workers.push(worker);
    }
  }
  const all = [...byKey.values()];
  if (sort === 'hits') all.sort((a, b) => b.hits - a.hits || a.key.localeCompare(b.key));
  else if (sort === 'size') all.sort((a, b) => b.size - a.size || a.key.localeCompare(b.key));
  else all.sort((a, b) => b.ageMs - a.ageMs || a.key.localeCompare(b.key));
  return { total, entries: all.slice(offset, offset + limit) };
}

/** What `DELETE /api/cache` answers: totals plus each worker's share. */
export interface PurgeSummary {
  removed: number;
  bytes: number;
  /** Distinct keys removed (at most 1000 listed). */
  keys: string[];
  workers: Array<{ worker: number; removed: number; bytes: number }>;
}

export function mergePurges(results: ReadonlyArray<{ worker: number; result: PurgeResult }>): PurgeSummary {
  const keys = new Set<string>();
  let removed = 0;
  let bytes = 0;
  for (const { result } of results) {
    removed += result.removed;
    bytes += result.bytes;
    for (const key of result.keys) if (keys.size < 1000) keys.add(key);
  }
  return {
    removed,
    bytes,
    keys: [...keys],
    workers: results.map(({ worker, result }) => ({ worker, removed: result.removed, bytes: result.bytes })),
  };
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
