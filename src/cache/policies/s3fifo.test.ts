import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createS3Fifo } from './s3fifo.ts';

const INF = Number.POSITIVE_INFINITY;

function setup(maxEntries: number) {
  const evicted: string[] = [];
  const policy = createS3Fifo({ maxBytes: INF, maxEntries, onEvict: (key) => evicted.push(key) });
  return { policy, evicted };
}

describe('s3fifo', () => {
  it('promotes keys read twice in small to main, sends the rest to the ghost, and readmits ghosts to main', () => {
    // 10 entries: small's share is 1 entry, so small is over its share whenever it holds anything.
    const { policy, evicted } = setup(10);
    for (const key of 'abcdefghij') policy.insert(key, 1);
    policy.hit('a');
    policy.hit('a');
    policy.hit('b');
    policy.insert('k', 1); // a (read twice) moves to main; b (read once) leaves for the ghost
    assert.deepEqual(evicted, ['b']);
    policy.insert('b', 1); // b is in the ghost: straight to main, c makes room
    assert.deepEqual(evicted, ['b', 'c']);
    // A scan of new keys only churns small: a and b, in main, stay.
    for (let i = 0; i < 20; i++) policy.insert(`scan${i}`, 1);
    assert.equal(policy.has('a'), true);
    assert.equal(policy.has('b'), true);
    assert.deepEqual(evicted.slice(2, 10), [...'defghijk']);
    assert.equal(policy.count, 10);
  });

  it('gives a main key read since its last lap another lap', () => {
    const { policy, evicted } = setup(10);
    for (const key of 'abcdefghij') policy.insert(key, 1);
    for (const key of 'abcdefghi') {
      policy.hit(key);
      policy.hit(key);
    }
    policy.insert('k', 1); // a..i move to main, j goes to the ghost
    assert.deepEqual(evicted, ['j']);
    policy.remove('k'); // small is empty now
    policy.insert('j', 1); // from the ghost into main: main holds a..j
    policy.hit('a');
    policy.insert('z', 1); // small is empty, so main evicts: a has a read, goes round; b leaves
    assert.deepEqual(evicted, ['j', 'b']);
    assert.equal(policy.has('a'), true);
  });

  it('admits an object larger than the small queue and keeps the byte bound', () => {
    const evicted: string[] = [];
    const policy = createS3Fifo({ maxBytes: 10_000, maxEntries: INF, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 50; i++) policy.insert(`s${i}`, 100);
    assert.equal(policy.insert('big', 5_000), true); // 5x small's 1,000-byte share
    assert.ok(policy.bytes <= 10_000);
    assert.equal(policy.has('big'), true);
    // Unread, it leaves when it reaches small's old end, like any other one-hit object.
    for (let i = 0; i < 60; i++) policy.insert(`t${i}`, 100);
    assert.equal(policy.has('big'), false);
    assert.ok(evicted.includes('big'));
  });
});
