/**
 * Small message helpers of the HTTP cache: a stored field list seen as a `HeaderList`, and copies of a
 * client request that the cache sends upstream on its own account (validation, background refresh).
 */
import type { StoredField } from '../cache/entry.ts';
import { parseHttpDate } from '../http/semantics/http-date.ts';
import type { HeaderList, Request } from '../http/types.ts';

/** A HeaderList view of stored fields (to re-run the storage decision on merged fields). */
export function fieldsToHeaders(fields: readonly StoredField[]): HeaderList {
  const names = fields.map(([n]) => n.toLowerCase());
  const find = (name: string) => names.indexOf(name);
  return {
    length: fields.length,
    name: (i) => names[i]!,
    rawName: (i) => fields[i]![0],
    value: (i) => fields[i]![1],
    get: (name) => {
      const i = find(name);
      return i === -1 ? undefined : fields[i]![1];
    },
    getJoined: (name) => {
      const all = fields.filter((_, i) => names[i] === name).map(([, v]) => v);
      return all.length === 0 ? undefined : all.join(', ');
    },
    getAll: (name) => fields.filter((_, i) => names[i] === name).map(([, v]) => v),
    has: (name) => find(name) !== -1,
  };
}

/** A copy of `req` with other headers (and no body): what the cache sends upstream on its own account. */
export function withHeaders(req: Request, headers: HeaderList): Request {
  return {
    method: req.method === 'HEAD' ? 'GET' : req.method,
    target: req.target,
    rawTarget: req.rawTarget,
    path: req.path,
    query: req.query,
    versionMinor: req.versionMinor,
    headers,
    host: req.host,
    body: null,
    trailers: null,
    keepAlive: req.keepAlive,
    connection: req.connection,
    startTime: req.startTime,
  };
}

export function withMethod(req: Request, method: string): Request {
  return { ...withHeaders(req, req.headers), method };
}

/** Parse a Date field (ms), falling back to `fallback` (RFC 9110 §6.6.1). */
export function dateOf(value: string | undefined, fallback: number): number {
  const parsed = value === undefined ? undefined : parseHttpDate(value);
  return parsed ?? fallback;
}
