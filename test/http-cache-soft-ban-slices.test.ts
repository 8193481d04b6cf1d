/**
 * Large soft purges and ban sweeps run in slices, as a large tag purge does: the call takes effect at once
 * (from its return, no entry it covers is served as fresh, nor a banned one at all), hits of other entries
 * are answered between its slices, an entry stored after it began is left alone, and it resolves with the
 * count once every entry was checked (entries a lookup marked or removed meanwhile included). Ordering and
 * counts only: how long a slice stalls is bench/tag-purge.ts's question.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { PurgeResult } from '../src/cache/store.ts';
import type { ProxyStore } from '../src/http-cache/proxy-store.ts';
import { SLICE_ENTRIES } from '../src/http-cache/slices.ts';
import { proxyEntry as entry, fastHit as hit, proxyStore } from './helpers/proxy-store.ts';

const ENTRIES = 30_000;
/** `/a/0` … `/a/19999` are tagged `hot`, `/b/…` `cold`. */
const COVERED = 20_000;
const target = (i: number) => (i < COVERED ? `/a/${i}` : `/b/${i}`);

function filled(): ReturnType<typeof proxyStore> {
  const filled = proxyStore();
  for (let i = 0; i < ENTRIES; i++) filled.insert(entry(target(i), i < COVERED ? 'hot all' : 'cold all'));
  return filled;
}

/**
 * Run `operation` while a loop queued with setImmediate asks for a covered and an untouched entry in
 * turn; how many rounds ran before it resolved, and how many answers were wrong (a covered entry served,
 * an untouched one not).
 */
async function whileHitting<T>(
  cache: ProxyStore,
  operation: () => T | Promise<T>,
  untouched: (target: string) => boolean = (t) => hit(cache, t),
): Promise<{ result: T; rounds: number; wrong: number }> {
  let rounds = 0;
  let wrong = 0;
  let done = false;
  const loop = (): void => {
    const i = rounds++;
    if (hit(cache, target((i * 7919) % COVERED))) wrong++;
    if (!untouched(target(COVERED + (i % (ENTRIES - COVERED))))) wrong++;
    if (!done) setImmediate(loop);
  };
  setImmediate(loop);
  try {
    const pending = operation();
    assert.ok(pending instanceof Promise, 'an operation this large runs in slices');
    // Takes effect at once: no covered entry is served from the call's return on.
    for (let i = 0; i < COVERED; i += 97) assert.equal(hit(cache, target(i)), false, `${target(i)} served`);
    const result = await pending;
    return { result, rounds, wrong };
  } finally {
    done = true;
  }
}

it('a soft purge by tag of 20,000 entries marks them in slices; hits are answered meanwhile', {
  timeout: 60_000,
}, async () => {
  const { cache, store, insert } = filled();
  let after = false;
  const { result, rounds, wrong } = await whileHitting(cache, () => {
    const pending = cache.softPurgeTags(['hot']);
    insert(entry('/a/new', 'hot'));
    after = true;
    return pending;
  });
  assert.ok(after);
  assert.equal((result as PurgeResult).removed, COVERED, 'every covered entry counted once');
  assert.equal(wrong, 0, 'a soft-purged entry was served as fresh, or an untouched one was not');
  assert.ok(rounds >= 5, `hits were answered between the slices (${rounds} rounds)`);
  assert.ok(store.peek('http://h/a/0') !== undefined, 'soft: kept, to be revalidated');
  assert.equal(hit(cache, '/a/new'), true, 'stored after the purge began: still fresh');
  assert.equal(hit(cache, target(COVERED)), true);
});

it('a soft purge by prefix over 30,000 URLs marks the matching ones in slices', {
  timeout: 60_000,
}, async () => {
  const { cache, insert } = filled();
  const { result, rounds, wrong } = await whileHitting(cache, () => {
    const pending = cache.softPurge({ prefix: '/a/', host: 'h' });
    insert(entry('/a/new', 'x'));
    return pending;
  });
  assert.equal((result as PurgeResult).removed, COVERED);
  assert.equal(wrong, 0);
  assert.ok(rounds >= 5, `hits were answered between the slices (${rounds} rounds)`);
  assert.equal(hit(cache, '/a/new'), true, 'stored after the purge began: still fresh');
  // A second soft purge finds nothing fresh left to mark.
  assert.equal(((await cache.softPurge({ prefix: '/a/', host: 'h' })) as PurgeResult).removed, 1);
});

it('a ban swept in slices removes its 20,000 entries; hits are answered meanwhile; the ban is retired', {
  timeout: 60_000,
}, async () => {
  const { cache, store, insert } = filled();
  // An entry stored before a ban takes the slow path until checked against it (bans.ts): "untouched"
  // here means still stored.
  const stored = (t: string) => store.peek(`http://h${t}`) !== undefined;
  const { result, rounds, wrong } = await whileHitting(
    cache,
    () => {
      const pending = cache.banAndSweep({ url: '^/a/' });
      insert(entry('/a/new', 'x'));
      return pending;
    },
    stored,
  );
  assert.equal(result.removed, COVERED, 'lookups and the sweep together, each entry once');
  assert.equal(wrong, 0, 'a banned entry was served, or an untouched one was not');
  assert.ok(rounds >= 5, `hits were answered between the slices (${rounds} rounds)`);
  assert.equal(store.peek('http://h/a/1'), undefined, 'removed');
  assert.equal(hit(cache, '/a/new'), true, 'stored after the ban: kept');
  assert.deepEqual(cache.bans.list(), [], 'every entry checked: the ban left the list');
});

it('a ban added while a sweep runs waits for a sweep that covers it', { timeout: 60_000 }, async () => {
  const { cache, store } = filled();
  const first = cache.banAndSweep({ url: '^/a/1' });
  const second = cache.banAndSweep({ url: '^/b/' });
  const [a, b] = await Promise.all([first, second]);
  assert.equal(b.removed, ENTRIES - COVERED);
  assert.equal(a.removed, 11_111, '/a/1, /a/10-19, /a/100-199, /a/1000-1999, /a/10000-19999');
  assert.equal(store.peek(`http://h${target(COVERED)}`), undefined);
  assert.deepEqual(cache.bans.list(), []);
});

it('small operations stay synchronous (one slice)', () => {
  const { cache, insert } = proxyStore();
  for (let i = 0; i < SLICE_ENTRIES; i++) insert(entry(`/s/${i}`, 'small'));
  const soft = cache.softPurgeTags(['small']);
  assert.ok(!(soft instanceof Promise));
  assert.equal(soft.removed, SLICE_ENTRIES);
  const byPath = cache.softPurge({ path: '/s/1', host: 'h' });
  assert.ok(!(byPath instanceof Promise));
  assert.equal(byPath.removed, 0, 'already stale');
});
