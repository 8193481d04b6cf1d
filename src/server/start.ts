/**
 * `startServer`: the one call that turns a configuration into a listening server, either as worker threads
 * sharing the port (the default) or as a single worker in the calling thread (`inProcess: true`, what
 * integration tests use: no threads, port 0, plain stack traces).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { AdminOptions } from '../admin/options.ts';
import type { AdminService } from '../admin/service.ts';
import type { AcmeManager } from '../tls/acme.ts';
import { withAcme } from '../tls/acme-start.ts';
import { listenerSpecs } from '../tls/listeners.ts';
import { loadCertificates } from '../tls/worker-listeners.ts';
import { effectiveWorkers, parseToml, rawConfigOf, resolveConfig, type TamarinConfig } from './config.ts';
import { ConfigError } from './config-errors.ts';
import { createLogger, errorMessage } from './logger.ts';
import { ListenError, listen, startWorker } from './runtime.ts';
import { type ControlResult, startWorkerPool } from './workers.ts';

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
   * Start the admin listener (`[admin]`, when enabled there). @default true, except in process without an
   * `[admin]` table
   */
  admin?: boolean;
}

export interface RunningServer {
  /** The port actually bound (useful with `port = 0`). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port` to reach the server (a wildcard host is shown as loopback); `https` for TLS. */
  readonly url: string;
  /** URL of every listener, in configuration order (the first is `url`). */
  readonly urls: readonly string[];
  /** Number of workers serving. */
  readonly workers: number;
  /** The validated configuration. */
  readonly config: TamarinConfig;
  /** Names of the plugins running, in stage order (disabled ones left out). */
  readonly plugins: readonly string[];
  /** The ACME manager (`[tls.acme]`), when running: `check()` orders or renews now. */
  readonly acme?: AcmeManager | null;
  /** The admin listener (dashboard, API, metrics), or null when it is not running. */
  readonly admin: AdminService | null;
  /**
   * Call `control(command, args)` of a plugin in every worker; one result per worker. The target
   * `server` is each worker's own counters (`stats`).
   */
  control(plugin: string, command: string, args?: unknown): Promise<ControlResult[]>;
  /** Drain in-flight requests (up to `server.shutdown_timeout`), close plugins, stop workers. */
  close(): Promise<void>;
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
  return { port: (probe.address() as net.AddressInfo).port, release: () => probe.close() };
}

/** Validate the configuration and start serving. Throws `ConfigError` or `ListenError` for user errors. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const { raw, baseDir } = await loadRawConfig(options);
  const resolved = await resolveConfig(raw, { baseDir });
  const settings = resolved.config.server;
  const plugins = resolved.plugins.filter((p) => p.enabled).map((p) => p.name);
  const common = { config: resolved.config, plugins, host: settings.host };
  // Certificates are checked here too, so that a broken one is a config error (exit 2) before any worker.
  const specs = listenerSpecs(settings);
  const ticketKeys = loadCertificates(resolved.config, baseDir, null) === null ? null : randomBytes(48);
  const urlsOf = (ports: readonly number[]) => specs.map((s, i) => urlFor(s.host, ports[i]!, s.tls));

  let server: RunningServer;
  if (options.inProcess === true) {
    const runtime = await startWorker({
      raw,
      baseDir,
      workerId: 0,
      workerCount: 1,
      port: settings.port,
      reusePort: false,
      ticketKeys,
    });
    server = {
      ...common,
      host: specs[0]!.host,
      port: runtime.port,
      url: urlsOf(runtime.ports)[0]!,
      urls: urlsOf(runtime.ports),
      workers: 1,
      admin: null,
      async control(plugin, command, args) {
        try {
          return [{ worker: 0, result: await runtime.control(plugin, command, args) }];
        } catch (error) {
          return [{ worker: 0, error: errorMessage(error) }];
        }
      },
      close: () => runtime.close(),
    };
  } else {
    const workerCount = effectiveWorkers(settings);
    const reserved: Array<{ port: number; release: () => void }> = [];
    try {
      for (const spec of specs) reserved.push(await reservePort(spec.host, spec.port));
      const ports = reserved.map((r) => r.port);
      const pool = await startWorkerPool({
        params: { raw, baseDir, workerCount, port: ports[0]!, ports, reusePort: true, ticketKeys },
        shutdownTimeoutMs: settings.shutdown_timeout,
      });
      server = {
        ...common,
        host: specs[0]!.host,
        port: ports[0]!,
        url: urlsOf(ports)[0]!,
        urls: urlsOf(ports),
        workers: workerCount,
        admin: null,
        control: (plugin, command, args) => pool.control(plugin, command, args),
        close: () => pool.close(),
      };
    } finally {
      for (const r of reserved) r.release();
    }
  }
  return withAdmin(await withAcme(server, baseDir), raw, options);
}

/**
 * Start the admin listener beside the workers when `[admin]` enables it (the default), except for an
 * in-process server without an `[admin]` table (tests, embedding) unless `admin: true` asks for it. A
 * default address (no host/port written in `[admin]`) that is taken costs a warning, not the server: a
 * second instance on one machine keeps serving without its dashboard.
 */
async function withAdmin(
  server: RunningServer,
  raw: Record<string, unknown>,
  options: StartOptions,
): Promise<RunningServer> {
  const table = raw.admin;
  const written = typeof table === 'object' && table !== null ? (table as Record<string, unknown>) : null;
  const adminOptions = server.config.admin as AdminOptions;
  const wanted = options.admin ?? (options.inProcess !== true || written !== null);
  if (!wanted || !adminOptions.enabled) return server;
  const log = createLogger('admin');
  let admin: AdminService;
  try {
    const { startAdmin } = await import('../admin/service.ts');
    admin = await startAdmin({
      options: adminOptions,
      config: server.config,
      workers: server.workers,
      control: server.control,
      logger: log,
    });
  } catch (error) {
    const defaultAddress = written === null || (!('host' in written) && !('port' in written));
    if (defaultAddress && error instanceof ListenError && error.code === 'EADDRINUSE') {
      log.warn(`${error.message.replace(/ \(choose another .*$/, '')}; admin API and dashboard not started`);
      return server;
    }
    await server.close();
    throw error;
  }
  const close = server.close;
  return {
    ...server,
    admin,
    async close() {
      await admin.close();
      await close();
    },
  };
}
