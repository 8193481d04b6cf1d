/**
 * What the host can load by name, installed by the composition root (src/main/builtins.ts) as Caddy's
 * modules register themselves: the host imports no plugin and no service of the primary, it looks them up
 * here. A worker thread has its own module graph, so it imports the installing module (`module`) before it
 * resolves the configuration, and both threads see the same catalogue.
 */
import type net from 'node:net';
import type { z } from 'zod';
import type { Engine, EngineHooks, EngineOptions } from '../http/engine.ts';
import type { TamarinConfig } from './config.ts';
import type { PluginDefinition } from './plugin.ts';
import type { ProtocolStatsSnapshot } from './protocol-counters.ts';

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
  /** Tables of `tables` that may be absent (`[tls]`): no defaults, `config[name]` stays undefined. */
  readonly optionalTables?: ReadonlySet<string>;
  /**
   * Serves `[[server.listen]]` (TLS, HTTP/2, redirects: src/tls); without it a worker opens the single
   * plain `[server] host/port` listener itself.
   */
  readonly listeners?: ListenerKit;
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

/** What one configuration of a worker serves with: its engine and what the engine was built from. */
export interface Serving {
  readonly engine: Engine;
  readonly engineOptions: EngineOptions;
  readonly hooks: EngineHooks;
}

/** Opens the listeners of `[[server.listen]]` for the host (installed with the catalogue). */
export interface ListenerKit {
  /**
   * In the primary, before any worker starts: load what the listeners need (certificates: a `ConfigError`
   * names a broken file). Returns the TLS session ticket keys every worker shares, or null without TLS.
   */
  prepare(config: TamarinConfig, baseDir: string): Uint8Array | null;
  /** Open one worker's listeners. */
  open(params: ListenerKitParams): Promise<WorkerListeners>;
}

export interface ListenerKitParams {
  readonly config: TamarinConfig;
  readonly baseDir: string;
  /** Port per listener (from the primary), or undefined to use the configured ones. */
  readonly ports: readonly number[] | undefined;
  readonly reusePort: boolean;
  /** The first configuration. */
  readonly serving: Serving;
  /** Session ticket keys shared by the workers (48 bytes), or null for per-worker keys. */
  readonly ticketKeys: Uint8Array | null;
  readonly warn: (message: string) => void;
  /** Listen, explaining a failure in one sentence (runtime.ts's `listen`). */
  readonly listen: (server: net.Server, host: string, port: number, reusePort: boolean) => Promise<void>;
}

/** One worker's open listeners; the sockets live as long as the worker. */
export interface WorkerListeners {
  /** Bound port per listener, in configuration order. */
  readonly ports: readonly number[];
  /** Stop accepting connections. */
  close(): void;
  /** Reload, first step: build what `next` serves beside its engine (TLS, redirect, HTTP/2 engines). */
  prepare(next: Serving): Promise<void>;
  /**
   * Reload, second step: new connections go to the prepared configuration; what the previous one served
   * beside its engine is handed over or ended gracefully. Resolves when it has nothing left.
   */
  commit(timeoutMs: number): Promise<void>;
  /** Reload abandoned: drop what `prepare` built. */
  abort(): Promise<void>;
  /** Drain what the listeners built beside the serving engine (the runtime drains that one). */
  drain(timeoutMs: number): Promise<void>;
  /** Connections by protocol and TLS version; undefined when not counted. */
  stats(): ProtocolStatsSnapshot | undefined;
  /** The `tls` control target (`reload`, `stats`, `certificates`). */
  control(command: string): unknown;
}
