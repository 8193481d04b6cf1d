/** `[access]` options: allow / deny networks, basic auth, rate limits, per host and path. */
import { z } from 'zod';
import { cidr } from '../shared/cidr.ts';
import { fieldName, matchFields } from '../shared/match.ts';

/** `scrypt$N$r$p$salt$hash` (salt and hash base64): what `tamarin`'s docs show how to make. */
export const SCRYPT_HASH = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

const rate = z
  .string()
  .regex(/^\d+(\.\d+)?\/(s|m|h)$/, { error: 'expected requests per second, minute or hour, e.g. "10/s"' })
  .transform((text) => {
    const [count, unit] = text.split('/') as [string, string];
    return Number(count) / (unit === 's' ? 1 : unit === 'm' ? 60 : 3600);
  })
  .refine((perSecond) => perSecond > 0, { error: 'expected a rate above 0' });

const ruleSchema = z.strictObject({
  ...matchFields,
  /** Only these networks may pass (others: 403). @default every address */
  allow: z.array(cidr).optional(),
  /** These networks get 403. @default none */
  deny: z.array(cidr).optional(),
  /** HTTP Basic authentication (RFC 7617): 401 with `WWW-Authenticate` without a valid login. */
  basic_auth: z
    .strictObject({
      realm: z
        .string()
        .regex(/^[^"\\\x00-\x1f]*$/, { error: 'expected a realm without quotes or backslashes' })
        .default('Restricted'),
      /** User → `scrypt$N$r$p$salt$hash` (docs/web-features.md shows how to make one). */
      users: z.record(
        z.string().regex(/^[^:\x00-\x1f]+$/, { error: 'expected a user name without ":"' }),
        z
          .string()
          .regex(SCRYPT_HASH, { error: 'expected "scrypt$N$r$p$salt$hash" (see docs/web-features.md)' }),
      ),
    })
    .optional(),
  /** A token bucket per key, one budget for the whole server: over it, 429 with `Retry-After`. */
  rate_limit: z
    .strictObject({
      /** Sustained rate: `"10/s"`, `"600/m"`, `"1000/h"`. */
      rate,
      /** Requests allowed at once above the rate. @default the rate per second, at least 1 */
      burst: z.number().int().min(1).max(1_000_000).optional(),
      /** `"ip"` (the client address, see `real_ip`) or `"header:<Name>"`. @default "ip" */
      key: z
        .string()
        .refine((k) => k === 'ip' || (k.startsWith('header:') && fieldName.safeParse(k.slice(7)).success), {
          error: 'expected "ip" or "header:<Name>"',
        })
        .default('ip'),
    })
    .optional(),
});

/** `[access]` options. */
export const accessOptions = z.strictObject({
  /** Rules in order; every matching rule's checks apply; the first that fails answers. @default [] */
  rules: z.array(ruleSchema).default([]),
});

export type AccessOptions = z.output<typeof accessOptions>;
export type AccessRule = AccessOptions['rules'][number];
