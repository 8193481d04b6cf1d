/**
 * The admin's routes: the dashboard's files, the JSON API, Server-Sent Events and `/metrics`. Every
 * answer carries the security headers; API answers are `no-store` JSON, errors are
 * `{ "error": code, "message": sentence }` with a 4xx/5xx status.
 */

import type { EntryInfo, EntrySort, PurgeResult } from '../cache/store.ts';
import type { Request, Response } from '../http/types.ts';
import type { BackendAction, BackendChange } from '../proxy/backend-admin.ts';
import type { RouteSnapshot } from '../proxy/plugin.ts';
import { type BanInfo, type BanSpec, banSpecError } from '../server/bans.ts';
import type { TamarinConfig } from '../server/config.ts';
import { type ConfigIssue, issueText } from '../server/config-errors.ts';
import { errorMessage } from '../server/logger.ts';
import type { ReloadResult } from '../server/reload.ts';
import type { CertificateSummary } from '../tls/certificates.ts';
import { reloadCertificates } from '../tls/reload.ts';
import {
  type Contributions,
  mergeBackends,
  mergeEntries,
  mergePurges,
  resultsOf,
  WorkerCallError,
} from './aggregate.ts';
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
  readonly control: Control;
  /** Reload the server's configuration (`POST /api/reload`); null when the server cannot. */
  readonly reload: (() => Promise<ReloadResult>) | null;
  readonly contributions: Contributions;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly streams: EventStreams;
  readonly metrics: AdminMetrics;
}

/** A client mistake, answered with its status and reason. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
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
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(req.query)) {
    if (!allowed.includes(name)) {
      const expected = allowed.length === 0 ? 'none' : allowed.join(', ');
      throw new ApiError(400, 'bad_parameter', `unknown parameter "${name}" (expected: ${expected})`);
    }
    if (params.has(name)) throw new ApiError(400, 'bad_parameter', `parameter "${name}" given twice`);
    params.set(name, value);
  }
  return params;
}

function intParam(params: Map<string, string>, name: string, fallback: number, min: number, max: number) {
  const text = params.get(name);
  if (text === undefined) return fallback;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new ApiError(
      400,
      'bad_parameter',
      `${name} must be an integer from ${min} to ${max}, got "${text}"`,
    );
  }
  return n;
}

const SORTS: readonly EntrySort[] = ['hits', 'size', 'age'];

async function entries(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const params = queryOf(req, ['sort', 'limit', 'offset']);
  const sort = (params.get('sort') ?? 'hits') as EntrySort;
  if (!SORTS.includes(sort)) {
    throw new ApiError(
      400,
      'bad_parameter',
      `sort must be one of hits, size, age; got "${params.get('sort')}"`,
    );
  }
  const limit = intParam(params, 'limit', 50, 1, 1000);
  const offset = intParam(params, 'offset', 0, 0, 9000);
  const results = await ctx.control('cache', 'entries', { sort, limit: offset + limit, offset: 0 });
  const merged = mergeEntries(
    resultsOf<{ total: number; entries: EntryInfo[] }>(results),
    sort,
    limit,
    offset,
  );
  json(res, 200, { sort, limit, offset, ...merged });
}

/**
 * `DELETE /api/cache[?path=/x | ?prefix=/img/][&host=h]` or `?tag=a,b`: purge in every worker, then
 * answer.
 */
async function purge(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const params = queryOf(req, ['path', 'prefix', 'host', 'tag', 'soft']);
  const softText = params.get('soft');
  if (softText !== undefined && softText !== '1' && softText !== 'true') {
    throw new ApiError(400, 'bad_parameter', `soft must be 1 or true, got "${softText}"`);
  }
  params.delete('soft');
  const soft = softText === undefined ? {} : { soft: true as const };
  const tag = params.get('tag');
  if (tag !== undefined) {
    if (params.size > 1)
      throw new ApiError(400, 'bad_parameter', 'tag cannot be combined with path, prefix or host');
    if (tag.trim() === '')
      throw new ApiError(400, 'bad_parameter', 'tag needs a value (tags separated by spaces or commas)');
    const results = await ctx.control('cache', 'purge', { tag, ...soft });
    json(res, 200, { filter: { tag, ...soft }, ...mergePurges(resultsOf<PurgeResult>(results)) });
    return;
  }
  const path = params.get('path');
  const prefix = params.get('prefix');
  const host = params.get('host');
  if (path !== undefined && prefix !== undefined) {
    throw new ApiError(400, 'bad_parameter', 'give either path or prefix, not both');
  }
  for (const [name, value] of [
    ['path', path],
    ['prefix', prefix],
  ] as const) {
    if (value !== undefined && !value.startsWith('/')) {
      throw new ApiError(400, 'bad_parameter', `${name} must start with "/", got "${value}"`);
    }
  }
  if (host !== undefined && (host === '' || (path === undefined && prefix === undefined))) {
    throw new ApiError(400, 'bad_parameter', 'host needs a non-empty value and a path or prefix');
  }
  const hostPart = host === undefined ? {} : { host: host.toLowerCase() };
  const filter =
    path !== undefined
      ? { path, ...hostPart }
      : prefix !== undefined
        ? { prefix, ...hostPart }
        : { all: true as const };
  const results = await ctx.control('cache', 'purge', { ...filter, ...soft });
  json(res, 200, { filter: { ...filter, ...soft }, ...mergePurges(resultsOf<PurgeResult>(results)) });
}

async function metrics(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const input = await fetchMetricsInput(ctx.control);
  send(res, 200, ctx.metrics.contentType, await ctx.metrics.render(input));
}

/**
 * `POST /api/reload`: re-read the configuration and serve it without dropping a request. 200 with what
 * changed; 422 `invalid_config` with the config errors (each naming its key) when it cannot be applied,
 * and 500 `reload_failed` when a worker could not start it: either way the server keeps its configuration.
 */
async function reload(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  if (ctx.reload === null) throw new ApiError(404, 'not_available', 'this server cannot reload');
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
  // `cache` and `proxy`: whether the dashboard shows (and polls) the entries and backends tables.
  json(res, 200, {
    tokenRequired: tokenForReads,
    token: tokenForReads ? null : token,
    workers: ctx.workers,
    cache: ctx.config.plugins.includes('cache'),
    proxy: ctx.config.plugins.includes('proxy'),
  });
}

async function stats(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  json(res, 200, statsView(await fetchWorkerStats(ctx.control), ctx.workers, ctx.contributions));
}

function config(ctx: ApiContext, req: Request, res: Response): void {
  queryOf(req, []);
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

async function backends(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const results = await ctx.control('proxy', 'backends');
  json(res, 200, { routes: mergeBackends(resultsOf<RouteSnapshot[]>(results)) });
}

/** Every TLS certificate (the first worker's view: all workers load the same files) with days left. */
async function certificates(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const [first] = resultsOf<CertificateSummary[]>(await ctx.control('tls', 'certificates'));
  const now = Date.now();
  const list = (first?.result ?? []).map((c) => ({
    ...c,
    daysLeft: Math.floor((Date.parse(c.notAfter) - now) / 86_400_000),
  }));
  json(res, 200, { certificates: list });
}

/** Load the certificate files again in every worker (what SIGHUP does). */
async function reloadTls(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  json(res, 200, await reloadCertificates(ctx));
}

/**
 * `POST /api/proxy/backends/{drain,disable,enable}?url=http://h:p[&route=n]`: change the backend with that
 * URL (in every route that has it, or in route `n` only) in every worker; 404 naming the configured
 * backends when none has that URL.
 */
function backendAction(action: BackendAction): Handler {
  return async (ctx, req, res) => {
    const params = queryOf(req, ['url', 'route']);
    const url = params.get('url');
    if (url === undefined || url === '') {
      throw new ApiError(400, 'bad_parameter', 'url is required (a backend URL, e.g. http://10.0.0.5:8080)');
    }
    const route = params.has('route') ? intParam(params, 'route', 0, 0, 100_000) : undefined;
    const command = route === undefined ? { action, url } : { action, url, route };
    const results = resultsOf<BackendChange[]>(await ctx.control('proxy', 'backend-state', command));
    const changed = results[0]?.result ?? [];
    if (changed.length === 0) {
      const listed = resultsOf<RouteSnapshot[]>(await ctx.control('proxy', 'backends'))[0]?.result ?? [];
      const urls = [...new Set(listed.flatMap((r) => r.backends.map((b) => b.url)))];
      const where = route === undefined ? '' : ` in route ${route}`;
      throw new ApiError(
        404,
        'no_such_backend',
        `no backend ${url}${where} (configured: ${urls.join(', ') || 'none'})`,
      );
    }
    const inFlight = results.reduce(
      (n, { result }) => n + result.reduce((m, change) => m + change.inFlight, 0),
      0,
    );
    json(res, 200, {
      action,
      backends: changed.map(({ route: r, url: u, from, to }) => ({ route: r, url: u, from, to })),
      inFlight,
    });
  };
}

/**
 * `POST /api/cache/bans?url=re[&host=re][&field=name&value=re]`: ban, in every worker, the stored proxied
 * responses (stored before now) whose URL, host and field match the regular expressions, and answer once
 * every worker swept its entries, with what the ban removed in the whole server (`banned`); 400 naming
 * what is wrong with the expression. `GET /api/cache/bans`: the bans pending (still being swept) in each
 * worker.
 */
async function addBan(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const params = queryOf(req, ['url', 'host', 'field', 'value']);
  const spec: BanSpec = Object.fromEntries(params);
  const error = banSpecError(spec);
  if (error !== null) throw new ApiError(400, 'bad_parameter', error);
  const results = resultsOf<BanInfo>(await ctx.control('cache', 'ban', { ...spec, wait: true }));
  json(res, 200, {
    ban: spec,
    banned: results.reduce((n, { result }) => n + result.removed, 0),
    workers: results.map(({ worker, result }) => ({ worker, id: result.id, removed: result.removed })),
  });
}

async function listBans(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  queryOf(req, []);
  const results = resultsOf<BanInfo[]>(await ctx.control('cache', 'bans'));
  json(res, 200, { workers: results.map(({ worker, result }) => ({ worker, bans: result })) });
}

/** API routes: path → method → handler. Every method but GET (and HEAD) changes state. */
const ROUTES: ReadonlyMap<string, Readonly<Record<string, Handler>>> = new Map<
  string,
  Record<string, Handler>
>([
  [SESSION_PATH, { GET: session }],
  ['/api/stats', { GET: stats }],
  ['/api/cache/entries', { GET: entries }],
  ['/api/cache', { DELETE: purge }],
  ['/api/cache/bans', { GET: listBans, POST: addBan }],
  ['/api/config', { GET: config }],
  ['/api/reload', { POST: reload }],
  ['/api/events', { GET: events }],
  ['/api/proxy/backends', { GET: backends }],
  ['/api/tls/certificates', { GET: certificates }],
  ['/api/tls/reload', { POST: reloadTls }],

  ['/api/proxy/backends/drain', { POST: backendAction('drain') }],
  ['/api/proxy/backends/disable', { POST: backendAction('disable') }],
  ['/api/proxy/backends/enable', { POST: backendAction('enable') }],
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
  if (error instanceof ApiError) fail(res, error.status, error.code, error.message);
  else if (error instanceof WorkerCallError) {
    if (error.unavailable) fail(res, 404, 'not_available', error.failures[0]!.error);
    else fail(res, 502, 'worker_error', error.message);
  } else fail(res, 500, 'internal_error', (error as Error).message ?? String(error));
}

/** Build the request handler of the admin listener. */
export function createApi(ctx: ApiContext): (req: Request, res: Response) => void {
  return (req, res) => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const asset = ctx.assets.get(req.path);
    const methods = asset === undefined ? ROUTES.get(req.path) : undefined;
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
