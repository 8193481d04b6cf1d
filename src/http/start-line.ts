/**
 * The first line of a message (RFC 9112 §3, §4): a request line (method, request-target in its four forms,
 * version) or a status line (version, status code, reason). The parser layer that reads them, with the
 * method list and the request-target helpers it uses.
 */
import * as host from './host.ts';
import { ParserState } from './parser-state.ts';
import * as parserTables from './parser-tables.ts';
import * as paths from './path.ts';
import type { HttpErrorCode } from './types.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { FIELD_VALUE, isDigit, SP, TARGET, TOKEN } = parserTables;
const { hostOf } = host;
const { normalisePath, pathNeedsNormalising } = paths;

/** The request methods llhttp recognises (Node's `http.METHODS`). */
const KNOWN_METHODS = new Set([
  'ACL',
  'BIND',
  'CHECKOUT',
  'CONNECT',
  'COPY',
  'DELETE',
  'GET',
  'HEAD',
  'LINK',
  'LOCK',
  'M-SEARCH',
  'MERGE',
  'MKACTIVITY',
  'MKCALENDAR',
  'MKCOL',
  'MOVE',
  'NOTIFY',
  'OPTIONS',
  'PATCH',
  'POST',
  'PROPFIND',
  'PROPPATCH',
  'PURGE',
  'PUT',
  'QUERY',
  'REBIND',
  'REPORT',
  'SEARCH',
  'SOURCE',
  'SUBSCRIBE',
  'TRACE',
  'UNBIND',
  'UNLINK',
  'UNLOCK',
  'UNSUBSCRIBE',
]);

/**
 * Whether a server accepts `method`: one Node's llhttp knows, or one of `extra` (`HttpLimits.extraMethods`,
 * the methods a plugin answers). Any other is answered 501, over HTTP/1.1 and HTTP/2 alike.
 */
export function isKnownMethod(method: string, extra: ReadonlySet<string> | undefined): boolean {
  return KNOWN_METHODS.has(method) || extra?.has(method) === true;
}

/** The parser layer that reads request and status lines into the message state. */
export abstract class StartLineParser extends ParserState {
  /** Reads `src[start..end)`, a request line without its CRLF, into method, target, version and host. */
  protected requestLine(src: string, start: number, end: number): void {
    // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single SPs only.
    let i = start;
    while (i < end && TOKEN[src.charCodeAt(i)] === 1) i++;
    if (i === start || i === end || src.charCodeAt(i) !== SP) this.badByte(src, i, end, 'invalid method');
    const method = methodOf(src, start, i, this.limits.extraMethods);
    if (method === undefined) this.fail('ERR_HTTP_BAD_REQUEST_LINE', 501, 'method not implemented');
    const targetStart = ++i;
    // One scan finds the target's end and whether its path may need normalising (path.ts): TARGET is 2
    // for `/ % \ ?`, and only a `%`, a `\`, or a `/` before `/` or `.` (until the `?`) can mean work.
    let unusual = false;
    let inPath = true;
    for (; i < end; i++) {
      const t = TARGET[src.charCodeAt(i)];
      if (t === 1) continue;
      if (t === 0) break;
      if (inPath) {
        const c = src.charCodeAt(i);
        if (c === 0x3f) inPath = false;
        else if (c !== 0x2f) unusual = true;
        else {
          const next = src.charCodeAt(i + 1);
          if (next === 0x2f || next === 0x2e) unusual = true;
        }
      }
    }
    if (i === targetStart || i === end || src.charCodeAt(i) !== SP) {
      this.badByte(
        src,
        i,
        end,
        src.charCodeAt(i) === 0x23 ? 'fragment in request-target' : 'invalid request-target',
      );
    }
    const targetEnd = i++;
    this.versionMinor = this.version(src, i, end, 'ERR_HTTP_BAD_REQUEST_LINE');
    this.method = method;
    this.requestTarget(src, targetStart, targetEnd, method, unusual);
  }

  /** HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); only 1.0 and 1.1 are served. */
  private version(src: string, i: number, end: number, code: HttpErrorCode): 0 | 1 {
    if (
      end - i === 8 &&
      src.charCodeAt(i) === 0x48 &&
      src.charCodeAt(i + 1) === 0x54 &&
      src.charCodeAt(i + 2) === 0x54 &&
      src.charCodeAt(i + 3) === 0x50
    ) {
      const major = src.charCodeAt(i + 5);
      const minor = src.charCodeAt(i + 7);
      if (
        src.charCodeAt(i + 4) === 0x2f &&
        src.charCodeAt(i + 6) === 0x2e &&
        isDigit(major) &&
        isDigit(minor)
      ) {
        if (major === 0x31 && (minor === 0x30 || minor === 0x31)) return minor === 0x31 ? 1 : 0;
        this.fail('ERR_HTTP_BAD_VERSION', 505, 'HTTP version not supported');
      }
    }
    return this.badByte(src, i, end, 'invalid HTTP version', code);
  }

  /** RFC 9112 §3.2: origin-form, absolute-form, authority-form (CONNECT), asterisk-form (OPTIONS). */
  private requestTarget(src: string, start: number, end: number, method: string, unusual: boolean): void {
    const first = src.charCodeAt(start);
    if (method === 'CONNECT') {
      // authority-form only: host:port, no path (RFC 9112 §3.2.3).
      const authority = src.slice(start, end);
      const host = hostOf(authority, true);
      if (host === undefined || host === '')
        this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, 'CONNECT needs host:port');
      this.host = host;
      this.targetHasHost = true;
      this.target = authority;
      this.rawTarget = authority;
      return;
    }
    if (first === 0x2f) {
      this.originForm(src, start, end, unusual);
      return;
    }
    if (first === 0x2a && end - start === 1) {
      if (method !== 'OPTIONS') this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, '* is only for OPTIONS');
      this.target = '*';
      this.rawTarget = '*';
      return;
    }
    // absolute-form (RFC 9112 §3.2.2): normalised to origin-form, the authority becomes the host.
    const scheme = schemeLength(src, start, end);
    if (scheme === 0) this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, 'invalid request-target');
    let i = start + scheme;
    const authorityStart = i;
    while (i < end && src.charCodeAt(i) !== 0x2f && src.charCodeAt(i) !== 0x3f) i++;
    const host = hostOf(src.slice(authorityStart, i), false);
    if (host === undefined || host === '')
      this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, 'invalid target authority');
    this.host = host;
    this.targetHasHost = true;
    if (i < end && src.charCodeAt(i) === 0x2f) this.originForm(src, i, end, unusual);
    else this.target = this.rawTarget = i === end ? '/' : '/' + src.slice(i, end);
  }

  /**
   * `src[start..end)` is an origin-form target (RFC 9112 §3.2.1): `rawTarget` is it as sent, `target` its
   * normal form (path.ts), the one every later reader of the path uses. Almost always the same string:
   * `unusual` is false for nearly every request (the request-line scan saw nothing to normalise).
   */
  private originForm(src: string, start: number, end: number, unusual: boolean): void {
    const raw = end - start === 1 ? '/' : src.slice(start, end);
    this.rawTarget = raw;
    if (!unusual || !pathNeedsNormalising(src, start, end)) {
      this.target = raw;
      return;
    }
    let pathEnd = src.indexOf('?', start);
    if (pathEnd === -1 || pathEnd > end) pathEnd = end;
    const path = normalisePath(src, start, pathEnd);
    if (path.charCodeAt(0) !== 0x2f) this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, path);
    this.target = pathEnd === end ? path : path + src.slice(pathEnd, end);
  }

  /** Reads `src[start..end)`, a status line without its CRLF, into version, status and reason. */
  protected statusLine(src: string, start: number, end: number): void {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); the SP before an empty
    // reason is tolerated when missing, as llhttp and browsers do.
    if (end - start < 12 || src.charCodeAt(start + 8) !== SP)
      this.fail('ERR_HTTP_BAD_STATUS_LINE', 502, 'bad status line');
    this.versionMinor = this.version(src, start, start + 8, 'ERR_HTTP_BAD_STATUS_LINE');
    const a = src.charCodeAt(start + 9);
    const b = src.charCodeAt(start + 10);
    const c = src.charCodeAt(start + 11);
    if (
      !isDigit(a) ||
      !isDigit(b) ||
      !isDigit(c) ||
      (end > start + 12 && src.charCodeAt(start + 12) !== SP)
    ) {
      this.fail('ERR_HTTP_BAD_STATUS_LINE', 502, 'bad status code');
    }
    this.status = (a - 48) * 100 + (b - 48) * 10 + (c - 48);
    if (this.status < 100 || this.status > 599) this.fail('ERR_HTTP_BAD_STATUS_LINE', 502, 'bad status code');
    for (let i = start + 13; i < end; i++) {
      if (FIELD_VALUE[src.charCodeAt(i)] === 0)
        this.fail('ERR_HTTP_BAD_STATUS_LINE', 502, 'invalid byte in reason');
    }
    this.reason = end > start + 13 ? src.slice(start + 13, end) : '';
  }
}

/** Interned strings for the common methods; `undefined` for a method llhttp would not accept. */
function methodOf(
  src: string,
  start: number,
  end: number,
  extra: ReadonlySet<string> | undefined,
): string | undefined {
  const len = end - start;
  const c = src.charCodeAt(start);
  if (len === 3 && c === 0x47 && src.charCodeAt(start + 1) === 0x45 && src.charCodeAt(start + 2) === 0x54)
    return 'GET';
  if (
    len === 4 &&
    c === 0x48 &&
    src.charCodeAt(start + 1) === 0x45 &&
    src.charCodeAt(start + 2) === 0x41 &&
    src.charCodeAt(start + 3) === 0x44
  ) {
    return 'HEAD';
  }
  const method = src.slice(start, end);
  return isKnownMethod(method, extra) ? method : undefined;
}

/** Length of a leading `http://` or `https://` (case-insensitive), else 0. */
function schemeLength(src: string, start: number, end: number): number {
  if (end - start < 7) return 0;
  const h = src.charCodeAt(start) | 0x20;
  const t1 = src.charCodeAt(start + 1) | 0x20;
  const t2 = src.charCodeAt(start + 2) | 0x20;
  const p = src.charCodeAt(start + 3) | 0x20;
  if (h !== 0x68 || t1 !== 0x74 || t2 !== 0x74 || p !== 0x70) return 0;
  let i = start + 4;
  if ((src.charCodeAt(i) | 0x20) === 0x73) i++;
  return src.charCodeAt(i) === 0x3a && src.charCodeAt(i + 1) === 0x2f && src.charCodeAt(i + 2) === 0x2f
    ? i + 3 - start
    : 0;
}
