/**
 * Interim 1xx responses (`Response.writeInterim`) over a real socket: what a raw client reads, HTTP/1.0
 * clients, the final head already out, invalid fields, and the order of pipelined answers.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './engine.ts';
import { parseResponses, rawRequest } from './test-client.ts';
import type { Request, Response } from './types.ts';

const LINK = '</a.css>; rel=preload; as=style';

type Handler = (req: Request, res: Response) => void;

describe('Response.writeInterim over a socket', () => {
  let server: net.Server;
  let port = 0;
  /** Per path: what the handler does; results of writeInterim calls land in `results`. */
  const handlers = new Map<string, Handler>();
  const results: Record<string, unknown> = {};
  const sockets: net.Socket[] = [];

  before(async () => {
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: DEFAULT_TIMEOUTS,
        maxConnections: 100,
        maxRequestsPerConnection: 100,
      },
      {
        onRequest(req, res) {
          const handler = handlers.get(req.path);
          if (handler === undefined) res.end('none');
          else handler(req, res);
        },
      },
    );
    server = net.createServer((socket) => {
      sockets.push(socket);
      engine.handleSocket(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends 103 Early Hints with its fields before the final response', async () => {
    handlers.set('/hints', (_req, res) => {
      results.hints = res.writeInterim?.(103, [
        ['Link', LINK],
        ['Link', '</b.js>; rel=preload; as=script'],
        ['Content-Length', '5'],
        ['Transfer-Encoding', 'chunked'],
      ]);
      // The final answer comes a little later, as it would from a backend still working.
      setTimeout(() => res.setHeader('Content-Type', 'text/plain').end('final'), 20);
    });
    const bytes = await rawRequest(port, 'GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = bytes.toString('latin1');
    assert.ok(text.startsWith('HTTP/1.1 103 Early Hints\r\n'), text);
    const [interim, final, ...rest] = parseResponses(bytes);
    assert.equal(results.hints, true);
    assert.equal(interim?.status, 103);
    assert.equal(interim?.headers.link, `${LINK}, </b.js>; rel=preload; as=script`);
    assert.equal(interim?.headers['content-length'], undefined, 'a 1xx has no content (RFC 9110 §15.2)');
    assert.equal(interim?.headers['transfer-encoding'], undefined);
    assert.equal(interim?.headers.date, undefined);
    assert.equal(final?.status, 200);
    assert.equal(final?.body.toString(), 'final');
    assert.equal(rest.length, 0);
  });

  it('never sends a 1xx to an HTTP/1.0 client (RFC 9110 §15.2)', async () => {
    handlers.set('/old', (_req, res) => {
      results.old = res.writeInterim?.(103, [['Link', LINK]]);
      res.end('old');
    });
    const bytes = await rawRequest(port, 'GET /old HTTP/1.0\r\nHost: x\r\n\r\n');
    const text = bytes.toString('latin1');
    assert.equal(results.old, false);
    assert.ok(text.startsWith('HTTP/1.1 200 OK\r\n'), text);
    assert.doesNotMatch(text, /103|Link/);
  });

  it('refuses once the final head was written, and after the end', async () => {
    handlers.set('/late', (_req, res) => {
      res.writeHead(200);
      results.afterHead = res.writeInterim?.(103, [['Link', LINK]]);
      res.end('late');
      results.afterEnd = res.writeInterim?.(103, [['Link', LINK]]);
    });
    const bytes = await rawRequest(port, 'GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(results.afterHead, false);
    assert.equal(results.afterEnd, false);
    const responses = parseResponses(bytes);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200],
    );
    assert.equal(responses[0]?.body.toString(), 'late');
  });

  it('rejects CR/LF in a value and bad names or codes without sending a byte of them', async () => {
    handlers.set('/bad', (_req, res) => {
      const errors: string[] = [];
      const attempts: Array<() => unknown> = [
        () => res.writeInterim?.(103, [['Link', '</a>\r\nSet-Cookie: stolen=1']]),
        () => res.writeInterim?.(103, [['Link', ['</a>', 'x\ny']]]),
        () => res.writeInterim?.(103, [['Bad Name', 'x']]),
        () => res.writeInterim?.(100),
        () => res.writeInterim?.(101),
        () => res.writeInterim?.(200),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
          errors.push('none');
        } catch (error) {
          errors.push((error as Error).name);
        }
      }
      results.bad = errors;
      res.end('clean');
    });
    const bytes = await rawRequest(port, 'GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(results.bad, [
      'TypeError',
      'TypeError',
      'TypeError',
      'RangeError',
      'RangeError',
      'RangeError',
    ]);
    const text = bytes.toString('latin1');
    assert.doesNotMatch(text, /stolen|103/);
    const responses = parseResponses(bytes);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200],
    );
  });

  it('holds a pipelined response’s 103 until the earlier response is done: bytes in order', async () => {
    handlers.set('/slow', (_req, res) => {
      setTimeout(() => res.end('slow'), 80);
    });
    handlers.set('/fast', (_req, res) => {
      results.fast = res.writeInterim?.(103, [['Link', LINK]]);
      res.end('fast');
    });
    const bytes = await rawRequest(
      port,
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.equal(results.fast, true);
    const responses = parseResponses(bytes);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 103, 200],
    );
    assert.equal(responses[0]?.body.toString(), 'slow');
    assert.equal(responses[1]?.headers.link, LINK);
    assert.equal(responses[2]?.body.toString(), 'fast');
  });
});
