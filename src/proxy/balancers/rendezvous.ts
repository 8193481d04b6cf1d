/**
 * Weighted rendezvous (highest random weight) hashing, shared by `hash-url` and `hash-ip`. Each backend
 * scores `-weight / ln(u)` where `u` is a uniform hash of (key, backend); the highest score wins. When a
 * backend leaves, only its own keys move (each to its second-best backend); the rest keep their backend,
 * so backend caches stay hot. Excluding a tried backend falls over to the key's next-best one, which is
 * again stable. O(backends) per pick, which for the pool sizes of a route beats a ring's memory and setup.
 */

import type { Backend } from '../backend.ts';
import { type BackendPool, eligible } from '../balancer.ts';

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads every input bit over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Per-backend seeds, computed once per pool from the backend URLs (stable across restarts and workers). */
const seeds = new WeakMap<Backend, number>();

function seedOf(backend: Backend): number {
  let seed = seeds.get(backend);
  if (seed === undefined) {
    seed = fnv1a(backend.url);
    seeds.set(backend, seed);
  }
  return seed;
}

/** The backend with the highest rendezvous score for `key` among the eligible ones. */
export function rendezvousSelect(
  pool: BackendPool,
  key: string,
  exclude: readonly Backend[] | null,
): Backend | undefined {
  const keyHash = fnv1a(key);
  const now = pool.now();
  let best: Backend | undefined;
  let bestScore = -Infinity;
  for (const backend of pool.backends) {
    if (!eligible(pool, backend, now, exclude)) continue;
    const u = (mix(keyHash ^ seedOf(backend)) + 0.5) / 4294967296;
    const score = -backend.weight / Math.log(u);
    if (score > bestScore) {
      best = backend;
      bestScore = score;
    }
  }
  return best;
}
