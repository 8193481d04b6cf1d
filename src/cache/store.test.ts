/** The memory store passes the `CacheStore` contract: the capacity part with every eviction policy. */
import { createPolicy, POLICY_NAMES } from './policies/index.ts';
import { MemoryStore } from './store.ts';
import { behaviourContract, capacityContract, type StoreFactory } from './test-store-contract.ts';

const memoryStore =
  (policy: (typeof POLICY_NAMES)[number]): StoreFactory =>
  (capacity, onRemove) =>
    new MemoryStore({ ...capacity, createPolicy: (o) => createPolicy(policy, o), onRemove });

for (const policy of POLICY_NAMES) capacityContract(`MemoryStore contract (${policy})`, memoryStore(policy));
behaviourContract('MemoryStore (lru)', memoryStore('lru'));
