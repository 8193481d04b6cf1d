/**
 * `weighted-round-robin`, smooth (nginx's algorithm): every pick adds each available backend's weight to
 * its running score, takes the highest and subtracts the total from it. Weights 5:1:1 give
 * a a b a c a a — interleaved rather than five in a row, so a heavy backend never gets a burst.
 */

import type { Backend } from '../backend.ts';
import { type BackendPool, type Balancer, eligible } from '../balancer.ts';

export class WeightedRoundRobinBalancer implements Balancer {
  private scores: number[] = [];

  select(pool: BackendPool, _req: unknown, exclude: readonly Backend[] | null): Backend | undefined {
    const list = pool.backends;
    const scores = this.scores;
    while (scores.length < list.length) scores.push(0);
    const now = pool.now();
    let best: Backend | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const backend of list) {
      if (!eligible(pool, backend, now, exclude)) continue;
      const score = scores[backend.index]! + backend.weight;
      scores[backend.index] = score;
      total += backend.weight;
      if (score > bestScore) {
        best = backend;
        bestScore = score;
      }
    }
    if (best !== undefined) scores[best.index]! -= total;
    return best;
  }
}
