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
  ['access_log', async () => (await import('../plugins/access-log/plugin.ts')).accessLogPlugin],
  ['cache', async () => (await import('../cache/plugin.ts')).cachePlugin],
  ['proxy', async () => (await import('../proxy/plugin.ts')).proxyPlugin],
  ['static', async () => (await import('../static/plugin.ts')).staticPlugin],
]);

/**
 * Plugins run when the config has no `plugins` key. Order is stage order: the access log sees every
 * response, the cache answers hits before any content handler, proxy routes are tried before files.
 */
export const DEFAULT_PLUGINS: readonly string[] = ['access_log', 'cache', 'proxy', 'static'];

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
