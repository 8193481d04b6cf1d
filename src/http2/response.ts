/**
 * The `Response` contract on an HTTP/2 stream, so that every plugin stage (cache, proxy, static, access
 * log) works the same for h1 and h2. Differences the contract hides:
 *
 * - Fields become an HTTP/2 header object: lower-case names, no connection-specific fields (RFC 9113
 *   §8.2.2: Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade are dropped), framing by
 *   DATA frames (no chunked coding), `Date` added when absent.
 * - `sendPrebuilt` (the cache's hit path) gets HTTP/1.1 bytes: the head is parsed once per buffer and
 *   kept (a WeakMap keyed by the buffer the entry hands out), so a hit costs one lookup, one header object
 *   copy and one write; nothing is read again from disk or the store.
 * - Per-request fields (`addTransientHeader`, `suppressHeader`: the `headers` rules) edit the header
 *   object just before it is sent, by a handler or a hit alike, as the h1 writer splices its lines.
 * - `destroy()` resets the stream (RST_STREAM INTERNAL_ERROR): the client cannot take a partial body
 *   for a whole one, and the connection's other streams go on.
 */
import type { ServerHttp2Stream } from 'node:http2';
import http2 from 'node:http2';
import { httpDate } from '../http/date.ts';
import type { HttpRequest } from '../http/request.ts';
// Per-request field edits are checked by the same rules on both protocols, so a rule behaves alike.
import { checkTransientField, withSuppressed } from '../http/response.ts';
import type {
  BodyEncoder,
  EncodedOutput,
  FileSource,
  HeaderList,
  HeaderValue,
  InterimFields,
  Response,
} from '../http/types.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** RFC 9113 §8.2.2: fields that only mean something to an HTTP/1.1 connection. */
const CONNECTION_FIELDS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

type H2Headers = Record<string, string | string[] | number>;
/** `stream.respond` options (Node only reads them): shared, not one object per response. */
const END_STREAM = Object.freeze({ endStream: true });
/** The field lists of a response that set none (never written to: setHeader replaces it first). */
const NONE: never[] = [];
const MORE = Object.freeze({ endStream: false });

/** What the stream's owner (the session) does when a response ends. */
export interface H2ResponseOwner {
  /** `Strict-Transport-Security` value for TLS sessions, `''` for none. */
  readonly hsts: string;
  /** The client reset the stream before the response was done (the rapid-reset accounting). */
  reset(): void;
  done(req: HttpRequest, res: H2Response): void;
}

interface ParsedPrebuilt {
  readonly status: number;
  /**
   * `:status`, a Date slot and every field but Date and Age as a flat name/value list, the form `stream.respond`
   * takes with the least work (Node copies a header object into a fresh one first; a list it reads as is).
   */
  readonly fields: readonly string[];
  /**
   * Where the values of Date and Age are in the buffer (start, end; -1 when absent): both are rewritten
   * in place by the cache (our Date every second, a proxied entry's Age), so they are read at each hit.
   */
  readonly dateAt: readonly [number, number];
  readonly ageAt: readonly [number, number];
  /** Body bytes that follow the head in the same buffer (a view of it), or null. */
  readonly inline: Buffer | null;
  /**
   * The last whole list sent for this buffer (Date filled in, HSTS added), with the Date bytes and the
   * HSTS value it was made with. node:http2 reads a list without changing it, so every hit sends this
   * very list until Date changes (once a second): no copy per hit.
   */
  list: string[] | null;
  listDate: Buffer | string;
  listHsts: string;
}

/** Pre-built heads parsed into field lists, per buffer (entries keep their buffers; the map keeps none). */
const PREBUILT = new WeakMap<Buffer, ParsedPrebuilt>();

/** Parse a pre-built HTTP/1.1 response head into an HTTP/2 field list (status, fields without Date). */
function parsePrebuilt(bytes: Buffer): ParsedPrebuilt {
  const cached = PREBUILT.get(bytes);
  if (cached !== undefined) return cached;
  const end = bytes.indexOf('\r\n\r\n');
  const headEnd = end === -1 ? bytes.length : end;
  const text = bytes.toString('latin1', 0, headEnd);
  let dateAt: [number, number] = [-1, -1];
  let ageAt: [number, number] = [-1, -1];
  let lineStart = text.indexOf('\r\n') + 2;
  const status = Number(text.slice(0, lineStart).split(' ')[1]);
  // The Date slot comes first, so that a hit copies the list and sets one element.
  const fields: string[] = [':status', String(status), 'date', ''];
  while (lineStart > 1 && lineStart < text.length) {
    let lineEnd = text.indexOf('\r\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    const colon = text.indexOf(':', lineStart);
    if (colon > lineStart && colon < lineEnd) {
      const name = text.slice(lineStart, colon).toLowerCase();
      // latin1: one byte per character, so string offsets are buffer offsets.
      if (name === 'date') dateAt = [colon + 1, lineEnd];
      else if (name === 'age') ageAt = [colon + 1, lineEnd];
      else if (!CONNECTION_FIELDS.has(name)) fields.push(name, text.slice(colon + 1, lineEnd).trim());
    }
    lineStart = lineEnd + 2;
  }
  const bodyOffset = end === -1 ? bytes.length : end + 4;
  const inline = bodyOffset < bytes.length ? bytes.subarray(bodyOffset) : null;
  const parsed: ParsedPrebuilt = {
    status,
    fields,
    dateAt,
    ageAt,
    inline,
    list: null,
    listDate: '',
    listHsts: '',
  };
  PREBUILT.set(bytes, parsed);
  return parsed;
}

/** The field list for a hit on `bytes`: the one sent last while its Date and HSTS still hold. */
function prebuiltFields(parsed: ParsedPrebuilt, bytes: Buffer, hsts: string): string[] {
  const [dateStart, dateEnd] = parsed.dateAt;
  const list = parsed.list;
  if (list !== null && parsed.listHsts === hsts) {
    const date = parsed.listDate;
    if (typeof date === 'string' ? date === httpDate() : sameBytes(bytes, dateStart, date)) return list;
  }
  const fields = parsed.fields.slice();
  if (dateStart < 0) {
    fields[3] = httpDate();
    parsed.listDate = fields[3];
  } else {
    fields[3] = bytes.toString('latin1', dateStart, dateEnd).trim();
    parsed.listDate = Buffer.from(bytes.subarray(dateStart, dateEnd));
  }
  if (hsts !== '') fields.push('strict-transport-security', hsts);
  parsed.list = fields;
  parsed.listHsts = hsts;
  return fields;
}

/** Whether `bytes` holds `expected` at `at` (compared from the end: the seconds change first). */
function sameBytes(bytes: Buffer, at: number, expected: Buffer): boolean {
  for (let i = expected.length - 1; i >= 0; i--) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

function checkValue(name: string, value: string): void {
  if (BAD_VALUE.test(value)) throw new TypeError(`Invalid character in value of header "${name}"`);
}

/** Where a whole body encoded on the thread pool ends the response (nothing is pushed before). */
class H2EncodedEnd implements EncodedOutput {
  private readonly res: H2Response;
  constructor(res: H2Response) {
    this.res = res;
  }
  push(): boolean {
    throw new Error('HTTP/2 responses encode whole bodies only');
  }
  finish(last: Buffer | null): void {
    this.res.endRaw(last);
  }
  fail(): void {
    this.res.destroy();
  }
  onDrain(callback: () => void): void {
    process.nextTick(callback);
  }
}

/** One response on one HTTP/2 stream. */
export class H2Response implements Response {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  finished = false;
  aborted = false;
  file: FileSource | null = null;
  capturedBody: Buffer | null = null;
  // Declared as on HTTP/1.1 (the cache and proxy set them on most responses): a field set later would
  // give every response a second hidden class and a property store of its own.
  cacheStatus = '';
  upstreamAddress = '';
  upstreamTime = -1;
  /** The engine-side answer (a handler error) replaced the handler's: later calls are ignored. */
  locked = false;
  ended = false;

  readonly req: HttpRequest;
  private readonly stream: ServerHttp2Stream;
  private readonly owner: H2ResponseOwner;
  private readonly isHead: boolean;
  // NONE until the first setHeader: a cache hit (sendPrebuilt) sets no field and allocates no list.
  private names: string[] = NONE;
  private keys: string[] = NONE;
  private values: HeaderValue[] = NONE;
  private written = 0;
  private declaredLength = -1;
  private abortCallbacks: Array<() => void> | null = null;
  private captureLimit = -1;
  private captureParts: Buffer[] | null = null;
  private captureSize = 0;
  private reported = false;
  /** Fields added for this response only (`addTransientHeader`): lower-cased names and their values. */
  private transientKeys: string[] | null = null;
  private transientValues: string[] | null = null;
  /** Lower-cased names left out of the head sent for this response (`suppressHeader`). */
  private suppressed: string[] | null = null;
  /** Asked when a whole body ends the response (`setBodyEncoder`); streamed bodies go out as they are. */
  private encoder: BodyEncoder | null = null;
  /** The encoder is encoding the body on the thread pool: the producer is done. */
  private encoding = false;
  /** Called once the stream closed (after the abort callbacks): releases memory the body borrowed. */
  private onClosed: (() => void) | null = null;

  constructor(stream: ServerHttp2Stream, req: HttpRequest, owner: H2ResponseOwner) {
    this.stream = stream;
    this.req = req;
    this.owner = owner;
    this.isHead = req.method === 'HEAD';
  }

  get bodyBytes(): number {
    return this.written;
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
    if (key === 'content-length' && !/^\d{1,15}$/.test(String(value)))
      throw new TypeError(`Invalid Content-Length "${String(value)}"`);
    if (this.keys === NONE) {
      this.names = [];
      this.keys = [];
      this.values = [];
    }
    const i = this.keys.indexOf(key);
    if (i === -1) {
      this.names.push(name);
      this.keys.push(key);
      this.values.push(value);
    } else {
      this.names[i] = name;
      this.values[i] = value;
    }
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    const i = this.keys.indexOf(name.toLowerCase());
    return i === -1 ? undefined : this.values[i];
  }

  hasHeader(name: string): boolean {
    return this.keys.indexOf(name.toLowerCase()) !== -1;
  }

  removeHeader(name: string): this {
    if (this.headersSent) {
      if (this.locked) return this;
      throw new Error(`Cannot remove header "${name}": the head was already sent`);
    }
    const i = this.keys.indexOf(name.toLowerCase());
    if (i !== -1) {
      this.names.splice(i, 1);
      this.keys.splice(i, 1);
      this.values.splice(i, 1);
    }
    return this;
  }

  addTransientHeader(name: string, value: string): this {
    checkTransientField(name, this.headersSent, this.locked);
    checkValue(name, value);
    if (this.transientKeys === null) {
      this.transientKeys = [name.toLowerCase()];
      this.transientValues = [value];
    } else {
      this.transientKeys.push(name.toLowerCase());
      this.transientValues!.push(value);
    }
    return this;
  }

  suppressHeader(name: string): this {
    checkTransientField(name, this.headersSent, this.locked);
    this.suppressed = withSuppressed(this.suppressed, name);
    return this;
  }

  /** This response's own edits on the header object about to be sent: suppressed names out, added in. */
  /** Applies this response's own field edits to a flat name/value list as node:http2 takes it. */
  private applyTransient(fields: string[]): void {
    const suppressed = this.suppressed;
    if (suppressed !== null) {
      let kept = 0;
      for (let i = 0; i < fields.length; i += 2) {
        if (suppressed.includes(fields[i]!)) continue;
        fields[kept++] = fields[i]!;
        fields[kept++] = fields[i + 1]!;
      }
      fields.length = kept;
    }
    const keys = this.transientKeys;
    if (keys === null) return;
    const values = this.transientValues!;
    for (let i = 0; i < keys.length; i++) fields.push(keys[i]!, values[i]!);
  }

  headerEntries(): ReadonlyArray<readonly [string, HeaderValue]> {
    return this.keys.map((_, i) => [this.names[i]!, this.values[i]!] as const);
  }

  writeHead(status?: number, reason?: string): this {
    if (this.aborted) return this;
    if (this.headersSent) {
      if (this.locked) return this;
      throw new Error('writeHead: the head was already sent');
    }
    if (status !== undefined) this.statusCode = status;
    if (reason !== undefined) this.statusMessage = reason; // HTTP/2 has no reason phrase (RFC 9113 §8.3.2)
    this.encoder = null;
    this.respond(-1, false);
    return this;
  }

  setBodyEncoder(encoder: BodyEncoder): void {
    if (!this.headersSent) this.encoder = encoder;
  }

  write(chunk: Buffer | string, onFlushed?: () => void): boolean {
    if (this.ended || this.locked || this.aborted || this.encoding) return true;
    this.encoder = null;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.capture(buf);
    if (!this.headersSent) this.respond(-1, false);
    const body = this.bodyPart(buf);
    if (body === null || this.stream.destroyed) {
      onFlushed?.();
      return true;
    }
    this.written += body.length;
    const flushed = this.captureParts === null ? onFlushed : undefined;
    return this.stream.write(body, flushed === undefined ? undefined : (error) => error == null && flushed());
  }

  end(chunk?: Buffer | string): void {
    if (this.ended || this.locked || this.encoding) return;
    if (this.aborted) {
      this.ended = true;
      return;
    }
    let buf = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const encoder = this.encoder;
    if (encoder !== null) {
      this.encoder = null;
      // Only a whole body (or a HEAD's fields) is encoded over HTTP/2: one `end(body)`.
      if (buf !== null || this.isHead) {
        const result = encoder.start(this.req, this, buf, new H2EncodedEnd(this));
        if (result instanceof Uint8Array) buf = buf === null ? null : result;
        else if (result !== null) {
          this.encoding = true;
          if (buf !== null) result.write(buf);
          result.end();
          return;
        }
      }
    }
    this.endRaw(buf);
  }

  /**
   * `end` with a body in memory the caller lends (the shared cache's staging area, scratch memory):
   * `onReleased` runs once the stream closed, when nghttp2 no longer holds the bytes, sent or reset.
   */
  endLent(chunk: Buffer, onReleased: () => void): void {
    if (this.ended || this.locked || this.encoding || this.aborted || this.stream.destroyed) {
      // Nothing will hold the bytes. A stream gone without its close event yet is aborted by that event.
      onReleased();
      if (this.aborted) this.ended = true;
      return;
    }
    if (this.encoder !== null) {
      // An encoder may read its input later, on the thread pool: it gets bytes of its own.
      const own = Buffer.from(chunk);
      onReleased();
      this.end(own);
      return;
    }
    this.onClosed = onReleased;
    this.endRaw(chunk);
  }

  /** The end of the body as sent (the producer's, or its encoding). */
  endRaw(buf: Buffer | null): void {
    if (this.ended || this.locked) return;
    if (this.aborted) {
      this.ended = true;
      return;
    }
    if (buf !== null) this.capture(buf);
    this.ended = true;
    if (this.captureParts !== null) {
      this.capturedBody =
        this.captureParts.length === 1
          ? this.captureParts[0]!
          : Buffer.concat(this.captureParts, this.captureSize);
      this.captureParts = null;
    }
    if (!this.headersSent) {
      const length = buf !== null ? buf.length : this.isHead ? -2 : 0;
      if (this.respond(length, buf === null || buf.length === 0 || this.isHead)) {
        this.finish();
        return;
      }
    }
    const body = buf === null ? null : this.bodyPart(buf);
    if (body !== null) this.written += body.length;
    if (this.stream.destroyed) return;
    this.stream.end(body ?? undefined, () => this.finish());
  }

  onDrain(callback: () => void): void {
    if (this.stream.writableNeedDrain) this.stream.once('drain', callback);
    else process.nextTick(callback);
  }

  onAbort(callback: () => void): void {
    if (this.aborted) {
      process.nextTick(callback);
      return;
    }
    if (this.finished) return;
    (this.abortCallbacks ??= []).push(callback);
  }

  sendPrebuilt(bytes: Buffer, body?: Buffer | null, onReleased?: (() => void) | null): void {
    // A response whose stream is gone takes anything quietly, as the h1 one does (a collapsed cache miss
    // answers every waiter, gone or not).
    if (this.locked || this.aborted) {
      onReleased?.();
      return;
    }
    // The body may be the caller's memory (a pinned shared-cache extent): released once the stream is
    // closed, which is when nghttp2 no longer holds it, whether it was sent or reset.
    if (onReleased !== undefined && onReleased !== null) {
      if (body === undefined || body === null || this.stream.destroyed) onReleased();
      else this.onClosed = onReleased;
    }
    if (this.headersSent || this.ended) throw new Error('sendPrebuilt: the head was already sent');
    const parsed = parsePrebuilt(bytes);
    this.statusCode = parsed.status;
    this.ended = true;
    this.headersSent = true;
    let fields = prebuiltFields(parsed, bytes, this.owner.hsts);
    const [ageStart, ageEnd] = parsed.ageAt;
    const transient = this.transientKeys !== null || this.suppressed !== null;
    // The shared list is never changed: a per-hit field (Age, a `headers` rule) goes on a copy.
    if (ageStart >= 0 || transient) fields = fields.slice();
    if (ageStart >= 0) fields.push('age', bytes.toString('latin1', ageStart, ageEnd).trim());
    if (transient) this.applyTransient(fields);
    const inline = parsed.inline;
    const hasBody =
      !this.isHead && ((inline !== null && inline.length > 0) || (body != null && body.length > 0));
    if (this.stream.destroyed) return;
    this.stream.respond(fields, hasBody ? MORE : END_STREAM);
    if (!hasBody) {
      this.finish();
      return;
    }
    if (inline !== null && inline.length > 0) {
      this.written += inline.length;
      if (body != null && body.length > 0) this.stream.write(inline);
      else {
        this.stream.end(inline, () => this.finish());
        return;
      }
    }
    this.written += body!.length;
    this.stream.end(body!, () => this.finish());
  }

  writeInterim(status: number, fields?: InterimFields): boolean {
    if (!Number.isInteger(status) || status < 102 || status > 199)
      throw new RangeError(`Invalid interim status code ${status} (102..199)`);
    if (this.headersSent || this.ended || this.locked || this.aborted || this.stream.destroyed) return false;
    const headers: H2Headers = { ':status': status };
    const add = (name: string, value: HeaderValue): void => {
      if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
      const key = name.toLowerCase();
      if (CONNECTION_FIELDS.has(key) || key === 'content-length') return;
      const list = typeof value === 'object' ? value.map(String) : [String(value)];
      for (const v of list) checkValue(name, v);
      const previous = headers[key];
      headers[key] =
        previous === undefined
          ? list.length === 1
            ? list[0]!
            : list
          : [...[previous].flat().map(String), ...list];
    };
    if (fields !== undefined) {
      if (typeof (fields as Partial<HeaderList>).rawName === 'function') {
        const list = fields as HeaderList;
        for (let i = 0; i < list.length; i++) add(list.rawName(i), list.value(i));
      } else
        for (const [name, value] of fields as ReadonlyArray<readonly [string, HeaderValue]>) add(name, value);
    }
    this.stream.additionalHeaders(headers);
    return true;
  }

  destroy(): void {
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  captureBody(limit: number): void {
    if (this.written > 0 || this.captureParts !== null) return;
    this.captureLimit = limit;
    this.captureParts = [];
    this.captureSize = 0;
  }

  /** A handler failed before sending anything: answer `status` in its place. False when too late. */
  replaceWithError(status: number, message: string): boolean {
    if (this.headersSent || this.ended || this.encoding) return false;
    this.encoder = null;
    this.names = [];
    this.keys = [];
    this.values = [];
    this.captureParts = null;
    this.captureLimit = -1;
    this.statusCode = status;
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.end(message);
    this.locked = true;
    return true;
  }

  /** The stream closed: if the response did not finish, it was aborted. */
  streamClosed(): void {
    if (!this.finished && this.stream.rstCode !== NGHTTP2_NO_ERROR) this.owner.reset();
    if (!this.finished) {
      this.aborted = true;
      const callbacks = this.abortCallbacks;
      this.abortCallbacks = null;
      if (callbacks !== null) for (const cb of callbacks) cb();
      this.report();
    }
    const onClosed = this.onClosed;
    if (onClosed !== null) {
      this.onClosed = null;
      onClosed();
    }
  }

  private finish(): void {
    if (this.finished || this.aborted) return;
    this.finished = true;
    this.abortCallbacks = null;
    this.report();
  }

  private report(): void {
    if (this.reported) return;
    this.reported = true;
    this.owner.done(this.req, this);
  }

  /** The part of `buf` that may still be sent: nothing for HEAD or no-content statuses, not past Content-Length. */
  private bodyPart(buf: Buffer): Buffer | null {
    const code = this.statusCode;
    if (this.isHead || code === 204 || code === 304 || code < 200) return null;
    if (this.declaredLength >= 0) {
      const room = this.declaredLength - this.written;
      if (buf.length > room) buf = room > 0 ? buf.subarray(0, room) : Buffer.alloc(0);
    }
    return buf.length === 0 ? null : buf;
  }

  /**
   * Send the head. `bodyLength`: known length (end(body) first), -1 streaming, -2 no framing (HEAD).
   * Returns true when the stream ended with the head (no body follows).
   */
  private respond(bodyLength: number, endWithHead: boolean): boolean {
    const code = this.statusCode;
    if (!Number.isInteger(code) || code < 200 || code > 999)
      throw new RangeError(`Invalid status code ${code}`);
    this.headersSent = true;
    const fields: string[] = [':status', String(code)];
    let hasDate = false;
    let hasLength = false;
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (CONNECTION_FIELDS.has(key)) continue;
      const value = this.values[i]!;
      if (key === 'content-length') {
        if (code === 204) continue;
        hasLength = true;
        this.declaredLength = Number(value);
      } else if (key === 'date') hasDate = true;
      if (typeof value === 'string') fields.push(key, value);
      else for (const v of value as readonly string[]) fields.push(key, v);
    }
    if (!hasDate) fields.push('date', httpDate());
    if (this.owner.hsts !== '') fields.push('strict-transport-security', this.owner.hsts);
    if (this.transientKeys !== null || this.suppressed !== null) this.applyTransient(fields);
    const noContent = code === 204 || code === 304;
    if (!hasLength && !noContent && bodyLength >= 0) {
      fields.push('content-length', String(bodyLength));
      this.declaredLength = bodyLength;
    }
    const endStream = endWithHead || noContent;
    if (this.stream.destroyed) return endStream;
    this.stream.respond(fields, endStream ? END_STREAM : MORE);
    return endStream;
  }

  private capture(buf: Buffer): void {
    if (this.captureLimit < 0) return;
    if (this.captureSize + buf.length > this.captureLimit) {
      this.captureLimit = -1;
      this.captureParts = null;
      return;
    }
    this.captureParts!.push(buf);
    this.captureSize += buf.length;
  }
}
