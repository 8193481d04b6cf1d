/**
 * The `Cache-Status` response field (RFC 9211): one list member per cache, this one appended after the
 * members of caches closer to the origin (§2). Values are built once per kind where they do not vary.
 */

/** How a response relates to the cache (RFC 9211 §2.1-2.2 `hit` / `fwd` values). */
export type ForwardReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale';

/** Parameters of this cache's member. */
export interface CacheStatusParts {
  /** Served from the cache without going forward (§2.1). */
  hit?: boolean;
  /** Why the request went forward (§2.2). */
  fwd?: ForwardReason;
  /** Status the forward request got (§2.3), e.g. 304 after validation. */
  fwdStatus?: number;
  /** Remaining freshness in seconds; negative when stale (§2.4). */
  ttl?: number;
  /** The response was stored (§2.5). */
  stored?: boolean;
  /** The request was collapsed with another one (§2.6). */
  collapsed?: boolean;
  /** Free text for people (§2.8), a token or a string. */
  detail?: string;
}

const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/** Serialise this cache's member: `name; hit` or `name; fwd=miss; stored`. */
export function cacheStatus(name: string, parts: CacheStatusParts): string {
  let value = name;
  if (parts.hit) value += '; hit';
  if (parts.fwd !== undefined) value += '; fwd=' + parts.fwd;
  if (parts.fwdStatus !== undefined) value += '; fwd-status=' + parts.fwdStatus;
  if (parts.ttl !== undefined) value += '; ttl=' + Math.trunc(parts.ttl);
  if (parts.stored) value += '; stored';
  if (parts.collapsed) value += '; collapsed';
  if (parts.detail !== undefined) {
    value += '; detail=' + (TOKEN.test(parts.detail) ? parts.detail : JSON.stringify(parts.detail));
  }
  return value;
}
