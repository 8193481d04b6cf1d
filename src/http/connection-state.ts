/**
 * What a connection remembers, and the small moves every other part of it makes: pausing and resuming
 * reads, ending the socket, aborting the body being received, running callbacks and hooks without letting
 * them throw into the engine. First layer of the Connection class (see connection.ts for the layout).
 *
 * All fields are declared here, so every connection object has one V8 shape whatever layer sets them.
 */
import type * as net from 'node:net';
// Imported rather than the global: globalThis.performance is an accessor, so each use in optimized code is
// an IC call (LoadGlobalIC, ~1% of the 1 KiB hit path's CPU in perf); a module binding is a constant.
import { performance } from 'node:perf_hooks';
import type * as tls from 'node:tls';
import type { RequestBody } from './body.ts';
import type { Connection } from './connection.ts';
import type { EngineContext } from './engine.ts';
import { HttpParser } from './parser.ts';
import type { HttpRequest } from './request.ts';
import type { HttpResponse, ResponseSink } from './response.ts';
import type { ConnectionInfo, HeaderList, ParsedHead, ParserHandler, PeerAddress } from './types.ts';

/** No timeout armed. */
export const TIMER_NONE = 0;
/** Keep-alive idle: close silently. */
export const TIMER_IDLE = 1;
/** A head is partly received (slowloris): 408 and close. */
export const TIMER_HEADER = 2;
/** A body is partly received and the client went quiet: 408 (or destroy) and close. */
export const TIMER_BODY = 3;
/** We ended our side and wait for the client's FIN: destroy. */
export const TIMER_LINGER = 4;

/** Reasons the socket is paused; reading resumes when none is left. Write backpressure. */
export const PAUSE_WRITE = 1;
/** The request body's reader is full. */
export const PAUSE_BODY = 2;
/** Too many pipelined requests unanswered (`MAX_PIPELINE`). */
export const PAUSE_PIPELINE = 4;
/** An upgrade request waits for its handler: the bytes after its head belong to whoever takes the socket. */
export const PAUSE_UPGRADE = 8;

/** Pipelined requests dispatched but unanswered before reading stops. */
export const MAX_PIPELINE = 32;
/** Unread request body a finished keep-alive response may still swallow before closing instead. */
export const DISCARD_LIMIT = 64 * 1024;
/** How long a closing connection waits for the client's FIN (lingering close, RFC 9112 §9.6). */
const LINGER_MS = 2000;

/**
 * Connection layer 1: every field and the moves all layers make. The parser's callbacks (the read path,
 * connection.ts) and the response side (connection-output.ts) are declared abstract here, so the parser,
 * requests and responses can be handed `this` from any layer.
 */
export abstract class ConnectionState implements ConnectionInfo, ParserHandler, ResponseSink {
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
  /** The engine serving this connection: replaced when a reload hands it over (`moveTo`). */
  protected engine: EngineContext;
  protected readonly parser: HttpParser;
  /** Pipeline queue: `first` is the response being written, later ones buffer their bytes. */
  protected first: HttpResponse | null = null;
  protected last: HttpResponse | null = null;
  protected queued = 0;
  /** The message being parsed (head seen, not complete), its response and body. */
  protected current: HttpRequest | null = null;
  protected currentRes: HttpResponse | null = null;
  protected currentBody: RequestBody | null = null;
  /** Set while the current request is owed a `100 Continue`. */
  protected continueRes: HttpResponse | null = null;
  protected discardStart = 0;
  protected timer = TIMER_NONE;
  /** When the current timeout fires, in `performance.now()` time (monotonic: immune to clock steps). */
  protected deadline = 0;
  /** `performance.now()` at the last socket read: the start time of the requests parsed from it. */
  protected readAt = 0;
  protected writeStalledSince = 0;
  protected paused = 0;
  /**
   * Whether `socket.pause()` is in effect. With shared reads, pausing stops the handle's reads (a syscall,
   * and another to restart them), so write backpressure alone pauses lazily: a client waiting for its
   * answer sends nothing meanwhile, and the first read that does arrive pauses for real (`read`).
   */
  protected socketPaused = false;
  /** New requests are dispatched; false after a closing request, an error, drain or the client's FIN. */
  protected acceptRequests = true;
  /** Bytes go to the parser; false after an error, an upgrade or once we end: the rest is discarded. */
  protected parsing = true;
  protected inExecute = false;
  /** A write happened during the current parse / the socket is corked until it ends (see `output`). */
  protected wroteInExecute = false;
  protected corked = false;
  protected peerEnded = false;
  protected ending = false;
  /** Reads land in the engine's shared buffer (see socket-reader.ts): body bytes must be copied to be kept. */
  protected sharedReads = false;
  /** The response of an upgrade request whose handler may still take the socket over (`takeOver`). */
  protected upgradeRes: HttpResponse | null = null;
  /** Bytes read after that request's head, kept (copied) for whoever takes the socket. */
  protected upgradeHead: Buffer | null = null;
  /** A handler took the socket (`takeOver`): reads go to it, the engine no longer parses or writes. */
  protected tookOver = false;
  /**
   * The request the engine's own answer (at most one per connection: it closes after it) reports to
   * `onEngineResponse`; set only when that hook exists.
   */
  protected rejected: HttpRequest | null = null;
  closed = false;

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

  abstract onHead(head: ParsedHead): void;
  abstract onBody(chunk: Buffer): void;
  abstract onMessageComplete(trailers: HeaderList | null): void;
  abstract prepareHead(res: HttpResponse): void;
  abstract output(
    res: HttpResponse,
    a: Buffer,
    b: Buffer | null,
    c: Buffer | null,
    onFlushed?: (() => void) | null,
    releaseOnError?: boolean,
  ): boolean;
  abstract ended(res: HttpResponse): void;
  abstract wantDrain(res: HttpResponse): void;
  abstract destroyResponse(res: HttpResponse): void;

  /** Set the one timeout a connection has at a time (the engine's sweep checks it). */
  protected arm(kind: number, deadline: number): void {
    this.timer = kind;
    this.deadline = deadline;
  }

  /**
   * Go to the engine that replaces ours (a reload), between two requests: the next one runs under its
   * hooks. The parser keeps the limits it was built with.
   */
  protected moveTo(next: EngineContext): void {
    const previous = this.engine;
    this.engine = next;
    previous.removeConnection(this as unknown as Connection);
    next.adoptConnection(this as unknown as Connection);
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

  /** Destroy the socket now; requests still in this read are not dispatched ('close' comes a tick later). */
  protected kill(): void {
    this.acceptRequests = false;
    this.parsing = false;
    this.socket.destroy();
  }

  /** A handler threw: 500 when nothing was sent yet, else the connection cannot be trusted and goes. */
  handlerFailed(res: HttpResponse, err: unknown): void {
    this.engine.reportError(err, res.req);
    if (this.closed || res.ended || res.locked) return;
    if (!this.answerForHandler(res, 500, 'Internal Server Error\n')) this.kill();
  }

  /**
   * Answer `res` with the engine's own error in its handler's place (a malformed or stalled request body,
   * a handler that threw), then run the handler's abort callbacks: whatever it still produces for this
   * response is discarded, so it must stop now (a proxied request drops its upstream exchange instead of
   * waiting for a body that will never come). Returns false, changing nothing, once the head is out.
   */
  protected answerForHandler(res: HttpResponse, status: number, text: string): boolean {
    if (!res.replaceWithError(status, text)) return false;
    const callbacks = res.abortCallbacks;
    res.abortCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
    return true;
  }

  /** Forget the body being received (and its request); its reader sees an abort unless it was complete. */
  protected abortBody(): void {
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
  protected pause(reason: number): void {
    this.paused |= reason;
    if (!this.socketPaused && (reason !== PAUSE_WRITE || !this.sharedReads)) this.pauseSocket();
  }

  protected pauseSocket(): void {
    this.socketPaused = true;
    this.socket.pause();
  }

  /** `reason` no longer holds; read again once no reason is left. */
  protected unpause(reason: number): void {
    this.paused &= ~reason;
    if (this.paused === 0 && this.socketPaused && !this.closed) this.resumeSocket();
  }

  /** Clear every pause reason and read again. */
  protected resumeSocket(): void {
    this.paused = 0;
    this.socketPaused = false;
    this.socket.resume();
  }

  /** Run `res`'s drain callbacks (once each). */
  protected runDrain(res: HttpResponse): void {
    const callbacks = res.drainCallbacks;
    res.drainCallbacks = null;
    if (callbacks !== null) for (const cb of callbacks) this.safeCall(cb, res);
  }

  protected safeCall(cb: () => void, res: HttpResponse): void {
    try {
      cb();
    } catch (err) {
      this.handlerFailed(res, err);
    }
  }

  /** Report `res` to `onResponseDone` (the caller checked that the hook exists). */
  protected safeHook(res: HttpResponse): void {
    try {
      this.engine.hooks.onResponseDone!(res.req, res);
    } catch (err) {
      this.engine.reportError(err, res.req);
    }
  }
}
