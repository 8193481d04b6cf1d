/**
 * Example third-party plugin: HTTP Basic authentication (RFC 7617) for some path prefixes.
 *
 * Written only against Tamarin's public API, imported by the package's name as in your own project: copy
 * this file next to your config and list it there: plugins = ["access_log", "./plugin.ts", "static"]
 * (examples/README.md: "type": "module", Node >= 22.18 for a .ts plugin).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { definePlugin, type Plugin, type Request, type Response, z } from 'tamarin-server';

/** `[basic_auth]` options. */
const options = z.strictObject({
  /** Realm shown by the browser's login prompt. @default "Restricted" */
  realm: z
    .string()
    .regex(/^[^"\\]*$/, { error: 'expected a realm without quotes or backslashes' })
    .default('Restricted'),
  /** Path prefixes that need a login (whole segments: "/admin" covers "/admin/x", not "/administrator"). */
  paths: z.array(z.string().startsWith('/', { error: 'expected a path starting with "/"' })).default(['/']),
  /**
   * Users and the SHA-256 of their password, so that the config file holds no password:
   * `alice = "sha256:<hex>"` where hex is the output of `printf %s 'password' | sha256sum`.
   */
  users: z.record(
    z.string().regex(/^[^:]+$/, { error: 'expected a user name without ":"' }),
    z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'expected "sha256:" followed by 64 hex digits' }),
  ),
});

/** The request path as the file system will see it: percent-decoded once, `.`/`..` resolved. */
function normalisedPath(req: Request): string | null {
  try {
    return path.posix.normalize(decodeURIComponent(req.path));
  } catch {
    return null; // malformed percent-encoding: treat as protected
  }
}

function covers(prefix: string, target: string): boolean {
  if (prefix === '/') return true;
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return target === base || target.startsWith(base + '/');
}

export default definePlugin({
  name: 'basic_auth',
  options,
  create(config, context): Plugin {
    // Everything the request path needs is prepared once, here.
    const digests = new Map<string, Buffer>();
    for (const [user, hash] of Object.entries(config.users))
      digests.set(user, Buffer.from(hash.slice(7), 'hex'));
    const challenge = `Basic realm="${config.realm}", charset="UTF-8"`;
    const body = Buffer.from('401 Unauthorized: this area needs a user name and password\n');
    let failures = 0;

    const authorised = (header: string | undefined): boolean => {
      if (header === undefined || !/^basic /i.test(header)) return false;
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return false;
      const expected = digests.get(decoded.slice(0, colon));
      const actual = createHash('sha256')
        .update(decoded.slice(colon + 1))
        .digest();
      // Compare even for unknown users, so timing does not tell which user names exist.
      return timingSafeEqual(actual, expected ?? Buffer.alloc(32)) && expected !== undefined;
    };

    const deny = (res: Response): true => {
      failures++;
      res.statusCode = 401;
      res.setHeader('www-authenticate', challenge);
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(body);
      return true;
    };

    return {
      name: 'basic_auth',
      onRequest(req, res) {
        const target = normalisedPath(req);
        if (target !== null && !config.paths.some((prefix) => covers(prefix, target))) return false;
        return authorised(req.headers.get('authorization')) ? false : deny(res);
      },
      control(command) {
        if (command === 'stats') return { failures };
        throw new Error(`unknown command "${command}"`);
      },
      close() {
        if (failures > 0) context.logger.info(`${failures} requests refused`);
      },
    };
  },
});
