/**
 * The eviction policies by name: the one list a new policy is added to (the `[cache] policy` schema, the
 * `PolicyName` type and `tamarin sim` all read it). The store and `tamarin sim` build them through
 * `createPolicy`, so the simulator measures exactly what the server runs. Every policy takes the same
 * typed options (`PolicyOptions`: the store's capacity and its eviction callback).
 */
import type { EvictionPolicy, PolicyFactory, PolicyName, PolicyOptions } from '../policy.ts';
import { createAdaptive } from './adaptive.ts';
import { createArc } from './arc.ts';
import { createLfu } from './lfu.ts';
import { createLru } from './lru.ts';
import { createS3Fifo } from './s3fifo.ts';
import { createWTinyLfu } from './w-tinylfu.ts';

/** Every policy by name, in the order tables list them. */
export const POLICIES = {
  lru: createLru,
  lfu: createLfu,
  s3fifo: createS3Fifo,
  'w-tinylfu': createWTinyLfu,
  arc: createArc,
  adaptive: createAdaptive,
} as const satisfies Record<string, PolicyFactory>;

/** Every policy name, in the order tables list them. */
export const POLICY_NAMES = Object.keys(POLICIES) as [PolicyName, ...PolicyName[]];

/**
 * The policy `[cache] policy` defaults to. The adaptive policy is the only one that meets the bar on the
 * shared traces and the synthetic ones of `src/cache/trace-gen.ts` together (`tamarin sim`, tables in
 * docs/cache-policies.md): mean gap to the best fixed policy per point ≤ 0.5 point of request hit ratio,
 * and never more than 1 point below LRU. W-TinyLFU, the previous default, is 0.44 (shared) / 2.48
 * (synthetic) points behind the best on average and up to 12.9 points below LRU (a moving working set).
 * @default 'adaptive'
 */
export const DEFAULT_POLICY: PolicyName = 'adaptive';

/** Whether `name` is a policy name (for config validation and the CLI). */
export function isPolicyName(name: string): name is PolicyName {
  return Object.hasOwn(POLICIES, name);
}

/**
 * Builds the named policy. Throws a `RangeError` naming the problem for an unknown name or a capacity that
 * bounds nothing (`maxBytes` must be > 0, `maxEntries` >= 1, and at least one of them finite).
 */
export function createPolicy(name: PolicyName, options: PolicyOptions): EvictionPolicy {
  if (!isPolicyName(name)) {
    throw new RangeError(`unknown cache policy "${name}" (expected one of ${POLICY_NAMES.join(', ')})`);
  }
  return POLICIES[name](options);
}
