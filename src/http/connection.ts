/**
 * One client connection: a request parser, the queue of pipelined responses, the request body being
 * received, timeouts and backpressure. All state lives in plain fields of one object per connection; the
 * per-request cost is a Request, a Response and the head bytes.
 */
import type * as net from 'node:net';
// Imported rather than the global: globalThis.performance is an accessor, so each use in optimized code is
// an IC call (LoadGlobalIC, ~1% of the 1 KiB hit path's CPU in perf); a module binding is a constant.
import { performance } from 'node:perf_hooks';
import { type BodySource, RequestBody } from './body.ts';
import type { EngineContext } from './engine.ts';
import { EMPTY_HEADERS } from './headers.ts';
import { HttpParseError } from './parse-error.ts';
import { HttpParser } from './parser.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse, type ResponseSink } from './response.ts';
import { readIntoSharedBuffer } from './socket-reader.ts';
import type { ConnectionInfo, HeaderList, ParsedHead, ParserHandler, TakenOverSocket } from './types.ts';

const TIMER_NONE = 0;
/** Keep-alive idle: close silently. */
const TIMER_IDLE = 1;
/** A head is partly received (slowloris): 408 and close. */
const TIMER_HEADER = 2;
/** A body is partly received and the client went quiet: 408 (or destroy) and close. */
const TIMER_BODY = 3;
/** We ended our side and wait for the client's FIN: destroy. */
const TIMER_LINGER = 4;

/** Reasons the socket is paused; reading resumes when none is left. */
const PAUSE_WRITE = 1;
const PAUSE_BODY = 2;
const PAUSE_PIPELINE = 4;
/** An upgrade request waits for its handler: the bytes after its head belong to whoever takes the socket. */
const PAUSE_UPGRADE = 8;

/** Pipelined requests dispatched but unanswered before reading stops. */
const MAX_PIPELINE = 32;
/** Unread request body a finished keep-alive response may still swallow before closing instead. */
export const DISCARD_LIMIT = 64 * 1024;
/** How long a closing connection waits for the client's FIN (lingering close, RFC 9112 §9.6). */
const LINGER_MS = 2000;
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const NO_BYTES = Buffer.alloc(0);

/**
 * Stands in for the head of a request that never completed (timeouts, parse errors) in the engine's own
 * answer: a GET, so the error text is sent whatever the method was, as it always has been.
 */
const SYNTHETIC_HEAD: ParsedHead = {
  method: 'GET',
  target: '/',
  status: 0,
  reason: '',
  versionMinor: 1,
  headers: EMPTY_HEADERS,
  contentLength: -1,
  chunked: false,
  keepAlive: false,
  expectContinue: false,
  upgrade: false,
};

/**
 * The request an engine-made answer reports to `onEngineResponse` when its request line was not read
 * whole: no method, no target (an access log prints `-`), no fields.
 */
export const UNPARSED_HEAD: ParsedHead = Object.freeze({
  ...SYNTHETIC_HEAD,
  method: '',
  target: '',
});

/**
 * The head to report for the message a parse error or the header timeout interrupted: its method, target
 * and version when the parser had read the request line whole, else `UNPARSED_HEAD`.
 */
function interruptedHead(parser: HttpParser): ParsedHead {
  const line = parser.readRequestLine;
  return line === null ? UNPARSED_HEAD : { ...UNPARSED_HEAD, ...line };
}

/** A copy of `buf[start..end)` (reads into the shared buffer are overwritten by the next one). */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  buf.copy(copy, 0, start, end);
  return copy;
}

/** A socket write callback that reports success only: a failed write's buffer is not known to be free. */
function flushedCallback(onFlushed: () => void): (error?: Error | null) => void {
  return (error) => {
    if (error === undefined || error === null) onFlushed();
  };
}

export class Connection implements ConnectionInfo, ParserHandler, ResponseSink, BodySource {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  requestCount = 0;

  readonly socket: net.Socket;
  private readonly engine: EngineContext;
  private readonly parser: HttpParser;
  /** Pipeline queue: `first` is the response being written, later ones buffer their bytes. */
  private first: HttpResponse | null = null;
  private last: HttpResponse | null = null;
  private queued = 0;
  /** The message being parsed (head seen, not complete), its response and body. */
  private current: HttpRequest | null = null;
  private currentRes: HttpResponse | null = null;
  private currentBody: RequestBody | null = null;
  /** Set while the current request is owed a `100 Continue`. */
  private continueRes: HttpResponse | null = null;
  private discardStart = 0;
  private timer = TIMER_NONE;
  /** When the current timeout fires, in `performance.now()` time (monotonic: immune to clock steps). */
  private deadline = 0;
  /** `performance.now()` at the last socket read: the start time of the requests parsed from it. */
  private readAt = 0;
  private writeStalledSince = 0;
  private paused = 0;
  /**
   * Whether `socket.pause()` is in effect. With shared reads, pausing stops the handle's reads (a syscall,
   * and another to restart them), so write backpressure alone pauses lazily: a client waiting for its
   * answer sends nothing meanwhile, and the first read that does arrive pauses for real (`read`).
   */
  private socketPaused = false;
  /** New requests are dispatched; false after a closing request, an error, drain or the client's FIN. */
  private acceptRequests = true;
  /** Bytes go to the parser; false after an error, an upgrade or once we end: the rest is discarded. */
  private parsing = true;
  private inExecute = false;
  /** A write happened during the current parse / the socket is corked until it ends (see `output`). */
  private wroteInExecute = false;
  private corked = false;
  private peerEnded = false;
  private ending = false;
  /** Reads land in the engine's shared buffer (see socket-reader.ts): body bytes must be copied to be kept. */
  private sharedReads = false;
  /** The response of an upgrade request whose handler may still take the socket over (`takeOver`). */
  private upgradeRes: HttpResponse | null = null;
  /** Bytes read after that request's head, kept (copied) for whoever takes the socket. */
  private upgradeHead: Buffer | null = null;
  /** A handler took the socket (`takeOver`): reads go to it, the engine no longer parses or writes. */
  private tookOver = false;
  /**
   * The request the engine's own answer (at most one per connection: it closes after it) reports to
   * `onEngineResponse`; set only when that hook exists.
   */
  private rejected: HttpRequest | null = null;
  closed = false;

  constructor(engine: EngineContext, socket: net.Socket, id: number) {
    this.id = id;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.socket = socket;
    this.engine = engine;
    this.parser = new HttpParser('request', engine.options.limits, this);
  }

  /**
   * Attach the socket listeners and arm the first timeout. With `sharedBuffer`, reads go straight into it
   * when this Node allows (no Readable per read); the 'data' listener stays as the fallback either way.
   */
  start(sharedBuffer: Buffer | null): void {
    const socket = this.socket;
    if (sharedBuffer !== null) this.sharedReads = readIntoSharedBuffer(socket, sharedBuffer, this.onRead);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('drain', this.onSocketDrain);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    // A fresh connection that never sends anything is closed like an idle keep-alive one.
    const t = this.engine.options.timeouts;
    const idle = t.keepAliveTimeout > 0 ? t.keepAliveTimeout : t.headerTimeout;
    if (idle > 0) this.arm(TIMER_IDLE, performance.now() + idle);
  }

  // ---- socket events ----

  /**
   * A read into the shared buffer (`buf[0..nread)`): valid only until this returns. After a takeover the
   * bytes are copied into the socket's Readable side for its new owner; returning `push`'s verdict makes
   * Node stop reading while that owner's buffer is full, as it does for a socket in normal mode.
   */
  private readonly onRead = (nread: number, buf: Buffer): boolean => {
    if (this.tookOver) return this.socket.push(copyOf(buf, 0, nread));
    this.read(buf, nread);
    return true;
  };

  /** A read through the socket's Readable (the fallback path). */
  private readonly onData = (buf: Buffer): void => {
    this.read(buf, buf.length);
  };

  private read(buf: Buffer, end: number): void {
    if (!this.parsing) return; // closing, upgraded or after an error: discard
    if (this.paused !== 0 && !this.socketPaused) {
      // Paused lazily for write backpressure (see `socketPaused`): stop reading now, and keep these bytes
      // for later in the socket's Readable buffer (they come back as 'data' once it resumes), so no request
      // is read while our answers cannot be written.
      this.pauseSocket();
      this.socket.unshift(copyOf(buf, 0, end));
      return;
    }
    // One clock read per socket read: the start time of the requests in it and the base of the next
    // timeout (a clock read costs about as much as parsing a small head).
    const now = performance.now();
    this.readAt = now;
    this.inExecute = true;
    try {
      const used = this.parser.execute(buf, end);
      // Fewer bytes consumed only after an upgrade head; what follows is not HTTP/1.1 we speak.
      if (used < end) {
        this.parsing = false;
        if (this.upgradeRes !== null) this.upgradeHead = copyOf(buf, used, end);
        // Taken over from inside this read (by `onRequest` itself): the rest is the new owner's first read.
        else if (this.tookOver) this.socket.unshift(copyOf(buf, used, end));
      }
    } catch (err) {
      this.endExecute();
      this.parseFailed(err);
      return;
    }
    this.endExecute();
    if (!this.ending && !this.closed && !this.tookOver) this.rearm(now);
  }

  /** Leave the parse of one read; flush what pipelined answers were coalesced during it. */
  private endExecute(): void {
    this.inExecute = false;
    this.wroteInExecute = false;
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }

  private readonly onEnd = (): void => {
    this.peerEnded = true;
    if (this.ending || this.closed) {
      this.socket.destroy();
      return;
    }
    this.acceptRequests = false;
    this.parsing = false;
    this.abortBody();
    // The client's FIN is taken as "gone", as nginx (499) and node:http do: responses still in flight are
    // aborted so their producers (a proxied upstream, a file stream) stop; what was written is flushed.
    this.abortQueue();
    this.endSocket();
  };

  private readonly onSocketDrain = (): void => {
    this.writeStalledSince = 0;
    if ((this.paused & PAUSE_WRITE) !== 0) this.unpause(PAUSE_WRITE);
    const res = this.first;
    if (res !== null && res.drainCallbacks !== null) this.runDrain(res);
  };

  private readonly onError = (): void => {
    // ECONNRESET, EPIPE, …: 'close' follows and does the cleanup.
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.timer = TIMER_NONE;
    this.abortBody();
    this.abortQueue();
    this.engine.removeConnection(this);
    const hooks = this.engine.hooks;
    if (hooks.onClose !== undefined) {
      try {
        hooks.onClose(this);
      } catch (err) {
        this.engine.reportError(err, null);
      }
    }
  };

  /** Every unfinished response is aborted: callbacks, then `onResponseDone` with `res.aborted` set. */
  private abortQueue(): void {
    const hooks = this.engine.hooks;
    let res = this.first;
    this.first = this.last = null;
    this.queued = 0;
    while (res !== null) {
      res.aborted = true;
      res.pending = null;
      const callbacks = res.abortCallbacks;
      res.abortCallbacks = null;
      if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
      if (res.internal) this.engineAnswered(res);
      else if (hooks.onResponseDone !== undefined) this.safeHook(res);
      res = res.next;
    }
  }

  // ---- parser callbacks ----

  onHead(head: ParsedHead): void {
    this.timer = TIMER_NONE; // the header timeout ran for this head; the next one starts its own
    if (!this.acceptRequests) {
      // Bytes after a closing request: parsed only to keep framing, never answered.
      this.current = null;
      this.currentBody = null;
      this.currentRes = null;
      return;
    }
    const engine = this.engine;
    const count = ++this.requestCount;
    const keepAlive =
      head.keepAlive && !head.upgrade && count < engine.options.maxRequestsPerConnection && !engine.draining;
    if (!keepAlive) this.acceptRequests = false;
    let body: RequestBody | null = null;
    if (!head.upgrade && (head.chunked || head.contentLength > 0)) {
      body = new RequestBody(this, head.chunked ? -1 : head.contentLength);
    }
    const req = new HttpRequest(head, body, keepAlive, this, this.readAt);
    const res = new HttpResponse(this, req);
    this.current = req;
    this.currentRes = res;
    this.currentBody = body;
    this.continueRes = body !== null && head.expectContinue ? res : null;
    if (head.upgrade) {
      // The bytes after this head belong to the other protocol: parsing stops. A handler may take the
      // socket over (`res.takeOver()`) to switch protocols; otherwise the answer is a plain response after
      // which the connection closes (RFC 9110 §7.8 lets a server ignore Upgrade). Until then the socket is
      // not read, so the client's first bytes of the new protocol wait in the kernel for the new owner.
      this.parsing = false;
      this.current = null;
      this.upgradeRes = res;
      this.pause(PAUSE_UPGRADE);
    }
    if (this.last === null) this.first = this.last = res;
    else this.last = this.last.next = res;
    if (++this.queued > MAX_PIPELINE) this.pause(PAUSE_PIPELINE);
    this.dispatch(req, res);
  }

  onBody(chunk: Buffer): void {
    const body = this.currentBody;
    if (body === null) return;
    // A view of the shared read buffer is overwritten by the next read: the body's reader gets a copy.
    if (this.sharedReads && !body.discarding) chunk = Buffer.from(chunk);
    if (!body.deliver(chunk)) this.pause(PAUSE_BODY);
    if (body.discarding && body.received - this.discardStart > DISCARD_LIMIT) {
      // The handler answered without reading a large body: closing is cheaper than swallowing it.
      this.endSocket();
    }
  }

  onMessageComplete(trailers: HeaderList | null): void {
    const req = this.current;
    const body = this.currentBody;
    this.current = null;
    this.currentRes = null;
    this.currentBody = null;
    this.continueRes = null;
    if (body !== null && req !== null) {
      req.trailers = trailers;
      body.finish();
      if ((this.paused & PAUSE_BODY) !== 0) this.unpause(PAUSE_BODY);
    }
    // The last body ended after its answer (drain, client FIN): nothing more will come on this connection.
    if (!this.acceptRequests && this.first === null) this.endSocket();
  }

  // ---- dispatch and errors ----

  private dispatch(req: HttpRequest, res: HttpResponse): void {
    try {
      const result = this.engine.hooks.onRequest(req, res) as unknown;
      if (result !== undefined && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (err: unknown) => this.handlerFailed(res, err));
      }
    } catch (err) {
      this.handlerFailed(res, err);
    }
  }

  /** A handler threw: 500 when nothing was sent yet, else the connection cannot be trusted and goes. */
  handlerFailed(res: HttpResponse, err: unknown): void {
    this.engine.reportError(err, res.req);
    if (this.closed || res.ended || res.locked) return;
    if (!res.replaceWithError(500, 'Internal Server Error\n')) this.kill();
  }

  /** Destroy the socket now; requests still in this read are not dispatched ('close' comes a tick later). */
  private kill(): void {
    this.acceptRequests = false;
    this.parsing = false;
    this.socket.destroy();
  }

  private parseFailed(err: unknown): void {
    this.parsing = false;
    const wasAccepting = this.acceptRequests;
    this.acceptRequests = false;
    let status = 400;
    let message = 'Bad Request';
    if (err instanceof HttpParseError) {
      status = err.status;
      message = err.message;
    } else {
      this.engine.reportError(err, this.current);
    }
    const text = status + ' ' + message + '\n';
    const res = this.currentRes;
    const body = this.currentBody;
    this.current = null;
    this.currentRes = null;
    this.currentBody = null;
    this.continueRes = null;
    if (body !== null) body.abort(err instanceof Error ? err : undefined);
    if (res !== null && !res.ended) {
      // The error is in the body of a request already dispatched: answer in the handler's place if it
      // has not started, else let its response finish and close.
      if (!res.replaceWithError(status, text)) res.keepAlive = false;
    } else if (wasAccepting) {
      this.answerInternally(status, text, this.readAt);
    } else if (this.first === null) {
      this.endSocket();
    }
  }

  /**
   * Queue an engine-made error response (in pipeline order) and close after it. `startTime`: when the
   * offending request began, as far as the engine knows (for `onEngineResponse`).
   */
  private answerInternally(status: number, text: string, startTime: number): void {
    this.acceptRequests = false;
    if (this.engine.hooks.onEngineResponse !== undefined) {
      this.rejected = new HttpRequest(interruptedHead(this.parser), null, false, this, startTime);
    }
    const req = new HttpRequest(SYNTHETIC_HEAD, null, false, this, performance.now());
    const res = new HttpResponse(this, req);
    res.internal = true;
    if (this.last === null) this.first = this.last = res;
    else this.last = this.last.next = res;
    this.queued++;
    res.replaceWithError(status, text);
  }

  // ---- timeouts (driven by the engine's sweep) ----

  private arm(kind: number, deadline: number): void {
    this.timer = kind;
    this.deadline = deadline;
  }

  /** Pick the timeout that applies now that the parser and the queue moved. */
  private rearm(now: number): void {
    const t = this.engine.options.timeouts;
    if (this.parser.inHead) {
      if (this.timer !== TIMER_HEADER) {
        if (t.headerTimeout > 0) this.arm(TIMER_HEADER, now + t.headerTimeout);
        else this.timer = TIMER_NONE;
      }
    } else if (this.currentBody !== null) {
      if (t.bodyTimeout > 0) this.arm(TIMER_BODY, now + t.bodyTimeout);
      else this.timer = TIMER_NONE;
    } else if (this.first === null) {
      if (t.keepAliveTimeout > 0) this.arm(TIMER_IDLE, now + t.keepAliveTimeout);
      else this.timer = TIMER_NONE;
    } else {
      this.timer = TIMER_NONE; // a handler is working: its time is its own
    }
  }

  /** Called by the engine's sweep; one comparison for connections whose deadline has not come. */
  sweep(now: number): void {
    if (this.tookOver) return; // the new owner keeps its own time
    if (this.writeStalledSince !== 0) {
      const limit = this.engine.options.timeouts.bodyTimeout;
      // A client that stopped reading its response holds our memory: treat it like a stalled body.
      if (limit > 0 && now - this.writeStalledSince > limit) {
        this.socket.destroy();
        return;
      }
    }
    if (this.timer === TIMER_NONE || now < this.deadline) return;
    switch (this.timer) {
      case TIMER_IDLE:
        this.timer = TIMER_NONE;
        this.endSocket();
        break;
      case TIMER_HEADER:
        this.timer = TIMER_NONE;
        this.parsing = false;
        // The head began when the timeout was armed.
        if (this.acceptRequests)
          this.answerInternally(
            408,
            '408 Request header timeout\n',
            this.deadline - this.engine.options.timeouts.headerTimeout,
          );
        else if (this.first === null) this.endSocket();
        break;
      case TIMER_BODY: {
        if ((this.paused & PAUSE_BODY) !== 0) {
          // The handler is not reading: the client is not the one being slow.
          this.deadline = now + this.engine.options.timeouts.bodyTimeout;
          break;
        }
        this.timer = TIMER_NONE;
        this.parsing = false;
        this.acceptRequests = false;
        const res = this.currentRes;
        this.abortBody();
        if (res !== null && !res.ended) {
          if (!res.replaceWithError(408, '408 Request body timeout\n')) this.kill();
        } else if (this.first === null) this.endSocket();
        break;
      }
      case TIMER_LINGER:
        this.socket.destroy();
        break;
    }
  }

  // ---- ResponseSink ----

  prepareHead(res: HttpResponse): void {
    // Draining: the last response says it closes; earlier pipelined ones still go out as they are.
    if (this.engine.draining && res === this.last) res.keepAlive = false;
    const body = res.req.body as RequestBody | null;
    if (res.keepAlive && body !== null && !body.complete && body.untouched) {
      // The handler answers without reading the body. Keeping the connection means swallowing the rest;
      // only worth it for a small known remainder. A client waiting for 100 Continue may never send it.
      if (this.continueRes === res || body.expected < 0 || body.remaining > DISCARD_LIMIT)
        res.keepAlive = false;
    }
    if (!res.keepAlive) this.acceptRequests = false;
  }

  output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
  ): boolean {
    if (this.closed || res.aborted) return true;
    if (res !== this.first) {
      // An earlier response is unfinished: hold these bytes (RFC 9112 §9.3.2, responses in request order).
      const pending = (res.pending ??= []);
      pending.push(a);
      res.pendingBytes += a.length;
      if (b !== null) {
        pending.push(b);
        res.pendingBytes += b.length;
      }
      if (c !== null) {
        pending.push(c);
        res.pendingBytes += c.length;
      }
      return res.pendingBytes < this.socket.writableHighWaterMark;
    }
    const socket = this.socket;
    if (this.inExecute) {
      // Several answers from one read (pipelining): the first goes out at once, later ones are corked and
      // leave together in one writev when the read is parsed. A lone answer pays nothing for this.
      if (!this.wroteInExecute) this.wroteInExecute = true;
      else if (!this.corked) {
        this.corked = true;
        socket.cork();
      }
    }
    // A write callback runs once libuv finished the write: the kernel has the bytes (or the socket failed).
    const done = onFlushed === undefined || onFlushed === null ? undefined : flushedCallback(onFlushed);
    if (b === null) {
      if (a.length > 0) socket.write(a, done);
    } else {
      socket.cork();
      socket.write(a);
      if (c === null) socket.write(b, done);
      else {
        socket.write(b);
        socket.write(c, done);
      }
      socket.uncork();
    }
    if (socket.writableNeedDrain) {
      if ((this.paused & PAUSE_WRITE) === 0) {
        this.writeStalledSince = performance.now();
        this.pause(PAUSE_WRITE);
      }
      return false;
    }
    return true;
  }

  ended(res: HttpResponse): void {
    if (res === this.first) this.complete(res);
  }

  /** `res` (at the front of the queue) has all its bytes on the socket: finish it and move on. */
  private complete(res: HttpResponse): void {
    for (;;) {
      res.finished = true;
      this.first = res.next;
      if (this.first === null) this.last = null;
      this.queued--;
      if (res.internal) this.engineAnswered(res);
      else if (this.engine.hooks.onResponseDone !== undefined) this.safeHook(res);
      if (this.closed) return;
      const body = res.req.body as RequestBody | null;
      if (body !== null && body === this.currentBody && res.keepAlive && body.untouched) {
        // Answered without reading the body: drop the rest of it as it arrives (bounded by onBody). A body
        // the handler is still reading keeps flowing to it.
        body.discarding = true;
        this.discardStart = body.received;
        if ((this.paused & PAUSE_BODY) !== 0) this.unpause(PAUSE_BODY);
      }
      if (!res.keepAlive) {
        this.endSocket();
        return;
      }
      if ((this.paused & PAUSE_PIPELINE) !== 0 && this.queued <= MAX_PIPELINE) this.unpause(PAUSE_PIPELINE);
      const next = this.first;
      if (next === null) {
        if (!this.acceptRequests && this.current === null) this.endSocket();
        else if (!this.inExecute && this.current === null && !this.parser.inHead)
          this.rearm(performance.now());
        return;
      }
      const pending = next.pending;
      if (pending !== null) {
        next.pending = null;
        next.pendingBytes = 0;
        const socket = this.socket;
        socket.cork();
        for (const buf of pending) socket.write(buf);
        socket.uncork();
        if (socket.writableNeedDrain && (this.paused & PAUSE_WRITE) === 0) {
          this.writeStalledSince = performance.now();
          this.pause(PAUSE_WRITE);
        }
      }
      if (!next.ended) {
        if (next.drainCallbacks !== null && !this.socket.writableNeedDrain) this.runDrain(next);
        return;
      }
      res = next;
    }
  }

  wantDrain(res: HttpResponse): void {
    if (res === this.first && !this.socket.writableNeedDrain) {
      process.nextTick(() => {
        if (res === this.first && res.drainCallbacks !== null && !this.socket.writableNeedDrain) {
          this.runDrain(res);
        }
      });
    }
  }

  destroyResponse(_res: HttpResponse): void {
    this.kill();
  }

  /**
   * Hand the socket of the upgrade request answered by `res` to its handler (see `Response.takeOver`).
   * Only while `res` is the response at the front of the queue and nothing of it was sent; the engine
   * then forgets the connection's parsing, timeouts and pipeline, and never writes to the socket again.
   * The connection stays in the engine's set until the socket closes (it still counts against
   * `maxConnections`, and a graceful drain closes it).
   */
  takeOver(res: HttpResponse): TakenOverSocket | undefined {
    if (res !== this.upgradeRes || res !== this.first || this.closed || this.ending) return undefined;
    if (res.headersSent || res.ended || res.aborted || res.locked) return undefined;
    const socket = this.socket;
    this.tookOver = true;
    this.upgradeRes = null;
    this.parsing = false;
    this.acceptRequests = false;
    this.timer = TIMER_NONE;
    this.writeStalledSince = 0;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('drain', this.onSocketDrain);
    const head = this.upgradeHead ?? NO_BYTES;
    this.upgradeHead = null;
    // The exchange is over as far as the engine goes: later stages (access log) see it done, with the
    // status the handler set (101), and a client leaving later is no longer this response's abort.
    res.ended = true;
    res.finished = true;
    res.abortCallbacks = null;
    res.drainCallbacks = null;
    this.first = this.last = null;
    this.queued = 0;
    if (!res.internal && this.engine.hooks.onResponseDone !== undefined) this.safeHook(res);
    // Bytes the client sent meanwhile waited in the kernel (shared reads) or in the Readable buffer.
    if (!this.closed) this.resumeSocket();
    else this.paused = 0;
    return { socket, head };
  }

  // ---- BodySource ----

  bodyWanted(body: RequestBody): void {
    const res = this.continueRes;
    if (res !== null && body === this.currentBody) {
      this.continueRes = null;
      // RFC 9110 §10.1.1: the client waits for this before sending the body; only before the final answer.
      if (!res.headersSent) this.output(res, CONTINUE, null, null);
    }
    if ((this.paused & PAUSE_BODY) !== 0) this.unpause(PAUSE_BODY);
  }

  // ---- helpers ----

  /** Graceful stop requested by the engine: close now if idle, else after the responses in flight. */
  drain(): void {
    if (this.tookOver) {
      // A tunnel has no request boundary to wait for: flush what was written and close (Caddy's default).
      this.socket.destroySoon();
      return;
    }
    this.acceptRequests = false;
    if (this.first === null && this.current === null) this.endSocket();
  }

  /** End our side (after queued bytes), discard what still arrives, destroy after the linger time. */
  endSocket(): void {
    // A taken-over socket is its new owner's to end (an upgrade head completes its message at once).
    if (this.ending || this.closed || this.tookOver) return;
    this.ending = true;
    this.acceptRequests = false;
    this.parsing = false;
    this.upgradeRes = null;
    this.upgradeHead = null;
    this.abortBody();
    this.paused = 0;
    if (this.peerEnded) {
      this.socket.end();
      this.socket.destroySoon();
      return;
    }
    this.socket.end();
    this.resumeSocket();
    this.arm(TIMER_LINGER, performance.now() + LINGER_MS);
  }

  private abortBody(): void {
    const body = this.currentBody;
    if (body !== null) {
      this.currentBody = null;
      this.current = null;
      this.currentRes = null;
      this.continueRes = null;
      if (!body.complete) body.abort();
    }
  }

  private pause(reason: number): void {
    this.paused |= reason;
    if (!this.socketPaused && (reason !== PAUSE_WRITE || !this.sharedReads)) this.pauseSocket();
  }

  private pauseSocket(): void {
    this.socketPaused = true;
    this.socket.pause();
  }

  private unpause(reason: number): void {
    this.paused &= ~reason;
    if (this.paused === 0 && this.socketPaused && !this.closed) this.resumeSocket();
  }

  /** Clear every pause reason and read again. */
  private resumeSocket(): void {
    this.paused = 0;
    this.socketPaused = false;
    this.socket.resume();
  }

  private runDrain(res: HttpResponse): void {
    const callbacks = res.drainCallbacks;
    res.drainCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
  }

  private safeCall(cb: () => void, res: HttpResponse): void {
    try {
      cb();
    } catch (err) {
      this.handlerFailed(res, err);
    }
  }

  /** The engine's own answer `res` is written or aborted: report it (once) to `onEngineResponse`. */
  private engineAnswered(res: HttpResponse): void {
    const req = this.rejected;
    const hook = this.engine.hooks.onEngineResponse;
    if (req === null || hook === undefined) return;
    this.rejected = null;
    try {
      hook(req, res);
    } catch (err) {
      this.engine.reportError(err, req);
    }
  }

  private safeHook(res: HttpResponse): void {
    try {
      this.engine.hooks.onResponseDone!(res.req, res);
    } catch (err) {
      this.engine.reportError(err, res.req);
    }
  }
}
