/**
 * Where a message's body ends (RFC 9112 §6, §7): the decision taken when a head is complete (Host rules,
 * Content-Length vs Transfer-Encoding, keep-alive, upgrade, which responses have no body), handing the head
 * over, ending a message, and chunk-size lines with their extensions.
 */
import { FieldParser } from './header-fields.ts';
import { Headers } from './headers.ts';
import * as host from './host.ts';
import * as parserState from './parser-state.ts';
import * as parserTables from './parser-tables.ts';
import type { HeaderList, ParsedHead } from './types.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { FIELD_VALUE, HEX, MAX_LENGTH, QDTEXT, TOKEN } = parserTables;
const { CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE } = parserState;
const { S_BODY_EOF, S_BODY_LENGTH, S_CHUNK_DATA, S_CHUNK_SIZE, S_CLOSED, S_DONE, S_START, S_TRAILERS } =
  parserState;
const { hostOf } = host;

/** The parser layer that frames the body once the head is read, and ends messages. */
export abstract class FramingParser extends FieldParser {
  /** The empty line after the fields was read: decide how the body is framed, then hand the head over. */
  protected headComplete(): void {
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
      rawTarget: this.rawTarget,
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

  /** The message ended: back to S_START (or S_CLOSED after the last one), then tell the handler. */
  protected messageComplete(trailers: HeaderList | null): void {
    this.state = this.closing ? S_CLOSED : S_START;
    this.startMessage();
    this.handler.onMessageComplete(trailers);
  }

  /** chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); `end` is the CR. */
  protected chunkSize(src: Buffer, start: number, end: number): void {
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
