/**
 * The `[proxy]` config table: routes, backends, balancers, timeouts, retries and health checks.
 * Validated once at start-up; everything the request path needs (compiled regexes, parsed backend
 * addresses) is produced here so that no request ever parses config.
 */
import fs from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import { hostOf } from '../http/host.ts';
import { duration } from '../server/units.ts';

import { BALANCER_NAMES, type BalancerName } from './balancers/index.ts';

export { BALANCER_NAMES, type BalancerName } from './balancers/index.ts';

/** A backend address after validation. */
export interface BackendAddress {
  /** The URL as written, normalised to `http://host:port`. */
  url: string;
  host: string;
  port: number;
  /** Relative share of the traffic for weighted balancers (1–1000). @default 1 */
  weight: number;
  /** TLS settings of an `https://` backend; null for `http://`. */
  tls?: BackendTls | null;
}

/** How an `https://` backend is reached. */
export interface BackendTls {
  /** Name sent by SNI and checked against the certificate. @default the URL's host name */
  readonly servername: string;
  /** Trusted CA certificates (PEM text of the `ca` file); null: Node's bundled CA store. */
  readonly ca: string | null;
  /** Verify the certificate (chain and name). Only `insecure_skip_verify = true` turns it off. */
  readonly verify: boolean;
}

// RFC 9110 §5.6.2 token: what a Via pseudonym must be so that it parses back out of a Via list.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseBackendUrl(text: string): Omit<BackendAddress, 'weight' | 'tls'> | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected a backend URL such as "http://127.0.0.1:3000", got "${text}"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `only http:// and https:// backends are supported, got "${text}"`;
  if (url.username || url.password) return `credentials in a backend URL are not supported: "${text}"`;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    return `a backend URL has no path or query (the request path is forwarded as is), got "${text}"`;
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const secure = url.protocol === 'https:';
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  return { url: `${secure ? 'https' : 'http'}://${url.host}`, host, port };
}

const backendSchema = z
  .union([
    z.string(),
    z.strictObject({
      /** Backend base URL, `http://host:port`. */
      url: z.string(),
      /** Relative share of the traffic for weighted balancers. @default 1 */
      weight: z.number().int().min(1).max(1000).default(1),
      /** https: PEM file of the CAs to trust instead of Node's bundled ones (an internal CA). */
      ca: z.string({ error: 'expected the path of a PEM CA file' }).min(1).optional(),
      /** https: name for SNI and the certificate check. @default the URL's host name */
      servername: z.string({ error: 'expected a host name' }).min(1).optional(),
      /** https: skip the certificate check (testing only: anyone on the path can read the traffic). */
      insecure_skip_verify: z.boolean({ error: 'expected true or false' }).default(false),
    }),
  ])
  .transform((value, ctx): BackendAddress => {
    const text = typeof value === 'string' ? value : value.url;
    const parsed = parseBackendUrl(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    const table = typeof value === 'string' ? null : value;
    const secure = parsed.url.startsWith('https:');
    if (!secure && (table?.ca !== undefined || table?.servername !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `ca and servername apply to https:// backends only, got "${text}"`,
      });
      return z.NEVER;
    }
    let ca: string | null = null;
    if (table?.ca !== undefined) {
      try {
        ca = fs.readFileSync(table.ca, 'latin1');
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['ca'],
          message: `cannot read "${table.ca}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        });
        return z.NEVER;
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
        ctx.addIssue({ code: 'custom', path: ['ca'], message: `"${table.ca}" holds no PEM certificate` });
        return z.NEVER;
      }
    }
    const tls: BackendTls | null = secure
      ? {
          servername: table?.servername ?? (net.isIP(parsed.host) === 0 ? parsed.host : ''),
          ca,
          verify: table?.insecure_skip_verify !== true,
        }
      : null;
    const weight = table === null ? 1 : table.weight;
    return tls === null ? { ...parsed, weight } : { ...parsed, weight, tls };
  });

/** One regex or a list of them, compiled once; a bad one is reported with the compiler's reason. */
const matchSchema = z.union([z.string(), z.array(z.string()).min(1)]).transform((value, ctx) => {
  const sources = typeof value === 'string' ? [value] : value;
  const compiled: RegExp[] = [];
  for (const source of sources) {
    try {
      compiled.push(new RegExp(source));
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid regular expression "${source}": ${(error as Error).message}`,
      });
      return z.NEVER;
    }
  }
  return compiled;
});

const healthSchema = z.strictObject({
  /** Path requested on each backend; a 2xx or 3xx answer counts as healthy. @default "/health" */
  path: z.string().startsWith('/').default('/health'),
  /** Time between two checks of one backend. @default 5000 (5s) */
  interval: duration().default(5000),
  /** A check not answered within this time failed. @default 2000 (2s) */
  timeout: duration().default(2000),
  /** Consecutive successes that bring a down backend back up. @default 2 */
  rise: z.number().int().min(1).default(2),
  /** Consecutive failures that take an up backend down. @default 3 */
  fall: z.number().int().min(1).default(3),
});

/** Active health check settings of a route. */
export type HealthOptions = z.output<typeof healthSchema>;

/**
 * The settings of a pool of backends: on a route that lists its own `backends`, or on a named
 * `[[proxy.upstreams]]` entry that routes share (`upstream = "name"`). Without defaults here: a route
 * that uses an upstream may not set them, so the schema must see what was written.
 */
const poolFields = {
  /** How a backend is chosen for each request. @default "round-robin" */
  balancer: z.enum(BALANCER_NAMES),
  /** Time allowed to open a connection to a backend. @default 2000 (2s) */
  connect_timeout: duration(),
  /** Time allowed for the response head once the request was sent (then 504), and between two reads
   * of the response body (then the client connection is closed). @default 30000 (30s) */
  response_timeout: duration(),
  /**
   * Idle time after which a pooled keep-alive upstream connection is closed. Keep it below the backend's
   * own keep-alive timeout (Node's default is 5 s): otherwise the backend may close a connection just as
   * we reuse it, and a non-idempotent request that loses that race cannot be retried (502).
   * @default 4000 (4s)
   */
  idle_timeout: duration(),
  /** Failures within `fail_window` that put a backend into cooldown (passive health). @default 3 */
  max_fails: z.number().int().min(1),
  /** Window in which failures are counted. @default 10000 (10s) */
  fail_window: duration(),
  /** Time a failing backend is skipped before it is tried again. @default 10000 (10s) */
  cooldown: duration(),
  /** Idle keep-alive connections kept per backend (per worker); 0 closes every upstream connection after
   * its response. Keep it above the number of concurrent requests a worker sends to one backend: a
   * connection released when the list is full is closed, and the next request pays a new connect.
   * @default 128 */
  keepalive: z.number().int().min(0).max(100_000),
  /** Active health checks; off when absent. */
  health: healthSchema.optional(),
};

type PoolKey = keyof typeof poolFields;
const POOL_KEYS = Object.keys(poolFields) as PoolKey[];

const POOL_DEFAULTS = {
  balancer: 'round-robin',
  connect_timeout: 2000,
  response_timeout: 30_000,
  idle_timeout: 4_000,
  max_fails: 3,
  fail_window: 10_000,
  cooldown: 10_000,
  keepalive: 128,
  health: undefined,
} as const satisfies Record<PoolKey, unknown>;

/** A pool's settings as validated, defaults filled in. */
export interface PoolOptions {
  backends: BackendAddress[];
  balancer: BalancerName;
  connect_timeout: number;
  response_timeout: number;
  idle_timeout: number;
  max_fails: number;
  fail_window: number;
  cooldown: number;
  keepalive: number;
  health: HealthOptions | undefined;
}

const upstreamSchema = z.strictObject({
  /** The name routes use (`upstream = "api"`): letters, digits, `.`, `_`, `-`. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected a name of letters, digits, ".", "_" or "-"'),
  /** The upstream's backends: URLs or `{ url, weight }` tables. */
  backends: z.array(backendSchema).min(1),
  ...optional(poolFields),
});

const routeSchema = z.strictObject({
  /** Regular expressions tested against the request path (still percent-encoded); any match selects
   * the route. Routes are tried in order and the first match wins. */
  match: matchSchema,
  /** Only requests for this host (case-insensitive, without port; a trailing dot is ignored) match the
   * route: compared with the request's normalised host. @default any host */
  host: z
    .string()
    .transform((h, ctx) => {
      const host = hostOf(h, false);
      if (host === undefined || host === '' || host.length !== h.replace(/\.$/, '').length) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a host name without port, such as "api.example.com", got "${h}"`,
        });
        return z.NEVER;
      }
      return host;
    })
    .optional(),
  /** Backends of the route: URLs or `{ url, weight }` tables (or `upstream` instead). */
  backends: z.array(backendSchema).min(1).optional(),
  /** A `[[proxy.upstreams]]` name: its backends, with one health state and one connection pool per
   * backend for every route that names it. Instead of `backends` and the pool settings. */
  upstream: z.string().optional(),
  ...optional(poolFields),
  /** `Host` sent upstream: "pass" (the client's host as the route and the cache saw it: lower-cased,
   * without port or trailing dot), "backend" (the backend's host:port) or a literal value. @default "pass" */
  host_header: z.string().min(1).default('pass'),
  /** Forward the normalised path (dot-segments resolved, `//` merged, unreserved escapes decoded), the one
   * the route was matched on (true), or the request-target bytes exactly as the client sent them (false),
   * for backends that tell `%41` from `A` or `//` from `/`. Routes always match the normalised path.
   * @default true */
  normalize_path: z.boolean().default(true),
  /** Backends tried for one request (the first try included) when connecting fails. @default 3 */
  attempts: z.number().int().min(1).max(100).default(3),
  /** Relay `Upgrade` requests (WebSocket and any other protocol): a backend's `101` turns the connection
   * into a raw two-way tunnel. false: the upgrade is ignored and the request forwarded as a plain one.
   * @default true */
  websocket: z.boolean().default(true),
  /** Let the `compress` plugin encode this route's answers (true) or never (false); a backend's own
   * Content-Encoding is always kept. @default `[compress] proxied` */
  compress: z.boolean().optional(),
  /** A tunnel with no byte in either direction for this long is closed (0: never). WebSockets often sit
   * idle between messages, hence far above `response_timeout`; apps that ping more often than this are
   * never cut. @default 3600000 (1h) */
  tunnel_idle_timeout: duration().default(3_600_000),
});

function optional<T extends Record<string, z.ZodType>>(shape: T): { [K in keyof T]: z.ZodOptional<T[K]> } {
  return Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof T]: z.ZodOptional<T[K]>;
  };
}

/** One validated `[[proxy.routes]]` entry, its pool settings taken from its upstream when it names one. */
export type RouteOptions = Omit<z.output<typeof routeSchema>, PoolKey | 'backends' | 'upstream'> &
  PoolOptions & {
    /** The `[[proxy.upstreams]]` name the route uses, or undefined (its own backends). */
    upstream: string | undefined;
  };

/** One validated `[[proxy.upstreams]]` entry. */
export type UpstreamOptions = PoolOptions & { name: string };

/** The `[proxy]` table before upstream names are resolved (plugins extend routes from it). */
export const proxyTableSchema = z.strictObject({
  /** Pseudonym this server adds to `Via` (RFC 9110 §7.6.3) and looks for to detect loops. @default "tamarin" */
  via: z.string().regex(TOKEN, "expected a token (letters, digits, !#$%&'*+.^_`|~-)").default('tamarin'),
  /** Forward request header fields whose name contains `_` (nginx's `underscores_in_headers`). Off, they
   * are dropped: CGI-style backends read `X_Forwarded_For` and `X-Forwarded-For` as one variable, so a
   * client could pose as a header the proxy sets. @default false */
  underscores_in_headers: z.boolean().default(false),
  /** Named backend pools that several routes share. @default [] */
  upstreams: z.array(upstreamSchema).default([]),
  /** Routes, tried in order. @default [] */
  routes: z.array(routeSchema).default([]),
});

type RawTable = z.output<typeof proxyTableSchema>;
type RawRoute = RawTable['routes'][number];

/** The `[proxy]` table with upstream names resolved; `R`'s extra fields (another plugin's) are kept. */
export interface ResolvedTable<R extends RawRoute> {
  via: string;
  underscores_in_headers: boolean;
  upstreams: UpstreamOptions[];
  routes: Array<Omit<R, PoolKey | 'backends' | 'upstream'> & RouteOptions>;
}

function withDefaults(pool: Partial<Record<PoolKey, unknown>>): Omit<PoolOptions, 'backends'> {
  const out: Record<string, unknown> = {};
  for (const key of POOL_KEYS) out[key] = pool[key] ?? POOL_DEFAULTS[key];
  return out as Omit<PoolOptions, 'backends'>;
}

/**
 * Resolve `upstream = "name"` on each route: an unknown name, a route that names one and also sets
 * `backends` or a pool setting, a route with neither, and two upstreams with one name are config errors
 * naming the key. Extra fields of the routes (another plugin's, such as `cache`) are kept.
 */
export function resolveUpstreams<R extends RawRoute>(
  table: Omit<RawTable, 'routes'> & { routes: R[] },
  ctx: z.RefinementCtx,
): ResolvedTable<R> {
  const upstreams = new Map<string, UpstreamOptions>();
  table.upstreams.forEach((upstream, i) => {
    const first = table.upstreams.findIndex((u) => u.name === upstream.name);
    if (first !== i) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstreams', i, 'name'],
        input: upstream.name,
        message: `an upstream name must be unique (proxy.upstreams[${first}] has it)`,
      });
    }
    upstreams.set(upstream.name, {
      ...withDefaults(upstream),
      backends: upstream.backends,
      name: upstream.name,
    });
  });
  const routes = table.routes.map((route, i) => {
    const { backends, upstream, ...rest } = route;
    if (upstream === undefined) {
      if (backends === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'backends'],
          input: undefined,
          message: 'a route needs backends = [...] or upstream = "name"',
        });
      }
      return { ...rest, ...withDefaults(route), backends: backends ?? [], upstream: undefined };
    }
    const named = upstreams.get(upstream);
    if (named === undefined) {
      const known = [...upstreams.keys()];
      ctx.addIssue({
        code: 'custom',
        path: ['routes', i, 'upstream'],
        input: upstream,
        message: `unknown upstream (defined: ${known.length === 0 ? 'none' : known.join(', ')})`,
      });
    }
    for (const key of ['backends', ...POOL_KEYS] as const) {
      if (route[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, key],
          input: route[key],
          message: `set it on upstream "${upstream}" (a route that names an upstream takes its backends and pool settings from it)`,
        });
      }
    }
    const { name: _name, ...pool } = named ?? { ...withDefaults({}), backends: [], name: '' };
    return { ...rest, ...pool, upstream };
  });
  return {
    via: table.via,
    underscores_in_headers: table.underscores_in_headers,
    upstreams: [...upstreams.values()],
    routes,
  } as ResolvedTable<R>;
}

/** Schema of the `[proxy]` table. */
export const proxyOptionsSchema = proxyTableSchema.transform(resolveUpstreams);

/** Validated `[proxy]` options. */
export type ProxyOptions = {
  via: string;
  underscores_in_headers: boolean;
  upstreams: UpstreamOptions[];
  routes: RouteOptions[];
};
