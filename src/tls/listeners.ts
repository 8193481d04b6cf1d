/**
 * A worker's listeners: the plain `[server] host/port` one, or the `[[server.listen]]` list (plain, TLS,
 * redirect to https, h2c). Every listener hands its connections to an HTTP/1.1 engine (one per kind, so a
 * TLS engine can add `Strict-Transport-Security` to every response) or, when ALPN picked `h2` or a plain
 * connection opens with the HTTP/2 preface, to the HTTP/2 adapter. All of them share the plugin hooks.
 *
 * TLS sockets are read through their stream ('data' events): the engine's shared-buffer fast path only
 * applies to plain TCP sockets (socket-reader.ts checks the prototype).
 */
import net from 'node:net';
import tls from 'node:tls';
import { createEngine, type Engine, type EngineHooks, type EngineOptions } from '../http/engine.ts';
import { challengeHooks } from './acme.ts';
import type { CertificateStore, CertificateSummary, ReloadResult } from './certificates.ts';
import type { ListenerConfig, TlsConfig } from './options.ts';
import type { ProtocolCounters } from './protocol-counters.ts';
import { redirectHooks } from './redirect.ts';

/** One listener to open. */
export interface ListenerSpec {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly http2: boolean;
  readonly redirectHttps: boolean;
}

/** The listeners a `[server]` table asks for: `listen` entries, or the single plain host/port one. */
export function listenerSpecs(server: {
  host: string;
  port: number;
  listen?: readonly ListenerConfig[] | undefined;
}): ListenerSpec[] {
  if (server.listen === undefined || server.listen.length === 0) {
    return [{ host: server.host, port: server.port, tls: false, http2: false, redirectHttps: false }];
  }
  return server.listen.map((l) => ({
    host: l.host ?? server.host,
    port: l.port,
    tls: l.tls,
    http2: l.http2 ?? l.tls,
    redirectHttps: l.redirect_https,
  }));
}

/** Takes connections that speak HTTP/2 (the adapter in src/http2/). */
export interface Http2Acceptor {
  /** A TLS socket that negotiated `h2`, or a plain socket whose first bytes are the HTTP/2 preface. */
  accept(socket: net.Socket, secure: boolean): void;
  /** Stop accepting; GOAWAY every session; resolve when all closed or at the deadline. */
  drain(timeoutMs: number): Promise<void>;
  readonly sessionCount: number;
}

export interface OpenListenersParams {
  readonly specs: readonly ListenerSpec[];
  /** Port per spec (the primary may have picked the free ones already). */
  readonly ports: readonly number[];
  readonly reusePort: boolean;
  /** The engine of plain listeners (created by the caller, reported as the worker's engine). */
  readonly engine: Engine;
  readonly engineOptions: EngineOptions;
  readonly hooks: EngineHooks;
  readonly tls: { readonly config: TlsConfig; readonly store: CertificateStore } | null;
  /** Builds the HTTP/2 acceptor on first need (so that HTTP/2 code loads only when a listener wants it). */
  readonly http2: (() => Promise<Http2Acceptor>) | null;
  readonly counters: ProtocolCounters;
  readonly warn: (message: string) => void;
  /** ACME storage directory: plain listeners answer HTTP-01 challenges from it; null without ACME. */
  readonly acmeStorage: string | null;
  /** Listen (runtime.ts's, which explains a failure in one sentence). */
  readonly listen: (server: net.Server, host: string, port: number, reusePort: boolean) => Promise<void>;
}

/** A worker's open listeners. */
export interface Listeners {
  /** Bound port per spec. */
  readonly ports: readonly number[];
  readonly counters: ProtocolCounters;
  /** Stop accepting connections. */
  close(): void;
  /** Drain every engine and HTTP/2 session. */
  drain(timeoutMs: number): Promise<void>;
  /** Load again the certificates whose files changed (all with `force`); null without TLS. */
  reloadCertificates(force?: boolean): ReloadResult | null;
  /** Names and expiry of each certificate (empty without TLS). */
  certificates(): CertificateSummary[];
}

/** The 400 nginx sends for plain HTTP on an HTTPS port, as closely as we can. */
const PLAIN_ON_TLS = Buffer.from(
  'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 54\r\nConnection: close\r\n\r\n' +
    '400 Bad Request: plain HTTP request sent to HTTPS port\n',
  'latin1',
);

/** First bytes of an HTTP/2 connection (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function noop(): void {}

/** Open every listener; on failure the ones already open are closed and the error is rethrown. */
export async function openListeners(params: OpenListenersParams): Promise<Listeners> {
  const { specs, engineOptions, counters } = params;
  // With ACME, plain listeners answer HTTP-01 challenges before any plugin sees the request.
  const hooks = params.acmeStorage === null ? params.hooks : challengeHooks(params.hooks, params.acmeStorage);
  const plainEngine = params.acmeStorage === null ? params.engine : createEngine(engineOptions, hooks);
  const servers: net.Server[] = [];
  const engines: Engine[] = plainEngine === params.engine ? [params.engine] : [params.engine, plainEngine];
  let tlsEngine: Engine | null = null;
  let redirectEngine: Engine | null = null;
  let h2: Http2Acceptor | null = null;
  if (params.http2 !== null && specs.some((s) => s.http2)) h2 = await params.http2();
  const firstTls = specs.findIndex((s) => s.tls);

  const plainHandler = (engine: Engine) => (socket: net.Socket) => {
    counters.plainConnection();
    engine.handleSocket(socket);
  };

  /** A plain listener with h2c: look at the first bytes, then hand the socket to h2 or h1. */
  const h2cHandler = (engine: Engine, acceptor: Http2Acceptor) => (socket: net.Socket) => {
    socket.on('error', noop);
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), engineOptions.timeouts.headerTimeout || 10_000);
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return; // wait for the whole preface
      socket.off('data', onData);
      socket.off('close', onClose);
      clearTimeout(timer);
      socket.off('error', noop);
      if (isH2) {
        // Node's HTTP/2 session takes the bytes already read from the socket's buffer.
        socket.pause();
        socket.unshift(seen);
        counters.connection('h2', '');
        acceptor.accept(socket, false);
      } else {
        // Still flowing: the engine's 'data' listener gets these bytes first.
        socket.unshift(seen);
        counters.plainConnection();
        engine.handleSocket(socket);
      }
    };
    const onClose = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.on('close', onClose);
  };

  const listeners: net.Server[] = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const port = params.ports[i] ?? spec.port;
      let server: net.Server;
      if (spec.redirectHttps) {
        const httpsPort = (): number => {
          const bound = firstTls === -1 ? undefined : servers[firstTls]?.address();
          return bound !== undefined && bound !== null && typeof bound === 'object' ? bound.port : 443;
        };
        redirectEngine ??= createEngine(engineOptions, redirectHooks(hooks, httpsPort));
        if (!engines.includes(redirectEngine)) engines.push(redirectEngine);
        server = net.createServer({ noDelay: true }, plainHandler(redirectEngine));
      } else if (spec.tls) {
        const t = params.tls;
        if (t === null) throw new Error('TLS listener without [tls] certificates');
        if (tlsEngine === null) {
          const hsts = t.config.hsts === '' ? '' : `Strict-Transport-Security: ${t.config.hsts}\r\n`;
          tlsEngine = createEngine({ ...engineOptions, responseFields: hsts }, params.hooks);
          engines.push(tlsEngine);
        }
        server = tlsServer(t, tlsEngine, spec.http2 ? h2 : null, counters);
      } else if (spec.http2 && h2 !== null) {
        server = net.createServer({ noDelay: true }, h2cHandler(plainEngine, h2));
      } else {
        server = net.createServer({ noDelay: true }, plainHandler(plainEngine));
      }
      await params.listen(server, spec.host, port, params.reusePort);
      listeners.push(server);
      servers.push(server);
    }
  } catch (error) {
    for (const server of listeners) server.close();
    throw error;
  }
  if (params.tls !== null) {
    const store = params.tls.store;
    store.watch(params.tls.config.watch_interval, (result) => reportReload(result, params.warn));
  }
  return {
    ports: servers.map((s) => (s.address() as net.AddressInfo).port),
    counters,
    close() {
      params.tls?.store.unwatch();
      for (const server of servers) server.close();
    },
    async drain(timeoutMs) {
      const waits: Array<Promise<void>> = engines.map((e) => e.drain(timeoutMs));
      if (h2 !== null) waits.push(h2.drain(timeoutMs));
      await Promise.all(waits);
    },
    reloadCertificates(force = true) {
      if (params.tls === null) return null;
      const result = params.tls.store.reload(force);
      reportReload(result, params.warn);
      return result;
    },
    certificates() {
      return params.tls === null ? [] : params.tls.store.summaries();
    },
  };
}

function reportReload(result: ReloadResult, warn: (message: string) => void): void {
  for (const error of result.errors)
    warn(`certificate not reloaded, the previous one stays in use: ${error}`);
}

/** A TLS listener: SNI from the store, ALPN h2/http1.1, bounded handshakes, plain HTTP answered 400. */
function tlsServer(
  t: { readonly config: TlsConfig; readonly store: CertificateStore },
  engine: Engine,
  h2: Http2Acceptor | null,
  counters: ProtocolCounters,
): tls.Server {
  const store = t.store;
  const server = tls.createServer({
    // Without SNI the handshake keeps the listener's own context (the default certificate), refreshed by
    // `setSecureContext` after a reload; with SNI the callback reads the store's current contexts.
    ...store.listenerOptions(),
    SNICallback: store.sniCallback,
    ALPNProtocols: h2 !== null ? ['h2', 'http/1.1'] : ['http/1.1'],
    handshakeTimeout: t.config.handshake_timeout > 0 ? t.config.handshake_timeout : 120_000,
    // Our engine answers the client's FIN itself (see engine.ts).
    allowHalfOpen: true,
    noDelay: true,
  } as tls.TlsOptions & { noDelay: boolean });
  store.onChange(() => server.setSecureContext(store.listenerOptions()));
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const version = socket.getProtocol() ?? '';
    if (h2 !== null && socket.alpnProtocol === 'h2') {
      counters.connection('h2', version);
      h2.accept(socket, true);
      return;
    }
    counters.connection('h1', version);
    engine.handleSocket(socket);
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    counters.tlsError(error.code);
    // OpenSSL recognised a plain HTTP request: answer it on the TCP socket under the TLS layer, as nginx
    // does (feature-detected: Node keeps that socket as `_parent`).
    const parent = (socket as tls.TLSSocket & { _parent?: unknown })._parent;
    if (error.code === 'ERR_SSL_HTTP_REQUEST' && parent instanceof net.Socket && !parent.destroyed) {
      parent.on('error', noop);
      parent.end(PLAIN_ON_TLS);
      parent.setTimeout(1000, () => parent.destroy());
      return;
    }
    socket.destroy();
  });
  return server;
}
