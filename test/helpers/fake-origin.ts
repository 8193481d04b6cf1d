/**
 * HTTP cache test rig: a fake origin (node:http on 127.0.0.1:0) whose answers each test scripts, and a
 * Tamarin worker (engine + cache plugin + proxy plugin, wired by the real plugin host) whose cache runs on
 * a controlled clock, so TTLs are crossed by moving the clock, never by sleeping.
 */
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { z } from 'zod';
import { ContentCache, cacheOptionsSchema } from '../../src/cache/plugin.ts';
import { createPolicy } from '../../src/cache/policies/index.ts';
import { CACHE_STORE, type CacheStoreService } from '../../src/cache/service.ts';
import { directLink } from '../../src/cache/shared/client.ts';
import { createSharedBuffer, defaultEntrySlots } from '../../src/cache/shared/layout.ts';
import { SharedStoreOwner } from '../../src/cache/shared/owner.ts';
import { settingsOf } from '../../src/cache/shared/server.ts';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type Engine } from '../../src/http/engine.ts';
import { formatHttpDate } from '../../src/http/semantics/http-date.ts';
import type { Request, Response } from '../../src/http/types.ts';
import type { ProxyCache } from '../../src/http-cache/proxy-cache.ts';
import { createProxy, proxyPluginOptionsSchema } from '../../src/proxy/plugin.ts';
import { createHost, type Host } from '../../src/server/host.ts';
import type { PluginContext } from '../../src/server/plugin.ts';
import { testContext } from '../../src/server/test-context.ts';
import { type Fetched, fetchText } from './fake-backend.ts';

/** A controllable clock (epoch ms). */
export class Clock {
  now = Date.parse('2026-01-01T00:00:00Z');
  readonly read = (): number => this.now;
  /** Move forward by `seconds`. */
  tick(seconds: number): void {
    this.now += seconds * 1000;
  }
}

/** What the origin saw. */
export interface OriginRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse, count: number) => void;

/** A scripted origin. `handler` may be replaced between requests. */
export class FakeOrigin {
  readonly seen: OriginRequest[] = [];
  handler: OriginHandler;
  private readonly server: Server;
  private readonly clock: Clock;
  port = 0;

  constructor(clock: Clock, handler: OriginHandler) {
    this.clock = clock;
    this.handler = handler;
    this.server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      // The origin's clock is the test's: Date is what the cache's age arithmetic starts from.
      res.setHeader('Date', formatHttpDate(this.clock.now));
      req.resume();
      req.on('end', () => this.handler(req, res, this.seen.length));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get hits(): number {
    return this.seen.length;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An origin answering every request with `fields` and `body`. */
export function answer(
  fields: Record<string, string | string[]>,
  body = 'hello',
  status = 200,
): OriginHandler {
  return (_req, res) => {
    res.writeHead(status, fields);
    res.end(body);
  };
}

/** A running cache + proxy worker on a fake clock. */
export interface CacheRig {
  readonly port: number;
  readonly cache: ContentCache;
  /** The proxy's RFC 9111 cache (attached to the content cache's store); null when the route does not cache. */
  readonly http: ProxyCache | null;
  readonly host: Host;
  close(): Promise<void>;
}

const quiet = { info() {}, warn() {}, error() {} };

/** `TAMARIN_RIG_SHARED=1`: every rig keeps its entries in a shared arena (its owner in this thread). */
const sharedRigs = process.env.TAMARIN_RIG_SHARED === '1';

/**
 * A worker's part of a shared store made in this thread, as the host's share hands it over, but with no
 * sweeper of its own: the rig's clock is not the wall clock, and the owner must not expire by it.
 */
function sharedPart(cache: Record<string, unknown>): unknown {
  const options = cacheOptionsSchema.parse(cache);
  const buffer = createSharedBuffer({
    maxBytes: options.max_size,
    maxEntries: options.max_entries ?? defaultEntrySlots(options.max_size),
    workers: 1,
  });
  const owner = new SharedStoreOwner(buffer, { createPolicy: (o) => createPolicy(options.policy, o) });
  owner.close();
  return { buffer, settings: settingsOf(options), link: directLink(owner) };
}

/**
 * Start the rig. `route` is merged into one `[[proxy.routes]]` entry matching every path; its `cache`
 * key is the per-route cache setting.
 */
export async function startRig(
  clock: Clock,
  backends: string[],
  route: Record<string, unknown> = { cache: true },
  cache: Record<string, unknown> = {},
  workerCount = 1,
  /** Called with every finished exchange (`onResponse`), as a logging plugin would be. */
  observe?: (req: Request, res: Response) => void,
): Promise<CacheRig> {
  const full: Record<string, unknown> = {
    match: '^/',
    backends,
    response_timeout: 2000,
    connect_timeout: 500,
    ...route,
  };
  // Rigs started with workerCount > 1 in one test act as worker threads of one server (shared channel).
  const plain = testContext({ workerCount, config: { server: { port: 0 } }, logger: quiet });
  const context: PluginContext = sharedRigs ? { ...plain, shared: sharedPart(cache) } : plain;
  const contentCache = new ContentCache(cacheOptionsSchema.parse(cache), context, clock.read);
  // The proxy gets the cache's store as the host hands it over; the rig keeps the cache it attaches.
  let http: ProxyCache | null = null;
  const store: CacheStoreService = {
    ...contentCache.service,
    attach(front) {
      http = front as ProxyCache;
      contentCache.service.attach(front);
    },
  };
  const proxyContext = testContext({ workerCount, config: context.config, logger: quiet });
  proxyContext.provide(CACHE_STORE, store);
  const proxy = createProxy(proxyPluginOptionsSchema.parse({ routes: [full] }), proxyContext);
  const fixed = (name: string, instance: unknown) => ({
    definition: { name, options: z.any(), create: () => instance as never },
    options: {},
  });
  const plugins = [fixed('cache', contentCache), fixed('proxy', proxy)];
  if (observe !== undefined) plugins.unshift(fixed('observer', { name: 'observer', onResponse: observe }));
  const host = await createHost(plugins, {
    workerId: 0,
    workerCount: 1,
    config: context.config,
  });
  const engine: Engine = createEngine(
    {
      limits: DEFAULT_LIMITS,
      timeouts: DEFAULT_TIMEOUTS,
      maxConnections: 1000,
      maxRequestsPerConnection: 10_000,
    },
    host.hooks,
  );
  const server: NetServer = createNetServer({ noDelay: true }, (socket) => engine.handleSocket(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cache: contentCache,
    http,
    host,
    async close() {
      server.close();
      await engine.drain(200);
      await host.close();
    },
  };
}

/** A response as a test sees it. */
export type Got = Fetched;

const agent = new Agent({ keepAlive: true, maxSockets: 200 });

/** One request over a keep-alive connection (the cache's fast path needs HTTP/1.1 keep-alive). */
export function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Got> {
  return fetchText(`http://127.0.0.1:${port}${path}`, { method, headers, body, agent });
}

/** Close the shared keep-alive agent's sockets (end of a test file). */
export function closeAgent(): void {
  agent.destroy();
}
