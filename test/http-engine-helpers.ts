/**
 * Shared fixtures of the engine tests: an engine behind a real listener on 127.0.0.1:0, and a client that
 * keeps one connection open and reads responses off it.
 */
import * as net from 'node:net';
import {
  createEngine,
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  type Engine,
  type EngineHooks,
} from '../src/http/engine.ts';
import { parseResponses, type RawResponse } from '../src/http/test-client.ts';
import type { HttpLimits, HttpTimeouts } from '../src/http/types.ts';

export interface TestServer {
  port: number;
  engine: Engine;
  /** Server-side sockets, in accept order. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

export interface ServeOptions {
  limits?: Partial<HttpLimits>;
  timeouts?: Partial<HttpTimeouts>;
  maxConnections?: number;
  maxRequestsPerConnection?: number;
  hooks?: Omit<EngineHooks, 'onRequest'>;
}

export async function serve(
  onRequest: EngineHooks['onRequest'],
  options: ServeOptions = {},
): Promise<TestServer> {
  const engine = createEngine(
    {
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      maxConnections: options.maxConnections ?? 1000,
      maxRequestsPerConnection: options.maxRequestsPerConnection ?? 1000,
    },
    { ...options.hooks, onRequest },
  );
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    engine.handleSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    engine,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client on one connection: send bytes, wait for a number of complete responses, see whether it closed. */
export class Client {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;
  closedAt = 0;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.wake();
    });
  }

  static async open(port: number): Promise<Client> {
    const client = new Client(port);
    await new Promise<void>((resolve) => client.socket.once('connect', resolve));
    return client;
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Wait until `predicate` holds or `timeoutMs` passes (then throws). */
  async until(predicate: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait for `count` complete responses in everything received so far. */
  async responses(count: number, methods?: string[], timeoutMs = 2000): Promise<RawResponse[]> {
    let parsed: RawResponse[] = [];
    await this.until(
      () => {
        parsed = tryParse(this.data, methods);
        return parsed.length >= count;
      },
      timeoutMs,
      `${count} responses`,
    );
    return parsed;
  }

  async waitClosed(timeoutMs = 2000): Promise<void> {
    await this.until(() => this.closed, timeoutMs, 'close');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Parse what is complete; an incomplete tail counts as not there yet. */
function tryParse(data: Buffer, methods?: string[]): RawResponse[] {
  try {
    return parseResponses(data, { methods });
  } catch {
    // Drop the last (incomplete) response by parsing successively shorter prefixes at head boundaries.
    let end = data.lastIndexOf('HTTP/1.1 ');
    while (end > 0) {
      try {
        return parseResponses(data.subarray(0, end), { methods });
      } catch {
        end = data.lastIndexOf('HTTP/1.1 ', end - 1);
      }
    }
    return [];
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
