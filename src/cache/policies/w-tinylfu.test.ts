import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWTinyLfu } from './w-tinylfu.ts';

const INF = Number.POSITIVE_INFINITY;

describe('w-tinylfu', () => {
  it('admits a window candidate only if the sketch rates it above the probation victim', () => {
    // 10 entries: a window of 1, main of 9 (protected up to 7).
    const evicted: string[] = [];
    const policy = createWTinyLfu({ maxBytes: INF, maxEntries: 10, onEvict: (key) => evicted.push(key) });
    for (let i = 1; i <= 10; i++) policy.insert(`a${i}`, 1); // probation a1..a9, window a10
    policy.insert('b', 1); // candidate a10 (seen once) loses to victim a1 (seen once)
    assert.deepEqual(evicted, ['a10']);
    policy.hit('b');
    policy.hit('b');
    policy.insert('c', 1); // candidate b (seen 3 times) beats victim a1
    assert.deepEqual(evicted, ['a10', 'a1']);
    policy.hit('a2'); // a2 is promoted to protected: a3 becomes the victim
    policy.insert('d', 1); // candidate c (seen once) loses to a3
    assert.deepEqual(evicted, ['a10', 'a1', 'c']);
    assert.equal(policy.has('a2'), true);
    assert.equal(policy.has('b'), true);
  });

  it('makes a large candidate out-score every victim it displaces (size-aware duel)', () => {
    const evicted: string[] = [];
    const policy = createWTinyLfu({ maxBytes: 1000, maxEntries: INF, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 10; i++) policy.insert(`v${i}`, 100);
    assert.equal(policy.insert('big', 300), false); // seen once: loses its first duel
    assert.deepEqual(evicted, ['big']);
    assert.equal(policy.insert('big', 300), true); // seen twice: beats v0, v1 and v2 in turn
    assert.deepEqual(evicted, ['big', 'v0', 'v1', 'v2']);
    assert.equal(policy.bytes, 1000);
  });

  it('resists a scan: keys in steady use survive a long run of one-time keys', () => {
    const policy = createWTinyLfu({ maxBytes: INF, maxEntries: 100, onEvict() {} });
    const touch = (key: string): void => {
      if (policy.has(key)) policy.hit(key);
      else policy.insert(key, 1);
    };
    for (let round = 0; round < 5; round++) for (let i = 0; i < 60; i++) touch(`hot${i}`);
    // 20 one-time keys for every read of a hot key; an LRU of 100 would keep none of the hot keys.
    for (let i = 0; i < 12_000; i++) {
      touch(`scan${i}`);
      if (i % 20 === 0) touch(`hot${(i / 20) % 60}`);
    }
    let resident = 0;
    for (let i = 0; i < 60; i++) if (policy.has(`hot${i}`)) resident++;
    assert.ok(resident >= 55, `${resident} of 60 hot keys resident`);
  });
});
