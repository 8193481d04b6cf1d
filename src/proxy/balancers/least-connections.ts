/**
 * `least-connections`: the available backend with the fewest in-flight requests relative to its weight.
 * Ties are broken round-robin (the scan starts one further each time), so an idle pool still spreads.
 */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class LeastConnectionsBalancer implements Balancer {
  private start = 0;

  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const list = pool.backends;
    const n = list.length;
    const now = pool.now();
    const start = this.start;
    this.start = start + 1 >= n ? 0 : start + 1;
    let best: Backend | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const backend = list[(start + i) % n]!;
      if (!eligible(pool, backend, now, exclude)) continue;
      const load = backend.inFlight / backend.weight;
      if (load < bestLoad) {
        best = backend;
        bestLoad = load;
      }
    }
    return best;
  }
}
