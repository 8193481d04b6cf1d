/**
 * HTTP/2 connections (node:http2, nghttp2) in front of the same plugin hooks as the HTTP/1.1 engine: each
 * stream becomes a `Request` (an `HttpRequest`, as h1 builds) and an `H2Response`, so every stage runs
 * unchanged. The listeners hand over sockets that negotiated `h2` by ALPN or opened with the h2c preface.
 *
 * Limits against the known HTTP/2 attacks, per connection:
 * - rapid reset (CVE-2023-44487): streams the client resets are counted in a time window; over
 *   `max_resets` the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed;
 * - too many streams: SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2 refuses the excess with REFUSED_STREAM,
 *   and Node ends a session that keeps opening refused streams);
 * - oversized header lists and CONTINUATION floods: SETTINGS_MAX_HEADER_LIST_SIZE and the number of
 *   fields (nghttp2 stops decoding a header block past the limit; a flood never completes one);
 * - idle connections: closed after `idle_timeout` without an open stream. One sweep per acceptor looks
 *   for them (a per-session timer would be refreshed by Node at every frame: measurable per request).
 */
import http2, { type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Transform, type TransformCallback } from 'node:stream';
import type tls from 'node:tls';
import type { EngineHooks, EngineOptions } from '../http/engine.ts';
import { HttpRequest, normaliseHost } from '../http/request.ts';
import { isKnownMethod } from '../http/start-line.ts';
import type { ConnectionInfo, ParsedHead, PeerAddress, Request, Response } from '../http/types.ts';
import type { ProtocolCounters } from '../server/protocol-counters.ts';
import type { Http2Acceptor } from '../tls/listeners.ts';
import type { Http2Config } from '../tls/options.ts';
import { FlatFields } from './fields.ts';
import { H2Response, type H2ResponseOwner } from './response.ts';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } =
  http2.constants;

export interface Http2AcceptorOptions {
  readonly config: Http2Config;
  readonly hooks: EngineHooks;
  readonly engineOptions: EngineOptions;
  /** `Strict-Transport-Security` value for TLS connections; `''` for none. */
  readonly hsts: string;
  readonly counters: ProtocolCounters;
}

/** A socket handed to the acceptor, with what `accept` was told about it. */
type TamarinSocket = net.Socket & { _tamarinSecure?: boolean; _tamarinPeer?: PeerAddress | null };

/** One HTTP/2 connection: what plugins see as `req.connection`, and the reset accounting. */
class H2Session implements ConnectionInfo, H2ResponseOwner {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peerAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  requestCount = 0;
  readonly secure: boolean;
  readonly protocol = 'h2' as const;
  readonly tlsVersion: string;
  readonly hsts: string;
  readonly session: Http2Session;
  /** Resets by the client in the current window, and when the window started (performance.now()). */
  resets = 0;
  windowStart = 0;
  /** A GOAWAY for a limit was sent: counted once. */
  goneAway = false;
  /** Streams with a response not yet done (a count: the idle sweep only asks whether there is one). */
  open = 0;
  /** When the last open stream finished (performance.now()); read only while `open` is 0. */
  idleSince = performance.now();
  /** The last `:authority` seen and its normalised host: a connection's requests nearly all repeat it. */
  private authority = '';
  private host = '';
  private readonly hooks: EngineHooks;
  private readonly acceptor: Acceptor;

  constructor(id: number, socket: TamarinSocket, secure: boolean, session: Http2Session, owner: Acceptor) {
    this.id = id;
    const peer = socket._tamarinPeer ?? null;
    this.peerAddress = socket.remoteAddress ?? '';
    this.remoteAddress = peer === null ? this.peerAddress : peer.address;
    this.remotePort = peer === null ? (socket.remotePort ?? 0) : peer.port;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.secure = secure;
    this.tlsVersion = secure ? ((socket as tls.TLSSocket).getProtocol() ?? '') : '';
    this.hsts = secure ? owner.options.hsts : '';
    this.session = session;
    this.hooks = owner.options.hooks;
    this.acceptor = owner;
  }

  /** The normalised host for a Host or `:authority` value. */
  hostOf(authority: string): string {
    if (authority !== this.authority) {
      this.authority = authority;
      this.host = normaliseHost(authority);
    }
    return this.host;
  }

  /** The client reset one of this connection's streams before its response was done. */
  reset(): void {
    this.acceptor.countReset(this);
  }

  done(req: HttpRequest, res: H2Response): void {
    if (--this.open === 0) this.idleSince = performance.now();
    const hook = this.hooks.onResponseDone;
    if (hook === undefined) return;
    try {
      hook(req, res);
    } catch (error) {
      reportError(this.hooks, error, req);
    }
  }
}

function noop(): void {}

/** Answer a stream the engine refuses before any stage sees it. */
function refuse(stream: ServerHttp2Stream, status: number, message: string): void {
  stream.on('error', noop);
  stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8' });
  stream.end(message);
}

/** The regular fields of a flat list whose pseudo-header fields are not all first. */
function regularFields(rawHeaders: readonly string[]): string[] {
  const flat: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.charCodeAt(0) !== 58 /* : */) flat.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  return flat;
}

/** Where a stream keeps its response until it closes (one shared 'close' listener, no closure per stream). */
const RESPONSE = Symbol('tamarin.h2.response');
type ResponseStream = ServerHttp2Stream & { [RESPONSE]?: H2Response | null };

/**
 * A stream closed: its response learns whether it was aborted. The link is cut first: node:http2 keeps a
 * closed stream a while (GC survivors), and it should not keep the request and response alive with it.
 */
function onStreamClose(this: ResponseStream): void {
  const response = this[RESPONSE];
  if (response == null) return;
  this[RESPONSE] = null;
  response.streamClosed();
}

function reportError(hooks: EngineHooks, error: unknown, req: Request | null): void {
  if (hooks.onError === undefined) {
    console.error('tamarin: error in an HTTP/2 stream:', error);
    return;
  }
  try {
    hooks.onError(error, req);
  } catch {
    // Nowhere left to report to.
  }
}

/** Counts request body bytes and fails the stream past `limit` (413 when nothing was answered yet). */
class BodyLimit extends Transform {
  private received = 0;
  private readonly limit: number;
  /** The stream's response (set once made: the body is piped before). */
  response: H2Response | null = null;
  constructor(limit: number) {
    super();
    this.limit = limit;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.limit) {
      const res = this.response;
      if (res !== null && !res.replaceWithError(413, '413 Content Too Large\n')) res.destroy();
      callback(new Error('request body larger than server.max_body_size'));
      return;
    }
    callback(null, chunk);
  }
}

class Acceptor implements Http2Acceptor {
  readonly options: Http2AcceptorOptions;
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<H2Session>();
  private nextId = 1;
  private draining = false;
  private sweep: NodeJS.Timeout | null = null;

  constructor(options: Http2AcceptorOptions) {
    this.options = options;
    const { config, engineOptions } = options;
    // A plain (not secure) server used only as the session factory: TLS is already done by our listener,
    // and `emit('connection')` hands it the socket (a TLSSocket that negotiated h2, or an h2c socket).
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: config.max_concurrent_streams,
        maxHeaderListSize: config.max_header_list_size,
        enablePush: false,
      },
      maxHeaderListPairs: engineOptions.limits.maxHeaders + 4,
      // Streams refused over the concurrency limit before Node ends the session.
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 100,
    });
    this.server.on('session', this.onSession);
    this.server.on('stream', this.onStream);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  accept(socket: net.Socket, secure: boolean, peer: PeerAddress | null = null): void {
    // HTTP/2 connections are held to server.max_connections on their own (HTTP/1.1 ones are the engine's).
    if (this.draining || this.sessions.size >= this.options.engineOptions.maxConnections) {
      socket.destroy();
      return;
    }
    // Read back from `session.socket` (a proxy of this socket, so no WeakMap key) when the session starts.
    (socket as TamarinSocket)._tamarinSecure = secure;
    (socket as TamarinSocket)._tamarinPeer = peer;
    this.server.emit('connection', socket);
  }

  private readonly onSession = (session: Http2Session): void => {
    const socket = session.socket as TamarinSocket;
    const info = new H2Session(this.nextId++, socket, socket._tamarinSecure === true, session, this);
    (session as Http2Session & { tamarin?: H2Session }).tamarin = info;
    const hooks = this.options.hooks;
    if (hooks.onConnection !== undefined) {
      let verdict: boolean | undefined;
      try {
        verdict = hooks.onConnection(info);
      } catch (error) {
        reportError(hooks, error, null);
        verdict = false;
      }
      if (verdict === false) {
        session.destroy();
        return;
      }
    }
    this.sessions.add(info);
    this.startSweep();
    session.on('error', () => {});
    session.on('close', () => {
      this.sessions.delete(info);
      if (hooks.onClose !== undefined) {
        try {
          hooks.onClose(info);
        } catch (error) {
          reportError(hooks, error, null);
        }
      }
    });
  };

  private readonly onStream = (
    stream: ServerHttp2Stream,
    _fields: http2.IncomingHttpHeaders,
    flags: number,
    rawHeaders: string[],
  ): void => {
    const info = (stream.session as (Http2Session & { tamarin?: H2Session }) | undefined)?.tamarin;
    if (info === undefined) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    this.options.counters.h2Streams++;
    info.requestCount++;
    const startTime = performance.now();
    // One pass over the flat list: the pseudo-header fields (read here rather than from Node's header
    // object, a dictionary), the size, where the regular fields start, Host and Content-Length.
    let method = 'GET';
    let target = '/';
    let authority: string | undefined;
    let host: string | undefined;
    let length: string | undefined;
    let start = -1;
    let ordered = true;
    // RFC 9113 §6.5.2: the size of a header list counts 32 octets per field besides name and value.
    let listSize = 0;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      const value = rawHeaders[i + 1]!;
      listSize += name.length + value.length + 32;
      if (name.charCodeAt(0) === 58 /* : */) {
        if (start !== -1) ordered = false;
        if (name === ':method') method = value;
        else if (name === ':path') target = value;
        else if (name === ':authority') authority = value;
        continue;
      }
      if (start === -1) start = i;
      if (name === 'host') host ??= value;
      else if (name === 'content-length') length ??= value;
    }
    if (listSize > this.options.config.max_header_list_size) {
      refuse(
        stream,
        431,
        '431 Request Header Fields Too Large: header list over http2.max_header_list_size\n',
      );
      return;
    }
    // The same methods as HTTP/1.1's parser accepts: a plugin never sees one it did not declare.
    if (!isKnownMethod(method, this.options.engineOptions.limits.extraMethods)) {
      refuse(stream, 501, '501 Not Implemented: method not implemented\n');
      return;
    }
    // nghttp2 refuses pseudo-header fields after regular ones; were one to come through, the regular
    // fields are gathered into a list of their own.
    const flat = ordered ? rawHeaders : regularFields(rawHeaders);
    if (!ordered) start = 0;
    else if (start === -1) start = rawHeaders.length;
    // RFC 9113 §8.3.1: a request converted for HTTP/1.1 semantics gets Host from :authority.
    if (host === undefined && authority !== undefined) {
      host = authority;
      flat.push('host', authority);
    }
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    // A body without Content-Length is delimited by the end of the stream; in HTTP/1.1 terms (what the
    // stages and backends speak) that is a chunked body (RFC 9113 §8.2.2 forbids the field on the wire).
    if (!endStream && length === undefined) flat.push('transfer-encoding', 'chunked');
    const contentLength = length === undefined ? -1 : Number(length);
    const head: ParsedHead = {
      method,
      target,
      status: 0,
      reason: '',
      versionMinor: 1,
      headers: new FlatFields(flat, start),
      contentLength: Number.isFinite(contentLength) ? contentLength : -1,
      chunked: !endStream && contentLength < 0,
      keepAlive: true,
      expectContinue: false,
      upgrade: false,
      host: host === undefined ? '' : info.hostOf(host),
    };
    let body: BodyLimit | null = null;
    if (!endStream && method !== 'GET' && method !== 'HEAD') {
      body = new BodyLimit(this.options.engineOptions.limits.maxBodySize);
      stream.pipe(body);
    } else if (!endStream) stream.resume();
    const req = new HttpRequest(head, body, true, info, startTime);
    const res = new H2Response(stream, req, info);
    if (body !== null) body.response = res;
    info.open++;
    stream.on('error', noop);
    if (!endStream) this.watchBody(stream, res);
    (stream as ResponseStream)[RESPONSE] = res;
    stream.on('close', onStreamClose);
    this.dispatch(req, res);
  };

  /** A request body that stops arriving holds a stream slot: the same idle limit as on HTTP/1.1 (408). */
  private watchBody(stream: ServerHttp2Stream, response: H2Response): void {
    const bodyTimeout = this.options.engineOptions.timeouts.bodyTimeout;
    if (bodyTimeout <= 0) return;
    stream.setTimeout(bodyTimeout, () => {
      if (!response.replaceWithError(408, '408 Request Timeout: the request body stopped arriving\n'))
        response.destroy();
      else stream.close(NGHTTP2_NO_ERROR);
    });
    stream.once('end', () => stream.setTimeout(0));
  }

  private dispatch(req: HttpRequest, res: H2Response): void {
    const hooks = this.options.hooks;
    try {
      const result = hooks.onRequest(req, res as Response) as unknown;
      if (result !== undefined && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => this.failed(req, res, error));
      }
    } catch (error) {
      this.failed(req, res, error);
    }
  }

  private failed(req: HttpRequest, res: H2Response, error: unknown): void {
    if (!res.replaceWithError(500, '500 Internal Server Error\n')) res.destroy();
    reportError(this.options.hooks, error, req);
  }

  /** Close sessions without an open stream for `idle_timeout`; runs while there are sessions. */
  private startSweep(): void {
    if (this.sweep !== null) return;
    const idle = this.options.config.idle_timeout;
    if (idle <= 0) return;
    this.sweep = setInterval(
      () => {
        const now = performance.now();
        for (const info of this.sessions)
          if (info.open === 0 && now - info.idleSince >= idle && !info.session.closed) info.session.close();
        if (this.sessions.size === 0 && this.sweep !== null) {
          clearInterval(this.sweep);
          this.sweep = null;
        }
      },
      Math.min(1000, idle),
    );
    this.sweep.unref();
  }

  countReset(info: H2Session): void {
    const now = performance.now();
    const { max_resets, reset_window } = this.options.config;
    if (now - info.windowStart > reset_window) {
      info.windowStart = now;
      info.resets = 0;
    }
    if (++info.resets <= max_resets || info.goneAway || info.session.destroyed) return;
    info.goneAway = true;
    this.options.counters.h2Goaways++;
    info.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    // Streams opened after the GOAWAY are ignored by nghttp2; the connection goes once the GOAWAY had time
    // to leave (destroying at once can lose it inside a TLS write).
    setTimeout(() => info.session.destroy(), 250).unref();
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = this.sessions.size;
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.session.destroy();
        resolve();
      }, timeoutMs);
      timer.unref();
      for (const s of this.sessions) {
        s.session.once('close', () => {
          if (--left === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
        // GOAWAY: no new streams; the ones in flight finish, then the session closes.
        s.session.close();
      }
    });
  }
}

/** The HTTP/2 side of a worker's listeners. */
export function createHttp2Acceptor(options: Http2AcceptorOptions): Http2Acceptor {
  return new Acceptor(options);
}
