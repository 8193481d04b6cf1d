/**
 * The built-in plugins, by the name used in `plugins = [...]`. This is the only place that lists them:
 * each entry loads its module lazily, so a server only imports the plugins it runs, and a plugin whose
 * module is missing from a build fails with a clear config error instead of breaking every start-up.
 * Importing this module installs them (with the `[admin]` table of the primary's admin service, and the
 * `[tls]`/`[http2]` tables and listeners of src/tls) as the host's catalogue.
 */
import { adminOptionsSchema } from '../admin/options.ts';
import { installCatalogue, type PluginLoader } from '../server/catalogue.ts';
import { http2Schema, tlsSchema } from '../tls/options.ts';
import { tlsListenerKit } from '../tls/worker-listeners.ts';

/** Loaders of the built-in plugins. The order of `DEFAULT_PLUGINS` is the stage order by default. */
export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginLoader> = new Map<string, PluginLoader>([
  ['real_ip', async () => (await import('../plugins/real-ip/plugin.ts')).realIpPlugin],
  ['access_log', async () => (await import('../plugins/access-log/plugin.ts')).accessLogPlugin],
  ['access', async () => (await import('../plugins/access/plugin.ts')).accessPlugin],
  ['headers', async () => (await import('../plugins/headers/plugin.ts')).headersPlugin],
  ['rewrite', async () => (await import('../plugins/rewrite/plugin.ts')).rewritePlugin],
  ['compress', async () => (await import('../plugins/compress/plugin.ts')).compressPlugin],
  ['cache', async () => (await import('../cache/plugin.ts')).cachePlugin],
  ['proxy', async () => (await import('../proxy/plugin.ts')).proxyPlugin],
  ['static', async () => (await import('../static/plugin.ts')).staticPlugin],
]);

/**
 * Plugins run when the config has no `plugins` key. Order is stage order: the client address is settled
 * first (real_ip), the access log sees every response, access rules refuse first, header rules edit the
 * request before the cache answers hits (their response fields reach hits anyway, and redirects), rewrites change the path before
 * the cache key and routing, compression hands each response its encoder (hits, pre-built, skip it), the
 * cache answers hits before any content handler, proxy routes are tried
 * before files. A plugin without configured rules installs no hook and costs nothing.
 */
export const DEFAULT_PLUGINS: readonly string[] = [
  'real_ip',
  'access_log',
  'access',
  'headers',
  'rewrite',
  'compress',
  'cache',
  'proxy',
  'static',
];

installCatalogue({
  plugins: BUILTIN_PLUGINS,
  defaults: DEFAULT_PLUGINS,
  tables: new Map<string, typeof adminOptionsSchema | typeof tlsSchema | typeof http2Schema>([
    ['admin', adminOptionsSchema],
    ['tls', tlsSchema],
    ['http2', http2Schema],
  ]),
  optionalTables: new Set(['tls']),
  listeners: tlsListenerKit,
  module: import.meta.url,
});
