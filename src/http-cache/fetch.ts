/**
 * One backend exchange on behalf of the cache: a miss (relayed to the client while stored), a validation
 * of a stale entry (§4.3: conditional request; a 304 freshens the entry and the client is answered from
 * it), a background refresh (stale-while-revalidate: no client), or an unsafe request (relayed, and its
 * non-error answer invalidates stored responses, §4.4). Errors can be answered by a stale entry
 * (stale-if-error, "serve stale when all backends are down") unless the entry forbids stale use.
 */

import { ERROR, outcomeOf, PROXY, REVALIDATED, STALE } from '../cache/stats.ts';
import { Headers } from '../http/headers.ts';
import { hasConditionalOrRange } from '../http/semantics/conditional.ts';
import { connectionNamed } from '../http/semantics/hop-by-hop.ts';
import type { Request, Response } from '../http/types.ts';
import type { ProxyRoute } from '../proxy/routes.ts';
import { type CacheDirectives, parseRequestDirectives } from './cache-control.ts';
import { cacheStatus, type ForwardReason } from './cache-status.ts';
import { type EncoderEdits, editedFields, encoderEdits, withAcceptEncoding } from './encoded-variant.ts';
import { parseAge, type ResponseTiming, staleOnError } from './freshness.ts';
import { dateOf, withHeaders } from './messages.ts';
import type { RouteCachePolicy } from './options.ts';
import type { ProxyCache } from './proxy-cache.ts';
import type { ProxyEntry } from './proxy-entry.ts';
import { answerFromEntry, appendCacheStatus, sendText } from './respond.ts';
import { planStorage, type StoragePlan } from './storing.ts';
import { type UpstreamHandler, UpstreamResponse } from './upstream-response.ts';
import { mergeNotModified, notModifiedMatches, validatorFields } from './validation.ts';

/** What the exchange is for. */
export type FetchMode = 'miss' | 'validate' | 'unsafe';

/** Fields never relayed when this cache is the target of CDN-Cache-Control (RFC 9213 §2.1). */
const CDN_SKIP: ReadonlySet<string> = new Set(['cdn-cache-control']);

const OUTCOME_RELAY = 0;
const OUTCOME_NOT_MODIFIED = 1;
const OUTCOME_STALE_ERROR = 2;

export class Fetch implements UpstreamHandler {
  private readonly cache: ProxyCache;
  private readonly req: Request;
  private readonly res: Response | null;
  private readonly route: ProxyRoute;
  private readonly policy: RouteCachePolicy;
  private readonly mode: FetchMode;
  private readonly entry: ProxyEntry | null;
  private readonly reason: ForwardReason;
  private readonly directives: CacheDirectives;
  private upstreamReq: Request;
  private flightKey: string | null = null;
  private plan: StoragePlan | null = null;
  private timing: ResponseTiming | null = null;
  private outcome = OUTCOME_RELAY;

  /**
   * @param res the client, or null for a background refresh
   * @param entry the stored response being validated (or that a failure may fall back to)
   */
  constructor(
    cache: ProxyCache,
    req: Request,
    res: Response | null,
    route: ProxyRoute,
    policy: RouteCachePolicy,
    mode: FetchMode,
    entry: ProxyEntry | null,
    reason: ForwardReason,
  ) {
    this.cache = cache;
    this.req = req;
    this.res = res;
    this.route = route;
    this.policy = policy;
    this.mode = mode;
    this.entry = entry;
    this.reason = reason;
    this.directives = parseRequestDirectives(
      req.headers.getJoined('cache-control'),
      req.headers.getJoined('pragma'),
    );
    if (mode === 'validate' && entry !== null) this.upstreamReq = conditionalRequest(req, entry);
    // A HEAD miss is fetched as a GET (as nginx does) so that it fills the store; the client's response
    // is written without its body (RFC 9110 §9.3.2). Conditional and ranged HEADs go as they are.
    else if (mode === 'miss' && req.method === 'HEAD' && !hasConditionalOrRange(req.headers)) {
      this.upstreamReq = withHeaders(req, req.headers);
    } else this.upstreamReq = req;
  }

  /** This exchange leads the collapsed flight of `key`: it must finish it exactly once. */
  leads(key: string): void {
    this.flightKey = key;
  }

  start(): void {
    const res = this.res;
    const up = new UpstreamResponse(res, this, this.policy.maxObjectSize, this.cache.clock);
    // A client leaving before the head arrives ends the exchange without callbacks: release waiters.
    if (res !== null && this.flightKey !== null) res.onAbort(() => this.release(true));
    this.cache.stats.originFetches++;
    this.cache.forward(this.upstreamReq, this.route, up);
  }

  onHead(up: UpstreamResponse): Response | null {
    const head = up.head!;
    const status = up.statusCode;
    const timing: ResponseTiming = {
      requestTime: up.requestTime,
      responseTime: up.responseTime,
      dateValue: dateOf(head.headers.get('date'), up.responseTime),
      ageValue: parseAge(head.headers.get('age')),
    };
    this.timing = timing;
    if (this.mode === 'unsafe') this.cache.invalidate(this.req, status, head.headers);
    const entry = this.entry;
    if (this.mode === 'validate' && status === 304 && entry !== null) {
      this.outcome = OUTCOME_NOT_MODIFIED;
      return null;
    }
    // RFC 5861 §4: a 5xx from the origin can be answered with the stale entry instead.
    if (
      entry !== null &&
      status >= 500 &&
      this.res !== null &&
      staleOnError(entry, this.directives, up.responseTime, 0)
    ) {
      this.outcome = OUTCOME_STALE_ERROR;
      up.stopKeeping();
      return null;
    }
    const plan = planStorage(
      this.upstreamReq,
      head.headers,
      status,
      timing,
      this.policy,
      head.chunked ? -1 : head.contentLength,
    );
    this.plan = plan;
    if (!plan.decision.store) up.stopKeeping();
    const res = this.res;
    if (res === null || res.aborted) return null;
    up.copyHeadTo(res, this.policy.cdnCacheControl ? CDN_SKIP : null);
    appendCacheStatus(
      res,
      cacheStatus(this.cache.name, {
        fwd: this.reason,
        fwdStatus: status,
        stored: plan.decision.store || undefined,
        // Why it was not stored (RFC 9211 §2.8), for whoever wonders why a page never hits.
        // Which `ttl` rule set the lifetime when one did (RFC 9211 §2.8).
        detail: plan.decision.store ? (plan.rule ?? undefined) : plan.decision.reason,
      }),
    );
    // A body encoder below the relay (only for a request that accepts an encoding) may send other bytes
    // than the backend's: keep what goes on the wire, so that an encoded answer is stored as sent
    // (encoded-variant.ts). Nothing is written yet.
    if (
      this.cache.encoding &&
      plan.decision.store &&
      this.req.method === 'GET' &&
      this.req.headers.has('accept-encoding')
    )
      res.captureBody(this.policy.maxObjectSize);
    return res;
  }

  onEnd(up: UpstreamResponse, complete: boolean, local: boolean): void {
    const now = this.cache.clock();
    const res = this.res;
    const entry = this.entry;
    const live = res !== null && !res.aborted;
    let storable = false;
    // What the client got, as a cache outcome (-1: not this exchange's to count).
    let outcome: number;
    if (local) {
      // No backend answered (all down, connect failures, timeout): maybe a stale entry may stand in.
      if (
        live &&
        entry !== null &&
        staleOnError(entry, this.directives, now, this.policy.serveStaleWhenDownMs)
      ) {
        this.answer(entry, {
          fwd: this.reason,
          fwdStatus: up.statusCode,
          ttl: entry.ttlSeconds(now),
          detail: 'stale-if-error',
        });
        outcome = STALE;
      } else {
        outcome = outcomeOf(up.statusCode, true);
      }
      if (outcome !== STALE && live && !res.headersSent) {
        up.copyHeadTo(res, null);
        appendCacheStatus(res, cacheStatus(this.cache.name, { fwd: this.reason, fwdStatus: up.statusCode }));
        const body = up.body;
        if (body === null || body.length === 0) res.end();
        else res.end(body);
      }
    } else if (this.outcome === OUTCOME_NOT_MODIFIED) {
      const kept = this.notModified(up, complete, now);
      storable = kept === true;
      outcome = kept === null ? -1 : complete ? REVALIDATED : ERROR;
    } else if (this.outcome === OUTCOME_STALE_ERROR) {
      outcome = STALE;
      if (live && entry !== null) {
        this.answer(entry, {
          fwd: this.reason,
          fwdStatus: up.statusCode,
          ttl: entry.ttlSeconds(now),
          detail: 'stale-if-error',
        });
      }
    } else {
      const plan = this.plan;
      // An answer the cache may not store (private, no-store, an unsafe method's) is a pass, not a miss.
      outcome = outcomeOf(up.statusCode, this.mode === 'unsafe' || plan === null || !plan.decision.store);
      if (plan?.decision.store) {
        const body = up.body;
        const edits = res === null ? null : encoderEdits(res, up.head!.headers);
        if (!complete) this.cache.rejected('incomplete');
        else if (body === null) this.cache.rejected('too-large');
        else if (edits !== null && edits.coding !== null && this.req.method !== 'GET') {
          // A HEAD fetched as a GET: the client got the encoded fields but no bytes to store; the next
          // GET of this variant stores it.
        } else if (edits !== null && edits.coding !== null && res!.capturedBody === null && !res!.aborted) {
          // The encoder still flushes its last bytes: store (and count, and wake the waiters) once the
          // response is done, from the bytes the client got.
          const deferred = outcome;
          this.cache.whenSent(res!, () => {
            this.storeEncoded(up, plan, edits, res!);
            this.cache.stats.count(PROXY + deferred, this.cache.clock(), res!.bodyBytes);
            this.release(true);
          });
          return;
        } else if (edits !== null) {
          storable = this.storeEncoded(up, plan, edits, res!);
        } else if (
          res === null &&
          entry?.vary?.includes('accept-encoding') &&
          !plan.vary?.includes('accept-encoding')
        ) {
          // A background refresh of an encoded variant: no encoder ran, and the backend's bytes would
          // replace the variant with an unencoded one. Left stale: the next request validates it.
        } else {
          storable =
            this.cache.storeResponse(
              this.req,
              up.statusCode,
              up.statusMessage,
              up.headerEntries(),
              body,
              plan,
              this.policy,
            ) !== null;
        }
      } else if (
        plan !== null &&
        !plan.decision.store &&
        (this.mode !== 'unsafe' || this.req.method === 'POST')
      ) {
        this.cache.rejected(plan.decision.reason);
      }
    }
    if (res === null && entry !== null) entry.refreshing = false;
    if (res !== null && outcome !== -1) this.cache.stats.count(PROXY + outcome, now, res.bodyBytes);
    // Only a response known not to be storable makes the key "pass" (not collapsed for a while); an error
    // or an interrupted transfer says nothing about the next one.
    this.release(storable || this.plan === null || this.plan.decision.store);
  }

  /**
   * Store the answer as the encoder sent it: its fields, the encoded bytes (the backend's when the answer
   * went out as the identity), under a key that varies on Accept-Encoding.
   */
  private storeEncoded(up: UpstreamResponse, plan: StoragePlan, edits: EncoderEdits, res: Response): boolean {
    const body = edits.coding === null ? up.body : res.capturedBody;
    if (body === null || res.aborted) {
      this.cache.rejected(res.aborted ? 'incomplete' : 'too-large');
      return false;
    }
    const variantPlan: StoragePlan = { ...plan, vary: withAcceptEncoding(plan.vary) };
    return (
      this.cache.storeResponse(
        this.req,
        up.statusCode,
        up.statusMessage,
        editedFields(up.headerEntries(), edits),
        body,
        variantPlan,
        this.policy,
      ) !== null
    );
  }

  onError(error: unknown): void {
    this.cache.logError(`${this.req.method} ${this.req.target}`, error);
    if (this.res !== null) this.cache.stats.count(PROXY + ERROR, this.cache.clock());
    this.release(true);
  }

  /**
   * A 304 answered our validation (§4.3.4). Returns whether the entry was kept, or null when the 304
   * selected another response and a new exchange (which counts for itself) took the client over.
   */
  private notModified(up: UpstreamResponse, complete: boolean, now: number): boolean | null {
    const entry = this.entry!;
    const res = this.res;
    const live = res !== null && !res.aborted;
    if (!complete) {
      if (live && !res.headersSent) sendText(res, 502, '502 Bad Gateway (validation failed)', null);
      return false;
    }
    const headers = up.head!.headers;
    if (!notModifiedMatches(entry.originFields, headers)) {
      // The 304 selects a different stored response than ours: ask for the full one.
      if (!live) return false;
      new Fetch(this.cache, this.req, res, this.route, this.policy, 'miss', null, this.reason).start();
      return null;
    }
    const merged = mergeNotModified(entry.originFields, headers, connectionNamed(headers));
    const fresh = this.cache.freshen(this.req, entry, merged, this.timing!, this.policy);
    if (live) {
      res.cacheStatus = 'REVALIDATED';
      this.answer(fresh ?? entry, { fwd: this.reason, fwdStatus: 304, stored: fresh !== null || undefined });
    }
    void now;
    return fresh !== null;
  }

  private answer(entry: ProxyEntry, parts: Parameters<typeof cacheStatus>[1]): void {
    const res = this.res;
    if (res === null || res.aborted || res.headersSent) return;
    // A stored answer after going forward: revalidated (304), else stale standing in for an error.
    if (parts.fwdStatus !== 304) res.cacheStatus = 'STALE';
    answerFromEntry(entry, this.req, res, this.cache.clock(), this.cache.name, parts);
  }

  /** Wake the collapsed waiters; `collapseAgain` false marks the key "pass" for a while. */
  private release(collapseAgain: boolean): void {
    const key = this.flightKey;
    if (key === null) return;
    this.flightKey = null;
    this.cache.finishFlight(key, collapseAgain, this.req);
  }
}

/**
 * The request sent to validate `entry` (§4.3.1): the client's fields without its own conditionals and
 * Range (the full response is what the store needs), plus the entry's validators. A HEAD becomes a GET
 * so that a changed response can be stored.
 */
function conditionalRequest(req: Request, entry: ProxyEntry): Request {
  const headers = new Headers();
  const source = req.headers;
  for (let i = 0; i < source.length; i++) {
    const name = source.name(i);
    if (name.startsWith('if-') || name === 'range') continue;
    headers.add(source.rawName(i), source.value(i), name);
  }
  for (const [name, value] of validatorFields(entry.originFields)) headers.add(name, value);
  return withHeaders(req, headers);
}
