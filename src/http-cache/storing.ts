/**
 * Turning a backend response into a stored entry: the storage decision when its head arrives (§3, §4.2),
 * the fields kept (§3.1), and the entry with its freshness and how long it is worth keeping once stale.
 */

import type { StoredField } from '../cache/entry.ts';
import { hasConditionalOrRange } from '../http/semantics/conditional.ts';
import { formatHttpDate } from '../http/semantics/http-date.ts';
import type { HeaderList, HeaderValue, Request } from '../http/types.ts';
import { type CacheDirectives, parseCacheControl, parseTargetedCacheControl } from './cache-control.ts';
import { withKeyHeaders } from './cache-key.ts';
import { cacheStatus } from './cache-status.ts';
import { correctedInitialAge, freshnessLifetime, type ResponseTiming } from './freshness.ts';
import type { RouteCachePolicy } from './options.ts';
import { AGE_PLACEHOLDER, ProxyEntry } from './proxy-entry.ts';
import { decideStorage, keepField, type StoreDecision } from './storability.ts';
import { applyTtlRules, type TtlRuleSource } from './ttl-rules.ts';
import { parseVary, variantKey } from './vary.ts';

const HIT = { hit: true } as const;

/** A response's storage facts, decided when its head arrives. */
export interface StoragePlan {
  decision: StoreDecision;
  directives: CacheDirectives;
  timing: ResponseTiming;
  lifetimeMs: number;
  vary: readonly string[] | null;
  /** The route's `ttl` rule that set the lifetime, or null (shown in Cache-Status `detail`). */
  rule: TtlRuleSource | null;
}

/**
 * Decide, when a response head arrives, whether and how it will be stored (RFC 9111 §3, §4.2). `req` is the
 * request sent upstream (a POST is stored for later GETs of its Content-Location).
 */
export function planStorage(
  req: Request,
  head: HeaderList,
  status: number,
  timing: ResponseTiming,
  policy: RouteCachePolicy,
  size: number,
): StoragePlan {
  // RFC 9213 §2.1: a valid targeted field replaces Cache-Control (and Expires) for this cache; an invalid
  // one is ignored as a whole.
  const cdn = policy.cdnCacheControl ? parseTargetedCacheControl(head.getJoined('cdn-cache-control')) : null;
  const directives = cdn ?? parseCacheControl(head.getJoined('cache-control'));
  const expiresAll = cdn === null ? head.getAll('expires') : [];
  const originLifetime = freshnessLifetime(
    directives,
    {
      date: head.get('date'),
      expires: expiresAll[0],
      expiresConflict: expiresAll.some((e) => e !== expiresAll[0]),
      lastModified: head.get('last-modified'),
    },
    status,
    timing,
    policy,
  );
  const { lifetime, rule } = applyTtlRules(policy.ttlRules, status, originLifetime);
  const requestDirectives = parseCacheControl(req.headers.getJoined('cache-control'));
  const varyValue = head.getJoined('vary');
  let decision = decideStorage(
    {
      method: req.method,
      authorization: req.headers.has('authorization'),
      cookie: req.headers.has('cookie'),
      target: req.target,
      status,
      response: directives,
      requestNoStore: requestDirectives.noStore,
      lifetime,
      hasValidator: head.has('etag') || head.has('last-modified'),
      hasSetCookie: head.has('set-cookie'),
      vary: varyValue,
      contentLocation: head.get('content-location'),
    },
    {
      allowPost: policy.allowPost,
      setCookie: policy.setCookie,
      cookieImplicitFreshness: policy.cookieImplicitFreshness,
    },
  );
  // An answer to the client's own conditional or Range request (a 412, a 304, a 206) is about that
  // request, not the URL: only a full 200 may answer later requests for it.
  if (decision.store && status !== 200 && hasConditionalOrRange(req.headers))
    decision = { store: false, reason: 'status' };
  if (decision.store && size > policy.maxObjectSize) decision = { store: false, reason: 'no-freshness' };
  const parsed = parseVary(varyValue);
  const vary = parsed === '*' ? null : withKeyHeaders(parsed, policy.keyHeaders);
  return { decision, directives, timing, lifetimeMs: lifetime.ms, vary, rule };
}

/**
 * The fields stored from the fields as relayed: §3.1 (no hop-by-hop, no qualified-private fields, no
 * Set-Cookie when stripping), no framing (recomputed per answer), no targeted CDN-Cache-Control, and a
 * Date when the origin sent none (RFC 9110 §6.6.1: the time it was received).
 */
export function storedFields(
  fields: ReadonlyArray<readonly [string, HeaderValue]>,
  plan: StoragePlan,
  policy: RouteCachePolicy,
): StoredField[] {
  const privateFields = plan.directives.privateFields;
  const stored: StoredField[] = [];
  let hasDate = false;
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || !keepField(lower, privateFields, null, policy.setCookie === 'strip'))
      continue;
    if (lower === 'cdn-cache-control' && policy.cdnCacheControl) continue;
    if (lower === 'date') hasDate = true;
    if (typeof value === 'string') stored.push([name, value]);
    else if (typeof value === 'number') stored.push([name, String(value)]);
    else for (const item of value) stored.push([name, item]);
  }
  if (!hasDate) stored.push(['Date', formatHttpDate(plan.timing.responseTime)]);
  return stored;
}

function decodePath(target: string): string {
  try {
    return decodeURIComponent(target);
  } catch {
    return target;
  }
}

/**
 * The entry for a response, or null when it would already be useless at `now`. It is kept past its
 * freshness as long as it can still serve: for validation (`keep_stale`, with a validator), within
 * stale-while-revalidate / stale-if-error, or for `serve_stale_when_down`.
 */
export function buildEntry(
  req: Request,
  status: number,
  reason: string,
  originFields: readonly StoredField[],
  body: Buffer,
  plan: StoragePlan,
  policy: RouteCachePolicy,
  name: string,
  now: number,
): ProxyEntry | null {
  const d = plan.directives;
  const initialAgeMs = correctedInitialAge(plan.timing);
  const freshUntil = plan.timing.responseTime + plan.lifetimeMs - initialAgeMs;
  const validator = originFields.some(([n]) => {
    const lower = n.toLowerCase();
    return lower === 'etag' || lower === 'last-modified';
  });
  const staleMs = Math.max(
    validator ? policy.keepStaleMs : 0,
    (d.staleWhileRevalidate ?? 0) * 1000,
    (d.staleIfError ?? 0) * 1000,
    policy.serveStaleWhenDownMs,
  );
  const expiresAt = freshUntil + staleMs;
  if (expiresAt <= now) return null;
  // A POST response is stored for GETs of its Content-Location (= the target, RFC 9110 §9.3.3).
  const base = 'http://' + req.host + req.target;
  const key = plan.vary === null ? base : variantKey(base, plan.vary, req.headers);
  const fields: StoredField[] = [
    ...originFields,
    ['Age', AGE_PLACEHOLDER],
    ['Cache-Status', cacheStatus(name, plan.rule === null ? HIT : { hit: true, detail: plan.rule })],
  ];
  return new ProxyEntry(
    {
      key,
      path: decodePath(req.target),
      host: req.host,
      status,
      reason,
      fields,
      body,
      file: null,
      storedAt: plan.timing.responseTime,
      expiresAt,
    },
    {
      base,
      target: req.target,
      requestTime: plan.timing.requestTime,
      responseTime: plan.timing.responseTime,
      initialAgeMs,
      lifetimeMs: plan.lifetimeMs,
      directives: d,
      vary: plan.vary,
      varyValues: plan.vary === null ? null : plan.vary.map((n) => req.headers.getJoined(n)),
      ownFields: 2,
    },
  );
}
