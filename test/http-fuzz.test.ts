/**
 * Property tests for HttpParser (fast-check): random and mutated input never makes it throw anything but
 * HttpParseError, never makes it hang, and never makes its result depend on how the bytes were split into
 * reads; valid pipelined requests split at random points come out exactly as they went in (no desync).
 * Run counts are bounded so the file stays well under 10 s on a shared 2-core machine.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpParseError } from '../src/http/parse-error.ts';
import { HttpParser } from '../src/http/parser.ts';
import { normalisePath } from '../src/http/path.ts';
import type { HttpLimits } from '../src/http/types.ts';

const LIMITS: HttpLimits = { maxRequestLine: 512, maxHeadSize: 2048, maxHeaders: 20, maxBodySize: 4096 };

interface Outcome {
  /** One line per event: heads, body bytes (as one string per message), ends. */
  events: string[];
  /** Error code, or null when the input parsed (or is still waiting for more). */
  error: string | null;
}

/** Feeds `bytes` cut at `cuts` (sorted offsets), then EOF. Fails the property on any foreign exception. */
function run(mode: 'request' | 'response', bytes: Uint8Array, cuts: number[] = [], eof = true): Outcome {
  const events: string[] = [];
  let body = '';
  const parser = new HttpParser(mode, LIMITS, {
    onHead(head) {
      const fields: string[] = [];
      for (let i = 0; i < head.headers.length; i++)
        fields.push(`${head.headers.rawName(i)}=${head.headers.value(i)}`);
      events.push(
        `head ${head.method} ${head.rawTarget ?? head.target} ${head.status} ${head.contentLength} ${fields.join('|')}`,
      );
      body = '';
    },
    onBody(chunk) {
      body += chunk.toString('latin1');
    },
    onMessageComplete(trailers) {
      events.push(`body ${body}`, `end ${trailers ? trailers.length : -1}`);
    },
  });
  parser.expectResponseTo('GET');
  const buf = Buffer.from(bytes);
  let start = 0;
  try {
    for (const cut of [...cuts, buf.length]) {
      if (cut < start) continue;
      const piece = buf.subarray(start, cut);
      const consumed = parser.execute(piece);
      assert.ok(consumed >= 0 && consumed <= piece.length);
      if (consumed < piece.length) return { events, error: 'upgraded' };
      start = cut;
    }
    if (eof) parser.finish();
    return { events, error: null };
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    assert.ok([400, 413, 414, 431, 501, 502, 505].includes(err.status), `status ${err.status}`);
    return { events, error: err.code };
  }
}

const cutsFor = (length: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: Math.max(0, length) }), { maxLength: 12 })
    .map((a) => a.sort((x, y) => x - y));

/** Byte strings that exercise the parser's decisions. */
const FRAGMENTS = [
  '\r\n',
  '\r',
  '\n',
  ' ',
  '\t',
  ':',
  ';',
  '"',
  '\x00',
  '\x7f',
  '\xff',
  '0',
  'F',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: 0\r\n',
  'Host: x\r\n',
  'Connection: upgrade\r\nUpgrade: x\r\n',
  '0\r\n\r\n',
  '5\r\nhello\r\n',
  'GET / HTTP/1.1\r\n',
  'HTTP/1.1 200 OK\r\n',
  'a'.repeat(520),
];

const SEEDS = [
  'GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n',
  'PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n',
  'GET http://h:8080/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n',
  'HTTP/1.0 200 OK\r\n\r\nclose-delimited',
];

type Mutation = {
  at: number;
  kind: 'insert' | 'delete' | 'replace' | 'duplicate';
  fragment: string;
  size: number;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'replace', 'duplicate'),
  fragment: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 3, unit: 'binary-ascii' })),
  size: fc.integer({ min: 1, max: 8 }),
});

function mutate(seed: string, mutations: Mutation[]): Buffer {
  let bytes = Buffer.from(seed, 'latin1');
  for (const m of mutations) {
    const at = m.at % (bytes.length + 1);
    const fragment = Buffer.from(m.fragment, 'latin1');
    const tail = bytes.subarray(Math.min(bytes.length, at + m.size));
    if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), fragment, bytes.subarray(at)]);
    else if (m.kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), tail]);
    else if (m.kind === 'replace') bytes = Buffer.concat([bytes.subarray(0, at), fragment, tail]);
    else bytes = Buffer.concat([bytes.subarray(0, at + m.size), bytes.subarray(at)]);
  }
  return bytes;
}

describe('HttpParser properties', () => {
  test('random bytes: only HttpParseError, same outcome however the bytes are split', {
    timeout: 10_000,
  }, () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        fc
          .uint8Array({ maxLength: 600 })
          .chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
        (mode, [bytes, cuts]) => {
          assert.deepEqual(run(mode, bytes, cuts), run(mode, bytes));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('mutated valid messages: only HttpParseError, split-independent', { timeout: 10_000 }, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEEDS),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (seed, mutations, rawCuts) => {
          const bytes = mutate(seed, mutations);
          const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const mode = seed.startsWith('HTTP/') ? 'response' : 'request';
          assert.deepEqual(run(mode, bytes, cuts), run(mode, bytes));
          // Byte-at-a-time feeding is the extreme split.
          const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
          assert.deepEqual(run(mode, bytes, everyByte), run(mode, bytes));
        },
      ),
      { numRuns: 1500 },
    );
  });

  // Valid requests, generated, serialised, pipelined and split at random points.
  const SPECIAL = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect']);
  const name = fc
    .stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}$/)
    .filter((n) => !SPECIAL.has(n.toLowerCase()));
  const value = fc.oneof(fc.constant(''), fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/));
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'QUERY'),
    // Valid escapes only, and no `..` above the root: the parser refuses those (src/http/path.ts).
    target: fc
      .stringMatching(/^\/(%[0-9A-Fa-f]{2}|[A-Za-z0-9._~!$&'()*+,;=:@/-]){0,24}(\?[A-Za-z0-9=&%-]{0,12})?$/)
      .filter((t) => {
        const q = t.indexOf('?');
        return normalisePath(t, 0, q === -1 ? t.length : q).charCodeAt(0) === 0x2f;
      }),
    fields: fc.array(fc.tuple(name, value), { maxLength: 6 }),
    body: fc.uint8Array({ maxLength: 300 }),
    chunked: fc.boolean(),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 6 }),
    trailers: fc.array(fc.tuple(name, value), { maxLength: 2 }),
  });
  type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never;

  function serialise(r: Generated): { bytes: Buffer; expected: string[] } {
    const fields: [string, string][] = [['Host', 'example.com'], ...r.fields];
    fields.push(r.chunked ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(r.body.length)]);
    const head = `${r.method} ${r.target} HTTP/1.1\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    const parts = [Buffer.from(head, 'latin1')];
    const body = Buffer.from(r.body);
    if (r.chunked) {
      let off = 0;
      for (let i = 0; off < body.length; i++) {
        const size = Math.min(
          r.chunkSizes[i % Math.max(1, r.chunkSizes.length)] ?? body.length,
          body.length - off,
        );
        parts.push(
          Buffer.from(`${size.toString(16)}\r\n`),
          body.subarray(off, off + size),
          Buffer.from('\r\n'),
        );
        off += size;
      }
      parts.push(Buffer.from(`0\r\n${r.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));
    } else {
      parts.push(body);
    }
    const fieldText = fields.map(([n, v]) => `${n}=${v}`).join('|');
    const contentLength = r.chunked ? -1 : r.body.length;
    const trailerCount = r.chunked && r.trailers.length > 0 ? r.trailers.length : -1;
    return {
      bytes: Buffer.concat(parts),
      expected: [
        `head ${r.method} ${r.target} 0 ${contentLength} ${fieldText}`,
        `body ${body.toString('latin1')}`,
        `end ${trailerCount}`,
      ],
    };
  }

  test('pipelined valid requests split at random points parse back exactly (no desync)', {
    timeout: 10_000,
  }, () => {
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 5 }).chain((requests) => {
          const serialised = requests.map(serialise);
          const bytes = Buffer.concat(serialised.map((s) => s.bytes));
          return fc.tuple(fc.constant(serialised), fc.constant(bytes), cutsFor(bytes.length));
        }),
        ([serialised, bytes, cuts]) => {
          const outcome = run('request', bytes, cuts);
          assert.equal(outcome.error, null);
          assert.deepEqual(
            outcome.events,
            serialised.flatMap((s) => s.expected),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
