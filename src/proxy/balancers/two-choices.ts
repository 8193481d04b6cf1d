/**
 * `two-choices` (power of two random choices): pick two distinct available backends at random and take
 * the less loaded (in-flight per weight). Nearly as even as least-connections without its herd effect,
 * where every proxy worker sends the next burst to the same momentarily idle backend.
 */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class TwoChoicesBalancer implements Balancer {
  private readonly random: () => number;
  private candidates: Backend[] = [];

  /** @param random source of uniform numbers in [0, 1), scripted in tests. @default Math.random */
  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const now = pool.now();
    const candidates = this.candidates;
    candidates.length = 0;
    for (const backend of pool.backends) if (eligible(pool, backend, now, exclude)) candidates.push(backend);
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.floor(this.random() * n) % n;
    // The second pick is drawn from the other n-1, so the two are always distinct.
    const j = (i + 1 + (Math.floor(this.random() * (n - 1)) % (n - 1))) % n;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return b.inFlight / b.weight < a.inFlight / a.weight ? b : a;
  }
}
