import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  exposedGc,
  findGc,
  RECLAIM_MAX_BYTES,
  RECLAIM_MIN_BYTES,
  Reclaimer,
  reclaimThreshold,
} from './reclaim.ts';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('findGc: an exposed gc first, else the exposed one, else none (never throws)', () => {
  const global = () => {};
  const fresh = () => {};
  assert.equal(
    findGc(global, () => fresh),
    global,
  );
  assert.equal(
    findGc(undefined, () => fresh),
    fresh,
  );
  assert.equal(
    findGc(undefined, () => null),
    null,
  );
  assert.equal(
    findGc(undefined, () => {
      throw new Error('flags are frozen');
    }),
    null,
  );
});

test('exposedGc works on this Node and collects dead ArrayBuffers', async () => {
  const gc = exposedGc();
  assert.equal(typeof gc, 'function');
  let collected = false;
  const registry = new FinalizationRegistry(() => {
    collected = true;
  });
  (() => registry.register(new ArrayBuffer(1024 * 1024), 'body'))();
  for (let i = 0; i < 5 && !collected; i++) {
    gc!();
    await wait(10);
  }
  assert.equal(collected, true);
});

test('reclaimThreshold: 1/16 of the capacity within bounds', () => {
  assert.equal(reclaimThreshold(256 * 1024 * 1024), 16 * 1024 * 1024);
  assert.equal(reclaimThreshold(1024 * 1024), RECLAIM_MIN_BYTES);
  assert.equal(reclaimThreshold(64 * 1024 * 1024 * 1024), RECLAIM_MAX_BYTES);
});

test('Reclaimer: one collection per threshold of dropped bytes, off the caller, coalesced', async () => {
  let runs = 0;
  const reclaimer = new Reclaimer(
    1000,
    () => runs++,
    0,
    () => 0,
  );
  reclaimer.dropped(600);
  await wait(5);
  assert.equal(runs, 0, 'below the threshold nothing runs');
  reclaimer.dropped(600);
  assert.equal(runs, 0, 'never inside the eviction itself');
  reclaimer.dropped(5000);
  await wait(5);
  assert.equal(runs, 1, 'drops while one is scheduled share it');
  reclaimer.dropped(999);
  await wait(5);
  assert.equal(runs, 1, 'the count starts again after a collection');
  reclaimer.dropped(1);
  await wait(5);
  assert.equal(runs, 2);
  assert.equal(reclaimer.runs, 2);
});

test('Reclaimer: at most one collection per minimum interval; close cancels a scheduled one', async () => {
  let runs = 0;
  const reclaimer = new Reclaimer(
    10,
    () => runs++,
    300,
    () => 0,
  );
  reclaimer.dropped(10);
  await wait(5);
  assert.equal(runs, 1);
  reclaimer.dropped(10);
  await wait(20);
  assert.equal(runs, 1, 'held back until the interval passed');
  for (const end = Date.now() + 3000; runs < 2 && Date.now() < end; ) await wait(10);
  assert.equal(runs, 2);
  reclaimer.dropped(10);
  reclaimer.close();
  await wait(400);
  assert.equal(runs, 2);
});

test('Reclaimer: a full GC V8 made on its own restarts the count and cancels a forced one', async () => {
  let runs = 0;
  let v8Gcs = 0;
  const reclaimer = new Reclaimer(
    1000,
    () => runs++,
    0,
    () => v8Gcs,
  );
  reclaimer.dropped(900);
  v8Gcs++; // V8 collected: the 900 bytes are gone
  reclaimer.dropped(900);
  await wait(5);
  assert.equal(runs, 0, 'only 900 bytes dropped since the last full GC');
  reclaimer.dropped(200);
  v8Gcs++; // ... and V8 collects again before the scheduled collection runs
  await wait(5);
  assert.equal(runs, 0, 'nothing left to force');
  reclaimer.dropped(1000);
  await wait(5);
  assert.equal(runs, 1);
  reclaimer.close();
});

test('the default GC count follows real full collections', async () => {
  const gc = exposedGc()!;
  let runs = 0;
  const reclaimer = new Reclaimer(100, () => runs++, 0);
  gc(); // observed (asynchronously) as a full GC
  await wait(50);
  reclaimer.dropped(100);
  await wait(5);
  assert.equal(runs, 1, 'a GC before the drops does not cancel the collection they need');
  reclaimer.dropped(60);
  gc();
  await wait(50);
  reclaimer.dropped(60);
  await wait(5);
  assert.equal(runs, 1, 'the GC between the drops restarted the count: 60 bytes since');
  reclaimer.close();
});
