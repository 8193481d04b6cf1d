/**
 * `startServer`: the one call that turns a configuration into a listening server, either as worker threads
 * sharing the port (the default) or as a single worker in the calling thread (`inProcess: true`, what
 * integration tests use: no threads, port 0, plain stack traces).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { currentCatalogue } from './catalogue.ts';
import {
  effectiveWorkers,
  parseToml,
  type ResolvedConfig,
  rawConfigOf,
  resolveConfig,
  type TamarinConfig,
} from './config.ts';
import { ConfigError, type ConfigIssue } from './config-errors.ts';
import { serviceWanted } from './host.ts';
import { listenerSpecs } from './listen.ts';
import { createLogger, errorMessage } from './logger.ts';
import type { Logger, PluginDefinition, PrimaryShare, ShareContext } from './plugin.ts';
import { resolveIdentity } from './privileges.ts';
import { createReloader, type Reloader, type ReloadResult } from './reload.ts';
import { ListenError, listen, startWorker } from './runtime.ts';
import { type ControlResult, startWorkerPool, WorkerStartError } from './workers.ts';

export interface StartOptions {
  /**
   * The configuration: TOML text, a plain object shaped like the TOML file, or a `TamarinConfig`. When
   * omitted, `configPath` is read; with neither, every default applies.
   */
  config?: TamarinConfig | Record<string, unknown> | string;
  /** The config file: read when `config` is omitted, and the base of relative paths in any case. */
  configPath?: string;
  /** Run one worker in the calling thread instead of worker threads. @default false */
  inProcess?: boolean;
  /**
   * How a reload reads the configuration again (the CLI re-reads the file and applies its flags on top).
   * @default re-read `configPath`; without one, the configuration given at start
   */
  reloadConfig?: () => Promise<Record<string, unknown>>;
  /**
   * A worker cannot be started again after crashing (see workers.ts): the CLI exits 1 with the reason.
   * @default log it
   */
  onFatal?: (error: Error) => void;
}

export interface RunningServer {
  /** The port actually bound (useful with `port = 0`). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port` to reach the server (a wildcard host is shown as loopback); `https` for TLS. */
  readonly url: string;
  /** URL of every listener, in configuration order (the first is `url`). */
  readonly urls: readonly string[];
  /** Directory relative paths of the configuration resolve against. */
  readonly baseDir: string;
  /** Number of workers serving. */
  readonly workers: number;
  /** The validated configuration serving now (replaced by each successful reload). */
  readonly config: TamarinConfig;
  /** Names of the plugins running, in stage order (disabled ones left out); changes with a reload. */
  readonly plugins: readonly string[];
  /** Their definitions, in the same order (what the composition root hands the admin). */
  readonly definitions: readonly PluginDefinition[];
  /**
   * Call `control(command, args)` of a plugin in every worker; one result per worker. The target
   * `server` is each worker's own counters (`stats`).
   */
  control(plugin: string, command: string, args?: unknown): Promise<ControlResult[]>;
  /**
   * Read and validate the configuration again and serve it without dropping a request (see reload.ts).
   * Rejects with a `ConfigError` (invalid, or a setting that needs a restart changed) or a
   * `WorkerStartError`; the server then keeps serving the configuration it had.
   */
  reload(): Promise<ReloadResult>;
  /** Reopen the files plugins write (SIGUSR1, after logrotate renamed them). */
  reopen(): Promise<void>;
  /** Drain in-flight requests (up to `server.shutdown_timeout`), close plugins, stop workers. */
  close(): Promise<void>;
}

/** The Node.js release that has `reusePort` (several workers sharing one port). */
const REUSE_PORT_SINCE = [22, 12] as const;

/**
 * Whether `version` (`process.versions.node`) has `listen({ reusePort })`: 22.12+ and 23.1+. Older
 * releases ignore the option, and the second worker's listen fails with a misleading EADDRINUSE.
 */
export function supportsReusePort(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major === 23) return minor >= 1;
  return major > REUSE_PORT_SINCE[0] || (major === REUSE_PORT_SINCE[0] && minor >= REUSE_PORT_SINCE[1]);
}

/** Read the raw configuration (plain data) and the directory relative paths are resolved against. */
export async function loadRawConfig(
  options: StartOptions,
): Promise<{ raw: Record<string, unknown>; baseDir: string }> {
  const baseDir =
    options.configPath === undefined ? process.cwd() : path.dirname(path.resolve(options.configPath));
  const fileName = options.configPath === undefined ? 'config' : path.basename(options.configPath);
  if (typeof options.config === 'string') return { raw: parseToml(options.config, fileName), baseDir };
  if (options.config !== undefined) {
    // A resolved config carries its raw form; anything else is taken as the raw form itself.
    const raw = rawConfigOf(options.config) ?? options.config;
    return { raw: structuredClone(raw) as Record<string, unknown>, baseDir };
  }
  if (options.configPath === undefined) return { raw: {}, baseDir };
  let text: string;
  try {
    text = await fs.readFile(options.configPath, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(error);
    throw new ConfigError([{ path: options.configPath, message: `cannot read config file: ${reason}` }]);
  }
  return { raw: parseToml(text, fileName), baseDir };
}

function urlFor(host: string, port: number, secure = false): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${secure ? 'https' : 'http'}://${net.isIPv6(shown) ? `[${shown}]` : shown}:${port}`;
}

/**
 * Find the port the workers will share. A fixed port is probed with a plain (non-reusePort) listen first:
 * SO_REUSEPORT would otherwise let us silently share a port with another server of the same user. Port 0
 * is bound once with reusePort to learn a free port; that placeholder is closed once the workers listen.
 */
async function reservePort(host: string, port: number): Promise<{ port: number; release: () => void }> {
  const probe = net.createServer();
  await listen(probe, host, port, port === 0);
  if (port !== 0) {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return { port, release: () => {} };
  }
  let held = true;
  const release = () => {
    if (held) probe.close();
    held = false;
  };
  return { port: (probe.address() as net.AddressInfo).port, release };
}

/** The raw configuration a reload reads: `reloadConfig`, else the file again, else the start-up one. */
function reloadSource(
  options: StartOptions,
  raw: Record<string, unknown>,
  baseDir: string,
): () => Promise<{ raw: Record<string, unknown>; baseDir: string }> {
  const { reloadConfig } = options;
  if (reloadConfig !== undefined) return async () => ({ raw: await reloadConfig(), baseDir });
  if (options.config === undefined && options.configPath !== undefined) {
    return () => loadRawConfig({ configPath: options.configPath });
  }
  return async () => ({ raw: structuredClone(raw), baseDir });
}

/** The plugins a configuration runs, in stage order. */
function enabledPlugins(resolved: ResolvedConfig): ResolvedConfig['plugins'] {
  return resolved.plugins.filter((p) => p.enabled);
}

/**
 * What the enabled plugins keep in the primary for every worker (`PluginDefinition.share`), by name: made
 * once, before any worker, and kept across reloads and worker restarts.
 */
function createShares(resolved: ResolvedConfig, workers: number): Map<string, PrimaryShare> {
  const shares = new Map<string, PrimaryShare>();
  try {
    for (const entry of enabledPlugins(resolved)) {
      const context: ShareContext = {
        workers,
        wanted: (key) => serviceWanted(resolved.plugins, key, entry.name),
      };
      const share = entry.definition.share?.(entry.options as never, context) ?? null;
      if (share !== null) shares.set(entry.name, share);
    }
  } catch (error) {
    closeShares(shares);
    throw error;
  }
  return shares;
}

function closeShares(shares: ReadonlyMap<string, PrimaryShare>): void {
  for (const share of shares.values()) share.close();
}

/** Reload, with one log line either way: what changed, or why the old configuration stays. */
async function loggedReload(reloader: Reloader, log: Logger): Promise<ReloadResult> {
  try {
    const result = await reloader.reload();
    const changed = result.changed.length === 0 ? 'nothing changed' : `changed: ${result.changed.join(', ')}`;
    log.info(`reload ${result.generation}: new configuration serving (${changed})`);
    return result;
  } catch (error) {
    const lines = error instanceof ConfigError ? error.lines() : [errorMessage(error)];
    log.error(`reload failed, still serving the previous configuration: ${lines.join('; ')}`);
    throw error;
  }
}

/**
 * The shared memory plugins ask for (`PluginDefinition.sharedMemory`), created once here in the primary:
 * every worker gets the same buffers, so a budget (a rate limit) is the server's, not one per worker.
 */
function sharedMemory(resolved: ResolvedConfig): Record<string, SharedArrayBuffer> {
  const shared: Record<string, SharedArrayBuffer> = {};
  for (const entry of resolved.plugins) {
    if (!entry.enabled || typeof entry.definition.sharedMemory !== 'function') continue;
    const bytes = entry.definition.sharedMemory(entry.options);
    if (bytes > 0) shared[entry.name] = new SharedArrayBuffer(bytes);
  }
  return shared;
}

/**
 * A reloaded configuration's plugins get the buffers created at start-up (workers keep them, and a rate
 * limit keeps its budget across the reload). One may ask for less (it uses the start); a plugin asking
 * for more than was created (a plugin enabled since, more rate limits) cannot get it without a restart.
 */
function sharedMemoryGrowth(
  shared: Readonly<Record<string, SharedArrayBuffer>>,
  resolved: ResolvedConfig,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const entry of resolved.plugins) {
    if (!entry.enabled || typeof entry.definition.sharedMemory !== 'function') continue;
    const bytes = entry.definition.sharedMemory(entry.options);
    const created = shared[entry.name]?.byteLength ?? 0;
    if (bytes > created) {
      issues.push({
        path: entry.name,
        message:
          `needs ${bytes} bytes of shared memory, more than the ${created} created at start-up (shared by ` +
          'every worker, it cannot grow on reload): restart the server to apply it, or change it back',
      });
    }
  }
  return issues;
}

/** Validate the configuration and start serving. Throws `ConfigError` or `ListenError` for user errors. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const { raw, baseDir } = await loadRawConfig(options);
  const resolved = await resolveConfig(raw, { baseDir });
  const settings = resolved.config.server;
  const log = createLogger('server');
  // Checked before anything listens: an unknown user is a config error, not a server that runs as root.
  resolveIdentity(settings);
  const sharedBuffers = sharedMemory(resolved);
  // Certificates are checked here too, so that a broken one is a config error (exit 2) before any worker.
  const specs = listenerSpecs(settings);
  const ticketKeys = currentCatalogue().listeners?.prepare(resolved.config, baseDir) ?? null;
  const urlsOf = (list: readonly number[]) => specs.map((s, i) => urlFor(s.host, list[i]!, s.tls));

  let ports: readonly number[];
  let workers: number;
  let control: RunningServer['control'];
  let apply: (raw: Record<string, unknown>) => Promise<void>;
  let reopen: () => Promise<void>;
  let close: () => Promise<void>;
  let shares: Map<string, PrimaryShare>;
  if (options.inProcess === true) {
    shares = createShares(resolved, 1);
    let runtime: Awaited<ReturnType<typeof startWorker>>;
    try {
      runtime = await startWorker({
        raw,
        baseDir,
        workerId: 0,
        workerCount: 1,
        port: settings.port,
        reusePort: false,
        ticketKeys,
        sharedMemory: sharedBuffers,
        shared: Object.fromEntries([...shares].map(([name, share]) => [name, share.local()])),
      });
    } catch (error) {
      closeShares(shares);
      throw error;
    }
    ports = runtime.ports;
    workers = 1;
    control = async (plugin, command, args) => {
      try {
        return [{ worker: 0, result: await runtime.control(plugin, command, args) }];
      } catch (error) {
        return [{ worker: 0, error: errorMessage(error) }];
      }
    };
    apply = async (next) => {
      try {
        await runtime.prepare(next);
      } catch (error) {
        throw new WorkerStartError(`worker 0: ${errorMessage(error)}`);
      }
      runtime.commit();
    };
    reopen = () => runtime.reopen();
    close = () => runtime.close();
  } else {
    workers = effectiveWorkers(settings);
    if (workers > 1 && !supportsReusePort(process.versions.node)) {
      throw new ListenError(
        'ERR_NODE_VERSION',
        `${workers} workers need Node.js ${REUSE_PORT_SINCE.join('.')} or newer to share the port ` +
          `(listen option reusePort); this is Node.js ${process.versions.node}: upgrade Node.js, or set ` +
          'server.workers = 1 (--workers 1)',
      );
    }
    const reserved: Array<{ port: number; release: () => void }> = [];
    // Without reusePort (one worker on an older Node) the placeholder must go before the worker binds;
    // the option would be ignored and the worker's listen would fail with EADDRINUSE.
    const reusePort = supportsReusePort(process.versions.node);
    try {
      for (const spec of specs) {
        const one = await reservePort(spec.host, spec.port);
        reserved.push(one);
        if (!reusePort) one.release();
      }
      ports = reserved.map((r) => r.port);
      // One set for the server's life, made before any worker so that all of them map the same memory.
      shares = createShares(resolved, workers);
      const pool = await startWorkerPool({
        params: {
          raw,
          baseDir,
          workerCount: workers,
          port: ports[0]!,
          ports,
          ticketKeys,
          reusePort,
          catalogue: currentCatalogue().module,
          sharedMemory: sharedBuffers,
        },
        shutdownTimeoutMs: settings.shutdown_timeout,
        onFatal: options.onFatal ?? ((error) => log.error(error.message)),
        shares,
      }).catch((error: unknown) => {
        closeShares(shares);
        throw error;
      });
      control = (plugin, command, args) => pool.control(plugin, command, args);
      apply = (next) => pool.reload(next);
      reopen = async () => {
        for (const result of await pool.control('server', 'reopen')) {
          if (result.error !== undefined) log.error(`worker ${result.worker}: reopen: ${result.error}`);
        }
      };
      close = () => pool.close();
    } finally {
      for (const one of reserved) one.release();
    }
  }
  const reloader = createReloader({
    initial: resolved,
    read: reloadSource(options, raw, baseDir),
    apply: async (next, nextResolved) => {
      const growth = sharedMemoryGrowth(sharedBuffers, nextResolved);
      if (growth.length > 0) throw new ConfigError(growth);
      await apply(next);
    },
  });
  const server: RunningServer = {
    get config() {
      return reloader.current().config;
    },
    get plugins() {
      return enabledPlugins(reloader.current()).map((p) => p.name);
    },
    get definitions() {
      return enabledPlugins(reloader.current()).map((p) => p.definition);
    },
    host: specs[0]!.host,
    port: ports[0]!,
    url: urlsOf(ports)[0]!,
    urls: urlsOf(ports),
    baseDir,
    workers,
    control,
    reload: () => loggedReload(reloader, log),
    reopen,
    close: async () => {
      await close();
      closeShares(shares);
    },
  };
  return server;
}
