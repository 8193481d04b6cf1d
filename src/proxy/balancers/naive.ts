/**
 * `naive` (Monkey's policy): the first available backend starting from an offset that advances by one
 * on every request, whichever backend was chosen. Unlike round-robin, a dead backend's share goes to the
 * backend after it, not evenly to all.
 */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class NaiveBalancer implements Balancer {
  private offset = 0;

  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const list = pool.backends;
    const n = list.length;
    const now = pool.now();
    const start = this.offset++ % n;
    if (this.offset >= n) this.offset = 0;
    for (let i = 0; i < n; i++) {
      const backend = list[(start + i) % n]!;
      if (eligible(pool, backend, now, exclude)) return backend;
    }
    return undefined;
  }
}
