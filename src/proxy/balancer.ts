/**
 * The balancing seam (Caddy's `select(pool, request)`): a policy picks one backend of a route for a
 * request, skipping unavailable backends and the ones already tried for this request. Each policy is one
 * file under `balancers/`; all of them pass the same contract tests.
 */
import type { Backend } from './backend.ts';

/** What a balancer may look at in a request (a `Request` satisfies it). */
export interface BalanceRequest {
  readonly target: string;
  readonly host: string;
  readonly connection: { readonly remoteAddress: string };
}

/** The backends of one route and the clock that decides cooldowns. */
export interface BackendPool {
  readonly backends: readonly Backend[];
  /** Milliseconds, monotonic enough for cooldowns (`Date.now()` in production, scripted in tests). */
  now(): number;
}

export interface Balancer {
  /**
   * Choose a backend for `req` among the available backends of `pool` that are not in `exclude`
   * (those already tried for this request), or `undefined` when there is none.
   */
  select(pool: BackendPool, req: BalanceRequest, exclude: readonly Backend[] | null): Backend | undefined;
}

/** Whether `backend` may be chosen now for this request. */
export function eligible(backend: Backend, now: number, exclude: readonly Backend[] | null): boolean {
  return backend.available(now) && (exclude === null || !exclude.includes(backend));
}
