import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LATENCY_BUCKETS, mergeServerSnapshots, SERVER_RPS_SECONDS, ServerCounters } from './counters.ts';

/** `performance.now()` value of a wall-clock time (epoch ms). */
const at = (epochMs: number) => epochMs - performance.timeOrigin;

describe('ServerCounters', () => {
  it('counts responses by status class, aborted ones, and connections', () => {
    const c = new ServerCounters();
    const now = performance.now();
    for (const status of [101, 200, 204, 301, 404, 404, 503]) c.response(status, now, now, false);
    c.response(200, now, now, true);
    c.connectionOpened();
    c.connectionOpened();
    c.connectionClosed();
    const s = c.snapshot(now);
    assert.deepEqual(s.statusClasses, [1, 3, 1, 2, 1]);
    assert.equal(s.requests, 8);
    assert.equal(s.aborted, 1);
    assert.equal(s.connections, 1);
    assert.equal(s.connectionsTotal, 2);
  });

  it('puts latencies in Prometheus-style buckets and sums them', () => {
    const c = new ServerCounters();
    const now = performance.now();
    c.response(200, now - 0.05, now, false); // 50 µs: the first bucket (le=0.0001)
    c.response(200, now - 3, now, false); // 3 ms: le=0.005
    c.response(200, now - 60_000, now, false); // a minute: +Inf
    const { counts, bounds, sum } = c.snapshot(now).latency;
    assert.equal(counts.length, LATENCY_BUCKETS.length + 1);
    assert.equal(counts[0], 1);
    assert.equal(counts[bounds.indexOf(0.005)], 1);
    assert.equal(counts[counts.length - 1], 1);
    assert.ok(Math.abs(sum - 60.00305) < 1e-6);
  });

  it('keeps requests per second for 5 minutes, zeroing the seconds nobody asked', () => {
    const c = new ServerCounters();
    const t0 = 1_800_000_000_000;
    for (let i = 0; i < 3; i++) c.response(200, at(t0), at(t0 + 100), false);
    c.response(200, at(t0 + 2000), at(t0 + 2100), false);
    const s = c.snapshot(at(t0 + 2500));
    assert.equal(s.rps.total.length, SERVER_RPS_SECONDS);
    assert.equal(s.rps.startSecond + SERVER_RPS_SECONDS - 1, t0 / 1000 + 2, 'the last slot is now');
    assert.deepEqual(s.rps.total.slice(-3), [3, 0, 1]);
    const later = c.snapshot(at(t0 + 400_000));
    assert.equal(
      later.rps.total.reduce((a, b) => a + b),
      0,
      'older than 5 minutes: gone',
    );
  });

  it('merges workers: sums, oldest uptime, series aligned on the newest second', () => {
    const t0 = 1_800_000_000_000;
    const a = new ServerCounters();
    const b = new ServerCounters();
    a.response(200, at(t0), at(t0), false);
    b.response(500, at(t0 + 1000), at(t0 + 1000), false);
    b.response(500, at(t0 + 1000), at(t0 + 1000), false);
    const merged = mergeServerSnapshots([a.snapshot(at(t0 + 10)), b.snapshot(at(t0 + 1010))]);
    assert.equal(merged.requests, 3);
    assert.deepEqual(merged.statusClasses, [0, 1, 0, 0, 2]);
    assert.equal(merged.rps.startSecond + SERVER_RPS_SECONDS - 1, t0 / 1000 + 1);
    assert.deepEqual(merged.rps.total.slice(-2), [1, 2]);
    assert.equal(
      merged.latency.counts.reduce((x, y) => x + y),
      3,
    );
  });
});
