/**
 * The `[admin]` config table: where the admin API and dashboard listen and how they are protected. The
 * admin is a service of the primary thread (one listener for the whole server), not a per-worker plugin,
 * so config.ts validates this table itself.
 */
import { z } from 'zod';
import { listenHost } from '../server/units.ts';

/** Extra names accepted in the Host header: a DNS name, `*.example.com`, or `*` (any, unsafe). */
const hostPattern = z
  .string()
  .min(1)
  .regex(/^(\*|(\*\.)?[a-z0-9.-]+)$/i, { error: 'expected a host name, "*.domain" or "*"' })
  .transform((s) => s.toLowerCase());

/** The `[admin]` table. */
export const adminOptionsSchema = z.strictObject({
  /** Run the admin listener. @default true */
  enabled: z.boolean({ error: 'expected true or false' }).default(true),
  /**
   * Address to listen on. Anything but a loopback address makes the token mandatory for every call.
   * @default "127.0.0.1"
   */
  host: listenHost().default('127.0.0.1'),
  /** TCP port; 0 picks a free one. @default 9090 */
  port: z
    .int({ error: 'expected an integer from 0 to 65535' })
    .min(0, { error: 'expected an integer from 0 to 65535' })
    .max(65535, { error: 'expected an integer from 0 to 65535' })
    .default(9090),
  /**
   * The API token (`Authorization: Bearer <token>`). With a token set, every API call needs it; without
   * one, a random token is generated at start-up and printed once: mutating calls always need it, and
   * read-only calls too when the listener is not on loopback. @default generated
   */
  token: z
    .string()
    .min(16, { error: 'expected at least 16 characters (or leave it out to generate one)' })
    .regex(/^[\x21-\x7e]+$/, { error: 'expected printable ASCII without spaces' })
    .optional(),
  /**
   * Host header values accepted besides IP addresses and `localhost` (DNS-rebinding protection): the
   * names the admin is reached by, e.g. behind a reverse proxy. @default []
   */
  allowed_hosts: z.array(hostPattern).default([]),
  /**
   * Event streams (`GET /api/events`, one per open dashboard) one client address may hold open; more get
   * 429. Streams in all are capped at 128, half the admin's connections. @default 8
   */
  max_event_streams_per_client: z
    .int({ error: 'expected an integer from 1 to 128' })
    .min(1, { error: 'expected an integer from 1 to 128' })
    .max(128, { error: 'expected an integer from 1 to 128' })
    .default(8),
});

/** The validated `[admin]` table. */
export type AdminOptions = z.output<typeof adminOptionsSchema>;
