/**
 * The hit path, over either store: one store lookup, two number compares (expiry, disk revalidation deadline), a scan of the
 * header names for validators, then one `sendPrebuilt` of bytes built when the entry was stored (a large
 * body as a second buffer: one `writev`, see entry.ts).
 *
 * Conditional and range requests use the HTTP layer's pure functions (`checkPreconditions`,
 * `evaluateRange`) as the static plugin does, so the cache and the file path give the same answer to the
 * same request. The rare
 * answers it does not build (412, 416, multipart ranges) fall through to the static plugin, which has the
 * file and answers them exactly as it would without the cache.
 */

import { checkPreconditions, hasConditionalOrRange } from '../http/semantics/conditional.ts';
import { connectionFor } from '../http/semantics/head.ts';
import { evaluateRange } from '../http/semantics/range.ts';
import type { Request, Response } from '../http/types.ts';
import type { ServableEntry, StoredField } from './entry.ts';
import { NOT_MODIFIED_FIELDS } from './entry.ts';
import { revalidate } from './freshness.ts';
import type { CacheStats } from './stats.ts';
import type { RemovalReason } from './store.ts';

export type { ServableEntry };

/** The part of a store the hit path reads (the per-worker `MemoryStore` or the shared store's client). */
export interface HitSource<E extends ServableEntry> {
  get(key: string, now: number): E | undefined;
  delete(key: string, reason: RemovalReason): unknown;
}

/** Answers requests from a store. One per cache instance; no per-request allocation on a plain hit. */
export class HitResponder<E extends ServableEntry> {
  private readonly store: HitSource<E>;
  private readonly stats: CacheStats;
  /** Body bytes of the answer being sent (for the hit's count of bytes served from the cache). */
  private sent = 0;
  private readonly revalidateMs: number;
  private readonly claimedElsewhere: (req: Request) => boolean;
  private readonly stamp: number | undefined;

  /**
   * @param claimedElsewhere whether another handler (a proxy route) takes `req`: asked only for entries
   *   flagged `routed`, so that a hit answers only what routing would have sent to the entry's producer
   * @param stamp the configuration serving (shared store): an entry stored under another one is a miss
   */
  constructor(
    store: HitSource<E>,
    stats: CacheStats,
    revalidateMs: number,
    claimedElsewhere: (req: Request) => boolean,
    stamp: number | undefined,
  ) {
    this.store = store;
    this.stats = stats;
    this.revalidateMs = revalidateMs;
    this.claimedElsewhere = claimedElsewhere;
    this.stamp = stamp;
  }

  /** Serve `key` from the store if possible; counts the hit. `false`: the caller treats it as a miss. */
  tryServe(key: string, req: Request, res: Response, now: number): boolean {
    const entry = this.store.get(key, now);
    if (entry === undefined) return false;
    // Stored under another configuration (before a reload): its head may say what this one no longer
    // would; the miss stores it again.
    if (entry.record.stamp !== this.stamp) return false;
    if (entry.routed && this.claimedElsewhere(req)) return false;
    if (now >= entry.checkAt && !revalidate(entry, now, this.revalidateMs)) {
      void this.store.delete(key, 'invalidated');
      return false;
    }
    // The entry's own hit count is the store's (its lookup counts it).
    this.sent = 0;
    if (!this.answer(entry, req, res, now)) return false;
    this.stats.hit(now, this.sent);
    return true;
  }

  private answer(entry: E, req: Request, res: Response, now: number): boolean {
    const isGet = req.method === 'GET';
    // The pre-built buffers are for the common case: HTTP/1.1 keep-alive (no Connection field).
    const connection = connectionFor(req);
    const headers = req.headers;
    if (!hasConditionalOrRange(headers)) return this.sendWhole(entry, isGet, connection, res, now);
    const precondition = checkPreconditions(headers, req.method, entry.etag, entry.lastModifiedMs);
    if (precondition === 412) return false;
    if (precondition === 304) {
      if (connection === null) res.sendPrebuilt(entry.notModifiedResponse());
      else res.sendPrebuilt(entry.buildHead(304, notModifiedFields(entry), null, connection));
      return true;
    }
    const size = entry.bodyLength;
    const range = evaluateRange(headers, req.method, size, entry.etag, entry.lastModifiedMs);
    if (range.type === 'full') return this.sendWhole(entry, isGet, connection, res, now);
    if (range.type === 'unsatisfiable' || range.ranges.length !== 1) return false;
    // A weak ETag on a file entry marks a body encoded on the fly (src/plugins/compress): a range is of
    // the file, never of those bytes, so the static plugin answers it.
    if (entry.etag?.startsWith('W/')) return false;
    const { start, end } = range.ranges[0]!;
    const body = entry.copyBody();
    if (body === null) return false;
    this.sent = end - start + 1;
    res.sendPrebuilt(
      entry.buildHead(206, partialFields(entry, start, end), end - start + 1, connection),
      body.subarray(start, end + 1),
    );
    return true;
  }

  private sendWhole(
    entry: E,
    isGet: boolean,
    connection: 'close' | 'keep-alive' | null,
    res: Response,
    now: number,
  ): boolean {
    if (isGet) this.sent = entry.bodyLength;
    if (connection === null) return entry.send(res, isGet, now);
    const body = isGet ? entry.copyBody() : null;
    if (isGet && body === null) return false;
    const head = entry.buildHead(entry.record.status, entry.record.fields, entry.bodyLength, connection);
    res.sendPrebuilt(head, body);
    return true;
  }
}

function notModifiedFields(entry: ServableEntry): StoredField[] {
  return entry.record.fields.filter(([name]) => NOT_MODIFIED_FIELDS.has(name.toLowerCase()));
}

/**
 * The 206's fields, laid out as the static plugin sets them: the 200's fields with Content-Length of the
 * part and Content-Range right after it (RFC 9110 §14.4).
 */
function partialFields(entry: ServableEntry, start: number, end: number): StoredField[] {
  const fields: StoredField[] = [];
  let placed = false;
  for (const field of entry.record.fields) {
    if (field[0].toLowerCase() !== 'content-length') {
      fields.push(field);
      continue;
    }
    fields.push([field[0], String(end - start + 1)]);
    fields.push(['Content-Range', `bytes ${start}-${end}/${entry.bodyLength}`]);
    placed = true;
  }
  if (!placed) fields.push(['Content-Range', `bytes ${start}-${end}/${entry.bodyLength}`]);
  return fields;
}
