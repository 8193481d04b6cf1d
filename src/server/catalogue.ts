/**
 * What the host can load by name, installed by the composition root (src/main/builtins.ts) as Caddy's
 * modules register themselves: the host imports no plugin and no service of the primary, it looks them up
 * here. A worker thread has its own module graph, so it imports the installing module (`module`) before it
 * resolves the configuration, and both threads see the same catalogue.
 */
import type { z } from 'zod';
import type { PluginDefinition } from './plugin.ts';

/** Loads one plugin definition (lazily: a server only imports the plugins it runs). */
export type PluginLoader = () => Promise<PluginDefinition>;

/** The names the configuration may use besides module paths. */
export interface Catalogue {
  /** Plugins by the name used in `plugins = [...]`. */
  readonly plugins: ReadonlyMap<string, PluginLoader>;
  /** Plugins run when the configuration has no `plugins` key, in stage order. */
  readonly defaults: readonly string[];
  /**
   * Tables that belong to a service of the primary rather than to a plugin (`[admin]`): validated with the
   * rest of the configuration, their parsed value (defaults applied) is `config[name]`.
   */
  readonly tables: ReadonlyMap<string, z.ZodObject>;
  /** URL of the module that installs this catalogue when imported (for worker threads); null for none. */
  readonly module: string | null;
}

const EMPTY: Catalogue = { plugins: new Map(), defaults: [], tables: new Map(), module: null };
let installed: Catalogue = EMPTY;

/** Make `catalogue` the one `resolveConfig` and the workers use (replaces the previous one). */
export function installCatalogue(catalogue: Catalogue): void {
  installed = catalogue;
}

/** The installed catalogue (empty until the composition root installed one: module plugins only). */
export function currentCatalogue(): Catalogue {
  return installed;
}
