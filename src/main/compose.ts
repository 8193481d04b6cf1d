/**
 * The composition root: the host (src/server) with the built-in plugins installed and the primary's admin
 * service started beside it. This is the one module that knows both the host and every plugin; the host
 * knows plugins only by their contract, and the admin only by what they contribute.
 */
import type { Contributions } from '../admin/aggregate.ts';
import type { AdminOptions } from '../admin/options.ts';
import type { AdminService } from '../admin/service.ts';
import { rawConfigOf } from '../server/config.ts';
import { ConfigError } from '../server/config-errors.ts';
import { createLogger, errorMessage } from '../server/logger.ts';
import type { PluginDefinition } from '../server/plugin.ts';
import { dropPrivileges, type Identity, resolveIdentity } from '../server/privileges.ts';
import type { ReloadResult } from '../server/reload.ts';
import { ListenError } from '../server/runtime.ts';
import {
  type StartOptions as HostStartOptions,
  type RunningServer as RunningHost,
  startServer as startHost,
} from '../server/start.ts';
import type { AcmeManager } from '../tls/acme.ts';
import type { TlsConfig } from '../tls/options.ts';
import { reloadCertificates } from '../tls/reload.ts';
import './builtins.ts';

/** `resolveConfig` of the host, with the built-in plugins and the `[admin]` table known. */
export { resolveConfig } from '../server/config.ts';

export interface StartOptions extends HostStartOptions {
  /**
   * Start the admin listener (`[admin]`, when enabled there). @default true, except in process without an
   * `[admin]` table
   */
  admin?: boolean;
}

export interface RunningServer extends RunningHost {
  /** The ACME manager (`[tls.acme]`), when running: `check()` orders or renews now. */
  readonly acme: AcmeManager | null;
  /** The admin listener (dashboard, API, metrics), or null when it is not running. */
  readonly admin: AdminService | null;
}

/** What the running plugins add to the admin, by plugin name (the admin knows plugins only by this). */
export function adminContributions(definitions: readonly PluginDefinition[]): Contributions {
  return new Map(definitions.map((d) => [d.name, d.admin ?? {}]));
}

/**
 * Validate the configuration and start serving, with the built-in plugins and the admin listener. Throws
 * `ConfigError` or `ListenError` for user errors.
 */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const host = await startHost(options);
  // Assign rather than spread: `config`, `plugins` and `definitions` are getters that follow reloads.
  const tls = await withTls(Object.assign(host, { admin: null, acme: null }));
  const server = await withAdmin(tls, options);
  return asUser(server, resolveIdentity(server.config.server));
}

/**
 * TLS beside the host: a reload (SIGHUP, `tamarin reload`, the admin API) also loads the certificate
 * files again in every worker, whether or not the configuration itself could be applied; and with
 * `[tls.acme]` the ACME manager runs here, in the primary, once whatever the number of workers.
 */
async function withTls(server: RunningServer): Promise<RunningServer> {
  // Listeners cannot change on reload: whether any speaks TLS is known once.
  const secure = server.config.server.listen.some((l) => l.tls);
  const log = createLogger('tls');
  const { close, reload: reloadConfig } = server;
  const reload = async (): Promise<ReloadResult> => {
    try {
      return await reloadConfig();
    } finally {
      if (secure) {
        const certificates = await reloadCertificates(server);
        for (const error of certificates.errors) log.warn(`certificate reload: ${error}`);
      }
    }
  };
  let acme: AcmeManager | null = null;
  const acmeConfig = (server.config.tls as TlsConfig | undefined)?.acme;
  if (acmeConfig !== undefined) {
    try {
      const { startAcme } = await import('../tls/acme.ts');
      acme = await startAcme(acmeConfig, server.baseDir, log, async () => {
        const result = await reloadCertificates(server);
        for (const error of result.errors) log.warn(`acme: ${error}`);
      });
    } catch (error) {
      await close();
      throw error;
    }
  }
  const manager = acme;
  // Define rather than spread: `config`, `plugins` and `definitions` are getters that follow reloads.
  return Object.defineProperties(server, {
    acme: { value: manager, enumerable: true },
    reload: { value: reload, enumerable: true },
    close: {
      enumerable: true,
      value: async () => {
        manager?.stop();
        await close();
      },
    },
  });
}

/**
 * Every listener is bound (workers, admin): leave root. Worker threads share the process's credentials,
 * so they all switch at once.
 */
async function asUser(server: RunningServer, identity: Identity | null): Promise<RunningServer> {
  if (identity === null) return server;
  try {
    dropPrivileges(identity);
  } catch (error) {
    await server.close();
    throw new ConfigError([
      { path: 'server.user', message: `cannot switch to "${identity.user}": ${errorMessage(error)}` },
    ]);
  }
  createLogger('server').info(`running as user ${identity.user} (uid ${identity.uid}, gid ${identity.gid})`);
  return server;
}

/**
 * Start the admin listener beside the workers when `[admin]` enables it (the default), except for an
 * in-process server without an `[admin]` table (tests, embedding) unless `admin: true` asks for it. A
 * default address (no host/port written in `[admin]`) that is taken costs a warning, not the server: a
 * second instance on one machine keeps serving without its dashboard.
 */
async function withAdmin(server: RunningServer, options: StartOptions): Promise<RunningServer> {
  const table = rawConfigOf(server.config)?.admin;
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
      contributions: adminContributions(server.definitions),
      reload: () => reload(),
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
  const { close, reload: reloadWorkers } = server;
  // The admin shows the configuration serving now: each reload, from a signal or the API, updates it.
  const reload = async (): Promise<ReloadResult> => {
    const result = await reloadWorkers();
    admin.updateConfig(result.config);
    return result;
  };
  // Define rather than spread: `config`, `plugins` and `definitions` are getters that follow reloads.
  return Object.defineProperties(server, {
    admin: { value: admin, enumerable: true },
    reload: { value: reload, enumerable: true },
    close: {
      enumerable: true,
      value: async () => {
        await admin.close();
        await close();
      },
    },
  });
}
