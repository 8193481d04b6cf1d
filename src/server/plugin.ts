/**
 * The plugin contract. Monkey's request stages, typed:
 *
 *   10 connection accepted → 20 request received → 30 content → 40 response done → 50 connection closed
 *
 * A plugin is a factory that validates its own options (a zod schema) and returns hooks. The plugin host
 * builds one array per stage at start-up from the plugins that define that hook, so a request only runs
 * hooks that exist. Static files, the cache, the proxy and the access log are all plugins.
 *
 * Plugins never import each other: one that needs another's work declares it. A definition names the
 * services it `provides` and the ones it `requires` (typed keys, {@link serviceKey}); the host creates
 * providers first and hands each service over typed (`context.provide`, `context.service`), and a required
 * service no listed plugin provides is a configuration error that names both plugins.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { z } from 'zod';
import type { ConnectionInfo, Request, Response } from '../http/types.ts';
import type { AdminContribution } from './admin-contract.ts';

export type {
  AdminAnswer,
  AdminContribution,
  AdminEndpoint,
  DashboardPanel,
  MetricFamily,
  MetricsContribution,
  WorkerCall,
} from './admin-contract.ts';

/** A result that may be ready now (the fast path) or later. */
export type MaybePromise<T> = T | Promise<T>;

/** Hooks of one plugin instance (in one worker). Every hook is optional. */
export interface Plugin {
  readonly name: string;
  /**
   * Request methods this instance answers that Node's llhttp does not know (the cache's `BAN`, when its
   * purge method is on): the server's parser accepts them instead of answering 501. The plugin must
   * answer every such request at stage 20 (none may reach a content handler or a backend).
   */
  readonly methods?: readonly string[];
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
  /**
   * SIGUSR1 (as `nginx -s reopen`): reopen the files this instance writes, so that lines go to a new file
   * at the configured path after logrotate renamed the old one.
   */
  reopen?(): MaybePromise<void>;
  /**
   * Server shutdown, or this instance's configuration was replaced by a reload (after its in-flight
   * requests finished): flush logs, save state.
   */
  close?(): MaybePromise<void>;
}

/** Minimal logger every plugin gets; lines go to stderr with the plugin's name. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * A typed name for a service one plugin provides to others (the content cache's store, ...). Two keys
 * with the same `name` are the same service; `T` is what `context.service(key)` returns.
 */
export interface ServiceKey<T> {
  readonly name: string;
  /** Type carrier only: never set. */
  readonly type?: T;
}

/** Declare a service key (once, in the module that defines the service's interface). */
export function serviceKey<T>(name: string): ServiceKey<T> {
  return { name };
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
  /**
   * On a reload: this plugin's instance under the configuration being replaced, still serving its
   * in-flight requests and closed once they finish. A plugin may carry state over from it (the proxy
   * keeps its backends' health verdicts). `undefined` at start-up and for a plugin new in this config.
   */
  readonly previous?: Plugin | undefined;
  /**
   * Hand over a service this plugin declared in `provides` (during `create`): plugins that require it are
   * created after this one and get `value`.
   */
  provide<T>(key: ServiceKey<T>, value: T): void;
  /**
   * A service this plugin declared in `requires` (or `uses`) for its options. Throws for a required one
   * nobody provided (the configuration check makes that unreachable); `undefined` for an absent used one.
   */
  service<T>(key: ServiceKey<T>): T;
  /** An optional service (declared in `uses`), or `undefined` when no running plugin provides it. */
  find<T>(key: ServiceKey<T>): T | undefined;
  /**
   * Whether another running plugin requires or uses `key` for its options: a provider may serve better
   * when nobody else takes what it provides (the content cache keeps one store for all workers then).
   */
  wanted(key: ServiceKey<unknown>): boolean;
  /**
   * This worker's part of what the plugin keeps in the primary for the whole server (`share`): the same
   * object for every instance of the plugin in this worker, so an instance created by a reload finds what
   * the one it replaces used. `undefined` when the plugin has no share (none asked for at start-up, or the
   * plugin was not running then).
   */
  readonly shared?: unknown;
  /**
   * The memory this plugin's definition asked for with `sharedMemory(options)`: one SharedArrayBuffer
   * created by the primary and mapped by every worker (a server-wide budget, not one per worker; use
   * `Atomics`). `null` when none was asked for. The same buffer stays across reloads.
   */
  readonly sharedMemory?: SharedArrayBuffer | null;
}

/**
 * What a plugin keeps in the primary for every worker (the content cache's shared arena): made once at
 * start-up, before any worker, and kept across reloads and worker restarts until the server closes.
 */
export interface PrimaryShare {
  /**
   * The part a worker thread receives as `context.shared` (one call per thread started, restarts
   * included): structured-clonable data, and the objects moved with it (message ports).
   */
  connect(workerId: number): { readonly value: unknown; readonly transfer: readonly TransferListItem[] };
  /** The part of a worker running in the primary's own thread (an in-process server). */
  local(): unknown;
  /** Worker `workerId`'s thread exited (crashed or stopped): release what it held. */
  workerGone?(workerId: number): void;
  /** The server closed. */
  close(): void;
}

/** What `share` is told about the start-up configuration. */
export interface ShareContext {
  readonly workers: number;
  /** Whether another enabled plugin requires or uses `key` (for its options): see `PluginContext.wanted`. */
  wanted(key: ServiceKey<unknown>): boolean;
}

/**
 * A plugin definition: what third parties export (as `default`) from a module named in `plugins = [...]`.
 * `options` is the zod schema of the plugin's config table (`[name]` in the TOML file).
 */
export interface PluginDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly options: Schema;
  /** Services this plugin hands over with `context.provide` when it is enabled. @default none */
  readonly provides?: readonly ServiceKey<unknown>[];
  /**
   * Services this plugin cannot run without, for the given options (a configuration check fails, naming
   * both plugins, when no enabled plugin provides one). @default none
   */
  requires?(options: z.output<Schema>): readonly ServiceKey<unknown>[];
  /** Services this plugin takes when present (`context.find`): their providers are created first. */
  readonly uses?: readonly ServiceKey<unknown>[];
  /** What it adds to the admin. @default nothing */
  readonly admin?: AdminContribution;
  /**
   * Make what this plugin keeps in the primary for all workers (called once at start-up when the plugin
   * is enabled; a reload never calls it again); null when these options need nothing. @default none
   */
  share?(options: z.output<Schema>, context: ShareContext): PrimaryShare | null;
  create(options: z.output<Schema>, context: PluginContext): MaybePromise<Plugin>;
  /**
   * Bytes of shared memory the plugin needs for the whole server (0: none). Asked once, by the primary,
   * which creates the SharedArrayBuffer and hands the same one to every worker's `context.sharedMemory`.
   */
  sharedMemory?(options: z.output<Schema>): number;
}

/** Helper that keeps the schema's output type attached to `create`. */
export function definePlugin<Schema extends z.ZodType>(
  definition: PluginDefinition<Schema>,
): PluginDefinition<Schema> {
  return definition;
}
