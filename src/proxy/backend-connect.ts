/**
 * Opening a connection to a backend: plain TCP for `http://`, TLS for `https://` with the certificate
 * verified by default (Node's CA store, or the backend's `ca` file) against `servername` (default: the
 * URL's host name). TLS sessions are kept per backend and offered again, so pooled reconnects resume
 * instead of paying a full handshake.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { BackendTls } from './options.ts';

/** What a connect needs to know of a backend. */
export interface BackendEndpoint {
  readonly host: string;
  readonly port: number;
  /** TLS settings of an `https://` backend; null for `http://`. */
  readonly tls: BackendTls | null;
  /** The last TLS session the backend gave us (resumption); maintained here. */
  tlsSession: Buffer | null;
}

/**
 * Connect to `backend`. Plain sockets may read into `onread` (net's shared-buffer mode); TLS sockets
 * deliver 'data' events. Wait for `readyEvent(backend)` before writing HTTP (TLS: the handshake is done);
 * 'error' comes with OpenSSL's code (`DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`,
 * …) when the certificate is refused.
 */
export function connectBackend(backend: BackendEndpoint, onread: net.OnReadOpts | null): net.Socket {
  const t = backend.tls;
  if (t === null) {
    return net.connect({
      host: backend.host,
      port: backend.port,
      noDelay: true,
      ...(onread === null ? {} : { onread }),
    });
  }
  const socket = tls.connect({
    host: backend.host,
    port: backend.port,
    noDelay: true,
    servername: t.servername,
    ...(t.ca === null ? {} : { ca: t.ca }),
    rejectUnauthorized: t.verify,
    ALPNProtocols: ['http/1.1'],
    ...(backend.tlsSession === null ? {} : { session: backend.tlsSession }),
  } as tls.ConnectionOptions);
  socket.on('session', (session: Buffer) => {
    backend.tlsSession = session;
  });
  return socket;
}

/** The event that says a socket from `connectBackend` is ready to carry HTTP. */
export function readyEvent(backend: BackendEndpoint): string {
  return backend.tls === null ? 'connect' : 'secureConnect';
}
