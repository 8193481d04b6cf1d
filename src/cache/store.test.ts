/** The memory store passes the `CacheStore` contract: the capacity part with every eviction policy. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheEntry, ENTRY_OVERHEAD, type EntryRecord } from './entry.ts';
import { createPolicy, POLICY_NAMES } from './policies/index.ts';
import { CacheStats } from './stats.ts';
import { MemoryStore, type RemovalReason } from './store.ts';
import { behaviourContract, capacityContract, type StoreFactory } from './test-store-contract.ts';

const memoryStore =
  (policy: (typeof POLICY_NAMES)[number]): StoreFactory =>
  (capacity, onRemove) => ({
    store: new MemoryStore({
      ...capacity,
      createPolicy: (o) => createPolicy(policy, o),
      onRemove: (e, reason) => onRemove(e.record.key, reason),
    }),
    input: (record, checkAt) => {
      const made = new CacheEntry(record);
      made.checkAt = checkAt;
      return made;
    },
  });

for (const policy of POLICY_NAMES) capacityContract(`MemoryStore contract (${policy})`, memoryStore(policy));
behaviourContract('MemoryStore (lru)', memoryStore('lru'));

function entry(key: string, bodySize: number, extra: Partial<EntryRecord> = {}): CacheEntry {
  return new CacheEntry({
    key,
    path: key,
    host: '',
    status: 200,
    reason: '',
    fields: [['Content-Type', 'text/plain']],
    body: Buffer.alloc(bodySize, 0x61),
    file: null,
    storedAt: 0,
    expiresAt: Number.POSITIVE_INFINITY,
    ...extra,
  });
}

describe('MemoryStore: its own charges, sweep and hottest (a worker store keeps them itself)', () => {
  const makeStore = (maxBytes: number) => {
    const removed: Array<[string, RemovalReason]> = [];
    const store = new MemoryStore({
      maxBytes,
      createPolicy: (o) => createPolicy('lru', o),
      onRemove: (e, reason) => removed.push([e.record.key, reason]),
    });
    return { store, removed };
  };

  test('an entry is charged its head, body and a per-entry overhead', () => {
    assert.ok(entry('/probe', 1000).charge > 1000 + ENTRY_OVERHEAD);
  });

  test('sweep drops exactly the expired entries, through replacements, deletions and purges', () => {
    const { store, removed } = makeStore(1024 * 1024 * 1024);
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const live = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const key = `/k${Math.floor(random() * 2000)}`;
      const expiresAt = random() < 0.1 ? Number.POSITIVE_INFINITY : Math.floor(random() * 10_000);
      store.set(entry(key, 1, { expiresAt }));
      live.set(key, expiresAt);
      if (i % 7 === 0) {
        const gone = `/k${Math.floor(random() * 2000)}`;
        store.delete(gone, 'invalidated');
        live.delete(gone);
      }
    }
    removed.length = 0;
    for (let now = 0; now <= 10_000; now += 250) {
      const expected = [...live].filter(([, at]) => now >= at).map(([key]) => key);
      for (const key of expected) live.delete(key);
      assert.equal(store.sweep(now), expected.length, `at ${now}`);
      assert.deepEqual(
        removed
          .splice(0)
          .map(([key]) => key)
          .sort(),
        expected.sort(),
      );
      assert.equal(store.count, live.size);
    }
  });

  test('hottest returns resident entries with their frequency', () => {
    const { store } = makeStore(1024 * 1024);
    store.set(entry('/a', 10));
    store.set(entry('/b', 10));
    for (let i = 0; i < 3; i++) store.get('/b', 0);
    const hottest = store.hottest(10);
    assert.equal(hottest.length, 2);
    assert.ok(hottest.every(({ entry: e }) => store.peek(e.record.key) === e));
  });
});

describe('MemoryStore policy state (stats)', () => {
  const makeStore = (policy: (typeof POLICY_NAMES)[number]) =>
    new MemoryStore({ maxBytes: 1_000_000, maxEntries: 100, createPolicy: (o) => createPolicy(policy, o) });

  test('reports what the adaptive policy runs and the W-TinyLFU window; null for policies that choose nothing', () => {
    const adaptive = makeStore('adaptive');
    for (let i = 0; i < 50; i++) adaptive.set(entry(`/a${i}`, 10));
    const snapshot = new CacheStats().snapshot(0, adaptive, 'adaptive');
    assert.equal(snapshot.policyState?.running, 's3fifo');
    assert.equal(snapshot.policyState?.switches, 0);
    assert.deepEqual(Object.keys(snapshot.policyState?.estimates ?? {}), [
      'lru',
      's3fifo',
      'w-tinylfu',
      'arc',
    ]);
    assert.equal(makeStore('w-tinylfu').policyState()?.window, 0.01);
    assert.equal(new CacheStats().snapshot(0, makeStore('lru'), 'lru').policyState, null);
  });
});
