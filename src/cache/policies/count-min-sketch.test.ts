import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountMinSketch, hashKey } from './count-min-sketch.ts';

describe('count-min sketch', () => {
  it('never under-counts, and saturates at 15 (4-bit counters)', () => {
    const sketch = new CountMinSketch(1000);
    for (let k = 0; k < 200; k++) for (let i = 0; i < k % 12; i++) sketch.increment(hashKey(`key${k}`));
    for (let k = 0; k < 200; k++) assert.ok(sketch.frequency(hashKey(`key${k}`)) >= k % 12, `key${k}`);
    const hot = hashKey('hot');
    for (let i = 0; i < 40; i++) sketch.increment(hot);
    assert.equal(sketch.frequency(hot), 15);
  });

  it('halves every counter after a sample of 10 increments per expected entry', () => {
    const sketch = new CountMinSketch(1000);
    assert.equal(sketch.sampleSize, 10_000);
    const hot = hashKey('hot');
    for (let i = 0; i < 13; i++) sketch.increment(hot);
    assert.equal(sketch.frequency(hot), 13);
    let increments = 13;
    while (sketch.work === 0 && increments < 20_000) {
      sketch.increment(hashKey(`filler${increments}`));
      increments++;
    }
    assert.equal(increments, sketch.sampleSize, 'the reset comes exactly after a sample');
    const after = sketch.frequency(hot);
    assert.ok(after === 6 || after === 7, `13 halves to 6 (7 with a collision), got ${after}`);
  });

  it('hashes different keys apart', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) seen.add(hashKey(`/static/${i}.css`));
    assert.ok(seen.size > 9_990);
  });
});
