/** Balancer names → implementations; the only place a new policy needs to be registered. */
import type { Balancer } from '../balancer.ts';
import type { BalancerName } from '../options.ts';
import { FirstAliveBalancer } from './first-alive.ts';
import { HashIpBalancer } from './hash-ip.ts';
import { HashUrlBalancer } from './hash-url.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { NaiveBalancer } from './naive.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { TwoChoicesBalancer } from './two-choices.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

/** A fresh balancer (each route has its own state). */
export function createBalancer(name: BalancerName): Balancer {
  switch (name) {
    case 'naive':
      return new NaiveBalancer();
    case 'first-alive':
      return new FirstAliveBalancer();
    case 'round-robin':
      return new RoundRobinBalancer();
    case 'least-connections':
      return new LeastConnectionsBalancer();
    case 'weighted-round-robin':
      return new WeightedRoundRobinBalancer();
    case 'two-choices':
      return new TwoChoicesBalancer();
    case 'hash-url':
      return new HashUrlBalancer();
    case 'hash-ip':
      return new HashIpBalancer();
  }
}
