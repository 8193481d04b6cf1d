/**
 * The one serialiser of pre-built response heads (cached entries, answers built from them): laid out
 * exactly as the engine's writer lays out a head (src/http/response.ts: status line, the producer's fields
 * in order, then `Date`, `Content-Length`, `Connection` as needed), so that a cached answer is
 * byte-identical to the uncached one except for the time in `Date`. The engine keeps its own loop: it
 * reads its field arrays and decides the framing while it writes, on every uncached response.
 */
import { statusLine } from '../status.ts';
import type { Request } from '../types.ts';

const CRLF = '\r\n';

/** A header field ready to serialise: name as the producer spelled it, value as a string. */
export type HeadField = readonly [name: string, value: string];

/**
 * The `Connection` field an answer built outside the engine needs: none for the HTTP/1.1 keep-alive common
 * case (what pre-built bytes assume), `close` when the connection ends, `keep-alive` for HTTP/1.0.
 */
export function connectionFor(req: Request): 'close' | 'keep-alive' | null {
  return !req.keepAlive ? 'close' : req.versionMinor === 0 ? 'keep-alive' : null;
}

/**
 * Serialise a head the way the engine does. `contentLength` is added unless the producer set it;
 * `connection` is `'close'`, `'keep-alive'` or `null` (no field). Returns the text and the offset of the
 * 29 `Date` bytes in it (latin1: one byte per character), or -1 when `date` is null (no Date slot).
 */
export function serializeHead(
  status: number,
  reason: string,
  fields: readonly HeadField[],
  contentLength: number | null,
  connection: 'close' | 'keep-alive' | null,
  date: string | null,
): { text: string; dateOffset: number } {
  let text = reason === '' ? statusLine(status) : 'HTTP/1.1 ' + status + ' ' + reason + CRLF;
  // RFC 9110 §8.6: 1xx and 204 carry no Content-Length; the engine drops a producer's one there too.
  const noLength = status < 200 || status === 204;
  let hasLength = false;
  for (const [name, value] of fields) {
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (noLength) continue;
      hasLength = true;
    }
    text += name + ': ' + value + CRLF;
  }
  // `date` null: the fields carry their own Date (a proxied response keeps the origin's, RFC 9110 §6.6.1).
  let dateOffset = -1;
  if (date !== null) {
    text += 'Date: ';
    dateOffset = text.length;
    text += date + CRLF;
  }
  if (contentLength !== null && !hasLength) text += 'Content-Length: ' + contentLength + CRLF;
  if (connection !== null) text += 'Connection: ' + connection + CRLF;
  return { text: text + CRLF, dateOffset };
}
