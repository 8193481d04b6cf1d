import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeEntries, mergePurges } from '../cache/admin.ts';
import { CacheStats, mergeSnapshots } from '../cache/stats.ts';
import type { EntryInfo } from '../cache/store.ts';
import { mergeBackends } from '../proxy/admin.ts';
import type { BackendSnapshot } from '../proxy/backend.ts';
import { mergeCacheStats, resultsOf, WorkerCallError } from './aggregate.ts';

function entry(key: string, hits: number, size: number, ageMs: number): EntryInfo {
  return {
    key,
    host: '',
    path: key,
    status: 200,
    contentType: null,
    size,
    bodySize: size - 100,
    hits,
    ageMs,
    expiresInMs: null,
    file: null,
  };
}

describe('admin aggregation', () => {
  it('merges entries across workers by key: hits add up, the page is taken after merging', () => {
    const merged = mergeEntries(
      [
        { worker: 0, result: { total: 2, entries: [entry('/a', 5, 300, 10), entry('/b', 4, 900, 50)] } },
        { worker: 1, result: { total: 2, entries: [entry('/b', 3, 900, 70), entry('/c', 1, 200, 5)] } },
      ],
      'hits',
      2,
      0,
    );
    assert.equal(merged.total, 4, 'copies in all workers');
    assert.deepEqual(
      merged.entries.map((e) => [e.key, e.hits, e.workers, e.ageMs]),
      [
        ['/b', 7, [0, 1], 70],
        ['/a', 5, [0], 10],
      ],
    );
    const bySize = mergeEntries(
      [
        {
          worker: 0,
          result: {
            total: 3,
            entries: [entry('/a', 0, 300, 1), entry('/b', 0, 900, 1), entry('/c', 0, 200, 1)],
          },
        },
      ],
      'size',
      1,
      1,
    );
    assert.deepEqual(
      bySize.entries.map((e) => e.key),
      ['/a'],
    );
  });

  it('merges cache series of workers read on either side of a second, second by second', () => {
    const store = { bytes: 0, count: 0, maxBytes: 100, maxEntries: Number.POSITIVE_INFINITY };
    const t0 = 1_800_000_000_000;
    const a = new CacheStats();
    const b = new CacheStats();
    a.hit(t0 + 100);
    b.hit(t0 + 1100);
    b.miss(t0 + 1100);
    for (const order of [
      [a.snapshot(t0 + 200, store), b.snapshot(t0 + 1200, store)],
      [b.snapshot(t0 + 1200, store), a.snapshot(t0 + 200, store)],
    ]) {
      const { total } = mergeCacheStats(
        order.map((result, worker) => ({ worker, result })),
        mergeSnapshots,
      );
      assert.equal(
        total.rps.startSecond + total.rps.hits.length - 1,
        t0 / 1000 + 1,
        'ends at the newest second',
      );
      assert.deepEqual(total.rps.hits.slice(-3), [0, 1, 1]);
      assert.deepEqual(total.rps.misses.slice(-3), [0, 0, 1]);
      assert.equal(total.hits, 2);
    }
  });

  it('sums purges and lists each worker', () => {
    const summary = mergePurges([
      { worker: 0, result: { removed: 2, bytes: 100, keys: ['/a', '/b'] } },
      { worker: 1, result: { removed: 1, bytes: 40, keys: ['/a'] } },
    ]);
    assert.deepEqual(summary, {
      removed: 3,
      bytes: 140,
      keys: ['/a', '/b'],
      workers: [
        { worker: 0, removed: 2, bytes: 100 },
        { worker: 1, removed: 1, bytes: 40 },
      ],
    });
  });

  it('turns worker errors into one error; "not running" everywhere means unavailable', () => {
    assert.throws(
      () =>
        resultsOf([
          { worker: 0, result: 1 },
          { worker: 1, error: 'timeout' },
        ]),
      (error: unknown) =>
        error instanceof WorkerCallError && !error.unavailable && /worker 1: timeout/.test(error.message),
    );
    assert.throws(
      () => resultsOf([{ worker: 0, error: 'no plugin "cache" is running' }]),
      (error: unknown) => error instanceof WorkerCallError && error.unavailable,
    );
  });
});

describe('mergeBackends', () => {
  const view = (over: Partial<BackendSnapshot>): BackendSnapshot => ({
    url: 'http://127.0.0.1:3000',
    weight: 1,
    state: 'up',
    health: 'up',
    admin: 'enabled',
    inFlight: 0,
    requests: 0,
    failures: 0,
    latencyMs: 0,
    latencyEwmaMs: 0,
    lastError: null,
    openConnections: 0,
    idleConnections: 0,
    ...over,
  });
  const route = (backend: BackendSnapshot) => [{ route: 0, match: ['^/'], host: null, backends: [backend] }];

  it('sums counters, weights latency by successful requests, and lets the worst state win', () => {
    const [merged] = mergeBackends([
      { worker: 0, result: route(view({ requests: 30, failures: 0, latencyMs: 2, latencyEwmaMs: 2 })) },
      {
        worker: 1,
        result: route(
          view({
            state: 'down',
            requests: 20,
            failures: 10,
            latencyMs: 8,
            latencyEwmaMs: 9,
            lastError: 'reset',
          }),
        ),
      },
    ]);
    const backend = merged!.backends[0]!;
    assert.equal(backend.state, 'down');
    assert.equal(backend.requests, 50);
    assert.equal(backend.failures, 10);
    // (30 × 2 + 10 × 8) / 40 successful requests
    assert.equal(backend.latencyMs, 3.5);
    assert.equal(backend.latencyEwmaMs, 9);
    assert.equal(backend.lastError, 'reset');
    assert.equal(backend.workers.length, 2);
  });

  it('says mixed when workers disagree without any saying down, and 0 ms before any success', () => {
    const [merged] = mergeBackends([
      { worker: 0, result: route(view({ state: 'up' })) },
      { worker: 1, result: route(view({ state: 'cooling', requests: 3, failures: 3 })) },
    ]);
    assert.equal(merged!.backends[0]!.state, 'mixed');
    assert.equal(merged!.backends[0]!.latencyMs, 0);
  });
});
