/**
 * A response's status and fields, and their serialisation: the field list a handler builds
 * (`setHeader` and friends, each name and value checked so no handler can split a response), and the one
 * latin1 string of status line + fields + framing (`Content-Length`, chunked or close-delimited, RFC 9112
 * §6) that `buildHead` makes of it. First layer of HttpResponse (response.ts writes the body and talks to
 * the connection). All of a response's fields are declared here, so every response has one V8 shape.
 */
import { httpDate } from './date.ts';
import type { HttpRequest } from './request.ts';
import type { HttpResponse } from './response.ts';
import { statusLine } from './status.ts';
import type { FileSource, HeaderValue, TakenOverSocket } from './types.ts';

/** The connection side of a response. */
export interface ResponseSink {
  /** The head is about to be serialised: last chance to turn `res.keepAlive` off. */
  prepareHead(res: HttpResponse): void;
  /**
   * Queue bytes of `res` in pipeline order; false when the writer should wait for `onDrain`. `onFlushed`,
   * when given, runs once the kernel took all of them (never if they are held back or the socket goes).
   */
  output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
  ): boolean;
  /** All bytes of `res` are queued. */
  ended(res: HttpResponse): void;
  /** Call `res`'s drain callbacks once the socket can take more. */
  wantDrain(res: HttpResponse): void;
  /** Destroy the connection (no clean end). */
  destroyResponse(res: HttpResponse): void;
  /** Hand the socket of `res`'s upgrade request to its handler (see `Response.takeOver`). */
  takeOver?(res: HttpResponse): TakenOverSocket | undefined;
}

/** How the body is framed, chosen when the head is built. Not chosen yet. */
export const MODE_NONE = 0;
/** `Content-Length`: the handler's or the whole body's given to `end`. */
export const MODE_LENGTH = 1;
/** `Transfer-Encoding: chunked` (HTTP/1.1, length unknown). */
export const MODE_CHUNKED = 2;
/** Close-delimited (HTTP/1.0, length unknown). */
export const MODE_CLOSE = 3;
/** No body at all (1xx, 204, 304, or a HEAD's bare `end()`). */
export const MODE_NO_BODY = 4;

/** RFC 9110 §5.1 field-name = token. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: no CR, LF or NUL (or other controls but HTAB) in a field value: prevents response splitting. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Throw a TypeError naming `name` when `value` holds a byte a field value may not. */
export function checkValue(name: string, value: string): void {
  if (BAD_VALUE.test(value)) throw new TypeError(`Invalid character in value of header "${name}"`);
}

/** Never built alone: the first layer of every HttpResponse. */
export abstract class ResponseHead {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  finished = false;
  aborted = false;
  file: FileSource | null = null;
  capturedBody: Buffer | null = null;

  readonly req: HttpRequest;
  /** Whether the connection stays open after this response; settled when the head is written. */
  keepAlive: boolean;
  /** Next response in the connection's pipeline queue. */
  next: HttpResponse | null = null;
  /** All bytes are queued (`finished` follows once they reached the socket). */
  ended = false;
  /** Bytes held back while an earlier pipelined response is unfinished. */
  pending: Buffer[] | null = null;
  pendingBytes = 0;
  /** The engine answered in the handler's place (an error reply): later handler calls are ignored. */
  locked = false;
  /** Made by the engine itself (timeout, parse error): no handler saw it, no hooks run for it. */
  internal = false;
  drainCallbacks: Array<() => void> | null = null;
  abortCallbacks: Array<() => void> | null = null;

  protected readonly sink: ResponseSink;
  protected readonly isHead: boolean;
  protected names: string[] | null = null;
  protected keys: string[] | null = null;
  protected values: HeaderValue[] | null = null;
  protected mode = MODE_NONE;
  protected declaredLength = -1;
  protected written = 0;
  protected prebuilt: Buffer | null = null;
  protected prebuiltBody: Buffer | null = null;
  protected captureLimit = -1;
  protected captureParts: Buffer[] | null = null;
  protected captureSize = 0;

  constructor(sink: ResponseSink, req: HttpRequest) {
    this.sink = sink;
    this.req = req;
    this.keepAlive = req.keepAlive;
    this.isHead = req.method === 'HEAD';
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headersSent) {
      if (this.locked) return this;
      throw new Error(`Cannot set header "${name}": the head was already sent`);
    }
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
    if (typeof value === 'string') checkValue(name, value);
    else if (typeof value === 'number') value = String(value);
    else for (const v of value) checkValue(name, v);
    const key = name.toLowerCase();
    if (key === 'content-length' && !/^\d{1,15}$/.test(String(value))) {
      throw new TypeError(`Invalid Content-Length "${String(value)}"`);
    }
    if (this.keys === null) {
      this.names = [name];
      this.keys = [key];
      this.values = [value];
      return this;
    }
    const i = this.keys.indexOf(key);
    if (i === -1) {
      this.names!.push(name);
      this.keys.push(key);
      this.values!.push(value);
    } else {
      this.names![i] = name;
      this.values![i] = value;
    }
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    if (this.keys === null) return undefined;
    const i = this.keys.indexOf(name.toLowerCase());
    return i === -1 ? undefined : this.values![i];
  }

  hasHeader(name: string): boolean {
    return this.keys !== null && this.keys.indexOf(name.toLowerCase()) !== -1;
  }

  removeHeader(name: string): this {
    if (this.headersSent) {
      if (this.locked) return this;
      throw new Error(`Cannot remove header "${name}": the head was already sent`);
    }
    if (this.keys === null) return this;
    const i = this.keys.indexOf(name.toLowerCase());
    if (i !== -1) {
      this.names!.splice(i, 1);
      this.keys.splice(i, 1);
      this.values!.splice(i, 1);
    }
    return this;
  }

  headerEntries(): ReadonlyArray<readonly [string, HeaderValue]> {
    const out: Array<readonly [string, HeaderValue]> = [];
    if (this.keys !== null)
      for (let i = 0; i < this.keys.length; i++) out.push([this.names![i]!, this.values![i]!]);
    return out;
  }

  /**
   * Serialise the head. `bodyLength`: the whole body's length when known (end(body) as first call), -1
   * when the body will stream, -2 for "no framing at all" (bare end() of a HEAD).
   */
  protected buildHead(bodyLength: number): string {
    const code = this.statusCode;
    if (!Number.isInteger(code) || code < 100 || code > 999)
      throw new RangeError(`Invalid status code ${code}`);
    this.headersSent = true;
    // Only ever an HttpResponse (this layer is never built alone).
    this.sink.prepareHead(this as unknown as HttpResponse);
    let head: string;
    if (this.statusMessage === '') head = statusLine(code);
    else {
      checkValue('reason', this.statusMessage);
      head = 'HTTP/1.1 ' + code + ' ' + this.statusMessage + '\r\n';
    }
    // RFC 9110 §6.4.1 / §8.6: 1xx, 204 and 304 carry no content; 1xx and 204 carry no Content-Length.
    const noContent = code < 200 || code === 204 || code === 304;
    let userLength = -1;
    let hasDate = false;
    const keys = this.keys;
    if (keys !== null) {
      const names = this.names!;
      const values = this.values!;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const value = values[i]!;
        if (key === 'content-length') {
          if (code < 200 || code === 204) continue;
          userLength = Number(value);
        } else if (key === 'transfer-encoding') {
          continue; // framing is ours to choose
        } else if (key === 'connection') {
          if (/\bclose\b/i.test(String(value))) this.keepAlive = false;
          continue;
        } else if (key === 'date') {
          hasDate = true;
        }
        if (typeof value === 'string') head += names[i]! + ': ' + value + '\r\n';
        else for (const v of value as readonly string[]) head += names[i]! + ': ' + v + '\r\n';
      }
    }
    // RFC 9110 §6.6.1: an origin server with a clock sends Date.
    if (!hasDate) head += 'Date: ' + httpDate() + '\r\n';
    if (noContent) this.mode = MODE_NO_BODY;
    else if (userLength >= 0) {
      this.mode = MODE_LENGTH;
      this.declaredLength = userLength;
    } else if (bodyLength >= 0) {
      this.mode = MODE_LENGTH;
      this.declaredLength = bodyLength;
      head += 'Content-Length: ' + bodyLength + '\r\n';
    } else if (bodyLength === -2) {
      this.mode = MODE_NO_BODY;
    } else if (this.req.versionMinor === 1) {
      this.mode = MODE_CHUNKED;
      head += 'Transfer-Encoding: chunked\r\n';
    } else {
      // HTTP/1.0 has no chunked coding: the body ends when the connection does (RFC 9112 §6.3 rule 8).
      this.mode = MODE_CLOSE;
      if (!this.isHead) this.keepAlive = false;
    }
    if (!this.keepAlive) head += 'Connection: close\r\n\r\n';
    else if (this.req.versionMinor === 0) head += 'Connection: keep-alive\r\n\r\n';
    else head += '\r\n';
    return head;
  }
}
