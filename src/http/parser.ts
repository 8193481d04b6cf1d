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
 *   (RFC 9110 §9.1), so we are never more permissive than llhttp. The one exception is a server that
 *   asks for more (`HttpLimits.extraMethods`: `BAN` where the cache's purge method is on), whose requests
 *   are then answered by the plugin that asked, never forwarded.
 * - Content-Length may appear once (llhttp rejects even identical duplicates in requests; responses may
 *   repeat an identical value, RFC 9110 §8.6).
 *
 * Layout: one class in layers, a file each, read bottom-up: parser-state.ts (what the parser remembers,
 * how a failure becomes an error) ← start-line.ts (request and status lines) ← header-fields.ts (field
 * lines and the fields that frame a message) ← framing.ts (where the body ends, chunk sizes) ← this file
 * (the public API and the loop over reads and lines). Byte tables in parser-tables.ts, Host values in
 * host.ts. Hot methods stay methods of the one class, so V8 inlines them as it did when this was one
 * 1,100-line file.
 */
import { FramingParser } from './framing.ts';
import { Headers } from './headers.ts';
import type { HttpParseError } from './parse-error.ts';
import * as parserState from './parser-state.ts';
import * as parserTables from './parser-tables.ts';
import type { HttpLimits, ParserHandler } from './types.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { CR, EMPTY, LF, latin1 } = parserTables;
const { S_BODY_EOF, S_BODY_LENGTH, S_CHUNK_CR, S_CHUNK_DATA, S_CHUNK_LF, S_CHUNK_SIZE } = parserState;
const { S_CLOSED, S_DEAD, S_DONE, S_FIELDS, S_START, S_TRAILERS } = parserState;

const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** Reads up to this size are decoded whole instead of searched for the end of the head first. */
const SMALL_READ = 2048;

/** Longest chunk-size line (size + extensions) we buffer; llhttp has no bound, we do. */
const MAX_CHUNK_LINE = 4096;

/**
 * Incremental HTTP/1.1 parser for one connection. Feed it socket reads with `execute`; it calls the
 * handler synchronously for every head, body chunk and message end the bytes contain (pipelining).
 */
export class HttpParser extends FramingParser {
  constructor(mode: 'request' | 'response', limits: HttpLimits, handler: ParserHandler) {
    super(mode, limits, handler);
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
   * The request line of the message being parsed once it was read whole and valid, else `null` (its method
   * and target are set only then, and cleared when a message ends): what the engine can report about a
   * request that a parse error or the header timeout interrupted (the access log's `$request`). The
   * target as sent: a path refused by normalisation (`/../x`) is reported as the client wrote it.
   */
  get readRequestLine(): { method: string; target: string; versionMinor: 0 | 1 } | null {
    if (this.method === '' || this.rawTarget === '') return null;
    return { method: this.method, target: this.rawTarget, versionMinor: this.versionMinor };
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

  /** Processes the complete lines of `buf[off..end)`, buffers a partial last one; returns the new offset. */
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
}

/**
 * `buf.indexOf(needle, off)` within `buf[0..end)`. Past `end` are bytes of an earlier read (a reused
 * buffer): searching them would find what is not there, and cost up to the buffer's size per call.
 */
function find(buf: Buffer, needle: Buffer | number, off: number, end: number): number {
  return end === buf.length ? buf.indexOf(needle, off) : buf.subarray(0, end).indexOf(needle, off);
}
