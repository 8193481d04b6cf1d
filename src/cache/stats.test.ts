import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheStats, mergeSnapshots, RPS_SECONDS } from './stats.ts';

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
