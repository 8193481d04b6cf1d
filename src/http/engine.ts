/**
 * The HTTP/1.1 engine: takes accepted sockets from the server layer and runs one `Connection` per socket.
 * It owns what connections share: options, hooks, the connection set, one read buffer every socket reads
 * into (see socket-reader.ts), one timer that sweeps every connection's deadline (instead of a timer per
 * request), and graceful drain.
 */
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Connection, UNPARSED_HEAD } from './connection.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse, type ResponseSink } from './response.ts';
import { SHARED_READ_SIZE } from './socket-reader.ts';
import type { ConnectionInfo, HttpLimits, HttpTimeouts, PeerAddress, Request, Response } from './types.ts';

/** Engine configuration; every field is required (spread the defaults in). */
export interface EngineOptions {
  limits: HttpLimits;
  timeouts: HttpTimeouts;
  /** Open connections beyond this get `503` and are closed at once. @default 10000 */
  maxConnections: number;
  /** Requests per connection; the last one is answered with `Connection: close`. @default 1000 */
  maxRequestsPerConnection: number;
  /**
   * Read sockets into one reused buffer instead of through their Readable stream, where this Node allows
   * it (see socket-reader.ts); false always uses 'data' events. @default true
   */
  sharedReads?: boolean;
  /**
   * Header field lines (`Name: value\r\n`) added to every response of this engine, pre-built ones (cache
   * hits) included: `Strict-Transport-Security` on a TLS listener. @default ''
   */
  responseFields?: string;
}

/** What the layer above (the plugin host) plugs into the engine. */
export interface EngineHooks {
  /** A socket was accepted; `false` destroys it. */
  onConnection?(info: ConnectionInfo): boolean | undefined;
  /**
   * A request head arrived. The handler must eventually call `res.end()`, `res.sendPrebuilt()` or
   * `res.destroy()`. A throw (or a rejected promise, if it returns one) answers 500, or destroys the
   * connection if the head was already sent.
   */
  onRequest(req: Request, res: Response): void;
  /**
   * The response finished or was aborted (`res.aborted`). Only for responses to requests that reached
   * `onRequest`: never for the engine's own answers (see `onEngineResponse`).
   */
  onResponseDone?(req: Request, res: Response): void;
  /**
   * The engine answered by itself and that answer is written (`res.finished`) or was aborted
   * (`res.aborted`): a request it rejected (400, 413, 414, 431, 501, 505 from the parser), a request head
   * that timed out (408), a connection over `maxConnections` (503). No handler saw the request.
   *
   * `req` carries what is known: the method, target and version when the request line was read whole
   * (`req.method === ''` and `req.target === ''` when it was not: a log prints `-`), no header fields,
   * the connection (remote address), and `startTime` (the read that failed; for a 408, when the head
   * began). `res` has the status and body size that were sent. Separate from `onResponseDone`, so that
   * hooks that store or forward responses never see a request nobody handled.
   *
   * Optional (hooks built by hand may leave it out); called once per such answer.
   */
  onEngineResponse?(req: Request, res: Response): void;
  onClose?(info: ConnectionInfo): void;
  /** An error thrown by a hook or handler (after the engine dealt with the client). @default console.error */
  onError?(error: unknown, req: Request | null): void;
}

export interface Engine {
  /**
   * Serve HTTP/1.1 on an accepted socket (the server layer owns the listeners). A listener that read
   * something first (a PROXY protocol header) passes the client it named as `peer` and the bytes it read
   * after that as `head`, which are parsed before anything else the socket delivers.
   */
  handleSocket(socket: net.Socket, peer?: PeerAddress | null, head?: Buffer | null): void;
  readonly connectionCount: number;
  /**
   * Graceful stop: stop accepting requests, close idle keep-alive connections now, let in-flight
   * responses finish (their connection then closes), destroy what remains at the deadline.
   */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Give every connection to `next` (a reload: new options and hooks): idle ones now, busy ones as soon
   * as their responses are done, so each request runs start to end under the hooks it started with and
   * the next one under `next`'s. Nothing is closed, so no request already on its way is cut (closing an
   * idle keep-alive connection races with the client's next request). Upgraded sockets (tunnels) move at
   * once. Resolves when this engine has no connection left; what remains at the deadline is destroyed.
   */
  handOver(next: Engine, timeoutMs: number): Promise<void>;
}

/** Parser limits used when the configuration does not say otherwise. */
export const DEFAULT_LIMITS: HttpLimits = Object.freeze({
  maxRequestLine: 8192,
  maxHeadSize: 16384,
  maxHeaders: 100,
  maxBodySize: 10 * 1024 * 1024,
});

/** Connection timeouts used when the configuration does not say otherwise (milliseconds). */
export const DEFAULT_TIMEOUTS: HttpTimeouts = Object.freeze({
  headerTimeout: 10_000,
  bodyTimeout: 30_000,
  keepAliveTimeout: 5_000,
});

/** What connections see of their engine. */
export interface EngineContext {
  readonly options: EngineOptions;
  readonly hooks: EngineHooks;
  readonly draining: boolean;
  /** Where connections go once idle (`handOver`); null unless this engine is being replaced. */
  readonly successor: EngineContext | null;
  removeConnection(conn: Connection): void;
  /** Take a connection handed over by the engine this one replaces. */
  adoptConnection(conn: Connection): void;
  reportError(error: unknown, req: Request | null): void;
}

const BUSY = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n' +
    'Connection: close\r\nRetry-After: 1\r\n\r\n503 Too many open connections\n',
  'latin1',
);

function noop(): void {}

const SILENT_SINK: ResponseSink = {
  prepareHead: noop,
  output: () => true,
  ended: noop,
  wantDrain: noop,
  destroyResponse: noop,
};

class HttpEngine implements Engine, EngineContext {
  readonly options: EngineOptions;
  readonly hooks: EngineHooks;
  draining = false;
  successor: HttpEngine | null = null;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  private sweeper: NodeJS.Timeout | null = null;
  /** Sweep period: a quarter of the shortest timeout, between 10 ms and 1 s. */
  private readonly sweepMs: number;
  private drainDone: (() => void) | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  /** Every connection's reads land here in turn; each read is parsed before the next one can happen. */
  private readonly readBuffer: Buffer | null;

  constructor(options: EngineOptions, hooks: EngineHooks) {
    this.options = options;
    this.hooks = hooks;
    this.readBuffer = options.sharedReads === false ? null : Buffer.allocUnsafeSlow(SHARED_READ_SIZE);
    const t = options.timeouts;
    let shortest = 4000;
    for (const ms of [t.headerTimeout, t.bodyTimeout, t.keepAliveTimeout])
      if (ms > 0 && ms < shortest) shortest = ms;
    this.sweepMs = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  handleSocket(socket: net.Socket, peer: PeerAddress | null = null, head: Buffer | null = null): void {
    if (this.draining || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.options.maxConnections) {
      refuse(socket, peer, this.hooks.onEngineResponse === undefined ? null : this.reportRefusal);
      return;
    }
    socket.setNoDelay(true);
    // The engine answers the client's FIN itself (finish the responses in flight, then end); without this,
    // a listener created with the default allowHalfOpen=false would end our side and lose those responses.
    socket.allowHalfOpen = true;
    const conn = new Connection(this, socket, this.nextId++, peer);
    const onConnection = this.hooks.onConnection;
    if (onConnection !== undefined) {
      let verdict: boolean | undefined;
      try {
        verdict = onConnection(conn);
      } catch (err) {
        this.reportError(err, null);
        verdict = false;
      }
      if (verdict === false) {
        socket.on('error', noop);
        socket.destroy();
        return;
      }
    }
    this.connections.add(conn);
    conn.start(this.readBuffer, head);
    if (this.sweeper === null) {
      this.sweeper = setInterval(this.sweep, this.sweepMs);
      this.sweeper.unref();
    }
  }

  adoptConnection(conn: Connection): void {
    this.connections.add(conn);
    if (this.sweeper === null) {
      this.sweeper = setInterval(this.sweep, this.sweepMs);
      this.sweeper.unref();
    }
    // Replaced or stopping in turn meanwhile: the connection follows along.
    if (this.draining) conn.drain();
  }

  removeConnection(conn: Connection): void {
    this.connections.delete(conn);
    if (this.connections.size === 0) {
      if (this.sweeper !== null) {
        clearInterval(this.sweeper);
        this.sweeper = null;
      }
      if (this.drainDone !== null) this.finishDrain();
    }
  }

  reportError(error: unknown, req: Request | null): void {
    const onError = this.hooks.onError;
    if (onError === undefined) {
      console.error(
        'tamarin: error while handling %s:',
        req === null ? 'a connection' : req.method + ' ' + req.target,
        error,
      );
      return;
    }
    try {
      onError(error, req);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  }

  /** Tell `onEngineResponse` about a `503` sent to a socket over the connection limit. */
  private readonly reportRefusal = (info: ConnectionInfo, startTime: number, aborted: boolean): void => {
    const req = new HttpRequest(UNPARSED_HEAD, null, false, info, startTime);
    // A stand-in that describes what `refuse` wrote (status, body size): the bytes went out through
    // `socket.end`, so its sink sends nothing.
    const res = new HttpResponse(SILENT_SINK, req);
    res.internal = true;
    res.statusCode = 503;
    res.sendPrebuilt(BUSY);
    if (aborted) res.aborted = true;
    else res.finished = true;
    try {
      this.hooks.onEngineResponse!(req, res);
    } catch (err) {
      this.reportError(err, req);
    }
  };

  handOver(next: Engine, timeoutMs: number): Promise<void> {
    this.successor = next as HttpEngine;
    return this.drain(timeoutMs);
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    return new Promise<void>((resolve) => {
      const previous = this.drainDone;
      this.drainDone = () => {
        previous?.();
        resolve();
      };
      for (const conn of this.connections) conn.drain();
      if (this.connections.size === 0) {
        this.finishDrain();
        return;
      }
      if (this.drainTimer !== null) clearTimeout(this.drainTimer);
      this.drainTimer = setTimeout(() => {
        for (const conn of this.connections) conn.socket.destroy();
        // 'close' events arrive on a later tick; resolve now, the deadline is the deadline.
        this.finishDrain();
      }, timeoutMs);
      this.drainTimer.unref();
    });
  }

  private finishDrain(): void {
    if (this.drainTimer !== null) {
      clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    const done = this.drainDone;
    this.drainDone = null;
    done?.();
  }

  private readonly sweep = (): void => {
    // Deadlines are in performance.now() time (monotonic), as the connections set them.
    const now = performance.now();
    for (const conn of this.connections) conn.sweep(now);
  };
}

/**
 * Over the connection limit: say so, end our side, and drop the socket soon whatever the client does.
 * `report` (when a hook wants to know) runs once: when the answer is written, or when the socket closed
 * before that.
 */
function refuse(
  socket: net.Socket,
  peer: PeerAddress | null,
  report: ((info: ConnectionInfo, startTime: number, aborted: boolean) => void) | null,
): void {
  socket.on('error', noop);
  socket.on('end', () => socket.destroy());
  if (report === null) socket.end(BUSY);
  else {
    const start = performance.now();
    // Read now: a socket that closed may no longer know its peer.
    const info: ConnectionInfo = {
      id: 0,
      remoteAddress: peer?.address ?? socket.remoteAddress ?? '',
      remotePort: peer?.port ?? socket.remotePort ?? 0,
      peerAddress: socket.remoteAddress ?? '',
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      requestCount: 0,
    };
    let reported = false;
    const done = (aborted: boolean): void => {
      if (reported) return;
      reported = true;
      report(info, start, aborted);
    };
    socket.end(BUSY, (error?: Error | null) => done(error !== undefined && error !== null));
    socket.once('close', () => done(true));
  }
  socket.resume();
  socket.setTimeout(1000, () => socket.destroy());
}

/**
 * Create an engine; the server layer passes every accepted socket to `handleSocket`.
 *
 * @example
 * const engine = createEngine(
 *   { limits: DEFAULT_LIMITS, timeouts: DEFAULT_TIMEOUTS, maxConnections: 10_000, maxRequestsPerConnection: 1000 },
 *   { onRequest: (req, res) => res.end('hello ' + req.path) },
 * );
 * net.createServer({ noDelay: true }, (socket) => engine.handleSocket(socket)).listen(8080);
 * // on SIGTERM: server.close(); await engine.drain(10_000);
 */
export function createEngine(options: EngineOptions, hooks: EngineHooks): Engine {
  return new HttpEngine(options, hooks);
}
