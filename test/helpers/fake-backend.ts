/**
 * Fake backends for proxy tests, on 127.0.0.1 port 0. The default one is a `node:http` server that says
 * who it is and what it received; `raw` mode is a plain TCP server that answers every request head with
 * bytes the test chooses (bad framing, garbage, truncated bodies), which no HTTP library would send.
 * A backend can be stopped mid-test and started again on the same port.
 */
import {
  type Agent,
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { type RunningServer, startServer } from '../../src/main/compose.ts';
import { setLogSink } from '../../src/server/logger.ts';

/** What a fake backend recorded about one request. */
export interface SeenRequest {
  method: string;
  url: string;
  /** Lower-cased names; repeated fields joined with `, `. */
  headers: Record<string, string>;
  rawHeaders: string[];
  bodyBytes: number;
  trailers: Record<string, string>;
}

export interface FakeBackendOptions {
  /** Shown in `X-Backend` and the body. @default "backend" */
  name?: string;
  /** Delay before answering, in ms. @default 0 */
  latencyMs?: number;
  /**
   * Answer requests yourself (the default handler is used when this returns false). The body has not
   * been read; call `consume(req)` to read and count it.
   */
  handler?: (req: IncomingMessage, res: ServerResponse, backend: FakeBackend) => boolean | undefined;
  /** Raw TCP mode: called with each request head (and the socket) instead of an HTTP server. */
  raw?: (socket: Socket, head: string, backend: FakeBackend) => void;
}

export class FakeBackend {
  readonly name: string;
  port = 0;
  /** Every request received, in order. */
  readonly seen: SeenRequest[] = [];
  /** Connections accepted so far (keep-alive reuse shows as few connections for many requests). */
  connections = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly options: FakeBackendOptions;

  constructor(options: FakeBackendOptions = {}) {
    this.options = options;
    this.name = options.name ?? 'backend';
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests received so far. */
  get hits(): number {
    return this.seen.length;
  }

  /** Connections open right now (busy or idle in the proxy's pool). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Listen (again): on `port`, or the previous port, or a free one. */
  async start(port = this.port): Promise<this> {
    const server = this.options.raw ? this.createRaw() : this.createHttp();
    server.on('connection', (socket: Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  /** Stop listening and cut every open connection (a backend that died). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private createHttp(): Server {
    const server = createHttpServer({ keepAliveTimeout: 5000 }, (req, res) => {
      const answer = () => {
        if (this.options.handler?.(req, res, this)) return;
        // A request the proxy aborts mid-body rejects the body read ("aborted"): nothing to answer.
        this.defaultAnswer(req, res).catch(() => res.destroy());
      };
      if (this.options.latencyMs) setTimeout(answer, this.options.latencyMs);
      else answer();
    });
    return server;
  }

  private async defaultAnswer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen = await this.record(req);
    const download = /^\/bytes\/(\d+)/.exec(req.url ?? '');
    if (download) {
      await sendBytes(res, Number(download[1]));
      return;
    }
    const body = JSON.stringify({ backend: this.name, ...seen });
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Backend': this.name });
    res.end(body);
  }

  /** Read the body of `req` (counting bytes, keeping nothing) and remember the request. */
  async record(req: IncomingMessage): Promise<SeenRequest> {
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: joinHeaders(req.rawHeaders),
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
      trailers: {},
    };
    this.seen.push(seen);
    for await (const chunk of req) seen.bodyBytes += (chunk as Buffer).length;
    seen.trailers = joinHeaders(req.rawTrailers);
    return seen;
  }

  private createRaw(): Server {
    const raw = this.options.raw!;
    return createNetServer((socket) => {
      let buffered = '';
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        buffered += chunk.toString('latin1');
        let end = buffered.indexOf('\r\n\r\n');
        while (end !== -1) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          const [method = '', url = ''] = head.split(' ');
          this.seen.push({ method, url, headers: {}, rawHeaders: [], bodyBytes: 0, trailers: {} });
          raw(socket, head, this);
          end = buffered.indexOf('\r\n\r\n');
        }
      });
    });
  }
}

/** Start a fake backend on 127.0.0.1:0. */
export function startFakeBackend(options: FakeBackendOptions = {}): Promise<FakeBackend> {
  return new FakeBackend(options).start(0);
}

/** Stream `size` bytes of a repeating pattern, respecting backpressure. */
export async function sendBytes(res: ServerResponse, size: number): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) });
  const chunk = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz');
  let left = size;
  while (left > 0) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!res.write(piece)) await new Promise<void>((resolve) => res.once('drain', resolve));
    if (res.destroyed) return;
  }
  res.end();
}

function joinHeaders(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    out[name] = out[name] === undefined ? raw[i + 1]! : `${out[name]}, ${raw[i + 1]!}`;
  }
  return out;
}

/** A Tamarin server in this thread with only the proxy plugin and the given `[proxy]` table. */
export function startProxy(
  proxy: Record<string, unknown>,
  server: Record<string, unknown> = {},
): Promise<RunningServer> {
  return startServer({
    inProcess: true,
    config: { plugins: ['proxy'], server: { host: '127.0.0.1', port: 0, ...server }, proxy },
  });
}

/** Collect log lines (restore stderr with `restore()`). */
export function captureLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const previous = setLogSink((_level, line) => lines.push(line));
  return { lines, restore: () => setLogSink(previous) };
}

/** A plain response as a test sees it. */
export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request with node:http, the body read whole. No pooling by default, so each test controls its own
 * connections; pass a keep-alive `agent` to reuse them.
 */
export function fetchText(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** @default false (a new connection per request) */
    agent?: Agent | false;
  } = {},
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent ?? false,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
