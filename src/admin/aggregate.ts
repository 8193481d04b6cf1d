/**
 * Per-worker control results turned into one answer for the whole server. Each worker has its own cache
 * store (a hot file sits in every worker that served it), its own counters and its own view of the
 * backends; the admin shows the server as one, with the per-worker figures beside the totals.
 */
import type { CacheStatsSnapshot } from '../cache/stats.ts';
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
