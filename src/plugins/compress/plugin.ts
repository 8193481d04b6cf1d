/**
 * `compress`: gzip, Brotli and zstd response bodies on the fly (nginx `gzip on` / `brotli on`, Caddy
 * `encode`), chosen by `Accept-Encoding` q-values with the server's order breaking ties.
 *
 * At stage 20 it hands each GET/HEAD response its encoder (`res.setBodyEncoder`, see encoder.ts), which
 * decides when the producer writes the head: after the content cache, so a hit (pre-built bytes) is never
 * encoded again. The cache keys file entries by the negotiated coding list (this plugin's `CONTENT_CODINGS`
 * service), so an encoded variant is stored once per coding and its hits cost what plain hits cost; the
 * proxy's RFC 9111 cache stores an encoded proxied answer as sent, varying on Accept-Encoding. The
 * static plugin picks precompressed siblings (`file.zst`, `file.br`, `file.gz`) in the same order; those
 * already carry a Content-Encoding and pass through untouched.
 *
 * ```toml
 * [compress]
 * encodings = ["zstd", "br", "gzip"]   # the default [] encodes nothing
 * level = { gzip = 6, br = 5, zstd = 3 }
 * min_length = 256
 * proxied = true
 * ```
 */
import { Negotiator } from '../../http/semantics/encoding.ts';
import type { Request, Response } from '../../http/types.ts';
import { definePlugin, type Plugin } from '../../server/plugin.ts';
import { CONTENT_CODINGS } from '../../server/services.ts';
import { CompressEncoder } from './encoder.ts';
import { compressOptionsSchema, TypeMatcher } from './options.ts';

export { compressOptionsSchema } from './options.ts';

/** The `compress` plugin definition (`[compress]`). */
export const compressPlugin = definePlugin({
  name: 'compress',
  options: compressOptionsSchema,
  provides: [CONTENT_CODINGS],
  create(options, context): Plugin {
    if (options.encodings.length === 0) return { name: 'compress' };
    const negotiator = new Negotiator(options.encodings);
    context.provide(CONTENT_CODINGS, { negotiator });
    const encoder = new CompressEncoder(options, negotiator, new TypeMatcher(options.types));
    return {
      name: 'compress',
      onRequest(req: Request, res: Response): boolean {
        const method = req.method;
        if (method === 'GET' || method === 'HEAD') res.setBodyEncoder?.(encoder);
        return false;
      },
      control(command: string): unknown {
        if (command !== 'stats') throw new Error(`compress: unknown command "${command}" (expected stats)`);
        const { encoded, bytesIn, bytesOut } = encoder.stats;
        return { encoded: { ...encoded }, bytesIn, bytesOut };
      },
    };
  },
});

export default compressPlugin;
