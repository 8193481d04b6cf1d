/**
 * `access`: who may reach what (nginx `allow` / `deny`, `auth_basic`, `limit_req`; Caddy `remote_ip`,
 * `basic_auth`, rate limiting), at stage 20, before the cache answers hits.
 *
 * Every rule whose host and path match applies its checks in this order, and the first that fails
 * answers: `deny` (403), `allow` (403 for anyone else), `rate_limit` (429 with `Retry-After`; before the
 * login so that guessing passwords is rate limited too), `basic_auth` (401 with `WWW-Authenticate`).
 * Addresses are `req.clientAddress` (the `real_ip` plugin's, else the peer's).
 *
 * Passwords are stored as scrypt hashes; checking one costs tens of milliseconds on the thread pool, so a
 * login that succeeded is remembered (its exact `Authorization` value, up to 1024 per worker) and a
 * repeat costs one Map lookup. Rate limits count in one SharedArrayBuffer for the whole server.
 */
import { scrypt, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from '../../http/types.ts';
import { definePlugin, type Plugin } from '../../server/plugin.ts';
import { AddressList } from '../shared/cidr.ts';
import { RequestMatcher } from '../shared/match.ts';
import { BYTES_PER_LIMIT, SharedBuckets } from './buckets.ts';
import { type AccessRule, accessOptions, SCRYPT_HASH } from './options.ts';

const FORBIDDEN = Buffer.from('403 Forbidden\n');
const UNAUTHORIZED = Buffer.from('401 Unauthorized\n');
const TOO_MANY = Buffer.from('429 Too Many Requests\n');
const REMEMBERED_LOGINS = 1024;

interface Login {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parseLogin(text: string): Login {
  const m = SCRYPT_HASH.exec(text)!;
  return {
    N: Number(m[1]),
    r: Number(m[2]),
    p: Number(m[3]),
    salt: Buffer.from(m[4]!, 'base64'),
    hash: Buffer.from(m[5]!, 'base64'),
  };
}

function scryptOf(password: string, login: Login): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      login.salt,
      login.hash.length,
      { N: login.N, r: login.r, p: login.p, maxmem: 256 * login.N * login.r + 1024 * 1024 },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    );
  });
}

interface CompiledRule {
  readonly matcher: RequestMatcher;
  readonly allow: AddressList | null;
  readonly deny: AddressList | null;
  readonly buckets: SharedBuckets | null;
  /** Rate limit key: null for the client address, else a lower-cased header name. */
  readonly keyHeader: string | null;
  readonly realm: string;
  readonly challenge: string;
  readonly users: ReadonlyMap<string, Login> | null;
  /** Verified `Authorization` values (exact strings). */
  readonly verified: Map<string, string>;
}

function send(res: Response, status: number, body: Buffer): boolean {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
  return true;
}

function limitsOf(rules: readonly AccessRule[]): number {
  return rules.filter((rule) => rule.rate_limit !== undefined).length;
}

/** The `access` plugin definition (`[access]`, `[[access.rules]]`). */
export const accessPlugin = definePlugin({
  name: 'access',
  options: accessOptions,
  sharedMemory: (options) => limitsOf(options.rules) * BYTES_PER_LIMIT,
  async create(options, context): Promise<Plugin> {
    if (options.rules.length === 0) return { name: 'access' };
    const limits = limitsOf(options.rules);
    // Without a primary (a host built by hand) the budget is this worker's own.
    const memory =
      context.sharedMemory ?? (limits > 0 ? new SharedArrayBuffer(limits * BYTES_PER_LIMIT) : null);
    let limitIndex = 0;
    const rules: CompiledRule[] = [];
    for (const [index, rule] of options.rules.entries()) {
      const limit = rule.rate_limit;
      let buckets: SharedBuckets | null = null;
      if (limit !== undefined) {
        const rate = limit.rate as unknown as number;
        buckets = new SharedBuckets(
          memory!,
          limitIndex++ * BYTES_PER_LIMIT,
          rate,
          limit.burst ?? Math.max(1, Math.ceil(rate)),
        );
      }
      let users: Map<string, Login> | null = null;
      if (rule.basic_auth !== undefined) {
        users = new Map();
        for (const [user, text] of Object.entries(rule.basic_auth.users)) {
          const login = parseLogin(text);
          try {
            await scryptOf('', login);
          } catch (error) {
            throw new Error(
              `access.rules[${index}].basic_auth.users.${user}: unusable scrypt parameters (${(error as Error).message})`,
            );
          }
          users.set(user, login);
        }
      }
      const realm = rule.basic_auth?.realm ?? 'Restricted';
      rules.push({
        matcher: new RequestMatcher(rule),
        allow: rule.allow === undefined ? null : new AddressList(rule.allow),
        deny: rule.deny === undefined ? null : new AddressList(rule.deny),
        buckets,
        keyHeader: limit === undefined || limit.key === 'ip' ? null : limit.key.slice(7).toLowerCase(),
        realm,
        challenge: `Basic realm="${realm}", charset="UTF-8"`,
        users,
        verified: new Map(),
      });
    }
    // Unknown users are checked against this, so that they take as long as known ones.
    const decoy = users0(rules);

    const unauthorized = (rule: CompiledRule, res: Response): boolean => {
      res.setHeader('WWW-Authenticate', rule.challenge);
      return send(res, 401, UNAUTHORIZED);
    };

    /** Check a login not seen before: scrypt on the thread pool, then the rules after this one. */
    const verify = async (
      at: number,
      rule: CompiledRule,
      authorization: string,
      req: Request,
      res: Response,
    ): Promise<boolean> => {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon === -1 ? '' : decoded.slice(0, colon);
      const password = colon === -1 ? '' : decoded.slice(colon + 1);
      const login = rule.users!.get(user);
      const key = await scryptOf(password, login ?? decoy!);
      const expected = (login ?? decoy!).hash;
      if (login === undefined || key.length !== expected.length || !timingSafeEqual(key, expected))
        return unauthorized(rule, res);
      if (rule.verified.size >= REMEMBERED_LOGINS) rule.verified.clear();
      rule.verified.set(authorization, user);
      return run(req, res, at + 1);
    };

    const run = (req: Request, res: Response, from: number): boolean | Promise<boolean> => {
      const address = req.clientAddress ?? req.connection.remoteAddress;
      for (let i = from; i < rules.length; i++) {
        const rule = rules[i]!;
        if (!rule.matcher.test(req)) continue;
        if (rule.deny?.has(address)) return send(res, 403, FORBIDDEN);
        if (rule.allow !== null && !rule.allow.has(address)) return send(res, 403, FORBIDDEN);
        if (rule.buckets !== null) {
          const key = rule.keyHeader === null ? address : (req.headers.get(rule.keyHeader) ?? '');
          const wait = rule.buckets.take(key, Date.now());
          if (wait > 0) {
            res.setHeader('Retry-After', String(Math.max(1, Math.ceil(wait / 1000))));
            return send(res, 429, TOO_MANY);
          }
        }
        if (rule.users !== null) {
          const authorization = req.headers.get('authorization');
          if (authorization === undefined || !/^basic /i.test(authorization)) return unauthorized(rule, res);
          if (!rule.verified.has(authorization)) return verify(i, rule, authorization, req, res);
        }
      }
      return false;
    };

    return { name: 'access', onRequest: (req, res) => run(req, res, 0) };
  },
});

function users0(rules: readonly CompiledRule[]): Login | null {
  for (const rule of rules) if (rule.users !== null) for (const login of rule.users.values()) return login;
  return null;
}
