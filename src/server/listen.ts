/**
 * The listener list of `[server]`: `[[server.listen]]` entries (plain, TLS, a redirect to https, h2c) or
 * the single plain `host`/`port` listener. Plain data the host needs to reserve ports and show URLs; the
 * TLS and HTTP/2 machinery that serves them lives in src/tls and src/http2, installed by the composition
 * root (see catalogue.ts).
 */
import { z } from 'zod';
import { cidr } from './cidr.ts';

function intRange(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/**
 * One `[[server.listen]]` entry. When the list is given it replaces the single plain listener of
 * `[server] host/port`; `server.host` stays the default address of every entry.
 */
export const listenerSchema = z
  .strictObject({
    /** Address; default: `server.host`. */
    host: z.string({ error: 'expected a host name or IP address' }).min(1).optional(),
    /** TCP port; 0 picks a free one. */
    port: intRange(0, 65535),
    /** Speak TLS with the certificates of `[tls]`. @default false */
    tls: z.boolean({ error: 'expected true or false' }).default(false),
    /**
     * HTTP/2: on a TLS listener offered by ALPN beside http/1.1 (default on); on a plain listener h2c with
     * prior knowledge (a client that starts with the HTTP/2 preface; HTTP/1.1 still works). @default tls
     */
    http2: z.boolean({ error: 'expected true or false' }).optional(),
    /**
     * Plain listener that answers every request with `308` to the same host and path over https (the port
     * of the first TLS listener, left out when it is 443). @default false
     */
    redirect_https: z.boolean({ error: 'expected true or false' }).default(false),
    /**
     * Every connection starts with a PROXY protocol header (v1 or v2, HAProxy's spec) from a balancer that
     * passes TCP through; the client it names is the connection's address (logs, access rules,
     * `X-Forwarded-For` to backends). Needs `proxy_protocol_trusted`. @default false
     */
    proxy_protocol: z.boolean({ error: 'expected true or false' }).default(false),
    /**
     * Balancers allowed to send that header (addresses or CIDRs); a connection from any other peer is
     * closed before anything is read. @default []
     */
    proxy_protocol_trusted: z.array(cidr).default([]),
  })
  .superRefine((value, ctx) => {
    if (value.proxy_protocol && value.proxy_protocol_trusted.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['proxy_protocol_trusted'],
        message: "a listener with proxy_protocol = true needs the balancers' addresses or CIDRs here",
      });
    }
    if (value.redirect_https && value.tls) {
      ctx.addIssue({
        code: 'custom',
        path: ['redirect_https'],
        message: 'a redirect to https belongs on a plain listener (tls = false)',
      });
    }
  });

/** A validated listener entry. */
export type ListenerConfig = z.output<typeof listenerSchema>;

/** `[[server.listen]]`: default none (the `[server] host/port` plain listener). */
export const listenersSchema = z.array(listenerSchema, { error: 'expected an array of listener tables' });

/** One listener to open. */
export interface ListenerSpec {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly http2: boolean;
  readonly redirectHttps: boolean;
  /** Peers allowed to send a PROXY protocol header; null: the listener does not read one. */
  readonly proxyProtocol: readonly string[] | null;
}

/** The listeners a `[server]` table asks for: `listen` entries, or the single plain host/port one. */
export function listenerSpecs(server: {
  host: string;
  port: number;
  listen?: readonly ListenerConfig[] | undefined;
}): ListenerSpec[] {
  if (server.listen === undefined || server.listen.length === 0) {
    return [
      {
        host: server.host,
        port: server.port,
        tls: false,
        http2: false,
        redirectHttps: false,
        proxyProtocol: null,
      },
    ];
  }
  return server.listen.map((l) => ({
    host: l.host ?? server.host,
    port: l.port,
    tls: l.tls,
    http2: l.http2 ?? l.tls,
    redirectHttps: l.redirect_https,
    proxyProtocol: l.proxy_protocol ? l.proxy_protocol_trusted : null,
  }));
}
