import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArcPolicy } from './arc.ts';

const INF = Number.POSITIVE_INFINITY;

function arc(maxEntries: number, evicted: string[] = []): ArcPolicy {
  return new ArcPolicy({ maxBytes: INF, maxEntries, onEvict: (key) => evicted.push(key) });
}

describe('arc', () => {
  it('evicts the oldest key seen once before a key seen twice', () => {
    const evicted: string[] = [];
    const policy = arc(3, evicted);
    for (const key of ['a', 'b', 'c']) policy.insert(key, 1);
    policy.hit('a'); // a moves to T2
    policy.insert('d', 1); // T1 (b, c) is over its target 0: b goes
    assert.deepEqual(evicted, ['b']);
    assert.equal(policy.has('a'), true);
  });

  it('remembers evicted keys as ghosts: has() is false, a ghost hit grows T1 and lands in T2', () => {
    const evicted: string[] = [];
    const policy = arc(2, evicted);
    policy.insert('a', 1);
    policy.insert('b', 1);
    policy.hit('b'); // b → T2
    policy.insert('c', 1); // T1 (a) is over its target 0: a → B1
    assert.deepEqual(evicted, ['a']);
    assert.equal(policy.has('a'), false);
    policy.hit('a'); // a ghost: no-op
    assert.equal(policy.count, 2);
    assert.equal(policy.target, 0);
    policy.insert('a', 1); // B1 hit: T1 should have been bigger
    assert.equal(policy.target, 1);
    assert.equal(policy.has('a'), true);
    // T1 (c) is not over the new target: T2's oldest (b) made room.
    assert.deepEqual(evicted, ['a', 'b']);
    // a came back from a ghost into T2, which `hottest` lists before T1 on equal hits.
    assert.deepEqual(
      policy.hottest(10).map((e) => e.key),
      ['a', 'c'],
    );
  });

  it('keeps a frequently read set through a one-off scan (LRU would not)', () => {
    const policy = arc(100);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) {
        const key = `hot${i}`;
        if (policy.has(key)) policy.hit(key);
        else policy.insert(key, 1);
      }
    }
    for (let i = 0; i < 1000; i++) policy.insert(`scan${i}`, 1);
    let kept = 0;
    for (let i = 0; i < 50; i++) if (policy.has(`hot${i}`)) kept++;
    assert.equal(kept, 50);
  });

  it('bounds its ghosts by weight and by count (zero-size keys too)', () => {
    const policy = new ArcPolicy({ maxBytes: 1000, maxEntries: INF, onEvict() {} });
    for (let i = 0; i < 10_000; i++) policy.insert(`k${i}`, i % 2 === 0 ? 0 : 100);
    assert.ok(policy.bytes <= 1000);
    // Resident plus ghost slots: the arena's index holds both.
    assert.ok(policy.arena.index.size <= 3 * policy.count + 1, `${policy.arena.index.size} keys remembered`);
  });
});
