/**
 * The engine over real sockets: keep-alive, pipelining, framing, HEAD/304, errors, prebuilt responses.
 * Timeouts, bodies, backpressure and drain are in http-engine-conn.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import type { Request, Response } from '../src/http/types.ts';
import { Client, delay, serve, type TestServer } from './http-engine-helpers.ts';

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe('keep-alive and pipelining', () => {
  let server: TestServer;
  before(async () => {
    server = await serve((req, res) => {
      const wait = Number(new URLSearchParams(req.query).get('wait') ?? 0);
      const answer = () => res.end(`path=${req.path}`);
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
  });
  after(() => server.close());

  it('keeps an HTTP/1.1 connection open across requests', async () => {
    const c = await Client.open(server.port);
    c.send(GET('/one'));
    const [first] = await c.responses(1);
    assert.equal(first!.status, 200);
    assert.equal(first!.headers.connection, undefined);
    assert.equal(first!.body.toString(), 'path=/one');
    c.send(GET('/two'));
    const all = await c.responses(2);
    assert.equal(all[1]!.body.toString(), 'path=/two');
    assert.equal(c.closed, false);
    c.destroy();
  });

  it('closes an HTTP/1.0 connection after the response', async () => {
    const buf = await rawRequest(server.port, 'GET /old HTTP/1.0\r\n\r\n');
    const [res] = parseResponses(buf);
    assert.equal(res!.status, 200);
    assert.equal(res!.headers.connection, 'close');
    assert.equal(res!.body.toString(), 'path=/old');
  });

  it('keeps HTTP/1.0 alive with Connection: keep-alive, saying so explicitly', async () => {
    const c = await Client.open(server.port);
    c.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const [first] = await c.responses(1);
    assert.equal(first!.headers.connection, 'keep-alive');
    assert.equal(first!.headers['content-length'], '7');
    c.send('GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const all = await c.responses(2);
    assert.equal(all[1]!.body.toString(), 'path=/b');
    assert.equal(c.closed, false);
    c.destroy();
  });

  it('answers pipelined requests in order even when a later one finishes first', async () => {
    const buf = await rawRequest(
      server.port,
      GET('/1?wait=80') + GET('/2') + GET('/3?wait=30', 'Connection: close\r\n'),
    );
    const responses = parseResponses(buf);
    assert.deepEqual(
      responses.map((r) => r.body.toString()),
      ['path=/1', 'path=/2', 'path=/3'],
    );
    assert.equal(responses[2]!.headers.connection, 'close');
  });

  it('closes after a request with Connection: close and ignores what follows', async () => {
    const buf = await rawRequest(server.port, GET('/a', 'Connection: close\r\n') + GET('/ignored'));
    const responses = parseResponses(buf);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.body.toString(), 'path=/a');
  });
});

describe('limits on requests per connection', () => {
  it('answers the last allowed request with Connection: close', async () => {
    const server = await serve((_req, res) => res.end('ok'), { maxRequestsPerConnection: 2 });
    try {
      const buf = await rawRequest(server.port, GET('/1') + GET('/2') + GET('/3'));
      const responses = parseResponses(buf);
      assert.equal(responses.length, 2);
      assert.equal(responses[0]!.headers.connection, undefined);
      assert.equal(responses[1]!.headers.connection, 'close');
    } finally {
      await server.close();
    }
  });
});

describe('response framing', () => {
  let server: TestServer;
  const handlers: Record<string, (req: Request, res: Response) => void> = {
    '/chunked': (_req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.write('a');
      res.write(Buffer.from('bb'));
      res.write('');
      res.end('ccc');
    },
    '/fixed': (_req, res) => res.end('hello'),
    '/declared': (_req, res) => {
      res.setHeader('Content-Length', 4);
      res.write('ab');
      res.end('cd');
    },
    '/304': (_req, res) => {
      res.statusCode = 304;
      res.setHeader('ETag', '"x"');
      res.end('must not be sent');
    },
    '/204': (_req, res) => {
      res.writeHead(204).end();
    },
    '/reason': (_req, res) => res.writeHead(299, 'Custom Thing').end('x'),
    '/date': (_req, res) => {
      res.setHeader('Date', 'Mon, 01 Jan 2024 00:00:00 GMT');
      res.end();
    },
    '/multi': (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end();
    },
    '/big': (_req, res) => res.end(Buffer.alloc(100_000, 0x61)),
    '/throw': () => {
      throw new Error('boom');
    },
    '/reject': async () => {
      await delay(5);
      throw new Error('async boom');
    },
    '/throw-late': (_req, res) => {
      res.write('partial');
      throw new Error('late boom');
    },
    '/prebuilt': (_req, res) => {
      res.sendPrebuilt(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pre: 1\r\n\r\npre'));
    },
    '/destroy': (_req, res) => {
      res.write('x');
      res.destroy();
    },
    '/bad-header': (_req, res) => {
      try {
        res.setHeader('X-Evil', 'a\r\nInjected: yes');
      } catch {
        res.statusCode = 418;
      }
      res.end();
    },
  };
  const errors: unknown[] = [];
  before(async () => {
    server = await serve((req, res) => handlers[req.path]!(req, res), {
      hooks: { onError: (err) => errors.push(err) },
    });
  });
  after(() => server.close());

  it('streams chunked on HTTP/1.1 when the length is unknown', async () => {
    const [res] = parseResponses(await rawRequest(server.port, GET('/chunked', 'Connection: close\r\n')));
    assert.equal(res!.headers['transfer-encoding'], 'chunked');
    assert.equal(res!.headers['content-length'], undefined);
    assert.equal(res!.body.toString(), 'abbccc');
  });

  it('is close-delimited on HTTP/1.0 when the length is unknown', async () => {
    const buf = await rawRequest(server.port, 'GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const [res] = parseResponses(buf);
    assert.equal(res!.headers['transfer-encoding'], undefined);
    assert.equal(res!.headers.connection, 'close');
    assert.equal(res!.body.toString(), 'abbccc');
  });

  it('sends Content-Length for end(body) and a declared length', async () => {
    const responses = parseResponses(
      await rawRequest(server.port, GET('/fixed') + GET('/declared') + GET('/big', 'Connection: close\r\n')),
    );
    assert.equal(responses[0]!.headers['content-length'], '5');
    assert.equal(responses[1]!.headers['content-length'], '4');
    assert.equal(responses[1]!.body.toString(), 'abcd');
    assert.equal(responses[2]!.body.length, 100_000);
    assert.match(responses[0]!.headers.date!, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
  });

  it('answers HEAD with the GET length and no body, keeping the stream in sync', async () => {
    const buf = await rawRequest(
      server.port,
      'HEAD /fixed HTTP/1.1\r\nHost: t\r\n\r\nHEAD /chunked HTTP/1.1\r\nHost: t\r\n\r\n' +
        GET('/fixed', 'Connection: close\r\n'),
    );
    const responses = parseResponses(buf, { methods: ['HEAD', 'HEAD', 'GET'] });
    assert.equal(responses.length, 3);
    assert.equal(responses[0]!.headers['content-length'], '5');
    assert.equal(responses[0]!.body.length, 0);
    assert.equal(responses[1]!.headers['transfer-encoding'], 'chunked');
    assert.equal(responses[2]!.body.toString(), 'hello');
  });

  it('sends no body and no framing on 304 and 204', async () => {
    const buf = await rawRequest(
      server.port,
      GET('/304') + GET('/204') + GET('/fixed', 'Connection: close\r\n'),
    );
    assert.ok(!buf.includes('must not be sent'));
    const responses = parseResponses(buf);
    assert.equal(responses[0]!.status, 304);
    assert.equal(responses[0]!.headers.etag, '"x"');
    assert.equal(responses[0]!.headers['content-length'], undefined);
    assert.equal(responses[0]!.headers['transfer-encoding'], undefined);
    assert.equal(responses[1]!.status, 204);
    assert.equal(responses[1]!.headers['content-length'], undefined);
    assert.equal(responses[2]!.body.toString(), 'hello');
  });

  it('keeps custom reasons, user Date, repeated fields, and refuses header injection', async () => {
    const buf = await rawRequest(
      server.port,
      GET('/reason') + GET('/date') + GET('/multi') + GET('/bad-header', 'Connection: close\r\n'),
    );
    const responses = parseResponses(buf);
    assert.equal(responses[0]!.status, 299);
    assert.equal(responses[0]!.reason, 'Custom Thing');
    assert.equal(responses[1]!.headers.date, 'Mon, 01 Jan 2024 00:00:00 GMT');
    assert.equal(responses[2]!.headers['set-cookie'], 'a=1, b=2');
    assert.equal(responses[3]!.status, 418);
    assert.ok(!buf.includes('Injected'));
  });

  it('sends a prebuilt response as is, and closes after it when asked', async () => {
    const buf = await rawRequest(server.port, GET('/prebuilt') + GET('/prebuilt', 'Connection: close\r\n'));
    const responses = parseResponses(buf);
    assert.equal(responses.length, 2);
    assert.equal(responses[0]!.headers['x-pre'], '1');
    assert.equal(responses[1]!.body.toString(), 'pre');
  });

  it('answers 500 when a handler throws or rejects before sending, and destroys after', async () => {
    errors.length = 0;
    const buf = await rawRequest(server.port, GET('/throw') + GET('/reject'));
    const responses = parseResponses(buf);
    assert.equal(responses[0]!.status, 500);
    assert.equal(responses[0]!.headers.connection, 'close');
    assert.equal(responses.length, 1, 'the connection closes after a 500');
    const late = await rawRequest(server.port, GET('/throw-late'));
    assert.match(late.toString('latin1'), /^HTTP\/1\.1 200 OK/);
    assert.ok(
      !late.toString('latin1').includes('\r\n0\r\n\r\n'),
      'a broken chunked body is never terminated',
    );
    const rejected = parseResponses(await rawRequest(server.port, GET('/reject')));
    assert.equal(rejected[0]!.status, 500);
    assert.equal(errors.length, 3);
  });

  it('destroy() cuts the connection without a clean end', async () => {
    const buf = await rawRequest(server.port, GET('/destroy'));
    assert.match(buf.toString('latin1'), /Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n$/);
  });
});

describe('parse errors', () => {
  let server: TestServer;
  before(async () => {
    server = await serve((_req, res) => res.end('ok'));
  });
  after(() => server.close());

  it('answers the parser status with a short text body and Connection: close', async () => {
    const buf = await rawRequest(
      server.port,
      'GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    );
    const [res] = parseResponses(buf);
    assert.equal(res!.status, 400);
    assert.equal(res!.headers.connection, 'close');
    assert.equal(res!.headers['content-type'], 'text/plain; charset=utf-8');
    assert.match(res!.body.toString(), /^400 .*Content-Length/i);
  });

  it('answers earlier pipelined requests first, then the error', async () => {
    const buf = await rawRequest(server.port, GET('/ok') + 'BAD\r\n\r\n');
    const responses = parseResponses(buf);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 400],
    );
  });

  it('answers an Upgrade request normally, never parses the bytes after it, and closes', async () => {
    const buf = await rawRequest(
      server.port,
      'GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello GET /x HTTP/1.1\r\n\r\n',
    );
    const responses = parseResponses(buf);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.status, 200);
    assert.equal(responses[0]!.headers.connection, 'close');
  });

  it('maps limits to their statuses (431, 501, 413)', async () => {
    const big = 'GET / HTTP/1.1\r\nHost: t\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\n\r\n';
    assert.equal(parseResponses(await rawRequest(server.port, big))[0]!.status, 431);
    assert.equal(
      parseResponses(await rawRequest(server.port, 'FOO / HTTP/1.1\r\nHost: t\r\n\r\n'))[0]!.status,
      501,
    );
    const huge = 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999999\r\n\r\n';
    assert.equal(parseResponses(await rawRequest(server.port, huge))[0]!.status, 413);
  });
});
