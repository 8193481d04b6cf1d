/**
 * The balancers by name: the one list a new policy is added to. Each entry has the schema of its options
 * and the factory that takes them (typed by that schema); the config's `balancer` names are this list's
 * keys, in this order, so the schema and the factories cannot disagree. No balancer takes options yet: an
 * entry that does declares them in its `options` schema and receives them parsed.
 */
import { z } from 'zod';
import type { Balancer } from '../balancer.ts';
import { FirstAliveBalancer } from './first-alive.ts';
import { HashIpBalancer } from './hash-ip.ts';
import { HashUrlBalancer } from './hash-url.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { NaiveBalancer } from './naive.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { TwoChoicesBalancer } from './two-choices.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

/** One balancer type: its options' schema and a factory of fresh instances (each route has its own). */
export interface BalancerType<Options> {
  readonly options: z.ZodType<Options>;
  create(options: Options): Balancer;
}

/** A balancer type without options. */
function plain(create: () => Balancer): BalancerType<Record<string, never>> {
  return { options: z.strictObject({}), create };
}

/** Every balancer, by the name `balancer` takes; the order is the one error messages list. */
export const BALANCERS = {
  naive: plain(() => new NaiveBalancer()),
  'first-alive': plain(() => new FirstAliveBalancer()),
  'round-robin': plain(() => new RoundRobinBalancer()),
  'least-connections': plain(() => new LeastConnectionsBalancer()),
  'weighted-round-robin': plain(() => new WeightedRoundRobinBalancer()),
  'two-choices': plain(() => new TwoChoicesBalancer()),
  'hash-url': plain(() => new HashUrlBalancer()),
  'hash-ip': plain(() => new HashIpBalancer()),
} as const;

/** A name `balancer` accepts. */
export type BalancerName = keyof typeof BALANCERS;

/** Names accepted by `balancer`, in the registry's order. */
export const BALANCER_NAMES = Object.keys(BALANCERS) as [BalancerName, ...BalancerName[]];

/** A fresh balancer (each route has its own state), with its options parsed by its own schema. */
export function createBalancer(name: BalancerName, options: unknown = {}): Balancer {
  const type = BALANCERS[name] as BalancerType<unknown>;
  return type.create(type.options.parse(options));
}
