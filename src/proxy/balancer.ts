/**
 * The balancing seam (Caddy's `select(pool, request)`): a policy picks one backend of a route for a
 * request, skipping unavailable backends and the ones already tried for this request. Each policy is one
 * file under `balancers/`; all of them pass the same contract tests.
 *
 * Panic mode (Envoy's name): when no backend of a route is available because every one is cooling (or
 * down), the cooling ones are chosen anyway, by the same policy. A cooldown exists to move traffic to the
 * other backends; with none left, skipping them all would turn a blip into an outage for the whole
 * cooldown (nginx never takes a lone server out for the same reason). Backends that active health checks
 * declared down stay out.
 */
import type { Backend } from './backend.ts';

/** What a balancer may look at in a request (a `Request` satisfies it). */
export interface BalanceRequest {
  readonly target: string;
  readonly host: string;
  readonly connection: { readonly remoteAddress: string };
  /** The client's address when a trusted proxy told it (`real_ip`); else the connection's. */
  readonly clientAddress?: string;
}

/** The backends of one route and the clock that decides cooldowns. */
export interface BackendPool {
  readonly backends: readonly Backend[];
  /** Milliseconds, monotonic enough for cooldowns (`Date.now()` in production, scripted in tests). */
  now(): number;
  /** True only while `selectBackend` picks in panic mode: cooling backends are eligible then. */
  panic: boolean;
}

export interface Balancer {
  /**
   * Choose a backend for `req` among the eligible backends of `pool` (see `eligible`) that are not in
   * `exclude` (those already tried for this request), or `undefined` when there is none.
   */
  select(pool: BackendPool, req: BalanceRequest, exclude: readonly Backend[] | null): Backend | undefined;
}

/** Whether `backend` may be chosen now for this request: available, or cooling while `pool` panics. */
export function eligible(
  pool: BackendPool,
  backend: Backend,
  now: number,
  exclude: readonly Backend[] | null,
): boolean {
  if (!backend.available(now) && !(pool.panic && backend.cooling)) return false;
  return exclude === null || !exclude.includes(backend);
}

/**
 * The backend `balancer` chooses for `req`; when no backend is available and some are cooling, its choice
 * among the cooling ones (panic mode). `undefined` when every backend was tried or is down.
 */
export function selectBackend(
  pool: BackendPool,
  balancer: Balancer,
  req: BalanceRequest,
  exclude: readonly Backend[] | null,
): Backend | undefined {
  const chosen = balancer.select(pool, req, exclude);
  if (chosen !== undefined || !allCooling(pool)) return chosen;
  pool.panic = true;
  try {
    return balancer.select(pool, req, exclude);
  } finally {
    pool.panic = false;
  }
}

/** No backend is available, and at least one of them only because it is cooling. */
function allCooling(pool: BackendPool): boolean {
  const now = pool.now();
  let cooling = false;
  for (const backend of pool.backends) {
    if (backend.available(now)) return false;
    if (backend.cooling) cooling = true;
  }
  return cooling;
}
