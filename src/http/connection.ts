/**
 * One client connection: a request parser, the queue of pipelined responses, the request body being
 * received, timeouts and backpressure. All state lives in plain fields of one object per connection; the
 * per-request cost is a Request, a Response and the head bytes.
 *
 * Layout: one class in layers, a file each, read bottom-up: connection-state.ts (every field, pausing,
 * ending, safe hook calls) ← connection-answers.ts (the engine's own error answers) ←
 * connection-timeouts.ts (idle, head, body and linger timeouts, the sweep) ← connection-output.ts (the
 * pipeline queue and the write side, `ResponseSink`) ← this file (socket events, the read path, the
 * parser's callbacks, dispatch to the handler, 100 Continue and takeover of an upgraded socket). One class,
 * so every connection has one V8 shape and hot methods stay methods V8 can inline across layers.
 */
// Imported rather than the global: see connection-state.ts.
import { performance } from 'node:perf_hooks';
import { type BodySource, RequestBody } from './body.ts';
import { ConnectionOutput } from './connection-output.ts';
import * as connectionState from './connection-state.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse, type ResponseSink } from './response.ts';
import { readIntoSharedBuffer } from './socket-reader.ts';
import type { ConnectionInfo, HeaderList, ParsedHead, ParserHandler, TakenOverSocket } from './types.ts';

export { UNPARSED_HEAD } from './connection-answers.ts';
export { DISCARD_LIMIT } from './connection-state.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding is read through its module
// cell on every use.
const { DISCARD_LIMIT, MAX_PIPELINE, PAUSE_BODY, PAUSE_PIPELINE, PAUSE_UPGRADE, TIMER_IDLE, TIMER_NONE } =
  connectionState;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const NO_BYTES = Buffer.alloc(0);

/** A copy of `buf[start..end)` (reads into the shared buffer are overwritten by the next one). */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  buf.copy(copy, 0, start, end);
  return copy;
}

/**
 * One client connection (top layer): socket events, the read path, the parser's callbacks, dispatch,
 * `100 Continue` and takeover. Built by the engine for each accepted socket, then `start`ed.
 */
export class Connection
  extends ConnectionOutput
  implements ConnectionInfo, ParserHandler, ResponseSink, BodySource
{
  /**
   * Attach the socket listeners and arm the first timeout. With `sharedBuffer`, reads go straight into it
   * when this Node allows (no Readable per read); the 'data' listener stays as the fallback either way.
   * `head`: bytes the listener already read from the socket, parsed first.
   */
  start(sharedBuffer: Buffer | null, head: Buffer | null = null): void {
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
    if (head !== null && head.length > 0) this.read(head, head.length);
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
      head.keepAlive &&
      !head.upgrade &&
      count < engine.options.maxRequestsPerConnection &&
      (!engine.draining || engine.successor !== null);
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
    else if (this.first === null && this.engine.successor !== null) this.moveTo(this.engine.successor);
  }

  // ---- dispatch ----

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

  /**
   * Graceful stop requested by the engine: close now if idle, else after the responses in flight. When
   * the engine is being replaced (a reload), move to its successor instead: now if idle (or upgraded),
   * else when the last response in flight is done (`complete` in connection-output.ts) or the last
   * request body ends after it (`onMessageComplete`).
   */
  drain(): void {
    const successor = this.engine.successor;
    if (successor !== null) {
      if (this.tookOver || (this.first === null && this.current === null && !this.ending)) {
        this.moveTo(successor);
      }
      return;
    }
    if (this.tookOver) {
      // A tunnel has no request boundary to wait for: flush what was written and close (Caddy's default).
      this.socket.destroySoon();
      return;
    }
    this.acceptRequests = false;
    if (this.first === null && this.current === null) this.endSocket();
  }
}
