import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeProxyStats, RouteStats } from './route-stats.ts';

const route = { index: 0, patterns: ['^/api/'], host: undefined, upstream: undefined };

test('counts answers by class and upstream times in buckets; workers merge route by route', () => {
  const stats = new RouteStats();
  stats.requests = 3;
  stats.answered(200);
  stats.answered(503);
  stats.upstreamTime(0.05); // 50 µs: the first bucket (100 µs)
  stats.upstreamTime(20_000); // 20 s: +Inf
  const backend = { url: 'http://b', requests: 3, failures: 1, latencyCount: 2, latencyTotal: 20_000.05 };
  const snap = stats.snapshot(route, [backend as never]);
  assert.deepEqual(snap.statusClasses, [0, 1, 0, 0, 1]);
  assert.equal(snap.upstreamLatency.counts[0], 1);
  assert.equal(snap.upstreamLatency.counts.at(-1), 1);
  assert.ok(Math.abs(snap.backends[0]!.latencySum - 20.00005) < 1e-9);
  const merged = mergeProxyStats([{ routes: [snap] }, { routes: [snap] }]);
  assert.equal(merged.routes[0]!.requests, 6);
  assert.deepEqual(merged.routes[0]!.statusClasses, [0, 2, 0, 0, 2]);
  assert.equal(merged.routes[0]!.upstreamLatency.counts[0], 2);
  assert.equal(merged.routes[0]!.backends[0]!.failures, 2);
  assert.equal(snap.requests, 3, 'the inputs are left as they were');
});
