/**
 * Custom access log lines from a template with nginx-style variables (`$remote_addr $request $status
 * $upstream_cache_status ...`), parsed once at start-up into a list of literal strings and variable
 * readers; a line is one pass over that list. Unknown variables are config errors.
 */
import type { Request, Response } from '../../http/types.ts';
import { clfTimestamp, escapeClf } from './format.ts';

/** What a variable reads. `nowMs` is epoch ms, `durationMs` the time since the head was parsed. */
type Reader = (req: Request, res: Response, nowMs: number, durationMs: number) => string;

const dash = (value: string | undefined): string =>
  value === undefined || value === '' ? '-' : escapeClf(value);
const seconds = (ms: number): string => (ms / 1000).toFixed(3);

const VARIABLES: Readonly<Record<string, Reader>> = {
  remote_addr: (req) => req.clientAddress ?? req.connection.remoteAddress,
  remote_port: (req) => String(req.connection.remotePort),
  realip_remote_addr: (req) => req.connection.peerAddress ?? req.connection.remoteAddress,
  request: (req) =>
    req.method === ''
      ? '-'
      : `${escapeClf(req.method)} ${escapeClf(req.originalTarget ?? req.rawTarget ?? req.target)} HTTP/1.${req.versionMinor}`,
  request_method: (req) => dash(req.method),
  request_uri: (req) => dash(req.originalTarget ?? req.rawTarget ?? req.target),
  uri: (req) => dash(req.path),
  args: (req) => dash(req.query),
  host: (req) => dash(req.host),
  server_protocol: (req) => (req.method === '' ? '-' : `HTTP/1.${req.versionMinor}`),
  status: (_req, res) => String(res.statusCode),
  body_bytes_sent: (_req, res) => String(res.bodyBytes),
  request_time: (_req, _res, _now, durationMs) => seconds(durationMs),
  msec: (_req, _res, nowMs) => seconds(nowMs),
  time_local: (_req, _res, nowMs) => clfTimestamp(nowMs),
  time_iso8601: (_req, _res, nowMs) => new Date(nowMs).toISOString(),
  connection: (req) => String(req.connection.id),
  connection_requests: (req) => String(req.connection.requestCount),
  http_referer: (req) => dash(req.headers.get('referer')),
  http_user_agent: (req) => dash(req.headers.get('user-agent')),
  upstream_cache_status: (_req, res) => dash(res.cacheStatus),
  upstream_addr: (_req, res) => dash(res.upstreamAddress),
  upstream_response_time: (_req, res) =>
    res.upstreamTime === undefined || res.upstreamTime < 0 ? '-' : seconds(res.upstreamTime),
};

/** The variables a template may use (besides `$http_<name>` and `$sent_http_<name>`). */
export const TEMPLATE_VARIABLES: readonly string[] = Object.keys(VARIABLES);

/** A compiled template: `format(req, res, nowMs, durationMs)` returns the line with its newline. */
export interface LogTemplate {
  format(req: Request, res: Response, nowMs: number, durationMs: number): string;
}

/** Compile `template`; throws an Error naming the first unknown variable. */
export function compileTemplate(template: string): LogTemplate {
  const literals: string[] = [];
  const readers: Reader[] = [];
  let last = 0;
  // `${name}` or `$name`, as nginx writes them.
  const pattern = /\$(?:\{([a-z0-9_]+)\}|([a-z0-9_]+))/gi;
  for (const m of template.matchAll(pattern)) {
    const name = (m[1] ?? m[2]!).toLowerCase();
    literals.push(template.slice(last, m.index));
    readers.push(readerFor(name));
    last = m.index + m[0].length;
  }
  const tail = `${template.slice(last)}\n`;
  return {
    format(req, res, nowMs, durationMs) {
      let line = '';
      for (let i = 0; i < readers.length; i++)
        line += literals[i]! + readers[i]!(req, res, nowMs, durationMs);
      return line + tail;
    },
  };
}

function readerFor(name: string): Reader {
  const known = VARIABLES[name];
  if (known !== undefined) return known;
  if (name.startsWith('http_')) {
    const header = name.slice(5).replaceAll('_', '-');
    return (req) => dash(req.headers.getJoined(header));
  }
  if (name.startsWith('sent_http_')) {
    const header = name.slice(10).replaceAll('_', '-');
    return (_req, res) => {
      const value = res.getHeader(header);
      return value === undefined ? '-' : escapeClf(Array.isArray(value) ? value.join(', ') : String(value));
    };
  }
  throw new Error(
    `unknown variable $${name} (known: ${TEMPLATE_VARIABLES.map((v) => `$${v}`).join(' ')}, $http_<name>, $sent_http_<name>)`,
  );
}
