import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLru } from './lru.ts';

const INF = Number.POSITIVE_INFINITY;

describe('lru', () => {
  it('evicts the least recently used key; a hit makes a key the most recent', () => {
    const evicted: string[] = [];
    const lru = createLru({ maxBytes: INF, maxEntries: 3, onEvict: (key) => evicted.push(key) });
    for (const key of ['a', 'b', 'c']) lru.insert(key, 1);
    lru.hit('a');
    lru.insert('d', 1);
    lru.insert('e', 1);
    assert.deepEqual(evicted, ['b', 'c']);
    assert.deepEqual(
      lru.hottest(10).map((e) => e.key),
      ['e', 'd', 'a'],
    );
  });

  it('evicts as many old keys as a large insert needs, oldest first', () => {
    const evicted: string[] = [];
    const lru = createLru({ maxBytes: 1000, maxEntries: INF, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 10; i++) lru.insert(`k${i}`, 100);
    lru.hit('k0');
    assert.equal(lru.insert('big', 350), true);
    assert.deepEqual(evicted, ['k1', 'k2', 'k3', 'k4']);
    assert.equal(lru.bytes, 950);
  });
});
