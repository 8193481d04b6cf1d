/**
 * Upgrade pass-through (WebSocket and any other `Upgrade` protocol), as nginx and Caddy do it: an upgrade
 * request on a route goes to a backend chosen by the route's balancer over a dedicated connection (never
 * pooled), with `Connection: upgrade` and `Upgrade` kept although they are hop-by-hop (RFC 9110 §7.6.1,
 * §7.8). A `101 Switching Protocols` answer is relayed to the client and the engine hands over the
 * client socket (`Response.takeOver`); from then on bytes are copied both ways with backpressure (pipe)
 * until either side closes or the tunnel stays idle for `tunnel_idle_timeout`. Any other answer is
 * forwarded as a normal response, after which both connections close.
 *
 * Failover, timeouts and accounting follow forward.ts: connect errors and connect timeouts try the next
 * backend (up to `attempts`); no head within `response_timeout` → 504; an open tunnel counts as one
 * request in flight on its backend.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HttpParser } from '../http/parser.ts';
import type { HeaderList, ParsedHead, ParserHandler, Request, Response } from '../http/types.ts';
import type { Backend } from './backend.ts';
import { connectBackend, readyEvent } from './backend-connect.ts';
import { selectBackend } from './balancer.ts';
import { type ProxyErrorCode, sendError } from './errors.ts';
import {
  buildRequestHead,
  copyResponseHead,
  endToEndFields,
  forwardedVia,
  framingProblem,
  viaEntry,
} from './headers.ts';
import { type ProxyRoute, upstreamHost, upstreamTarget } from './routes.ts';
import { UPSTREAM_LIMITS } from './upstream-pool.ts';

/** After one side of a tunnel ended, how long the other may still send before both are destroyed. */
const TUNNEL_LINGER_MS = 2000;

const PHASE_CONNECTING = 0;
/** The request head was sent; waiting for the response head. */
const PHASE_WAITING = 1;
/** A final non-101 response is being relayed as a normal response. */
const PHASE_RESPONDING = 2;
const PHASE_TUNNEL = 3;
const PHASE_DONE = 4;

/**
 * Whether `req` is an upgrade request as the engine treats it (RFC 9110 §7.8): HTTP/1.1, an `Upgrade`
 * field, `upgrade` among the `Connection` options, and no body. The engine reads the body of a request
 * that announces one (h2c's `curl --http2 -d`) and keeps the connection HTTP/1.1, as nginx does, so such a
 * request is a plain one here too: `req.body` is non-null exactly then. Deciding from the fields alone would
 * tunnel a request whose body the engine already consumed, or keep a body-bearing POST away from the
 * cache's invalidation. CONNECT is not an upgrade here.
 */
export function isUpgradeRequest(req: Request): boolean {
  if (req.versionMinor !== 1 || req.method === 'CONNECT' || req.body !== null) return false;
  const headers = req.headers;
  if (!headers.has('upgrade')) return false;
  const connection = headers.getJoined('connection');
  if (connection === undefined) return false;
  for (const option of connection.split(',')) if (option.trim().toLowerCase() === 'upgrade') return true;
  return false;
}

/**
 * Whether `forward` should tunnel `req` on `route`: the route allows it, the engine can hand over the
 * socket, and `req` is an upgrade request (a WebSocket handshake is a GET without a body, RFC 6455 §4.1;
 * an upgrade with a body is not one and is forwarded as a plain request, its Upgrade dropped as hop-by-hop).
 */
export function shouldTunnel(req: Request, res: Response, route: ProxyRoute): boolean {
  return route.websocket && res.takeOver !== undefined && isUpgradeRequest(req);
}

/** Relay the upgrade request `req` over `route` (call only when `shouldTunnel` said yes). */
export function tunnel(req: Request, res: Response, route: ProxyRoute): void {
  new Tunnel(req, res, route).start();
}

function noop(): void {}

class Tunnel implements ParserHandler {
  private readonly req: Request;
  private readonly res: Response;
  private readonly route: ProxyRoute;
  private phase = PHASE_CONNECTING;
  private attempts = 0;
  private tried: Backend[] | null = null;
  private backend: Backend | null = null;
  /** `backend` was cooling when chosen (panic mode): its answer ends the cooldown. */
  private probe = false;
  private upstream: Socket | null = null;
  private client: Socket | null = null;
  private parser: HttpParser | null = null;
  private head: ParsedHead | null = null;
  private sentAt = 0;
  private linger: NodeJS.Timeout | null = null;

  constructor(req: Request, res: Response, route: ProxyRoute) {
    this.req = req;
    this.res = res;
    this.route = route;
  }

  start(): void {
    // The client went away before the backend answered: nothing to relay.
    this.res.onAbort(() => {
      if (this.phase !== PHASE_TUNNEL) this.finish();
    });
    this.tryNext(null);
  }

  /** Pick the next backend and connect to it, or give up with `lastError`'s status. */
  private tryNext(lastError: ProxyErrorCode | null): void {
    const route = this.route;
    const backend =
      this.attempts < route.attempts ? selectBackend(route, route.balancer, this.req, this.tried) : undefined;
    if (backend === undefined) {
      this.phase = PHASE_DONE;
      sendError(this.res, lastError ?? 'ERR_PROXY_NO_BACKEND', undefined, this.route, this.req.host);
      return;
    }
    this.attempts++;
    this.backend = backend;
    this.probe = backend.cooling;
    backend.inFlight++;
    backend.requests++;
    this.phase = PHASE_CONNECTING;
    const socket = connectBackend(backend, null);
    this.upstream = socket;
    // One socket timer per tunnel (tunnels are few and long): connect, then response, then idle timeout.
    if (route.connectTimeout > 0) socket.setTimeout(route.connectTimeout);
    socket.on('timeout', () => {
      if (socket === this.upstream) this.onTimeout();
    });
    socket.on(readyEvent(backend), () => {
      if (socket === this.upstream) this.onConnect(socket);
    });
    socket.on('data', this.onData);
    socket.on('end', () => {
      if (socket === this.upstream) this.onUpstreamEnd();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket === this.upstream) this.onUpstreamError(error);
    });
    socket.on('close', () => {
      if (socket === this.upstream) this.onUpstreamClose();
    });
  }

  private onConnect(socket: Socket): void {
    const route = this.route;
    const req = this.req;
    const head = buildRequestHead(req, {
      host: upstreamHost(route, req, this.backend!),
      target: upstreamTarget(route, req),
      underscores: route.underscoresInHeaders,
      via: route.via,
      // The tunnel never sends a request body (an upgrade request has none: `isUpgradeRequest`), so it never
      // announces one either: a Content-Length it did not deliver would keep the backend waiting for it.
      framing: 'none',
      expectContinue: false,
      close: false,
      upgrade: req.headers.getJoined('upgrade') ?? '',
    });
    this.parser = new HttpParser('response', UPSTREAM_LIMITS, this);
    this.parser.expectResponseTo(req.method);
    this.phase = PHASE_WAITING;
    socket.setTimeout(route.responseTimeout);
    this.sentAt = performance.now();
    socket.write(head, 'latin1');
  }

  private readonly onData = (chunk: Buffer): void => {
    const parser = this.parser;
    if (parser === null || (this.phase !== PHASE_WAITING && this.phase !== PHASE_RESPONDING)) return;
    let used: number;
    try {
      used = parser.execute(chunk);
    } catch (error) {
      this.failResponse('ERR_PROXY_BAD_RESPONSE', error instanceof Error ? error.message : String(error));
      return;
    }
    const head = this.head;
    if (this.phase === PHASE_WAITING && head !== null && head.status === 101) {
      this.switchProtocols(head, used < chunk.length ? chunk.subarray(used) : null);
    }
  };

  // ---- ParserHandler (response mode) ----

  onHead(head: ParsedHead): void {
    if (this.phase !== PHASE_WAITING) return;
    if (head.status === 101) {
      // RFC 9110 §15.2.2: a 101 names the protocol switched to.
      if (!head.headers.has('upgrade')) throw new Error('101 without an Upgrade field');
      this.head = head;
      return;
    }
    // 100 Continue, 103 Early Hints: interim, the final answer follows.
    if (head.status < 200) return;
    const problem = framingProblem(head.headers);
    if (problem !== null) throw new Error(problem);
    this.head = head;
    this.phase = PHASE_RESPONDING;
    this.recordSuccess();
    copyResponseHead(head, this.res, viaEntry(this.route.via, head.versionMinor));
  }

  onBody(chunk: Buffer): void {
    if (this.phase !== PHASE_RESPONDING) return;
    // Views of a 'data' chunk that is never reused: safe to hand on as they are.
    if (!this.res.write(chunk)) {
      const upstream = this.upstream!;
      upstream.pause();
      this.res.onDrain(() => upstream.resume());
    }
  }

  onMessageComplete(_trailers: HeaderList | null): void {
    if (this.phase !== PHASE_RESPONDING) return;
    // Not a switch: the answer ends like any other, and the engine closes the client connection after it
    // (an upgrade request is never kept alive); the dedicated upstream connection is closed too.
    this.finish();
    this.res.end();
  }

  // ---- switching ----

  private switchProtocols(head: ParsedHead, early: Buffer | null): void {
    const res = this.res;
    const upstream = this.upstream!;
    res.statusCode = 101;
    const taken = res.takeOver?.();
    if (taken === undefined) {
      // The client connection cannot switch (it is closing, or an earlier pipelined answer is unfinished).
      res.statusCode = 502;
      this.failResponse('ERR_PROXY_INTERNAL', 'the client connection cannot switch protocols now');
      return;
    }
    this.phase = PHASE_TUNNEL;
    this.parser = null;
    this.recordSuccess();
    const client = taken.socket;
    this.client = client;
    upstream.off('data', this.onData);
    upstream.setTimeout(this.route.tunnelIdleTimeout);
    client.on('error', noop); // 'close' follows and tears the tunnel down
    client.on('close', () => this.closeTunnel());
    client.on('end', () => this.startLinger());
    upstream.on('end', () => this.startLinger());
    client.write(switchingHead(head, viaEntry(this.route.via, head.versionMinor)), 'latin1');
    // Bytes each side sent right after its head (the first frames) go first, in order.
    if (early !== null) client.write(early);
    if (taken.head.length > 0) upstream.write(taken.head);
    // pipe: backpressure both ways (a full destination pauses the source), FIN passed on.
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** One side sent its FIN: the other gets it (pipe), and both go away soon even if the other never ends. */
  private startLinger(): void {
    if (this.linger !== null || this.phase !== PHASE_TUNNEL) return;
    this.linger = setTimeout(() => this.closeTunnel(), TUNNEL_LINGER_MS);
    this.linger.unref();
  }

  private closeTunnel(): void {
    if (this.linger !== null) {
      clearTimeout(this.linger);
      this.linger = null;
    }
    this.client?.destroy();
    this.upstream?.destroy();
    this.releaseBackend();
    this.phase = PHASE_DONE;
  }

  // ---- upstream events ----

  private onTimeout(): void {
    const phase = this.phase;
    if (phase === PHASE_TUNNEL) this.closeTunnel();
    else if (phase === PHASE_CONNECTING) {
      this.retry('ERR_PROXY_CONNECT_TIMEOUT', `connect to ${this.backend?.url} timed out`);
    } else this.failResponse('ERR_PROXY_TIMEOUT', `${this.backend?.url} did not answer in time`);
  }

  private onUpstreamError(error: NodeJS.ErrnoException): void {
    if (this.phase === PHASE_CONNECTING) {
      this.retry('ERR_PROXY_CONNECT', `connect to ${this.backend?.url}: ${error.code}`);
    } else if (this.phase !== PHASE_TUNNEL) {
      this.failResponse('ERR_PROXY_RESET', `${this.backend?.url}: ${error.code}`);
    }
    // In a tunnel, 'close' follows and tears it down.
  }

  private onUpstreamEnd(): void {
    if (this.phase !== PHASE_WAITING && this.phase !== PHASE_RESPONDING) return;
    try {
      // Completes a close-delimited body; throws when the response was cut short.
      this.parser?.finish();
    } catch (error) {
      this.failResponse('ERR_PROXY_RESET', error instanceof Error ? error.message : String(error));
      return;
    }
    // A complete response ended the exchange (onMessageComplete); anything else was cut short.
    if (!this.finished) {
      this.failResponse('ERR_PROXY_RESET', 'backend closed the connection before answering');
    }
  }

  private onUpstreamClose(): void {
    if (this.phase === PHASE_TUNNEL) this.closeTunnel();
    else if (this.phase === PHASE_WAITING || this.phase === PHASE_RESPONDING) {
      this.failResponse('ERR_PROXY_RESET', `${this.backend?.url} closed the connection`);
    }
  }

  private recordSuccess(): void {
    const backend = this.backend;
    if (backend === null) return;
    backend.recordSuccess(performance.now() - this.sentAt);
    if (this.probe) backend.recordProbeSuccess();
  }

  /** Connecting failed: count it against the backend and try the next one. */
  private retry(code: ProxyErrorCode, detail: string): void {
    const backend = this.backend;
    this.dropUpstream();
    if (backend !== null) {
      backend.recordFailure(this.route.now(), detail);
      (this.tried ??= []).push(backend);
    }
    if (this.res.aborted) {
      this.phase = PHASE_DONE;
      return;
    }
    this.tryNext(code);
  }

  /** The exchange failed after connecting: 502/504 if nothing was sent yet, else cut the client off. */
  private failResponse(code: ProxyErrorCode, detail: string): void {
    if (this.phase === PHASE_DONE) return;
    this.backend?.recordFailure(this.route.now(), detail);
    this.finish();
    sendError(this.res, code, detail, this.route, this.req.host);
  }

  private get finished(): boolean {
    return this.phase === PHASE_DONE;
  }

  /** End the attempt: close the upstream connection and release the backend. */
  private finish(): void {
    this.phase = PHASE_DONE;
    this.dropUpstream();
  }

  private dropUpstream(): void {
    const upstream = this.upstream;
    this.upstream = null;
    this.parser = null;
    upstream?.destroy();
    this.releaseBackend();
  }

  private releaseBackend(): void {
    const backend = this.backend;
    if (backend !== null) {
      backend.inFlight--;
      this.backend = null;
    }
  }
}

/**
 * The `101` head sent to the client: the backend's end-to-end fields (hop-by-hop ones and those named in
 * its `Connection` dropped, RFC 9110 §7.6.1), `Via` appended, and `Connection: upgrade` + `Upgrade` as the
 * switch requires (RFC 9110 §7.8, §15.2.2).
 */
export function switchingHead(head: ParsedHead, via: string): string {
  const headers = head.headers;
  let out = `HTTP/1.1 101 ${head.reason === '' ? 'Switching Protocols' : head.reason}\r\n`;
  for (const [name, value] of endToEndFields(headers)) out += `${name}: ${value}\r\n`;
  out += `Via: ${forwardedVia(headers, via)}\r\n`;
  out += `Connection: upgrade\r\nUpgrade: ${headers.getJoined('upgrade') ?? ''}\r\n\r\n`;
  return out;
}
