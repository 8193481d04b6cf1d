import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheStats } from '../cache/stats.ts';
import type { EntryInfo } from '../cache/store.ts';
import { mergeCacheStats, mergeEntries, mergePurges, resultsOf, WorkerCallError } from './aggregate.ts';

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
      const { total } = mergeCacheStats(order.map((result, worker) => ({ worker, result })));
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
