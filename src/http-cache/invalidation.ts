/**
 * Invalidation (RFC 9111 §4.4): a non-error response to an unsafe request invalidates the stored responses
 * of the target URI, and of the `Location` and `Content-Location` URIs when they are on the same host
 * (an attacker-controlled origin must not be able to evict another host's responses).
 */

import { normalisePath, pathNeedsNormalising } from '../http/path.ts';

/** RFC 9110 §9.2.1: methods defined as safe. Anything else (including unknown methods) is unsafe. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Whether `method` is unsafe (§4.4 covers "methods whose safety is unknown" too). */
export function isUnsafe(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/** One URI to invalidate: host (lower-case, no port) and origin-form target. */
export interface InvalidationTarget {
  host: string;
  target: string;
}

/**
 * The URIs a response invalidates, or `[]`. `status` must be a non-error final status (2xx or 3xx, §4.4);
 * `location` and `contentLocation` are resolved against the request URI.
 */
export function invalidationTargets(
  method: string,
  status: number,
  host: string,
  target: string,
  location: string | undefined,
  contentLocation: string | undefined,
): InvalidationTarget[] {
  if (!isUnsafe(method) || status < 200 || status >= 400) return [];
  const out: InvalidationTarget[] = [{ host, target }];
  let base: URL;
  try {
    base = new URL(`http://${host}${target}`);
  } catch {
    return out;
  }
  for (const reference of [location, contentLocation]) {
    if (reference === undefined || reference === '') continue;
    let url: URL;
    try {
      url = new URL(reference, base);
    } catch {
      continue; // not a URI reference: nothing to invalidate
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (url.hostname.toLowerCase() !== host) continue; // §4.4: same host only
    // Keys hold the engine's normal form of a path (src/http/path.ts): `/%61/b//c` must find `/a/b/c`.
    let path = url.pathname;
    if (pathNeedsNormalising(path, 0, path.length)) {
      const normal = normalisePath(path, 0, path.length);
      if (normal.charCodeAt(0) !== 0x2f) continue; // no request could have that path: nothing stored
      path = normal;
    }
    const resolved = path + url.search;
    if (!out.some((t) => t.target === resolved)) out.push({ host, target: resolved });
  }
  return out;
}
