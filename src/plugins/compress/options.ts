/**
 * The `[compress]` table (nginx `gzip` / `brotli`, Caddy `encode`): which codings, how hard, for which
 * types and sizes, and whether answers from the proxy are encoded too.
 */
import zlib from 'node:zlib';
import { z } from 'zod';
import type { Coding } from '../../http/semantics/encoding.ts';
import { byteSize } from '../../server/units.ts';

/** What `types` holds by default: text and the structured text formats, never images, media or archives. */
export const DEFAULT_TYPES: readonly string[] = [
  'text/*',
  'application/json',
  'application/*+json',
  'application/javascript',
  'application/xml',
  'application/*+xml',
  'application/wasm',
  'application/x-ndjson',
  'image/svg+xml',
  'image/vnd.microsoft.icon',
  'font/ttf',
  'font/otf',
];

const CODINGS = ['zstd', 'br', 'gzip'] as const satisfies readonly Coding[];

/** Whether this Node.js has zstd in `node:zlib` (22.15 and later). */
const HAS_ZSTD = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

/** `type/subtype`, `type/*` or `type/*+suffix` (lower-case letters, digits and `.+-_`). */
const MIME_PATTERN = /^[a-z0-9][a-z0-9.+_-]*\/(?:\*|\*\+[a-z0-9.+_-]+|[a-z0-9][a-z0-9.+_-]*)$/;

const levelSchema = z
  .strictObject({
    /** gzip level, 1 (fast) – 9 (small). @default 6 */
    gzip: z.number().int().min(1).max(9).default(6),
    /** Brotli quality, 1 – 11 (11 is ~50x slower than 5 for a few % less). @default 5 */
    br: z.number().int().min(1).max(11).default(5),
    /** zstd level, 1 – 19. @default 3 */
    zstd: z.number().int().min(1).max(19).default(3),
  })
  .default({ gzip: 6, br: 5, zstd: 3 });

export const compressOptionsSchema = z.strictObject({
  /**
   * The codings produced, in the server's preference (Caddy's `encode zstd br gzip`): the client's
   * q-values decide, this order breaks ties (and orders the precompressed siblings the static plugin
   * looks for). Empty: nothing is encoded on the fly and the plugin installs no hook.
   * @default [] (off; `["zstd", "br", "gzip"]` turns it on)
   */
  encodings: z
    .array(z.enum(CODINGS, { error: 'expected "zstd", "br" or "gzip"' }))
    .refine((list) => new Set(list).size === list.length, 'a coding is named twice')
    .refine(
      (list) => HAS_ZSTD || !list.includes('zstd'),
      `"zstd" needs Node.js 22.15 or newer (this is ${process.version}): leave it out or upgrade`,
    )
    .default([]),
  /** Compression level per coding. @default { gzip = 6, br = 5, zstd = 3 } */
  level: levelSchema,
  /** Bodies smaller than this are sent as they are (a known length only). @default 256 */
  min_length: byteSize().default(256),
  /**
   * Media types encoded (`type/subtype`, `type/*`, `type/*+suffix`; parameters are ignored).
   * `text/event-stream` is never encoded: an encoder holds back the events a client waits for.
   * @default text, JSON, JavaScript, XML, wasm, SVG, icons, ttf/otf (see DEFAULT_TYPES)
   */
  types: z
    .array(
      z
        .string()
        .transform((t) => t.trim().toLowerCase())
        .refine((t) => MIME_PATTERN.test(t), 'expected a media type such as "text/*" or "application/json"'),
    )
    .default([...DEFAULT_TYPES]),
  /**
   * Also encode answers relayed from a proxy backend (nginx `gzip_proxied any`). A backend's own
   * Content-Encoding is always kept as it is. @default false
   */
  proxied: z.boolean().default(false),
});

export type CompressOptions = z.output<typeof compressOptionsSchema>;

/** Whether a `Content-Type` value is one of `types`, memoised per value. */
export class TypeMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly suffixes: Array<[string, string]> = [];
  private readonly memo = new Map<string, boolean>();

  constructor(types: readonly string[]) {
    for (const type of types) {
      const star = type.indexOf('*');
      if (star < 0) this.exact.add(type);
      else if (star === type.length - 1) this.prefixes.push(type.slice(0, -1));
      else this.suffixes.push([type.slice(0, star), type.slice(star + 1)]);
    }
  }

  matches(contentType: string): boolean {
    let result = this.memo.get(contentType);
    if (result === undefined) {
      result = this.test(contentType);
      if (this.memo.size >= 1000) this.memo.clear();
      this.memo.set(contentType, result);
    }
    return result;
  }

  private test(contentType: string): boolean {
    const semi = contentType.indexOf(';');
    const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (type === 'text/event-stream') return false;
    if (this.exact.has(type)) return true;
    for (const prefix of this.prefixes) if (type.startsWith(prefix)) return true;
    for (const [prefix, suffix] of this.suffixes) {
      if (type.startsWith(prefix) && type.endsWith(suffix) && type.length > prefix.length + suffix.length)
        return true;
    }
    return false;
  }
}
