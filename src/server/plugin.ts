/**
 * The plugin contract. Monkey's request stages, typed:
 *
 *   10 connection accepted → 20 request received → 30 content → 40 response done → 50 connection closed
 *
 * A plugin is a factory that validates its own options (a zod schema) and returns hooks. The plugin host
 * builds one array per stage at start-up from the plugins that define that hook, so a request only runs
 * hooks that exist. Static files, the cache, the proxy, the access log and the admin API are all plugins.
 */
import type { z } from 'zod';
import type { ConnectionInfo, Request, Response } from '../http/types.ts';

/** A result that may be ready now (the fast path) or later. */
export type MaybePromise<T> = T | Promise<T>;

/** Hooks of one plugin instance (in one worker). Every hook is optional. */
export interface Plugin {
  readonly name: string;
  /** Stage 10: a connection was accepted. Return `false` to close it at once. */
  onConnection?(connection: ConnectionInfo): boolean | undefined;
  /**
   * Stage 20: a request head was parsed. Return `true` when this hook answered the request (the cache
   * answers hits here); later stages are then skipped except `onResponse`.
   *
   * This is where a plugin edits the request (`req.rewrite`, before routing and the cache key) and adds
   * per-request response fields (`res.addTransientHeader` / `res.suppressHeader`): those are applied to
   * whichever head is finally written (a cache hit's pre-built bytes, a proxied answer, a file, an error)
   * and never stored. Fields set with `res.setHeader` belong to the content (stage 30) and are stored
   * with it by the caches.
   */
  onRequest?(req: Request, res: Response): MaybePromise<boolean>;
  /**
   * Stage 30: the first content handler that returns `true` owns the request (proxy routes, then static
   * files). A handler that returns `false` must not have touched `res`.
   */
  handle?(req: Request, res: Response): MaybePromise<boolean>;
  /** Stage 40: the response finished (or was aborted). For logging and storing; must not throw. */
  onResponse?(req: Request, res: Response): void;
  /**
   * Stage 40 for the answers the engine made by itself (400, 408, 413, 414, 431, 501, 505, and 503 over
   * `max_connections`), which no handler saw and which never reach `onResponse`: for plugins that log or
   * count. `req.method === ''` when the request line was not read. Must not throw (a throw is logged).
   */
  onEngineResponse?(req: Request, res: Response): void;
  /** Stage 50: the connection closed. */
  onClose?(connection: ConnectionInfo): void;
  /**
   * Control calls from the primary (admin API) to this worker's instance: e.g. the cache answers
   * `stats`, `entries`, `purge`; the proxy answers `backends`. Arguments and results cross a thread
   * boundary, so they must be structured-clonable plain data. Unknown commands throw.
   */
  control?(command: string, args: unknown): MaybePromise<unknown>;
  /** Server shutdown: flush logs, save state. */
  close?(): MaybePromise<void>;
}

/** Minimal logger every plugin gets; lines go to stderr with the plugin's name. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What the host gives a plugin factory. */
export interface PluginContext {
  /** 0-based worker index; 0 in a single-worker server. */
  readonly workerId: number;
  /** Number of workers in this server (a cache divides its memory budget by it). */
  readonly workerCount: number;
  /** The whole validated configuration, read-only. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
  /** Another plugin's instance in this worker, by name (e.g. the admin plugin asks for `cache`). */
  getPlugin(name: string): Plugin | undefined;
  /**
   * The memory this plugin's definition asked for with `sharedMemory(options)`: one SharedArrayBuffer
   * created by the primary and mapped by every worker (a server-wide budget, not one per worker; use
   * `Atomics`). `null` when none was asked for. Optional (added after the first contract).
   */
  readonly sharedMemory?: SharedArrayBuffer | null;
}

/**
 * A plugin definition: what third parties export (as `default`) from a module named in `plugins = [...]`.
 * `options` is the zod schema of the plugin's config table (`[name]` in the TOML file).
 */
export interface PluginDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly options: Schema;
  create(options: z.output<Schema>, context: PluginContext): MaybePromise<Plugin>;
  /**
   * Bytes of shared memory the plugin needs for the whole server (0: none). Asked once, by the primary,
   * which creates the SharedArrayBuffer and hands the same one to every worker's `context.sharedMemory`.
   * Optional (added after the first contract).
   */
  sharedMemory?(options: z.output<Schema>): number;
}

/** Helper that keeps the schema's output type attached to `create`. */
export function definePlugin<Schema extends z.ZodType>(
  definition: PluginDefinition<Schema>,
): PluginDefinition<Schema> {
  return definition;
}
