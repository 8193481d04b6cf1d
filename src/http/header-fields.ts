/**
 * Header and trailer field lines (RFC 9112 §5): name and value syntax, the limit on their number, and the
 * fields whose meaning the parser itself needs (Host, Expect, Upgrade, Connection, Content-Length,
 * Transfer-Encoding), recorded for the framing decision made at the end of the head (framing.ts).
 */
import type { Headers } from './headers.ts';
import * as parserState from './parser-state.ts';
import * as parserTables from './parser-tables.ts';
import { StartLineParser } from './start-line.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { FIELD_VALUE, HTAB, isToken, MAX_LENGTH, SP, TOKEN } = parserTables;
const { CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE } = parserState;

/** Trailer fields that would change framing, routing or the connection (RFC 9110 §6.5.1). */
const FORBIDDEN_TRAILERS = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'upgrade',
  'trailer',
]);

/** The parser layer that reads field lines and remembers the ones that frame the message. */
export abstract class FieldParser extends StartLineParser {
  /** field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
  protected field(src: string, start: number, end: number, into: Headers, framing: boolean): void {
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
}

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
