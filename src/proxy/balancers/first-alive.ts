/** `first-alive`: the first available backend in list order (primary with fallbacks). */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class FirstAliveBalancer implements Balancer {
  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const now = pool.now();
    for (const backend of pool.backends) if (eligible(pool, backend, now, exclude)) return backend;
    return undefined;
  }
}
