import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CacheStats,
  FILES,
  HIT,
  MISS,
  mergeSnapshots,
  outcomeOf,
  PROXY,
  REVALIDATED,
  RPS_SECONDS,
  STALE,
} from './stats.ts';

const T0 = 1_700_000_000_000; // a whole second

test('counts hits and misses into per-second buckets, oldest first', () => {
  const stats = new CacheStats();
  stats.hit(T0);
  stats.hit(T0 + 999);
  stats.miss(T0 + 500);
  stats.hit(T0 + 1000);
  stats.miss(T0 + 3500);
  const rps = stats.series(T0 + 3600);
  assert.equal(rps.hits.length, RPS_SECONDS);
  assert.equal(rps.startSecond, T0 / 1000 + 3 - RPS_SECONDS + 1);
  const last = RPS_SECONDS - 1;
  assert.deepEqual(rps.hits.slice(last - 3), [2, 1, 0, 0]);
  assert.deepEqual(rps.misses.slice(last - 3), [1, 0, 0, 1]);
  assert.deepEqual(rps.total.slice(last - 3), [3, 1, 0, 1]);
  assert.equal(stats.hits, 3);
  assert.equal(stats.misses, 2);
});

test('seconds older than five minutes fall out of the series', () => {
  const stats = new CacheStats();
  stats.hit(T0);
  stats.hit(T0 + (RPS_SECONDS - 1) * 1000);
  assert.equal(
    stats.series(T0 + (RPS_SECONDS - 1) * 1000).hits.reduce((a, b) => a + b),
    2,
  );
  assert.equal(
    stats.series(T0 + RPS_SECONDS * 1000).hits.reduce((a, b) => a + b),
    1,
  );
  // A long idle gap clears everything.
  assert.equal(
    stats.series(T0 + 10 * RPS_SECONDS * 1000).hits.reduce((a, b) => a + b),
    0,
  );
  assert.equal(stats.hits, 2, 'totals are not windowed');
});

test('snapshot: hit ratio, occupancy and a structured-clonable shape', () => {
  const stats = new CacheStats();
  assert.equal(stats.snapshot(T0, { bytes: 0, count: 0, maxBytes: 10, maxEntries: Infinity }).hitRatio, 0);
  stats.hit(T0);
  stats.hit(T0);
  stats.hit(T0);
  stats.miss(T0);
  stats.rejections['too-large']++;
  const snap = stats.snapshot(T0, { bytes: 5, count: 1, maxBytes: 10, maxEntries: Infinity });
  assert.equal(snap.hitRatio, 0.75);
  assert.equal(snap.maxEntries, null);
  assert.equal(snap.rejections['too-large'], 1);
  assert.deepEqual(structuredClone(snap), snap);
});

test('mergeSnapshots adds workers up and recomputes the ratio', () => {
  const a = new CacheStats();
  const b = new CacheStats();
  a.hit(T0);
  a.hit(T0);
  b.miss(T0);
  b.rejections.excluded = 2;
  const merged = mergeSnapshots([
    a.snapshot(T0, { bytes: 10, count: 1, maxBytes: 100, maxEntries: Infinity }),
    b.snapshot(T0, { bytes: 5, count: 1, maxBytes: 100, maxEntries: Infinity }),
  ]);
  assert.equal(merged.hits, 2);
  assert.equal(merged.misses, 1);
  assert.equal(merged.hitRatio, 2 / 3);
  assert.equal(merged.bytes, 15);
  assert.equal(merged.maxBytes, 200);
  assert.equal(merged.entries, 2);
  assert.equal(merged.rejections.excluded, 2);
  assert.deepEqual(merged.rps.total.slice(-1), [3]);
});

test('mergeSnapshots aligns workers read on either side of a second on the newest second', () => {
  const store = { bytes: 0, count: 0, maxBytes: 100, maxEntries: Number.POSITIVE_INFINITY };
  const a = new CacheStats();
  const b = new CacheStats();
  a.hit(T0 + 100); // second 0, read in second 0
  b.hit(T0 + 100); // second 0, read in second 1
  b.hit(T0 + 1100); // second 1
  b.miss(T0 + 1100);
  const older = a.snapshot(T0 + 200, store);
  const newer = b.snapshot(T0 + 1200, store);
  for (const order of [
    [older, newer],
    [newer, older],
  ]) {
    const { rps, hits } = mergeSnapshots(order);
    assert.equal(rps.startSecond + RPS_SECONDS - 1, T0 / 1000 + 1, 'the series ends at the newest second');
    assert.deepEqual(rps.hits.slice(-3), [0, 2, 1]);
    assert.deepEqual(rps.misses.slice(-3), [0, 0, 1]);
    assert.deepEqual(rps.total.slice(-3), [0, 2, 2]);
    assert.equal(hits, 3);
  }
  assert.deepEqual(older.rps.hits.slice(-1), [1], 'the inputs are left as they were');
});

test('keeps outcomes apart by cache; the hit ratio leaves passes and errors out', () => {
  const stats = new CacheStats();
  stats.hit(T0, 100);
  stats.count(PROXY + HIT, T0, 50);
  stats.count(PROXY + STALE, T0 + 10, 50);
  stats.count(FILES + MISS, T0 + 20, 400);
  stats.count(PROXY + REVALIDATED, T0 + 30, 50);
  for (let i = 0; i < 10; i++) stats.count(FILES + outcomeOf(404, false), T0 + 40, 10);
  for (let i = 0; i < 10; i++) stats.count(PROXY + outcomeOf(502, true), T0 + 50, 10);
  const s = stats.snapshot(T0 + 60, { bytes: 0, count: 0, maxBytes: 1, maxEntries: Infinity });
  assert.deepEqual(s.bySource.files, { hit: 1, miss: 1, pass: 10, stale: 0, revalidated: 0, error: 0 });
  assert.deepEqual(s.bySource.proxy, { hit: 1, miss: 0, pass: 0, stale: 1, revalidated: 1, error: 10 });
  assert.equal(s.hits, 3);
  assert.equal(s.misses, 2);
  assert.equal(s.hitRatio, 3 / 5);
  assert.equal(s.bytesFromCache, 250);
  assert.equal(s.bytesFromOrigin, 400 + 200);
  assert.equal(s.offloadRatio, 250 / 850);
  const last = RPS_SECONDS - 1;
  assert.equal(s.rps.hits[last], 3);
  assert.equal(s.rps.stale[last], 1);
  assert.equal(s.rps.misses[last], 2);
  assert.equal(s.rps.pass[last], 10);
  assert.equal(s.rps.errors[last], 10);
  assert.equal(s.rps.total[last], 25);
  const merged = mergeSnapshots([s, s]);
  assert.equal(merged.outcomes.error, 20);
  assert.equal(merged.bySource.files.pass, 20);
  assert.equal(merged.hitRatio, 3 / 5);
  assert.equal(merged.rps.errors[last], 20);
});
