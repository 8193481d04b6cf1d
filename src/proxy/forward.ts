/**
 * Forwarding one request to a route's backends: choose a backend, send the request over a pooled
 * connection, stream the body both ways with backpressure, fail over while that is safe, and map what
 * cannot be recovered to 502 / 504 or a closed client connection.
 *
 * `forward(req, res, route)` is the seam a response cache sits in front of: it can answer
 * from its store instead of calling `forward`, and watch the response through `res` (its head is set by
 * `copyResponseHead` before the first body byte).
 *
 * One `Exchange` object per request holds all state in fields, and acts as the connection's callback
 * target, so the keep-alive fast path allocates no closures besides the client-abort callback.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { HeaderList, ParsedHead, Request, Response } from '../http/types.ts';
import type { Backend } from './backend.ts';
import { selectBackend } from './balancer.ts';
import { PROXY_ERRORS, type ProxyErrorCode, sendError, UpstreamError } from './errors.ts';
import {
  type BodyFraming,
  buildRequestHead,
  copyResponseHead,
  endToEndFields,
  forwardedVia,
  framingProblem,
  viaEntry,
} from './headers.ts';
import { viaContains } from './loop.ts';
import { type ProxyRoute, upstreamHost, upstreamTarget } from './routes.ts';
import { shouldTunnel, tunnel } from './tunnel.ts';
import type { UpstreamConnection, UpstreamUser } from './upstream-client.ts';

/** RFC 9110 §9.2.2: methods whose repetition has the same effect; only these are retried after sending. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** How long to wait for `100 Continue` from a backend before sending the body anyway (RFC 9110 §10.1.1). */
const CONTINUE_WAIT_MS = 1000;

/**
 * Interim responses relayed per request; later ones are dropped. They bypass the client's backpressure
 * (and wait in memory behind a pipelined answer), so a backend looping on 102 must not fill memory.
 */
const MAX_INTERIM = 16;

const BODY_NONE = 0;
const BODY_WAITING = 1; // there is a body, not read yet (before connect, or waiting for 100 Continue)
const BODY_STREAMING = 2;
const BODY_DONE = 3;
const BODY_ABANDONED = 4; // the backend answered before the body was sent; it is discarded

/**
 * Watches one forwarded response: the seam a response cache uses. `onHead` runs once the
 * backend's head was copied onto `res` and before any body byte is written (so `res.captureBody` can
 * still be called); `onEnd` runs once, with `complete` false when the response ended abnormally
 * (backend died mid-body, client went away) and must not be stored.
 */
export interface ForwardObserver {
  onHead?(head: ParsedHead, res: Response): void;
  onEnd?(complete: boolean, res: Response): void;
}

/** Answer with the proxy's own error, counted in the route's stats. */
function failWith(
  res: Response,
  code: ProxyErrorCode,
  detail: string | undefined,
  route: ProxyRoute,
  host: string,
) {
  const stats = route.stats;
  if (!res.headersSent) {
    stats.errors++;
    stats.answered(PROXY_ERRORS[code].status);
  }
  sendError(res, code, detail, route, host);
}

/** Forward `req` to one of `route`'s backends and stream the answer into `res`. */
export function forward(req: Request, res: Response, route: ProxyRoute, observer?: ForwardObserver): void {
  route.stats.requests++;
  // Loop protection: our pseudonym in Via means this request already went through us (RFC 9110 §7.6.3).
  const via = req.headers.getJoined('via');
  if (via !== undefined && viaContains(via, route.via)) {
    failWith(res, 'ERR_PROXY_LOOP', undefined, route, req.host);
    return;
  }
  // A tunnel needs the raw client socket, which the engine does not hand out (nor do we want open relays).
  if (req.method === 'CONNECT') {
    failWith(res, 'ERR_PROXY_METHOD', undefined, route, req.host);
    return;
  }
  // WebSocket and other Upgrade requests get a dedicated connection that may become a tunnel (tunnel.ts).
  if (shouldTunnel(req, res, route)) {
    tunnel(req, res, route);
    return;
  }
  new Exchange(req, res, route, observer ?? null).start();
}

class Exchange implements UpstreamUser {
  private readonly req: Request;
  private readonly res: Response;
  private readonly route: ProxyRoute;
  private readonly observer: ForwardObserver | null;
  private readonly framing: BodyFraming;
  private readonly expectContinue: boolean;
  /** Attempts made (a stale pooled connection's does not count). */
  private attempts = 0;
  /** Backends that failed this request, excluded from the next choice; allocated on the first failure. */
  private tried: Backend[] | null = null;
  private backend: Backend | null = null;
  /** When the current backend was asked (for `upstreamTime`). */
  private askedAt = 0;
  /** `backend` was cooling when chosen (panic mode): its answer ends the cooldown. */
  private probe = false;
  private conn: UpstreamConnection | null = null;
  private head: string | null = null;
  private bodyState: number;
  private headReceived = false;
  /** Interim responses relayed so far (bounded by MAX_INTERIM). */
  private interims = 0;
  private done = false;
  /** First body chunk held back so that a response read whole is sent with one `end(chunk)`. */
  private pending: Buffer | null = null;
  private continueTimer: NodeJS.Timeout | null = null;
  private resumeUpstream: (() => void) | null = null;
  private bodyListeners: {
    data: (chunk: Buffer) => void;
    end: () => void;
    error: (error: Error) => void;
  } | null = null;

  constructor(req: Request, res: Response, route: ProxyRoute, observer: ForwardObserver | null) {
    this.req = req;
    this.res = res;
    this.route = route;
    this.observer = observer;
    // Framing is redone per hop: a chunked request body is re-chunked, a sized one keeps its size.
    const headers = req.headers;
    if (headers.has('transfer-encoding') && req.body !== null) this.framing = 'chunked';
    else if (headers.has('content-length') || headers.has('transfer-encoding')) this.framing = 'length';
    else this.framing = 'none';
    this.bodyState = req.body === null ? BODY_NONE : BODY_WAITING;
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined (the engine refuses others).
    this.expectContinue = req.body !== null && headers.get('expect')?.toLowerCase() === '100-continue';
  }

  start(): void {
    const res = this.res;
    // The engine already answered in our place (the body broke before a stage that awaits handed us the
    // request): there is nothing to forward.
    if (res.headersSent || res.aborted) return;
    // Also runs when the engine answers 400 / 408 for a broken or stalled body: drop the upstream request
    // (a body that arrives in the head's packet is parsed after this returns, once we have connected).
    res.onAbort(() => this.abort());
    this.tryNext(null);
  }

  /** Pick the next backend and get a connection to it, or give up with `lastError`. */
  private tryNext(lastError: UpstreamError | null): void {
    const route = this.route;
    const backend =
      this.attempts < route.attempts ? selectBackend(route, route.balancer, this.req, this.tried) : undefined;
    if (backend === undefined) {
      const code =
        lastError === null
          ? 'ERR_PROXY_NO_BACKEND'
          : lastError.code === 'ERR_PROXY_RESET'
            ? 'ERR_PROXY_CONNECT'
            : lastError.code;
      failWith(this.res, code, undefined, this.route, this.req.host);
      this.done = true;
      return;
    }
    this.attempts++;
    this.backend = backend;
    this.res.upstreamAddress = backend.url;
    this.askedAt = performance.now();
    this.probe = backend.cooling;
    backend.inFlight++;
    backend.requests++;
    const conn = route.pools[backend.index]!.acquire(this);
    this.conn = conn;
    if (conn.ready) this.onUpstreamConnect(conn);
  }

  onUpstreamConnect(conn: UpstreamConnection): void {
    const route = this.route;
    const req = this.req;
    let head = this.head;
    if (head === null || route.hostHeader.kind === 'backend') {
      head = buildRequestHead(req, {
        host: upstreamHost(route, req, this.backend!),
        target: upstreamTarget(route, req),
        underscores: route.underscoresInHeaders,
        via: route.via,
        framing: this.framing,
        expectContinue: this.bodyState === BODY_WAITING && this.expectContinue,
        close: route.closeUpstream,
      });
      this.head = head;
    }
    conn.send(req.method, head);
    if (this.bodyState !== BODY_WAITING) return;
    if (this.expectContinue) {
      // Let the backend refuse the body (401, 413, 417) before the client sends it.
      this.continueTimer = setTimeout(() => this.startBody(), CONTINUE_WAIT_MS);
      this.continueTimer.unref();
    } else this.startBody();
  }

  /** Stream the client's body upstream; the engine sends `100 Continue` to the client on first read. */
  private startBody(): void {
    this.clearContinueTimer();
    if (this.bodyState !== BODY_WAITING) return;
    this.bodyState = BODY_STREAMING;
    if (this.conn !== null) this.conn.uploading = true;
    const body = this.req.body as Readable;
    const chunked = this.framing === 'chunked';
    const listeners = {
      data: (chunk: Buffer) => {
        const conn = this.conn;
        if (conn === null || chunk.length === 0) return;
        this.route.stats.bytesToBackends += chunk.length;
        if (!(chunked ? conn.writeChunk(chunk) : conn.write(chunk))) body.pause();
      },
      end: () => {
        this.detachBody();
        this.bodyState = BODY_DONE;
        if (chunked) this.conn?.write(`0\r\n${trailerBlock(this.req.trailers)}\r\n`);
      },
      error: () => {
        // The client's body broke off (the engine saw a bad chunk): nothing sensible can reach the backend
        // any more. Before the backend's head the engine answers 400 in our place (and has aborted us
        // already); after it, the response being relayed cannot end cleanly.
        const relaying = this.headReceived;
        this.detachBody();
        this.bodyState = BODY_ABANDONED;
        this.abort();
        if (relaying) this.res.destroy();
      },
    };
    this.bodyListeners = listeners;
    body.on('data', listeners.data);
    body.on('end', listeners.end);
    body.on('error', listeners.error);
  }

  onUpstreamDrain(): void {
    if (this.bodyState === BODY_STREAMING) this.req.body?.resume();
  }

  onUpstreamHead(head: ParsedHead): void {
    if (head.status < 200) {
      if (head.status === 100) {
        // Consumed here, never relayed: it only tells us to send the body. The client gets its own 100
        // from the engine when we first read its body (RFC 9110 §10.1.1), exactly once and only if it
        // asked; relaying the backend's would send a second one (or one the client never asked for).
        if (this.bodyState === BODY_WAITING) this.startBody();
        return;
      }
      if (head.status === 101)
        throw new UpstreamError('ERR_PROXY_BAD_RESPONSE', '101 without an upgrade request');
      this.relayInterim(head);
      return;
    }
    const problem = framingProblem(head.headers);
    if (problem !== null) throw new UpstreamError('ERR_PROXY_BAD_RESPONSE', problem);
    this.headReceived = true;
    const backend = this.backend;
    if (backend !== null) {
      backend.recordSuccess(performance.now() - this.conn!.sentAt);
      if (this.probe) backend.recordProbeSuccess();
    }
    if (this.bodyState === BODY_WAITING) {
      // A final answer before the body was requested: the body is never sent (RFC 9110 §10.1.1), so
      // the connection cannot be reused (the backend may still expect it).
      this.clearContinueTimer();
      this.bodyState = BODY_ABANDONED;
    }
    const upstreamTime = performance.now() - this.askedAt;
    this.res.upstreamTime = upstreamTime;
    const stats = this.route.stats;
    stats.upstreamTime(upstreamTime);
    stats.answered(head.status);
    copyResponseHead(head, this.res, viaEntry(this.route.via, head.versionMinor));
    this.observer?.onHead?.(head, this.res);
  }

  /**
   * Pass an interim response on (103 Early Hints, 102 Processing; RFC 9110 §15.2: a proxy forwards 1xx
   * unless it generated the request itself). End-to-end fields only, with our Via entry (§7.6.3). The
   * engine refuses it for an HTTP/1.0 client or once the final head is out; a field it will not send (a
   * value our parser took but the writer refuses) costs the hint, never the exchange.
   */
  private relayInterim(head: ParsedHead): void {
    const res = this.res;
    if (res.writeInterim === undefined || res.headersSent || res.aborted) return;
    if (++this.interims > MAX_INTERIM) return;
    try {
      const fields = endToEndFields(head.headers);
      fields.push(['Via', forwardedVia(head.headers, viaEntry(this.route.via, head.versionMinor))]);
      res.writeInterim(head.status, fields);
    } catch {
      // dropped, as above
    }
  }

  onUpstreamBody(chunk: Buffer): void {
    this.route.stats.bytesFromBackends += chunk.length;
    const res = this.res;
    if (this.pending === null && !res.headersSent) {
      this.pending = chunk;
      return;
    }
    this.flushPending();
    if (!res.write(chunk)) this.waitForClient();
  }

  onUpstreamReadDone(): void {
    this.flushPending();
  }

  onUpstreamComplete(_trailers: HeaderList | null): boolean {
    // Trailers of a chunked response have no way through the Response API yet; the body ends cleanly.
    const pending = this.pending;
    this.pending = null;
    // The connection goes back to the pool: a late client drain must not touch it any more.
    this.conn = null;
    this.finish();
    if (pending !== null) this.res.end(pending);
    else this.res.end();
    this.observer?.onEnd?.(true, this.res);
    if (this.bodyState === BODY_STREAMING || this.bodyState === BODY_WAITING) {
      this.detachBody();
      this.bodyState = BODY_ABANDONED;
    }
    return this.bodyState === BODY_NONE || this.bodyState === BODY_DONE;
  }

  onUpstreamError(error: UpstreamError, responseStarted: boolean, reused: boolean): void {
    this.conn = null;
    const backend = this.releaseBackend();
    if (this.done || backend === null) return;
    const now = this.route.now();
    if (this.headReceived) {
      // Mid-body: the client must not take a truncated body for a complete one.
      backend.recordFailure(now, error.message);
      this.finish();
      this.detachBody();
      this.pending = null;
      this.observer?.onEnd?.(false, this.res);
      if (this.res.headersSent) this.res.destroy();
      else failWith(this.res, error.code, error.message, this.route, this.req.host);
      return;
    }
    // A pooled connection the backend closed just as we reused it is the pool's race, not a sick backend.
    const stale = reused && !responseStarted && error.code === 'ERR_PROXY_RESET';
    if (!stale) backend.recordFailure(now, error.message);
    const neverSent = error.code === 'ERR_PROXY_CONNECT' || error.code === 'ERR_PROXY_CONNECT_TIMEOUT';
    // A body that started streaming cannot be replayed; one not yet read (or none) can.
    const replayable = this.bodyState === BODY_NONE || this.bodyState === BODY_WAITING;
    const retry =
      neverSent ||
      (!responseStarted && error.code === 'ERR_PROXY_RESET' && replayable && IDEMPOTENT.has(this.req.method));
    if (retry && !this.res.aborted) {
      this.clearContinueTimer();
      // A stale pooled connection does not use up an attempt on that backend.
      if (stale) this.attempts--;
      else (this.tried ??= []).push(backend);
      this.tryNext(error);
      return;
    }
    this.finish();
    this.detachBody();
    failWith(this.res, error.code, error.message, this.route, this.req.host);
  }

  /** The client went away: drop the upstream request (its connection cannot be reused). */
  private abort(): void {
    if (this.done) return;
    if (this.headReceived) this.observer?.onEnd?.(false, this.res);
    this.finish();
    this.detachBody();
    const conn = this.conn;
    this.conn = null;
    conn?.destroy();
  }

  private finish(): void {
    this.done = true;
    this.clearContinueTimer();
    this.releaseBackend();
  }

  /** End the current attempt's claim on its backend (exactly once per attempt). */
  private releaseBackend(): Backend | null {
    const backend = this.backend;
    if (backend !== null) {
      backend.inFlight--;
      this.backend = null;
    }
    return backend;
  }

  private flushPending(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    if (!this.res.write(pending)) this.waitForClient();
  }

  /** The client reads slower than the backend sends: stop reading upstream until it drains. */
  private waitForClient(): void {
    const conn = this.conn;
    if (conn === null) return;
    conn.pause();
    this.resumeUpstream ??= () => this.conn?.resume();
    this.res.onDrain(this.resumeUpstream);
  }

  private detachBody(): void {
    const listeners = this.bodyListeners;
    if (listeners === null) return;
    this.bodyListeners = null;
    // From now on the backend's silence is its own (see `UpstreamConnection.uploading`).
    if (this.conn !== null) this.conn.uploading = false;
    const body = this.req.body!;
    body.off('data', listeners.data);
    body.off('end', listeners.end);
    body.off('error', listeners.error);
    // Let the engine drain and discard what is left (it bounds how much it accepts).
    body.resume();
  }

  private clearContinueTimer(): void {
    if (this.continueTimer !== null) {
      clearTimeout(this.continueTimer);
      this.continueTimer = null;
    }
  }
}

/** The trailer section of the request's chunked body, re-serialised (the parser validated every field). */
function trailerBlock(trailers: HeaderList | null): string {
  if (trailers === null) return '';
  let block = '';
  for (let i = 0; i < trailers.length; i++) block += `${trailers.rawName(i)}: ${trailers.value(i)}\r\n`;
  return block;
}
