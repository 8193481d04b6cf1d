/**
 * The seam between Tamarin's HTTP/1.1 engine and everything built on it (plugins, the proxy, tests).
 *
 * The engine (`src/http/`) owns parsing, connections and writing; plugins see only these interfaces.
 * Keep this file free of implementation so that a plugin author can read it in one sitting.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Header fields of one message, in arrival order. Names are stored lower-cased (RFC 9110 §5.1: field names
 * are case-insensitive); the original spelling is kept in `rawNames` for proxies that want to pass it on.
 * A linear scan over a handful of fields beats a hash map for the sizes real requests have.
 */
export interface HeaderList {
  /** Number of fields. */
  readonly length: number;
  /** Lower-cased name of field `i`. */
  name(i: number): string;
  /** Name of field `i` as it arrived on the wire. */
  rawName(i: number): string;
  /** Value of field `i`, leading and trailing whitespace removed (RFC 9110 §5.5). */
  value(i: number): string;
  /** First value of `name` (lower-case), or `undefined`. */
  get(name: string): string | undefined;
  /** All values of `name` joined with `", "` (RFC 9110 §5.3), or `undefined` when absent. */
  getJoined(name: string): string | undefined;
  /** All values of `name`, in order (empty array when absent). */
  getAll(name: string): string[];
  has(name: string): boolean;
}

/** Limits the parser enforces; every one of them has a status code the client is told. */
export interface HttpLimits {
  /** Longest request line in bytes; longer → 414 (target too long) or 400. @default 8192 */
  maxRequestLine: number;
  /** Largest head (request line + all fields) in bytes; larger → 431. @default 16384 */
  maxHeadSize: number;
  /** Most header fields; more → 431. @default 100 */
  maxHeaders: number;
  /** Largest request body in bytes (Content-Length or chunked total); larger → 413. @default 10 MiB */
  maxBodySize: number;
  /**
   * Request methods accepted besides the ones Node's llhttp knows (any other is answered 501): the ones a
   * plugin of this server answers (`BAN` when the cache's purge method is on). @default none
   */
  extraMethods?: ReadonlySet<string>;
}

/** Timeouts the connection enforces, in milliseconds. 0 disables one. */
export interface HttpTimeouts {
  /** Time to receive a complete request head once its first byte arrived (slowloris). @default 10000 */
  headerTimeout: number;
  /** Idle time allowed between two reads of a request body. @default 30000 */
  bodyTimeout: number;
  /** Idle time allowed on a keep-alive connection between requests. @default 5000 */
  keepAliveTimeout: number;
}

/** A client address and port the server layer learnt other than from the socket (the PROXY protocol). */
export interface PeerAddress {
  readonly address: string;
  readonly port: number;
}

/** What a plugin can know about the connection a request came on. */
export interface ConnectionInfo {
  /** Unique per worker, increasing. */
  readonly id: number;
  /**
   * The client's address: the socket's peer, or the client a trusted balancer named in a PROXY protocol
   * header (a listener's `proxy_protocol`).
   */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /**
   * The socket's own peer: the balancer when a PROXY protocol header named the client, else the same as
   * `remoteAddress`. Optional (older implementations lack it): read it as `peerAddress ?? remoteAddress`.
   */
  readonly peerAddress?: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** Requests received on this connection so far, including the current one. */
  readonly requestCount: number;
  /**
   * The connection is TLS (an https listener). Optional (older implementations lack it): absent means
   * plain.
   */
  readonly secure?: boolean;
  /**
   * `'h2'` for an HTTP/2 connection, `'h1'` for HTTP/1.x. Optional (older implementations lack it):
   * absent means HTTP/1.x.
   */
  readonly protocol?: 'h1' | 'h2';
  /** Negotiated TLS version (`'TLSv1.3'`, `'TLSv1.2'`), or `''` on a plain connection. Optional, as above. */
  readonly tlsVersion?: string;
}

/** A parsed request. One object per request; fields are plain data so V8 keeps one shape. */
export interface Request {
  /** Method token as sent (case-sensitive, RFC 9110 §9.1), e.g. `GET`. */
  readonly method: string;
  /**
   * Request-target in origin-form: path plus optional `?query`. An absolute-form target
   * (`http://host/path`) is turned into origin-form here and its authority becomes `host`. `*` (OPTIONS)
   * is kept as `*`. The path is in normal form (src/http/path.ts), as nginx normalises it before routing:
   * escapes of unreserved characters decoded (`%61` → `a`), other escapes kept (`%2F` stays encoded,
   * never a separator), `.` and `..` segments removed, `//` merged; a `..` above the root was a 400. The
   * query is as sent. Routing, cache keys, the static file lookup and the proxy all read this one value.
   */
  readonly target: string;
  /**
   * The request-target exactly as sent (origin-form), before normalisation: for logs, and for a proxy route
   * that forwards the raw bytes (`normalize_path = false`). The same string as `target` for nearly every
   * request. A `rewrite` replaces it with the rewritten target. Optional (older implementations lack it): when absent, `target` is what was sent.
   */
  readonly rawTarget?: string;
  /** The path part of `target` (before `?`): normal form, still percent-encoded for reserved bytes. */
  readonly path: string;
  /** The query part of `target` after `?`, or `''`. */
  readonly query: string;
  /** `1` for HTTP/1.1, `0` for HTTP/1.0. */
  readonly versionMinor: 0 | 1;
  readonly headers: HeaderList;
  /** Host (from the absolute-form authority or the Host field), lower-cased, port removed; `''` if none. */
  readonly host: string;
  /**
   * The request body as a byte stream with backpressure (the socket is paused while the stream is full),
   * or `null` when the request has no body. Reading it for a request with `Expect: 100-continue` makes the
   * engine send `100 Continue` first. Trailer fields of a chunked body appear in `trailers` at its end.
   */
  readonly body: Readable | null;
  /** Trailer fields of a chunked body, once the body has ended; otherwise `null`. */
  readonly trailers: HeaderList | null;
  /** Whether the connection stays open after this response (version + `Connection` + server limits). */
  readonly keepAlive: boolean;
  readonly connection: ConnectionInfo;
  /** `performance.now()` when the head was parsed, for latency measurements and logs. */
  readonly startTime: number;
  /**
   * Replace the request-target (origin-form: `/path` or `/path?query`, still percent-encoded) before
   * routing: `target`, `path` and `query` change, later stages (the cache key, proxy routes, static files)
   * see the new one. For stage 20 (`onRequest`) plugins; a target not starting with `/` throws a TypeError.
   * The original target stays readable as `originalTarget` (the access log's request line).
   *
   * Optional (older implementations lack it).
   */
  rewrite?(target: string): void;
  /**
   * Replace (`value` a string) or remove (`value` null) every request field called `name`, for later
   * stages and the proxied request. Framing and hop-by-hop fields are refused (TypeError). A `Host`
   * change also changes `host`. Optional (older implementations lack it).
   */
  setHeader?(name: string, value: string | null): void;
  /** Append a request field (same rules as `setHeader`). Optional (older implementations lack it). */
  appendHeader?(name: string, value: string): void;
  /**
   * The request-target as received (`rawTarget` before any `rewrite`): the access log's request line.
   * Optional (older implementations lack it).
   */
  readonly originalTarget?: string;
  /**
   * The client's address: the connection's peer, unless a plugin that trusts that peer (`real_ip`, behind
   * a load balancer) set the address it forwarded for. Logs, `hash-ip` balancing and access rules use it.
   * Optional (older implementations lack it): read it as `req.clientAddress ?? req.connection.remoteAddress`.
   */
  readonly clientAddress?: string;
  /** Set `clientAddress` (stage 20). Optional (older implementations lack it). */
  setClientAddress?(address: string): void;
}

/** Header values accepted by `Response.setHeader`. */
export type HeaderValue = string | number | readonly string[];

/** Fields of an interim response (`Response.writeInterim`): a parsed list, or `[name, value]` pairs. */
export type InterimFields = HeaderList | ReadonlyArray<readonly [string, HeaderValue]>;

/** Metadata a content producer can attach to a response for later stages (the cache uses it). */
export interface FileSource {
  /** Absolute path of the file that was sent. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/**
 * The response being written for one request. Responses to pipelined requests are written in order: a
 * response may be produced early, and the engine holds its bytes until the ones before it are done.
 */
export interface Response {
  /** Status code to send; settable until the head is written. @default 200 */
  statusCode: number;
  /** Reason phrase; `''` means the standard one for `statusCode`. */
  statusMessage: string;
  /** True once the head has been serialised. */
  readonly headersSent: boolean;
  /** True once the response is complete (all bytes handed to the socket or the socket is gone). */
  readonly finished: boolean;
  /** True when the client went away before the response finished. */
  readonly aborted: boolean;
  /** Body bytes written so far (not counting the head or chunk framing). */
  readonly bodyBytes: number;

  /** Set a header field; replaces an earlier value of the same (case-insensitive) name. */
  setHeader(name: string, value: HeaderValue): this;
  getHeader(name: string): HeaderValue | undefined;
  hasHeader(name: string): boolean;
  removeHeader(name: string): this;
  /** Header fields set so far, as `[name, value]` pairs in the order they were set. */
  headerEntries(): ReadonlyArray<readonly [string, HeaderValue]>;
  /**
   * Add a field to whatever head this response ends up writing (a handler's, a cache hit's pre-built
   * bytes, the proxy's relay, a 500 in a plugin's place), for this request only. Unlike `setHeader` the
   * field is not part of `headerEntries()`, so no cache ever stores it: a per-request value (a request id,
   * a header rule of one host) never leaks into another request's answer. Call it at stage 20
   * (`onRequest`, before the cache answers) or any time before the head is written; later calls throw.
   * Fields go after the producer's (and after a pre-built head's), just before the blank line; a cache
   * hit stays one write (an edited copy of the entry's bytes, reused within the second). Framing and hop-by-hop names
   * (`Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade`,
   * `Proxy-Connection`) are refused with a TypeError, as are invalid names and values.
   *
   * Optional (older implementations lack it): callers test for it (`res.addTransientHeader?.(n, v)`).
   */
  addTransientHeader?(name: string, value: string): this;
  /**
   * Leave every field called `name` out of the head this response writes (the producer's or a pre-built
   * one), for this request only; nothing stored changes. With `addTransientHeader` this replaces a
   * field (`set`). A pre-built head is then re-assembled per response (one pass over its lines): `add`
   * alone keeps a hit on the pre-built bytes. Same stage and name rules as `addTransientHeader`.
   *
   * Optional (older implementations lack it).
   */
  suppressHeader?(name: string): this;

  /**
   * Serialise and queue the head. The engine adds `Date`, framing (`Content-Length` when set or when
   * `end(body)` is called before any `write`, otherwise `Transfer-Encoding: chunked` on HTTP/1.1 or close-
   * delimited on 1.0) and `Connection: close` / `keep-alive` as needed. Called implicitly by write/end.
   */
  writeHead(status?: number, reason?: string): this;
  /**
   * Queue a body chunk. Returns false when the socket's buffer is full: wait for `onDrain`.
   *
   * `onFlushed` (optional: a writer that never reuses its buffers leaves it out): called once the kernel has taken every byte of
   * `chunk`, so that its buffer may be reused (a file streamer recycling its read buffers); synchronously,
   * before `write` returns, when the chunk was copied or not sent (HEAD, a small chunk). It may never be
   * called (the client went away, the response waits behind a pipelined one, or the body is being
   * captured for the cache, which keeps the buffer): then the buffer must simply not be reused.
   */
  write(chunk: Buffer | string, onFlushed?: () => void): boolean;
  /** Finish the response, optionally with a last chunk. For HEAD requests the body is not sent. */
  end(chunk?: Buffer | string): void;
  /**
   * `end(chunk)` with a chunk whose memory the caller lends (a shared-cache staging block): it is not
   * copied, and `onReleased` is called exactly once when nothing holds it any more (written to the kernel,
   * failed, or dropped with an aborted response), as `sendPrebuilt`'s body. The caller must not change
   * the bytes before. Optional: a producer that lacks it reads into a buffer of its own.
   */
  endLent?(chunk: Buffer, onReleased: () => void): void;
  /** Run `callback` once when the socket can take more data (after `write` returned false). */
  onDrain(callback: () => void): void;
  /**
   * Run `callback` once if the response is taken from its handler before it finished: the client went
   * away, or the engine answered in the handler's place (400 for a malformed request body, 408 for a
   * stalled one, 500 after the handler threw). Whatever the handler still writes is discarded: it should
   * stop producing (close a file, drop an upstream request).
   */
  onAbort(callback: () => void): void;
  /**
   * Send a complete, already serialised response (status line, headers, body) as is. This is the cache's
   * hit path: one write, no per-field work. The caller is responsible for `Date` and framing; when the
   * connection must not be kept alive the engine closes it after these bytes.
   *
   * `body` (optional): bytes that follow `bytes` on the wire, kept as a
   * separate buffer so a large cached body is never copied next to its head. Both leave in one `writev`.
   * Neither buffer may be modified afterwards (the socket may still hold them). `onReleased`, when given
   * with a body, is called exactly once when nothing holds the body any more: written to the kernel, failed,
   * or dropped with an aborted response (the shared cache unpins the extent it reads from then).
   *
   * `headLength` (optional): where the head of `bytes` ends (after its blank line). Pass it only for a
   * stored answer's own buffer, whose bytes never change except a `Date` slot at most once per second: an
   * answer with per-request fields is then copied once and the copy reused (keyed by the buffer object)
   * for the rest of the second. A buffer whose memory is reused for other bytes (an arena slot) must be
   * passed without it.
   */
  sendPrebuilt(
    bytes: Buffer,
    body?: Buffer | null,
    onReleased?: (() => void) | null,
    headLength?: number,
  ): void;
  /**
   * Abort the response: the connection is destroyed without a clean end, so the client can never take a
   * partial body for a complete one (used when an upstream dies mid-body).
   */
  destroy(): void;

  /**
   * Keep a copy of the body bytes written (up to `limit` bytes; beyond it the capture is dropped and
   * `capturedBody` stays null). A single `end(buffer)` is kept by reference, without copying.
   */
  captureBody(limit: number): void;
  /** The captured body once the response finished, or `null`. */
  readonly capturedBody: Buffer | null;
  /** The file this response was produced from, when a file producer set it. */
  file: FileSource | null;
  /**
   * Take the raw connection of an upgrade request (`Upgrade` + `Connection: upgrade` on HTTP/1.1, no body) to
   * switch protocols (RFC 9110 §7.8, §15.2.2): the handler writes the `101` head itself, then speaks the
   * new protocol. Returns `undefined` (and changes nothing) when that is not possible: not an upgrade
   * request, something of the response was already sent, an earlier pipelined response is still being
   * written, or the connection is closing. Afterwards the engine never parses, times out or writes on
   * the socket again and this response counts as finished (set `statusCode = 101` first, for the logs);
   * the socket is still closed by a graceful shutdown and still counts as an open connection.
   *
   * Optional (a response built by hand may lack it). A plugin that does not call it gets the plain answer:
   * the upgrade request is answered as a plain request and the connection closes after it.
   */
  takeOver?(): TakenOverSocket | undefined;
  /**
   * Send an interim response (RFC 9110 §15.2) ahead of the final one, e.g. `103 Early Hints` with `Link`
   * fields (RFC 8297), as node's `writeEarlyHints` does. `status` must be 102..199 (100 Continue is the
   * engine's answer to `Expect`, 101 is `takeOver`'s); anything else throws a RangeError, and so does a bad
   * field name or value (TypeError), before any byte is queued. `Content-Length`, `Transfer-Encoding` and
   * `Connection` are dropped (a 1xx has no content, RFC 9110 §15.2, and says nothing about the connection);
   * no `Date` is added (optional for 1xx, RFC 9110 §6.6.1). Behind an unfinished pipelined response the
   * bytes wait, in order, like the final head does.
   *
   * Returns false (and sends nothing) when an interim response may not or cannot be sent: the client
   * speaks HTTP/1.0 (RFC 9110 §15.2: "A server MUST NOT send a 1xx response to an HTTP/1.0 client"), the
   * final head is already out, or the response is over (ended, aborted, answered by the engine).
   *
   * Optional (a response built by hand may lack it): callers test for it (`res.writeInterim?.(103, fields)`).
   */
  writeInterim?(status: number, fields?: InterimFields): boolean;
  /**
   * For logs (`$upstream_cache_status`, `$upstream_addr`, `$upstream_response_time`): what a cache said
   * about this request (`HIT`, `MISS`, `BYPASS`; `''` when none looked), the backend that answered
   * (`http://host:port`), and milliseconds from asking it to its response head (-1: none). Set by the
   * plugins that know. Optional (older implementations lack it).
   */
  cacheStatus?: string;
  upstreamAddress?: string;
  upstreamTime?: number;
  /**
   * Have `encoder` look at this response just before its head is written (the first `writeHead`, `write`
   * or `end`), and maybe encode its body (the `compress` plugin: gzip, br, zstd). Call it at stage 20.
   * Pre-built answers (`sendPrebuilt`: cache hits) never go through it: a cache stores what the encoder
   * produced. HTTP/2 responses encode only bodies sent with one `end(body)`. Optional (older
   * implementations lack it): callers test for it.
   */
  setBodyEncoder?(encoder: BodyEncoder): void;
}

/**
 * Encodes response bodies (see `Response.setBodyEncoder`). `start` runs once per response, when the head
 * is about to be written; fields may still be changed then (`setHeader`, `removeHeader`). `whole` is the
 * entire body when the producer's first call is `end(body)`, else null (a body that streams, or none).
 * It returns null to leave the body as it is, the encoded body (only when `whole` was given: it is sent
 * with its own Content-Length), or a {@link BodyStream} that takes the body's chunks and hands the
 * encoded bytes to `output` (sent chunked: the encoder removes any Content-Length).
 */
export interface BodyEncoder {
  start(req: Request, res: Response, whole: Buffer | null, output: EncodedOutput): Buffer | BodyStream | null;
}

/** Where a {@link BodyStream} sends the encoded bytes: the response's own writer, below the encoder. */
export interface EncodedOutput {
  /** Queue encoded bytes; false when the socket's buffer is full. */
  push(chunk: Buffer): boolean;
  /**
   * The encoded body is complete, with `last` as its last bytes. When nothing was pushed before, `last`
   * is the whole encoded body and is sent with a Content-Length instead of chunked.
   */
  finish(last: Buffer | null): void;
  /** Encoding failed: the connection is closed without a clean end. */
  fail(): void;
  /** Run `callback` once the socket can take more (after `push` returned false). */
  onDrain(callback: () => void): void;
}

/** A streaming body encoder for one response. */
export interface BodyStream {
  /** A chunk of the producer's body. Returns false when the encoder wants the producer to wait. */
  write(chunk: Buffer): boolean;
  /** The producer ended its body: flush, then `output.finish(...)`. */
  end(): void;
  /** Run `callback` once the encoder can take more (after `write` returned false). */
  onDrain(callback: () => void): void;
}

/** What `Response.takeOver` hands over. */
export interface TakenOverSocket {
  /**
   * The client socket, reading: bytes arrive as 'data' events (copies, even where the engine reads into
   * its shared buffer), `pause()` / `resume()` / `pipe()` and 'end' work as on any socket. Attach an
   * 'error' listener.
   */
  readonly socket: Socket;
  /** Bytes the engine had already read after the request head (the new protocol's first bytes); may be empty. */
  readonly head: Buffer;
}

/** Error codes of the parser, each with the status the client receives. */
export type HttpErrorCode =
  | 'ERR_HTTP_BAD_REQUEST_LINE'
  | 'ERR_HTTP_BAD_VERSION'
  | 'ERR_HTTP_URI_TOO_LONG'
  | 'ERR_HTTP_HEAD_TOO_LARGE'
  | 'ERR_HTTP_TOO_MANY_HEADERS'
  | 'ERR_HTTP_BAD_HEADER'
  | 'ERR_HTTP_OBS_FOLD'
  | 'ERR_HTTP_BARE_CR'
  | 'ERR_HTTP_MISSING_HOST'
  | 'ERR_HTTP_BAD_CONTENT_LENGTH'
  | 'ERR_HTTP_CL_AND_TE'
  | 'ERR_HTTP_UNSUPPORTED_TE'
  | 'ERR_HTTP_BAD_TE'
  | 'ERR_HTTP_BAD_CHUNK'
  | 'ERR_HTTP_BODY_TOO_LARGE'
  | 'ERR_HTTP_BAD_STATUS_LINE';

/** The head of a parsed message, as the parser hands it to the connection (or to the upstream client). */
export interface ParsedHead {
  /** Request mode: the method; response mode: `''`. */
  method: string;
  /**
   * Request mode: the request-target in origin-form (an absolute-form target's authority is in `host`),
   * its path in normal form (src/http/path.ts: unreserved escapes decoded, dot-segments removed, `//`
   * merged); response mode: `''`.
   */
  target: string;
  /**
   * Request mode: the request-target as sent (origin-form: an absolute-form target without its scheme and
   * authority), before normalisation; the same string as `target` when there was nothing to normalise.
   * Optional (older implementations lack it): a hand-built head without it is taken as already normal.
   */
  rawTarget?: string;
  /** Response mode: the status code; request mode: 0. */
  status: number;
  /** Response mode: the reason phrase as sent. */
  reason: string;
  versionMinor: 0 | 1;
  headers: HeaderList;
  /** Declared Content-Length, or -1 when none. */
  contentLength: number;
  /** True when the body is chunked (Transfer-Encoding ends in `chunked`). */
  chunked: boolean;
  /** Keep-alive per version and `Connection` (RFC 9112 §9.3), before server limits apply. */
  keepAlive: boolean;
  /** Request carried `Expect: 100-continue`. */
  expectContinue: boolean;
  /**
   * Request asked for `Upgrade` (with `Connection: upgrade`) and announces no body, or is CONNECT: parsing
   * stops after the head. An upgrade request with a body is parsed as a plain one (RFC 9110 §7.8).
   */
  upgrade: boolean;
  /**
   * Request mode: the host from an absolute-form or CONNECT target, else from the Host field, lower-cased,
   * port removed, `''` if none (what `Request.host` holds). Response mode: `''`. Optional so that
   * hand-built heads need not set it; the parser always sets it.
   */
  host?: string;
}

/** Callbacks of the incremental parser. Buffers passed to `onBody` are views of the input, not copies. */
export interface ParserHandler {
  onHead(head: ParsedHead): void;
  onBody(chunk: Buffer): void;
  /** The message ended; `trailers` holds the trailer section of a chunked body, if any. */
  onMessageComplete(trailers: HeaderList | null): void;
}

/** A parse failure with the status a server answers it with (400, 413, 414, 431, 501, or 502 upstream). */
export interface HttpParseFailure {
  readonly code: HttpErrorCode;
  readonly status: number;
  readonly message: string;
}
