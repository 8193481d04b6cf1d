/**
 * What the HTTP/1.1 parser remembers: the state machine's states, the connection-level fields (mode, limits,
 * the line buffered across reads, the responses still expected) and the fields of the message being parsed,
 * all set in one constructor so every parser has one V8 shape. Also how a failure becomes an error: the
 * status a request is answered with, or 502 for a bad upstream response.
 *
 * The base of the parser's layers (see parser.ts): StartLineParser, FieldParser, FramingParser and
 * HttpParser each extend the one before with the rules of one part of a message.
 */
import { Headers } from './headers.ts';
import { HttpParseError } from './parse-error.ts';
import * as parserTables from './parser-tables.ts';
import type { HttpErrorCode, HttpLimits, ParserHandler } from './types.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { CR, EMPTY } = parserTables;

// Parser states: what the next bytes are.
/** A request or status line, or the empty lines before it. */
export const S_START = 0;
/** The header section. */
export const S_FIELDS = 1;
/** A Content-Length body. */
export const S_BODY_LENGTH = 2;
/** A chunk-size line. */
export const S_CHUNK_SIZE = 3;
/** Chunk data. */
export const S_CHUNK_DATA = 4;
/** The CR after chunk data. */
export const S_CHUNK_CR = 5;
/** The LF after chunk data. */
export const S_CHUNK_LF = 6;
/** The trailer section after the last chunk. */
export const S_TRAILERS = 7;
/** A close-delimited response body. */
export const S_BODY_EOF = 8;
/** Upgraded (the bytes belong to a tunnel) or ended by EOF: nothing more to parse. */
export const S_DONE = 9;
/** After a message without keep-alive: only empty lines may follow. */
export const S_CLOSED = 10;
/** After an error: every call throws it again until `reset()`. */
export const S_DEAD = 11;

// Bits of `connection`: the options named by Connection fields (RFC 9110 §7.6.1).
/** `close`. */
export const CONN_CLOSE = 1;
/** `keep-alive`. */
export const CONN_KEEP_ALIVE = 2;
/** `upgrade`. */
export const CONN_UPGRADE = 4;

/** Per-connection and per-message state shared by the parser layers; not used on its own. */
export abstract class ParserState {
  protected readonly isRequest: boolean;
  protected readonly limits: HttpLimits;
  protected readonly handler: ParserHandler;
  protected state: number;
  protected error: unknown;
  /** Holds the one line that straddles two reads. */
  protected scratch: Buffer;
  protected partialLen: number;
  /** Bytes of the current head (or trailer section) so far, for maxHeadSize. */
  protected headBytes: number;
  /** Methods of requests whose responses are still to come (response mode). */
  protected readonly pending: string[];

  // The message being parsed.
  protected method: string;
  protected target: string;
  /** The target as received, in origin-form (`target` is its normal form, often the same string). */
  protected rawTarget: string;
  protected host: string;
  protected status: number;
  protected reason: string;
  protected versionMinor: 0 | 1;
  protected headers: Headers;
  protected hostCount: number;
  protected hostValue: string;
  protected targetHasHost: boolean;
  protected contentLength: number;
  protected teCount: number;
  protected teChunkedCount: number;
  protected teFinalChunked: boolean;
  protected teOther: boolean;
  protected connection: number;
  protected expectContinue: boolean;
  protected upgradeHeader: boolean;
  protected remaining: number;
  protected bodyTotal: number;
  protected trailers: Headers | null;
  /** The message being parsed is the connection's last (no keep-alive). */
  protected closing: boolean;

  protected constructor(mode: 'request' | 'response', limits: HttpLimits, handler: ParserHandler) {
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
    this.rawTarget = '';
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

  /** Forgets the message just parsed (its fields, not the connection-level state). */
  protected startMessage(): void {
    this.headBytes = 0;
    this.method = '';
    this.target = '';
    this.rawTarget = '';
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

  /** The error for a bad message: `status` for a request, 502 for an upstream response. */
  protected failure(code: HttpErrorCode, status: number, message: string): HttpParseError {
    return new HttpParseError(code, this.isRequest ? status : 502, message);
  }

  protected fail(code: HttpErrorCode, status: number, message: string): never {
    throw this.failure(code, status, message);
  }

  /** Rejects the line at byte `i`, naming a bare CR when that is the culprit (RFC 9112 §2.2). */
  protected badByte(
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
