/**
 * The contract every eviction policy passes (src/cache/policy.ts): capacity in bytes and entries is never
 * exceeded, `onEvict` reports exactly the keys that were dropped, remove/clear are silent, a key larger
 * than the capacity is refused, and the work per operation does not grow with the cache (counted, not
 * timed). Policy-specific eviction orders live beside each policy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPolicy, DEFAULT_POLICY, POLICY_NAMES } from '../src/cache/policies/index.ts';
import type { EvictionPolicy, PolicyName } from '../src/cache/policy.ts';

const INF = Number.POSITIVE_INFINITY;

/** Deterministic PRNG (mulberry32) so a failure replays identically. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A policy plus a model of what should be resident, fed by the policy's own `onEvict` calls. */
function harness(name: PolicyName, maxBytes: number, maxEntries: number) {
  const resident = new Map<string, number>();
  const evicted: string[] = [];
  let inserting: string | undefined;
  const policy = createPolicy(name, {
    maxBytes,
    maxEntries,
    onEvict(key) {
      evicted.push(key);
      // Only a resident key, or the key being inserted (declined), may be reported.
      assert.ok(
        resident.has(key) || key === inserting,
        `${name}: onEvict(${key}) for a key that was not resident`,
      );
      resident.delete(key);
    },
  });
  return {
    policy,
    resident,
    evicted,
    insert(key: string, size: number): boolean {
      inserting = key;
      resident.delete(key);
      const admitted = policy.insert(key, size);
      inserting = undefined;
      if (admitted) resident.set(key, size);
      return admitted;
    },
    remove(key: string): void {
      policy.remove(key);
      resident.delete(key);
    },
    check(): void {
      let bytes = 0;
      for (const size of resident.values()) bytes += size;
      assert.equal(policy.count, resident.size, `${name}: count`);
      assert.equal(policy.bytes, bytes, `${name}: bytes`);
      assert.ok(policy.bytes <= maxBytes, `${name}: ${policy.bytes} bytes > ${maxBytes}`);
      assert.ok(policy.count <= maxEntries, `${name}: ${policy.count} entries > ${maxEntries}`);
    },
  };
}

/** Work counters the implementations keep for this suite: list links rewritten, sketch words reset. */
function workOf(policy: EvictionPolicy): number {
  const p = policy as unknown as { moves?: number; arena?: { moves: number }; sketch?: { work: number } };
  return (p.moves ?? 0) + (p.arena?.moves ?? 0) + (p.sketch?.work ?? 0);
}

for (const name of POLICY_NAMES) {
  describe(`eviction policy contract: ${name}`, () => {
    for (const [label, maxBytes, maxEntries] of [
      ['byte-bounded', 50_000, INF],
      ['entry-bounded', INF, 40],
      ['bounded both ways', 30_000, 25],
      ['a single entry', INF, 1],
      ['room for one or two objects', 5_000, INF],
    ] as const) {
      it(`never exceeds its capacity and reports every drop (${label}, random operations)`, () => {
        const h = harness(name, maxBytes, maxEntries);
        const random = prng(7);
        const residentSeen = new Set<string>();
        for (let i = 0; i < 10_000; i++) {
          // Skewed keys, so that some are hot and the policies' frequency logic is exercised.
          const key = `k${Math.floor(200 * random() ** 2)}`;
          const op = random();
          if (op < 0.02) h.remove(key);
          else if (h.policy.has(key)) {
            assert.ok(h.resident.has(key), `${name}: has(${key}) but the model says evicted`);
            if (op < 0.04) h.insert(key, 1 + Math.floor(random() * 4000));
            else h.policy.hit(key);
          } else {
            assert.ok(!h.resident.has(key), `${name}: model has ${key} but the policy does not`);
            const size = maxBytes === INF ? 1 : 1 + Math.floor(random() * 4000);
            if (h.insert(key, size)) residentSeen.add(key);
          }
          h.check();
        }
        assert.ok(h.evicted.length > 1000, `${name}: the workload should force evictions`);
        for (const key of h.resident.keys()) assert.ok(h.policy.has(key));
      });
    }

    it('remove and clear drop keys without onEvict', () => {
      const h = harness(name, 1000, INF);
      for (const key of ['a', 'b', 'c']) assert.equal(h.insert(key, 100), true);
      h.remove('b');
      h.policy.remove('missing');
      h.check();
      assert.equal(h.policy.has('b'), false);
      assert.deepEqual(h.evicted, []);
      h.policy.clear();
      h.resident.clear();
      h.check();
      assert.equal(h.policy.has('a'), false);
      assert.deepEqual(h.evicted, []);
      // Usable after clear.
      assert.equal(h.insert('d', 100), true);
      h.policy.hit('d');
      assert.equal(h.policy.has('d'), true);
      h.check();
    });

    it('refuses a key larger than the whole capacity, reporting it through onEvict', () => {
      const h = harness(name, 1000, INF);
      h.insert('small', 10);
      assert.equal(h.insert('huge', 1001), false);
      assert.deepEqual(h.evicted, ['huge']);
      assert.equal(h.policy.has('huge'), false);
      assert.equal(h.policy.has('small'), true);
      h.check();
      // Exactly the capacity is allowed; `hit` on a missing key is a no-op.
      h.policy.hit('huge');
      h.check();
    });

    it('admits an object larger than its internal queues (up to the capacity)', () => {
      const h = harness(name, 10_000, INF);
      for (let i = 0; i < 20; i++) h.insert(`s${i}`, 100);
      // Bigger than S3-FIFO's small queue (10%) and W-TinyLFU's window (1%): the store must still be able
      // to cache it; it enters like any key (W-TinyLFU may decline it in the duel, which it reports).
      const admitted = h.insert('big', 9_000);
      h.check();
      // The adaptive policy starts as W-TinyLFU, with the same right to decline.
      if (name !== 'w-tinylfu' && name !== 'adaptive') assert.equal(admitted, true);
      if (!admitted) assert.ok(h.evicted.includes('big'));
      // Into an empty cache every policy admits it.
      const fresh = harness(name, 10_000, INF);
      assert.equal(fresh.insert('big', 9_000), true);
      fresh.check();
    });

    it('re-inserting a resident key updates its charge', () => {
      const h = harness(name, 1000, INF);
      h.insert('a', 100);
      h.insert('b', 100);
      assert.equal(h.insert('a', 300), true);
      h.check();
      assert.equal(h.policy.bytes, 400);
    });

    it('rejects nonsense sizes and capacities with a RangeError', () => {
      const h = harness(name, 1000, INF);
      assert.throws(() => h.policy.insert('x', -1), RangeError);
      assert.throws(() => h.policy.insert('x', Number.NaN), RangeError);
      assert.throws(() => createPolicy(name, { maxBytes: 0, maxEntries: 10, onEvict() {} }), RangeError);
      assert.throws(() => createPolicy(name, { maxBytes: INF, maxEntries: INF, onEvict() {} }), RangeError);
    });

    it('does O(1) work per operation: the same per-op count at 1k and 100k entries', () => {
      const perOp = (capacity: number): number => {
        const policy = createPolicy(name, { maxBytes: INF, maxEntries: capacity, onEvict() {} });
        const random = prng(capacity);
        const universe = capacity * 4;
        const names = Array.from({ length: universe }, (_, i) => `k${i}`);
        const step = (): void => {
          const key = names[Math.floor(universe * random() ** 3)]!;
          if (policy.has(key)) policy.hit(key);
          else policy.insert(key, 1);
        };
        for (let i = 0; i < capacity * 2; i++) step(); // fill and settle
        const before = workOf(policy);
        const ops = 100_000;
        for (let i = 0; i < ops; i++) step();
        return (workOf(policy) - before) / ops;
      };
      const small = perOp(1000);
      const large = perOp(100_000);
      assert.ok(small > 0, 'the work counter must count something');
      assert.ok(
        small < 12 && large < 12,
        `${name}: ${small.toFixed(2)} and ${large.toFixed(2)} moves per op`,
      );
      assert.ok(large < small * 1.5 + 0.5, `${name}: ${small.toFixed(2)} → ${large.toFixed(2)} moves per op`);
    });

    it('hottest() lists resident keys, hottest first, at most `limit`', () => {
      const h = harness(name, INF, 50);
      for (let i = 0; i < 30; i++) h.insert(`k${i}`, 1);
      for (let round = 0; round < 5; round++) h.policy.hit('k7');
      for (let round = 0; round < 2; round++) h.policy.hit('k3');
      const top = h.policy.hottest(5);
      assert.equal(top.length, 5);
      for (const { key } of top) assert.ok(h.policy.has(key));
      if (name === 'lru')
        assert.deepEqual(
          top.slice(0, 2).map((e) => e.key),
          ['k3', 'k7'],
        );
      else {
        assert.deepEqual(
          top.slice(0, 2).map((e) => e.key),
          ['k7', 'k3'],
        );
        for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.frequency >= top[i]!.frequency);
      }
      assert.equal(h.policy.hottest(1000).length, 30);
    });
  });
}

describe('policy registry', () => {
  it('builds every policy by name and refuses unknown names', () => {
    for (const name of POLICY_NAMES) {
      assert.equal(createPolicy(name, { maxBytes: 100, maxEntries: INF, onEvict() {} }).name, name);
    }
    assert.ok(POLICY_NAMES.includes(DEFAULT_POLICY));
    assert.throws(
      () => createPolicy('clock' as PolicyName, { maxBytes: 100, maxEntries: INF, onEvict() {} }),
      /unknown cache policy "clock"/,
    );
  });
});
