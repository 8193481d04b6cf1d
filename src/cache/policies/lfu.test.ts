import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LfuPolicy } from './lfu.ts';

const INF = Number.POSITIVE_INFINITY;

/** Checks the LFU's invariants and returns the list for further assertions. */
function checkInvariants(lfu: LfuPolicy, counts: Map<string, number>): Array<[number, string[]]> {
  const list = lfu.frequencyList();
  let keys = 0;
  for (let i = 0; i < list.length; i++) {
    const [count, entries] = list[i]!;
    assert.ok(entries.length > 0, `node ${count} is empty`);
    if (i > 0) assert.ok(count > list[i - 1]![0], `node counts not strictly increasing at ${count}`);
    for (const key of entries) assert.equal(counts.get(key), count, `${key} sits in node ${count}`);
    keys += entries.length;
  }
  assert.equal(keys, lfu.count);
  return list;
}

describe("lfu (Monkey's design)", () => {
  it('evicts from the lowest frequency; ties go least recent first', () => {
    const evicted: string[] = [];
    const lfu = new LfuPolicy({ maxBytes: INF, maxEntries: 3, onEvict: (key) => evicted.push(key) });
    for (const key of ['a', 'b', 'c']) lfu.insert(key, 1);
    lfu.insert('d', 1); // all at count 1: a is the oldest
    assert.deepEqual(evicted, ['a']);
    lfu.hit('b');
    lfu.hit('b');
    lfu.hit('c');
    lfu.insert('e', 1); // d is the only key at count 1
    lfu.insert('f', 1); // e now is
    assert.deepEqual(evicted, ['a', 'd', 'e']);
    assert.deepEqual(lfu.frequencyList(), [
      [1, ['f']],
      [2, ['c']],
      [3, ['b']],
    ]);
    assert.deepEqual(lfu.hottest(3), [
      { key: 'b', frequency: 3 },
      { key: 'c', frequency: 2 },
      { key: 'f', frequency: 1 },
    ]);
  });

  it('keeps its frequency-list invariants under random operations', () => {
    const counts = new Map<string, number>();
    const lfu = new LfuPolicy({ maxBytes: 20_000, maxEntries: 60, onEvict: (key) => counts.delete(key) });
    let seed = 1;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 10_000; i++) {
      const key = `k${Math.floor(150 * random() ** 2)}`;
      if (random() < 0.03) {
        lfu.remove(key);
        counts.delete(key);
      } else if (lfu.has(key)) {
        lfu.hit(key);
        counts.set(key, counts.get(key)! + 1);
      } else if (lfu.insert(key, 1 + Math.floor(random() * 1000))) counts.set(key, 1);
      if (i % 10 === 0) checkInvariants(lfu, counts);
    }
    assert.ok(checkInvariants(lfu, counts).length > 3, 'the workload should spread keys over several counts');
  });

  it('never ages: an old hot key outlives a newer working set (the measured weakness)', () => {
    const lfu = new LfuPolicy({ maxBytes: INF, maxEntries: 10, onEvict() {} });
    lfu.insert('yesterday', 1);
    for (let i = 0; i < 50; i++) lfu.hit('yesterday');
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 12; i++) {
        const key = `today${i}`;
        if (lfu.has(key)) lfu.hit(key);
        else lfu.insert(key, 1);
      }
    }
    assert.equal(lfu.has('yesterday'), true);
  });
});
