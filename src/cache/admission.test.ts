import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIT_CELLS, MissCounter } from './admission.ts';
import { hashKey } from './policies/count-min-sketch.ts';

test('min_uses counts: per key, a key that lost its cell starts again, cleared after a window of misses', () => {
  let entries = 0;
  const counter = new MissCounter(new Int32Array(ADMIT_CELLS), new Int32Array(1), () => entries);
  const a = hashKey('/a');
  assert.equal(counter.count(a), 1);
  assert.equal(counter.count(a), 2);
  assert.equal(counter.count(hashKey('/b')), 1, 'another key counts apart');
  assert.equal(counter.count(a), 3);
  // Another key in a's cell (same low bits, another tag) takes it: a starts again.
  const rival = (a & (ADMIT_CELLS - 1)) | ((a & ~0xff) ^ 0x7fff0000);
  assert.equal(counter.count(rival), 1);
  assert.equal(counter.count(a), 1);
  // The window is the entry count, at least 1024 misses: then every count starts again.
  entries = 2000;
  for (let i = 0; i < 1993; i++) counter.count(hashKey(`/other${i}`));
  assert.equal(counter.count(a), 2, 'still in the window');
  assert.equal(counter.count(a), 1, 'the 2000th miss cleared the table: a new window');
});
