/** `round-robin`: each available backend in turn, continuing after the one chosen last. */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class RoundRobinBalancer implements Balancer {
  private next = 0;

  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const list = pool.backends;
    const n = list.length;
    const now = pool.now();
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      const backend = list[index]!;
      if (eligible(pool, backend, now, exclude)) {
        this.next = index + 1 === n ? 0 : index + 1;
        return backend;
      }
    }
    return undefined;
  }
}
