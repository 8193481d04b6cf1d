/**
 * One client connection: a request parser, the queue of pipelined responses, the request body being
 * received, timeouts and backpressure. All state lives in plain fields of one object per connection; the
 * per-request cost is a Request, a Response and the head bytes.
 *
 * Layout: one class (every field, the lifecycle, socket events, the read path, the parser's callbacks,
 * dispatch, the write side `ResponseSink`, 100 Continue and takeover), with its colder parts as plain
 * functions of it in connection-answers.ts (the engine's own error answers), connection-timeouts.ts (idle,
 * head, body and linger timeouts, the sweep) and connection-output.ts (the pipeline queue, finishing a
 * response); connection-state.ts holds the constants they share. One class, so every connection has one V8
 * shape and every call site on the request path sees one receiver.
 *
 * The lifecycle is one field, `phase`, which only `to` writes and which only moves forward:
 * OPEN → LAST (no new requests) → STOPPED (reads discarded) → ENDING (our side ended) or TAKEN (a handler
 * owns the socket) → CLOSED. Every check of "may we still dispatch / parse / write" is a comparison on it.
 */
import type * as net from 'node:net';
// Imported rather than the global: globalThis.performance is an accessor, so each use in optimized code is
// an IC call (LoadGlobalIC, ~1% of the 1 KiB hit path's CPU in perf); a module binding is a constant.
import { performance } from 'node:perf_hooks';
import type * as tls from 'node:tls';
import { type BodySource, RequestBody } from './body.ts';
import * as connectionAnswers from './connection-answers.ts';
import * as connectionOutput from './connection-output.ts';
import * as connectionState from './connection-state.ts';
import * as connectionTimeouts from './connection-timeouts.ts';
import type { EngineContext } from './engine.ts';
import { HttpParser } from './parser.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse, type ResponseSink } from './response.ts';
import { readIntoSharedBuffer } from './socket-reader.ts';
import type {
  ConnectionInfo,
  HeaderList,
  ParsedHead,
  ParserHandler,
  PeerAddress,
  TakenOverSocket,
} from './types.ts';

export { UNPARSED_HEAD } from './connection-answers.ts';
export { DISCARD_LIMIT } from './connection-state.ts';

// Module-local bindings, for speed (see parser-tables.ts): an imported binding (a constant or a function)
// is read through its module cell on every use.
const {
  DISCARD_LIMIT,
  LINGER_MS,
  MAX_PIPELINE,
  PAUSE_BODY,
  PAUSE_PIPELINE,
  PAUSE_UPGRADE,
  PAUSE_WRITE,
  PHASE_CLOSED,
  PHASE_ENDING,
  PHASE_LAST,
  PHASE_OPEN,
  PHASE_STOPPED,
  PHASE_TAKEN,
  TIMER_IDLE,
  TIMER_LINGER,
  TIMER_NONE,
} = connectionState;
const { parseFailed } = connectionAnswers;
const { abortQueue, complete, holdBytes } = connectionOutput;
const { rearm, sweep } = connectionTimeouts;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const NO_BYTES = Buffer.alloc(0);

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

/**
 * One client connection. Built by the engine for each accepted socket, then `start`ed. Fields without a
 * doc comment of their own are the connection's working state, shared with its helper modules (not API).
 */
export class Connection implements ConnectionInfo, ParserHandler, ResponseSink, BodySource {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peerAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  requestCount = 0;
  readonly secure: boolean;
  readonly protocol = 'h1' as const;
  readonly tlsVersion: string;
  /** Fields added to every response head (`Strict-Transport-Security` on TLS), `''` for none. */
  readonly extraFields: string;

  readonly socket: net.Socket;
  /** Where the connection is in its life (`PHASE_*`); written only by `to`. */
  phase = PHASE_OPEN;
  /** The engine serving this connection: replaced when a reload hands it over (`moveTo`). */
  engine: EngineContext;
  readonly parser: HttpParser;
  /** Pipeline queue: `first` is the response being written, later ones buffer their bytes. */
  first: HttpResponse | null = null;
  last: HttpResponse | null = null;
  queued = 0;
  /** The message being parsed (head seen, not complete), its response and body. */
  current: HttpRequest | null = null;
  currentRes: HttpResponse | null = null;
  currentBody: RequestBody | null = null;
  /** Set while the current request is owed a `100 Continue`. */
  continueRes: HttpResponse | null = null;
  discardStart = 0;
  timer = TIMER_NONE;
  /** When the current timeout fires, in `performance.now()` time (monotonic: immune to clock steps). */
  deadline = 0;
  /** `performance.now()` at the last socket read: the start time of the requests parsed from it. */
  readAt = 0;
  writeStalledSince = 0;
  paused = 0;
  /**
   * Whether `socket.pause()` is in effect. With shared reads, pausing stops the handle's reads (a syscall,
   * and another to restart them), so write backpressure alone pauses lazily: a client waiting for its
   * answer sends nothing meanwhile, and the first read that does arrive pauses for real (`read`).
   */
  socketPaused = false;
  inExecute = false;
  /** A write happened during the current parse / the socket is corked until it ends (see `output`). */
  wroteInExecute = false;
  corked = false;
  /** The client sent its FIN (a fact about the peer, not a phase of ours). */
  peerEnded = false;
  /** Reads land in the engine's shared buffer (see socket-reader.ts): body bytes must be copied to be kept. */
  sharedReads = false;
  /** The response of an upgrade request whose handler may still take the socket over (`takeOver`). */
  upgradeRes: HttpResponse | null = null;
  /** Bytes read after that request's head, kept (copied) for whoever takes the socket. */
  upgradeHead: Buffer | null = null;
  /**
   * The request the engine's own answer (at most one per connection: it closes after it) reports to
   * `onEngineResponse`; set only when that hook exists.
   */
  rejected: HttpRequest | null = null;

  constructor(engine: EngineContext, socket: net.Socket, id: number, peer: PeerAddress | null) {
    this.id = id;
    this.peerAddress = socket.remoteAddress ?? '';
    this.remoteAddress = peer === null ? this.peerAddress : peer.address;
    this.remotePort = peer === null ? (socket.remotePort ?? 0) : peer.port;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    const encrypted = (socket as net.Socket & { encrypted?: boolean }).encrypted === true;
    this.secure = encrypted;
    this.tlsVersion = encrypted ? ((socket as tls.TLSSocket).getProtocol() ?? '') : '';
    this.extraFields = engine.options.responseFields ?? '';
    this.socket = socket;
    this.engine = engine;
    this.parser = new HttpParser('request', engine.options.limits, this);
  }

  /** The socket closed (part of `ConnectionInfo`). */
  get closed(): boolean {
    return this.phase === PHASE_CLOSED;
  }

  /**
   * The one writer of `phase`: move on to `next` unless the connection is already past it (the lifecycle
   * never goes back, so "stop dispatching" after "stop reading" changes nothing).
   */
  to(next: number): void {
    if (next > this.phase) this.phase = next;
  }

  /** Set the one timeout a connection has at a time (the engine's sweep checks it). */
  arm(kind: number, deadline: number): void {
    this.timer = kind;
    this.deadline = deadline;
  }

  /** Called by the engine's sweep (see connection-timeouts.ts). */
  sweep(now: number): void {
    sweep(this, now);
  }

  /**
   * Go to the engine that replaces ours (a reload), between two requests: the next one runs under its
   * hooks. The parser keeps the limits it was built with.
   */
  moveTo(next: EngineContext): void {
    const previous = this.engine;
    this.engine = next;
    previous.removeConnection(this);
    next.adoptConnection(this);
  }

  /** End our side (after queued bytes), discard what still arrives, destroy after the linger time. */
  endSocket(): void {
    // A taken-over socket is its new owner's to end (an upgrade head completes its message at once).
    if (this.phase >= PHASE_ENDING) return;
    this.to(PHASE_ENDING);
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

  /** Destroy the socket now; requests still in this read are not dispatched ('close' comes a tick later). */
  kill(): void {
    this.to(PHASE_STOPPED);
    this.socket.destroy();
  }

  /** A handler threw: 500 when nothing was sent yet, else the connection cannot be trusted and goes. */
  handlerFailed(res: HttpResponse, err: unknown): void {
    this.engine.reportError(err, res.req);
    if (this.phase === PHASE_CLOSED || res.ended || res.locked) return;
    if (!this.answerForHandler(res, 500, 'Internal Server Error\n')) this.kill();
  }

  /**
   * Answer `res` with the engine's own error in its handler's place (a malformed or stalled request body,
   * a handler that threw), then run the handler's abort callbacks: whatever it still produces for this
   * response is discarded, so it must stop now (a proxied request drops its upstream exchange instead of
   * waiting for a body that will never come). Returns false, changing nothing, once the head is out.
   */
  answerForHandler(res: HttpResponse, status: number, text: string): boolean {
    if (!res.replaceWithError(status, text)) return false;
    const callbacks = res.abortCallbacks;
    res.abortCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
    return true;
  }

  /** Forget the body being received (and its request); its reader sees an abort unless it was complete. */
  abortBody(): void {
    const body = this.currentBody;
    if (body !== null) {
      this.currentBody = null;
      this.current = null;
      this.currentRes = null;
      this.continueRes = null;
      if (!body.complete) body.abort();
    }
  }

  /** Stop reading for `reason` (write backpressure alone pauses lazily with shared reads). */
  pause(reason: number): void {
    this.paused |= reason;
    if (!this.socketPaused && (reason !== PAUSE_WRITE || !this.sharedReads)) this.pauseSocket();
  }

  pauseSocket(): void {
    this.socketPaused = true;
    this.socket.pause();
  }

  /** `reason` no longer holds; read again once no reason is left. */
  unpause(reason: number): void {
    this.paused &= ~reason;
    if (this.paused === 0 && this.socketPaused && this.phase !== PHASE_CLOSED) this.resumeSocket();
  }

  /** Clear every pause reason and read again. */
  resumeSocket(): void {
    this.paused = 0;
    this.socketPaused = false;
    this.socket.resume();
  }

  /** Run `res`'s drain callbacks (once each). */
  runDrain(res: HttpResponse): void {
    const callbacks = res.drainCallbacks;
    res.drainCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
  }

  safeCall(cb: () => void, res: HttpResponse): void {
    try {
      cb();
    } catch (err) {
      this.handlerFailed(res, err);
    }
  }

  /** Report `res` to `onResponseDone` (the caller checked that the hook exists). */
  safeHook(res: HttpResponse): void {
    try {
      this.engine.hooks.onResponseDone!(res.req, res);
    } catch (err) {
      this.engine.reportError(err, res.req);
    }
  }

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
    if (this.phase === PHASE_TAKEN) return this.socket.push(copyOf(buf, 0, nread));
    this.read(buf, nread);
    return true;
  };

  /** A read through the socket's Readable (the fallback path). */
  private readonly onData = (buf: Buffer): void => {
    this.read(buf, buf.length);
  };

  private read(buf: Buffer, end: number): void {
    if (this.phase >= PHASE_STOPPED) return; // closing, upgraded or after an error: discard
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
        this.to(PHASE_STOPPED);
        if (this.upgradeRes !== null) this.upgradeHead = copyOf(buf, used, end);
        // Taken over from inside this read (by `onRequest` itself): the rest is the new owner's first read.
        else if (this.phase === PHASE_TAKEN) this.socket.unshift(copyOf(buf, used, end));
      }
    } catch (err) {
      this.endExecute();
      parseFailed(this, err);
      return;
    }
    this.endExecute();
    if (this.phase < PHASE_ENDING) rearm(this, now);
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
    if (this.phase >= PHASE_ENDING) {
      this.socket.destroy();
      return;
    }
    this.to(PHASE_STOPPED);
    this.abortBody();
    // The client's FIN is taken as "gone", as nginx (499) and node:http do: responses still in flight are
    // aborted so their producers (a proxied upstream, a file stream) stop; what was written is flushed.
    abortQueue(this);
    this.endSocket();
  };

  private readonly onError = (): void => {
    // ECONNRESET, EPIPE, …: 'close' follows and does the cleanup.
  };

  private readonly onClose = (): void => {
    if (this.phase === PHASE_CLOSED) return;
    this.to(PHASE_CLOSED);
    this.timer = TIMER_NONE;
    this.abortBody();
    abortQueue(this);
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
    if (this.phase !== PHASE_OPEN) {
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
    if (!keepAlive) this.to(PHASE_LAST);
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
      this.to(PHASE_STOPPED);
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
    if (this.phase !== PHASE_OPEN && this.first === null) this.endSocket();
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
    if (res !== this.upgradeRes || res !== this.first || this.phase >= PHASE_ENDING) return undefined;
    if (res.headersSent || res.ended || res.aborted || res.locked) return undefined;
    const socket = this.socket;
    this.to(PHASE_TAKEN);
    this.upgradeRes = null;
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
    if (this.phase !== PHASE_CLOSED) this.resumeSocket();
    else this.paused = 0;
    return { socket, head };
  }

  // ---- ResponseSink ----

  /** The socket's buffer emptied: read again if that was the only pause, run the writer's drain callbacks. */
  private readonly onSocketDrain = (): void => {
    this.writeStalledSince = 0;
    if ((this.paused & PAUSE_WRITE) !== 0) this.unpause(PAUSE_WRITE);
    const res = this.first;
    if (res !== null && res.drainCallbacks !== null) this.runDrain(res);
  };

  prepareHead(res: HttpResponse): void {
    // Draining: the last response says it closes; earlier pipelined ones still go out as they are. A
    // connection handed over to a new engine (a reload) stays open.
    if (this.engine.draining && res === this.last && this.engine.successor === null) res.keepAlive = false;
    const body = res.req.body as RequestBody | null;
    if (res.keepAlive && body !== null && !body.complete && body.untouched) {
      // The handler answers without reading the body. Keeping the connection means swallowing the rest;
      // only worth it for a small known remainder. A client waiting for 100 Continue may never send it.
      if (this.continueRes === res || body.expected < 0 || body.remaining > DISCARD_LIMIT)
        res.keepAlive = false;
    }
    if (!res.keepAlive) this.to(PHASE_LAST);
  }

  output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
    releaseOnError = false,
  ): boolean {
    if (this.phase === PHASE_CLOSED || res.aborted) {
      if (releaseOnError) onFlushed?.();
      return true;
    }
    if (res !== this.first) return holdBytes(this, res, a, b, c, onFlushed, releaseOnError);
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
    const done =
      onFlushed === undefined || onFlushed === null
        ? undefined
        : releaseOnError
          ? onFlushed
          : flushedCallback(onFlushed);
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
    if (res === this.first) complete(this, res);
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

  destroyResponse(res: HttpResponse): void {
    if (res.closeDelimited && this.phase !== PHASE_CLOSED) {
      // A close-delimited body ends with the connection: a plain close (FIN) would present the cut body
      // as complete. A reset (RST) is what its client can tell from an end (curl, browsers: "connection
      // reset"); bytes still unsent are lost, which changes nothing for a body that is cut anyway.
      this.to(PHASE_STOPPED);
      try {
        this.socket.resetAndDestroy();
        return;
      } catch {
        // not a TCP socket: the plain close below is all there is
      }
    }
    this.kill();
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
      if (
        this.phase === PHASE_TAKEN ||
        (this.first === null && this.current === null && this.phase < PHASE_ENDING)
      ) {
        this.moveTo(successor);
      }
      return;
    }
    if (this.phase === PHASE_TAKEN) {
      // A tunnel has no request boundary to wait for: flush what was written and close (Caddy's default).
      this.socket.destroySoon();
      return;
    }
    this.to(PHASE_LAST);
    if (this.first === null && this.current === null) this.endSocket();
  }
}
