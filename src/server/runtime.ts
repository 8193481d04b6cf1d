/**
 * One worker: resolve the config, create the plugin host and the HTTP engine, listen. The same code runs
 * in a worker thread (workers.ts) and in the calling thread (`startServer({ inProcess: true })`).
 */
import net from 'node:net';
// Not the global (an accessor: an IC call per response in the hot hook); see src/http/connection.ts.
import { performance } from 'node:perf_hooks';
import { createEngine, type Engine, type EngineHooks, type EngineOptions } from '../http/engine.ts';
import type { Request, Response } from '../http/types.ts';
import { currentCatalogue, type WorkerListeners } from './catalogue.ts';
import { type ResolvedConfig, resolveConfig } from './config.ts';
import { ServerCounters } from './counters.ts';
import { createHost, type Host, type HostHooks } from './host.ts';
import { createLogger, errorMessage } from './logger.ts';

/** Everything a worker needs; plain data so that it crosses a thread boundary as `workerData`. */
export interface WorkerParams {
  /** The raw configuration (parsed TOML with CLI overrides), validated again in the worker. */
  readonly raw: unknown;
  readonly baseDir: string;
  readonly workerId: number;
  readonly workerCount: number;
  /** Port to listen on (the primary already knows it when the config said 0). */
  readonly port: number;
  /** Share the port with the other workers (SO_REUSEPORT). */
  readonly reusePort: boolean;
  /** Port per `[[server.listen]]` entry (the primary's choice for port 0); default: the configured ones. */
  readonly ports?: readonly number[];
  /** TLS session ticket keys shared by every worker (48 bytes); default: each worker its own. */
  readonly ticketKeys?: Uint8Array | null;
  /** Module that installs the plugin catalogue (see catalogue.ts), imported first in a worker thread. */
  readonly catalogue?: string | null;
  /**
   * This worker's part of each plugin's primary share (`PluginDefinition.share`), by plugin name: kept for
   * the worker's life, so every configuration it serves gets the same objects.
   */
  readonly shared?: Readonly<Record<string, unknown>> | undefined;
  /**
   * Shared memory per plugin name, the same buffers in every worker (`PluginContext.sharedMemory`),
   * created once by the primary: a reloaded configuration's plugins get the same ones.
   */
  readonly sharedMemory?: Readonly<Record<string, SharedArrayBuffer>>;
}

/** A running worker. */
export interface WorkerRuntime {
  readonly port: number;
  /** Bound port of every listener, in configuration order (the first is `port`). */
  readonly ports: readonly number[];
  /** The configuration serving new connections (the latest committed reload). */
  readonly resolved: ResolvedConfig;
  readonly host: Host;
  readonly engine: Engine;
  /** Connections, responses by status class, latency: what the `server` control target reports. */
  readonly counters: ServerCounters;
  /**
   * A control call from the primary: `server` (the worker itself: `stats`, `reopen`, and the reload
   * steps `prepare`, `commit`, `abort`) or a plugin's `control(command, args)`.
   */
  control(target: string, command: string, args: unknown): Promise<unknown>;
  /**
   * Reload, first step: build the plugins and engine of `raw` beside the serving ones (nothing changes
   * for clients). Throws when they cannot start; the serving configuration stays.
   */
  prepare(raw: unknown): Promise<void>;
  /**
   * Reload, second step: new connections, and the next request on every open one, go to the prepared
   * configuration; requests in flight finish under the previous one, which then closes its plugins in the
   * background. False when nothing was prepared.
   */
  commit(): boolean;
  /** Reload abandoned (another worker could not prepare): close what `prepare` built. */
  abort(): Promise<void>;
  /** Every plugin's `reopen()` (SIGUSR1: log files renamed by logrotate). */
  reopen(): Promise<void>;
  /** Stop accepting, drain in-flight requests (up to `server.shutdown_timeout`), close the plugins. */
  close(): Promise<void>;
}

/** One configuration's plugins and engine in a worker; a reload builds the next one beside it. */
interface Generation {
  readonly resolved: ResolvedConfig;
  readonly host: Host;
  readonly engine: Engine;
  readonly engineOptions: EngineOptions;
  readonly hooks: EngineHooks;
}

/** A listen failure explained for a user (port taken, no permission, unknown address). */
export class ListenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ListenError';
    this.code = code;
  }
}

/** Translate `listen` errors into one clear sentence. */
export function explainListenError(error: NodeJS.ErrnoException, host: string, port: number): ListenError {
  const where = `${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new ListenError(
        error.code,
        `cannot listen on ${where}: the port is already in use (is another server running? choose another with --port)`,
      );
    case 'EACCES':
      return new ListenError(
        error.code,
        `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`,
      );
    case 'EADDRNOTAVAIL':
      return new ListenError(
        error.code,
        `cannot listen on ${where}: the address ${host} is not on this machine`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(error.code, `cannot listen on ${where}: unknown host name "${host}"`);
    default:
      return new ListenError(error.code ?? 'ERR_LISTEN', `cannot listen on ${where}: ${error.message}`);
  }
}

/** Listen on `host:port`; resolves with the bound server, rejects with a `ListenError`. */
export function listen(server: net.Server, host: string, port: number, reusePort: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(explainListenError(error, host, port));
    server.once('error', onError);
    server.listen({ host, port, reusePort, backlog: 1024 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * The host's hooks with the server counters in front: connections opened and closed, every finished
 * response (status class, latency), the engine's own answers (400, 408, 413, 414, 431, 501, 503, 505)
 * included, as nginx counts the 400s it sends.
 */
/** Count a finished response with its body bytes both ways (an HTTP/1 body counts what it received). */
function count(counters: ServerCounters, req: Request, res: Response): void {
  const body = req.body as { received?: number } | null;
  const bytesIn = body === null ? 0 : (body.received ?? 0);
  counters.response(res.statusCode, req.startTime, performance.now(), res.aborted, bytesIn, res.bodyBytes);
}

function countingHooks(hooks: HostHooks, counters: ServerCounters): HostHooks {
  const { onConnection, onResponseDone, onEngineResponse, onClose } = hooks;
  return {
    onRequest: hooks.onRequest,
    onConnection:
      onConnection === undefined
        ? () => {
            counters.connectionOpened();
            return undefined;
          }
        : (info) => {
            const verdict = onConnection(info);
            if (verdict !== false) counters.connectionOpened();
            return verdict;
          },
    onResponseDone:
      onResponseDone === undefined
        ? (req, res) => count(counters, req, res)
        : (req, res) => {
            count(counters, req, res);
            onResponseDone(req, res);
          },
    onEngineResponse:
      onEngineResponse === undefined
        ? (req, res) => count(counters, req, res)
        : (req, res) => {
            count(counters, req, res);
            onEngineResponse(req, res);
          },
    onClose:
      onClose === undefined
        ? () => counters.connectionClosed()
        : (info) => {
            counters.connectionClosed();
            onClose(info);
          },
  };
}

/** Build the plugins and the engine of one configuration (not yet listening). */
async function buildGeneration(
  raw: unknown,
  params: WorkerParams,
  counters: ServerCounters,
  previous: Generation | null,
): Promise<Generation> {
  const resolved = await resolveConfig(raw, { baseDir: params.baseDir });
  const { server: settings } = resolved.config;
  const log = createLogger('server', params.workerCount > 1 ? params.workerId : undefined);
  const host = await createHost(resolved.plugins, {
    workerId: params.workerId,
    workerCount: params.workerCount,
    config: resolved.config,
    previous: previous?.host.plugins,
    shared: params.shared,
    ...(params.sharedMemory === undefined ? {} : { sharedMemory: params.sharedMemory }),
  });
  const engineOptions: EngineOptions = {
    limits: {
      maxRequestLine: settings.max_request_line,
      maxHeadSize: settings.max_head_size,
      maxHeaders: settings.max_headers,
      maxBodySize: settings.max_body_size,
      ...(host.methods.size === 0 ? {} : { extraMethods: host.methods }),
    },
    timeouts: {
      headerTimeout: settings.header_timeout,
      bodyTimeout: settings.body_timeout,
      keepAliveTimeout: settings.keepalive_timeout,
    },
    maxConnections: settings.max_connections,
    maxRequestsPerConnection: settings.max_requests_per_connection,
  };
  const hooks: EngineHooks = {
    ...countingHooks(host.hooks, counters),
    onError: (error, req) =>
      log.error(`${req === null ? 'connection' : `${req.method} ${req.target}`}: ${errorMessage(error)}`),
  };
  const engine = createEngine(engineOptions, hooks);
  return { resolved, host, engine, engineOptions, hooks };
}

/**
 * Stop a generation: its connections drain (`next` null: shutdown) or go to `next` once their requests
 * in flight are done (a reload); then its plugins close.
 */
async function retire(
  generation: Generation,
  next: Generation | null,
  listeners: WorkerListeners | null,
): Promise<void> {
  const timeout = generation.resolved.config.server.shutdown_timeout;
  if (next === null)
    await Promise.all([generation.engine.drain(timeout), listeners?.drain(timeout) ?? Promise.resolve()]);
  else
    await Promise.all([
      generation.engine.handOver(next.engine, timeout),
      listeners?.commit(timeout) ?? Promise.resolve(),
    ]);
  await generation.host.close();
}

/** The single plain listener of `[server] host/port`, when no listener kit is installed. */
async function plainListener(params: WorkerParams, current: () => Generation): Promise<WorkerListeners> {
  const settings = current().resolved.config.server;
  if (settings.listen.length > 0) {
    throw new Error('[[server.listen]] needs the TLS listeners, which this build does not install');
  }
  const server = net.createServer({ noDelay: true }, (socket) => current().engine.handleSocket(socket));
  await listen(server, settings.host, params.port, params.reusePort);
  return {
    ports: [(server.address() as net.AddressInfo).port],
    close: () => server.close(),
    prepare: async () => {},
    commit: async () => {},
    abort: async () => {},
    drain: async () => {},
    stats: () => undefined,
    control: (command) => {
      throw new Error(`no TLS listeners to run "${command}" on`);
    },
  };
}

/**
 * Start one worker and listen. The listening socket lives as long as the worker: a reload swaps the
 * configuration behind it (`prepare` + `commit`) instead of opening a new socket, because closing an
 * SO_REUSEPORT socket resets the connections still in its accept queue (Linux without
 * `net.ipv4.tcp_migrate_req`), and a reload must not cut anything.
 */
export async function startWorker(params: WorkerParams): Promise<WorkerRuntime> {
  const counters = new ServerCounters();
  const log = createLogger('server', params.workerCount > 1 ? params.workerId : undefined);
  let current = await buildGeneration(params.raw, params, counters, null);
  let prepared: Generation | null = null;
  const retiring = new Set<Promise<void>>();
  const kit = currentCatalogue().listeners;
  let listeners: WorkerListeners;
  try {
    const { config, baseDir } = current.resolved;
    listeners =
      kit === undefined
        ? await plainListener(params, () => current)
        : await kit.open({
            config,
            baseDir,
            ports: params.ports ?? (config.server.listen.length === 0 ? [params.port] : undefined),
            reusePort: params.reusePort,
            serving: current,
            ticketKeys: params.ticketKeys ?? null,
            warn: (message) => log.warn(message),
            listen,
          });
  } catch (error) {
    await current.host.close();
    throw error;
  }
  let closing: Promise<void> | null = null;
  const runtime: WorkerRuntime = {
    port: listeners.ports[0]!,
    ports: listeners.ports,
    get resolved() {
      return current.resolved;
    },
    get host() {
      return current.host;
    },
    get engine() {
      return current.engine;
    },
    counters,
    async control(target, command, args) {
      if (target === 'tls') return listeners.control(command);
      if (target !== 'server') return current.host.control(target, command, args);
      switch (command) {
        case 'prepare':
          return runtime.prepare(args);
        case 'commit':
          return runtime.commit();
        case 'abort':
          return runtime.abort();
        case 'reopen':
          return runtime.reopen();
        default:
          return { ...counters.control(command), protocols: listeners.stats() };
      }
    },
    async prepare(raw) {
      if (closing !== null) throw new Error('the worker is stopping');
      await runtime.abort();
      const next = await buildGeneration(raw, params, counters, current);
      try {
        await listeners.prepare(next);
      } catch (error) {
        await next.host.close();
        throw error;
      }
      prepared = next;
    },
    commit() {
      const next = prepared;
      if (next === null || closing !== null) return false;
      prepared = null;
      const previous = current;
      current = next;
      const done = retire(previous, next, listeners).catch((error: unknown) =>
        log.error(`closing the previous configuration: ${errorMessage(error)}`),
      );
      retiring.add(done);
      void done.then(() => retiring.delete(done));
      return true;
    },
    async abort() {
      const dropped = prepared;
      prepared = null;
      await listeners.abort();
      if (dropped !== null) await dropped.host.close();
    },
    reopen: () => current.host.reopen(),
    close() {
      closing ??= (async () => {
        listeners.close();
        await runtime.abort();
        await Promise.all([retire(current, null, listeners), ...retiring]);
      })();
      return closing;
    },
  };
  return runtime;
}
