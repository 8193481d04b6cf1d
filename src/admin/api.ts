/**
 * The admin's routes: the dashboard's files, the JSON API, Server-Sent Events and `/metrics`. Every
 * answer carries the security headers; API answers are `no-store` JSON, errors are
 * `{ "error": code, "message": sentence }` with a 4xx/5xx status.
 */

import path from 'node:path';
import type { Request, Response } from '../http/types.ts';
import {
  type AdminEndpoint,
  AdminRequestError,
  queryParams,
  type WorkerCall,
} from '../server/admin-contract.ts';
import type { TamarinConfig } from '../server/config.ts';
import { type ConfigIssue, issueText } from '../server/config-errors.ts';
import { errorMessage } from '../server/logger.ts';
import type { ReloadResult } from '../server/reload.ts';
import { acmeFiles, type CertificateSummary } from '../tls/certificates.ts';
import type { TlsConfig } from '../tls/options.ts';
import { reloadCertificates } from '../tls/reload.ts';
import { type Contributions, fetchContributedStats, resultsOf, WorkerCallError } from './aggregate.ts';
import type { Asset } from './assets.ts';
import { type AuthPolicy, checkRequest } from './auth.ts';
import { type Control, fetchWorkerStats, statsView } from './live.ts';
import { type AdminMetrics, fetchMetricsInput } from './metrics.ts';
import { redactConfig } from './redact.ts';
import type { EventStreams } from './sse.ts';

/** What the routes need from the service. */
export interface ApiContext {
  readonly policy: AuthPolicy;
  readonly workers: number;
  /** The configuration serving now (replaced after each reload). */
  config: TamarinConfig;
  /** When `config` was loaded (start-up or the last reload), epoch ms. */
  configLoadedAt: number;
  readonly control: Control;
  /** Reload the server's configuration (`POST /api/reload`); null when the server cannot. */
  readonly reload: (() => Promise<ReloadResult>) | null;
  readonly contributions: Contributions;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly streams: EventStreams;
  readonly metrics: AdminMetrics;
}

/**
 * CSP without any inline script or style element (the page has none); uPlot only sets element styles
 * through the CSSOM, which `style-src 'self'` allows.
 */
const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  [
    'content-security-policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  ],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
];

function send(res: Response, status: number, type: string, body: string | Buffer, noStore = true): void {
  res.statusCode = status;
  for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
  res.setHeader('content-type', type);
  res.setHeader('cache-control', noStore ? 'no-store' : 'no-cache');
  res.end(body);
}

function json(res: Response, status: number, data: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(data, null, 2) + '\n');
}

function fail(res: Response, status: number, error: string, message: string): void {
  json(res, status, { error, message });
}

/** Query parameters as a map; unknown or repeated names are 400s. */
function queryOf(req: Request, allowed: readonly string[]): Map<string, string> {
  return queryParams(req.query, allowed);
}

async function metrics(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const input = await fetchMetricsInput(ctx.control, ctx.contributions);
  send(res, 200, ctx.metrics.contentType, await ctx.metrics.render(input));
}

/**
 * `POST /api/reload`: re-read the configuration and serve it without dropping a request. 200 with what
 * changed; 422 `invalid_config` with the config errors (each naming its key) when it cannot be applied,
 * and 500 `reload_failed` when a worker could not start it: either way the server keeps its configuration.
 */
async function reload(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  if (ctx.reload === null) throw new AdminRequestError(404, 'not_available', 'this server cannot reload');
  try {
    const result = await ctx.reload();
    json(res, 200, { reloaded: true, generation: result.generation, changed: result.changed });
  } catch (error) {
    const issues = (error as { issues?: readonly ConfigIssue[] }).issues;
    if ((error as Error).name === 'ConfigError' && issues !== undefined) {
      const errors = issues.map(issueText);
      json(res, 422, { error: 'invalid_config', message: errors.join('\n'), errors });
    } else fail(res, 500, 'reload_failed', errorMessage(error));
  }
}

const SESSION_PATH = '/api/session';

type Handler = (ctx: ApiContext, req: Request, res: Response) => void | Promise<void>;

/** On loopback without a configured token, the page learns the token for its mutating calls here. */
function session(ctx: ApiContext, req: Request, res: Response): void {
  queryOf(req, []);
  const { token, tokenForReads } = ctx.policy;
  // `cache`, `proxy` and `tls`: whether the dashboard shows (and polls) the entries, backends and TLS cards.
  json(res, 200, {
    tokenRequired: tokenForReads,
    token: tokenForReads ? null : token,
    workers: ctx.workers,
    cache: ctx.config.plugins.includes('cache'),
    proxy: ctx.config.plugins.includes('proxy'),
    tls: ctx.config.tls !== undefined,
  });
}

/**
 * `GET /api/panels`: the dashboard panels of the running plugins, each a title and the figures it shows
 * from the plugin's part of `/api/stats` (`stats` names that part).
 */
function panels(ctx: ApiContext, req: Request, res: Response): void {
  queryOf(req, []);
  // The contributions are the running plugins'; one turned off by its table (`enabled = false`) shows none.
  const tables = ctx.config as unknown as Record<string, { enabled?: unknown } | undefined>;
  const running = [...ctx.contributions].filter(
    ([name, c]) => c.panel !== undefined && tables[name]?.enabled !== false,
  );
  json(res, 200, { panels: running.map(([name, c]) => ({ plugin: name, stats: name, ...c.panel })) });
}

/**
 * `GET /api/stats`: the server and the cache (as the live feed shows them), plus every other plugin that
 * contributes merged stats, under its name (the proxy's per-route counters as `proxy`).
 */
async function stats(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const [workerStats, contributed] = await Promise.all([
    fetchWorkerStats(ctx.control),
    fetchContributedStats(ctx.control, ctx.contributions, ['cache']),
  ]);
  const view = statsView(workerStats, ctx.workers, ctx.contributions);
  let bytesIn = 0;
  let bytesOut = 0;
  for (const { result } of workerStats.server) {
    bytesIn += result.bytesIn;
    bytesOut += result.bytesOut;
  }
  json(res, 200, { ...view, server: { ...view.server, bytesIn, bytesOut }, ...contributed });
}

function config(ctx: ApiContext, req: Request, res: Response): void {
  queryOf(req, []);
  // When this configuration was loaded (start-up or the last reload): the dashboard shows it.
  res.setHeader('last-modified', new Date(ctx.configLoadedAt).toUTCString());
  json(res, 200, redactConfig(ctx.config));
}

function events(ctx: ApiContext, req: Request, res: Response): void {
  queryOf(req, []);
  // HEAD: the head of a stream, then done (a never-ending empty answer would help nobody).
  if (req.method === 'HEAD') {
    send(res, 200, 'text/event-stream; charset=utf-8', '');
    return;
  }
  const refused = ctx.streams.refusal(req);
  if (refused !== null) {
    res.setHeader('retry-after', '10');
    fail(res, refused.status, refused.code, refused.message);
    return;
  }
  ctx.streams.open(req, res, SECURITY_HEADERS);
}

/**
 * Where a certificate comes from: `acme` when it is the file the ACME manager keeps for `[tls.acme]`
 * names (in its storage directory, resolved against a base directory the admin does not know: matched
 * by its end), else `file` (configured paths).
 */
export function certificateSource(config: TamarinConfig, certFile: string): 'acme' | 'file' {
  const acme = (config as { tls?: TlsConfig }).tls?.acme;
  if (acme === undefined || acme.names.length === 0) return 'file';
  const expected = path.normalize(acmeFiles(acme.storage, acme.names).cert);
  const file = path.normalize(certFile);
  return file === expected || file.endsWith(path.sep + expected) ? 'acme' : 'file';
}

/**
 * Every TLS certificate (the first worker's view: all workers load the same files) with days left and
 * its source.
 */
async function certificates(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const [first] = resultsOf<CertificateSummary[]>(await ctx.control('tls', 'certificates'));
  const now = Date.now();
  const list = (first?.result ?? []).map((c) => ({
    ...c,
    daysLeft: Math.floor((Date.parse(c.notAfter) - now) / 86_400_000),
    source: certificateSource(ctx.config, c.certFile),
  }));
  json(res, 200, { certificates: list });
}

/** Load the certificate files again in every worker (what SIGHUP does). */
async function reloadTls(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  json(res, 200, await reloadCertificates(ctx));
}

/** API routes: path → method → handler. Every method but GET (and HEAD) changes state. */
const ROUTES: ReadonlyMap<string, Readonly<Record<string, Handler>>> = new Map<
  string,
  Record<string, Handler>
>([
  [SESSION_PATH, { GET: session }],
  ['/api/stats', { GET: stats }],
  ['/api/panels', { GET: panels }],
  ['/api/config', { GET: config }],
  ['/api/reload', { POST: reload }],
  ['/api/events', { GET: events }],
  ['/api/tls/certificates', { GET: certificates }],
  ['/api/tls/reload', { POST: reloadTls }],
  ['/metrics', { GET: metrics }],
]);

function serveAsset(asset: Asset, req: Request, res: Response): void {
  // RFC 9110 §13.1.2: If-None-Match with the current strong validator → 304.
  const inm = req.headers.get('if-none-match');
  res.setHeader('etag', asset.etag);
  if (inm?.split(',').some((tag) => tag.trim() === asset.etag)) {
    send(res, 304, asset.type, '', false);
    return;
  }
  send(res, 200, asset.type, asset.body, false);
}

function errorAnswer(res: Response, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof AdminRequestError) fail(res, error.status, error.code, error.message);
  else if (error instanceof WorkerCallError) {
    if (error.unavailable) fail(res, 404, 'not_available', error.failures[0]!.error);
    else fail(res, 502, 'worker_error', error.message);
  } else fail(res, 500, 'internal_error', (error as Error).message ?? String(error));
}

/** A plugin's endpoint as an admin route: its workers reached through `control`, its answer as JSON. */
function contributed(plugin: string, endpoint: AdminEndpoint): Handler {
  return async (ctx, req, res) => {
    const workers: WorkerCall = async <T>(command: string, args?: unknown) =>
      resultsOf<T>(await ctx.control(plugin, command, args));
    const answer = await endpoint.handle({ method: req.method, query: req.query }, workers);
    json(res, answer.status ?? 200, answer.body);
  };
}

/** The admin's own routes plus every endpoint the plugins contribute (a path taken twice is a bug). */
function routesOf(contributions: Contributions): Map<string, Record<string, Handler>> {
  const routes = new Map<string, Record<string, Handler>>();
  for (const [path, methods] of ROUTES) routes.set(path, { ...methods });
  for (const [plugin, contribution] of contributions) {
    for (const endpoint of contribution.endpoints ?? []) {
      const methods = routes.get(endpoint.path) ?? {};
      if (Object.hasOwn(methods, endpoint.method)) {
        throw new Error(`admin: ${endpoint.method} ${endpoint.path} of plugin "${plugin}" is taken already`);
      }
      methods[endpoint.method] = contributed(plugin, endpoint);
      routes.set(endpoint.path, methods);
    }
  }
  return routes;
}

/** Build the request handler of the admin listener. */
export function createApi(ctx: ApiContext): (req: Request, res: Response) => void {
  const routes = routesOf(ctx.contributions);
  return (req, res) => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const asset = ctx.assets.get(req.path);
    const methods = asset === undefined ? routes.get(req.path) : undefined;
    const mutating = method !== 'GET';
    // The session call says whether a token is needed, so it cannot need one itself; it is held to the
    // same-origin rule of mutating calls, since on loopback it hands out the token.
    const session = req.path === SESSION_PATH;
    const denied = checkRequest(req, ctx.policy, methods !== undefined && !session, mutating || session);
    if (denied !== undefined) {
      if (denied.status === 401) res.setHeader('www-authenticate', 'Bearer realm="tamarin-admin"');
      fail(res, denied.status, denied.error, denied.message);
      return;
    }
    if (asset !== undefined) {
      if (method !== 'GET') {
        res.setHeader('allow', 'GET, HEAD');
        fail(res, 405, 'method_not_allowed', `${req.method} is not allowed here (allowed: GET, HEAD)`);
        return;
      }
      serveAsset(asset, req, res);
      return;
    }
    if (methods === undefined) {
      fail(res, 404, 'not_found', `no such admin resource: ${req.path}`);
      return;
    }
    const handler = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (handler === undefined) {
      const allowed = Object.keys(methods)
        .flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
        .join(', ');
      res.setHeader('allow', allowed);
      fail(res, 405, 'method_not_allowed', `${req.method} is not allowed here (allowed: ${allowed})`);
      return;
    }
    try {
      const done = handler(ctx, req, res);
      if (done instanceof Promise) done.catch((error: unknown) => errorAnswer(res, error));
    } catch (error) {
      errorAnswer(res, error);
    }
  };
}
