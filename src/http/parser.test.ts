import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EMPTY_HEADERS, Headers } from './headers.ts';
import { HttpParseError } from './parse-error.ts';
import { HttpParser } from './parser.ts';
import type { HttpLimits, ParsedHead } from './types.ts';

const LIMITS: HttpLimits = {
  maxRequestLine: 8192,
  maxHeadSize: 16384,
  maxHeaders: 100,
  maxBodySize: 1 << 20,
};

interface Parsed {
  head: Omit<ParsedHead, 'headers'> & { headers: string[] };
  body: string;
  trailers: string[] | null;
}
interface Result {
  messages: Parsed[];
  error: HttpParseError | null;
  consumed: number;
}

function flatten(headers: {
  length: number;
  rawName(i: number): string;
  value(i: number): string;
}): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i++) out.push(headers.rawName(i), headers.value(i));
  return out;
}

/** Feeds `input` in the given pieces (default: whole), then EOF when `eof`. */
function parse(
  mode: 'request' | 'response',
  input: string | Buffer[],
  options: { limits?: Partial<HttpLimits>; expect?: string[]; eof?: boolean; reused?: Buffer } = {},
): Result {
  const messages: Parsed[] = [];
  let current: Parsed | null = null;
  let body: Buffer[] = [];
  const parser = new HttpParser(
    mode,
    { ...LIMITS, ...options.limits },
    {
      onHead(head) {
        current = { head: { ...head, headers: flatten(head.headers) }, body: '', trailers: null };
        body = [];
      },
      onBody(chunk) {
        body.push(Buffer.from(chunk));
      },
      onMessageComplete(trailers) {
        current!.body = Buffer.concat(body).toString('latin1');
        current!.trailers = trailers ? flatten(trailers) : null;
        messages.push(current!);
      },
    },
  );
  for (const method of options.expect ?? []) parser.expectResponseTo(method);
  const pieces = typeof input === 'string' ? [Buffer.from(input, 'latin1')] : input;
  let consumed = 0;
  try {
    const reused = options.reused;
    for (const piece of pieces) {
      if (reused === undefined) consumed += parser.execute(piece);
      else {
        // As the engine reads: each piece lands at the start of one buffer, after earlier reads' bytes.
        piece.copy(reused, 0);
        consumed += parser.execute(reused, piece.length);
      }
    }
    if (options.eof) parser.finish();
    return { messages, error: null, consumed };
  } catch (err) {
    assert.ok(err instanceof HttpParseError, `unexpected ${String(err)}`);
    return { messages, error: err, consumed };
  }
}

function bytewise(text: string): Buffer[] {
  return [...Buffer.from(text, 'latin1')].map((byte) => Buffer.from([byte]));
}

const H = 'Host: example.com\r\n';

describe('request mode: valid requests', () => {
  const cases: [string, string, Partial<Parsed['head']>, string?, string[]?][] = [
    ['GET', 'GET /a?b=c HTTP/1.1\r\n' + H + '\r\n', { method: 'GET', target: '/a?b=c', host: 'example.com' }],
    ['HTTP/1.0 closes by default', 'GET / HTTP/1.0\r\n\r\n', { versionMinor: 0, keepAlive: false, host: '' }],
    ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', { keepAlive: true }],
    ['HTTP/1.1 close', 'GET / HTTP/1.1\r\n' + H + 'Connection: foo, CLOSE\r\n\r\n', { keepAlive: false }],
    [
      'Host lower-cased, port removed',
      'GET / HTTP/1.1\r\nHost: WWW.Example.com:8080\r\n\r\n',
      { host: 'www.example.com' },
    ],
    ['IPv6 Host', 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', { host: '[::1]' }],
    [
      'absolute-form → origin-form, authority wins over Host',
      'GET HTTP://Other.example:81/p?q HTTP/1.1\r\n' + H + '\r\n',
      { target: '/p?q', host: 'other.example' },
    ],
    ['absolute-form without path', 'GET https://a.example HTTP/1.1\r\n' + H + '\r\n', { target: '/' }],
    ['absolute-form with query only', 'GET http://a.example?x HTTP/1.1\r\n' + H + '\r\n', { target: '/?x' }],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\n' + H + '\r\n', { method: 'OPTIONS', target: '*' }],
    [
      'CONNECT authority-form',
      'CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
      { method: 'CONNECT', target: 'Example.com:443', host: 'example.com', upgrade: true },
    ],
    [
      'Upgrade with Connection: upgrade',
      'GET /ws HTTP/1.1\r\n' + H + 'Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n',
      { upgrade: true },
    ],
    ['Upgrade alone is ignored', 'GET / HTTP/1.1\r\n' + H + 'Upgrade: h2c\r\n\r\n', { upgrade: false }],
    [
      'Upgrade ignored in HTTP/1.0',
      'GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n',
      { upgrade: false },
    ],
    [
      'Expect: 100-continue',
      'PUT /f HTTP/1.1\r\n' + H + 'Expect: 100-Continue\r\nContent-Length: 2\r\n\r\nok',
      { expectContinue: true, contentLength: 2 },
      'ok',
    ],
    [
      'Expect ignored in HTTP/1.0',
      'PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n',
      { expectContinue: false },
    ],
    [
      'Content-Length body',
      'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\n\r\nhello',
      { contentLength: 5, chunked: false },
      'hello',
    ],
    [
      'chunked body with extensions and trailers',
      'POST / HTTP/1.1\r\n' +
        H +
        'Transfer-Encoding: chunked\r\n\r\n5;a="x;y"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T:  1 \r\n\r\n',
      { chunked: true, contentLength: -1 },
      'hello0123456789',
      ['X-T', '1'],
    ],
    [
      'values trimmed, raw names kept',
      'GET / HTTP/1.1\r\n' + H + 'X-Mixed-Case:\t a b \t\r\n\r\n',
      { headers: ['Host', 'example.com', 'X-Mixed-Case', 'a b'] },
    ],
    ['leading empty lines skipped', '\r\n\n\r\nGET / HTTP/1.1\r\n' + H + '\r\n', { target: '/' }],
  ];
  for (const [name, text, expected, body = '', trailers] of cases) {
    test(name, () => {
      for (const input of [text, bytewise(text)]) {
        const result = parse('request', input);
        assert.equal(result.error, null);
        assert.equal(result.messages.length, 1);
        const [message] = result.messages;
        for (const [key, value] of Object.entries(expected)) {
          assert.deepEqual(message!.head[key as keyof Parsed['head']], value, key);
        }
        assert.equal(message!.body, body);
        assert.deepEqual(message!.trailers, trailers ?? null);
      }
    });
  }
});

describe('request mode: rejections', () => {
  const cases: [string, string, number, string][] = [
    ['bare LF line ending', 'GET / HTTP/1.1\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['bare LF after a field', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\n' + H + 'X: a\rb\r\n\r\n', 400, 'ERR_HTTP_BARE_CR'],
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BARE_CR'],
    ['bare CR before the request line', '\rGET / HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BARE_CR'],
    ['method not a token', 'G(T / HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['unknown method', 'BREW /pot HTTP/1.1\r\n' + H + '\r\n', 501, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['double space', 'GET  / HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['fragment', 'GET /#x HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['* without OPTIONS', 'GET * HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    [
      'authority-form without CONNECT',
      'GET a.example:80 HTTP/1.1\r\n' + H + '\r\n',
      400,
      'ERR_HTTP_BAD_REQUEST_LINE',
    ],
    [
      'CONNECT without a port',
      'CONNECT a.example HTTP/1.1\r\n' + H + '\r\n',
      400,
      'ERR_HTTP_BAD_REQUEST_LINE',
    ],
    ['CONNECT origin-form', 'CONNECT / HTTP/1.1\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    [
      'userinfo in target',
      'GET http://u@a.example/ HTTP/1.1\r\n' + H + '\r\n',
      400,
      'ERR_HTTP_BAD_REQUEST_LINE',
    ],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n' + H + '\r\n', 505, 'ERR_HTTP_BAD_VERSION'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n' + H + '\r\n', 505, 'ERR_HTTP_BAD_VERSION'],
    ['garbage version', 'GET / HTTP/1.x\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['no version', 'GET /\r\n' + H + '\r\n', 400, 'ERR_HTTP_BAD_REQUEST_LINE'],
    ['space before colon', 'GET / HTTP/1.1\r\n' + H + 'X : y\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['bad name byte', 'GET / HTTP/1.1\r\n' + H + 'X{}: y\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['NUL in value', 'GET / HTTP/1.1\r\n' + H + 'X: \x00\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['DEL in value', 'GET / HTTP/1.1\r\n' + H + 'X: \x7f\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['obs-fold', 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n  b\r\n\r\n', 400, 'ERR_HTTP_OBS_FOLD'],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400, 'ERR_HTTP_MISSING_HOST'],
    [
      'absolute-form still needs Host',
      'GET http://a.example/ HTTP/1.1\r\n\r\n',
      400,
      'ERR_HTTP_MISSING_HOST',
    ],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    ['Host with bad port', 'GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n', 400, 'ERR_HTTP_BAD_HEADER'],
    [
      'CL not digits',
      'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1e3\r\n\r\n',
      400,
      'ERR_HTTP_BAD_CONTENT_LENGTH',
    ],
    [
      'CL list',
      'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1, 1\r\n\r\nx',
      400,
      'ERR_HTTP_BAD_CONTENT_LENGTH',
    ],
    [
      'CL twice',
      'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1\r\nContent-Length: 1\r\n\r\nx',
      400,
      'ERR_HTTP_BAD_CONTENT_LENGTH',
    ],
    [
      'CL and TE',
      'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
      'ERR_HTTP_CL_AND_TE',
    ],
    [
      'TE not ending in chunked',
      'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked, gzip\r\n\r\n',
      400,
      'ERR_HTTP_BAD_TE',
    ],
    [
      'TE chunked twice',
      'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked, chunked\r\n\r\n',
      400,
      'ERR_HTTP_BAD_TE',
    ],
    [
      'TE empty element',
      'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: ,chunked\r\n\r\n',
      400,
      'ERR_HTTP_BAD_TE',
    ],
    [
      'TE unknown coding',
      'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: gzip, chunked\r\n\r\n',
      501,
      'ERR_HTTP_UNSUPPORTED_TE',
    ],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'ERR_HTTP_BAD_TE'],
    [
      'tab after chunked',
      'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\t\r\n\r\n',
      400,
      'ERR_HTTP_BAD_TE',
    ],
  ];
  for (const [name, text, status, code] of cases) {
    test(`${name} → ${status}`, () => {
      for (const input of [text, bytewise(text)]) {
        const { error, messages } = parse('request', input);
        assert.ok(error, 'should throw');
        assert.equal(error.status, status);
        assert.equal(error.code, code);
        assert.ok(error.message.length > 0);
        assert.equal(messages.length, 0);
      }
    });
  }
});

describe('request mode: methods a server adds', () => {
  const ban = 'BAN /?url=x HTTP/1.1\r\n' + H + '\r\n';
  test('BAN is an unknown method (501) unless the server asks for it', () => {
    assert.equal(parse('request', ban).error?.status, 501);
    const accepted = parse('request', ban, { limits: { extraMethods: new Set(['BAN']) } });
    assert.equal(accepted.error, null);
    assert.equal(accepted.messages[0]?.head.method, 'BAN');
    assert.equal(accepted.messages[0]?.head.target, '/?url=x');
    // Only what was asked for: another unknown method stays 501, a known one is unaffected.
    const other = parse('request', 'BREW / HTTP/1.1\r\n' + H + '\r\n', {
      limits: { extraMethods: new Set(['BAN']) },
    });
    assert.equal(other.error?.status, 501);
    assert.equal(
      parse('request', 'ban / HTTP/1.1\r\n' + H + '\r\n', { limits: { extraMethods: new Set(['BAN']) } })
        .error?.status,
      501,
      'methods are case-sensitive',
    );
  });
});

describe('request mode: the request line of an interrupted message', () => {
  const noop = { onHead() {}, onBody() {}, onMessageComplete() {} };
  test('readRequestLine: known once the line is valid, null before it and for an invalid one', () => {
    const parser = new HttpParser('request', LIMITS, noop);
    parser.execute(Buffer.from('GET /page?q=1 HTTP/1.0\r\nHost: a\r\n'));
    assert.deepEqual(parser.readRequestLine, { method: 'GET', target: '/page?q=1', versionMinor: 0 });
    assert.throws(() => parser.execute(Buffer.from('Bad Field: x\r\n\r\n')), HttpParseError);
    assert.deepEqual(parser.readRequestLine, { method: 'GET', target: '/page?q=1', versionMinor: 0 });

    const partial = new HttpParser('request', LIMITS, noop);
    partial.execute(Buffer.from('GET /pa'));
    assert.equal(partial.readRequestLine, null);
    const bad = new HttpParser('request', LIMITS, noop);
    assert.throws(() => bad.execute(Buffer.from('GET /#frag HTTP/1.1\r\n')), HttpParseError);
    assert.equal(bad.readRequestLine, null);
  });

  test('readRequestLine is cleared once the message is complete', () => {
    const parser = new HttpParser('request', LIMITS, noop);
    parser.execute(Buffer.from('GET / HTTP/1.1\r\n' + H + '\r\n'));
    assert.equal(parser.readRequestLine, null);
  });
});

describe('request mode: chunked edge cases', () => {
  const post = 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n';
  const bad: [string, string][] = [
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['leading space', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['trailing space', '5 \r\nhello\r\n0\r\n\r\n'],
    ['sign', '+5\r\nhello\r\n0\r\n\r\n'],
    ['missing CRLF after data', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n'],
    ['LF only after size', '5\nhello\r\n0\r\n\r\n'],
    ['space in extension', '5; a=1\r\nhello\r\n0\r\n\r\n'],
    ['extension without name', '5;=1\r\nhello\r\n0\r\n\r\n'],
    ['extension value empty', '5;a=\r\nhello\r\n0\r\n\r\n'],
    ['unterminated quoted value', '5;a="1\r\nhello\r\n0\r\n\r\n'],
    ['control in quoted value', '5;a="\x01"\r\nhello\r\n0\r\n\r\n'],
    ['chunk line too long', '5;a=' + 'x'.repeat(5000) + '\r\nhello\r\n0\r\n\r\n'],
    ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n'],
  ];
  for (const [name, chunks] of bad) {
    test(`rejects ${name}`, () => {
      for (const input of [post + chunks, bytewise(post + chunks)]) {
        const { error } = parse('request', input);
        assert.ok(error);
        assert.equal(error.status, 400);
      }
    });
  }

  test('body views are slices of the input, not copies', () => {
    const input = Buffer.from(post + '5\r\nhello\r\n0\r\n\r\n');
    const seen: Buffer[] = [];
    const parser = new HttpParser('request', LIMITS, {
      onHead() {},
      onBody: (chunk) => seen.push(chunk),
      onMessageComplete() {},
    });
    parser.execute(input);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.buffer, input.buffer);
    assert.equal(seen[0]!.toString(), 'hello');
  });

  test('a quoted extension may hold ; = and escaped quotes', () => {
    const { error, messages } = parse('request', post + '2;a="; =\\"";b=c\r\nhi\r\n0\r\n\r\n');
    assert.equal(error, null);
    assert.equal(messages[0]!.body, 'hi');
  });

  test('a last chunk without trailers gives null trailers', () => {
    const { messages } = parse('request', post + '0\r\n\r\n');
    assert.equal(messages[0]!.trailers, null);
  });
});

describe('request mode: limits', () => {
  test('request line longer than maxRequestLine → 414, even before its end arrives', () => {
    const limits = { maxRequestLine: 64 };
    const line = 'GET /' + 'a'.repeat(100);
    assert.equal(parse('request', line + ' HTTP/1.1\r\n' + H + '\r\n', { limits }).error?.status, 414);
    assert.equal(parse('request', line, { limits }).error?.status, 414);
    assert.equal(parse('request', bytewise(line), { limits }).error?.status, 414);
    assert.equal(
      parse('request', 'GET /' + 'a'.repeat(50) + ' HTTP/1.1\r\n' + H + '\r\n', { limits }).error,
      null,
    );
  });

  test('head larger than maxHeadSize → 431, even before its end arrives', () => {
    const limits = { maxHeadSize: 1024 };
    const big = 'GET / HTTP/1.1\r\n' + H + 'X: ' + 'v'.repeat(1100) + '\r\n\r\n';
    assert.equal(parse('request', big, { limits }).error?.code, 'ERR_HTTP_HEAD_TOO_LARGE');
    assert.equal(parse('request', big.slice(0, 1060), { limits }).error?.status, 431);
    assert.equal(parse('request', bytewise(big.slice(0, 1060)), { limits }).error?.status, 431);
    const fits = 'GET / HTTP/1.1\r\n' + H + 'X: ' + 'v'.repeat(900) + '\r\n\r\n';
    assert.equal(parse('request', fits, { limits }).error, null);
  });

  test('more than maxHeaders fields → 431', () => {
    const limits = { maxHeaders: 10 };
    const fields = (n: number) => 'GET / HTTP/1.1\r\n' + H + 'X: y\r\n'.repeat(n - 1) + '\r\n';
    assert.equal(parse('request', fields(10), { limits }).error, null);
    const { error } = parse('request', fields(11), { limits });
    assert.equal(error?.status, 431);
    assert.equal(error?.code, 'ERR_HTTP_TOO_MANY_HEADERS');
  });

  test('declared Content-Length above maxBodySize → 413 at the head', () => {
    const { error, messages } = parse('request', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 101\r\n\r\n', {
      limits: { maxBodySize: 100 },
    });
    assert.equal(error?.status, 413);
    assert.equal(messages.length, 0);
  });

  test('chunked total above maxBodySize → 413 at the chunk that crosses it', () => {
    const post = 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n';
    const limits = { maxBodySize: 100 };
    const chunk = '32\r\n' + 'x'.repeat(50) + '\r\n';
    assert.equal(parse('request', post + chunk + chunk + '0\r\n\r\n', { limits }).error, null);
    assert.equal(
      parse('request', post + chunk + chunk + '1\r\nx\r\n0\r\n\r\n', { limits }).error?.status,
      413,
    );
    assert.equal(parse('request', post + 'FFFFFFFFFFFFFFFFFFFF\r\n', { limits }).error?.status, 413);
  });

  test('an endless stream of empty lines hits the head limit', () => {
    const { error } = parse('request', '\r\n'.repeat(20000));
    assert.equal(error?.status, 431);
  });
});

describe('request mode: streaming and pipelining', () => {
  const pipeline =
    'GET /1 HTTP/1.1\r\n' +
    H +
    '\r\n' +
    'POST /2 HTTP/1.1\r\n' +
    H +
    'Content-Length: 3\r\n\r\nabc' +
    'PUT /3 HTTP/1.1\r\n' +
    H +
    'Transfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n' +
    'GET /4 HTTP/1.0\r\n\r\n';

  test('pipelined requests come out in order with their bodies', () => {
    const { messages, error, consumed } = parse('request', pipeline);
    assert.equal(error, null);
    assert.equal(consumed, Buffer.byteLength(pipeline));
    assert.deepEqual(
      messages.map((m) => [m.head.method, m.head.target, m.body, m.trailers]),
      [
        ['GET', '/1', '', null],
        ['POST', '/2', 'abc', null],
        ['PUT', '/3', 'de', ['T', 'v']],
        ['GET', '/4', '', null],
      ],
    );
  });

  test('feeding byte by byte, or split at every point, gives the same messages', () => {
    const whole = parse('request', pipeline).messages;
    assert.deepEqual(parse('request', bytewise(pipeline)).messages, whole);
    const bytes = Buffer.from(pipeline);
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = parse('request', [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(split.messages, whole, `split at ${cut}`);
    }
  });

  test('reads into one reused buffer parse the same: the stale bytes after each read are never seen', () => {
    const whole = parse('request', pipeline).messages;
    // Stale bytes full of line ends, head ends, and a body-like tail, as a busy shared buffer would hold.
    const stale = ('\r\n\r\nGET /stale HTTP/1.1\r\nHost: s\r\n\r\n' + 'x'.repeat(3000)).repeat(4);
    const fresh = () => Buffer.from(stale, 'latin1');
    const bytes = Buffer.from(pipeline);
    assert.deepEqual(parse('request', [bytes], { reused: fresh() }).messages, whole);
    assert.deepEqual(parse('request', bytewise(pipeline), { reused: fresh() }).messages, whole);
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = parse('request', [bytes.subarray(0, cut), bytes.subarray(cut)], { reused: fresh() });
      assert.deepEqual(split.messages, whole, `split at ${cut}`);
    }
    // A large read (searched for the end of its head rather than decoded whole) whose head is cut short.
    const big = 'GET /big HTTP/1.1\r\n' + H + 'X-Pad: ' + 'p'.repeat(2500) + '\r\n\r\n';
    for (const cut of [100, 2200, big.length - 3]) {
      const pieces = [Buffer.from(big.slice(0, cut)), Buffer.from(big.slice(cut))];
      const { messages, error } = parse('request', pieces, { reused: fresh() });
      assert.equal(error, null);
      assert.deepEqual(
        messages.map((m) => [m.head.target, m.head.headers.length]),
        [['/big', 4]],
        `cut at ${cut}`,
      );
    }
  });

  test('idle and inHead follow the message', () => {
    const parser = new HttpParser('request', LIMITS, { onHead() {}, onBody() {}, onMessageComplete() {} });
    assert.equal(parser.idle, true);
    assert.equal(parser.inHead, false);
    parser.execute(Buffer.from('GET / HT'));
    assert.equal(parser.idle, false);
    assert.equal(parser.inHead, true);
    parser.execute(
      Buffer.from('TP/1.1\r\n' + H + '\r\nPOST / HTTP/1.1\r\n' + H + 'Content-Length: 2\r\n\r\n'),
    );
    assert.equal(parser.inHead, false, 'in a body');
    assert.equal(parser.idle, false);
    parser.execute(Buffer.from('ok'));
    assert.equal(parser.idle, true);
  });

  test('after a closing message only empty lines may follow (as llhttp): the rest is a 400', () => {
    const close = 'GET /1 HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\n';
    for (const input of [close + 'GET /2 HTTP/1.1\r\n' + H + '\r\n', bytewise(close + 'X')]) {
      const { messages, error } = parse('request', input);
      assert.equal(messages.length, 1, 'the closing request itself is delivered');
      assert.equal(error?.status, 400);
    }
    assert.equal(parse('request', close + '\r\n\n', { eof: true }).error, null);
    const v10 = parse('request', 'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n');
    assert.equal(v10.messages.length, 1);
    assert.equal(v10.error?.status, 400);
    const parser = new HttpParser('request', LIMITS, { onHead() {}, onBody() {}, onMessageComplete() {} });
    parser.execute(Buffer.from(close));
    assert.equal(parser.idle, true);
    assert.equal(parser.inHead, false);
  });

  test('framing and routing fields are refused in trailers', () => {
    const post = 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n0\r\n';
    for (const field of ['Content-Length: 0', 'Transfer-Encoding: chunked', 'Host: x', 'Connection: close']) {
      const { error } = parse('request', post + field + '\r\n\r\n');
      assert.equal(error?.code, 'ERR_HTTP_BAD_HEADER', field);
    }
  });

  test('an upgrade stops parsing: the rest belongs to the tunnel', () => {
    const head = 'GET /ws HTTP/1.1\r\n' + H + 'Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const { messages, consumed } = parse('request', head + '\x81\x05hello');
    assert.equal(consumed, Buffer.byteLength(head));
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.head.upgrade, true);
    const split = parse('request', [Buffer.from(head.slice(0, 10)), Buffer.from(head.slice(10) + 'TUNNEL')]);
    assert.equal(split.consumed, Buffer.byteLength(head));
  });

  test('an upgrade request that announces a body is no upgrade: the body is read, parsing goes on', () => {
    // `curl --http2 -d data` (h2c with a body): RFC 9110 §7.8 lets a server ignore Upgrade, as nginx does.
    const upgrade =
      'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n';
    const next = 'GET /next HTTP/1.1\r\n' + H + '\r\n';
    for (const [framing, wire] of [
      ['Content-Length: 4\r\n', 'data'],
      ['Transfer-Encoding: chunked\r\n', '4\r\ndata\r\n0\r\n\r\n'],
    ] as const) {
      const text = 'POST / HTTP/1.1\r\n' + H + upgrade + framing + '\r\n' + wire + next;
      for (const input of [text, bytewise(text)]) {
        const { messages, consumed, error } = parse('request', input);
        assert.equal(error, null, framing);
        assert.equal(consumed, Buffer.byteLength(text), 'every byte parsed as HTTP/1.1');
        assert.equal(messages.length, 2, framing);
        assert.equal(messages[0]!.head.upgrade, false, framing);
        assert.equal(messages[0]!.head.keepAlive, true, framing);
        assert.equal(messages[0]!.body, 'data', framing);
        assert.equal(messages[1]!.head.target, '/next');
      }
    }
    // Without a body (or with `Content-Length: 0`) it stays an upgrade.
    for (const framing of ['', 'Content-Length: 0\r\n']) {
      const head = 'GET / HTTP/1.1\r\n' + H + upgrade + framing + '\r\n';
      const { messages, consumed } = parse('request', head + 'PRI * HTTP/2.0');
      assert.equal(consumed, Buffer.byteLength(head), framing);
      assert.equal(messages[0]!.head.upgrade, true, framing);
    }
  });

  test('EOF: nothing pending is fine, a partial head or body throws', () => {
    assert.equal(parse('request', '', { eof: true }).error, null);
    assert.equal(parse('request', 'GET / HTTP/1.1\r\n' + H + '\r\n', { eof: true }).error, null);
    assert.equal(
      parse('request', 'GET / HTTP/1.1\r\n' + H + '\r\n\r\n', { eof: true }).error,
      null,
      'extra CRLF',
    );
    assert.equal(parse('request', 'GET / HTTP/1.1\r\n', { eof: true }).error?.status, 400);
    const body = 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\n\r\nhel';
    assert.equal(parse('request', body, { eof: true }).error?.code, 'ERR_HTTP_BAD_CONTENT_LENGTH');
  });

  test('a dead parser keeps throwing the same error; reset() re-arms it', () => {
    const parser = new HttpParser('request', LIMITS, { onHead() {}, onBody() {}, onMessageComplete() {} });
    let first: unknown;
    assert.throws(
      () => parser.execute(Buffer.from('GET / HTTP/9.9\r\n')),
      (err) => (first = err) instanceof HttpParseError,
    );
    assert.throws(
      () => parser.execute(Buffer.from('GET / HTTP/1.1\r\n' + H + '\r\n')),
      (err) => err === first,
    );
    parser.reset();
    assert.equal(parser.execute(Buffer.from('GET / HTTP/1.1\r\n' + H + '\r\n')), 18 + H.length);
    assert.equal(parser.idle, true);
  });
});

describe('response mode', () => {
  test('status line, reason, fields and Content-Length body', () => {
    const { messages, error } = parse('response', 'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnope');
    assert.equal(error, null);
    assert.equal(messages[0]!.head.status, 404);
    assert.equal(messages[0]!.head.reason, 'Not Found');
    assert.equal(messages[0]!.body, 'nop');
  });

  test('empty reason, with or without the SP', () => {
    for (const line of ['HTTP/1.1 200 \r\n', 'HTTP/1.1 200\r\n']) {
      const { messages } = parse('response', line + 'Content-Length: 0\r\n\r\n');
      assert.equal(messages[0]!.head.reason, '');
      assert.equal(messages[0]!.head.status, 200);
    }
  });

  test('1xx interim responses, then the final one for the same request', () => {
    const text =
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n';
    const { messages, error } = parse('response', text, { expect: ['POST', 'HEAD'] });
    assert.equal(error, null);
    assert.deepEqual(
      messages.map((m) => [m.head.status, m.body]),
      [
        [100, ''],
        [103, ''],
        [200, 'ok'],
        [204, ''],
      ],
    );
  });

  test('HEAD, 204 and 304 responses have no body even with Content-Length', () => {
    const text =
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' +
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
    const { messages, error } = parse('response', text, { expect: ['HEAD', 'GET', 'GET'] });
    assert.equal(error, null);
    assert.deepEqual(
      messages.map((m) => [m.head.status, m.head.contentLength, m.body]),
      [
        [200, 5, ''],
        [304, 5, ''],
        [200, 5, 'hello'],
      ],
    );
  });

  test('101 Switching Protocols stops parsing', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const { messages, consumed } = parse('response', head + 'frames');
    assert.equal(messages[0]!.head.upgrade, true);
    assert.equal(consumed, head.length);
  });

  test('chunked response with trailers', () => {
    const text = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nEtag: "x"\r\n\r\n';
    for (const input of [text, bytewise(text)]) {
      const { messages } = parse('response', input);
      assert.equal(messages[0]!.body, 'abc');
      assert.deepEqual(messages[0]!.trailers, ['Etag', '"x"']);
      assert.equal(messages[0]!.head.keepAlive, true);
    }
  });

  test('no framing, or TE not ending in chunked: body runs until EOF and the connection closes', () => {
    for (const framing of ['', 'Transfer-Encoding: gzip\r\n']) {
      const text = `HTTP/1.1 200 OK\r\n${framing}\r\nall of this`;
      const open = parse('response', text);
      assert.equal(open.messages.length, 0, 'not complete before EOF');
      const { messages, error } = parse('response', text, { eof: true });
      assert.equal(error, null);
      assert.equal(messages[0]!.body, 'all of this');
      assert.equal(messages[0]!.head.keepAlive, false);
    }
  });

  test('identical repeated Content-Length is accepted, differing ones are not', () => {
    assert.equal(
      parse('response', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok').messages[0]!.body,
      'ok',
    );
    assert.equal(
      parse('response', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok').error,
      null,
    );
    const differing = parse(
      'response',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
    );
    assert.equal(differing.error?.status, 502);
  });

  const bad: [string, string][] = [
    ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['differing CL list', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n'],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['status 600', 'HTTP/1.1 600 What\r\n\r\n'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['control in reason', 'HTTP/1.1 200 O\x01K\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['bad chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ];
  for (const [name, text] of bad) {
    test(`rejects ${name} with 502`, () => {
      const { error } = parse('response', text);
      assert.equal(error?.status, 502);
    });
  }

  test('bytes after a Connection: close response → 502', () => {
    const { messages, error } = parse(
      'response',
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nX',
    );
    assert.equal(messages.length, 1);
    assert.equal(error?.status, 502);
  });

  test('oversized head → 502', () => {
    const text = 'HTTP/1.1 200 OK\r\nX: ' + 'v'.repeat(2000) + '\r\n\r\n';
    const { error } = parse('response', text, { limits: { maxHeadSize: 1024 } });
    assert.equal(error?.status, 502);
    assert.equal(error?.code, 'ERR_HTTP_HEAD_TOO_LARGE');
  });

  test('truncated response at EOF → 502', () => {
    assert.equal(
      parse('response', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab', { eof: true }).error?.status,
      502,
    );
    assert.equal(parse('response', 'HTTP/1.1 200 OK\r\n', { eof: true }).error?.status, 502);
  });

  test('no request-side size limit applies to response bodies', () => {
    const { messages, error } = parse('response', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789', {
      limits: { maxBodySize: 4 },
    });
    assert.equal(error, null);
    assert.equal(messages[0]!.body, '0123456789');
  });
});

describe('Headers', () => {
  test('lookups by lower-case name', () => {
    const headers = Headers.from([
      ['Accept', 'text/html'],
      ['X-A', '1'],
      ['x-a', '2'],
    ]);
    assert.equal(headers.length, 3);
    assert.equal(headers.get('x-a'), '1');
    assert.equal(headers.getJoined('x-a'), '1, 2');
    assert.deepEqual(headers.getAll('x-a'), ['1', '2']);
    assert.deepEqual(headers.getAll('nope'), []);
    assert.equal(headers.getJoined('nope'), undefined);
    assert.equal(headers.has('accept'), true);
    assert.equal(headers.rawName(0), 'Accept');
    assert.equal(headers.name(0), 'accept');
  });

  test('EMPTY_HEADERS cannot be changed', () => {
    assert.equal(EMPTY_HEADERS.length, 0);
    assert.throws(() => (EMPTY_HEADERS as Headers).add('a', 'b'));
  });
});
