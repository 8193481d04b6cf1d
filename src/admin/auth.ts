/**
 * Who may use the admin API. Three independent checks, each answering with a JSON error:
 *
 * 1. Host header (DNS rebinding): a page on `evil.example` whose name is re-pointed at 127.0.0.1 reaches
 *    the admin with `Host: evil.example`. Only IP literals, `localhost` and configured names are accepted
 *    (an attacker cannot make a browser send an IP literal for a name it controls). → 403
 * 2. Token: `Authorization: Bearer <token>` (RFC 6750 §2.1), compared in constant time. Required for
 *    mutating calls always, and for every API call when a token was configured or the listener is not on
 *    loopback. → 401 with `WWW-Authenticate: Bearer`
 * 3. Same origin (CSRF) for mutating calls: browsers send `Origin` on every non-GET request (Fetch
 *    standard), and `Sec-Fetch-Site` on all of them; a request from another origin is refused even with a
 *    token. Clients that send neither (curl, Prometheus) are not browsers and are let through. → 403
 *
 * The token is never carried by a cookie, so no credential is ever attached by the browser on its own:
 * CSRF is excluded by construction; check 3 is a second line.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { Request } from '../http/types.ts';

/** What the checks need to know about this listener. */
export interface AuthPolicy {
  /** The token every protected call must carry. */
  readonly token: string;
  /** Read-only calls need the token too (a token was configured, or the listener is not on loopback). */
  readonly tokenForReads: boolean;
  /** Extra accepted Host names (lower case; `*.domain` and `*` allowed). */
  readonly allowedHosts: readonly string[];
}

/** A refusal: HTTP status plus a short machine-readable code and a sentence for humans. */
export interface AuthFailure {
  readonly status: 401 | 403;
  readonly error: string;
  readonly message: string;
}

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`: addresses other machines cannot reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** A random URL-safe token (192 bits). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Host header value without its port (RFC 9110 §7.2: `uri-host [ ":" port ]`), lower case. */
function hostName(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end === -1 ? v : v.slice(1, end);
  }
  const colon = v.indexOf(':');
  return colon === -1 ? v : v.slice(0, colon);
}

/** Whether `hostHeader` names this admin by IP, `localhost`, or an allowed name. */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  const name = hostName(hostHeader);
  if (net.isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  for (const pattern of allowed) {
    if (pattern === '*' || pattern === name) return true;
    if (pattern.startsWith('*.') && name.endsWith(pattern.slice(1))) return true;
  }
  return false;
}

/** Constant-time token comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: Request): string | undefined {
  const value = req.headers.get('authorization');
  if (value === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(value);
  return match?.[1];
}

/**
 * Same-origin check for a mutating call: `Origin`, when present, must be this very host (any scheme:
 * the admin may sit behind a TLS proxy); otherwise `Sec-Fetch-Site` must not say cross-site.
 */
export function sameOrigin(req: Request): boolean {
  const origin = req.headers.get('origin');
  const host = req.headers.get('host');
  if (origin !== undefined) {
    if (origin === 'null' || host === undefined) return false;
    try {
      return new URL(origin).host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }
  const site = req.headers.get('sec-fetch-site');
  return site === undefined || site === 'same-origin' || site === 'none';
}

const REFUSED_HOST: AuthFailure = {
  status: 403,
  error: 'forbidden_host',
  message:
    'Host header not accepted (use an IP address or localhost, or add the name to admin.allowed_hosts)',
};
const CROSS_ORIGIN: AuthFailure = {
  status: 403,
  error: 'cross_origin',
  message: 'cross-origin request refused',
};
const NO_TOKEN: AuthFailure = {
  status: 401,
  error: 'unauthorized',
  message: 'this call needs the admin token: Authorization: Bearer <token>',
};
const BAD_TOKEN: AuthFailure = { status: 401, error: 'unauthorized', message: 'wrong admin token' };

/**
 * Check a request. `protectedCall`: it needs the token (API calls, not the dashboard's static files);
 * `sameOriginOnly`: a browser may only make it from this origin (mutating calls). Undefined when allowed.
 */
export function checkRequest(
  req: Request,
  policy: AuthPolicy,
  protectedCall: boolean,
  sameOriginOnly: boolean,
): AuthFailure | undefined {
  if (!hostAllowed(req.headers.get('host'), policy.allowedHosts)) return REFUSED_HOST;
  if (sameOriginOnly && !sameOrigin(req)) return CROSS_ORIGIN;
  if (!protectedCall) return undefined;
  if (sameOriginOnly || policy.tokenForReads) {
    const given = bearerToken(req);
    if (given === undefined) return NO_TOKEN;
    if (!tokenMatches(given, policy.token)) return BAD_TOKEN;
  }
  return undefined;
}
