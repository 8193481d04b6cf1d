/**
 * The proxy over real sockets: routing, distribution per balancer, header rewriting both ways,
 * keep-alive reuse, request bodies (sized, chunked with trailers, 100-continue) and loop protection.
 */
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import type { RunningServer } from '../src/main/compose.ts';
import {
  captureLogs,
  type FakeBackend,
  fetchText,
  sleep,
  startFakeBackend,
  startProxy,
} from './helpers/fake-backend.ts';

const backends: FakeBackend[] = [];

async function three(): Promise<FakeBackend[]> {
  const list = await Promise.all(['a', 'b', 'c'].map((name) => startFakeBackend({ name })));
  backends.push(...list);
  return list;
}

after(async () => {
  await Promise.all(backends.map((b) => b.stop()));
});

/** Which backend answered each of `n` GETs of `path(i)`. */
async function who(server: RunningServer, n: number, path: (i: number) => string): Promise<string> {
  let out = '';
  for (let i = 0; i < n; i++) {
    const res = await fetchText(server.url + path(i));
    assert.equal(res.status, 200);
    out += res.headers['x-backend'];
  }
  return out;
}

describe('distribution per balancer', () => {
  const cases: Array<[string, (seq: string) => void]> = [
    ['round-robin', (seq) => assert.equal(seq, 'abcabcabc')],
    ['naive', (seq) => assert.equal(seq, 'abcabcabc')],
    ['first-alive', (seq) => assert.equal(seq, 'aaaaaaaaa')],
    [
      'least-connections',
      (seq) => assert.deepEqual([...new Set(seq)].sort(), ['a', 'b', 'c']), // idle pool: ties rotate
    ],
    ['two-choices', (seq) => assert.ok(new Set(seq).size >= 2, seq)], // idle pool: random pairs
    ['hash-ip', (seq) => assert.equal(new Set(seq).size, 1)], // one client address
  ];
  for (const [balancer, check] of cases) {
    test(balancer, async () => {
      const [a, b, c] = await three();
      const server = await startProxy({
        routes: [{ match: '^/', balancer, backends: [{ url: a!.url, weight: 4 }, b!.url, c!.url] }],
      });
      try {
        check(await who(server, 9, (i) => `/item/${i}`));
      } finally {
        await server.close();
      }
    });
  }

  test('weighted-round-robin follows weights 4:1:1', async () => {
    const [a, b, c] = await three();
    const server = await startProxy({
      routes: [
        {
          match: '^/',
          balancer: 'weighted-round-robin',
          backends: [{ url: a!.url, weight: 4 }, b!.url, c!.url],
        },
      ],
    });
    try {
      const seq = await who(server, 12, () => '/');
      assert.equal(seq.split('a').length - 1, 8);
      assert.equal(seq.split('b').length - 1, 2);
      assert.equal(seq.split('c').length - 1, 2);
    } finally {
      await server.close();
    }
  });

  test('hash-url keeps each URL on one backend and spreads URLs', async () => {
    const [a, b, c] = await three();
    const server = await startProxy({
      routes: [{ match: '^/', balancer: 'hash-url', backends: [a!.url, b!.url, c!.url] }],
    });
    try {
      const first = await who(server, 30, (i) => `/obj/${i}`);
      const again = await who(server, 30, (i) => `/obj/${i}`);
      assert.equal(again, first);
      assert.equal(new Set(first).size, 3);
    } finally {
      await server.close();
    }
  });
});

describe('routing and forwarding', () => {
  let a: FakeBackend;
  let b: FakeBackend;
  let server: RunningServer;
  before(async () => {
    const list = await three();
    a = list[0]!;
    b = list[1]!;
    server = await startProxy({
      routes: [
        { match: '^/api/', host: 'api.example', backends: [b.url], host_header: 'backend' },
        { match: ['^/api/', '^/v2/'], backends: [a.url] },
        { match: '^/literal/', backends: [a.url], host_header: 'internal.example' },
      ],
    });
  });
  after(() => server.close());

  test('first matching route wins, host-specific routes only for their host; unmatched falls through', async () => {
    assert.equal(
      (await fetchText(`${server.url}/api/x`, { headers: { host: 'api.example' } })).headers['x-backend'],
      'b',
    );
    assert.equal(
      (await fetchText(`${server.url}/api/x`, { headers: { host: 'other.example' } })).headers['x-backend'],
      'a',
    );
    assert.equal((await fetchText(`${server.url}/v2/x`)).headers['x-backend'], 'a');
    const miss = await fetchText(`${server.url}/static/x`);
    assert.equal(miss.status, 404);
    assert.equal(miss.headers['x-backend'], undefined);
  });

  test('Host passed through (normalised), rewritten to the backend, or set to a literal', async () => {
    const passed = JSON.parse(
      (await fetchText(`${server.url}/v2/h`, { headers: { host: 'WWW.example.:8080' } })).body,
    );
    assert.equal(passed.headers.host, 'www.example');
    const rewritten = JSON.parse(
      (await fetchText(`${server.url}/api/h`, { headers: { host: 'api.example' } })).body,
    );
    assert.equal(rewritten.headers.host, `127.0.0.1:${b.port}`);
    const literal = JSON.parse((await fetchText(`${server.url}/literal/h`)).body);
    assert.equal(literal.headers.host, 'internal.example');
  });

  test('request headers: hop-by-hop removed, X-Forwarded-* and Via added, end-to-end kept', async () => {
    const res = await fetchText(`${server.url}/v2/headers?q=1`, {
      headers: {
        host: 'site.example',
        connection: 'keep-alive, x-hop',
        'x-hop': 'secret',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        via: '1.1 edge',
        'x-custom': 'kept',
      },
    });
    const seen = JSON.parse(res.body);
    assert.equal(seen.url, '/v2/headers?q=1');
    for (const name of ['x-hop', 'keep-alive', 'proxy-authorization', 'te'])
      assert.equal(seen.headers[name], undefined, name);
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], 'site.example');
    assert.equal(seen.headers.via, '1.1 edge, 1.1 tamarin');
  });

  test('response headers: status, reason, repeated fields kept; hop-by-hop removed; Via added', async () => {
    const backend = await startFakeBackend({
      handler: (_req, res) => {
        res.writeHead(418, 'Short And Stout', [
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
          ['Connection', 'x-internal'],
          ['X-Internal', 'hop'],
          ['Keep-Alive', 'timeout=1'],
          ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'],
          ['Content-Length', '3'],
        ]);
        res.end('tea');
        return true;
      },
    });
    backends.push(backend);
    const proxy = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
    try {
      const bytes = await rawRequest(proxy.port, 'GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const [res] = parseResponses(bytes);
      assert.equal(res!.status, 418);
      assert.equal(res!.reason, 'Short And Stout');
      assert.match(res!.head, /\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n/);
      assert.equal(res!.headers['x-internal'], undefined);
      assert.equal(res!.headers['keep-alive'], undefined);
      assert.equal(res!.headers.date, 'Mon, 01 Jan 2024 00:00:00 GMT', 'the origin Date is kept');
      assert.equal(res!.headers.via, '1.1 tamarin');
      assert.equal(res!.body.toString(), 'tea');
    } finally {
      await proxy.close();
    }
  });

  test('keep-alive: many requests share one upstream connection', async () => {
    const before = a.connections;
    for (let i = 0; i < 20; i++) assert.equal((await fetchText(`${server.url}/v2/k${i}`)).status, 200);
    assert.ok(a.connections - before <= 1, `opened ${a.connections - before} connections`);
  });

  test('CONNECT is refused with 501 instead of opening a tunnel, even by a catch-all route', async () => {
    const all = await startProxy({ routes: [{ match: '', backends: [a.url] }] });
    try {
      const bytes = await rawRequest(
        all.port,
        'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
        {
          timeoutMs: 800,
        },
      );
      assert.match(bytes.toString('latin1'), /^HTTP\/1\.1 501 /);
      assert.equal(a.seen.filter((r) => r.method === 'CONNECT').length, 0);
    } finally {
      await all.close();
    }
  });

  test('idle upstream connections close after idle_timeout, whichever timeout is shorter', async () => {
    const open = async (proxy: RunningServer) => {
      const [first] = await proxy.control('proxy', 'backends');
      return (first!.result as Array<{ backends: Array<{ openConnections: number }> }>)[0]!.backends[0]!
        .openConnections;
    };
    for (const [response, idle, checkAt, closedBy] of [
      ['5s', '150ms', 60, 450],
      ['100ms', '400ms', 250, 800],
    ] as const) {
      const proxy = await startProxy({
        routes: [{ match: '^/', backends: [a.url], response_timeout: response, idle_timeout: idle }],
      });
      try {
        assert.equal((await fetchText(`${proxy.url}/idle`)).status, 200);
        await sleep(checkAt);
        assert.equal(await open(proxy), 1, `still pooled after ${checkAt} ms (idle_timeout ${idle})`);
        await sleep(closedBy - checkAt);
        assert.equal(await open(proxy), 0, `closed by ${closedBy} ms (idle_timeout ${idle})`);
        assert.equal((await fetchText(`${proxy.url}/again`)).status, 200, 'a new connection is opened');
      } finally {
        await proxy.close();
      }
    }
  });

  test('HEAD keeps the GET length without a body; 304 has no body', async () => {
    const backend = await startFakeBackend({
      handler: (req, res) => {
        if (req.url === '/cond') res.writeHead(304, { ETag: '"v1"' }).end();
        else res.writeHead(200, { 'Content-Length': '1234', 'Content-Type': 'text/plain' }).end();
        return true;
      },
    });
    backends.push(backend);
    const proxy = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
    try {
      const bytes = await rawRequest(
        proxy.port,
        'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /cond HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\n\r\n' +
          'HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const parts = bytes.toString('latin1').split(/(?=HTTP\/1\.1 )/);
      assert.equal(parts.length, 3, 'three responses and nothing else');
      assert.match(parts[0]!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nContent-Length: 1234\r\n[\s\S]*\r\n\r\n$/);
      assert.match(parts[1]!, /^HTTP\/1\.1 304 Not Modified\r\n[\s\S]*ETag: "v1"\r\n[\s\S]*\r\n\r\n$/);
    } finally {
      await proxy.close();
    }
  });

  test('request bodies: sized and chunked (with trailers) reach the backend intact', async () => {
    const sized = JSON.parse(
      (await fetchText(`${server.url}/v2/up`, { method: 'POST', body: 'x'.repeat(5000) })).body,
    );
    assert.equal(sized.bodyBytes, 5000);
    assert.equal(sized.headers['content-length'], '5000');
    const bytes = await rawRequest(
      server.port,
      'POST /v2/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n',
    );
    const seen = JSON.parse(parseResponses(bytes)[0]!.body.toString());
    assert.equal(seen.bodyBytes, 11);
    assert.equal(seen.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(seen.trailers, { 'x-sum': '42' });
  });
});

describe('Expect: 100-continue', () => {
  test('the client gets 100 Continue once the backend asks for the body', async () => {
    const backend = await startFakeBackend({ name: 'cont' });
    backends.push(backend);
    const server = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1');
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.startsWith('HTTP/1.1 100') && !text.includes('hello')) socket.write('hello');
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.write(
          'PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
        );
      });
      assert.match(reply, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
      assert.equal(JSON.parse(reply.slice(reply.indexOf('{'))).bodyBytes, 5);
      assert.equal(backend.seen.at(-1)!.headers.expect, '100-continue');
    } finally {
      await server.close();
    }
  });

  test('a backend that refuses the body answers without the client ever sending it', async () => {
    const backend = await startFakeBackend({
      handler: (_req, res) => {
        res.writeHead(413, { 'Content-Length': '8' });
        res.end('too big\n');
        return true;
      },
    });
    backends.push(backend);
    const server = await startProxy({ routes: [{ match: '^/', backends: [backend.url] }] });
    try {
      const bytes = await rawRequest(
        server.port,
        'PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n',
        { timeoutMs: 800 },
      );
      const text = bytes.toString();
      assert.match(text, /^HTTP\/1\.1 413 /);
      assert.doesNotMatch(text, /100 Continue/);
    } finally {
      await server.close();
    }
  });
});

describe('loop protection', () => {
  test('a route pointing at the proxy itself answers 508 and is warned about at start', async () => {
    const port = await freePort();
    const logs = captureLogs();
    let server: RunningServer | undefined;
    try {
      server = await startProxy(
        { routes: [{ match: '^/', backends: [`http://127.0.0.1:${port}`] }] },
        { port },
      );
      assert.ok(
        logs.lines.some((l) => /own listener/.test(l)),
        `no warning in ${JSON.stringify(logs.lines)}`,
      );
      const res = await fetchText(`${server.url}/loop`);
      assert.equal(res.status, 508);
      assert.match(res.body, /loop detected/);
    } finally {
      logs.restore();
      await server?.close();
    }
  });

  test('a request already carrying our Via token is refused, other Via entries are fine', async () => {
    const [a] = await three();
    const server = await startProxy({ via: 'edge-1', routes: [{ match: '^/', backends: [a!.url] }] });
    try {
      assert.equal(
        (await fetchText(`${server.url}/`, { headers: { via: '1.1 cdn, 1.1 EDGE-1' } })).status,
        508,
      );
      assert.equal((await fetchText(`${server.url}/`, { headers: { via: '1.1 edge-2' } })).status, 200);
    } finally {
      await server.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
