/**
 * The hit path over the shared store: as `HitResponder` (src/cache/hit.ts) — one lookup, two number
 * compares, a scan of the header names for validators, one `sendPrebuilt` — but the lookup is in shared
 * memory and the bytes are copied or pinned (see entry.ts). An entry that leaves while it is being read is
 * a miss: the static plugin answers.
 */

import { checkPreconditions, hasConditionalOrRange } from '../../http/semantics/conditional.ts';
import { connectionFor } from '../../http/semantics/head.ts';
import { evaluateRange } from '../../http/semantics/range.ts';
import type { Request, Response } from '../../http/types.ts';
import { NOT_MODIFIED_FIELDS, type StoredField } from '../entry.ts';
import { revalidate } from '../freshness.ts';
import type { CacheStats } from '../stats.ts';
import type { SharedStoreClient } from './client.ts';
import type { SharedEntry } from './entry.ts';

/** Answers requests from the shared store (one per worker). */
export class SharedHitResponder {
  private readonly store: SharedStoreClient;
  private readonly stats: CacheStats;
  /** Body bytes of the answer being sent (for the hit's count of bytes served from the cache). */
  private sent = 0;
  private readonly revalidateMs: number;
  private readonly claimedElsewhere: (req: Request) => boolean;
  /** The configuration stamp of entries this responder may serve (see `SharedMeta.stamp`). */
  private readonly stamp: number;

  /**
   * @param claimedElsewhere whether another handler (a proxy route) takes `req`: asked for entries flagged
   *   `routed`, as `HitResponder` does
   * @param stamp the stamp of the configuration serving: an entry stored under another one is a miss
   */
  constructor(
    store: SharedStoreClient,
    stats: CacheStats,
    revalidateMs: number,
    claimedElsewhere: (req: Request) => boolean,
    stamp: number,
  ) {
    this.store = store;
    this.stats = stats;
    this.revalidateMs = revalidateMs;
    this.claimedElsewhere = claimedElsewhere;
    this.stamp = stamp;
  }

  /** Serve `key` if possible; counts the hit. `false`: the caller treats it as a miss. */
  tryServe(key: string, req: Request, res: Response, now: number): boolean {
    const entry = this.store.get(key, now);
    if (entry === undefined) return false;
    const record = entry.record;
    // Stored under another configuration (before a reload): its head may say what this one no longer
    // would; the miss stores it again.
    if (record.stamp !== this.stamp) return false;
    if (record.routed && this.claimedElsewhere(req)) return false;
    if (now >= entry.checkAt && !revalidate(entry, now, this.revalidateMs)) {
      void this.store.delete(key, 'invalidated').catch(() => {});
      return false;
    }
    // The entry's hit count is kept by the owner as it drains this worker's hit ring.
    this.sent = 0;
    if (!this.answer(entry, req, res, now)) return false;
    this.stats.hit(now, this.sent);
    return true;
  }

  private answer(entry: SharedEntry, req: Request, res: Response, now: number): boolean {
    const isGet = req.method === 'GET';
    const connection = connectionFor(req);
    if (!hasConditionalOrRange(req.headers)) return this.sendWhole(entry, isGet, connection, res, now);
    const headers = req.headers;
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
    entry: SharedEntry,
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

function notModifiedFields(entry: SharedEntry): StoredField[] {
  return entry.record.fields.filter(([name]) => NOT_MODIFIED_FIELDS.has(name.toLowerCase()));
}

/** The 206's fields, as the static plugin lays them out (see src/cache/hit.ts). */
function partialFields(entry: SharedEntry, start: number, end: number): StoredField[] {
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
