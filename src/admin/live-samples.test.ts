import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayDeltas, deltas } from './live-samples.ts';

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
