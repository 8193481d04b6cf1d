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
 */
import { definePlugin } from '../server/plugin.ts';
import { staticOptionsSchema } from './options.ts';
import { StaticHandler } from './static-handler.ts';

export { checkPreconditions } from './conditional.ts';
export { acceptedEncodings } from './encoding.ts';
export { makeEtag } from './etag.ts';
export { DEFAULT_ROOT, type StaticOptions, staticOptionsSchema } from './options.ts';
export { evaluateRange, type RangeResult } from './range.ts';
export { parseRequestPath } from './safe-path.ts';

/** The static-file plugin definition (registered by the host under the name `static`). */
export const staticPlugin = definePlugin({
  name: 'static',
  options: staticOptionsSchema,
  create(options) {
    // The host's start-up line already names the root; nothing to log here.
    const handler = new StaticHandler(options);
    return {
      name: 'static',
      handle: (req, res) => handler.handle(req, res),
      // Other plugins' error answers (the proxy's 502/504) use the same pages, found by this method.
      errorPage: (status: number, host: string) => handler.errorPage(status, host),
      close: () => handler.close(),
    };
  },
});

export default staticPlugin;
