/**
 * The HTTP cache over real sockets, one table of cases per RFC 9111 section: each case scripts a fake
 * origin, then runs requests at controlled times (the cache's clock is moved, nothing sleeps for a TTL)
 * and checks what a client sees (status, body, Age, Cache-Status, fields) and how often the origin was
 * asked.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import {
  answer,
  Clock,
  closeAgent,
  FakeOrigin,
  type Got,
  get,
  type OriginHandler,
  startRig,
} from './helpers/fake-origin.ts';

after(() => closeAgent());

interface Step {
  /** Seconds to move the clock before the request. */
  at?: number;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  expect: {
    status?: number;
    /** Pattern the Cache-Status field must match. */
    cs?: RegExp;
    /** Origin requests so far. */
    hits?: number;
    body?: string;
    age?: string;
    /** Fields that must have this value (null: absent). */
    fields?: Record<string, string | null>;
    /** What the origin received last (lower-case field → value, null: absent). */
    sent?: Record<string, string | null>;
  };
}

interface Case {
  name: string;
  origin: OriginHandler;
  route?: Record<string, unknown>;
  steps: Step[];
}

async function run(c: Case): Promise<void> {
  const clock = new Clock();
  const origin = await new FakeOrigin(clock, c.origin).start();
  const rig = await startRig(clock, [origin.url], c.route ?? { cache: true });
  try {
    for (const [i, step] of c.steps.entries()) {
      clock.tick(step.at ?? 0);
      const got: Got = await get(rig.port, step.path ?? '/r', step.headers, step.method, step.body);
      const where = `step ${i + 1}`;
      const e = step.expect;
      if (e.status !== undefined) assert.equal(got.status, e.status, `${where}: status`);
      if (e.cs !== undefined)
        assert.match(String(got.headers['cache-status']), e.cs, `${where}: Cache-Status`);
      if (e.body !== undefined) assert.equal(got.body, e.body, `${where}: body`);
      if (e.age !== undefined) assert.equal(got.headers.age, e.age, `${where}: Age`);
      if (e.hits !== undefined) assert.equal(origin.hits, e.hits, `${where}: origin requests`);
      for (const [name, value] of Object.entries(e.fields ?? {})) {
        const actual = got.headers[name];
        if (value === null) assert.equal(actual, undefined, `${where}: ${name} absent`);
        else assert.equal(String(actual), value, `${where}: ${name}`);
      }
      for (const [name, value] of Object.entries(e.sent ?? {})) {
        const actual = origin.seen.at(-1)?.headers[name];
        if (value === null) assert.equal(actual, undefined, `${where}: origin got no ${name}`);
        else assert.equal(String(actual), value, `${where}: origin got ${name}`);
      }
    }
  } finally {
    await rig.close();
    await origin.stop();
  }
}

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const c of cases) test(c.name, () => run(c));
  });
}

const HIT = /^tamarin; hit$/;
const MISS_STORED = /fwd=(uri-)?miss; fwd-status=\d+; stored/;
const LM = 'Wed, 31 Dec 2025 23:43:20 GMT'; // 1000 s before the clock's start

/** An origin that answers 304 when the validator matches, else 200 with `fields`. */
function validating(
  fields: Record<string, string>,
  body = 'hello',
  notModified: Record<string, string> = {},
): OriginHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['if-none-match'] !== undefined && req.headers['if-none-match'] === fields.ETag) {
      res.writeHead(304, { ...fields, ...notModified });
      res.end();
      return;
    }
    res.writeHead(200, fields);
    res.end(body);
  };
}

table('§3 storing responses', [
  {
    name: 'a fresh 200 is stored and served with Age and Cache-Status: hit',
    origin: answer({ 'Cache-Control': 'max-age=60' }),
    steps: [
      { expect: { status: 200, cs: MISS_STORED, hits: 1, body: 'hello' } },
      { at: 7, expect: { status: 200, cs: HIT, hits: 1, body: 'hello', age: '7' } },
    ],
  },
  {
    name: '§5.2.2.5 no-store is never stored',
    origin: answer({ 'Cache-Control': 'no-store, max-age=60' }),
    steps: [
      { expect: { hits: 1, cs: /fwd=uri-miss; fwd-status=200; detail=no-store$/ } },
      { expect: { hits: 2 } },
    ],
  },
  {
    name: '§5.2.2.7 private is not stored by a shared cache',
    origin: answer({ 'Cache-Control': 'private, max-age=60' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
  {
    name: '§3.5 a response to an authenticated request needs public/s-maxage/must-revalidate',
    origin: (req, res) => {
      res.writeHead(200, { 'Cache-Control': req.url === '/pub' ? 'public, max-age=60' : 'max-age=60' });
      res.end('x');
    },
    steps: [
      { headers: { authorization: 'Basic YTpi' }, expect: { hits: 1 } },
      { headers: { authorization: 'Basic YTpi' }, expect: { hits: 2 } },
      { path: '/pub', headers: { authorization: 'Basic YTpi' }, expect: { hits: 3 } },
      { path: '/pub', expect: { hits: 3, cs: HIT } },
    ],
  },
  {
    name: 'Set-Cookie responses bypass the store by default',
    origin: answer({ 'Cache-Control': 'max-age=60', 'Set-Cookie': 'id=1' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2, fields: { 'set-cookie': 'id=1' } } }],
  },
  {
    name: 'set_cookie = "strip" stores the response without Set-Cookie',
    route: { cache: { set_cookie: 'strip' } },
    origin: answer({ 'Cache-Control': 'max-age=60', 'Set-Cookie': 'id=1' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 1, cs: HIT, fields: { 'set-cookie': null } } }],
  },
  {
    name: 'a 302 without explicit freshness is not stored; a 404 with max-age is',
    origin: (req, res) => {
      if (req.url === '/moved') res.writeHead(302, { Location: '/x' });
      else res.writeHead(404, { 'Cache-Control': 'max-age=60' });
      res.end();
    },
    steps: [
      { path: '/moved', expect: { status: 302, hits: 1 } },
      { path: '/moved', expect: { status: 302, hits: 2 } },
      { path: '/gone', expect: { status: 404, hits: 3 } },
      { path: '/gone', expect: { status: 404, hits: 3, cs: HIT } },
    ],
  },
  {
    name: 'default TTL is off: nothing the origin did not allow is stored',
    origin: answer({}),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
  {
    name: 'default_ttl, when configured, applies to responses without freshness information',
    route: { cache: { default_ttl: '30s' } },
    origin: answer({}),
    steps: [
      { expect: { hits: 1 } },
      { at: 29, expect: { hits: 1, cs: HIT } },
      { at: 2, expect: { hits: 2 } },
    ],
  },
  {
    name: 'hop-by-hop fields and the ones named in Connection are never stored',
    origin: answer({
      'Cache-Control': 'max-age=60',
      Connection: 'X-Hop',
      'X-Hop': 'secret',
      'X-Keep': 'yes',
    }),
    steps: [
      { expect: { hits: 1, fields: { 'x-hop': null } } },
      { expect: { hits: 1, cs: HIT, fields: { 'x-hop': null, 'x-keep': 'yes' } } },
    ],
  },
  {
    name: 'a body larger than max_object_size streams through whole and is not stored',
    route: { cache: { max_object_size: 4 } },
    origin: answer({ 'Cache-Control': 'max-age=60' }, 'larger than four bytes'),
    steps: [
      { expect: { hits: 1, body: 'larger than four bytes' } },
      { expect: { hits: 2, body: 'larger than four bytes' } },
    ],
  },
  {
    name: '§5.2.2.7 qualified private: stored without the named fields',
    origin: answer({ 'Cache-Control': 'max-age=60, private="X-User"', 'X-User': 'alice', 'X-Other': '1' }),
    steps: [
      { expect: { hits: 1, fields: { 'x-user': 'alice' } } },
      { expect: { hits: 1, cs: HIT, fields: { 'x-user': null, 'x-other': '1' } } },
    ],
  },
  {
    name: '§5.2.2.3 must-understand with a known status is stored despite no-store',
    origin: answer({ 'Cache-Control': 'max-age=60, must-understand, no-store' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 1, cs: HIT } }],
  },
  {
    name: 'allow_post: a POST answer with Content-Location = target answers later GETs',
    route: { cache: { allow_post: true } },
    origin: (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Content-Location': '/r' });
      res.end(`${req.method} answer`);
    },
    steps: [
      {
        method: 'POST',
        body: 'q',
        expect: { hits: 1, body: 'POST answer', cs: /fwd=method; fwd-status=200; stored/ },
      },
      { expect: { hits: 1, body: 'POST answer', cs: HIT } },
    ],
  },
  {
    name: 'POST answers are not stored by default',
    origin: answer({ 'Cache-Control': 'max-age=60', 'Content-Location': '/r' }),
    steps: [{ method: 'POST', body: 'q', expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
  {
    name: 'a HEAD miss is fetched as GET and fills the store',
    origin: answer({ 'Cache-Control': 'max-age=60' }, 'full body'),
    steps: [
      { method: 'HEAD', expect: { hits: 1, body: '', cs: MISS_STORED } },
      { expect: { hits: 1, body: 'full body', cs: HIT } },
    ],
  },
  {
    name: 'interim 1xx responses pass without breaking the exchange',
    origin: (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end('after hints');
    },
    steps: [
      { expect: { status: 200, hits: 1, body: 'after hints' } },
      { expect: { status: 200, hits: 1, body: 'after hints', cs: HIT } },
    ],
  },
]);

table('§4.2 freshness', [
  {
    name: '§4.2.1 s-maxage wins over max-age for a shared cache',
    origin: answer({ 'Cache-Control': 's-maxage=10, max-age=100', ETag: '"a"' }),
    steps: [{ expect: { hits: 1 } }, { at: 9, expect: { hits: 1, cs: HIT } }, { at: 2, expect: { hits: 2 } }],
  },
  {
    name: 'Expires is relative to Date',
    origin: (_req, res) => {
      res.writeHead(200, { Expires: new Date(Date.parse('2026-01-01T00:00:30Z')).toUTCString() });
      res.end('e');
    },
    steps: [
      { expect: { hits: 1 } },
      { at: 29, expect: { hits: 1, cs: HIT } },
      { at: 2, expect: { hits: 2 } },
    ],
  },
  {
    name: '§5.3 an invalid Expires means already stale (validated every time)',
    origin: validating({ Expires: '0', ETag: '"v"' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2, cs: /fwd=stale; fwd-status=304/, body: 'hello' } }],
  },
  {
    name: '§4.2.3 an Age received from upstream counts against freshness',
    origin: answer({ 'Cache-Control': 'max-age=60', Age: '50', ETag: '"a"' }),
    steps: [
      { expect: { hits: 1 } },
      { at: 5, expect: { hits: 1, cs: HIT, age: '55' } },
      { at: 6, expect: { hits: 2 } },
    ],
  },
  {
    name: '§4.2.3 apparent age: a Date 100 s old makes max-age=60 stale on arrival',
    origin: (_req, res) => {
      res.writeHead(200, {
        'Cache-Control': 'max-age=60',
        ETag: '"a"',
        Date: new Date(Date.parse('2026-01-01T00:00:00Z') - 100_000).toUTCString(),
      });
      res.end('old');
    },
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2, cs: /fwd=stale/ } }],
  },
  {
    name: '§4.2.2 heuristic freshness: 10% of the time since Last-Modified',
    origin: answer({ 'Last-Modified': LM }),
    steps: [
      { expect: { hits: 1 } },
      { at: 99, expect: { hits: 1, cs: HIT, age: '99' } },
      { at: 2, expect: { hits: 2, cs: /fwd=stale/ } },
    ],
  },
  {
    name: 'heuristic = false: Last-Modified alone gives no freshness',
    route: { cache: { heuristic: false } },
    origin: answer({ 'Last-Modified': LM }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
]);

table('§5.2.1 request directives', [
  {
    name: 'no-cache makes the cache validate',
    origin: validating({ 'Cache-Control': 'max-age=60', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      {
        headers: { 'cache-control': 'no-cache' },
        expect: { hits: 2, cs: /fwd=request; fwd-status=304/, sent: { 'if-none-match': '"v"' } },
      },
    ],
  },
  {
    name: '§5.4 Pragma: no-cache without Cache-Control',
    origin: validating({ 'Cache-Control': 'max-age=60', ETag: '"v"' }),
    steps: [{ expect: { hits: 1 } }, { headers: { pragma: 'no-cache' }, expect: { hits: 2 } }],
  },
  {
    name: 'max-age=0 validates, max-age=20 accepts a 10 s old response',
    origin: validating({ 'Cache-Control': 'max-age=60', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      { at: 10, headers: { 'cache-control': 'max-age=20' }, expect: { hits: 1, cs: /hit/ } },
      { headers: { 'cache-control': 'max-age=0' }, expect: { hits: 2 } },
    ],
  },
  {
    name: 'min-fresh asks for remaining freshness',
    origin: validating({ 'Cache-Control': 'max-age=60', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      { at: 30, headers: { 'cache-control': 'min-fresh=20' }, expect: { hits: 1 } },
      { headers: { 'cache-control': 'min-fresh=40' }, expect: { hits: 2 } },
    ],
  },
  {
    name: 'max-stale accepts a stale response without asking the origin',
    origin: answer({ 'Cache-Control': 'max-age=10', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      {
        at: 15,
        headers: { 'cache-control': 'max-stale=10' },
        expect: { hits: 1, cs: /hit; ttl=-5; detail=max-stale/ },
      },
    ],
  },
  {
    name: 'only-if-cached: 504 when not stored, the stored response otherwise',
    origin: answer({ 'Cache-Control': 'max-age=60' }),
    steps: [
      { headers: { 'cache-control': 'only-if-cached' }, expect: { status: 504, hits: 0 } },
      { expect: { hits: 1 } },
      { headers: { 'cache-control': 'only-if-cached' }, expect: { status: 200, hits: 1, cs: HIT } },
    ],
  },
  {
    name: 'no-store in the request: the response is not stored',
    origin: answer({ 'Cache-Control': 'max-age=60' }),
    steps: [{ headers: { 'cache-control': 'no-store' }, expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
]);

table('§4.3 validation', [
  {
    name: '§4.3.4 a 304 updates the stored fields and freshens the entry',
    origin: validating({ 'Cache-Control': 'max-age=10', ETag: '"v"', 'X-Version': '1' }, 'body', {
      'Cache-Control': 'max-age=100',
      'X-Version': '2',
    }),
    steps: [
      { expect: { hits: 1, fields: { 'x-version': '1' } } },
      {
        at: 11,
        expect: {
          hits: 2,
          body: 'body',
          cs: /fwd=stale; fwd-status=304; stored/,
          fields: { 'x-version': '2' },
          sent: { 'if-none-match': '"v"' },
        },
      },
      { at: 50, expect: { hits: 2, cs: HIT, fields: { 'x-version': '2', 'cache-control': 'max-age=100' } } },
    ],
  },
  {
    name: 'validation sends If-Modified-Since when there is only Last-Modified',
    origin: (req, res) => {
      if (req.headers['if-modified-since'] === LM) {
        res.writeHead(304, {});
        res.end();
      } else {
        res.writeHead(200, { 'Cache-Control': 'max-age=5', 'Last-Modified': LM });
        res.end('lm');
      }
    },
    steps: [
      { expect: { hits: 1 } },
      { at: 6, expect: { hits: 2, body: 'lm', sent: { 'if-modified-since': LM } } },
    ],
  },
  {
    name: '§4.3.2 client conditionals are answered from the cache (INM over IMS)',
    origin: answer({ 'Cache-Control': 'max-age=60', ETag: '"v"', 'Last-Modified': LM }),
    steps: [
      { expect: { hits: 1 } },
      { headers: { 'if-none-match': 'W/"v"' }, expect: { status: 304, hits: 1, fields: { etag: '"v"' } } },
      { headers: { 'if-modified-since': LM }, expect: { status: 304, hits: 1 } },
      { headers: { 'if-none-match': '"other"', 'if-modified-since': LM }, expect: { status: 200, hits: 1 } },
    ],
  },
  {
    name: '§4.3.2 each 304 from the cache carries the current Age, the validators and no representation fields',
    origin: answer({
      'Cache-Control': 'max-age=60',
      ETag: '"v"',
      'Content-Type': 'text/plain',
      'X-Origin': 'a',
    }),
    steps: [
      { expect: { hits: 1 } },
      {
        at: 3,
        headers: { 'if-none-match': '"v"' },
        expect: {
          status: 304,
          hits: 1,
          age: '3',
          cs: HIT,
          fields: { etag: '"v"', 'cache-control': 'max-age=60', 'content-type': null, 'x-origin': null },
        },
      },
      { at: 4, headers: { 'if-none-match': '"v"' }, expect: { status: 304, hits: 1, age: '7', cs: HIT } },
      { headers: { 'if-none-match': '"v"' }, expect: { status: 304, hits: 1, age: '7', cs: HIT } },
      { at: 50, headers: { 'if-none-match': '"v"' }, expect: { status: 304, hits: 1, age: '57', cs: HIT } },
      { at: 1, expect: { status: 200, hits: 1, age: '58', cs: HIT, fields: { 'x-origin': 'a' } } },
      {
        headers: { 'if-none-match': '"v"', connection: 'close' },
        expect: { status: 304, hits: 1, age: '58', cs: HIT, fields: { connection: 'close' } },
      },
      {
        at: 3,
        headers: { 'if-none-match': '"v"' },
        expect: { status: 200, hits: 2, cs: /fwd=stale; fwd-status=200; stored/ },
      },
    ],
  },
  {
    name: 'If-Match is the origin’s to evaluate',
    origin: (req, res) => {
      res.writeHead(req.headers['if-match'] ? 412 : 200, { 'Cache-Control': 'max-age=60', ETag: '"v"' });
      res.end();
    },
    steps: [
      { expect: { hits: 1 } },
      { headers: { 'if-match': '"zzz"' }, expect: { status: 412, hits: 2 } },
      { path: '/fresh', headers: { 'if-match': '"zzz"' }, expect: { status: 412, hits: 3 } },
      { path: '/fresh', expect: { status: 200, hits: 4 } },
    ],
  },
  {
    name: '§5.2.2.4 no-cache responses are validated on every use',
    origin: validating({ 'Cache-Control': 'no-cache', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      { expect: { hits: 2, body: 'hello', cs: /fwd-status=304/ } },
      { expect: { hits: 3, body: 'hello' } },
    ],
  },
  {
    name: 'a changed response replaces the stored one',
    origin: (_req, res, n) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=5', ETag: `"v${n}"` });
      res.end(`version ${n}`);
    },
    steps: [
      { expect: { body: 'version 1' } },
      { at: 6, expect: { body: 'version 2', hits: 2 } },
      { expect: { body: 'version 2', hits: 2, cs: HIT } },
    ],
  },
]);

table('RFC 5861 stale-while-revalidate, stale-if-error, serving stale', [
  {
    name: 'must-revalidate is never served stale, even to max-stale',
    origin: validating({ 'Cache-Control': 'max-age=5, must-revalidate', ETag: '"v"' }),
    steps: [
      { expect: { hits: 1 } },
      { at: 6, headers: { 'cache-control': 'max-stale' }, expect: { hits: 2 } },
    ],
  },
  {
    name: 'stale-if-error: a 500 from the origin is answered by the stale response',
    origin: (_req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'Cache-Control': 'max-age=5, stale-if-error=60', ETag: '"v"' });
        res.end('good');
      } else {
        res.writeHead(500, {});
        res.end('broken');
      }
    },
    steps: [
      { expect: { body: 'good' } },
      {
        at: 10,
        expect: {
          status: 200,
          body: 'good',
          hits: 2,
          cs: /fwd=stale; fwd-status=500; ttl=-5; detail=stale-if-error/,
        },
      },
      { at: 100, expect: { status: 500, body: 'broken', hits: 3 } },
    ],
  },
]);

table('§4.1 Vary', [
  {
    name: 'variants per Accept-Encoding, matched after normalisation',
    origin: (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding' });
      res.end(`for ${req.headers['accept-encoding'] ?? 'none'}`);
    },
    steps: [
      { headers: { 'accept-encoding': 'gzip, br' }, expect: { hits: 1, body: 'for gzip, br' } },
      {
        headers: { 'accept-encoding': 'identity' },
        expect: { hits: 2, body: 'for identity', cs: /vary-miss/ },
      },
      { headers: { 'accept-encoding': 'GZIP,br' }, expect: { hits: 2, body: 'for gzip, br', cs: HIT } },
      { headers: { 'accept-encoding': 'identity' }, expect: { hits: 2, body: 'for identity', cs: HIT } },
      { expect: { hits: 3, body: 'for none' } },
    ],
  },
  {
    name: 'two Vary fields: a variant is selected by both values, as sent or after normalisation',
    origin: (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding, Accept-Language' });
      res.end(`${req.headers['accept-encoding'] ?? '-'} ${req.headers['accept-language'] ?? '-'}`);
    },
    steps: [
      {
        headers: { 'accept-encoding': 'gzip', 'accept-language': 'en' },
        expect: { hits: 1, body: 'gzip en' },
      },
      {
        headers: { 'accept-encoding': 'gzip', 'accept-language': 'fr' },
        expect: { hits: 2, body: 'gzip fr' },
      },
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 3, body: 'gzip -', cs: /vary-miss/ } },
      {
        headers: { 'accept-encoding': 'gzip', 'accept-language': 'en' },
        expect: { hits: 3, body: 'gzip en', cs: HIT },
      },
      {
        headers: { 'accept-encoding': 'GZIP', 'accept-language': 'FR' },
        expect: { hits: 3, body: 'gzip fr', cs: HIT },
      },
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 3, body: 'gzip -', cs: HIT } },
      { headers: { 'accept-language': 'en' }, expect: { hits: 4, body: '- en' } },
    ],
  },
  {
    name: 'Vary: * never matches',
    origin: answer({ 'Cache-Control': 'max-age=60', Vary: '*' }),
    steps: [{ expect: { hits: 1 } }, { expect: { hits: 2 } }],
  },
]);

table('hits looked up by target and host (the fast path)', [
  {
    name: 'one target on two hosts: each host gets its own response, and invalidating one keeps the other',
    origin: (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(204, {});
        res.end();
        return;
      }
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end(`for ${req.headers.host}`);
    },
    steps: [
      { headers: { host: 'a.test' }, expect: { hits: 1, body: 'for a.test' } },
      { headers: { host: 'b.test' }, expect: { hits: 2, body: 'for b.test', cs: /uri-miss/ } },
      { headers: { host: 'a.test' }, expect: { hits: 2, body: 'for a.test', cs: HIT } },
      { headers: { host: 'b.test' }, expect: { hits: 2, body: 'for b.test', cs: HIT } },
      { method: 'POST', body: 'x', headers: { host: 'a.test' }, expect: { status: 204, hits: 3 } },
      { headers: { host: 'b.test' }, expect: { hits: 3, body: 'for b.test', cs: HIT } },
      { headers: { host: 'a.test' }, expect: { hits: 4, body: 'for a.test', cs: /uri-miss/ } },
      { headers: { host: 'a.test' }, expect: { hits: 4, body: 'for a.test', cs: HIT } },
      { headers: { host: 'b.test' }, expect: { hits: 4, body: 'for b.test', cs: HIT } },
    ],
  },
  {
    name: 'a URL that starts and stops varying: plain, then variants, then plain again',
    origin: (req, res, n) => {
      const varies = n === 2 || n === 3;
      res.writeHead(200, { 'Cache-Control': 'max-age=5', ...(varies ? { Vary: 'Accept-Encoding' } : {}) });
      res.end(`v${n} ${varies ? (req.headers['accept-encoding'] ?? 'none') : 'plain'}`);
    },
    steps: [
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 1, body: 'v1 plain' } },
      { headers: { 'accept-encoding': 'br' }, expect: { hits: 1, body: 'v1 plain', cs: HIT } },
      { at: 6, headers: { 'accept-encoding': 'gzip' }, expect: { hits: 2, body: 'v2 gzip' } },
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 2, body: 'v2 gzip', cs: HIT } },
      { headers: { 'accept-encoding': 'br' }, expect: { hits: 3, body: 'v3 br', cs: /vary-miss/ } },
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 3, body: 'v2 gzip', cs: HIT } },
      { headers: { 'accept-encoding': 'br' }, expect: { hits: 3, body: 'v3 br', cs: HIT } },
      { at: 6, headers: { 'accept-encoding': 'br' }, expect: { hits: 4, body: 'v4 plain' } },
      { headers: { 'accept-encoding': 'gzip' }, expect: { hits: 4, body: 'v4 plain', cs: HIT } },
      { headers: { 'accept-encoding': 'br' }, expect: { hits: 4, body: 'v4 plain', cs: HIT } },
    ],
  },
]);

table('§4.4 invalidation', [
  {
    name: 'a POST invalidates its target and the Location on the same host, not on another',
    origin: (req, res) => {
      if (req.method === 'POST') {
        res.writeHead(201, { Location: '/other', 'Content-Location': 'http://elsewhere.test/r' });
        res.end();
        return;
      }
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end(req.url);
    },
    steps: [
      { expect: { hits: 1 } },
      { path: '/other', expect: { hits: 2 } },
      { path: '/other', expect: { hits: 2, cs: HIT } },
      { method: 'POST', body: 'x', expect: { status: 201, hits: 3 } },
      { expect: { hits: 4, cs: /fwd=uri-miss/ } },
      { path: '/other', expect: { hits: 5 } },
    ],
  },
  {
    name: 'an error answer to DELETE invalidates nothing',
    origin: (req, res) => {
      res.writeHead(req.method === 'DELETE' ? 500 : 200, { 'Cache-Control': 'max-age=60' });
      res.end();
    },
    steps: [
      { expect: { hits: 1 } },
      { method: 'DELETE', expect: { status: 500, hits: 2 } },
      { expect: { hits: 2, cs: HIT } },
    ],
  },
]);

table('partial content (RFC 9110 §14) and Cache-Status (RFC 9211)', [
  {
    name: 'Range on a stored full response: 206, multipart and 416 from the cache',
    origin: answer(
      { 'Cache-Control': 'max-age=60', ETag: '"v"', 'Content-Type': 'text/plain' },
      '0123456789',
    ),
    steps: [
      { expect: { hits: 1 } },
      {
        headers: { range: 'bytes=2-4' },
        expect: { status: 206, body: '234', fields: { 'content-range': 'bytes 2-4/10' } },
      },
      { headers: { range: 'bytes=0-0,8-9' }, expect: { status: 206, hits: 1 } },
      {
        headers: { range: 'bytes=50-60' },
        expect: { status: 416, hits: 1, fields: { 'content-range': 'bytes */10' } },
      },
      { headers: { range: 'bytes=2-4', 'if-range': 'W/"v"' }, expect: { status: 200, body: '0123456789' } },
    ],
  },
  {
    name: 'a 206 from the origin is not stored as the full response',
    origin: (req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { 'Cache-Control': 'max-age=60', 'Content-Range': 'bytes 0-1/10' });
        res.end('01');
      } else {
        res.writeHead(200, { 'Cache-Control': 'max-age=60' });
        res.end('0123456789');
      }
    },
    steps: [
      { headers: { range: 'bytes=0-1' }, expect: { status: 206, hits: 1 } },
      { expect: { status: 200, hits: 2, body: '0123456789' } },
      { expect: { status: 200, hits: 2, body: '0123456789', cs: HIT } },
    ],
  },
  {
    name: 'an upstream Cache-Status is kept, ours appended',
    origin: answer({ 'Cache-Control': 'max-age=60', 'Cache-Status': 'origin-cache; hit' }),
    steps: [
      { expect: { cs: /^origin-cache; hit, tamarin; fwd=uri-miss/ } },
      { expect: { cs: /^origin-cache; hit, tamarin; hit$/ } },
    ],
  },
  {
    name: 'RFC 9213 CDN-Cache-Control honoured and stripped when configured',
    route: { cache: { cdn_cache_control: true } },
    origin: answer({ 'Cache-Control': 'no-store', 'CDN-Cache-Control': 'max-age=30' }),
    steps: [
      { expect: { hits: 1, fields: { 'cdn-cache-control': null, 'cache-control': 'no-store' } } },
      { at: 29, expect: { hits: 1, cs: HIT, fields: { 'cdn-cache-control': null } } },
      { at: 2, expect: { hits: 2 } },
    ],
  },
]);
