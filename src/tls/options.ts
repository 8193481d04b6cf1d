/**
 * Config of listeners, TLS and HTTP/2: `[[server.listen]]` entries (each plain, TLS, a redirect to https
 * or h2c), the `[tls]` table (certificates, protocol versions, ciphers, HSTS) and the `[http2]` table
 * (limits against the known HTTP/2 attacks). config.ts validates them with the rest of the file.
 */
import { z } from 'zod';
import { byteSize, duration } from '../server/units.ts';

function intRange(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

export { type ListenerConfig, listenerSchema, listenersSchema } from '../server/listen.ts';

/** One certificate of `[[tls.certificates]]`. */
export const certificateSchema = z.strictObject({
  /** PEM certificate chain file (leaf first). */
  cert: z.string({ error: 'expected the path of a PEM certificate file' }).min(1),
  /** PEM private key file. */
  key: z.string({ error: 'expected the path of a PEM private key file' }).min(1),
  /**
   * Server names (SNI) this certificate answers, `*.example.com` allowed; default: the DNS names of the
   * certificate's subjectAltName.
   */
  names: z
    .array(
      z
        .string()
        .regex(/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i, { error: 'expected a host name or "*.domain"' })
        .transform((s) => s.toLowerCase().replace(/\.$/, '')),
    )
    .optional(),
});

/** The default cipher list: forward secrecy and AEAD only (Mozilla "intermediate", TLS 1.2 part). */
export const DEFAULT_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

/** `[tls.acme]`: certificates obtained and renewed automatically (RFC 8555, HTTP-01). */
export const acmeSchema = z.strictObject({
  /** Names of the certificate (one certificate for all of them); each must reach this server on port 80. */
  names: z
    .array(
      z
        .string()
        .regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i, {
          error: 'expected a host name (no wildcards with HTTP-01)',
        })
        .transform((s) => s.toLowerCase()),
    )
    .min(1, { error: 'expected at least one name' }),
  /** Contact address given to the CA (expiry warnings). */
  email: z
    .string()
    .regex(/^[^@\s]+@[^@\s]+$/, { error: 'expected an e-mail address' })
    .optional(),
  /** ACME directory. @default Let's Encrypt production */
  directory: z
    .url({ error: 'expected the https URL of an ACME directory' })
    .default('https://acme-v02.api.letsencrypt.org/directory'),
  /** PEM file of the CA that signed the ACME server's own certificate (a test CA such as Pebble's). */
  directory_ca: z.string().min(1).optional(),
  /** Directory for the account key, certificates and pending challenges. */
  storage: z.string({ error: 'expected a directory path' }).min(1),
  /** Renew when the certificate has less than this left. @default "720h" (30 days) */
  renew_before: duration().prefault('720h'),
  /** How often the expiry is checked, and the wait after a failed order. @default "12h" */
  check_interval: duration().prefault('12h'),
  /** Accept the CA's terms of service (required by Let's Encrypt). @default false */
  agree_to_terms: z.boolean({ error: 'expected true or false' }).default(false),
});

/** The validated `[tls.acme]` table. */
export type AcmeConfig = z.output<typeof acmeSchema>;

/** The `[tls]` table. */
export const tlsSchema = z.strictObject({
  /** Default certificate (PEM chain): served to clients without SNI or with an unknown name. */
  cert: z.string({ error: 'expected the path of a PEM certificate file' }).min(1).optional(),
  /** Private key of the default certificate (PEM). */
  key: z.string({ error: 'expected the path of a PEM private key file' }).min(1).optional(),
  /** More certificates, picked by SNI; the first is the default when `cert`/`key` are absent. */
  certificates: z.array(certificateSchema, { error: 'expected an array of certificate tables' }).default([]),
  /** Oldest protocol accepted: "TLSv1.2" or "TLSv1.3". @default "TLSv1.2" */
  min_version: z
    .enum(['TLSv1.2', 'TLSv1.3'], { error: 'expected "TLSv1.2" or "TLSv1.3"' })
    .default('TLSv1.2'),
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults). @default modern AEAD list */
  ciphers: z.string({ error: 'expected an OpenSSL cipher list' }).min(1).default(DEFAULT_CIPHERS),
  /** Time a client gets to finish the handshake. @default "10s" */
  handshake_timeout: duration().prefault('10s'),
  /** Session resumption by tickets (keys shared by the workers, see `ticket_key_rotation`). @default true */
  session_tickets: z.boolean({ error: 'expected true or false' }).default(true),
  /**
   * How often the session ticket keys change (every worker at the same time); tickets under the previous
   * key still resume (and get a new ticket), older ones get a full handshake. "0s": one key until
   * restart. @default "12h"
   */
  ticket_key_rotation: duration().prefault('12h'),
  /**
   * `Strict-Transport-Security` value sent on every TLS response, e.g. "max-age=63072000"; "" sends none.
   * @default ""
   */
  hsts: z
    .string({ error: 'expected a Strict-Transport-Security value such as "max-age=63072000"' })
    .regex(/^(|max-age=\d+(\s*;\s*(includeSubDomains|preload))*)$/i, {
      error: 'expected a Strict-Transport-Security value such as "max-age=63072000; includeSubDomains"',
    })
    .default(''),
  /**
   * How often the certificate files are checked for changes (a changed file is loaded for new
   * handshakes; open connections stay); "0s" turns it off (SIGHUP still reloads). @default "10s"
   */
  watch_interval: duration().prefault('10s'),
  /** Automatic certificates (ACME); see docs/serving-the-internet.md. */
  acme: acmeSchema.optional(),
});

/** The validated `[tls]` table. */
export type TlsConfig = z.output<typeof tlsSchema>;

/** The `[http2]` table: limits of every HTTP/2 connection. */
export const http2Schema = z.strictObject({
  /** Streams open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS). @default 128 */
  max_concurrent_streams: intRange(1, 10_000).default(128),
  /**
   * Largest header list (decoded, as HTTP/2 counts it: names + values + 32 per field); larger gets
   * 431 or the connection is ended (a CONTINUATION flood never completes a header block). @default "16KiB"
   */
  max_header_list_size: byteSize().prefault('16KiB'),
  /**
   * Streams a client may reset (RST_STREAM) per connection within `reset_window` before the connection
   * is ended with GOAWAY (the "rapid reset" attack, CVE-2023-44487). @default 200
   */
  max_resets: intRange(1, 1_000_000).default(200),
  /** @default "10s" */
  reset_window: duration().prefault('10s'),
  /** Idle time after which an HTTP/2 connection without open streams is closed. @default "2m" */
  idle_timeout: duration().prefault('2m'),
});

/** The validated `[http2]` table. */
export type Http2Config = z.output<typeof http2Schema>;
