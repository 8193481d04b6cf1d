/**
 * One worker: resolve the config, create the plugin host and the HTTP engine, listen. The same code runs
 * in a worker thread (workers.ts) and in the calling thread (`startServer({ inProcess: true })`).
 */
import type net from 'node:net';
// Not the global (an accessor: an IC call per response in the hot hook); see src/http/connection.ts.
import { performance } from 'node:perf_hooks';
import { createEngine, type Engine, type EngineHooks, type EngineOptions } from '../http/engine.ts';
import { tlsControl } from '../tls/control.ts';
import type { Listeners } from '../tls/listeners.ts';
import { startWorkerListeners } from '../tls/worker-listeners.ts';
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
}

/** A running worker. */
export interface WorkerRuntime {
  readonly port: number;
  /** Bound port of every listener, in configuration order (the first is `port`). */
  readonly ports: readonly number[];
  readonly resolved: ResolvedConfig;
  readonly host: Host;
  readonly engine: Engine;
  /** Connections, responses by status class, latency: what the `server` control target reports. */
  readonly counters: ServerCounters;
  /**
   * A control call from the primary: `server` (the worker's own counters: `stats`) or a plugin's
   * `control(command, args)`.
   */
  control(target: string, command: string, args: unknown): Promise<unknown>;
  /** Stop accepting, drain in-flight requests (up to `server.shutdown_timeout`), close the plugins. */
  close(): Promise<void>;
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
        ? (req, res) => counters.response(res.statusCode, req.startTime, performance.now(), res.aborted)
        : (req, res) => {
            counters.response(res.statusCode, req.startTime, performance.now(), res.aborted);
            onResponseDone(req, res);
          },
    onEngineResponse:
      onEngineResponse === undefined
        ? (req, res) => counters.response(res.statusCode, req.startTime, performance.now(), res.aborted)
        : (req, res) => {
            counters.response(res.statusCode, req.startTime, performance.now(), res.aborted);
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

/** Start one worker and listen. */
export async function startWorker(params: WorkerParams): Promise<WorkerRuntime> {
  const resolved = await resolveConfig(params.raw, { baseDir: params.baseDir });
  const { server: settings } = resolved.config;
  const log = createLogger('server', params.workerCount > 1 ? params.workerId : undefined);
  const host = await createHost(resolved.plugins, {
    workerId: params.workerId,
    workerCount: params.workerCount,
    config: resolved.config,
  });
  const counters = new ServerCounters();
  const engineOptions: EngineOptions = {
    limits: {
      maxRequestLine: settings.max_request_line,
      maxHeadSize: settings.max_head_size,
      maxHeaders: settings.max_headers,
      maxBodySize: settings.max_body_size,
    },
    timeouts: {
      headerTimeout: settings.header_timeout,
      bodyTimeout: settings.body_timeout,
      keepAliveTimeout: settings.keepalive_timeout,
    },
    maxConnections: settings.max_connections,
    maxRequestsPerConnection: settings.max_requests_per_connection,
  };
  const engineHooks: EngineHooks = {
    ...countingHooks(host.hooks, counters),
    onError: (error, req) =>
      log.error(`${req === null ? 'connection' : `${req.method} ${req.target}`}: ${errorMessage(error)}`),
  };
  const engine = createEngine(engineOptions, engineHooks);
  let listeners: Listeners;
  try {
    listeners = await startWorkerListeners({
      config: resolved.config,
      baseDir: resolved.baseDir,
      ports: params.ports ?? (settings.listen.length === 0 ? [params.port] : undefined),
      reusePort: params.reusePort,
      engine,
      engineOptions,
      hooks: engineHooks,
      ticketKeys: params.ticketKeys ?? null,
      warn: (message) => log.warn(message),
      listen,
    });
  } catch (error) {
    await host.close();
    throw error;
  }
  let closing: Promise<void> | null = null;
  return {
    port: listeners.ports[0]!,
    ports: listeners.ports,
    resolved,
    host,
    engine,
    counters,
    async control(target, command, args) {
      if (target === 'server')
        return { ...counters.control(command), protocols: listeners.counters.snapshot() };
      if (target === 'tls') return tlsControl(listeners, command);
      return host.control(target, command, args);
    },
    close() {
      closing ??= (async () => {
        listeners.close();
        await listeners.drain(settings.shutdown_timeout);
        await host.close();
      })();
      return closing;
    },
  };
}
