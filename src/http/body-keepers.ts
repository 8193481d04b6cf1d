/**
 * A channel between the stages of one response: a later stage that will keep the body (the content cache
 * fills its entries from it) announces it before the content stage, and a producer that can read a body
 * whole (the static plugin) then does so instead of streaming it: see src/static/whole-body.ts for why.
 * A WeakMap keyed by the response, so the engine's response class carries no field for it.
 */
import type { Response } from './types.ts';

/** Memory a keeper lends for a body to be read into, and its release (see `Response.endLent`). */
export interface BodyLoan {
  readonly buffer: Buffer;
  /** Called exactly once when nothing holds `buffer` any more. */
  readonly release: () => void;
}

/**
 * Lends `length` bytes for `res`'s body (the shared cache's staging area: the body is then read where the
 * cache copies it from, with no buffer on the JS heap); null when it has none now.
 */
export type BodyLender = (res: Response, length: number) => BodyLoan | null;

/** Responses whose body will be kept, with the largest body the keeper takes and its lender. */
const keepers = new WeakMap<Response, { limit: number; lender: BodyLender | null }>();

/**
 * Announce (before the content stage) that `res`'s body will be kept if it is at most `limit` bytes: the
 * static handler then reads such a body whole instead of streaming it, into memory from `lender` when
 * there is one and the response can send lent memory (`endLent`). Called by the cache on a miss,
 * together with `res.captureBody(limit)`.
 */
export function keepWholeBody(res: Response, limit: number, lender: BodyLender | null = null): void {
  keepers.set(res, { limit, lender });
}

/** Whether a body of `length` bytes for `res` should be read whole (see `keepWholeBody`). */
export function wantsWholeBody(res: Response, length: number): boolean {
  const keeper = keepers.get(res);
  return keeper !== undefined && length <= keeper.limit;
}

/** Memory to read `res`'s whole body of `length` bytes into, lent by its keeper; null for none. */
export function lendBody(res: Response, length: number): BodyLoan | null {
  if (res.endLent === undefined) return null;
  const keeper = keepers.get(res);
  if (keeper === undefined || keeper.lender === null || length > keeper.limit) return null;
  return keeper.lender(res, length);
}
