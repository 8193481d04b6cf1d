/**
 * The HTTP `PURGE` method on the main listener, as Varnish and nginx users expect: `PURGE /path?q` removes
 * every stored variant of that URL on the request's host, `PURGE /prefix*` every URL under the prefix.
 * Off by default; when on, only clients from the `allow` list (addresses or CIDR ranges) and/or holding
 * the token (`X-Purge-Token` or `Authorization: Bearer`) may purge. The admin API purges through the cache
 * plugin's `control('purge', ...)` instead.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { Request, Response } from '../http/types.ts';
import type { PurgeOrder } from './purge-peers.ts';
import type { PurgeFilter } from './store.ts';

/** `[cache] purge_method` table. */
export const purgeMethodSchema = z
  .strictObject({
    /** Accept `PURGE` requests on the main listener. @default false */
    enabled: z.boolean().default(false),
    /** Client addresses or CIDR ranges allowed to purge. @default ["127.0.0.1", "::1"] */
    allow: z
      .array(
        z.string().refine((text) => parseRange(text) !== null, {
          error: 'expected an IP address or a CIDR range such as "10.0.0.0/8"',
        }),
      )
      .default(['127.0.0.1', '::1']),
    /** Shared secret a purge must carry (`X-Purge-Token` or `Authorization: Bearer`). @default none */
    token: z.string().min(8, 'token must be at least 8 characters').optional(),
  })
  .default({ enabled: false, allow: ['127.0.0.1', '::1'] });

export type PurgeMethodOptions = z.output<typeof purgeMethodSchema>;

function parseRange(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', bits] = text.split('/');
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits)))
    return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** SHA-256 of a token. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Whether `given` is the token whose digest is `expected`. Digests of both are compared in constant time:
 * comparing the tokens themselves must stop at a length mismatch (timingSafeEqual needs equal lengths),
 * which tells a prober the token's length.
 */
export function sameToken(given: string, expected: Buffer): boolean {
  return timingSafeEqual(tokenDigest(given), expected);
}

/** Decides who may purge; built once from the options. */
export class PurgeGate {
  private readonly list = new BlockList();
  private readonly anyAddress: boolean;
  /** SHA-256 of the token: what a given token's digest is compared with. */
  private readonly token: Buffer | null;

  constructor(options: PurgeMethodOptions) {
    for (const entry of options.allow) {
      const range = parseRange(entry)!;
      this.list.addSubnet(range.address, range.prefix, range.family);
    }
    // An empty allow list with a token means "anyone holding the token".
    this.anyAddress = options.allow.length === 0;
    this.token = options.token === undefined ? null : tokenDigest(options.token);
  }

  /** null when `req` may purge, else why not (sent with a 403). */
  check(req: Request): string | null {
    if (!this.anyAddress && !this.allowed(req.connection.remoteAddress)) {
      return `${req.method} is not allowed from this address`;
    }
    if (this.token !== null) {
      const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.get('authorization') ?? '')?.[1];
      const given = req.headers.get('x-purge-token') ?? bearer;
      if (given === undefined) return `${req.method} needs a token (X-Purge-Token)`;
      if (!sameToken(given, this.token)) return `${req.method} token does not match`;
    }
    return null;
  }

  private allowed(address: string): boolean {
    if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) {
      return this.list.check(address.slice(7), 'ipv4') || this.list.check(address, 'ipv6');
    }
    return this.list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The purge a `PURGE` request asks for: with `X-Purge-Tag` (or `Surrogate-Key`) those tags, else the
 * target; `X-Purge-Soft: 1` (or `Fastly-Soft-Purge: 1`) marks stale instead of removing. null when it was
 * answered (400: the tag field names no tag).
 */
export function purgeOrderOf(req: Request, res: Response): PurgeOrder | null {
  const tagValue = req.headers.getJoined('x-purge-tag') ?? req.headers.getJoined('surrogate-key');
  const softValue = req.headers.get('x-purge-soft') ?? req.headers.get('fastly-soft-purge');
  const soft = softValue === '1' || softValue?.toLowerCase() === 'true';
  if (tagValue === undefined) return { filter: purgeFilterOf(req), soft };
  const tags = splitTags(tagValue);
  if (tags.length > 0) return { tags, soft };
  res.statusCode = 400;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end('400 Bad Request (X-Purge-Tag names no tag)\n');
  return null;
}

/** The store filter a `PURGE` request asks for: `/prefix*` → prefix, anything else → that URL. */
export function purgeFilterOf(req: Request): PurgeFilter {
  const target = req.target;
  if (target.endsWith('*')) return { prefix: decode(target.slice(0, -1)), host: req.host };
  return { path: decode(target), host: req.host };
}

/** Longest tag kept (longer ones are ignored). */
export const MAX_TAG_LENGTH = 256;

/** Tags in a field value or a purge request: split on spaces and commas, empty pieces dropped. */
export function splitTags(value: string): string[] {
  const tags: string[] = [];
  for (const piece of value.split(/[\s,]+/)) {
    if (piece !== '' && piece.length <= MAX_TAG_LENGTH) tags.push(piece);
  }
  return tags;
}
