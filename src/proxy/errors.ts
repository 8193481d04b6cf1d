/** Proxy error codes, each with the status the client gets and the short reason in the body (one place). */
import type { Response } from '../http/types.ts';
import type { ErrorPages } from '../server/services.ts';

export const PROXY_ERRORS = {
  ERR_PROXY_NO_BACKEND: { status: 502, message: 'no backend available for this route' },
  ERR_PROXY_CONNECT: { status: 502, message: 'could not connect to a backend' },
  ERR_PROXY_CONNECT_TIMEOUT: { status: 504, message: 'timed out connecting to a backend' },
  ERR_PROXY_RESET: { status: 502, message: 'the backend closed the connection before answering' },
  ERR_PROXY_TIMEOUT: { status: 504, message: 'the backend did not answer in time' },
  ERR_PROXY_BAD_RESPONSE: { status: 502, message: 'the backend sent an invalid response' },
  ERR_PROXY_INTERNAL: { status: 502, message: 'the proxy failed while forwarding' },
  ERR_PROXY_METHOD: { status: 501, message: 'CONNECT is not supported by this proxy' },
  ERR_PROXY_LOOP: { status: 508, message: 'request loop detected: this request already passed this proxy' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

/**
 * Where the proxy finds error pages for its own answers (502, 504, 508, 501): the `ERROR_PAGES` service
 * (the static plugin's `[static.error_pages]`), when a running plugin provides it.
 */
export type { ErrorPage, ErrorPages as ErrorPageSource } from '../server/services.ts';

/** A failed upstream exchange. `detail` says what happened, for logs and the backend's `lastError`. */
export class UpstreamError extends Error {
  readonly code: ProxyErrorCode;
  readonly status: number;

  constructor(code: ProxyErrorCode, detail: string) {
    super(detail);
    this.code = code;
    this.status = PROXY_ERRORS[code].status;
  }
}

/**
 * Answer with a short plain-text error (when nothing of the response was sent yet), or with the custom
 * page configured for its status (`[static.error_pages]`, looked up for the request's host).
 */
export function sendError(
  res: Response,
  code: ProxyErrorCode,
  detail?: string,
  route?: { readonly errorPages: ErrorPages | null },
  host = '',
): void {
  const { status, message } = PROXY_ERRORS[code];
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name] of [...res.headerEntries()]) res.removeHeader(name);
  res.statusCode = status;
  res.statusMessage = '';
  res.setHeader('Cache-Control', 'no-store');
  const page = route?.errorPages?.errorPage(status, host) ?? null;
  if (page !== null) {
    res.setHeader('Content-Type', page.contentType);
    res.end(page.body);
    return;
  }
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`${status} ${message}${detail ? ` (${detail})` : ''}\n`);
}
