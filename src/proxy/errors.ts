/** Proxy error codes, each with the status the client gets and the short reason in the body (one place). */

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

/** A custom page for a status (the static plugin's `error_pages`), or null for the built-in text. */
export interface ErrorPage {
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * Where the proxy finds error pages for its own answers (502, 504, 508, 501): another plugin (the static
 * plugin exposes `errorPage(status, host)`), found through `context.getPlugin`.
 */
export interface ErrorPageSource {
  errorPage(status: number, host: string): ErrorPage | null;
}

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
