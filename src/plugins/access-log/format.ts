/**
 * Access log line formats: Apache/nginx "combined" and JSON lines. Pure functions of the request, the
 * response and the clock, so they are tested from tables.
 */
import type { Request, Response } from '../../http/types.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

let cachedSecond = -1;
let cachedStamp = '';

/** `10/Oct/2000:13:55:36 +0000` (UTC), recomputed at most once per second. */
export function clfTimestamp(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    const pad = (n: number) => (n < 10 ? '0' + n : String(n));
    cachedStamp =
      `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    cachedSecond = second;
  }
  return cachedStamp;
}

/**
 * Escape a value for a quoted CLF field: `"` and `\` are backslash-escaped and control bytes become
 * `\xNN`, so a client cannot forge log lines with CR/LF (nginx does the same).
 */
export function escapeClf(value: string): string {
  if (!/["\\\x00-\x1f\x7f]/.test(value)) return value;
  return value.replace(/["\\\x00-\x1f\x7f]/g, (c) =>
    c === '"' || c === '\\' ? '\\' + c : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'),
  );
}

/**
 * One line in the combined log format, newline included. The request-target is logged as the client sent
 * it, before normalisation (nginx's `$request`). A request whose line the engine could not read
 * (it answered 400, 414, 408 or 503 by itself: `req.method === ''`) is logged with `"-"` as the request,
 * as nginx does.
 */
export function formatCombined(req: Request, res: Response, nowMs: number): string {
  const referer = req.headers.get('referer');
  const agent = req.headers.get('user-agent');
  return (
    (req.clientAddress ?? req.connection.remoteAddress) +
    ' - - [' +
    clfTimestamp(nowMs) +
    (req.method === ''
      ? '] "-" '
      : '] "' +
        escapeClf(req.method) +
        ' ' +
        escapeClf(req.originalTarget ?? req.rawTarget ?? req.target) +
        (req.versionMinor === 1 ? ' HTTP/1.1" ' : ' HTTP/1.0" ')) +
    res.statusCode +
    ' ' +
    (res.bodyBytes === 0 ? '-' : res.bodyBytes) +
    ' "' +
    (referer === undefined ? '-' : escapeClf(referer)) +
    '" "' +
    (agent === undefined ? '-' : escapeClf(agent)) +
    '"\n'
  );
}

/**
 * One JSON object per line, newline included. `durationMs` is the time since the head was parsed. When
 * the engine could not read the request line (`req.method === ''`), `method`, `target` and `version` are
 * `null`.
 */
export function formatJson(req: Request, res: Response, nowMs: number, durationMs: number): string {
  const parsed = req.method !== '';
  return (
    JSON.stringify({
      time: new Date(nowMs).toISOString(),
      remote: req.clientAddress ?? req.connection.remoteAddress,
      host: req.host,
      method: parsed ? req.method : null,
      target: parsed ? (req.originalTarget ?? req.rawTarget ?? req.target) : null,
      version: parsed ? (req.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0') : null,
      status: res.statusCode,
      bytes: res.bodyBytes,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      referer: req.headers.get('referer') ?? null,
      user_agent: req.headers.get('user-agent') ?? null,
      aborted: res.aborted,
    }) + '\n'
  );
}
