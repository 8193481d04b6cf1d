/**
 * The hooks of a plain listener that sends everyone to https: `308 Permanent Redirect` to the same host
 * and target (308 rather than 301 keeps the method and body of a POST, RFC 9110 §15.4.9), except ACME
 * HTTP-01 challenges (`/.well-known/acme-challenge/`), which must be answered over plain HTTP: they go
 * on to the normal hooks (the ACME challenge responder, or static files for certbot's webroot mode).
 */
import type { EngineHooks } from '../http/engine.ts';
import type { Request, Response } from '../http/types.ts';

const ACME_PREFIX = '/.well-known/acme-challenge/';

/**
 * Hooks answering every request with a redirect to `https://host[:port]/target`. `httpsPort` is asked
 * once, at the first request (a port 0 is known only once listening); it is left out when 443. Requests without a Host get 400 (there is nowhere to send them).
 */
export function redirectHooks(hooks: EngineHooks, httpsPort: () => number): EngineHooks {
  const onRequest = hooks.onRequest;
  let suffix: string | null = null;
  return {
    ...hooks,
    onRequest(req: Request, res: Response): void {
      if (req.path.startsWith(ACME_PREFIX)) {
        onRequest(req, res);
        return;
      }
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      if (req.host === '') {
        res.statusCode = 400;
        res.end('400 Bad Request: no Host to redirect to https\n');
        return;
      }
      if (suffix === null) {
        const port = httpsPort();
        suffix = port === 443 ? '' : `:${port}`;
      }
      const host = req.host.includes(':') ? `[${req.host}]` : req.host;
      const target = req.target === '*' ? '/' : req.target;
      res.statusCode = 308;
      res.setHeader('Location', `https://${host}${suffix}${target}`);
      res.end(`308 Permanent Redirect: https://${host}${suffix}${target}\n`);
    },
  };
}
