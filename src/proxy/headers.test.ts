import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Headers } from '../http/headers.ts';
import { connectionNamed } from '../http/semantics/hop-by-hop.ts';
import type { ParsedHead, Request } from '../http/types.ts';
import {
  buildRequestHead,
  copyResponseHead,
  REQUEST_SKIP,
  RESPONSE_SKIP,
  requestSkipped,
  responseSkipped,
} from './headers.ts';

function headers(pairs: Array<[string, string]>): Headers {
  const h = new Headers();
  for (const [name, value] of pairs) h.add(name, value);
  return h;
}

function request(pairs: Array<[string, string]>, versionMinor: 0 | 1 = 1): Request {
  return {
    method: 'GET',
    target: '/a?b=c',
    path: '/a',
    query: 'b=c',
    versionMinor,
    headers: headers(pairs),
    host: 'example.com',
    body: null,
    trailers: null,
    keepAlive: true,
    connection: {
      id: 1,
      remoteAddress: '192.0.2.9',
      remotePort: 5000,
      localAddress: '127.0.0.1',
      localPort: 80,
      requestCount: 1,
    },
    startTime: 0,
  };
}

const OPTIONS = {
  host: 'example.com',
  via: 'tamarin',
  framing: 'none',
  expectContinue: false,
  close: false,
} as const;

test('request head: hop-by-hop and Connection-named fields dropped, forwarding fields added', () => {
  const head = buildRequestHead(
    request([
      ['Host', 'example.com'],
      ['Connection', 'keep-alive, X-Secret'],
      ['X-Secret', 'hop only'],
      ['Keep-Alive', 'timeout=5'],
      ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
      ['TE', 'trailers'],
      ['Upgrade', 'h2c'],
      ['Accept', 'text/html'],
      ['X-Forwarded-For', '203.0.113.1'],
      ['X-Forwarded-Proto', 'https'],
      ['Via', '1.0 fred'],
      ['Cookie', 'a=1'],
      ['Cookie', 'b=2'],
    ]),
    OPTIONS,
  );
  assert.equal(
    head,
    'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\nCookie: a=1\r\nCookie: b=2\r\n' +
      'X-Forwarded-For: 203.0.113.1, 192.0.2.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: example.com\r\n' +
      'Via: 1.0 fred, 1.1 tamarin\r\n\r\n',
  );
});

test('request head: framing is ours (length kept, chunked redone), Expect and close on request', () => {
  const req = request(
    [
      ['Host', 'h'],
      ['Content-Length', '12'],
      ['Expect', '100-continue'],
    ],
    0,
  );
  const head = buildRequestHead(req, {
    ...OPTIONS,
    host: 'backend:81',
    framing: 'length',
    expectContinue: true,
    close: true,
  });
  assert.match(head, /^GET \/a\?b=c HTTP\/1\.1\r\nHost: backend:81\r\n/);
  assert.match(head, /\r\nVia: 1\.0 tamarin\r\n/);
  assert.match(head, /\r\nContent-Length: 12\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n$/);
  const chunked = buildRequestHead(
    request([
      ['Host', 'h'],
      ['Transfer-Encoding', 'chunked'],
      ['Trailer', 'X-Checksum'],
    ]),
    { ...OPTIONS, framing: 'chunked' },
  );
  assert.match(chunked, /\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n$/);
  assert.equal(chunked.match(/Transfer-Encoding/g)?.length, 1);
});

test('response head: end-to-end fields copied (repeats kept), hop-by-hop dropped, Via appended', () => {
  const set: Array<[string, unknown]> = [];
  const store = new Map<string, unknown>();
  const res = {
    statusCode: 0,
    statusMessage: '',
    getHeader: (n: string) => store.get(n.toLowerCase()),
    setHeader(n: string, v: unknown) {
      store.set(n.toLowerCase(), v);
      set.push([n, v]);
      return res;
    },
  };
  const head: ParsedHead = {
    method: '',
    target: '',
    status: 404,
    reason: 'Nope',
    versionMinor: 1,
    headers: headers([
      ['Content-Type', 'text/plain'],
      ['Connection', 'X-Internal'],
      ['X-Internal', 'secret'],
      ['Keep-Alive', 'timeout=5'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['Content-Length', '4'],
      ['Via', '1.1 origin'],
    ]),
    contentLength: 4,
    chunked: false,
    keepAlive: true,
    expectContinue: false,
    upgrade: false,
  };
  copyResponseHead(head, res as never, '1.1 tamarin');
  assert.equal(res.statusCode, 404);
  assert.equal(res.statusMessage, 'Nope');
  assert.deepEqual(Object.fromEntries(store), {
    'content-type': 'text/plain',
    'set-cookie': ['a=1', 'b=2'],
    'content-length': 4,
    via: '1.1 origin, 1.1 tamarin',
  });
  // The standard phrase is left to the engine's cached status line (same bytes on the wire).
  copyResponseHead({ ...head, reason: 'Not Found' }, res as never, '1.1 tamarin');
  assert.equal(res.statusMessage, '');
  copyResponseHead({ ...head, status: 200, reason: 'Fine' }, res as never, '1.1 tamarin');
  assert.equal(res.statusMessage, 'Fine');
});

test('Connection: the usual keep-alive / close name no field; anything longer is split', () => {
  const named = (value: string) => connectionNamed(Headers.from([['Connection', value]]));
  assert.equal(named('keep-alive'), null);
  assert.equal(named('Keep-Alive'), null);
  assert.equal(named('CLOSE'), null);
  assert.deepEqual(named('X-Foo'), ['x-foo']);
  assert.deepEqual(named('close, X-Foo'), ['x-foo']);
  assert.deepEqual(named('keep-alive , Upgrade'), ['upgrade']);
  assert.equal(connectionNamed(new Headers()), null);
});

test('request head: Via follows the route pseudonym and the received version, alternating routes', () => {
  for (const [via, minor, line] of [
    ['edge', 1, 'Via: 1.1 edge'],
    ['tamarin', 1, 'Via: 1.1 tamarin'],
    ['edge', 0, 'Via: 1.0 edge'],
    ['tamarin', 0, 'Via: 1.0 tamarin'],
  ] as const) {
    const head = buildRequestHead(request([['Host', 'h']], minor), { ...OPTIONS, via });
    assert.match(head, new RegExp(`\\r\\n${line}\\r\\n`));
  }
});

test('the length-switch skip checks agree with the skip sets', () => {
  const others = [
    'date',
    'server',
    'content-type',
    'cache-control',
    'etag',
    'set-cookie',
    'user-agent',
    'accept',
    'accept-encoding',
    'x-request-id',
    'content-encoding',
    'last-modified',
    'x-forwarded-port',
    'ta',
    'vis',
    'trailers',
    'upgrades',
    'connectio',
    'keep-alive2',
    'content-lengtH',
    'x-forwarded-prot',
    'hosts',
    '',
  ];
  for (const name of [...REQUEST_SKIP, ...RESPONSE_SKIP, ...others]) {
    assert.equal(responseSkipped(name), RESPONSE_SKIP.has(name), `response: ${name}`);
    assert.equal(requestSkipped(name), REQUEST_SKIP.has(name), `request: ${name}`);
  }
});
