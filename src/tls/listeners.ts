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
import type { PeerAddress } from '../http/types.ts';
import { AddressList } from '../server/cidr.ts';
import type { ListenerSpec } from '../server/listen.ts';
import type { ProtocolCounters } from '../server/protocol-counters.ts';
import { challengeHooks } from './acme.ts';
import type { CertificateStore, CertificateSummary, ReloadResult } from './certificates.ts';
import type { TlsConfig } from './options.ts';
import { type ProxyProtocolOptions, readProxyHeader } from './proxy-protocol.ts';
import { redirectHooks } from './redirect.ts';

export { type ListenerSpec, listenerSpecs } from '../server/listen.ts';

/** Takes connections that speak HTTP/2 (the adapter in src/http2/). */
export interface Http2Acceptor {
  /** A TLS socket that negotiated `h2`, or a plain socket whose first bytes are the HTTP/2 preface. */
  accept(socket: net.Socket, secure: boolean, peer?: PeerAddress | null): void;
  /** Stop accepting; GOAWAY every session; resolve when all closed or at the deadline. */
  drain(timeoutMs: number): Promise<void>;
  readonly sessionCount: number;
}

/** What one configuration serves with: the runtime's engine and what it was built from. */
export interface Serving {
  /** The engine of plain listeners (created by the caller, reported as the worker's engine). */
  readonly engine: Engine;
  readonly engineOptions: EngineOptions;
  readonly hooks: EngineHooks;
}

export interface OpenListenersParams {
  readonly specs: readonly ListenerSpec[];
  /** Port per spec (the primary may have picked the free ones already). */
  readonly ports: readonly number[];
  readonly reusePort: boolean;
  /** The first configuration's engine and hooks; a reload brings the next one (`Listeners.swap`). */
  readonly serving: Serving;
  readonly tls: { readonly config: TlsConfig; readonly store: CertificateStore } | null;
  /**
   * Builds an HTTP/2 acceptor for one configuration (so that HTTP/2 code loads only when a listener wants
   * it); null when no listener offers HTTP/2.
   */
  readonly http2: ((serving: Serving) => Promise<Http2Acceptor>) | null;
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
  /** Reload, first step: build the engines of `next` beside the serving ones. */
  prepare(next: Serving): Promise<void>;
  /**
   * Reload, second step: new connections go to the prepared configuration. The previous one's own engines
   * (TLS, redirect, ACME challenges) hand their HTTP/1.1 connections over once idle, as the runtime's
   * engine does; its HTTP/2 sessions get a GOAWAY, finish their open streams and end, so that the
   * client's next streams open a new connection under the new configuration. Resolves when the previous
   * configuration has no connection left.
   */
  commit(timeoutMs: number): Promise<void>;
  /** Reload abandoned: drop what `prepare` built. */
  abort(): Promise<void>;
  /** Drain the engines and HTTP/2 sessions built here (the runtime drains `serving.engine` itself). */
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

/** The engines of one configuration, per kind of listener; listeners read the current set per connection. */
interface EngineSet {
  readonly plain: Engine;
  readonly tls: Engine | null;
  readonly redirect: Engine | null;
  readonly h2: Http2Acceptor | null;
  /** Time a plain h2c-capable connection gets to show its first bytes. */
  readonly headerTimeout: number;
  /** Engines built here (not `serving.engine`): drained or handed over with the set. */
  readonly own: readonly Engine[];
}

/** Open every listener; on failure the ones already open are closed and the error is rethrown. */
export async function openListeners(params: OpenListenersParams): Promise<Listeners> {
  const { specs, counters } = params;
  const servers: net.Server[] = [];
  const firstTls = specs.findIndex((s) => s.tls);
  const httpsPort = (): number => {
    const bound = firstTls === -1 ? undefined : servers[firstTls]?.address();
    return bound !== undefined && bound !== null && typeof bound === 'object' ? bound.port : 443;
  };

  const buildSet = async (serving: Serving): Promise<EngineSet> => {
    const { engineOptions } = serving;
    // With ACME, plain listeners answer HTTP-01 challenges before any plugin sees the request.
    const hooks =
      params.acmeStorage === null ? serving.hooks : challengeHooks(serving.hooks, params.acmeStorage);
    const own: Engine[] = [];
    const plain = params.acmeStorage === null ? serving.engine : createEngine(engineOptions, hooks);
    if (plain !== serving.engine) own.push(plain);
    let tlsEngine: Engine | null = null;
    const t = params.tls;
    if (t !== null && specs.some((s) => s.tls)) {
      const hsts = t.config.hsts === '' ? '' : `Strict-Transport-Security: ${t.config.hsts}\r\n`;
      tlsEngine = createEngine({ ...engineOptions, responseFields: hsts }, serving.hooks);
      own.push(tlsEngine);
    }
    let redirect: Engine | null = null;
    if (specs.some((s) => s.redirectHttps)) {
      redirect = createEngine(engineOptions, redirectHooks(hooks, httpsPort));
      own.push(redirect);
    }
    const h2 = params.http2 !== null && specs.some((s) => s.http2) ? await params.http2(serving) : null;
    return { plain, tls: tlsEngine, redirect, h2, headerTimeout: engineOptions.timeouts.headerTimeout, own };
  };
  let current = await buildSet(params.serving);
  let prepared: EngineSet | null = null;

  const plainHandler =
    (kind: 'plain' | 'redirect'): Accept =>
    (socket, peer, head) => {
      counters.plainConnection();
      (kind === 'plain' ? current.plain : current.redirect!).handleSocket(socket, peer, head);
    };

  /** A plain listener with h2c: look at the first bytes, then hand the socket to h2 or h1. */
  const h2cHandler: Accept = (socket, peer, head) => {
    socket.on('error', noop);
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), current.headerTimeout || 10_000);
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
      const acceptor = current.h2;
      if (isH2 && acceptor !== null) {
        // Node's HTTP/2 session takes the bytes already read from the socket's buffer.
        socket.pause();
        socket.unshift(seen);
        counters.connection('h2', '');
        acceptor.accept(socket, false, peer);
      } else {
        // The engine parses these bytes first, then its own reads (still flowing: nothing is lost between).
        counters.plainConnection();
        current.plain.handleSocket(socket, peer, seen);
      }
    };
    const onClose = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.on('close', onClose);
    if (head !== null && head.length > 0) onData(head);
  };

  /** A listener's connection handler, behind a PROXY protocol reader when the listener has one. */
  const withProxyProtocol = (spec: ListenerSpec, accept: Accept): ((socket: net.Socket) => void) => {
    if (spec.proxyProtocol === null) return (socket) => accept(socket, null, null);
    const options: ProxyProtocolOptions = {
      trusted: new AddressList(spec.proxyProtocol),
      get timeoutMs() {
        return current.headerTimeout;
      },
      onRejected: (reason, socket) => rejected.report(reason, socket),
    };
    return (socket) => readProxyHeader(socket, options, accept);
  };
  const rejected = new RejectionLog(params.warn);

  try {
    for (const [i, spec] of specs.entries()) {
      const port = params.ports[i] ?? spec.port;
      let server: net.Server;
      if (spec.redirectHttps) {
        server = net.createServer({ noDelay: true }, withProxyProtocol(spec, plainHandler('redirect')));
      } else if (spec.tls) {
        const t = params.tls;
        if (t === null) throw new Error('TLS listener without [tls] certificates');
        const secure = tlsServer(t, () => current, spec.http2 && current.h2 !== null, counters);
        // With a PROXY header first, TCP is accepted here and the TLS server gets the socket after it.
        server =
          spec.proxyProtocol === null
            ? secure
            : net.createServer({ noDelay: true }, withProxyProtocol(spec, handOverToTls(secure)));
      } else if (spec.http2 && current.h2 !== null) {
        server = net.createServer({ noDelay: true }, withProxyProtocol(spec, h2cHandler));
      } else {
        server = net.createServer({ noDelay: true }, withProxyProtocol(spec, plainHandler('plain')));
      }
      await params.listen(server, spec.host, port, params.reusePort);
      servers.push(server);
    }
  } catch (error) {
    for (const server of servers) server.close();
    await drainSet(current, 0);
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
    async prepare(next) {
      const dropped = prepared;
      prepared = null;
      if (dropped !== null) await drainSet(dropped, 0);
      prepared = await buildSet(next);
    },
    async commit(timeoutMs) {
      const nextSet = prepared;
      if (nextSet === null) return;
      prepared = null;
      const previous = current;
      current = nextSet;
      const waits: Array<Promise<void>> = [];
      for (const [engine, successor] of [
        [previous.plain, nextSet.plain],
        [previous.tls, nextSet.tls],
        [previous.redirect, nextSet.redirect],
      ] as const) {
        if (engine !== null && successor !== null && previous.own.includes(engine))
          waits.push(engine.handOver(successor, timeoutMs));
      }
      if (previous.h2 !== null) waits.push(previous.h2.drain(timeoutMs));
      await Promise.all(waits);
    },
    async abort() {
      const dropped = prepared;
      prepared = null;
      if (dropped !== null) await drainSet(dropped, 0);
    },
    drain: (timeoutMs) => drainSet(current, timeoutMs),
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

/** Drain what a set built itself: its engines and HTTP/2 sessions. */
async function drainSet(set: EngineSet, timeoutMs: number): Promise<void> {
  const waits: Array<Promise<void>> = set.own.map((e) => e.drain(timeoutMs));
  if (set.h2 !== null) waits.push(set.h2.drain(timeoutMs));
  await Promise.all(waits);
}

function reportReload(result: ReloadResult, warn: (message: string) => void): void {
  for (const error of result.errors)
    warn(`certificate not reloaded, the previous one stays in use: ${error}`);
}

/** Hands an accepted socket on, with the client a PROXY header named and the bytes read after it. */
type Accept = (socket: net.Socket, peer: PeerAddress | null, head: Buffer | null) => void;

/** The client each TCP socket's PROXY header named, for the TLS socket made over it. */
const proxiedPeers = new WeakMap<net.Socket, PeerAddress>();

/** The client a TLS socket's PROXY header named (feature-detected: Node keeps the TCP socket as `_parent`). */
function proxiedPeer(socket: tls.TLSSocket): PeerAddress | null {
  const parent = (socket as tls.TLSSocket & { _parent?: unknown })._parent;
  return parent instanceof net.Socket ? (proxiedPeers.get(parent) ?? null) : null;
}

/** Give a socket whose PROXY header was read to the TLS server: the ClientHello bytes go back first. */
function handOverToTls(server: tls.Server): Accept {
  return (socket, peer, head) => {
    if (peer !== null) proxiedPeers.set(socket, peer);
    socket.pause();
    if (head !== null && head.length > 0) socket.unshift(head);
    server.emit('connection', socket);
  };
}

/** Warnings about connections a PROXY protocol listener dropped: the first, then a count per minute. */
class RejectionLog {
  private readonly warn: (message: string) => void;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  constructor(warn: (message: string) => void) {
    this.warn = warn;
  }
  report(reason: string, socket: net.Socket): void {
    if (this.timer !== null) {
      this.dropped++;
      return;
    }
    this.warn(`PROXY protocol: closed a connection from ${socket.remoteAddress ?? '?'}: ${reason}`);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.dropped > 0)
        this.warn(`PROXY protocol: closed ${this.dropped} more connections in the last minute`);
      this.dropped = 0;
    }, 60_000);
    this.timer.unref();
  }
}

/** A TLS listener: SNI from the store, ALPN h2/http1.1, bounded handshakes, plain HTTP answered 400. */
function tlsServer(
  t: { readonly config: TlsConfig; readonly store: CertificateStore },
  engines: () => EngineSet,
  offerH2: boolean,
  counters: ProtocolCounters,
): tls.Server {
  const store = t.store;
  const server = tls.createServer({
    // Without SNI the handshake keeps the listener's own context (the default certificate), refreshed by
    // `setSecureContext` after a reload; with SNI the callback reads the store's current contexts.
    ...store.listenerOptions(),
    SNICallback: store.sniCallback,
    ALPNProtocols: offerH2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    handshakeTimeout: t.config.handshake_timeout > 0 ? t.config.handshake_timeout : 120_000,
    // Our engine answers the client's FIN itself (see engine.ts).
    allowHalfOpen: true,
    noDelay: true,
  } as tls.TlsOptions & { noDelay: boolean });
  // Tickets are encrypted and decrypted by the listener's own context (OpenSSL's session context), even
  // when SNI picked another: that is the one that must rotate its keys.
  const tickets = store.contextSettings.tickets;
  const installTickets = (): void => {
    const own = (server as tls.Server & { _sharedCreds?: tls.SecureContext })._sharedCreds;
    if (tickets !== null && own !== undefined) tickets.install(own);
  };
  installTickets();
  store.onChange(() => {
    server.setSecureContext(store.listenerOptions());
    installTickets();
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const version = socket.getProtocol() ?? '';
    const set = engines();
    const peer = proxiedPeer(socket);
    if (set.h2 !== null && socket.alpnProtocol === 'h2') {
      counters.connection('h2', version);
      set.h2.accept(socket, true, peer);
      return;
    }
    counters.connection('h1', version);
    set.tls!.handleSocket(socket, peer);
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
