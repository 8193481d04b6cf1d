/**
 * Connections by protocol (HTTP/1.x, HTTP/2) and by TLS version, and TLS handshake failures, per worker:
 * what `/api/stats` and `/metrics` show next to the server counters. A few integer increments per
 * connection (not per request).
 */

/** One worker's protocol counters as plain data (structured-clonable). */
export interface ProtocolStatsSnapshot {
  /** Connections accepted since start, by the protocol spoken on them. */
  connections: { h1: number; h2: number };
  /** TLS connections by negotiated version (`TLSv1.3`, `TLSv1.2`). */
  tlsVersions: Record<string, number>;
  /** HTTP/2 streams (requests) received since start. */
  h2Streams: number;
  /** HTTP/2 connections ended by a limit (rapid reset, too many streams, oversized headers). */
  h2Goaways: number;
  /** Failed handshakes by cause: `plain_http`, `timeout`, `other`. */
  tlsErrors: { plain_http: number; timeout: number; other: number };
}

/** Counters of one worker. */
export class ProtocolCounters {
  h1 = 0;
  h2 = 0;
  h2Streams = 0;
  h2Goaways = 0;
  tls12 = 0;
  tls13 = 0;
  tlsOther = 0;
  plainHttp = 0;
  timeouts = 0;
  otherErrors = 0;

  /** A plain HTTP/1.x connection. */
  plainConnection(): void {
    this.h1++;
  }

  /** A connection speaking `protocol`, over TLS `version` (`''`: plain). */
  connection(protocol: 'h1' | 'h2', version: string): void {
    if (protocol === 'h1') this.h1++;
    else this.h2++;
    if (version === 'TLSv1.3') this.tls13++;
    else if (version === 'TLSv1.2') this.tls12++;
    else if (version !== '') this.tlsOther++;
  }

  /** A handshake failed with this error code. */
  tlsError(code: string | undefined): void {
    if (code === 'ERR_SSL_HTTP_REQUEST') this.plainHttp++;
    else if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.timeouts++;
    else this.otherErrors++;
  }

  snapshot(): ProtocolStatsSnapshot {
    const tlsVersions: Record<string, number> = { 'TLSv1.2': this.tls12, 'TLSv1.3': this.tls13 };
    if (this.tlsOther > 0) tlsVersions.other = this.tlsOther;
    return {
      connections: { h1: this.h1, h2: this.h2 },
      tlsVersions,
      h2Streams: this.h2Streams,
      h2Goaways: this.h2Goaways,
      tlsErrors: { plain_http: this.plainHttp, timeout: this.timeouts, other: this.otherErrors },
    };
  }
}

/** `a` plus `b`, counter by counter (`a` is changed and returned). */
export function addProtocolSnapshots(
  a: ProtocolStatsSnapshot,
  b: ProtocolStatsSnapshot,
): ProtocolStatsSnapshot {
  a.connections.h1 += b.connections.h1;
  a.connections.h2 += b.connections.h2;
  for (const [version, n] of Object.entries(b.tlsVersions))
    a.tlsVersions[version] = (a.tlsVersions[version] ?? 0) + n;
  a.h2Streams += b.h2Streams;
  a.h2Goaways += b.h2Goaways;
  a.tlsErrors.plain_http += b.tlsErrors.plain_http;
  a.tlsErrors.timeout += b.tlsErrors.timeout;
  a.tlsErrors.other += b.tlsErrors.other;
  return a;
}
