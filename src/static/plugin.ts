/**
 * The `static` plugin: serves files from a document root (per virtual host) in the content stage.
 *
 * ```toml
 * plugins = ["static"]
 * [static]
 * root = "./public"
 * error_pages = { "404" = "404.html" }
 * max_age = "1h"
 * ```
 *
 * A request that matches nothing gets a 404 from here (with the custom 404 page when configured) unless
 * `fallthrough = true`, which hands it back to the host for a later content handler.
 *
 * It provides `FILE_VARIANTS` (what its responses depend on besides the path), which a cache that stores
 * them uses as its key, and `ERROR_PAGES` (its `error_pages`), with which the host and the proxy dress
 * their own error answers.
 */
import { definePlugin } from '../server/plugin.ts';
import { CONTENT_CODINGS, ERROR_PAGES, FILE_VARIANTS } from '../server/services.ts';
import { staticOptionsSchema } from './options.ts';
import { StaticHandler } from './static-handler.ts';

export { DEFAULT_ROOT, type StaticOptions, staticOptionsSchema } from './options.ts';
export { parseRequestPath } from './safe-path.ts';

/** The static-file plugin definition (registered by the host under the name `static`). */
export const staticPlugin = definePlugin({
  name: 'static',
  options: staticOptionsSchema,
  provides: [FILE_VARIANTS, ERROR_PAGES],
  uses: [CONTENT_CODINGS],
  create(options, context) {
    context.provide(FILE_VARIANTS, {
      byHost: Object.keys(options.hosts).length > 0,
      byEncoding: options.precompressed,
    });
    // The host's start-up line already names the root; nothing to log here.
    const handler = new StaticHandler(options, context.find(CONTENT_CODINGS)?.negotiator);
    context.provide(ERROR_PAGES, { errorPage: (status, host) => handler.errorPage(status, host) });
    return {
      name: 'static',
      handle: (req, res) => handler.handle(req, res),
      close: () => handler.close(),
    };
  },
});

export default staticPlugin;
