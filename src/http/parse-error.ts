/**
 * The one error type the HTTP/1.1 parser throws. It carries the status the peer is answered with, so the
 * connection layer can write `HTTP/1.1 <status>` plus the short message and close, without a lookup table.
 */
import type { HttpErrorCode, HttpParseFailure } from './types.ts';

/** A malformed or over-limit message. After throwing it, the parser is dead until `reset()`. */
export class HttpParseError extends Error implements HttpParseFailure {
  /** Machine-readable reason, e.g. `ERR_HTTP_CL_AND_TE`. */
  readonly code: HttpErrorCode;
  /** Status to answer with: 400, 413, 414, 431, 501, 505 (request mode) or 502 (response mode). */
  readonly status: number;

  constructor(code: HttpErrorCode, status: number, message: string) {
    super(message);
    this.name = 'HttpParseError';
    this.code = code;
    this.status = status;
  }
}
