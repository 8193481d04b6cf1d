/**
 * The content cache's part of the admin (its `AdminContribution`): merged stats, the endpoints under
 * `/api/cache` (entries, purge, bans), its Prometheus metrics and its dashboard panel. The admin runs in
 * the primary and reaches the cache of each worker through `control`: `stats`, `entries`, `purge`, `ban`,
 * `bans`. Each worker has its own store (a hot file sits in every worker that served it) unless the server
 * runs the shared one; the figures here add the workers up.
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
import { type BanInfo, type BanSpec, banSpecError } from '../server/bans.ts';
import {
  CACHE_OUTCOMES,
  CACHE_SOURCES,
  type CacheStatsSnapshot,
  mergeSnapshots,
  type RejectionReason,
} from './stats.ts';
import type { EntryInfo, EntrySort, PurgeResult } from './store.ts';

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

const SORTS: readonly EntrySort[] = ['hits', 'size', 'age'];

/**
 * Entries a search looks through in each worker (the whole store up to this many): a search is an
 * operator's occasional question, so a bounded scan is cheaper than an index kept on the hit path.
 */
const SEARCH_SCAN = 10_000;

/**
 * `GET /api/cache/entries?sort=hits|size|age&limit=&offset=[&q=text]`: the top entries over every worker;
 * `q` keeps those whose host and path contain it (case-insensitive).
 */
const entries: AdminEndpoint = {
  method: 'GET',
  path: '/api/cache/entries',
  async handle(request, workers) {
    const params = queryParams(request.query, ['sort', 'limit', 'offset', 'q']);
    const sort = (params.get('sort') ?? 'hits') as EntrySort;
    if (!SORTS.includes(sort)) {
      throw new AdminRequestError(
        400,
        'bad_parameter',
        `sort must be one of hits, size, age; got "${params.get('sort')}"`,
      );
    }
    const limit = intParam(params, 'limit', 50, 1, 1000);
    const offset = intParam(params, 'offset', 0, 0, 9000);
    const q = params.get('q')?.trim().toLowerCase() ?? '';
    if (q.length > 200) throw new AdminRequestError(400, 'bad_parameter', 'q is longer than 200 characters');
    const results = await workers<{ total: number; entries: EntryInfo[] }>('entries', {
      sort,
      limit: q === '' ? offset + limit : SEARCH_SCAN,
      offset: 0,
    });
    if (q === '') return { body: { sort, limit, offset, ...mergeEntries(results, sort, limit, offset) } };
    // A search matches the host and the path as the dashboard shows them (`example.com/img/logo.png`).
    const matches = (e: EntryInfo) => `${e.host}${e.path}`.toLowerCase().includes(q);
    const found = results.map(({ worker, result }) => {
      const kept = result.entries.filter(matches);
      return { worker, result: { total: kept.length, entries: kept } };
    });
    const partial = results.some(({ result }) => result.total > SEARCH_SCAN);
    return { body: { sort, limit, offset, q, ...mergeEntries(found, sort, limit, offset), partial } };
  },
};

/**
 * `DELETE /api/cache[?path=/x | ?prefix=/img/][&host=h]` or `?tag=a,b` (`&soft=1`: mark stale instead):
 * purge in every worker, then answer.
 */
const purge: AdminEndpoint = {
  method: 'DELETE',
  path: '/api/cache',
  async handle(request, workers) {
    const params = queryParams(request.query, ['path', 'prefix', 'host', 'tag', 'soft']);
    const softText = params.get('soft');
    if (softText !== undefined && softText !== '1' && softText !== 'true') {
      throw new AdminRequestError(400, 'bad_parameter', `soft must be 1 or true, got "${softText}"`);
    }
    params.delete('soft');
    const soft = softText === undefined ? {} : { soft: true as const };
    const tag = params.get('tag');
    if (tag !== undefined) {
      if (params.size > 1)
        throw new AdminRequestError(400, 'bad_parameter', 'tag cannot be combined with path, prefix or host');
      if (tag.trim() === '')
        throw new AdminRequestError(
          400,
          'bad_parameter',
          'tag needs a value (tags separated by spaces or commas)',
        );
      const results = await workers<PurgeResult>('purge', { tag, ...soft });
      return { body: { filter: { tag, ...soft }, ...mergePurges(results) } };
    }
    const path = params.get('path');
    const prefix = params.get('prefix');
    const host = params.get('host');
    if (path !== undefined && prefix !== undefined) {
      throw new AdminRequestError(400, 'bad_parameter', 'give either path or prefix, not both');
    }
    for (const [name, value] of [
      ['path', path],
      ['prefix', prefix],
    ] as const) {
      if (value !== undefined && !value.startsWith('/')) {
        throw new AdminRequestError(400, 'bad_parameter', `${name} must start with "/", got "${value}"`);
      }
    }
    if (host !== undefined && (host === '' || (path === undefined && prefix === undefined))) {
      throw new AdminRequestError(400, 'bad_parameter', 'host needs a non-empty value and a path or prefix');
    }
    const hostPart = host === undefined ? {} : { host: host.toLowerCase() };
    const filter =
      path !== undefined
        ? { path, ...hostPart }
        : prefix !== undefined
          ? { prefix, ...hostPart }
          : { all: true as const };
    const results = await workers<PurgeResult>('purge', { ...filter, ...soft });
    return { body: { filter: { ...filter, ...soft }, ...mergePurges(results) } };
  },
};

/**
 * `POST /api/cache/bans?url=re[&host=re][&field=name&value=re]`: ban, in every worker, the stored proxied
 * responses (stored before now) whose URL, host and field match the regular expressions, and answer once
 * they are gone with what the ban removed in the whole server (`banned`: per-worker stores are swept by
 * each worker; the shared store's entries by its owner, once); 400 naming what is wrong with the expression.
 */
const addBan: AdminEndpoint = {
  method: 'POST',
  path: '/api/cache/bans',
  async handle(request, workers) {
    const spec: BanSpec = Object.fromEntries(queryParams(request.query, ['url', 'host', 'field', 'value']));
    const error = banSpecError(spec);
    if (error !== null) throw new AdminRequestError(400, 'bad_parameter', error);
    const results = await workers<BanInfo>('ban', { ...spec, wait: true });
    return {
      body: {
        ban: spec,
        banned: results.reduce((n, { result }) => n + result.removed, 0),
        workers: results.map(({ worker, result }) => ({ worker, id: result.id, removed: result.removed })),
      },
    };
  },
};

/** `GET /api/cache/bans`: the bans pending in each worker. */
const listBans: AdminEndpoint = {
  method: 'GET',
  path: '/api/cache/bans',
  async handle(request, workers) {
    queryParams(request.query, []);
    const results = await workers<BanInfo[]>('bans');
    return { body: { workers: results.map(({ worker, result }) => ({ worker, bans: result })) } };
  },
};

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

/** Counters that belong to a shared store rather than to a worker. */
const SHARED_STORE_COUNTERS: ReadonlySet<string> = new Set([
  'evictions',
  'expirations',
  'invalidations',
  'purged',
]);

/** Snapshot field, metric name (without `tamarin_cache_` and `_total`), help. */
const CACHE_COUNTERS: ReadonlyArray<readonly [CacheCounter, string, string]> = [
  ['hits', 'hits', 'Requests answered from the cache, fresh or stale (static files and proxied responses).'],
  [
    'misses',
    'misses',
    'Cacheable lookups that went to the origin (misses and revalidations; passes and errors left out).',
  ],
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

/**
 * The cache's metric families. A shared store is the server's: its occupancy and removals are exported
 * once (on the first worker), so that sum() over workers stays right; requests are per worker either way.
 */
export function cacheMetrics(perWorker: ReadonlyArray<WorkerResult>): MetricFamily[] {
  const rows = perWorker as ReadonlyArray<WorkerResult<CacheStatsSnapshot>>;
  const counters = CACHE_COUNTERS.map(([key, name, help]) => ({
    key,
    family: metricFamily(`tamarin_cache_${name}_total`, 'counter', help),
  }));
  const gauge = (name: string, help: string) => metricFamily(name, 'gauge', help);
  const bytes = gauge('tamarin_cache_bytes', 'Bytes charged to resident cache entries.');
  const maxBytes = gauge('tamarin_cache_max_bytes', 'Cache capacity in bytes.');
  const count = gauge('tamarin_cache_entries', 'Resident cache entries.');
  const maxEntries = gauge('tamarin_cache_max_entries', 'Entry limit (absent when only bytes bound it).');
  const policy = gauge('tamarin_cache_policy_info', 'Eviction policy in use (always 1).');
  const rejections = metricFamily(
    'tamarin_cache_rejections_total',
    'counter',
    'Responses not stored, by reason.',
  );
  const requests = metricFamily(
    'tamarin_cache_requests_total',
    'counter',
    'Requests the caches looked at, by cache (files, proxy) and outcome (hit, miss, pass, stale, ' +
      'revalidated, error); hit ratio over cacheable lookups: (hit + stale) / (hit + stale + revalidated + miss).',
  );
  const served = metricFamily(
    'tamarin_cache_body_bytes_total',
    'counter',
    'Response body bytes by where they came from: the cache (hits) or the origin (files read, backends).',
  );
  let storeReported = false;
  for (const { worker, result } of rows) {
    const labels = { worker };
    const storeHere = result.shared !== true || !storeReported;
    storeReported = true;
    for (const { key, family } of counters) {
      if (storeHere || !SHARED_STORE_COUNTERS.has(key)) family.samples.push({ labels, value: result[key] });
    }
    if (storeHere) {
      bytes.samples.push({ labels, value: result.bytes });
      maxBytes.samples.push({ labels, value: result.maxBytes });
      count.samples.push({ labels, value: result.entries });
      if (result.maxEntries !== null) maxEntries.samples.push({ labels, value: result.maxEntries });
    }
    if (result.policy !== '') policy.samples.push({ labels: { worker, policy: result.policy }, value: 1 });
    for (const [reason, n] of Object.entries(result.rejections) as Array<[RejectionReason, number]>) {
      rejections.samples.push({ labels: { worker, reason }, value: n });
    }
    for (const cache of CACHE_SOURCES) {
      for (const outcome of CACHE_OUTCOMES) {
        requests.samples.push({ labels: { worker, cache, outcome }, value: result.bySource[cache][outcome] });
      }
    }
    served.samples.push({ labels: { worker, from: 'cache' }, value: result.bytesFromCache });
    served.samples.push({ labels: { worker, from: 'origin' }, value: result.bytesFromOrigin });
  }
  return [
    ...counters.map((c) => c.family),
    requests,
    served,
    bytes,
    maxBytes,
    count,
    maxEntries,
    policy,
    rejections,
  ];
}

/** The content cache's contribution to the admin. */
export const cacheAdmin: AdminContribution = {
  mergeStats: (perWorker) => mergeSnapshots(perWorker as CacheStatsSnapshot[]),
  endpoints: [entries, purge, addBan, listBans],
  metrics: { collect: cacheMetrics },
  panel: {
    title: 'Cache',
    fields: [
      { label: 'Hit ratio', path: 'hitRatio', format: 'ratio' },
      { label: 'Hits', path: 'outcomes.hit' },
      { label: 'Misses', path: 'outcomes.miss' },
      { label: 'Passes', path: 'outcomes.pass' },
      { label: 'Stale', path: 'outcomes.stale' },
      { label: 'Revalidated', path: 'outcomes.revalidated' },
      { label: 'Errors', path: 'outcomes.error' },
      { label: 'Origin offload', path: 'offloadRatio', format: 'ratio' },
      { label: 'Size', path: 'bytes', format: 'bytes' },
      { label: 'Entries', path: 'entries' },
    ],
  },
};
