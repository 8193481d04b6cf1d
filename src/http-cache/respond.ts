/**
 * Answers built from a stored proxied response: the whole response (GET or HEAD), a 304 for a client's
 * satisfied conditional request (RFC 9111 §4.3.2), a 206 / 416 for a Range request on a stored full
 * response (RFC 9110 §14), each with the current `Age` (§5.1) and this cache's `Cache-Status` (RFC 9211).
 * The plain fresh hit never comes here: it is the entry's pre-built buffer (see `ProxyEntry.serve`).
 */
import { SEPARATE_BODY_MIN, type StoredField } from '../cache/entry.ts';
import { hasConditionalOrRange } from '../http/semantics/conditional.ts';
import { connectionFor, serializeHead } from '../http/semantics/head.ts';
import { evaluateRange, planMultipart, unsatisfiedRange } from '../http/semantics/range.ts';
import type { Request, Response } from '../http/types.ts';
import { type CacheStatusParts, cacheStatus } from './cache-status.ts';
import type { ProxyEntry } from './proxy-entry.ts';
import { evaluateClientConditional, fieldOf, NOT_MODIFIED_FIELDS } from './validation.ts';

/** The head of an answer built per request (see `send` for its body). */
function head(
  status: number,
  reason: string,
  fields: readonly StoredField[],
  contentLength: number | null,
  connection: 'close' | 'keep-alive' | null,
): Buffer {
  return Buffer.from(serializeHead(status, reason, fields, contentLength, connection, null).text, 'latin1');
}

/**
 * Send a head built per request and its body: a small body copied behind the head (one buffer, one plain
 * write), a large one beside it (one corked writev, never a copy of a big stored body per request): the
 * threshold at which the static cache keeps bodies apart, for the same reason.
 */
function send(res: Response, head: Buffer, body: Buffer | null): void {
  if (body === null || body.length === 0) res.sendPrebuilt(head);
  else if (body.length >= SEPARATE_BODY_MIN) res.sendPrebuilt(head, body);
  else res.sendPrebuilt(Buffer.concat([head, body], head.length + body.length));
}

/** Cache-Status parts that say no more than "hit": the member the entry's pre-built bytes carry. */
function plainHit(parts: CacheStatusParts): boolean {
  return (
    parts.hit === true &&
    parts.fwd === undefined &&
    parts.fwdStatus === undefined &&
    parts.ttl === undefined &&
    parts.stored !== true &&
    parts.collapsed !== true &&
    parts.detail === undefined
  );
}

/**
 * Answer `req` from `entry`: 304, 206, 416 or the whole response, as the request's conditionals and Range
 * ask. `parts` describe this cache's part in it (Cache-Status); `name` is the cache's name there.
 */
export function answerFromEntry(
  entry: ProxyEntry,
  req: Request,
  res: Response,
  now: number,
  name: string,
  parts: CacheStatusParts,
): void {
  const connection = connectionFor(req);
  const isGet = req.method === 'GET';
  const origin = entry.originFields;
  if (hasConditionalOrRange(req.headers)) {
    const conditional = evaluateClientConditional(req.headers, origin, entry.responseTime);
    if (conditional === 'not-modified' && entry.record.status === 200) {
      if (connection === null && plainHit(parts)) {
        res.sendPrebuilt(entry.serveNotModified(now));
        return;
      }
      // RFC 9110 §15.4.5: the fields a 200 would have carried that describe caching and validators.
      const fields = origin.filter(([n]) => NOT_MODIFIED_FIELDS.has(n.toLowerCase()));
      res.sendPrebuilt(head(304, '', [...fields, ...ownFields(entry, now, name, parts)], null, connection));
      return;
    }
    if (entry.record.status === 200) {
      const size = entry.bodyLength;
      const range = evaluateRange(req.headers, req.method, size, entry.etag, entry.lastModifiedMs);
      if (range.type === 'unsatisfiable') {
        const fields: StoredField[] = [
          ['Content-Range', unsatisfiedRange(size)],
          ...ownFields(entry, now, name, parts),
        ];
        const date = fieldOf(origin, 'date');
        if (date !== undefined) fields.unshift(['Date', date]);
        res.sendPrebuilt(head(416, '', fields, 0, connection));
        return;
      }
      if (range.type === 'partial') {
        const body = entry.readBody();
        // A shared entry that left the store while this answer was being built: no mixed bytes, ever.
        if (body === null) {
          res.destroy();
          return;
        }
        const fields = origin.filter(([n]) => n.toLowerCase() !== 'content-length');
        if (range.ranges.length === 1) {
          const { start, end } = range.ranges[0]!;
          fields.push(
            ['Content-Range', `bytes ${start}-${end}/${size}`],
            ...ownFields(entry, now, name, parts),
          );
          send(
            res,
            head(206, '', fields, end - start + 1, connection),
            isGet ? body.subarray(start, end + 1) : null,
          );
          return;
        }
        const type = fieldOf(origin, 'content-type') ?? 'application/octet-stream';
        const plan = planMultipart(range.ranges, size, type);
        const withoutType = fields.filter(([n]) => n.toLowerCase() !== 'content-type');
        withoutType.push(['Content-Type', plan.contentType], ...ownFields(entry, now, name, parts));
        const pieces: Buffer[] = [];
        for (let i = 0; i < range.ranges.length; i++) {
          const r = range.ranges[i]!;
          pieces.push(plan.heads[i]!, body.subarray(r.start, r.end + 1));
        }
        pieces.push(plan.tail);
        send(res, head(206, '', withoutType, plan.length, connection), isGet ? Buffer.concat(pieces) : null);
        return;
      }
    }
  }
  // The whole response. A plain fresh hit that came the slow way (a request Cache-Control, a conditional
  // that failed) is the entry's pre-built bytes: the very answer of the fast path.
  if (connection === null && plainHit(parts) && entry.send(res, isGet, now)) return;
  const { status, reason } = entry.record;
  const body = isGet ? entry.readBody() : null;
  if (isGet && body === null) {
    res.destroy();
    return;
  }
  send(
    res,
    head(status, reason, [...origin, ...ownFields(entry, now, name, parts)], entry.bodyLength, connection),
    body,
  );
}

/** The fields this cache adds to an answer from the store: Age (§5.1) and its Cache-Status member. */
function ownFields(entry: ProxyEntry, now: number, name: string, parts: CacheStatusParts): StoredField[] {
  return [
    ['Age', String(entry.ageSeconds(now))],
    ['Cache-Status', cacheStatus(name, parts)],
  ];
}

/** Append this cache's member to a response's Cache-Status (after the ones of caches nearer the origin). */
export function appendCacheStatus(res: Response, value: string): void {
  const previous = res.getHeader('cache-status');
  if (previous === undefined) res.setHeader('Cache-Status', value);
  else if (typeof previous === 'string') res.setHeader('Cache-Status', [previous, value]);
  else if (typeof previous === 'number') res.setHeader('Cache-Status', [String(previous), value]);
  else res.setHeader('Cache-Status', [...previous, value]);
}

/** A short plain-text answer made by the cache itself (504 for only-if-cached, purge replies). */
export function sendText(res: Response, status: number, text: string, cacheStatusValue: string | null): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  if (cacheStatusValue !== null) res.setHeader('Cache-Status', cacheStatusValue);
  res.end(`${text}\n`);
}
