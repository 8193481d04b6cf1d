/**
 * The response writer. It turns status + fields into one latin1 string, then one Buffer; a small body is
 * copied into that same Buffer so head and body leave in one `socket.write` (one syscall, one packet).
 * Framing (RFC 9112 §6): `Content-Length` when known, chunked on HTTP/1.1 otherwise, close-delimited on
 * HTTP/1.0. Bytes go through the connection (`ResponseSink`), which holds them back while an earlier
 * pipelined response is still being written.
 */
// Not the global (an accessor: an IC call per use in optimized code); see src/http/connection.ts.
import { Buffer } from 'node:buffer';
import { httpDate, httpDateBuffer } from './date.ts';
import type { HttpRequest } from './request.ts';
import { statusLine } from './status.ts';
import type {
  BodyEncoder,
  BodyStream,
  EncodedOutput,
  FileSource,
  HeaderList,
  HeaderValue,
  InterimFields,
  Response,
  TakenOverSocket,
} from './types.ts';

/** The connection side of a response. */
export interface ResponseSink {
  /** The head is about to be serialised: last chance to turn `res.keepAlive` off. */
  prepareHead(res: HttpResponse): void;
  /**
   * Queue bytes of `res` in pipeline order; false when the writer should wait for `onDrain`. `onFlushed`,
   * when given, runs once the kernel took all of them (never if they are held back or the socket goes).
   * With `releaseOnError` it runs exactly once in every case: written, failed, held back then written or
   * dropped, or dropped at once (the bytes are no longer referenced then).
   */
  output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
    releaseOnError?: boolean,
  ): boolean;
  /** All bytes of `res` are queued. */
  ended(res: HttpResponse): void;
  /** Call `res`'s drain callbacks once the socket can take more. */
  wantDrain(res: HttpResponse): void;
  /** Destroy the connection (no clean end). */
  destroyResponse(res: HttpResponse): void;
  /** Hand the socket of `res`'s upgrade request to its handler (see `Response.takeOver`). */
  takeOver?(res: HttpResponse): TakenOverSocket | undefined;
  /** Field lines added to every head, pre-built ones included (see `EngineOptions.responseFields`). */
  readonly extraFields?: string;
}

const MODE_NONE = 0;
const MODE_LENGTH = 1;
const MODE_CHUNKED = 2;
const MODE_CLOSE = 3;
const MODE_NO_BODY = 4;

/** Below this a body is copied next to the head (one write); above, head and body go out corked. */
const COPY_LIMIT = 16 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Fields a per-request edit (`addTransientHeader`, `suppressHeader`) may not touch: framing is the
 * engine's, hop-by-hop fields describe one connection (RFC 9110 §7.6.1), `Date` has its own slot in
 * pre-built heads.
 */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'date',
]);

/** RFC 9110 §5.1 field-name = token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Checks a per-request field edit (`addTransientHeader`, `suppressHeader`) the same way on both protocols:
 * a valid name that is not the engine's, before the head is sent (after it, a locked response ignores
 * the edit).
 */
export function checkTransientField(name: string, headersSent: boolean, locked: boolean): void {
  if (headersSent) {
    if (locked) return;
    throw new Error(`Cannot change header "${name}": the head was already sent`);
  }
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
  if (RESERVED_FIELDS.has(name.toLowerCase()))
    throw new TypeError(`Header "${name}" is the engine's (framing, hop-by-hop or Date)`);
}

/** The suppressed-names list with `name` (lower-cased) in it once. */
export function withSuppressed(list: string[] | null, name: string): string[] {
  const key = name.toLowerCase();
  if (list === null) return [key];
  if (!list.includes(key)) list.push(key);
  return list;
}
/** RFC 9110 §5.5: no CR, LF or NUL (or other controls but HTAB) in a field value: prevents response splitting. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function toBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

function checkValue(name: string, value: string): void {
  if (BAD_VALUE.test(value)) throw new TypeError(`Invalid character in value of header "${name}"`);
}

/**
 * One field line of an interim response (`name: value\r\n` per value), validated like a final head's; `''`
 * for the fields a 1xx never carries: no content (RFC 9110 §15.2, so no Content-Length or
 * Transfer-Encoding) and no say over the connection (the final response decides).
 */
function interimField(name: string, value: HeaderValue): string {
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
  const key = name.toLowerCase();
  if (key === 'content-length' || key === 'transfer-encoding' || key === 'connection') return '';
  if (typeof value === 'number') return name + ': ' + value + '\r\n';
  if (typeof value === 'string') {
    checkValue(name, value);
    return name + ': ' + value + '\r\n';
  }
  let lines = '';
  for (const v of value) {
    checkValue(name, v);
    lines += name + ': ' + v + '\r\n';
  }
  return lines;
}

/** `bytes` (a whole pre-built response) with `fields` inserted after its status line. */
function withFields(bytes: Buffer, fields: string): Buffer {
  const eol = bytes.indexOf(CRLF);
  if (eol === -1) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + fields.length);
  bytes.copy(out, 0, 0, eol + 2);
  out.write(fields, eol + 2, 'latin1');
  bytes.copy(out, eol + 2 + fields.length, eol + 2);
  return out;
}

function isHeaderList(fields: InterimFields): fields is HeaderList {
  return typeof (fields as Partial<HeaderList>).rawName === 'function';
}

export class HttpResponse implements Response {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  finished = false;
  aborted = false;
  file: FileSource | null = null;
  capturedBody: Buffer | null = null;
  cacheStatus = '';
  upstreamAddress = '';
  upstreamTime = -1;

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
  /** Release callbacks of held bytes (`sendPrebuilt`'s `onReleased`): run once they leave or are dropped. */
  pendingReleases: Array<() => void> | null = null;
  /** The engine answered in the handler's place (an error reply): later handler calls are ignored. */
  locked = false;
  /** Made by the engine itself (timeout, parse error): no handler saw it, no hooks run for it. */
  internal = false;
  drainCallbacks: Array<() => void> | null = null;
  abortCallbacks: Array<() => void> | null = null;

  private readonly sink: ResponseSink;
  private readonly isHead: boolean;
  private names: string[] | null = null;
  private keys: string[] | null = null;
  private values: HeaderValue[] | null = null;
  private mode = MODE_NONE;
  private declaredLength = -1;
  private written = 0;
  private prebuilt: Buffer | null = null;
  private prebuiltBody: Buffer | null = null;
  /** Body bytes of a pre-built answer when its caller said where the head ends; -1: find out on demand. */
  private prebuiltBodyLength = -1;
  private captureLimit = -1;
  private captureParts: Buffer[] | null = null;
  private captureSize = 0;
  /** Field lines added for this response only (`addTransientHeader`), never part of `headerEntries()`. */
  private transient = '';
  /** Lower-cased names left out of the head written for this response (`suppressHeader`). */
  private suppressed: string[] | null = null;
  /** Asked once, when the head is about to be written (`setBodyEncoder`). */
  private encoder: BodyEncoder | null = null;
  /** The streaming encoder the producer's body goes through, once `encoder` chose one. */
  private stream: BodyStream | null = null;
  /** The producer ended its body, which the stream is still encoding. */
  private producerDone = false;

  constructor(sink: ResponseSink, req: HttpRequest) {
    this.sink = sink;
    this.req = req;
    this.keepAlive = req.keepAlive;
    this.isHead = req.method === 'HEAD';
  }

  /** The body ends when the connection does (an HTTP/1.0 client, length unknown: RFC 9112 §6.3). */
  get closeDelimited(): boolean {
    return this.mode === MODE_CLOSE;
  }

  get bodyBytes(): number {
    if (this.prebuilt !== null) {
      // Read once per response (the server's byte counters): known from `headLength` on the cache's hit
      // path, else one scan of the head.
      if (this.prebuiltBodyLength >= 0) return this.prebuiltBodyLength;
      const end = this.prebuilt.indexOf(HEAD_END);
      const inHead = end === -1 ? 0 : this.prebuilt.length - end - 4;
      return this.prebuiltBody === null ? inHead : inHead + this.prebuiltBody.length;
    }
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

  addTransientHeader(name: string, value: string): this {
    // Rules add the same (name, value) strings to request after request: the last line is remembered,
    // so a repeat costs two pointer compares instead of two regex tests and a concatenation.
    let line: string;
    if (name === lastAddName && value === lastAddValue && !this.headersSent) line = lastAddLine;
    else {
      checkTransientField(name, this.headersSent, this.locked);
      checkValue(name, value);
      line = name + ': ' + value + '\r\n';
      lastAddName = name;
      lastAddValue = value;
      lastAddLine = line;
    }
    this.transient = this.transient === '' ? line : this.transient + line;
    return this;
  }

  suppressHeader(name: string): this {
    checkTransientField(name, this.headersSent, this.locked);
    this.suppressed = withSuppressed(this.suppressed, name);
    return this;
  }

  headerEntries(): ReadonlyArray<readonly [string, HeaderValue]> {
    const out: Array<readonly [string, HeaderValue]> = [];
    if (this.keys !== null)
      for (let i = 0; i < this.keys.length; i++) out.push([this.names![i]!, this.values![i]!]);
    return out;
  }

  setBodyEncoder(encoder: BodyEncoder): void {
    if (!this.headersSent) this.encoder = encoder;
  }

  /**
   * Let the encoder look at the response before its head is built: the body to send instead of `whole`
   * (the same one, or its encoding), or a stream set up for the chunks to come.
   */
  private openEncoder(whole: Buffer | null): Buffer | null {
    const encoder = this.encoder!;
    this.encoder = null;
    const result = encoder.start(this.req, this, whole, new EncodedSink(this));
    if (result === null) return whole;
    if (result instanceof Uint8Array) return whole === null ? null : result;
    this.stream = result;
    return whole;
  }

  writeHead(status?: number, reason?: string): this {
    if (this.headersSent) {
      if (this.locked) return this;
      throw new Error('writeHead: the head was already sent');
    }
    if (status !== undefined) this.statusCode = status;
    if (reason !== undefined) this.statusMessage = reason;
    if (this.encoder !== null) this.openEncoder(null);
    const head = this.buildHead(-1);
    this.sink.output(this, Buffer.from(head, 'latin1'), null, null);
    return this;
  }

  write(chunk: Buffer | string, onFlushed?: () => void): boolean {
    // Writes after end (or after the engine took over) are dropped rather than thrown: they usually come
    // from a stream callback racing an abort, where a throw would take the whole worker down.
    if (this.ended || this.locked || this.producerDone) return true;
    if (this.encoder !== null) this.openEncoder(null);
    // The encoder may hold the chunk until it is encoded: its buffer is never reported free for reuse.
    if (this.stream !== null) return this.stream.write(toBuffer(chunk));
    return this.writeRaw(chunk, onFlushed);
  }

  /** A body chunk as it goes on the wire (the producer's, or the encoder's output). */
  writeRaw(chunk: Buffer | string, onFlushed?: () => void): boolean {
    if (this.ended || this.locked) return true;
    const buf = toBuffer(chunk);
    this.capture(buf);
    const head = this.headersSent ? null : this.buildHead(-1);
    // A captured chunk is kept by the cache: its buffer must never be handed back for reuse.
    return this.emit(head, buf, false, this.captureParts === null ? onFlushed : undefined);
  }

  end(chunk?: Buffer | string): void {
    if (this.ended || this.locked || this.producerDone) return;
    let buf = chunk === undefined ? null : toBuffer(chunk);
    if (this.encoder !== null) buf = this.openEncoder(buf);
    const stream = this.stream;
    if (stream === null) {
      this.endRaw(buf);
      return;
    }
    this.producerDone = true;
    if (buf !== null && buf.length > 0) stream.write(buf);
    stream.end();
  }

  endLent(chunk: Buffer, onReleased: () => void): void {
    if (this.ended || this.locked || this.producerDone) {
      onReleased();
      return;
    }
    const buf = this.encoder === null ? chunk : this.openEncoder(chunk);
    const stream = this.stream;
    if (stream === null && buf === chunk) {
      this.endRaw(chunk, onReleased);
      return;
    }
    // Encoded, the lent bytes are not what leaves: an encoded whole body goes instead, and a streaming
    // encoder (which may read its input later) gets a copy of its own. Either way they are free now.
    if (stream === null) {
      onReleased();
      this.endRaw(buf);
      return;
    }
    this.producerDone = true;
    stream.write(Buffer.from(chunk));
    onReleased();
    stream.end();
  }

  /**
   * The end of the body on the wire (the producer's, or the encoder's once it flushed); `onReleased`: the
   * release of a lent `buf` (`endLent`).
   */
  endRaw(buf: Buffer | null, onReleased?: () => void): void {
    if (this.ended || this.locked) {
      onReleased?.();
      return;
    }
    if (buf !== null) this.capture(buf);
    let head: string | null = null;
    if (!this.headersSent) {
      // A HEAD answered with a bare end() says nothing about the GET's length: send no framing at all.
      head = this.buildHead(buf !== null ? buf.length : this.isHead ? -2 : 0);
    }
    this.ended = true;
    this.emit(head, buf, true, onReleased, onReleased !== undefined);
    if (this.mode === MODE_LENGTH && this.written < this.declaredLength && !this.isHead) {
      // Fewer bytes than announced: closing is the only way the client can tell the body is truncated.
      this.keepAlive = false;
    }
    if (this.captureParts !== null) {
      this.capturedBody =
        this.captureParts.length === 1
          ? this.captureParts[0]!
          : Buffer.concat(this.captureParts, this.captureSize);
      this.captureParts = null;
    }
    this.sink.ended(this);
  }

  onDrain(callback: () => void): void {
    // Behind an encoder the producer waits for it first, then for the socket.
    const stream = this.stream;
    if (stream !== null) stream.onDrain(() => this.onSocketDrain(callback));
    else this.onSocketDrain(callback);
  }

  /** Run `callback` once the socket can take more of this response. */
  onSocketDrain(callback: () => void): void {
    (this.drainCallbacks ??= []).push(callback);
    this.sink.wantDrain(this);
  }

  onAbort(callback: () => void): void {
    if (this.aborted) {
      process.nextTick(callback);
      return;
    }
    if (this.finished) return;
    (this.abortCallbacks ??= []).push(callback);
  }

  sendPrebuilt(
    bytes: Buffer,
    body?: Buffer | null,
    onReleased?: (() => void) | null,
    headLength?: number,
  ): void {
    if (this.locked) {
      onReleased?.();
      return;
    }
    if (this.headersSent || this.ended) throw new Error('sendPrebuilt: the head was already sent');
    this.headersSent = true;
    if (headLength !== undefined) this.prebuiltBodyLength = bytes.length - headLength + (body?.length ?? 0);
    this.sink.prepareHead(this);
    const extra = this.sink.extraFields;
    if (extra !== undefined && extra !== '') bytes = withFields(bytes, extra);
    this.prebuilt = bytes;
    this.ended = true;
    if (this.transient !== '' || this.suppressed !== null) {
      if (headLength !== undefined && this.suppressed === null && (body === undefined || body === null))
        this.outputMemoized(bytes, headLength);
      else this.outputEdited(bytes, body ?? null, headLength ?? bytes.indexOf(HEAD_END) + 4, onReleased);
      // Without a body nothing written later reads the caller's memory (the head was copied or is written now).
      if (body === undefined || body === null) onReleased?.();
    }
    // A separate body leaves with its head in one corked writev: one syscall, no copy (the cache keeps
    // large bodies apart from their head so that storing them copies nothing).
    else if (body === undefined || body === null || body.length === 0) {
      this.sink.output(this, bytes, null, null);
      onReleased?.();
    } else {
      this.prebuiltBody = body;
      if (onReleased === undefined || onReleased === null) this.sink.output(this, bytes, body, null);
      else this.sink.output(this, bytes, body, null, onReleased, true);
    }
    this.sink.ended(this);
  }

  /**
   * A pre-built answer with this request's own field edits: the head without its blank line, the added
   * fields with the blank line, then the body, in one corked writev (views of the pre-built bytes, no
   * copy; the added lines' buffer is shared by every response that adds the same lines). Suppressed fields
   * need the head's lines filtered and re-encoded: the slower path `set` / `remove` rules pay.
   */
  private outputEdited(
    bytes: Buffer,
    body: Buffer | null,
    headLength: number,
    onReleased?: (() => void) | null,
  ): void {
    // A body's memory may belong to the caller (a shared-cache extent): it is released once written.
    const release = body !== null && onReleased !== undefined && onReleased !== null ? onReleased : null;
    const end = headLength - 4;
    if (end < 0) {
      const tail = body !== null && body.length > 0 ? body : null;
      this.sink.output(this, bytes, tail, null, release, release !== null);
      if (tail === null) release?.();
      return;
    }
    let rest: Buffer | null = end + 4 < bytes.length ? bytes.subarray(end + 4) : null;
    if (body !== null && body.length > 0) rest = rest === null ? body : Buffer.concat([rest, body]);
    if (this.suppressed === null) {
      this.sink.output(
        this,
        bytes.subarray(0, end + 2),
        transientBlock(this.transient),
        rest,
        release,
        release !== null,
      );
      return;
    }
    const head = filterHead(bytes.toString('latin1', 0, end + 2), this.suppressed);
    this.sink.output(
      this,
      Buffer.from(head + this.transient + '\r\n', 'latin1'),
      rest,
      null,
      release,
      release !== null,
    );
  }

  /**
   * A cache entry's pre-built answer (stable bytes: the caller knew their head length) with added fields:
   * the edited copy is kept beside the entry's buffer and reused for the rest of the second (the entry's
   * `Date` slot changes at most once per second), so a hit stays one write of one buffer. Answers
   * above {@link COPY_LIMIT} are not copied: they go out as a corked writev.
   */
  private outputMemoized(bytes: Buffer, headLength: number): void {
    if (bytes.length > COPY_LIMIT) {
      this.outputEdited(bytes, null, headLength);
      return;
    }
    const block = transientBlock(this.transient);
    const second = httpDateBuffer();
    const memo = edited.get(bytes);
    if (memo !== undefined && memo.block === block && memo.second === second) {
      this.sink.output(this, memo.out, null, null);
      return;
    }
    const end = headLength - 2;
    const out = Buffer.allocUnsafeSlow(bytes.length + block.length - 2);
    bytes.copy(out, 0, 0, end);
    block.copy(out, end);
    bytes.copy(out, end + block.length, headLength);
    edited.set(bytes, { block, second, out });
    this.sink.output(this, out, null, null);
  }

  writeInterim(status: number, fields?: InterimFields): boolean {
    // 100 is the engine's answer to Expect (connection.ts), 101 belongs to takeOver (RFC 9110 §15.2.2).
    if (!Number.isInteger(status) || status < 102 || status > 199)
      throw new RangeError(`Invalid interim status code ${status} (102..199)`);
    // RFC 9110 §15.2: "A server MUST NOT send a 1xx response to an HTTP/1.0 client".
    if (this.headersSent || this.ended || this.locked || this.aborted || this.req.versionMinor === 0)
      return false;
    // Built and validated whole before anything is queued: a bad field sends nothing.
    let head = statusLine(status);
    if (fields !== undefined) {
      if (isHeaderList(fields)) {
        for (let i = 0; i < fields.length; i++) head += interimField(fields.rawName(i), fields.value(i));
      } else for (const [name, value] of fields) head += interimField(name, value);
    }
    // Through the same pipeline queue as the final head: held back, in order, behind an earlier response.
    this.sink.output(this, Buffer.from(head + '\r\n', 'latin1'), null, null);
    return true;
  }

  takeOver(): TakenOverSocket | undefined {
    return this.sink.takeOver?.(this);
  }

  destroy(): void {
    this.sink.destroyResponse(this);
  }

  captureBody(limit: number): void {
    if (this.written > 0 || this.captureParts !== null) return;
    this.captureLimit = limit;
    this.captureParts = [];
    this.captureSize = 0;
  }

  /**
   * Answer with a short text/plain error in the handler's place when nothing was sent yet, then close.
   * Returns false when the head is already out (the caller must destroy the connection instead).
   */
  replaceWithError(status: number, message: string): boolean {
    if (this.headersSent || this.ended || this.producerDone) return false;
    this.names = this.keys = this.values = null;
    this.encoder = null;
    this.stream = null;
    this.captureParts = null;
    this.captureLimit = -1;
    this.statusCode = status;
    this.statusMessage = '';
    this.keepAlive = false;
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.end(message);
    this.locked = true;
    return true;
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

  /**
   * Serialise the head. `bodyLength`: the whole body's length when known (end(body) as first call), -1
   * when the body will stream, -2 for "no framing at all" (bare end() of a HEAD).
   */
  private buildHead(bodyLength: number): string {
    const code = this.statusCode;
    if (!Number.isInteger(code) || code < 100 || code > 999)
      throw new RangeError(`Invalid status code ${code}`);
    this.headersSent = true;
    this.sink.prepareHead(this);
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
    const suppressed = this.suppressed;
    if (keys !== null) {
      const names = this.names!;
      const values = this.values!;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const value = values[i]!;
        if (suppressed?.includes(key)) continue;
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
    const extra = this.sink.extraFields;
    if (extra !== undefined && extra !== '') head += extra;
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
    // Per-request fields go last, where a pre-built head gets them too (see outputEdited).
    if (!this.keepAlive) head += 'Connection: close\r\n' + this.transient + '\r\n';
    else if (this.req.versionMinor === 0) head += 'Connection: keep-alive\r\n' + this.transient + '\r\n';
    else head += this.transient === '' ? '\r\n' : this.transient + '\r\n';
    return head;
  }

  /** Frame `body` per the mode and hand head + body to the sink in as few writes as possible. */
  /** @param lent `onFlushed` is a lent body's release: called exactly once, written, failed or dropped */
  private emit(
    head: string | null,
    body: Buffer | null,
    last: boolean,
    onFlushed?: (() => void) | undefined,
    lent = false,
  ): boolean {
    const mode = this.mode;
    if (this.isHead || mode === MODE_NO_BODY) body = null;
    else if (body !== null && mode === MODE_LENGTH) {
      const room = this.declaredLength - this.written;
      // More than announced would desync the client's framing: the excess is dropped.
      if (body.length > room) body = room > 0 ? body.subarray(0, room) : null;
    }
    if (body !== null && body.length === 0) body = null; // an empty chunk would end a chunked body
    const size = body === null ? 0 : body.length;
    this.written += size;
    const chunked = mode === MODE_CHUNKED && !this.isHead;
    let prefix = '';
    if (chunked && size > 0) prefix = size.toString(16) + '\r\n';
    const tail = chunked ? (last ? (size > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n') : size > 0 ? '\r\n' : '') : '';
    const headLength = head === null ? 0 : head.length;
    if (size <= COPY_LIMIT) {
      const total = headLength + prefix.length + size + tail.length;
      let more: boolean;
      if (total === 0) more = this.sink.output(this, EMPTY, null, null);
      else {
        const out = Buffer.allocUnsafe(total);
        let at = 0;
        if (head !== null) at = out.write(head, 0, 'latin1');
        if (prefix !== '') at += out.write(prefix, at, 'latin1');
        if (body !== null) at += body.copy(out, at);
        if (tail !== '') out.write(tail, at, 'latin1');
        more = this.sink.output(this, out, null, null);
      }
      // The caller's buffer was copied (or not sent at all): it is free again right now.
      if (onFlushed !== undefined) onFlushed();
      return more;
    }
    const first = head === null ? prefix : head + prefix;
    const a = first === '' ? body! : Buffer.from(first, 'latin1');
    const b = first === '' ? null : body;
    let c: Buffer | null = null;
    if (tail !== '')
      c = tail === '\r\n' ? CRLF : tail === '0\r\n\r\n' ? LAST_CHUNK : Buffer.from(tail, 'latin1');
    // Only a body that leaves as it is (not copied next to the head above) can report its buffer flushed.
    const flushed = body !== null && onFlushed !== undefined ? onFlushed : null;
    if (b === null && c !== null) return this.sink.output(this, a, c, null, flushed, lent);
    return this.sink.output(this, a, b, c, flushed, lent);
  }
}

/** An encoder's way to the response's own writer, below the encoder. */
class EncodedSink implements EncodedOutput {
  private readonly res: HttpResponse;
  constructor(res: HttpResponse) {
    this.res = res;
  }
  push(chunk: Buffer): boolean {
    return this.res.writeRaw(chunk);
  }
  finish(last: Buffer | null): void {
    this.res.endRaw(last);
  }
  fail(): void {
    this.res.destroy();
  }
  onDrain(callback: () => void): void {
    this.res.onSocketDrain(callback);
  }
}

/** Edited copies of pre-built answers, by the entry's buffer (gone with it). */
const edited = new WeakMap<Buffer, { block: Buffer; second: Buffer; out: Buffer }>();

let lastAddName = '';
let lastAddValue = '';
let lastAddLine = '';
let lastTransient = '';
let lastBlock: Buffer = CRLF;

/**
 * `lines` + CRLF as bytes. Rules add the same lines to request after request: the last block is kept and
 * handed out again (it is never written to, so sockets may share it), so a hit allocates nothing for it.
 */
function transientBlock(lines: string): Buffer {
  if (lines !== lastTransient) {
    lastBlock = Buffer.from(lines + '\r\n', 'latin1');
    lastTransient = lines;
  }
  return lastBlock;
}

/** `head` (field lines ending in CRLF, status line first) without the lines of the `suppressed` names. */
function filterHead(head: string, suppressed: readonly string[]): string {
  let out = '';
  let start = 0;
  while (start < head.length) {
    const eol = head.indexOf('\r\n', start);
    const next = eol === -1 ? head.length : eol + 2;
    const colon = head.indexOf(':', start);
    // The status line has no colon before its end of line; field names are tokens, so no space either.
    const keep =
      start === 0 ||
      colon === -1 ||
      colon > next ||
      !suppressed.includes(head.slice(start, colon).toLowerCase());
    if (keep) out += head.slice(start, next);
    start = next;
  }
  return out;
}
