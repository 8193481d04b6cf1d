/** `hash-ip`: consistent hashing on the client address (sticky sessions without cookies). */

import type { Backend } from '../backend.ts';
import type { BackendPool, BalanceRequest, Balancer } from '../balancer.ts';
import { rendezvousSelect } from './rendezvous.ts';

export class HashIpBalancer implements Balancer {
  select(pool: BackendPool, req: BalanceRequest, exclude: readonly Backend[] | null): Backend | undefined {
    return rendezvousSelect(pool, req.clientAddress ?? req.connection.remoteAddress, exclude);
  }
}
