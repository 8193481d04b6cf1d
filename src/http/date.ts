/**
 * The `Date` field (RFC 9110 §6.6.1), computed at most once per second. Every response carries it, so the
 * string and its bytes are cached and only rebuilt when `Date.now()` crosses the next second boundary: no
 * timer, one comparison per call.
 */
import { formatHttpDate } from './semantics/http-date.ts';

let cachedString = '';
let cachedBuffer: Buffer = Buffer.alloc(0);
/** First millisecond of the second after the cached one; the cache is valid while `now < nextSecond`. */
let nextSecond = 0;

function refresh(now: number): void {
  const second = now - (now % 1000);
  cachedString = formatHttpDate(second);
  // A new Buffer each second (never mutated in place): a caller may still hold or be writing the old one.
  cachedBuffer = Buffer.from(cachedString, 'latin1');
  nextSecond = second + 1000;
}

/** The current time as an IMF-fixdate; recomputed at most once per second. */
export function httpDate(): string {
  const now = Date.now();
  if (now >= nextSecond || now < nextSecond - 1000) refresh(now);
  return cachedString;
}

/**
 * The current time as a 29-byte latin1 Buffer (same value as {@link httpDate}). Pre-built responses splice
 * it in; the returned Buffer is shared and must not be modified.
 */
export function httpDateBuffer(): Buffer {
  const now = Date.now();
  if (now >= nextSecond || now < nextSecond - 1000) refresh(now);
  return cachedBuffer;
}
