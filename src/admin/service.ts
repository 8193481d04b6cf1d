/**
 * The admin service: one listener in the primary (never in the workers), served by our own HTTP engine,
 * reaching the workers through the server's `control()` calls. `startServer` starts it after the workers
 * listen and stops it first on close.
 */
import net from 'node:net';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type Engine } from '../http/engine.ts';
import type { TamarinConfig } from '../server/config.ts';
import type { Logger } from '../server/plugin.ts';
import type { ReloadResult } from '../server/reload.ts';
import { ListenError, listen } from '../server/runtime.ts';
import type { Contributions } from './aggregate.ts';
import { type ApiContext, createApi } from './api.ts';
import { loadAssets } from './assets.ts';
import { type AuthPolicy, generateToken, isLoopback } from './auth.ts';
import { type Control, startLiveFeed } from './live.ts';
import { createMetrics } from './metrics.ts';
import type { AdminOptions } from './options.ts';
import { createEventStreams } from './sse.ts';

/** A running admin listener. */
export interface AdminService {
  readonly host: string;
  readonly port: number;
  /** `http://host:port/`: the dashboard. */
  readonly url: string;
  /** The token calls must carry (configured or generated). */
  readonly token: string;
  /** The token was generated at start-up (no `[admin] token`): the CLI prints it once. */
  readonly tokenGenerated: boolean;
  /** Whether read-only calls need the token too. */
  readonly tokenRequired: boolean;
  /** After a reload: `/api/config` and the dashboard show `config` from now on. */
  updateConfig(config: TamarinConfig): void;
  close(): Promise<void>;
}

export interface AdminStartOptions {
  readonly options: AdminOptions;
  /** The server's validated configuration (shown by `/api/config`, secrets redacted). */
  readonly config: TamarinConfig;
  readonly workers: number;
  readonly control: Control;
  /** `POST /api/reload`: reload the server's configuration. Absent: that call answers 404. */
  readonly reload?: (() => Promise<ReloadResult>) | undefined;
  readonly logger: Logger;
  /** What each running plugin adds to the admin, by plugin name. @default none */
  readonly contributions?: Contributions;
}

/** Admin connections are few (a dashboard, a scraper, curl): a small limit keeps a flood from the primary. */
const MAX_CONNECTIONS = 256;

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${net.isIPv6(shown) ? `[${shown}]` : shown}:${port}/`;
}

/** Start the admin listener. Throws a `ListenError` when the address cannot be bound. */
export async function startAdmin(start: AdminStartOptions): Promise<AdminService> {
  const { options, logger } = start;
  const loopback = isLoopback(options.host);
  const token = options.token ?? generateToken();
  const policy: AuthPolicy = {
    token,
    tokenForReads: options.token !== undefined || !loopback,
    allowedHosts: options.allowed_hosts,
  };
  const assets = loadAssets();
  const contributions = start.contributions ?? new Map();
  const feed = startLiveFeed(start.control, start.workers, (m) => logger.warn(m), contributions);
  // Half the connections at most are streams: the API and the dashboard's files keep the other half.
  const streams = createEventStreams(feed, {
    perClient: options.max_event_streams_per_client,
    total: MAX_CONNECTIONS / 2,
  });
  const context: ApiContext = {
    policy,
    workers: start.workers,
    config: start.config,
    control: start.control,
    reload: start.reload ?? null,
    contributions,
    assets,
    streams,
    metrics: createMetrics(contributions),
  };
  const handler = createApi(context);
  const engine: Engine = createEngine(
    {
      limits: DEFAULT_LIMITS,
      timeouts: DEFAULT_TIMEOUTS,
      maxConnections: MAX_CONNECTIONS,
      maxRequestsPerConnection: 1000,
    },
    { onRequest: handler, onError: (error) => logger.error(String((error as Error)?.message ?? error)) },
  );
  const server = net.createServer({ noDelay: true }, (socket) => engine.handleSocket(socket));
  try {
    await listen(server, options.host, options.port, false);
  } catch (error) {
    feed.close();
    if (!(error instanceof ListenError)) throw error;
    // The listen hint speaks of --port (the main listener's flag); say which listener and which key.
    const reason = error.message.replace(/ \(is another .*\)$/, '');
    throw new ListenError(
      error.code,
      `admin ${reason} (choose another [admin] port, or set [admin] enabled = false)`,
    );
  }
  const port = (server.address() as net.AddressInfo).port;
  const url = urlOf(options.host, port);
  // Where the dashboard is and the generated token are not logged here: the CLI prints them right after
  // its serving line, as one start-up block (an embedder reads them from the returned service).
  if (!loopback && options.allowed_hosts.includes('*')) {
    logger.warn('allowed_hosts = ["*"] turns off the DNS-rebinding check');
  }
  let closing: Promise<void> | null = null;
  return {
    host: options.host,
    port,
    url,
    token,
    tokenGenerated: options.token === undefined,
    tokenRequired: policy.tokenForReads,
    updateConfig(config) {
      context.config = config;
    },
    close() {
      closing ??= (async () => {
        server.close();
        feed.close();
        streams.closeAll();
        await engine.drain(1000);
      })();
      return closing;
    },
  };
}
