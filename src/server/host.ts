/**
 * The plugin host of one worker: creates the plugin instances once, builds one array per stage (`null`
 * when no plugin has that hook) and runs a request through the stages:
 *
 *   onRequest hooks in order (the first returning true answered it) → handle hooks until one claims it →
 *   else 404; when the response is done, every onResponse hook.
 *
 * Answers the engine makes by itself (a request it rejected, a header timeout, a connection over the limit)
 * go to the plugins' `onEngineResponse` hooks only, never to `onResponse`: the
 * cache must not store, nor any plugin act on, a request no handler saw.
 *
 * A hook may return a Promise; the all-synchronous path allocates none. A plugin that throws or rejects
 * gets a 500 for that request (or a destroyed connection if the head was already sent) and a log line;
 * the server keeps running.
 */
import type { ConnectionInfo, Request, Response } from '../http/types.ts';
import { createLogger, errorMessage } from './logger.ts';
import type { Logger, Plugin, PluginContext, PluginDefinition, ServiceKey } from './plugin.ts';
import { ERROR_PAGES, type ErrorPage, type ErrorPages } from './services.ts';

/** What the host needs to instantiate one plugin (a `PluginEntry` of the resolved config fits). */
export interface HostPluginSpec {
  readonly definition: PluginDefinition;
  readonly options: unknown;
  /** Disabled plugins are not created and take part in no stage. @default true */
  readonly enabled?: boolean;
}

/** The worker's identity and the config every plugin can read. */
export interface HostOptions {
  readonly workerId: number;
  readonly workerCount: number;
  readonly config: Readonly<Record<string, unknown>>;
  /** On reload: the plugin instances of the configuration being replaced, by name (`context.previous`). */
  readonly previous?: ReadonlyMap<string, Plugin> | undefined;
  /** Each plugin's part of its primary share, by plugin name (`context.shared`). */
  readonly shared?: Readonly<Record<string, unknown>> | undefined;
  /** Shared memory per plugin name, created by the primary (see `PluginDefinition.sharedMemory`). */
  readonly sharedMemory?: Readonly<Record<string, SharedArrayBuffer>>;
}

/** The engine-facing hooks (same shape as the engine's `EngineHooks`). */
export interface HostHooks {
  onConnection?(info: ConnectionInfo): boolean | undefined;
  onRequest(req: Request, res: Response): void;
  onResponseDone?(req: Request, res: Response): void;
  onEngineResponse?(req: Request, res: Response): void;
  onClose?(info: ConnectionInfo): void;
}

export interface Host {
  readonly hooks: HostHooks;
  /** Plugin instances by name, in stage order. */
  readonly plugins: ReadonlyMap<string, Plugin>;
  /** Request methods beyond llhttp's that a plugin answers (`Plugin.methods`): the parser accepts them. */
  readonly methods: ReadonlySet<string>;
  /** Run a plugin's `control(command, args)` (the primary's RPC lands here). */
  control(pluginName: string, command: string, args: unknown): Promise<unknown>;
  /** Run every plugin's `reopen()` (SIGUSR1); errors are logged, not thrown. */
  reopen(): Promise<void>;
  /** Run every plugin's `close()` in order; errors are logged, not thrown. */
  close(): Promise<void>;
}

/** The claiming stages, in the order `runStages` walks them. */
const REQUEST = 0;
const CONTENT = 1;

const NOT_FOUND = Buffer.from('Not Found\n');
const INTERNAL_ERROR = Buffer.from('Internal Server Error\n');

/** The services a plugin needs (required for its options, or used when present), by name. */
function needs(spec: HostPluginSpec): string[] {
  const required = spec.definition.requires?.(spec.options as never) ?? [];
  return [...required, ...(spec.definition.uses ?? [])].map((key) => key.name);
}

/** Whether an enabled plugin other than `self` requires or uses the service `key` for its options. */
export function serviceWanted(
  specs: readonly HostPluginSpec[],
  key: ServiceKey<unknown>,
  self: string,
): boolean {
  return specs.some(
    (spec) => spec.enabled !== false && spec.definition.name !== self && needs(spec).includes(key.name),
  );
}

/**
 * The order plugins are created in: the list order, except that a service's provider is created before the
 * plugins that need it (stages still run in list order).
 */
function creationOrder(specs: readonly HostPluginSpec[]): HostPluginSpec[] {
  const providerOf = new Map<string, HostPluginSpec>();
  for (const spec of specs) for (const key of spec.definition.provides ?? []) providerOf.set(key.name, spec);
  const order: HostPluginSpec[] = [];
  const visiting = new Set<HostPluginSpec>();
  const visit = (spec: HostPluginSpec): void => {
    if (order.includes(spec)) return;
    if (visiting.has(spec)) {
      const names = [...visiting].map((s) => `"${s.definition.name}"`).join(', ');
      throw new Error(`plugins ${names} need each other's services: no order creates them`);
    }
    visiting.add(spec);
    for (const name of needs(spec)) {
      const provider = providerOf.get(name);
      if (provider !== undefined && provider !== spec) visit(provider);
    }
    visiting.delete(spec);
    order.push(spec);
  };
  for (const spec of specs) visit(spec);
  return order;
}

/** Build the plugin instances and stage arrays of one worker. */
export async function createHost(specs: readonly HostPluginSpec[], options: HostOptions): Promise<Host> {
  const enabled = specs.filter((spec) => spec.enabled !== false);
  const instances = new Map<HostPluginSpec, Plugin>();
  const loggers = new Map<Plugin, Logger>();
  const services = new Map<string, unknown>();
  const workerTag = options.workerCount > 1 ? options.workerId : undefined;
  const serverLog = createLogger('server', workerTag);
  for (const spec of creationOrder(enabled)) {
    const name = spec.definition.name;
    const logger = createLogger(name, workerTag);
    const declared = new Set((spec.definition.provides ?? []).map((key) => key.name));
    const context: PluginContext = {
      workerId: options.workerId,
      workerCount: options.workerCount,
      config: options.config,
      logger,
      previous: options.previous?.get(spec.definition.name),
      shared: options.shared?.[name],
      provide<T>(key: ServiceKey<T>, value: T): void {
        if (!declared.has(key.name))
          throw new Error(`plugin "${name}" provides "${key.name}" without declaring it in \`provides\``);
        services.set(key.name, value);
      },
      service<T>(key: ServiceKey<T>): T {
        if (!services.has(key.name))
          throw new Error(
            `plugin "${name}" needs the "${key.name}" service, which no running plugin provides`,
          );
        return services.get(key.name) as T;
      },
      find: <T>(key: ServiceKey<T>) => services.get(key.name) as T | undefined,
      wanted: (key) => serviceWanted(enabled, key, name),
      sharedMemory: options.sharedMemory?.[spec.definition.name] ?? null,
    };
    let plugin: Plugin;
    try {
      plugin = await spec.definition.create(spec.options, context);
    } catch (error) {
      // Say which plugin could not start: the user's next step depends on it.
      throw new Error(`plugin "${spec.definition.name}" failed to start: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    instances.set(spec, plugin);
    loggers.set(plugin, logger);
  }
  const plugins = new Map<string, Plugin>();
  for (const spec of enabled) plugins.set(spec.definition.name, instances.get(spec)!);

  const stage = (hook: keyof Plugin): Plugin[] | null => {
    const list = [...plugins.values()].filter((plugin) => typeof plugin[hook] === 'function');
    return list.length === 0 ? null : list;
  };
  const connectionHooks = stage('onConnection');
  const requestHooks = stage('onRequest');
  const handlers = stage('handle');
  const responseHooks = stage('onResponse');
  const engineResponseHooks = stage('onEngineResponse');
  const closeHooks = stage('onClose');
  // The plugin providing ERROR_PAGES (the static plugin's `error_pages`) dresses the host's own 404 and
  // 500 as it dresses its own.
  const pageSource = services.get(ERROR_PAGES.name) as ErrorPages | undefined;
  const sendStatus = (req: Request, res: Response, status: number, text: Buffer): void => {
    res.statusCode = status;
    res.statusMessage = '';
    let page: ErrorPage | null = null;
    try {
      page = pageSource?.errorPage(status, req.host) ?? null;
    } catch {
      page = null; // a page source failing must not turn a 404 into a crash
    }
    res.setHeader('content-type', page === null ? 'text/plain; charset=utf-8' : page.contentType);
    res.end(page === null ? text : page.body);
  };

  const fail = (plugin: Plugin, req: Request, res: Response, error: unknown): void => {
    const logger = loggers.get(plugin) ?? serverLog;
    const where = error instanceof Error ? (error.stack?.split('\n')[1]?.trim() ?? '') : '';
    logger.error(`${req.method} ${req.target}: ${errorMessage(error)}${where === '' ? '' : ` (${where})`}`);
    if (res.finished) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name] of res.headerEntries()) res.removeHeader(name);
    sendStatus(req, res, 500, INTERNAL_ERROR);
  };

  const notFound = (req: Request, res: Response): void => sendStatus(req, res, 404, NOT_FOUND);

  /**
   * The claiming stages in order: onRequest hooks (the first returning true answered the request), then
   * content handlers (the first returning true owns it), else 404. One loop serves both; a Promise is
   * waited for and the run goes on from the next plugin. The all-synchronous path allocates nothing.
   */
  const runStages = (req: Request, res: Response, stage: number, start: number): void => {
    for (; stage <= CONTENT; stage++, start = 0) {
      const list = stage === REQUEST ? requestHooks : handlers;
      if (list === null) continue;
      for (let i = start; i < list.length; i++) {
        const plugin = list[i]!;
        let result: boolean | Promise<boolean>;
        try {
          result = stage === REQUEST ? plugin.onRequest!(req, res) : plugin.handle!(req, res);
        } catch (error) {
          fail(plugin, req, res, error);
          return;
        }
        if (result === true) return;
        if (result instanceof Promise) {
          const at = stage;
          const next = i + 1;
          result.then(
            (claimed) => {
              if (claimed !== true) runStages(req, res, at, next);
            },
            (error: unknown) => fail(plugin, req, res, error),
          );
          return;
        }
      }
    }
    notFound(req, res);
  };

  const hooks: HostHooks = {
    onRequest: (req, res) => runStages(req, res, REQUEST, 0),
  };
  if (connectionHooks !== null) {
    hooks.onConnection = (info) => {
      for (const plugin of connectionHooks) {
        try {
          if (plugin.onConnection!(info) === false) return false;
        } catch (error) {
          loggers.get(plugin)?.error(`onConnection: ${errorMessage(error)}`);
        }
      }
      return undefined;
    };
  }
  if (responseHooks !== null) {
    hooks.onResponseDone = (req, res) => {
      for (const plugin of responseHooks) {
        try {
          plugin.onResponse!(req, res);
        } catch (error) {
          loggers.get(plugin)?.error(`onResponse ${req.method} ${req.target}: ${errorMessage(error)}`);
        }
      }
    };
  }
  if (engineResponseHooks !== null) {
    hooks.onEngineResponse = (req, res) => {
      for (const plugin of engineResponseHooks) {
        try {
          plugin.onEngineResponse!(req, res);
        } catch (error) {
          loggers.get(plugin)?.error(`onEngineResponse ${res.statusCode}: ${errorMessage(error)}`);
        }
      }
    };
  }
  if (closeHooks !== null) {
    hooks.onClose = (info) => {
      for (const plugin of closeHooks) {
        try {
          plugin.onClose!(info);
        } catch (error) {
          loggers.get(plugin)?.error(`onClose: ${errorMessage(error)}`);
        }
      }
    };
  }

  const methods = new Set<string>();
  for (const plugin of plugins.values()) for (const method of plugin.methods ?? []) methods.add(method);

  return {
    hooks,
    plugins,
    methods,
    async control(pluginName, command, args) {
      const plugin = plugins.get(pluginName);
      if (plugin === undefined) throw new Error(`no plugin "${pluginName}" is running`);
      if (typeof plugin.control !== 'function')
        throw new Error(`plugin "${pluginName}" has no control commands`);
      return plugin.control(command, args);
    },
    async reopen() {
      for (const plugin of plugins.values()) {
        if (typeof plugin.reopen !== 'function') continue;
        try {
          await plugin.reopen();
        } catch (error) {
          loggers.get(plugin)?.error(`reopen: ${errorMessage(error)}`);
        }
      }
    },
    async close() {
      for (const plugin of plugins.values()) {
        if (typeof plugin.close !== 'function') continue;
        try {
          await plugin.close();
        } catch (error) {
          loggers.get(plugin)?.error(`close: ${errorMessage(error)}`);
        }
      }
    },
  };
}
