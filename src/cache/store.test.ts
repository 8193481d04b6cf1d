/** The memory store passes the `CacheStore` contract: the capacity part with every eviction policy. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheEntry } from './entry.ts';
import { createPolicy, POLICY_NAMES } from './policies/index.ts';
import { CacheStats } from './stats.ts';
import { MemoryStore } from './store.ts';
import { behaviourContract, capacityContract, type StoreFactory } from './test-store-contract.ts';

const memoryStore =
  (policy: (typeof POLICY_NAMES)[number]): StoreFactory =>
  (capacity, onRemove) =>
    new MemoryStore({ ...capacity, createPolicy: (o) => createPolicy(policy, o), onRemove });

for (const policy of POLICY_NAMES) capacityContract(`MemoryStore contract (${policy})`, memoryStore(policy));
behaviourContract('MemoryStore (lru)', memoryStore('lru'));

function entry(key: string, bodySize: number): CacheEntry {
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
  });
}

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
