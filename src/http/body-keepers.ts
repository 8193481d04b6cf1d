/**
 * A channel between the stages of one response: a later stage that will keep the body (the content cache
 * fills its entries from it) announces it before the content stage, and a producer that can read a body
 * whole (the static plugin) then does so instead of streaming it: see src/static/whole-body.ts for why.
 * A WeakMap keyed by the response, so the engine's response class carries no field for it.
 */
import type { Response } from './types.ts';

/** Responses whose body will be kept, with the largest body the keeper takes. */
const keepers = new WeakMap<Response, number>();

/**
 * Announce (before the content stage) that `res`'s body will be kept if it is at most `limit` bytes: the
 * static handler then reads such a body whole instead of streaming it. Called by the cache on a miss,
 * together with `res.captureBody(limit)`.
 */
export function keepWholeBody(res: Response, limit: number): void {
  keepers.set(res, limit);
}

/** Whether a body of `length` bytes for `res` should be read whole (see `keepWholeBody`). */
export function wantsWholeBody(res: Response, length: number): boolean {
  const limit = keepers.get(res);
  return limit !== undefined && length <= limit;
}
