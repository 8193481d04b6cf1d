import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayDeltas, deltas, PolicyTimeline, roundPolicyState } from './live-samples.ts';

describe('per-second differences of cumulative counters', () => {
  it('counts what happened since the previous tick', () => {
    assert.deepEqual(deltas({ hit: 15, miss: 4 }, { hit: 10, miss: 4 }), { hit: 5, miss: 0 });
    assert.deepEqual(arrayDeltas([3, 10, 0], [1, 7, 0]), [2, 3, 0]);
  });

  it('takes a counter that went down as restarted from zero (a worker restarted), never negative', () => {
    assert.deepEqual(deltas({ hit: 3 }, { hit: 10 }), { hit: 3 });
    assert.deepEqual(arrayDeltas([2, 9], [5, 4]), [2, 5]);
  });

  it('counts a name that was not there before from zero', () => {
    assert.deepEqual(deltas({ hit: 2, pass: 7 }, { hit: 1 }), { hit: 1, pass: 7 });
    assert.deepEqual(deltas({ hit: 2 }, null), { hit: 2 });
  });
});

describe("the eviction policy's choices over the window", () => {
  it('keeps a change only when the candidate or the window moves, not for every second', () => {
    const timeline = new PolicyTimeline(300);
    timeline.record(100, { running: 'lru', estimates: { lru: 0.4, s3fifo: 0.3 }, switches: 0 });
    timeline.record(101, { running: 'lru', estimates: { lru: 0.41, s3fifo: 0.35 }, switches: 0 });
    timeline.record(102, { running: 's3fifo', estimates: { lru: 0.4, s3fifo: 0.45 }, switches: 1 });
    timeline.record(103, { running: 's3fifo', switches: 1 });
    assert.deepEqual(timeline.changes(), [
      { t: 100, running: 'lru', switches: 0 },
      { t: 102, running: 's3fifo', switches: 1 },
    ]);
  });

  it('drops changes older than the window but keeps the one the window starts with', () => {
    const timeline = new PolicyTimeline(10);
    timeline.record(1, { running: 'wtinylfu', window: 0.01 });
    timeline.record(3, { running: 'wtinylfu', window: 0.02 });
    timeline.record(5, { running: 'wtinylfu', window: 0.03 });
    timeline.record(20, { running: 'wtinylfu', window: 0.03 });
    assert.deepEqual(timeline.changes(), [{ t: 5, running: 'wtinylfu', window: 0.03 }]);
  });

  it('rounds ratios to 3 decimals, so that noise below what the page shows sends nothing', () => {
    assert.deepEqual(roundPolicyState({ running: 'lru', window: 0.012345, estimates: { lru: 0.33333 } }), {
      running: 'lru',
      window: 0.012,
      estimates: { lru: 0.333 },
    });
  });
});
