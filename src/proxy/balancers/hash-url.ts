/** `hash-url`: consistent hashing on host + request-target, so each object lives on one backend. */

import type { Backend } from '../backend.ts';
import type { BackendPool, BalanceRequest, Balancer } from '../balancer.ts';
import { rendezvousSelect } from './rendezvous.ts';

export class HashUrlBalancer implements Balancer {
  select(pool: BackendPool, req: BalanceRequest, exclude: readonly Backend[] | null): Backend | undefined {
    return rendezvousSelect(pool, req.host + req.target, exclude);
  }
}
