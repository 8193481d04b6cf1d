/**
 * The engine's connection management over real sockets: timeouts, request bodies, 100-continue,
 * backpressure, connection limits and graceful drain.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import type { Response } from '../src/http/types.ts';
import { Client, delay, readAll, serve } from './http-engine-helpers.ts';

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe('timeouts', () => {
  it('answers a head that does not complete in time with 408 and closes (slowloris)', async () => {
    const server = await serve((_req, res) => res.end('ok'), { timeouts: { headerTimeout: 200 } });
    try {
      const c = await Client.open(server.port);
      const start = performance.now();
      c.send('GET / HTTP/1.1\r\nHost: t\r\n');
      await delay(100);
      c.send('X-Slow: 1\r\n'); // trickling bytes does not extend the deadline
      await c.waitClosed(2000);
      const elapsed = c.closedAt - start;
      assert.ok(elapsed >= 190 && elapsed < 1000, `closed after ${elapsed} ms`);
      const [res] = parseResponses(c.data);
      assert.equal(res!.status, 408);
      assert.equal(res!.headers.connection, 'close');
    } finally {
      await server.close();
    }
  });

  it('closes an idle keep-alive connection silently', async () => {
    const server = await serve((_req, res) => res.end('ok'), { timeouts: { keepAliveTimeout: 200 } });
    try {
      const c = await Client.open(server.port);
      c.send(GET('/'));
      await c.responses(1);
      const start = performance.now();
      await c.waitClosed(2000);
      const elapsed = c.closedAt - start;
      assert.ok(elapsed >= 150 && elapsed < 1000, `closed after ${elapsed} ms`);
      assert.equal(parseResponses(c.data).length, 1, 'nothing is sent on idle close');
    } finally {
      await server.close();
    }
  });

  it('answers a body that stalls with 408', async () => {
    const server = await serve(
      (req, res) => {
        readAll(req.body!).then(
          () => res.end('done'),
          () => {},
        );
      },
      { timeouts: { bodyTimeout: 200 } },
    );
    try {
      const c = await Client.open(server.port);
      c.send('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
      await c.waitClosed(2000);
      assert.equal(parseResponses(c.data)[0]!.status, 408);
    } finally {
      await server.close();
    }
  });
});

describe('request bodies', () => {
  const echo = async (req: Parameters<Parameters<typeof serve>[0]>[0], res: Response) => {
    const body = req.body === null ? Buffer.alloc(0) : await readAll(req.body);
    res.setHeader('X-Trailer', req.trailers?.get('x-sum') ?? '-');
    res.end(`${req.method} ${body.length} ${body.toString()}`);
  };

  it('reads Content-Length and chunked bodies (with trailers) through the stream', async () => {
    const server = await serve((req, res) => void echo(req, res));
    try {
      const buf = await rawRequest(
        server.port,
        'POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello' +
          'POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n' +
          GET('/c', 'Connection: close\r\n'),
      );
      const responses = parseResponses(buf);
      assert.deepEqual(
        responses.map((r) => r.body.toString()),
        ['POST 5 hello', 'POST 5 abcde', 'GET 0 '],
      );
      assert.equal(responses[1]!.headers['x-trailer'], '5');
    } finally {
      await server.close();
    }
  });

  it('streams a body that arrives in pieces to a handler that answers while reading', async () => {
    const server = await serve(async (req, res) => {
      res.writeHead(200);
      for await (const chunk of req.body!) res.write(Buffer.from((chunk as Buffer).toString().toUpperCase()));
      res.end();
    });
    try {
      const c = await Client.open(server.port);
      c.send('POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await c.until(() => c.data.includes('HELLO'), 2000, 'the first piece echoed');
      c.send('6\r\n world\r\n0\r\n\r\n');
      const [res] = await c.responses(1);
      assert.equal(res!.body.toString(), 'HELLO WORLD');
      c.destroy();
    } finally {
      await server.close();
    }
  });

  it('answers 413 with Connection: close for a body over the limit', async () => {
    let sawError = false;
    const server = await serve(
      (req, res) => {
        if (req.body === null) return res.end();
        readAll(req.body).then(
          () => res.end('read it all'),
          () => {
            sawError = true;
          },
        );
      },
      { limits: { maxBodySize: 100 } },
    );
    try {
      const declared = await rawRequest(
        server.port,
        'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n',
      );
      const [a] = parseResponses(declared);
      assert.equal(a!.status, 413);
      assert.equal(a!.headers.connection, 'close');
      const chunk = 'a'.repeat(60);
      const chunked = await rawRequest(
        server.port,
        `POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n${chunk}\r\n3c\r\n${chunk}\r\n0\r\n\r\n`,
      );
      const [b] = parseResponses(chunked);
      assert.equal(b!.status, 413);
      assert.equal(b!.headers.connection, 'close');
      assert.ok(sawError, 'the body stream errored for the handler');
    } finally {
      await server.close();
    }
  });

  it('sends 100 Continue only when the body is read', async () => {
    const server = await serve((req, res) => {
      if (req.path === '/reject') {
        res.statusCode = 401;
        res.end('no');
        return;
      }
      void echo(req, res);
    });
    try {
      const c = await Client.open(server.port);
      c.send('POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
      await c.until(() => c.data.includes('\r\n\r\n'), 2000, '100 Continue');
      assert.equal(c.data.toString(), 'HTTP/1.1 100 Continue\r\n\r\n');
      c.send('data');
      const responses = await c.responses(2);
      assert.equal(responses[1]!.body.toString(), 'POST 4 data');
      c.destroy();

      const buf = await rawRequest(
        server.port,
        'POST /reject HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n',
      );
      const [res] = parseResponses(buf);
      assert.equal(res!.status, 401);
      assert.equal(res!.headers.connection, 'close', 'the unsent body cannot be waited for');
    } finally {
      await server.close();
    }
  });

  it('discards a small unread body and keeps the connection; closes for a large one', async () => {
    const server = await serve((req, res) => res.end(req.path));
    try {
      const small = await rawRequest(
        server.port,
        'POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nGET /x HTTP' +
          GET('/after', 'Connection: close\r\n'),
      );
      assert.deepEqual(
        parseResponses(small).map((r) => r.body.toString()),
        ['/small', '/after'],
        'body bytes are never parsed as a request',
      );
      const c = await Client.open(server.port);
      c.send('POST /large HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n' + 'x'.repeat(1000));
      const [res] = await c.responses(1);
      assert.equal(res!.headers.connection, 'close');
      await c.waitClosed(3000);
    } finally {
      await server.close();
    }
  });
});

describe('clients that leave', () => {
  it('takes a FIN as the client leaving: answers already written arrive, those in flight are aborted', async () => {
    const done: string[] = [];
    const server = await serve(
      (req, res) => {
        if (req.path === '/now') res.end('now');
        else setTimeout(() => res.end('late'), 50);
      },
      { hooks: { onResponseDone: (r, res) => done.push(`${r.path} aborted=${res.aborted}`) } },
    );
    try {
      const buf = await rawRequest(server.port, GET('/now') + GET('/later'), { halfClose: true });
      assert.deepEqual(
        parseResponses(buf).map((r) => r.body.toString()),
        ['now'],
      );
      await delay(80);
      assert.deepEqual(done, ['/now aborted=false', '/later aborted=true']);
    } finally {
      await server.close();
    }
  });

  it('marks responses aborted and runs onAbort and onResponseDone when the client disappears', async () => {
    const events: string[] = [];
    let response: Response | undefined;
    const server = await serve(
      (_req, res) => {
        response = res;
        res.write('partial');
        res.onAbort(() => events.push('abort'));
      },
      { hooks: { onResponseDone: (_req, res) => events.push(`done aborted=${res.aborted}`) } },
    );
    try {
      const c = await Client.open(server.port);
      c.send(GET('/'));
      await c.until(() => c.data.includes('partial'));
      c.destroy();
      await delay(50);
      assert.deepEqual(events, ['abort', 'done aborted=true']);
      assert.equal(response!.finished, false);
      response!.end('ignored'); // writing after the client left must not throw
    } finally {
      await server.close();
    }
  });
});

describe("the engine answering in the handler's place tells the handler (onAbort)", () => {
  // A handler still waiting for a body it will never get (a proxy's upstream request) must be told at
  // once, not find out when its own timeout fires.
  const cases: Array<[string, string, number]> = [
    ["a malformed chunk in the head's packet", 'Transfer-Encoding: chunked\r\n\r\nZZ\r\n', 400],
    ['a stalled body', 'Content-Length: 10\r\n\r\nabc', 408],
  ];
  for (const [name, rest, status] of cases) {
    it(`${name}: ${status} to the client, onAbort to the handler, the handler's late answer dropped`, async () => {
      const events: string[] = [];
      let response: Response | undefined;
      const server = await serve(
        (_req, res) => {
          response = res;
          res.onAbort(() => events.push(`abort headersSent=${res.headersSent}`));
        },
        { timeouts: { bodyTimeout: 200 } },
      );
      try {
        const c = await Client.open(server.port);
        c.send(`POST / HTTP/1.1\r\nHost: t\r\n${rest}`);
        await c.waitClosed(2000);
        const answers = parseResponses(c.data);
        assert.deepEqual(
          answers.map((r) => r.status),
          [status],
        );
        assert.deepEqual(events, ['abort headersSent=true']);
        response!.end('late'); // ignored, never throws
        assert.equal(parseResponses(c.data).length, 1);
      } finally {
        await server.close();
      }
    });
  }
});

describe('backpressure', () => {
  it('does not buffer a large response for a slow reader, nor read more requests meanwhile', async () => {
    const total = 16 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let written = 0;
    const paths: string[] = [];
    const server = await serve((req, res) => {
      paths.push(req.path);
      if (req.path !== '/big') return res.end('small');
      res.setHeader('Content-Length', total);
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.onDrain(pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    try {
      const c = await Client.open(server.port);
      c.socket.pause();
      c.send(GET('/big'));
      await delay(200);
      c.send(GET('/next', 'Connection: close\r\n'));
      await delay(200);
      const serverSocket = server.sockets[0]!;
      assert.ok(
        serverSocket.writableLength <= 512 * 1024,
        `server buffered ${serverSocket.writableLength} bytes for a paused client`,
      );
      assert.ok(written < total / 2, `handler wrote ${written} bytes into a paused client`);
      assert.deepEqual(paths, ['/big'], 'reading stops while the write buffer is full');
      let received = 0;
      let tail = '';
      c.socket.removeAllListeners('data');
      c.socket.on('data', (d: Buffer) => {
        received += d.length;
        tail = (tail + d.toString('latin1')).slice(-200);
      });
      c.socket.resume();
      await c.waitClosed(10_000);
      assert.ok(received > total, `received ${received}`);
      assert.ok(tail.endsWith('small'), 'the next request is answered once the big one is through');
      assert.deepEqual(paths, ['/big', '/next']);
    } finally {
      await server.close();
    }
  });
});

describe('stalled readers', () => {
  it('drops a client that stops reading its response for longer than the body timeout', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    let aborted = false;
    const server = await serve(
      (_req, res) => {
        res.onAbort(() => {
          aborted = true;
        });
        const pump = () => {
          while (res.write(chunk));
          res.onDrain(pump);
        };
        pump();
      },
      { timeouts: { bodyTimeout: 200 } },
    );
    try {
      const c = await Client.open(server.port);
      c.socket.pause();
      c.send(GET('/'));
      const start = performance.now();
      while (!aborted && performance.now() - start < 3000) await delay(20);
      const elapsed = performance.now() - start;
      assert.ok(aborted, 'the response was aborted');
      assert.ok(elapsed >= 150 && elapsed < 2000, `dropped after ${elapsed} ms`);
      assert.equal(server.engine.connectionCount, 0);
    } finally {
      await server.close();
    }
  });
});

describe('connection limits and drain', () => {
  it('refuses connections beyond maxConnections with 503', async () => {
    const server = await serve((_req, res) => res.end('ok'), { maxConnections: 1 });
    try {
      const c = await Client.open(server.port);
      c.send(GET('/'));
      await c.responses(1);
      const buf = await rawRequest(server.port, GET('/'));
      const [res] = parseResponses(buf);
      assert.equal(res!.status, 503);
      assert.equal(server.engine.connectionCount, 1);
      c.destroy();
    } finally {
      await server.close();
    }
  });

  it('lets onConnection refuse a socket', async () => {
    const server = await serve((_req, res) => res.end('ok'), { hooks: { onConnection: () => false } });
    try {
      const buf = await rawRequest(server.port, GET('/'));
      assert.equal(buf.length, 0);
    } finally {
      await server.close();
    }
  });

  it('drain() closes idle connections at once and waits for in-flight responses', async () => {
    const done: string[] = [];
    const closed: number[] = [];
    // The slow response ends when the test says so: "at once" is an order (the idle connection closes
    // while the other is still in flight), not a number of ms that a loaded machine can exceed.
    let release: (() => void) | null = null;
    const server = await serve(
      (req, res) => {
        if (req.path === '/slow') release = () => res.end('slow done');
        else res.end('fast');
      },
      {
        hooks: {
          onResponseDone: (req) => done.push(req.path),
          onClose: (info) => closed.push(info.requestCount),
        },
      },
    );
    try {
      const idle = await Client.open(server.port);
      idle.send(GET('/fast'));
      await idle.responses(1);
      const busy = await Client.open(server.port);
      busy.send(GET('/slow'));
      for (let i = 0; i < 1000 && release === null; i++) await delay(5);
      assert.ok(release !== null, 'the /slow request reached the handler');
      assert.equal(server.engine.connectionCount, 2);
      let drainedYet = false;
      const drained = server.engine.drain(10_000).then(() => {
        drainedYet = true;
      });
      await idle.waitClosed(5000);
      assert.equal(busy.closed, false, 'the in-flight one stays open');
      await delay(20);
      assert.equal(drainedYet, false, 'drain() waits for the in-flight response');
      (release as () => void)();
      await drained;
      const [res] = await busy.responses(1);
      assert.equal(res!.body.toString(), 'slow done');
      assert.equal(res!.headers.connection, 'close');
      await busy.waitClosed(5000);
      assert.equal(server.engine.connectionCount, 0);
      assert.deepEqual(done, ['/fast', '/slow']);
      assert.deepEqual(closed.sort(), [1, 1]);
    } finally {
      await server.close();
    }
  });

  it('drain() destroys what is left at the deadline and reports aborted responses', async () => {
    let aborted = false;
    const server = await serve((_req, res) => {
      res.onAbort(() => {
        aborted = true;
      });
    });
    try {
      const c = await Client.open(server.port);
      c.send(GET('/never'));
      await delay(30);
      const start = performance.now();
      await server.engine.drain(150);
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1000, `drain took ${elapsed} ms`);
      await c.waitClosed(1000);
      await delay(10);
      assert.ok(aborted);
    } finally {
      await server.close();
    }
  });
});
