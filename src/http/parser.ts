/**
 * Tamarin's strict, incremental HTTP/1.1 parser (RFC 9112), for requests (the server) and responses (the
 * proxy's upstream client). It rejects rather than guesses wherever two implementations could disagree on
 * where a message ends: that disagreement is what request smuggling and response desync are made of.
 *
 * Shape: a state machine fed with socket reads. When the rest of a head is in one read (the common case),
 * one `indexOf(CRLFCRLF)` and one latin1 decode turn it into a string, and lines, names and values are cut
 * from it in JS (a native call per field would cost more than the parsing). Only a line that straddles two
 * reads is copied into a small scratch buffer and decoded on its own, so a head fed 1 byte at a time costs
 * O(n). Chunk-size lines are parsed from the bytes. Body chunks are `subarray` views of the input.
 *
 * Deliberate choices (each one is checked against Node's llhttp in test/http-differential.test.ts):
 * - A line ending is CRLF. A bare LF ends nothing and is rejected, as llhttp does in strict mode; the only
 *   exception is the empty lines before a request line, which RFC 9112 §2.2 lets a server ignore and which
 *   llhttp skips whether they are CRLF or LF. A bare CR is rejected everywhere (RFC 9112 §2.2).
 * - Methods: a token that Node's llhttp also knows (`http.METHODS`); another token is answered 501
 *   (RFC 9110 §9.1), so we are never more permissive than llhttp.
 * - Content-Length may appear once (llhttp rejects even identical duplicates in requests; responses may
 *   repeat an identical value, RFC 9110 §8.6).
 */
import { Headers } from './headers.ts';
import { HttpParseError } from './parse-error.ts';
import type { HeaderList, HttpErrorCode, HttpLimits, ParsedHead, ParserHandler } from './types.ts';

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** Reads up to this size are decoded whole instead of searched for the end of the head first. */
const SMALL_READ = 2048;

/** Longest chunk-size line (size + extensions) we buffer; llhttp has no bound, we do. */
const MAX_CHUNK_LINE = 4096;
/** Largest body length representable without losing integer precision in a double. */
const MAX_LENGTH = 2 ** 52;

// Byte classes, as lookup tables (one load per byte on the hot path).
/** tchar, RFC 9110 §5.6.2. */
const TOKEN = new Uint8Array(256);
/** field-value bytes, RFC 9110 §5.5: 0 = forbidden (CTL, DEL), 1 = SP/HTAB, 2 = VCHAR / obs-text. */
const FIELD_VALUE = new Uint8Array(256);
/** request-target bytes: visible ASCII except `#` (a fragment is never part of a target, RFC 9112 §3.2). */
const TARGET = new Uint8Array(256);
/** authority bytes (RFC 3986 §3.2): unreserved, sub-delims, `%`, `:`, `[`, `]`. No userinfo `@`. */
const AUTHORITY = new Uint8Array(256);
/** qdtext (RFC 9110 §5.6.4): 1 = allowed inside a quoted-string without escaping. */
const QDTEXT = new Uint8Array(256);
/** Hex digit values, -1 for other bytes. */
const HEX = new Int8Array(256).fill(-1);

for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}
for (const c of "-._~!$&'()*+,;=%:[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  AUTHORITY[c.charCodeAt(0)] = 1;
}
for (let c = 0; c < 256; c++) {
  FIELD_VALUE[c] = c === SP || c === HTAB ? 1 : (c > 0x20 && c < 0x7f) || c > 0x7f ? 2 : 0;
  TARGET[c] = c > 0x20 && c < 0x7f && c !== 0x23 ? 1 : 0;
  QDTEXT[c] =
    c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x7e && c !== 0x5c) || c > 0x7f ? 1 : 0;
}
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

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

/** Trailer fields that would change framing, routing or the connection (RFC 9110 §6.5.1). */
const FORBIDDEN_TRAILERS = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'upgrade',
  'trailer',
]);

// Parser states.
const S_START = 0; // request/status line, or the empty lines before it
const S_FIELDS = 1; // header section
const S_BODY_LENGTH = 2; // Content-Length body
const S_CHUNK_SIZE = 3; // chunk-size line
const S_CHUNK_DATA = 4;
const S_CHUNK_CR = 5; // the CRLF after chunk data
const S_CHUNK_LF = 6;
const S_TRAILERS = 7; // trailer section after the last chunk
const S_BODY_EOF = 8; // close-delimited response body
const S_DONE = 9; // upgraded (bytes belong to a tunnel) or ended by EOF: nothing more to parse
const S_CLOSED = 10; // after a message without keep-alive: only empty lines may follow
const S_DEAD = 11;

// Connection option bits.
const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
const CONN_UPGRADE = 4;

/** Node exposes this on every Buffer; it skips `toString`'s encoding dispatch. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
function latin1(src: Buffer, start: number, end: number): string {
  return (src as unknown as Latin1Slicer).latin1Slice(start, end);
}

/**
 * Incremental HTTP/1.1 parser for one connection. Feed it socket reads with `execute`; it calls the
 * handler synchronously for every head, body chunk and message end the bytes contain (pipelining).
 */
export class HttpParser {
  private readonly isRequest: boolean;
  private readonly limits: HttpLimits;
  private readonly handler: ParserHandler;
  private state: number;
  private error: unknown;
  /** Holds the one line that straddles two reads. */
  private scratch: Buffer;
  private partialLen: number;
  /** Bytes of the current head (or trailer section) so far, for maxHeadSize. */
  private headBytes: number;
  /** Methods of requests whose responses are still to come (response mode). */
  private readonly pending: string[];

  // The message being parsed.
  private method: string;
  private target: string;
  private host: string;
  private status: number;
  private reason: string;
  private versionMinor: 0 | 1;
  private headers: Headers;
  private hostCount: number;
  private hostValue: string;
  private targetHasHost: boolean;
  private contentLength: number;
  private teCount: number;
  private teChunkedCount: number;
  private teFinalChunked: boolean;
  private teOther: boolean;
  private connection: number;
  private expectContinue: boolean;
  private upgradeHeader: boolean;
  private remaining: number;
  private bodyTotal: number;
  private trailers: Headers | null;
  /** The message being parsed is the connection's last (no keep-alive). */
  private closing: boolean;

  constructor(mode: 'request' | 'response', limits: HttpLimits, handler: ParserHandler) {
    this.isRequest = mode === 'request';
    this.limits = limits;
    this.handler = handler;
    this.state = S_START;
    this.error = null;
    this.scratch = EMPTY;
    this.partialLen = 0;
    this.headBytes = 0;
    this.pending = [];
    this.method = '';
    this.target = '';
    this.host = '';
    this.status = 0;
    this.reason = '';
    this.versionMinor = 1;
    this.headers = new Headers();
    this.hostCount = 0;
    this.hostValue = '';
    this.targetHasHost = false;
    this.contentLength = -1;
    this.teCount = 0;
    this.teChunkedCount = 0;
    this.teFinalChunked = false;
    this.teOther = false;
    this.connection = 0;
    this.expectContinue = false;
    this.upgradeHeader = false;
    this.remaining = 0;
    this.bodyTotal = 0;
    this.trailers = null;
    this.closing = false;
  }

  /** True when no partial message is buffered (between messages). */
  get idle(): boolean {
    const state = this.state;
    if (state === S_START) return this.partialLen === 0 && this.headBytes === 0;
    return state === S_DONE || state === S_CLOSED;
  }

  /** True while a head is partly received (the connection uses it for its header timeout). */
  get inHead(): boolean {
    return this.state === S_FIELDS || (this.state === S_START && (this.partialLen > 0 || this.headBytes > 0));
  }

  /**
   * Feeds bytes; returns how many were consumed: all of them, except after a head with `upgrade` set, where
   * the rest belongs to the tunnel (later calls then consume nothing). Throws `HttpParseError` on malformed
   * input; the parser is dead after that (every later call throws the same error) until `reset()`.
   * `end` (default: the whole buffer) lets a caller that reads into a reused buffer pass it without a view;
   * body chunks handed on are then views of `buf[0..end)`, valid only until the caller reuses the buffer.
   */
  execute(buf: Buffer, end: number = buf.length): number {
    if (this.state === S_DEAD) throw this.error;
    try {
      return this.run(buf, end);
    } catch (err) {
      this.state = S_DEAD;
      this.error = err;
      throw err;
    }
  }

  /** Response mode: the method of the next request sent (HEAD → no body). A FIFO for pipelining. */
  expectResponseTo(method: string): void {
    this.pending.push(method);
  }

  /**
   * The peer closed. Completes a close-delimited response body; throws `HttpParseError` when a message was
   * cut short. Does nothing between messages or on a dead parser (its error was already thrown).
   */
  finish(): void {
    const state = this.state;
    if (state === S_BODY_EOF) {
      this.state = S_DONE;
      this.handler.onMessageComplete(null);
      return;
    }
    // Empty lines after the last message (some clients send a CRLF after a body) are not a message.
    if (state === S_DEAD || state === S_DONE || state === S_CLOSED) return;
    if (state === S_START && (this.partialLen === 0 || (this.partialLen === 1 && this.scratch[0] === CR)))
      return;
    let err: HttpParseError;
    if (state === S_START || state === S_FIELDS) {
      err = this.failure('ERR_HTTP_BAD_HEADER', 400, 'connection closed inside a message head');
    } else if (state === S_BODY_LENGTH) {
      err = this.failure('ERR_HTTP_BAD_CONTENT_LENGTH', 400, 'connection closed before the end of the body');
    } else {
      err = this.failure('ERR_HTTP_BAD_CHUNK', 400, 'connection closed inside a chunked body');
    }
    this.state = S_DEAD;
    this.error = err;
    throw err;
  }

  /** Re-arms the parser for a new connection (pooling): forgets all state, errors and expected responses. */
  reset(): void {
    this.state = S_START;
    this.error = null;
    this.partialLen = 0;
    this.headBytes = 0;
    this.pending.length = 0;
    this.closing = false;
    this.startMessage();
  }

  private startMessage(): void {
    this.headBytes = 0;
    this.method = '';
    this.target = '';
    this.host = '';
    this.status = 0;
    this.reason = '';
    this.versionMinor = 1;
    this.hostCount = 0;
    this.hostValue = '';
    this.targetHasHost = false;
    this.contentLength = -1;
    this.teCount = 0;
    this.teChunkedCount = 0;
    this.teFinalChunked = false;
    this.teOther = false;
    this.connection = 0;
    this.expectContinue = false;
    this.upgradeHeader = false;
    this.remaining = 0;
    this.bodyTotal = 0;
    this.trailers = null;
  }

  private failure(code: HttpErrorCode, status: number, message: string): HttpParseError {
    return new HttpParseError(code, this.isRequest ? status : 502, message);
  }

  private fail(code: HttpErrorCode, status: number, message: string): never {
    throw this.failure(code, status, message);
  }

  private run(buf: Buffer, end: number): number {
    const whole = buf.length;
    let off = 0;
    while (off < end) {
      switch (this.state) {
        case S_START:
        case S_FIELDS:
        case S_CHUNK_SIZE:
        case S_TRAILERS:
          off = this.readLines(buf, off, end);
          break;
        case S_BODY_LENGTH: {
          const n = Math.min(this.remaining, end - off);
          this.remaining -= n;
          const chunk = n === whole ? buf : buf.subarray(off, off + n);
          off += n;
          this.handler.onBody(chunk);
          if (this.remaining === 0) this.messageComplete(null);
          break;
        }
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, end - off);
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_CHUNK_CR;
          const chunk = n === whole ? buf : buf.subarray(off, off + n);
          off += n;
          this.handler.onBody(chunk);
          break;
        }
        case S_CHUNK_CR:
          if (buf[off] !== CR) this.fail('ERR_HTTP_BAD_CHUNK', 400, 'chunk data not followed by CRLF');
          this.state = S_CHUNK_LF;
          off++;
          break;
        case S_CHUNK_LF:
          if (buf[off] !== LF) this.fail('ERR_HTTP_BAD_CHUNK', 400, 'chunk data not followed by CRLF');
          this.state = S_CHUNK_SIZE;
          this.headBytes = 0;
          off++;
          break;
        case S_BODY_EOF:
          this.handler.onBody(off === 0 && end === whole ? buf : buf.subarray(off, end));
          return end;
        case S_DONE:
          return off;
        case S_CLOSED: {
          // llhttp (strict) rejects any byte but CR/LF after a message that closes the connection: a
          // request smuggled behind `Connection: close` must not be parsed by one hop and dropped by another.
          const c = buf[off];
          if (c !== CR && c !== LF) {
            this.fail(
              'ERR_HTTP_BAD_REQUEST_LINE',
              400,
              'data after the last message of a closing connection',
            );
          }
          off++;
          break;
        }
        default:
          throw this.error;
      }
    }
    return end;
  }

  /** Processes complete lines from `buf[off..end)`; buffers a trailing partial line. Returns the new offset. */
  private readLines(buf: Buffer, off: number, end: number): number {
    while (off < end) {
      const state = this.state;
      if (state !== S_START && state !== S_FIELDS && state !== S_CHUNK_SIZE && state !== S_TRAILERS) break;
      if (state !== S_CHUNK_SIZE && this.partialLen === 0) {
        // Fast path: decode with one native call, then cut lines, names and values from the string in JS
        // (a native call per field would cost more than the parsing itself). A small read is decoded whole
        // (typical requests: no search needed); in a large one, only up to the end of the head.
        let textEnd = end;
        if (end - off > SMALL_READ) {
          const headEnd = find(buf, CRLF_CRLF, off, end);
          textEnd =
            headEnd !== -1 && headEnd + 4 - off + this.headBytes <= this.limits.maxHeadSize
              ? headEnd + 4
              : -1;
        }
        if (textEnd !== -1) {
          const used = this.textLines(latin1(buf, off, textEnd));
          off += used;
          if (used > 0) continue;
        }
      }
      const nl = find(buf, LF, off, end);
      if (nl === -1) {
        this.appendPartial(buf, off, end);
        return end;
      }
      if (this.partialLen === 0) {
        this.line(buf, off, nl);
      } else {
        this.appendPartial(buf, off, nl + 1);
        const len = this.partialLen;
        this.partialLen = 0;
        const scratch = this.scratch;
        // A long line grew the scratch; do not keep up to 2 x maxHeadSize per idle connection.
        if (scratch.length > 4096) this.scratch = EMPTY;
        this.line(scratch, 0, len - 1);
      }
      off = nl + 1;
    }
    return off;
  }

  /** Runs the complete lines of `text` while the state reads lines; returns how many chars were used. */
  private textLines(text: string): number {
    let pos = 0;
    const len = text.length;
    while (pos < len) {
      const state = this.state;
      if (state !== S_START && state !== S_FIELDS && state !== S_TRAILERS) break;
      const nl = text.indexOf('\n', pos);
      if (nl === -1) break; // a partial line: left to the byte path
      this.textLine(text, pos, nl);
      pos = nl + 1;
    }
    return pos;
  }

  /** Buffers part of a line, enforcing the line's limit before copying anything. */
  private appendPartial(buf: Buffer, start: number, end: number): void {
    const len = this.partialLen + (end - start);
    this.checkLineLength(len);
    if (len > this.scratch.length) {
      // Outside the shared pool: this buffer lives as long as the connection.
      const grown = Buffer.allocUnsafeSlow(Math.max(256, len * 2));
      this.scratch.copy(grown, 0, 0, this.partialLen);
      this.scratch = grown;
    }
    buf.copy(this.scratch, this.partialLen, start, end);
    this.partialLen = len;
  }

  /** `len` counts the line's bytes including its line ending. */
  private checkLineLength(len: number): void {
    const state = this.state;
    if (state === S_CHUNK_SIZE) {
      if (len > MAX_CHUNK_LINE + 2) this.fail('ERR_HTTP_BAD_CHUNK', 400, 'chunk-size line too long');
      return;
    }
    if (state === S_START && len > this.limits.maxRequestLine + 2) {
      if (this.isRequest) this.fail('ERR_HTTP_URI_TOO_LONG', 414, 'request line too long');
      this.fail('ERR_HTTP_HEAD_TOO_LARGE', 502, 'status line too long');
    }
    if (this.headBytes + len > this.limits.maxHeadSize) {
      this.fail(
        'ERR_HTTP_HEAD_TOO_LARGE',
        431,
        state === S_TRAILERS ? 'trailers too large' : 'head too large',
      );
    }
  }

  /** One complete line from bytes: `src[start..nl]`, where `src[nl]` is its LF. */
  private line(src: Buffer, start: number, nl: number): void {
    if (this.state !== S_CHUNK_SIZE) {
      this.textLine(latin1(src, start, nl + 1), 0, nl - start);
      return;
    }
    this.checkLineLength(nl - start + 1);
    if (nl === start || src[nl - 1] !== CR) {
      this.fail('ERR_HTTP_BAD_CHUNK', 400, 'chunk-size line must end with CRLF');
    }
    this.chunkSize(src, start, nl - 1);
  }

  /** One complete head or trailer line: `text[start..nl]`, where `text[nl]` is its LF. */
  private textLine(text: string, start: number, nl: number): void {
    const state = this.state;
    const len = nl - start + 1;
    if (state === S_START && (len === 1 || (len === 2 && text.charCodeAt(start) === CR))) {
      // RFC 9112 §2.2: empty lines before a request line are skipped (llhttp accepts CRLF and LF here).
      this.checkLineLength(len);
      this.headBytes += len;
      return;
    }
    this.checkLineLength(len); // first, so that the outcome does not depend on how reads were split
    if (len === 1 || text.charCodeAt(nl - 1) !== CR) {
      this.fail(
        state === S_START ? 'ERR_HTTP_BAD_REQUEST_LINE' : 'ERR_HTTP_BAD_HEADER',
        400,
        'line must end with CRLF, not a bare LF',
      );
    }
    const contentEnd = nl - 1;
    this.headBytes += len;
    if (state === S_START) {
      if (this.isRequest) this.requestLine(text, start, contentEnd);
      else this.statusLine(text, start, contentEnd);
      this.state = S_FIELDS;
    } else if (contentEnd === start) {
      if (state === S_FIELDS) this.headComplete();
      else this.messageComplete(this.trailers);
    } else if (state === S_FIELDS) {
      this.field(text, start, contentEnd, this.headers, true);
    } else {
      this.trailers ??= new Headers();
      this.field(text, start, contentEnd, this.trailers, false);
    }
  }

  private requestLine(src: string, start: number, end: number): void {
    // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single SPs only.
    let i = start;
    while (i < end && TOKEN[src.charCodeAt(i)] === 1) i++;
    if (i === start || i === end || src.charCodeAt(i) !== SP) this.badByte(src, i, end, 'invalid method');
    const method = methodOf(src, start, i);
    if (method === undefined) this.fail('ERR_HTTP_BAD_REQUEST_LINE', 501, 'method not implemented');
    const targetStart = ++i;
    while (i < end && TARGET[src.charCodeAt(i)] === 1) i++;
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
    this.requestTarget(src, targetStart, targetEnd, method);
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
  private requestTarget(src: string, start: number, end: number, method: string): void {
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
      return;
    }
    if (first === 0x2f) {
      this.target = end - start === 1 ? '/' : src.slice(start, end);
      return;
    }
    if (first === 0x2a && end - start === 1) {
      if (method !== 'OPTIONS') this.fail('ERR_HTTP_BAD_REQUEST_LINE', 400, '* is only for OPTIONS');
      this.target = '*';
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
    this.target = i === end ? '/' : src.charCodeAt(i) === 0x3f ? '/' + src.slice(i, end) : src.slice(i, end);
  }

  private statusLine(src: string, start: number, end: number): void {
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

  /** field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
  private field(src: string, start: number, end: number, into: Headers, framing: boolean): void {
    const first = src.charCodeAt(start);
    // RFC 9112 §5.2: obs-fold is rejected (a server may not keep it; we choose 400 over rewriting).
    if (first === SP || first === HTAB) this.fail('ERR_HTTP_OBS_FOLD', 400, 'obsolete line folding');
    let i = start;
    while (i < end && TOKEN[src.charCodeAt(i)] === 1) i++;
    if (i === start || i === end || src.charCodeAt(i) !== 0x3a) {
      const c = src.charCodeAt(i);
      // RFC 9112 §5.1: no whitespace between field name and colon (a classic smuggling vector).
      if (c === SP || c === HTAB) this.fail('ERR_HTTP_BAD_HEADER', 400, 'whitespace before colon');
      this.badByte(src, i, end, 'invalid header name', 'ERR_HTTP_BAD_HEADER');
    }
    const nameEnd = i++;
    while (i < end && (src.charCodeAt(i) === SP || src.charCodeAt(i) === HTAB)) i++;
    const valueStart = i;
    for (; i < end; i++) {
      if (FIELD_VALUE[src.charCodeAt(i)] === 0) {
        this.badByte(src, i, end, 'invalid byte in header value', 'ERR_HTTP_BAD_HEADER');
      }
    }
    let valueEnd = end;
    while (valueEnd > valueStart && FIELD_VALUE[src.charCodeAt(valueEnd - 1)] === 1) valueEnd--;
    if (into.names.length >= this.limits.maxHeaders) {
      this.fail(
        'ERR_HTTP_TOO_MANY_HEADERS',
        431,
        framing ? 'too many header fields' : 'too many trailer fields',
      );
    }
    const rawName = src.slice(start, nameEnd);
    const name = rawName.toLowerCase();
    const value = valueEnd > valueStart ? src.slice(valueStart, valueEnd) : '';
    into.add(rawName, value, name);
    if (framing) {
      // llhttp rejects a tab after a final `chunked` (spaces pass); we must not be the laxer hop.
      if (valueEnd < end && name === 'transfer-encoding' && src.lastIndexOf('\t', end - 1) >= valueEnd) {
        this.fail('ERR_HTTP_BAD_TE', 400, 'tab after the Transfer-Encoding value');
      }
      this.fieldMeaning(name, value);
    } else if (FORBIDDEN_TRAILERS.has(name)) {
      // RFC 9110 §6.5.1: framing and routing fields never come from trailers (llhttp rejects CL/TE there).
      this.fail('ERR_HTTP_BAD_HEADER', 400, `${rawName} not allowed in trailers`);
    }
  }

  /** The fields that change how the message is framed or handled. */
  private fieldMeaning(name: string, value: string): void {
    switch (name.length) {
      case 4:
        if (name === 'host') {
          this.hostCount++;
          this.hostValue = value;
        }
        return;
      case 6:
        if (name === 'expect' && value.length === 12 && value.toLowerCase() === '100-continue') {
          this.expectContinue = true;
        }
        return;
      case 7:
        if (name === 'upgrade') this.upgradeHeader = true;
        return;
      case 10:
        if (name === 'connection') this.connection |= connectionOptions(value);
        return;
      case 14:
        if (name === 'content-length') this.contentLengthField(value);
        return;
      case 17:
        if (name === 'transfer-encoding') this.transferEncodingField(value);
        return;
    }
  }

  /** Content-Length = 1*DIGIT (RFC 9110 §8.6). */
  private contentLengthField(value: string): void {
    const length = parseLength(value);
    if (length === -1) {
      // Responses may repeat an identical length as a list ("5, 5", RFC 9110 §8.6); requests may not.
      if (!this.isRequest) {
        const parts = value.split(',');
        const first = parseLength(parts[0]!.trim());
        if (first !== -1 && parts.every((part) => parseLength(part.trim()) === first)) {
          this.setContentLength(first);
          return;
        }
      }
      this.fail('ERR_HTTP_BAD_CONTENT_LENGTH', 400, 'invalid Content-Length');
    }
    this.setContentLength(length);
  }

  private setContentLength(length: number): void {
    if (this.contentLength !== -1 && (this.isRequest || this.contentLength !== length)) {
      this.fail('ERR_HTTP_BAD_CONTENT_LENGTH', 400, 'more than one Content-Length');
    }
    this.contentLength = length;
  }

  /** Transfer-Encoding = #transfer-coding (RFC 9112 §6.1); several fields form one list. */
  private transferEncodingField(value: string): void {
    this.teCount++;
    let start = 0;
    while (start <= value.length) {
      let comma = value.indexOf(',', start);
      if (comma === -1) comma = value.length;
      const coding = value.slice(start, comma).trim().toLowerCase();
      if (coding === 'chunked') {
        this.teChunkedCount++;
        this.teFinalChunked = true;
      } else {
        if (!isToken(coding)) this.fail('ERR_HTTP_BAD_TE', 400, 'invalid Transfer-Encoding');
        this.teOther = true;
        this.teFinalChunked = false;
      }
      start = comma + 1;
    }
  }

  private headComplete(): void {
    if (this.isRequest) this.requestHeadComplete();
    else this.responseHeadComplete();
  }

  private requestHeadComplete(): void {
    const v1 = this.versionMinor === 1;
    // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; more than one is a 400 in any version.
    if (this.hostCount > 1) this.fail('ERR_HTTP_BAD_HEADER', 400, 'more than one Host field');
    if (this.hostCount === 1) {
      const host = hostOf(this.hostValue, false);
      if (host === undefined) this.fail('ERR_HTTP_BAD_HEADER', 400, 'invalid Host field');
      // RFC 9112 §3.2.2: with an absolute-form target the Host field is still required but not used.
      if (!this.targetHasHost) this.host = host;
    } else if (v1) {
      this.fail('ERR_HTTP_MISSING_HOST', 400, 'missing Host field');
    }
    let chunked = false;
    if (this.teCount > 0) {
      // RFC 9112 §6.1-6.3: the framing rules every hop must agree on.
      if (this.contentLength !== -1) {
        this.fail('ERR_HTTP_CL_AND_TE', 400, 'Content-Length and Transfer-Encoding together');
      }
      if (!v1) this.fail('ERR_HTTP_BAD_TE', 400, 'Transfer-Encoding in an HTTP/1.0 request');
      if (!this.teFinalChunked) this.fail('ERR_HTTP_BAD_TE', 400, 'final transfer coding is not chunked');
      if (this.teChunkedCount > 1) this.fail('ERR_HTTP_BAD_TE', 400, 'chunked applied more than once');
      if (this.teOther) this.fail('ERR_HTTP_UNSUPPORTED_TE', 501, 'transfer coding not implemented');
      chunked = true;
    }
    if (this.contentLength > this.limits.maxBodySize) {
      this.fail('ERR_HTTP_BODY_TOO_LARGE', 413, 'body larger than the limit');
    }
    const conn = this.connection;
    const keepAlive = (conn & CONN_CLOSE) === 0 && (v1 || (conn & CONN_KEEP_ALIVE) !== 0);
    // RFC 9110 §7.8: a server may ignore Upgrade, and does in HTTP/1.0 requests. A request whose head
    // announces a body (h2c's `curl --http2 -d`) is not switched either, as nginx does: the body is read as
    // for any request and the connection stays HTTP/1.1. CONNECT always turns into a tunnel.
    const upgrade =
      this.method === 'CONNECT' ||
      (v1 && this.upgradeHeader && (conn & CONN_UPGRADE) !== 0 && !chunked && this.contentLength <= 0);
    const next = upgrade ? S_DONE : chunked ? S_CHUNK_SIZE : this.contentLength > 0 ? S_BODY_LENGTH : S_START;
    // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
    this.emitHead(next, keepAlive, chunked, upgrade, v1 && this.expectContinue);
  }

  private responseHeadComplete(): void {
    const status = this.status;
    const method = this.pending.length > 0 ? this.pending[0]! : 'GET';
    let chunked = false;
    if (this.teCount > 0) {
      if (this.contentLength !== -1) {
        this.fail('ERR_HTTP_CL_AND_TE', 502, 'Content-Length and Transfer-Encoding together');
      }
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
      if (this.versionMinor === 0) this.fail('ERR_HTTP_BAD_TE', 502, 'Transfer-Encoding in HTTP/1.0');
      if (this.teChunkedCount > 1) this.fail('ERR_HTTP_BAD_TE', 502, 'chunked applied more than once');
      chunked = this.teFinalChunked;
    }
    const interim = status < 200;
    const upgrade = status === 101 || (method === 'CONNECT' && status < 300 && status >= 200);
    // RFC 9112 §6.3: no body after HEAD, 1xx, 204, 304; a non-final chunked or no framing reads until close.
    const noBody = interim || upgrade || method === 'HEAD' || status === 204 || status === 304;
    const closeDelimited = !noBody && !chunked && this.contentLength === -1;
    const conn = this.connection;
    const keepAlive =
      !closeDelimited &&
      (conn & CONN_CLOSE) === 0 &&
      (this.versionMinor === 1 || (conn & CONN_KEEP_ALIVE) !== 0);
    if (!interim || upgrade) this.pending.shift(); // a 1xx is followed by the final response
    let next = S_START;
    if (upgrade) next = S_DONE;
    else if (noBody) chunked = false;
    else if (chunked) next = S_CHUNK_SIZE;
    else if (closeDelimited) next = S_BODY_EOF;
    else if (this.contentLength > 0) next = S_BODY_LENGTH;
    this.emitHead(next, keepAlive, chunked, upgrade, false);
  }

  /** Hands the head over, then enters `next`: a body state, S_DONE, or S_START (no body). */
  private emitHead(
    next: number,
    keepAlive: boolean,
    chunked: boolean,
    upgrade: boolean,
    expect: boolean,
  ): void {
    const head: ParsedHead = {
      method: this.method,
      target: this.target,
      status: this.status,
      reason: this.reason,
      versionMinor: this.versionMinor,
      headers: this.headers,
      contentLength: this.contentLength,
      chunked,
      keepAlive,
      expectContinue: expect,
      upgrade,
      host: this.host,
    };
    this.headers = new Headers();
    this.closing = !keepAlive && (this.isRequest || this.status >= 200);
    this.state = next;
    this.headBytes = 0;
    this.remaining = this.contentLength;
    this.handler.onHead(head);
    if (next === S_START) this.messageComplete(null);
    else if (next === S_DONE) this.handler.onMessageComplete(null);
  }

  private messageComplete(trailers: HeaderList | null): void {
    this.state = this.closing ? S_CLOSED : S_START;
    this.startMessage();
    this.handler.onMessageComplete(trailers);
  }

  /** chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); `end` is the CR. */
  private chunkSize(src: Buffer, start: number, end: number): void {
    let i = start;
    let size = 0;
    for (; i < end; i++) {
      const digit = HEX[src[i]!]!;
      if (digit < 0) break;
      size = size * 16 + digit;
      if (size > MAX_LENGTH) this.fail('ERR_HTTP_BODY_TOO_LARGE', 413, 'chunk too large');
    }
    if (i === start) this.fail('ERR_HTTP_BAD_CHUNK', 400, 'invalid chunk size');
    if (i < end && !validChunkExtensions(src, i, end)) {
      this.fail('ERR_HTTP_BAD_CHUNK', 400, 'invalid chunk extension');
    }
    if (this.isRequest && this.bodyTotal + size > this.limits.maxBodySize) {
      this.fail('ERR_HTTP_BODY_TOO_LARGE', 413, 'body larger than the limit');
    }
    this.bodyTotal += size;
    this.headBytes = 0;
    if (size === 0) {
      this.state = S_TRAILERS;
    } else {
      this.state = S_CHUNK_DATA;
      this.remaining = size;
    }
  }

  /** Rejects the line at byte `i`, naming a bare CR when that is the culprit (RFC 9112 §2.2). */
  private badByte(
    src: string,
    i: number,
    end: number,
    message: string,
    code: HttpErrorCode = 'ERR_HTTP_BAD_REQUEST_LINE',
  ): never {
    if (i < end && src.charCodeAt(i) === CR) this.fail('ERR_HTTP_BARE_CR', 400, 'bare CR');
    if (i < end && src.charCodeAt(i) === 0) this.fail(code, 400, message + ' (NUL)');
    this.fail(code, 400, message);
  }
}

/**
 * `buf.indexOf(needle, off)` within `buf[0..end)`. Past `end` are bytes of an earlier read (a reused
 * buffer): searching them would find what is not there, and cost up to the buffer's size per call.
 */
function find(buf: Buffer, needle: Buffer | number, off: number, end: number): number {
  return end === buf.length ? buf.indexOf(needle, off) : buf.subarray(0, end).indexOf(needle, off);
}

/** Interned strings for the common methods; `undefined` for a method llhttp would not accept. */
function methodOf(src: string, start: number, end: number): string | undefined {
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
  return KNOWN_METHODS.has(method) ? method : undefined;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
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

/**
 * uri-host [ ":" port ] (RFC 9110 §7.2) → the host lower-cased without its port or a trailing dot; `''`
 * for an empty value; `undefined` when malformed (bad bytes, userinfo, non-numeric port, or no port where one is required).
 * One pass over the value; the last Host field's answer is remembered, since a server's clients send the
 * same few Host values over and over.
 */
function hostOf(value: string, requirePort: boolean): string | undefined {
  if (!requirePort && value === lastHostValue) return lastHost;
  const len = value.length;
  let colon = -1;
  let close = -1;
  let brackets = false;
  let openAfterFirst = false;
  let upper = false;
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i);
    if (AUTHORITY[c] !== 1) return undefined;
    if (c === 0x3a) {
      if (colon === -1) colon = i;
    } else if (c === 0x5b) {
      brackets = true;
      if (i > 0) openAfterFirst = true;
    } else if (c === 0x5d) {
      brackets = true;
      if (close === -1) close = i;
    } else if (c >= 0x41 && c <= 0x5a) {
      upper = true;
    }
  }
  let hostEnd: number;
  if (value.charCodeAt(0) === 0x5b) {
    // IP-literal: up to the first `]`, and no second `[`.
    if (close === -1 || openAfterFirst) return undefined;
    hostEnd = close + 1;
  } else {
    if (brackets) return undefined;
    hostEnd = colon === -1 ? len : colon;
  }
  if (hostEnd < len) {
    if (value.charCodeAt(hostEnd) !== 0x3a || len - hostEnd > 6) return undefined;
    for (let i = hostEnd + 1; i < len; i++) if (!isDigit(value.charCodeAt(i))) return undefined;
  } else if (requirePort) {
    return undefined;
  }
  if (requirePort && hostEnd + 1 === len) return undefined;
  // A fully qualified name's trailing dot (`example.com.`) names the same host.
  const nameEnd = hostEnd > 1 && value.charCodeAt(hostEnd - 1) === 0x2e ? hostEnd - 1 : hostEnd;
  const host = nameEnd === len ? value : value.slice(0, nameEnd);
  const result = upper ? host.toLowerCase() : host;
  if (!requirePort) {
    lastHostValue = value;
    lastHost = result;
  }
  return result;
}

/** The memo of {@link hostOf} (for `requirePort` false): the last value and its answer. */
let lastHostValue: string | null = null;
let lastHost: string | undefined;

/** Connection = #connection-option (RFC 9110 §7.6.1), case-insensitive. */
function connectionOptions(value: string): number {
  const lower = value.toLowerCase();
  if (lower === 'keep-alive') return CONN_KEEP_ALIVE;
  if (lower === 'close') return CONN_CLOSE;
  let options = 0;
  for (const part of lower.split(',')) {
    const option = part.trim();
    if (option === 'close') options |= CONN_CLOSE;
    else if (option === 'keep-alive') options |= CONN_KEEP_ALIVE;
    else if (option === 'upgrade') options |= CONN_UPGRADE;
  }
  return options;
}

/** 1*DIGIT → its value, or -1 (empty, other bytes, or too large to be exact). */
function parseLength(value: string): number {
  const len = value.length;
  if (len === 0) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
    if (n > MAX_LENGTH) return -1;
  }
  return n;
}

function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (TOKEN[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] ), name a token, value a token or quoted-string
 * (RFC 9112 §7.1.1). No whitespace anywhere: llhttp's strict mode rejects it too.
 */
function validChunkExtensions(src: Buffer, i: number, end: number): boolean {
  while (i < end) {
    if (src[i] !== 0x3b) return false;
    const nameStart = ++i;
    while (i < end && TOKEN[src[i]!] === 1) i++;
    if (i === nameStart) return false;
    if (i === end || src[i] !== 0x3d) continue;
    i++;
    if (src[i] === 0x22) {
      // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
      i++;
      for (;;) {
        if (i >= end) return false;
        const c = src[i]!;
        if (c === 0x22) break;
        if (c === 0x5c) {
          i++;
          if (i >= end || FIELD_VALUE[src[i]!] === 0) return false;
        } else if (QDTEXT[c] !== 1) {
          return false;
        }
        i++;
      }
      i++;
    } else {
      const valueStart = i;
      while (i < end && TOKEN[src[i]!] === 1) i++;
      if (i === valueStart) return false;
    }
  }
  return true;
}
