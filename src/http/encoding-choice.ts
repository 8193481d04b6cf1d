/**
 * A content handler's say on whether its answer to a request may be encoded on the fly: the proxy marks
 * the requests of routes with `compress = true | false`, the `compress` plugin reads the mark. Keyed by
 * the request (the proxy's cache forwards misses into a response of its own, the request is the
 * client's), in a WeakMap so the engine's request class carries no field for it.
 */
import type { Request } from './types.ts';

const choices = new WeakMap<Request, boolean>();

/** Say whether `req`'s answer may be encoded (set before the answer's head is written). */
export function setEncodingChoice(req: Request, allowed: boolean): void {
  choices.set(req, allowed);
}

/** What the producer said about encoding `req`'s answer, or undefined when it said nothing. */
export function encodingChoice(req: Request): boolean | undefined {
  return choices.get(req);
}
